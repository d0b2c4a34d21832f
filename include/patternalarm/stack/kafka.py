"""Kafka in KRaft mode (combined broker+controller nodes) from the Maven Central jars."""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import uuid
from pathlib import Path

from include.patternalarm.settings import Settings
from include.patternalarm.stack.supervisor import Program
from include.patternalarm.stack.tools import StackError, java, kafka_classpath
from include.patternalarm.topics import topic_specs

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = INFO
logger.log.name = org.apache.kafka.storage.internals.log
logger.log.level = WARN
logger.logs.name = kafka.log
logger.logs.level = WARN
"""


def _base(settings: Settings) -> Path:
    return settings.data_dir / "kafka"


def broker_port(settings: Settings, index: int) -> int:
    return settings.kafka_port + 2 * index


def controller_port(settings: Settings, index: int) -> int:
    return settings.kafka_controller_port + 2 * index


def replication_factor(brokers: int) -> int:
    return min(3, brokers)


def min_isr(brokers: int) -> int:
    return 2 if brokers >= 3 else 1


def _properties(settings: Settings, index: int, brokers: int) -> str:
    voters = ",".join(f"{i + 1}@{settings.host}:{controller_port(settings, i)}" for i in range(brokers))
    rf = replication_factor(brokers)
    props = {
        "process.roles": "broker,controller",
        "node.id": index + 1,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{settings.host}:{broker_port(settings, index)},"
        f"CONTROLLER://{settings.host}:{controller_port(settings, index)}",
        "advertised.listeners": f"PLAINTEXT://{settings.host}:{broker_port(settings, index)}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(_base(settings) / f"node-{index + 1}" / "logs"),
        "num.partitions": settings.topic_partitions,
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr(brokers),
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr(brokers),
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr(brokers),
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": 0,
        "num.network.threads": 3,
        "num.io.threads": 4,
        "log.retention.hours": 12,
        "log.retention.bytes": 2 * 1024**3,
        "log.segment.bytes": 256 * 1024**2,
        "message.max.bytes": 2 * 1024**2,
    }
    return "\n".join(f"{k}={v}" for k, v in props.items()) + "\n"


def _config_file(settings: Settings, index: int) -> Path:
    return _base(settings) / f"node-{index + 1}" / "server.properties"


def prepare(settings: Settings) -> None:
    """Write node configs and format storage once; refuse to change the node count of a cluster."""
    base = _base(settings)
    base.mkdir(parents=True, exist_ok=True)
    meta_file = base / "cluster.json"
    brokers = settings.kafka_brokers
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta["brokers"] != brokers:
            raise StackError(
                f"the data directory holds a {meta['brokers']}-broker Kafka cluster; `stack up --brokers "
                f"{brokers}` needs a new one: run `bin/patternalarm stack down --purge` first"
            )
    else:
        meta = {"cluster_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="), "brokers": brokers}
    (base / "log4j2.properties").write_text(LOG4J2)
    for index in range(brokers):
        conf = _config_file(settings, index)
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(_properties(settings, index, brokers))
        if (base / f"node-{index + 1}" / "logs" / "meta.properties").exists():
            continue
        result = subprocess.run(
            [java(), "-cp", kafka_classpath(settings), f"-Dlog4j2.configurationFile={base / 'log4j2.properties'}",
             "kafka.tools.StorageTool", "format", f"--cluster-id={meta['cluster_id']}", f"--config={conf}",
             "--ignore-formatted"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage for node {index + 1} failed:\n{result.stderr.strip()[-2000:]}")
    meta_file.write_text(json.dumps(meta))


def programs(settings: Settings) -> list[Program]:
    base = _base(settings)
    return [
        Program(
            name=f"kafka-{index + 1}",
            group="kafka",
            command=[
                java(), f"-Xms{settings.kafka_heap}", f"-Xmx{settings.kafka_heap}", "-server",
                "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
                "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={base / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={settings.log_dir}",
                "-cp", kafka_classpath(settings), "kafka.Kafka", str(_config_file(settings, index)),
            ],
            ports=(broker_port(settings, index), controller_port(settings, index)),
            stopwaitsecs=60,
        )
        for index in range(settings.kafka_brokers)
    ]


_quiet = logging.getLogger("patternalarm.stack.kafka.client")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def admin(settings: Settings, bootstrap: str | None = None):
    """An admin client whose librdkafka chatter (connection refused while starting…) stays out of the console."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap or settings.bootstrap_servers, "socket.timeout.ms": 5000,
                        "logger": _quiet})


def health(settings: Settings, index: int) -> str:
    """This node answers metadata requests and sees every node of the cluster."""
    with socket.create_connection((settings.host, broker_port(settings, index)), timeout=2):
        pass
    client = admin(settings, f"{settings.host}:{broker_port(settings, index)}")
    cluster = client.describe_cluster(request_timeout=5).result(timeout=10)
    expected = settings.kafka_brokers
    if len(cluster.nodes) < expected:
        raise StackError(f"sees {len(cluster.nodes)} of {expected} brokers")
    return f"broker {index + 1} up, cluster {cluster.cluster_id} with {len(cluster.nodes)} broker(s)"


def ensure_topics(settings: Settings) -> list[str]:
    """Create every missing topic; returns the names created."""
    from confluent_kafka.admin import NewTopic

    client = admin(settings)
    existing = set(client.list_topics(timeout=10).topics)
    brokers = settings.kafka_brokers
    wanted = [
        NewTopic(spec.name, spec.partitions, replication_factor(brokers),
                 config={**spec.config, "min.insync.replicas": str(min_isr(brokers))})
        for spec in topic_specs(settings.topic_partitions)
        if spec.name not in existing
    ]
    if not wanted:
        return []
    for name, future in client.create_topics(wanted, request_timeout=30).items():
        try:
            future.result(timeout=60)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise StackError(f"creating topic {name} failed: {exc}") from exc
    return [t.topic for t in wanted]
