"""JobManager HA's ZooKeeper node killed: the supervisor restarts the JVM itself (no orphan left holding the
port) and the JobManager keeps its leadership over the short outage, so no job restarts."""

from __future__ import annotations

import time

import psutil

from include.patternalarm.chaos import faults
from include.patternalarm.chaos.measure import restarts
from include.patternalarm.settings import Settings
from include.patternalarm.stack.flink import zookeeper_health
from tests.support import wait_until


def _listener(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return conn.pid
    return None


def test_a_killed_zookeeper_comes_back_as_itself_and_no_job_restarts(stack_settings: Settings,
                                                                       platform_running: None) -> None:
    settings = stack_settings
    assert settings.flink_ha, "the stack runs without JobManager HA"
    before = restarts(settings)
    injected = faults.kill(settings, "zookeeper")
    assert faults.wait_restarted(settings, injected, timeout=60), "the supervisor did not restart zookeeper"
    wait_until(lambda: zookeeper_health(settings), timeout=60, what="ZooKeeper answering again")
    new_pid = faults.pid_of(settings, "zookeeper")
    assert new_pid != injected.pid
    assert not psutil.pid_exists(injected.pid), "the killed ZooKeeper process still runs"
    assert _listener(settings.zookeeper_port) == new_pid, "the port is held by another process than the supervised one"
    # the session (12 s) outlives the outage: the JobManager stays leader. Watched past the session timeout —
    # a lost leadership would restart (or replace) every job within it
    watch_until = time.monotonic() + settings.flink_ha_session_timeout_s + 10
    while time.monotonic() < watch_until:
        assert restarts(settings) == before, "a job restarted or was replaced after the ZooKeeper kill"
        time.sleep(2)
