"""Watching the running platform from outside: what the demo's live view and the benchmark record.

An `Observer` samples, every ``interval`` seconds: events that reached each event topic (end offsets),
the detection jobs' and the incident sink's consumer lag, dead-lettered and late records (routed to
``events.late`` by the source, and dropped downstream as Flink's ``numLateRecordsDropped``), alerts
visible in PostgreSQL per rule with their latency, and CPU / memory of every supervised service.
Everything is read from Kafka, PostgreSQL and the OS — the same numbers an operator would see.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil
import psycopg
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from include.patternalarm.control.lag import consumer_lag
from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.rules import group_id, pipeline_name
from include.patternalarm.scoring.report import ABSENCE_RULES  # an absence's latency is not alert − last event
from include.patternalarm.settings import Settings
from include.patternalarm.topics import ALERTS, DLQ, EVENTS, LATE

SINK_GROUP = "patternalarm-incident-sink"


@dataclass
class Sample:
    at: float  # epoch seconds
    events_total: dict[str, int]  # end offsets of each event topic (summed over partitions)
    event_rate: dict[str, float]  # events/s arriving since the previous sample
    lag: dict[str, int]  # detection consumer lag per domain
    sink_lag: int | None
    dead_lettered: int  # records in events.dlq since the start
    late: int  # records in events.late since the start
    late_dropped: int  # records the jobs' event-time operators dropped as late since the start (Flink metric)
    alerts: dict[str, int]  # alerts persisted since the start, per rule
    incidents: dict[str, int]  # incidents touched since the start, per rule
    latency_p50: float | None  # persisted_at - last_event_time, non-absence rules, since the start
    latency_p99: float | None
    cpu: dict[str, float]  # % of one core per supervised service (whole process tree)
    rss_mb: dict[str, float]
    load1: float
    tm_heap_used_mb: float | None = None  # the TaskManagers' JVM heap in use (garbage included); None: unknown
    tm_heap_max_mb: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Observer:
    settings: Settings
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    interval: float = 2.0
    domains: tuple[str, ...] = tuple(EVENTS)
    rules: frozenset[str] | None = None  # only these rule ids (default: the catalog's)
    samples: list[Sample] = field(default_factory=list)
    late_every: float = 10.0  # seconds between reads of Flink's late-drop counters (many REST calls)

    def __post_init__(self) -> None:
        self._admin = AdminClient({"bootstrap.servers": self.settings.bootstrap_servers, "socket.timeout.ms": 10000})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._procs: dict[str, list[psutil.Process]] = {}
        self._start_offsets = {t: self._offsets_at(t, self.started_at) for t in (DLQ, LATE)}
        self._conn: psycopg.Connection | None = None
        self.errors: list[str] = []
        self._late_ids: dict[str, dict[str, list[str]]] = {}
        self._late_last: dict[tuple[str, str], int] = {}
        self._late_base = self._late_total = 0
        self._late_read_at = -math.inf
        if self.rules is None:
            from include.patternalarm.rules import load_catalog

            self.rules = frozenset(load_catalog().rules)

    # --- Kafka ---------------------------------------------------------------------------------
    def _partitions(self, topic: str) -> list[TopicPartition]:
        meta = self._admin.list_topics(topic, timeout=10).topics[topic]
        return [TopicPartition(topic, p) for p in meta.partitions]

    def _offsets(self, topic: str, spec: OffsetSpec) -> int:
        result = self._admin.list_offsets({tp: spec for tp in self._partitions(topic)}, request_timeout=10)
        return sum(max(f.result(10).offset, 0) for f in result.values())

    def _offsets_at(self, topic: str, when: datetime) -> int:
        """Sum over partitions of the first offset at or after ``when`` (the end when none is)."""
        stamp = int(when.timestamp() * 1000)
        parts = self._partitions(topic)
        at = self._admin.list_offsets({tp: OffsetSpec.for_timestamp(stamp) for tp in parts}, request_timeout=10)
        ends = self._admin.list_offsets({tp: OffsetSpec.latest() for tp in parts}, request_timeout=10)
        total = 0
        for tp in parts:
            offset = at[tp].result(10).offset
            total += offset if offset >= 0 else ends[tp].result(10).offset
        return total

    # --- Flink ---------------------------------------------------------------------------------
    def _late_dropped(self) -> int:
        """Records dropped as late by the detection jobs' operators since the start. The counters restart
        at 0 when a job restarts (a rescale): a drop is added to the total when a counter goes down, so
        only drops between the last read and a restart can be missed. Read every ``late_every`` s."""
        now = time.monotonic()
        if now - self._late_read_at < self.late_every:
            return self._late_total
        self._late_read_at = now

        with FlinkRest(self.settings.flink_rest) as rest:
            for domain in self.domains:
                for job in rest.find_active(pipeline_name(domain)):
                    ids = self._late_ids.setdefault(job.id, {})
                    for vertex, value in rest.late_records_dropped(job.id, ids).items():
                        key = (job.id, vertex)
                        last = self._late_last.get(key)
                        if last is None and not self.samples:
                            self._late_base -= value  # dropped before the observer started: not ours
                        elif last is not None and value < last:
                            self._late_base += last  # the tasks restarted: their counter began again
                        self._late_last[key] = value
        self._late_total = self._late_base + sum(self._late_last.values())
        return self._late_total

    # --- PostgreSQL ----------------------------------------------------------------------------
    def _db(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.settings.db_conninfo("reporting"), autocommit=True, connect_timeout=5)
        return self._conn

    def _alert_stats(self) -> tuple[dict[str, int], dict[str, int], float | None, float | None]:
        conn = self._db()
        rules = sorted(self.rules or ())
        alerts = dict(conn.execute(
            "select rule_id, count(*) from alerts where persisted_at >= %s and rule_id = any(%s) group by rule_id",
            (self.started_at, rules)).fetchall())
        incidents = dict(conn.execute(
            "select rule_id, count(*) from incidents where last_seen >= %s and rule_id = any(%s) group by rule_id",
            (self.started_at, rules)).fetchall())
        p50, p99 = conn.execute(
            "select percentile_cont(0.5) within group (order by s), percentile_cont(0.99) within group (order by s)"
            " from (select extract(epoch from persisted_at - last_event_time)::float8 as s from alerts"
            "       where persisted_at >= %s and rule_id <> all(%s)) x",
            (self.started_at, list(ABSENCE_RULES))).fetchone()
        return alerts, incidents, p50, p99

    # --- processes -----------------------------------------------------------------------------
    def _service_usage(self) -> tuple[dict[str, float], dict[str, float]]:
        from include.patternalarm.stack.supervisor import Supervisor

        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        try:
            infos = Supervisor(self.settings).all_info()
        except Exception:  # noqa: BLE001 - the stack may be elsewhere (external clusters)
            return cpu, rss
        for info in infos:
            if not info.get("pid"):
                continue
            name = info["name"]
            procs = self._procs.get(name)
            if procs is None or not procs or procs[0].pid != info["pid"]:
                try:
                    root = psutil.Process(info["pid"])
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for p in procs:
                    p.cpu_percent(None)  # prime: the next call measures since now
                self._procs[name] = procs
                continue
            total_cpu = total_rss = 0.0
            for p in procs:
                try:
                    total_cpu += p.cpu_percent(None)
                    total_rss += p.memory_info().rss
                except psutil.Error:
                    continue
            cpu[name] = round(total_cpu, 1)
            rss[name] = round(total_rss / 2**20, 1)
        return cpu, rss

    # --- sampling ------------------------------------------------------------------------------
    def sample(self) -> Sample:
        now = time.time()
        totals = {d: self._offsets(EVENTS[d], OffsetSpec.latest()) for d in self.domains}
        previous = self.samples[-1] if self.samples else None
        rates = {}
        for d in self.domains:
            if previous and now > previous.at:
                rates[d] = max(0.0, (totals[d] - previous.events_total.get(d, totals[d])) / (now - previous.at))
            else:
                rates[d] = 0.0
        lag = {d: consumer_lag(self._admin, group_id(d), [EVENTS[d]]).total for d in self.domains}
        try:
            sink = consumer_lag(self._admin, SINK_GROUP, [ALERTS]).total
        except RuntimeError:
            sink = None
        dlq = self._offsets(DLQ, OffsetSpec.latest()) - self._start_offsets[DLQ]
        late = self._offsets(LATE, OffsetSpec.latest()) - self._start_offsets[LATE]
        try:
            late_dropped = self._late_dropped()
        except Exception as exc:  # noqa: BLE001 - Flink busy (a rescale): keep the last total
            self.errors.append(f"late-drop counters: {exc}"[:300])
            late_dropped = self._late_total
        try:
            alerts, incidents, p50, p99 = self._alert_stats()
        except psycopg.Error as exc:
            self.errors.append(str(exc).splitlines()[0])
            alerts, incidents, p50, p99 = {}, {}, None, None
        cpu, rss = self._service_usage()
        heap_used = heap_max = None
        try:
            with FlinkRest(self.settings.flink_rest, timeout=5) as rest:
                used, most = rest.taskmanager_heap()
            if most:
                heap_used, heap_max = round(used / 2**20, 1), round(most / 2**20, 1)
        except Exception as exc:  # noqa: BLE001 - Flink busy or restarting: this sample has no heap figure
            self.errors.append(f"TaskManager heap: {exc}"[:300])
        sample = Sample(now, totals, rates, lag, sink, dlq, late, late_dropped, alerts, incidents, p50, p99, cpu, rss,
                        os.getloadavg()[0], heap_used, heap_max)
        self.samples.append(sample)
        return sample

    def start(self) -> Observer:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.sample()
                except Exception as exc:  # noqa: BLE001 - keep watching; report at the end
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, name="observer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        if self._conn is not None:
            self._conn.close()

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None


def machine() -> dict[str, Any]:
    """The machine a figure was measured on (it is shared and noisy: keep this next to every result)."""
    memory = psutil.virtual_memory()
    return {"cores": psutil.cpu_count(), "memory_gib": round(memory.total / 2**30, 1),
            "memory_available_gib": round(memory.available / 2**30, 1), "load_avg": list(os.getloadavg()),
            "at": datetime.now(UTC).isoformat(timespec="seconds")}
