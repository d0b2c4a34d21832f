"""JobManager HA: the cluster configuration names the local ZooKeeper node, the node listens on loopback only
without its admin server, and turning HA off removes both."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.patternalarm.settings import Settings
from include.patternalarm.stack import flink
from include.patternalarm.stack.manager import services
from include.patternalarm.stack.tools import StackError
from tests.unit.stack import settings_with_secrets


def test_ha_config_points_at_the_local_zookeeper_and_keeps_its_data_under_the_data_dir(tmp_path: Path) -> None:
    settings = settings_with_secrets(tmp_path, zookeeper_port=2999, flink_ha_session_timeout_s=9)
    keys = flink.ha_config(settings)
    assert keys["high-availability.type"] == "zookeeper"
    assert keys["high-availability.zookeeper.quorum"] == "127.0.0.1:2999"
    assert keys["high-availability.storageDir"] == (tmp_path / "flink" / "ha").as_uri()
    assert keys["high-availability.zookeeper.client.session-timeout"] == "9s"
    assert keys["high-availability.jobmanager.port"] == settings.flink_rpc_port  # not a random port


def test_zookeeper_listens_on_loopback_only_without_the_admin_server(tmp_path: Path) -> None:
    config = flink.zookeeper_config(settings_with_secrets(tmp_path))
    lines = dict(line.split("=", 1) for line in config.splitlines() if line)
    assert lines["clientPortAddress"] == "127.0.0.1"
    assert lines["admin.enableServer"] == "false"
    assert lines["dataDir"] == str(tmp_path / "zookeeper")
    # ZooKeeper caps a session at 20 ticks: the HA session timeout must fit
    assert 2 * int(lines["tickTime"]) <= Settings().flink_ha_session_timeout_s * 1000 <= 20 * int(lines["tickTime"])


def test_without_ha_there_is_no_zookeeper_and_no_ha_key(tmp_path: Path) -> None:
    settings = settings_with_secrets(tmp_path, flink_ha=False)
    assert flink.ha_config(settings) == {}
    assert "zookeeper" not in {s.program.name for s in services(settings)}
    with_ha = [s.program.name for s in services(settings_with_secrets(tmp_path))]
    assert with_ha.index("zookeeper") < with_ha.index("flink-jobmanager")


def test_a_zookeeper_that_is_not_a_standalone_node_is_unhealthy(tmp_path: Path) -> None:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(16)
        conn.sendall(b"This ZooKeeper instance is not currently serving requests\n")
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(StackError, match="expected a standalone node"):
            flink.zookeeper_health(settings_with_secrets(tmp_path, zookeeper_port=server.getsockname()[1]))
    finally:
        thread.join(timeout=5)
        server.close()
