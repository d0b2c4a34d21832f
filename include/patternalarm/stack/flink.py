"""A Flink session cluster (JobManager, TaskManager, SQL Gateway) from the apache-flink wheel, with
ZooKeeper-based JobManager high availability (``settings.flink_ha``).

With HA the JobManager keeps each submitted job's graph and its completed checkpoints in ZooKeeper (pointers)
and ``.data/flink/ha`` (the data): a JobManager that is killed and restarted recovers every job by itself
from its latest checkpoint, keeping the job id, instead of knowing no jobs until ``monitor_detection_jobs``
compiles and resubmits them. The ZooKeeper server is the one Flink's distribution ships
(shaded into flink-dist, started through ``flink-console.sh zookeeper``): a single node on 127.0.0.1, no
extra download.
A JobManager that stops cleanly (``stack down``) leaves its jobs suspended in ZooKeeper; the next
``stack up`` recovers them. ``stack down --purge`` removes them with the rest of ``.data``.

The JobManager and TaskManager start with the java command line Flink's own start scripts produce for
them, captured once at ``stack up`` (``capture_launch``, ``scripts/flink-launch.sh``): a restart after a
crash starts the JVM at once instead of running the scripts' helper JVMs first."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import requests
import yaml

from include.patternalarm.settings import Settings
from include.patternalarm.stack.supervisor import Program
from include.patternalarm.stack.tools import StackError, flink_home, flink_lib_dirs


def _base(settings: Settings) -> Path:
    return settings.data_dir / "flink"


def conf_dir(settings: Settings) -> Path:
    return _base(settings) / "conf"


def checkpoints_dir(settings: Settings) -> Path:
    return _base(settings) / "checkpoints"


def savepoints_dir(settings: Settings) -> Path:
    return _base(settings) / "savepoints"


def ha_dir(settings: Settings) -> Path:
    return _base(settings) / "ha"


def zookeeper_dir(settings: Settings) -> Path:
    return settings.data_dir / "zookeeper"


def ha_config(settings: Settings) -> dict[str, object]:
    """The JobManager HA keys (empty without ``flink_ha``)."""
    if not settings.flink_ha:
        return {}
    return {
        "high-availability.type": "zookeeper",
        "high-availability.storageDir": ha_dir(settings).as_uri(),
        "high-availability.zookeeper.quorum": f"{settings.host}:{settings.zookeeper_port}",
        "high-availability.zookeeper.path.root": "/patternalarm",
        "high-availability.cluster-id": "/default",
        # with HA the JobManager's RPC endpoint takes this port (random by default), not jobmanager.rpc.port
        "high-availability.jobmanager.port": settings.flink_rpc_port,
        # a killed JobManager holds its leadership until ZooKeeper expires its session: the restarted one
        # becomes leader (and recovers the jobs) only then. Flink's default is 60 s; ZooKeeper allows 4-40 s
        # at tickTime 2 s. 12 s still rides out a GC pause of the live JobManager on a loaded machine.
        "high-availability.zookeeper.client.session-timeout": f"{settings.flink_ha_session_timeout_s}s",
        "high-availability.zookeeper.client.connection-timeout": "15s",
        # a dropped connection to the (supervised, restarted) ZooKeeper node costs leadership only when the
        # session is lost, not at once: a ZooKeeper restart within the session leaves the jobs running
        "high-availability.zookeeper.client.tolerate-suspended-connections": "true",
    }


def zookeeper_config(settings: Settings) -> str:
    """zoo.cfg of the single ZooKeeper node (loopback only, no admin server, ``srvr`` for health)."""
    return "\n".join([
        "tickTime=2000",
        f"dataDir={zookeeper_dir(settings)}",
        f"clientPort={settings.zookeeper_port}",
        f"clientPortAddress={settings.host}",
        "maxClientCnxns=60",
        "admin.enableServer=false",
        "4lw.commands.whitelist=ruok,srvr",
        "autopurge.snapRetainCount=3",
        "autopurge.purgeInterval=1",
        "",
    ])


def taskmanager_gc_log(settings: Settings) -> Path:
    """The TaskManager's garbage-collection log (rotated: the older files end in .0, .1, .2)."""
    return settings.log_dir / "flink-taskmanager-gc.log"


