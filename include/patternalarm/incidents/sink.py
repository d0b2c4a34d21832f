"""The incident sink: a long-running Kafka consumer that stores alerts and groups them into incidents.

Effectively once: every batch is written by one call of ``ingest_alerts()`` (one database
transaction; ``ON CONFLICT DO NOTHING`` on ``alert_id``, grouping in the same transaction), dead
letters are delivered, and only then are the batch's Kafka offsets committed. A sink killed at
any moment re-reads the uncommitted records on restart; the ones already stored are skipped, so
nothing is lost and nothing is duplicated.

A record is never allowed to stop the sink: one that does not parse (or that the parser cannot
handle at all) is dead-lettered; a batch the database refuses because of its *data* (SQLSTATE
classes 22 data exception, 23 integrity, 54 program limit — e.g. an entity whose index entry is
too large) is split in halves until the refused record is alone, and that record is dead-lettered
as ``unmappable_row`` with the database's reason while the rest is stored. Anything else (the
database is down, restarting, out of disk, a permission is missing) is waited out with back-off:
those errors say nothing about a record, so dead-lettering would lose good alerts.

Run it with ``python -m include.patternalarm.incidents`` (the stack's supervisor does) or
``bin/patternalarm sink run --topic … --group …``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TypeVar

import orjson
import psycopg
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message, Producer, TopicPartition
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from include.patternalarm.alerts import Alert, InvalidAlert, parse_alert
from include.patternalarm.incidents.deadletter import dead_letter
from include.patternalarm.incidents.metrics import SinkMetrics
from include.patternalarm.incidents.status import StatusServer
from include.patternalarm.settings import Settings, get_settings
from include.patternalarm.topics import ALERTS, ALERTS_DLQ

log = logging.getLogger("patternalarm.incidents.sink")

#: The consumer group of the platform's incident sink (docs/contracts.md).
SINK_GROUP = "patternalarm-incident-sink"
#: Most records per batch (one database transaction).
MAX_BATCH = 10_000

T = TypeVar("T")


class SinkError(RuntimeError):
    """The sink cannot start (a missing topic, an unreachable cluster, a bad option)."""


class _Stopped(Exception):
    """A stop was requested while waiting: leave without committing (the records are re-read)."""


@dataclass(frozen=True)
class SinkConfig:
    topic: str = ALERTS
    group: str = SINK_GROUP
    dlq_topic: str = ALERTS_DLQ
    batch_size: int = 500
    metrics_port: int | None = None  # None: no status endpoint; 0: any free port
    auto_resolve_every_s: float = 30.0  # 0: never
    max_backoff_s: float = 30.0
    poll_timeout_s: float = 1.0
    lag_every_s: float = 5.0

    def validate(self) -> SinkConfig:
        problems = []
        if not self.topic.strip():
            problems.append("--topic must not be empty")
        if not self.group.strip():
            problems.append("--group must not be empty")
        if not self.dlq_topic.strip():
            problems.append("--dlq-topic must not be empty")
        if self.dlq_topic == self.topic:
            problems.append("--dlq-topic must differ from --topic (dead letters would be read back)")
        if not 1 <= self.batch_size <= MAX_BATCH:
            problems.append(f"--batch-size must be between 1 and {MAX_BATCH}, not {self.batch_size}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            problems.append(f"--metrics-port must be between 0 and 65535, not {self.metrics_port}")
        if self.auto_resolve_every_s < 0:
            problems.append("--auto-resolve-every must be 0 (never) or positive")
        if self.max_backoff_s <= 0:
            problems.append("the maximum back-off must be positive")
        if problems:
            raise SinkError("; ".join(problems))
        return self


class Backoff:
    """Exponential back-off: ``initial``, doubling, capped at ``maximum`` seconds."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial, self.maximum = initial, maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return delay


def sink_conninfo(settings: Settings) -> str:
    """The sink role's connection: bounded connect and statement times, keepalives to notice outages."""
    return make_conninfo(settings.db_conninfo("sink"), connect_timeout=5, keepalives=1, keepalives_idle=10,
                         keepalives_interval=5, keepalives_count=3, options="-c statement_timeout=120000",
                         application_name="patternalarm-incident-sink")


