"""Loading ground truth and alerts for scoring: PostgreSQL (``sim_runs``, ``ground_truth``, and the
incident store's ``alerts`` with ``persisted_at``) or the Kafka ``alerts`` topic (record timestamp)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from include.patternalarm.alerts import InvalidAlert, parse_alert
from include.patternalarm.scoring.core import AlertRecord, TruthRecord
from include.patternalarm.settings import Settings
from include.patternalarm.topics import ALERTS


class ScoreError(RuntimeError):
    """Nothing to score, or a source is missing (the message says which)."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    tag: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    domains: tuple[str, ...]


def _connect(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(settings.db_conninfo("reporting"), connect_timeout=10, row_factory=dict_row)


def load_runs(settings: Settings, run_ids: Iterable[str] | None = None, *, last: int = 1) -> list[RunInfo]:
    """The named simulator runs, or the ``last`` finished ones."""
    ids = list(run_ids or [])
    with _connect(settings) as conn:
        if ids:
            rows = conn.execute("SELECT * FROM sim_runs WHERE run_id = ANY(%s) ORDER BY started_at", (ids,)).fetchall()
            missing = set(ids) - {r["run_id"] for r in rows}
            if missing:
                raise ScoreError(f"unknown run id(s): {', '.join(sorted(missing))}")
        else:
            # runs into the platform's own topics (not a test's or a benchmark's throwaway topics)
            rows = conn.execute(
                "SELECT * FROM sim_runs WHERE status = 'finished'"
                " AND (config->'topics' IS NULL OR config->'topics' = '{}'::jsonb OR NOT EXISTS ("
                "   SELECT 1 FROM jsonb_each_text(config->'topics') t WHERE t.value <> 'events.' || t.key))"
                " ORDER BY started_at DESC LIMIT %s", (last,)).fetchall()
            if not rows:
                raise ScoreError("no finished simulator run into the platform topics in sim_runs: run "
                                 "`bin/patternalarm simulate` first, or name one with --run")
    return [RunInfo(run_id=r["run_id"], tag=str((r["config"] or {}).get("tag", "")), status=r["status"],
                    started_at=r["started_at"], finished_at=r["finished_at"], domains=tuple(r["domains"] or ()))
            for r in rows]


def load_truth(settings: Settings, run_ids: Iterable[str]) -> list[TruthRecord]:
    with _connect(settings) as conn:
        rows = conn.execute(
            "SELECT run_id, scenario_id, rule_id, variant, entity, should_alert, first_event_time, last_event_time,"
            " completing_event_time, detail FROM ground_truth WHERE kind = 'scenario' AND run_id = ANY(%s)",
            (list(run_ids),)).fetchall()
    return [TruthRecord(scenario_id=f"{r['run_id']}/{r['scenario_id']}", rule_id=r["rule_id"], variant=r["variant"],
                        entity=r["entity"], should_alert=r["should_alert"], first_event_time=r["first_event_time"],
                        last_event_time=r["last_event_time"], completing_event_time=r["completing_event_time"],
                        run_id=r["run_id"],
                        side_alerts=tuple(tuple(p) for p in (r["detail"] or {}).get("side_alerts", ())))
            for r in rows]


def _in_scope(entity: str, tags: Iterable[str]) -> bool:
    return any(f"-{tag}-" in entity for tag in tags)


def load_alerts_db(settings: Settings, tags: Iterable[str], since: datetime, until: datetime) -> list[AlertRecord]:
    """Alerts the incident sink stored (visible_at = ``persisted_at``, the database clock)."""
    tags = [t for t in tags if t]
    patterns = [f"%-{t}-%" for t in tags]
    with _connect(settings) as conn:
        exists = conn.execute("SELECT to_regclass('public.alerts') IS NOT NULL AS ok").fetchone()
        if not exists or not exists["ok"]:
            raise ScoreError("table alerts does not exist (the incident sink's migration): use --source kafka")
        rows = conn.execute(
            "SELECT alert_id, rule_id, entity, first_event_time, last_event_time, persisted_at FROM alerts"
            " WHERE entity LIKE ANY(%s) AND last_event_time BETWEEN %s AND %s",
            (patterns, since, until)).fetchall()
    return [AlertRecord(alert_id=r["alert_id"], rule_id=r["rule_id"], entity=r["entity"],
                        first_event_time=r["first_event_time"], last_event_time=r["last_event_time"],
                        visible_at=r["persisted_at"]) for r in rows]


def load_alerts_kafka(settings: Settings, tags: Iterable[str], since: datetime, until: datetime, *,
                      topic: str = ALERTS, timeout: float = 60.0) -> list[AlertRecord]:
    """Alerts read from the topic (visible_at = the record's timestamp: append or create time)."""
    from confluent_kafka import Consumer, TopicPartition

    tags = [t for t in tags if t]
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "patternalarm-score",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise ScoreError(f"topic {topic} not found")
        start_ms = int((since - timedelta(minutes=1)).timestamp() * 1000)
        parts = [TopicPartition(topic, p, start_ms) for p in metadata.topics[topic].partitions]
        starts = consumer.offsets_for_times(parts, timeout=10)
        ends = {p.partition: consumer.get_watermark_offsets(TopicPartition(topic, p.partition), timeout=10)[1]
                for p in parts}
        todo = {tp.partition for tp in starts if tp.offset >= 0 and tp.offset < ends[tp.partition]}
        consumer.assign([tp for tp in starts if tp.partition in todo])
        records: list[AlertRecord] = []
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while todo and datetime.now(UTC) < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            if msg.offset() + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
            try:
                alert = parse_alert(msg.value())
            except InvalidAlert:
                continue
            if not _in_scope(alert.entity, tags) or not since <= alert.last_event_time <= until:
                continue
            visible = datetime.fromtimestamp(msg.timestamp()[1] / 1000, UTC)
            records.append(AlertRecord(alert_id=alert.alert_id, rule_id=alert.rule_id, entity=alert.entity,
                                       first_event_time=alert.first_event_time,
                                       last_event_time=alert.last_event_time, visible_at=visible))
        return records
    finally:
        consumer.close()


def dedupe(alerts: Iterable[AlertRecord]) -> list[AlertRecord]:
    """One record per alert_id (a restart re-emits the same id): the earliest visible one."""
    best: dict[str, AlertRecord] = {}
    for a in alerts:
        if a.alert_id not in best or a.visible_at < best[a.alert_id].visible_at:
            best[a.alert_id] = a
    return list(best.values())


def dumps(value: object) -> str:
    return json.dumps(value, default=str, indent=2)