def config(settings: Settings) -> dict[str, object]:
    """The cluster configuration (Flink 2 config.yaml, flat keys)."""
    dist = yaml.safe_load((flink_home(settings) / "conf" / "config.yaml").read_text())
    java_opts = dist["env"]["java"]["opts"]["all"]
    host = settings.host
    return {
        "env.java.opts.all": java_opts,
        # the collector's log: the heap left after each collection (what the state needs, garbage excluded)
        "env.java.opts.taskmanager": " ".join(filter(None, (
            f"-Xlog:gc:file={taskmanager_gc_log(settings)}:time,uptime:filecount=3,filesize=20m",
            settings.flink_taskmanager_jvm_opts))),
        "jobmanager.rpc.address": host,
        "jobmanager.rpc.port": settings.flink_rpc_port,
        "jobmanager.bind-host": host,
        "jobmanager.memory.process.size": settings.flink_jobmanager_memory,
        "jobmanager.execution.failover-strategy": "region",
        # the adaptive scheduler lets a running job change parallelism in place (rescale)
        "jobmanager.scheduler": "adaptive",
        "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling": "10s",
        "taskmanager.host": host,
        "taskmanager.bind-host": host,
        "taskmanager.numberOfTaskSlots": settings.flink_taskmanager_slots,
        "taskmanager.memory.process.size": settings.flink_taskmanager_memory,
        # hashmap state lives on the heap, not in managed memory; RocksDB's block cache and write buffers do
        "taskmanager.memory.managed.fraction": 0.05 if settings.flink_state_backend == "hashmap" else 0.25,
        "taskmanager.memory.network.fraction": 0.1,
        # a TaskManager out of heap exits, so the supervisor restarts it (a wedged one never comes back)
        "taskmanager.jvm-exit-on-oom": "true",
        "parallelism.default": 1,
        "rest.address": host,
        "rest.bind-address": host,
        "rest.port": settings.flink_rest_port,
        "blob.server.port": "0",
        "taskmanager.rpc.port": "0",
        "metrics.internal.query-service.port": "0",
        "state.backend.type": settings.flink_state_backend,
        "execution.checkpointing.incremental": settings.flink_state_backend == "rocksdb",
        "execution.checkpointing.dir": checkpoints_dir(settings).as_uri(),
        "execution.checkpointing.savepoint-dir": savepoints_dir(settings).as_uri(),
        "state.changelog.enabled": settings.flink_state_changelog,
        "state.changelog.storage": "filesystem",
        "state.changelog.dstl.dfs.base-path": (_base(settings) / "changelog").as_uri(),
        "state.changelog.periodic-materialize.interval": settings.flink_changelog_materialize,
        "execution.checkpointing.interval": settings.flink_checkpoint_interval,
        "execution.checkpointing.min-pause": "2s",
        "execution.checkpointing.num-retained": 3,
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        # a TaskManager learns that its JobManager died only when heartbeats stop (in a standalone cluster the
        # leader address never changes): 20 s instead of 50 s lets it offer its slots to a restarted JobManager
        # sooner, while still riding out a long GC pause
        "heartbeat.interval": "4s",
        "heartbeat.timeout": "20s",
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1s",
        "restart-strategy.exponential-delay.max-backoff": "30s",
        "web.cancel.enable": "true",
        # the web UI's flame graphs (a vertex's "Flame Graph" tab) sample task threads only while one is open
        "rest.flamegraph.enabled": "true",
        "sql-gateway.endpoint.rest.address": host,
        "sql-gateway.endpoint.rest.bind-address": host,
        "sql-gateway.endpoint.rest.port": settings.flink_sql_gateway_port,
        "sql-gateway.session.idle-timeout": "10min",
        **ha_config(settings),
    }