def _kafka_time(message: Message) -> datetime | None:
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or millis is None or millis < 0:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


#: SQLSTATE classes that blame the data of a statement (22 data exception, 23 integrity constraint
#: violation, 54 program limit exceeded, e.g. an index row too large): retrying the same rows fails the
#: same way, so the refused record is found and dead-lettered. psycopg files class 54 under
#: OperationalError, like a lost connection — hence the SQLSTATE, not the exception class.
DATA_ERROR_CLASSES = ("22", "23", "54")


def refused_by_data(exc: psycopg.Error) -> bool:
    """The database refused the statement because of the rows it carried (not an outage)."""
    return (exc.sqlstate or "")[:2] in DATA_ERROR_CLASSES


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _jsonb_dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class IncidentSink:
    """One sink process: consume → validate → store + group → dead-letter → commit, forever."""

    def __init__(self, settings: Settings, config: SinkConfig, metrics: SinkMetrics | None = None) -> None:
        self.settings = settings
        self.config = config.validate()
        self.metrics = metrics or SinkMetrics(config.topic, config.group)
        self._conninfo = sink_conninfo(settings)
        self._conn: psycopg.Connection | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._status: StatusServer | None = None
        self._stopping = False
        self._paused = False
        self._carry: list[Message] = []
        self._committed: dict[int, int] = {}
        self._next_lag = 0.0
        self._next_auto_resolve = time.monotonic() + min(5.0, config.auto_resolve_every_s)
        self._next_log = time.monotonic() + 10.0
        self._logged_counts: dict[str, int] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        """Finish the current batch, then leave (safe from a signal handler)."""
        self._stopping = True

    def run(self) -> None:
        cfg = self.config
        if cfg.metrics_port is not None:
            try:
                self._status = StatusServer(self.metrics, self.settings.host, cfg.metrics_port).start()
            except OSError as exc:
                raise SinkError(f"cannot serve the status endpoint on {self.settings.host}:{cfg.metrics_port}: "
                                f"{exc.strerror or exc} (choose another --metrics-port)") from None
            log.info("status on http://%s:%d/status", self.settings.host, self._status.port)
        client = f"patternalarm-incident-sink-{socket.gethostname()}-{os.getpid()}"
        self._consumer = Consumer({
            "bootstrap.servers": self.settings.bootstrap_servers,
            "group.id": cfg.group,
            "client.id": client,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10_000,
            "heartbeat.interval.ms": 2_000,
        })
        self._producer = Producer({
            "bootstrap.servers": self.settings.bootstrap_servers,
            "client.id": client,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
        })
        try:
            self._check_topics()
            self._with_db(self._check_database, "checking the database")
            self._consumer.subscribe([cfg.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                     on_lost=self._on_revoke)
            self.metrics.set_state("consuming")
            log.info("consuming %s as group %s (batches of up to %d, dead letters to %s)", cfg.topic, cfg.group,
                     cfg.batch_size, cfg.dlq_topic)
            while not self._stopping:
                self._loop_once()
        except _Stopped:
            log.info("stop requested while waiting: leaving without committing the pending batch")
        finally:
            self.metrics.set_state("stopping")
            self._close()
        log.info("stopped")

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except (KafkaException, RuntimeError) as exc:
                log.warning("closing the consumer: %s", exc)
        if self._producer is not None:
            self._producer.flush(10)
        if self._conn is not None:
            self._conn.close()
        if self._status is not None:
            self._status.stop()

    def _check_topics(self) -> None:
        assert self._consumer is not None
        try:
            metadata = self._consumer.list_topics(timeout=15)
        except KafkaException as exc:
            raise SinkError(f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc}") from None
        for topic, option in ((self.config.topic, "--topic"), (self.config.dlq_topic, "--dlq-topic")):
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                raise SinkError(f"topic {topic!r} ({option}) does not exist on {self.settings.bootstrap_servers}")

    def _check_database(self, conn: psycopg.Connection) -> None:
        conn.execute("SELECT 'ingest_alerts(jsonb)'::regprocedure")

    # --- rebalancing ----------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)
        if self._paused and partitions:
            consumer.pause(partitions)
        try:
            for tp in consumer.committed(partitions, timeout=10):
                if tp.offset >= 0:
                    self._committed[tp.partition] = tp.offset
        except KafkaException as exc:
            log.warning("reading committed offsets: %s", exc)
        log.info("assigned partitions %s", sorted(tp.partition for tp in partitions))
        self._next_lag = 0.0

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._committed.pop(tp.partition, None)
        log.info("partitions revoked: %s", sorted(tp.partition for tp in partitions))
        self._next_lag = 0.0

    # --- the loop -------------------------------------------------------------------------------

    def _loop_once(self) -> None:
        messages = self._carry or self._fetch()
        self._carry = []
        self.metrics.tick()
        now = time.monotonic()
        if now >= self._next_lag:
            self._refresh_lag()
            self._next_lag = now + self.config.lag_every_s
        if self.config.auto_resolve_every_s and now >= self._next_auto_resolve:
            self._auto_resolve()
            self._next_auto_resolve = now + self.config.auto_resolve_every_s
        if now >= self._next_log:
            self._log_progress()
            self._next_log = now + 10.0
        records = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif error.fatal():
                raise KafkaException(error)
            else:
                log.warning("consumer: %s", error)
        if records:
            self._process(records)

    def _fetch(self) -> list[Message]:
        assert self._consumer is not None
        first = self._consumer.poll(self.config.poll_timeout_s)
        if first is None:
            return []
        if self.config.batch_size == 1:
            return [first]
        # whatever else is already fetched, without waiting: small batches when traffic is light
        # (low latency), large ones when the database is the bottleneck (high throughput)
        return [first, *self._consumer.consume(num_messages=self.config.batch_size - 1, timeout=0)]

    def _process(self, records: list[Message]) -> None:
        started = time.monotonic()
        valid: list[tuple[Message, Alert]] = []
        dead: list[tuple[bytes | None, dict[str, Any]]] = []
        for message in records:
            try:
                valid.append((message, parse_alert(message.value())))
            except InvalidAlert as exc:
                dead.append(self._dead(message, exc.reason, exc.detail, exc.domain))
            except Exception as exc:  # noqa: BLE001 - a record must never crash the sink (restart → same record)
                dead.append(self._dead(message, "invalid_alert", f"the sink could not read it: "
                                                                 f"{type(exc).__name__}: {_first_line(exc)}"))
        summary, refused = self._with_db(lambda conn: self._write(conn, valid), "storing alerts")
        dead += refused
        self._send_dead_letters(dead)
        self._commit(records)
        self.metrics.record_batch(len(records), summary, len(dead), time.monotonic() - started)

    def _dead(self, message: Message, reason: str, detail: str,
              domain: str | None = None) -> tuple[bytes | None, dict[str, Any]]:
        record = dead_letter(reason, detail, raw=message.value(), topic=message.topic(),
                             partition=message.partition(), offset=message.offset(), key=message.key(),
                             domain=domain)
        log.warning("dead letter %s[%s]@%s: %s (%s)", message.topic(), message.partition(), message.offset(),
                    reason, detail[:200])
        return message.key(), record

    # --- the database ---------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def _with_db(self, action: Callable[[psycopg.Connection], T], what: str) -> T:
        """Run ``action`` until it succeeds; while the database is unavailable, wait with back-off
        (consumer paused, position kept, nothing committed)."""
        backoff = Backoff(0.5, self.config.max_backoff_s)
        while True:
            try:
                result = action(self._connection())
            except psycopg.Error as exc:
                if refused_by_data(exc):
                    raise  # a row problem, handled by the caller
                message = _first_line(exc)
                kind = "database_unavailable" if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) \
                    else "database_error"
                self._drop_connection()
                self.metrics.count("db_errors")
                self.metrics.error(kind, message)
                delay = backoff.next()
                state = "waiting_for_database" if kind == "database_unavailable" else "database_error"
                self.metrics.set_state(state, f"{what}: {message}; retrying in {delay:.1f}s")
                log.warning("%s failed (%s): %s; retrying in %.1fs", what, kind, message, delay)
                self._pause_and_wait(delay)
                continue
            if self._paused:
                self._resume()
                log.info("database available again")
            self.metrics.set_state("consuming")
            return result

    def _write(self, conn: psycopg.Connection, items: list[tuple[Message, Alert]]
               ) -> tuple[dict[str, int], list[tuple[bytes | None, dict[str, Any]]]]:
        """Store ``items``; returns the summed ``ingest_alerts`` summary and the records the database
        refused (as dead letters). Errors that are not about the data propagate (``_with_db`` retries)."""
        if not items:
            return {}, []
        rows = [alert.as_row(topic=m.topic(), partition=m.partition(), offset=m.offset(), timestamp=_kafka_time(m))
                for m, alert in items]
        totals: dict[str, int] = {}
        refused: list[tuple[bytes | None, dict[str, Any]]] = []
        self._store(conn, [(m, row) for (m, _), row in zip(items, rows, strict=True)], totals, refused)
        return totals, refused

    def _store(self, conn: psycopg.Connection, pairs: list[tuple[Message, dict[str, Any]]], totals: dict[str, int],
               refused: list[tuple[bytes | None, dict[str, Any]]]) -> None:
        """One transaction for ``pairs``; refused for its data, split in halves down to the refused record."""
        try:
            with conn.transaction():
                summary = conn.execute("SELECT ingest_alerts(%s)",
                                       [Jsonb([row for _, row in pairs], dumps=_jsonb_dumps)]).fetchone()[0]
        except psycopg.Error as exc:
            if not refused_by_data(exc):
                raise
            reason = f"{exc.sqlstate} {_first_line(exc)}"
            if len(pairs) == 1:
                message, row = pairs[0]
                refused.append(self._dead(message, "unmappable_row", f"the database refused the alert: {reason}",
                                          row.get("domain")))
                return
            log.warning("the database refused a batch of %d (%s); splitting it", len(pairs), reason)
            middle = len(pairs) // 2
            self._store(conn, pairs[:middle], totals, refused)
            self._store(conn, pairs[middle:], totals, refused)
            return
        for name, value in summary.items():
            totals[name] = totals.get(name, 0) + value

    def _auto_resolve(self) -> None:
        try:
            with self._connection().transaction() as tx:
                resolved = tx.connection.execute("SELECT auto_resolve_incidents()").fetchone()[0]
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                self._drop_connection()
            log.warning("auto-resolve failed (retried later): %s", _first_line(exc))
            return
        if resolved:
            self.metrics.count("auto_resolved", resolved)
            log.info("auto-resolved %d quiet incident(s)", resolved)

    # --- Kafka: dead letters, offsets, lag ------------------------------------------------------

    def _send_dead_letters(self, dead: list[tuple[bytes | None, dict[str, Any]]]) -> None:
        assert self._producer is not None
        pending = dead
        backoff = Backoff(0.5, self.config.max_backoff_s)
        while pending:
            failed: list[tuple[bytes | None, dict[str, Any]]] = []
            for key, record in pending:
                try:
                    self._producer.produce(self.config.dlq_topic, key=key, value=orjson.dumps(record),
                                           on_delivery=self._delivery_report(failed, (key, record)))
                except (BufferError, KafkaException) as exc:
                    failed.append((key, record))
                    self.metrics.error("dead_letter_failed", str(exc))
            while self._producer.flush(5) > 0:
                self.metrics.set_state("waiting_for_dlq", f"dead letters not yet delivered to {self.config.dlq_topic}")
                self._pause_and_wait(0.5)
            if not failed:
                break
            self.metrics.count("dlq_errors", len(failed))
            delay = backoff.next()
            self.metrics.set_state("waiting_for_dlq", f"{len(failed)} dead letter(s) failed; retrying in {delay:.1f}s")
            log.warning("%d dead letter(s) failed; retrying in %.1fs", len(failed), delay)
            self._pause_and_wait(delay)
            pending = failed
        if self._paused:
            self._resume()
        self.metrics.set_state("consuming")

    def _delivery_report(self, failed: list[tuple[bytes | None, dict[str, Any]]],
                         item: tuple[bytes | None, dict[str, Any]]) -> Callable[[Any, Any], None]:
        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                failed.append(item)
                self.metrics.error("dead_letter_failed", str(err))

        return report

    def _commit(self, records: list[Message]) -> None:
        assert self._consumer is not None
        last: dict[int, int] = {}
        for message in records:
            last[message.partition()] = max(last.get(message.partition(), -1), message.offset())
        assigned = {tp.partition for tp in self._consumer.assignment() if tp.topic == self.config.topic}
        offsets = [TopicPartition(self.config.topic, p, o + 1) for p, o in last.items() if p in assigned]
        if not offsets:
            return
        try:
            result = self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.metrics.count("commit_errors")
            self.metrics.error("commit_failed", str(exc))
            log.warning("offset commit failed (the records will be re-read and skipped as duplicates): %s", exc)
            return
        for tp in result or []:
            if tp.error is None:
                self._committed[tp.partition] = tp.offset
            else:
                self.metrics.count("commit_errors")
                log.warning("offset commit failed for partition %d: %s", tp.partition, tp.error)

    def _refresh_lag(self) -> None:
        assert self._consumer is not None
        partitions: dict[int, dict[str, int | None]] = {}
        for tp in self._consumer.assignment():
            try:
                # the offsets the fetches already brought: asking the broker instead queues behind this
                # consumer's own long-poll fetch (up to fetch.wait.max.ms per partition) and held every
                # alert back by up to 2 s each lag_every_s (seen as the sink's p95 of 1.4 s)
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if low < 0 or high < 0:  # nothing fetched from it yet: ask the broker this once
                    low, high = self._consumer.get_watermark_offsets(tp, timeout=2, cached=False)
            except KafkaException as exc:
                log.debug("watermarks of partition %d: %s", tp.partition, exc)
                continue
            committed = self._committed.get(tp.partition)
            base = committed if committed is not None and committed >= 0 else low
            partitions[tp.partition] = {"committed": committed, "low": low, "high": high,
                                        "lag": max(0, high - base)}
        self.metrics.set_partitions(partitions)

    def _log_progress(self) -> None:
        counts = self.metrics.snapshot()["counts"]
        delta = {k: counts[k] - self._logged_counts.get(k, 0) for k in ("consumed", "stored", "duplicates",
                                                                       "dead_lettered")}
        if any(delta.values()):
            log.info("last 10s: %d read, %d stored, %d duplicates, %d dead-lettered; lag %s", delta["consumed"],
                     delta["stored"], delta["duplicates"], delta["dead_lettered"],
                     self.metrics.snapshot()["lag"]["total"])
        self._logged_counts = counts

    # --- waiting without losing the position ------------------------------------------------------

    def _pause_and_wait(self, seconds: float) -> None:
        """Wait ``seconds`` with the partitions paused, still polling so the group keeps us."""
        assert self._consumer is not None
        if not self._paused:
            assignment = self._consumer.assignment()
            if assignment:
                self._consumer.pause(assignment)
            self._paused = True
        deadline = time.monotonic() + seconds
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            message = self._consumer.poll(min(0.5, remaining))
            if message is not None:
                self._carry.append(message)  # prefetched before the pause: processed next, in order
            self.metrics.tick()
        raise _Stopped

    def _resume(self) -> None:
        assert self._consumer is not None
        assignment = self._consumer.assignment()
        if assignment:
            self._consumer.resume(assignment)
        self._paused = False


def run_sink(settings: Settings, config: SinkConfig) -> None:
    """Run a sink in this process until SIGTERM/SIGINT (the current batch is finished first)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sink = IncidentSink(settings, config)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current batch", signum)
        sink.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sink.run()


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m include.patternalarm.incidents",
                                     description="The incident sink (see `bin/patternalarm sink run --help`).")
    parser.add_argument("--topic", default=ALERTS)
    parser.add_argument("--group", default=SINK_GROUP)
    parser.add_argument("--dlq-topic", default=ALERTS_DLQ)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--metrics-port", type=int, default=settings.sink_metrics_port,
                        help="status endpoint port; -1 disables it")
    parser.add_argument("--auto-resolve-every", type=float, default=30.0)
    args = parser.parse_args(argv)
    config = SinkConfig(topic=args.topic, group=args.group, dlq_topic=args.dlq_topic, batch_size=args.batch_size,
                        metrics_port=None if args.metrics_port < 0 else args.metrics_port,
                        auto_resolve_every_s=args.auto_resolve_every)
    try:
        run_sink(settings, config)
    except SinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
