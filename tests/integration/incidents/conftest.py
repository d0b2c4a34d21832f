"""Fixtures for the incident tests: connections per database role, own rule ids, own topics, own sinks.

Every test works on its own rule id (``unique``), so the shared tables may hold anything else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from include.patternalarm.incidents.process import SinkProcess
from include.patternalarm.settings import Settings
from tests.support import unique

Connect = Callable[[str], psycopg.Connection]


@pytest.fixture
def connect(stack_settings: Settings) -> Iterator[Connect]:
    """``connect("analyst")`` → an autocommit connection as that role (dict rows), closed afterwards."""
    opened: list[psycopg.Connection] = []

    def make(purpose: str) -> psycopg.Connection:
        conn = psycopg.connect(stack_settings.db_conninfo(purpose), autocommit=True, row_factory=dict_row)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def rule() -> str:
    return unique("test-rule")


@pytest.fixture
def ingest(connect: Connect) -> Callable[[list[dict[str, Any]]], dict[str, int]]:
    """Store a batch of alerts the way the sink does (as the sink role, one call)."""
    conn = connect("sink")

    def run(alerts: list[dict[str, Any]]) -> dict[str, int]:
        return conn.execute("SELECT ingest_alerts(%s) AS r", [Jsonb(alerts)]).fetchone()["r"]

    return run


@pytest.fixture
def topics(stack_settings: Settings) -> Iterator[Callable[..., str]]:
    """``topics(partitions=1, **config)`` → a new topic, deleted after the test."""
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    created: list[str] = []

    def make(partitions: int = 1, **config: str) -> str:
        name = unique("test.incidents")
        for future in admin.create_topics([NewTopic(name, partitions, 1, config=config)]).values():
            future.result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)


@pytest.fixture
def publish(stack_settings: Settings) -> Callable[..., None]:
    """``publish(topic, [alert dict | raw bytes | None, ...])`` with key = the alert's entity."""
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 5})

    def send(topic: str, records: list[Any], key: bytes | None = None) -> None:
        for record in records:
            if isinstance(record, dict):
                value: bytes | None = json.dumps(record).encode()
                record_key = key if key is not None else str(record.get("entity", "")).encode()
            else:
                value, record_key = record, key
            producer.produce(topic, key=record_key, value=value)
            producer.poll(0)
        assert producer.flush(30) == 0, "not every record was delivered to Kafka"

    return send


@pytest.fixture
def sinks(stack_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., SinkProcess]]:
    """``sinks(topic=…, group=…)`` → a started sink process of the test's own (log in the test's tmp
    dir); stopped afterwards, and its consumer group deleted."""
    started: list[SinkProcess] = []

    def make(**kwargs: Any) -> SinkProcess:
        kwargs.setdefault("log_path", tmp_path / f"{unique('sink')}.log")
        kwargs.setdefault("auto_resolve_every_s", 0)
        process = SinkProcess(stack_settings, **kwargs).start()
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()
    groups = sorted({process.group for process in started})
    if groups:
        admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
        for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
            future.result(timeout=30)