def prepare(settings: Settings) -> None:
    conf = conf_dir(settings)
    conf.mkdir(parents=True, exist_ok=True)
    for path in (checkpoints_dir(settings), savepoints_dir(settings), _base(settings) / "tmp", ha_dir(settings),
                 zookeeper_dir(settings)):
        path.mkdir(parents=True, exist_ok=True)
    dist_conf = flink_home(settings) / "conf"
    for name in ("log4j-console.properties", "log4j-cli.properties", "log4j.properties", "logback-console.xml"):
        shutil.copyfile(dist_conf / name, conf / name)
    values = config(settings)
    values["io.tmp.dirs"] = str(_base(settings) / "tmp")
    (conf / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=True))
    (conf / "zoo.cfg").write_text(zookeeper_config(settings))
    capture_launch(settings)


def _env(settings: Settings) -> dict[str, str]:
    lib, opt = flink_lib_dirs(settings)
    return {
        "FLINK_CONF_DIR": str(conf_dir(settings)),
        "FLINK_LIB_DIR": str(lib),
        "FLINK_OPT_DIR": str(opt),
        "FLINK_LOG_DIR": str(settings.log_dir),
        "FLINK_PID_DIR": str(settings.data_dir / "run"),
    }


#: the programs started with the command line captured from Flink's own start script (``capture_launch``)
LAUNCHED = {"flink-jobmanager": "jobmanager.sh", "flink-taskmanager": "taskmanager.sh"}
_BASH_JAVA_UTILS = "org.apache.flink.runtime.util.bash.BashJavaUtils"
#: a stand-in for java while a start script runs: its helper calls (BashJavaUtils, the version probe) run the
#: real java; the final command is written down instead of run — NUL-separated, first the FLINK_* variables
#: the script exported (the JVM reads FLINK_PLUGINS_DIR, FLINK_LIB_DIR… from its environment), then "--",
#: then the real java and its arguments
_JAVA_SHIM = f"""#!/usr/bin/env bash
for arg in "$@"; do
  case "$arg" in {_BASH_JAVA_UTILS}|-XshowSettings:properties) exec "$PATTERNALARM_JAVA" "$@";; esac
done
{{ env -0 | grep -z '^FLINK_' | grep -zv '^FLINK_PID_DIR='; printf '%s\\0' -- "$PATTERNALARM_JAVA" "$@"; }} \\
  > "$PATTERNALARM_ARGV"
"""


def launch_file(settings: Settings, program: str) -> Path:
    return conf_dir(settings) / f"{program}.argv"


def read_launch(path: Path) -> tuple[dict[bytes, bytes], list[bytes]] | None:
    """A captured launch (the shim's file: FLINK_* variables, "--", the java command) as (variables, command);
    None when the file is missing or has no java command after the separator."""
    items = path.read_bytes().split(b"\0")[:-1] if path.is_file() else []
    if b"--" not in items or len(items) - items.index(b"--") < 4:
        return None
    cut = items.index(b"--")
    return dict(kv.split(b"=", 1) for kv in items[:cut]), items[cut + 1:]


