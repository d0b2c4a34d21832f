"""A Flink session cluster (JobManager, TaskManager, SQL Gateway) from the apache-flink wheel."""

from __future__ import annotations

import shutil
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


def config(settings: Settings) -> dict[str, object]:
    """The cluster configuration (Flink 2 config.yaml, flat keys)."""
    dist = yaml.safe_load((flink_home(settings) / "conf" / "config.yaml").read_text())
    java_opts = dist["env"]["java"]["opts"]["all"]
    host = settings.host
    return {
        "env.java.opts.all": java_opts,
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
        "execution.checkpointing.interval": "10s",
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
        "sql-gateway.endpoint.rest.address": host,
        "sql-gateway.endpoint.rest.bind-address": host,
        "sql-gateway.endpoint.rest.port": settings.flink_sql_gateway_port,
        "sql-gateway.session.idle-timeout": "10min",
    }


def prepare(settings: Settings) -> None:
    conf = conf_dir(settings)
    conf.mkdir(parents=True, exist_ok=True)
    for path in (checkpoints_dir(settings), savepoints_dir(settings), _base(settings) / "tmp"):
        path.mkdir(parents=True, exist_ok=True)
    dist_conf = flink_home(settings) / "conf"
    for name in ("log4j-console.properties", "log4j-cli.properties", "log4j.properties", "logback-console.xml"):
        shutil.copyfile(dist_conf / name, conf / name)
    values = config(settings)
    values["io.tmp.dirs"] = str(_base(settings) / "tmp")
    (conf / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=True))


def _env(settings: Settings) -> dict[str, str]:
    lib, opt = flink_lib_dirs(settings)
    return {
        "FLINK_CONF_DIR": str(conf_dir(settings)),
        "FLINK_LIB_DIR": str(lib),
        "FLINK_OPT_DIR": str(opt),
        "FLINK_LOG_DIR": str(settings.log_dir),
        "FLINK_PID_DIR": str(settings.data_dir / "run"),
    }


def programs(settings: Settings) -> list[Program]:
    bin_dir = flink_home(settings) / "bin"
    env = _env(settings)
    return [
        Program("flink-jobmanager", "flink", ["bash", str(bin_dir / "jobmanager.sh"), "start-foreground"],
                ports=(settings.flink_rest_port, settings.flink_rpc_port), environment=env, startsecs=5),
        Program("flink-taskmanager", "flink", ["bash", str(bin_dir / "taskmanager.sh"), "start-foreground"],
                environment=env, startsecs=5),
        # without a heap limit the gateway's JVM takes a quarter of the machine's memory and grows into it
        Program("flink-sql-gateway", "flink", ["bash", str(bin_dir / "sql-gateway.sh"), "start-foreground"],
                ports=(settings.flink_sql_gateway_port,),
                environment={**env, "FLINK_ENV_JAVA_OPTS_SQL_GATEWAY": f"-Xmx{settings.flink_sql_gateway_heap}"},
                startsecs=5),
    ]


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