def capture_launch(settings: Settings) -> None:
    """Run the JobManager's and TaskManager's start scripts once with a stand-in java that writes down the
    command they would exec (memory flags, classpath, log settings: all Flink's own logic), for
    ``scripts/flink-launch.sh``. A restart then starts the JVM at once: the scripts run three helper JVMs
    first, which took ~20 s of a JobManager's recovery on a loaded machine. Called by ``prepare`` (the
    config they read is written just before)."""
    java = shutil.which("java")
    if java is None:
        raise StackError("java is not on PATH: install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless)")
    bin_dir = flink_home(settings) / "bin"
    with tempfile.TemporaryDirectory(prefix="flink-launch-") as tmp:
        shim = Path(tmp) / "bin" / "java"
        shim.parent.mkdir()
        shim.write_text(_JAVA_SHIM)
        shim.chmod(0o755)
        runs = {}
        for program, script in LAUNCHED.items():
            out = Path(tmp) / f"{program}.argv"
            env = {**os.environ, **_env(settings), "JAVA_HOME": tmp, "PATTERNALARM_JAVA": os.path.realpath(java),
                   "PATTERNALARM_ARGV": str(out), "FLINK_PID_DIR": tmp}
            runs[program] = (out, subprocess.Popen(["bash", str(bin_dir / script), "start-foreground"], env=env,
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for program, (out, proc) in runs.items():
            try:
                output, _ = proc.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise StackError(f"{program}: Flink's start script did not finish in 180 s") from None
            if proc.returncode != 0 or read_launch(out) is None:
                tail = "\n".join(output.splitlines()[-15:])
                raise StackError(f"{program}: Flink's start script made no java command (exit {proc.returncode}):\n"
                                 f"{tail}")
            shutil.copyfile(out, launch_file(settings, program))


def programs(settings: Settings) -> list[Program]:
    bin_dir = flink_home(settings) / "bin"
    env = _env(settings)
    launcher = str(settings.repo_root / "scripts" / "flink-launch.sh")

    def launched(program: str) -> list[str]:
        return ["bash", launcher, str(launch_file(settings, program)), str(bin_dir / LAUNCHED[program]),
                "start-foreground"]

    return [
        Program("flink-jobmanager", "flink", launched("flink-jobmanager"),
                ports=(settings.flink_rest_port, settings.flink_rpc_port), environment=env, startsecs=5),
        Program("flink-taskmanager", "flink", launched("flink-taskmanager"), environment=env, startsecs=5),
        # without a heap limit the gateway's JVM takes a quarter of the machine's memory and grows into it
        Program("flink-sql-gateway", "flink", ["bash", str(bin_dir / "sql-gateway.sh"), "start-foreground"],
                ports=(settings.flink_sql_gateway_port,),
                environment={**env, "FLINK_ENV_JAVA_OPTS_SQL_GATEWAY": f"-Xmx{settings.flink_sql_gateway_heap}"},
                startsecs=5),
    ]


def zookeeper_program(settings: Settings) -> Program:
    """The ZooKeeper node of JobManager HA (only started with ``flink_ha``)."""
    # flink-console.sh, not bin/zookeeper.sh: the latter runs the former as a child instead of exec'ing it, so
    # the supervisor would hold a bash whose death (a SIGKILL, a stop) orphans the ZooKeeper JVM on its port
    return Program("zookeeper", "zookeeper",
                   ["bash", str(flink_home(settings) / "bin" / "flink-console.sh"), "zookeeper",
                    "--zkConfigFile", str(conf_dir(settings) / "zoo.cfg"), "--peerId", "1"],
                   ports=(settings.zookeeper_port,),
                   environment={**_env(settings), "JVM_ARGS": "-Xms128m -Xmx128m -Dzookeeper.jmx.log4j.disable=true"},
                   startsecs=3)


def zookeeper_health(settings: Settings) -> str:
    with socket.create_connection((settings.host, settings.zookeeper_port), timeout=3) as sock:
        sock.sendall(b"srvr")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    lines = dict(line.split(": ", 1) for line in reply.decode(errors="replace").splitlines() if ": " in line)
    if lines.get("Mode") != "standalone":
        raise StackError(f"ZooKeeper answered {reply[:200]!r} (expected a standalone node)")
    return f"ZooKeeper {lines.get('Zookeeper version', '?').split('-')[0]}, {lines.get('Node count', '?')} znodes"


def jobmanager_health(settings: Settings) -> str:
    overview = requests.get(f"{settings.flink_rest}/overview", timeout=3).json()
    return f"Flink {overview['flink-version']}, {overview['jobs-running']} job(s) running"


def taskmanager_health(settings: Settings) -> str:
    overview = requests.get(f"{settings.flink_rest}/overview", timeout=3).json()
    if overview["taskmanagers"] < 1:
        raise StackError("no TaskManager registered with the JobManager")
    free, total = overview["slots-available"], overview["slots-total"]
    return f"{overview['taskmanagers']} TaskManager(s), {free}/{total} slots free"


def sql_gateway_health(settings: Settings) -> str:
    response = requests.get(f"{settings.sql_gateway}/v3/info", timeout=3)
    response.raise_for_status()
    info = response.json()
    return f"{info.get('productName', 'SQL Gateway')} {info.get('version', '')}".strip()
