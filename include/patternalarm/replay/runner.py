"""``run_replay``: stream a CSV / CSV.gz / Parquet file into a domain topic, dead-lettering rows
that cannot become valid events (``events.dlq``, source ``replay``, with the reason)."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import queue
import signal
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from include.patternalarm.events.dlq import dead_letter
from include.patternalarm.events.schema import Problem
from include.patternalarm.events.timefmt import IsoFormatter, iso_ms
from include.patternalarm.replay.joblog import JobDeadLetters, count_job_dead_letters, end_offsets
from include.patternalarm.replay.mapping import ColumnMapping, MappingError, RowMapper, check_size
from include.patternalarm.replay.readers import BadRow, ReaderError, open_rows
from include.patternalarm.topics import DLQ, DOMAINS, EVENTS, LATE

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

PROGRESS_EVERY_S = 0.25
NOT_WAITED = ("not waited: what the detection job dead-lettered or found late among these events is not "
              "known (--wait-dlq SECONDS counts it)")


class ReplayError(ValueError):
    """The replay cannot start (file, format, mapping or parameters), with the reason."""


@dataclass(frozen=True)
class ReplayConfig:
    path: Path
    domain: str
    key: str  # the column holding the Kafka key (and the entity, unless mapped)
    time: str  # the column holding event time: ISO-8601, epoch seconds or milliseconds
    fields: Mapping[str, str] = field(default_factory=dict)  # --map field=COLUMN
    constants: Mapping[str, str] = field(default_factory=dict)  # --set field=VALUE
    speed: float | None = None  # None: as fast as possible; 1: real time; N: N times real time
    limit: int | None = None  # rows
    format: str | None = None  # csv | csv.gz | parquet (default: from the file name)
    delimiter: str = ","
    topic: str | None = None  # default events.<domain>
    dlq_topic: str = DLQ
    id_prefix: str | None = None  # event ids "<prefix>-<row>" when event_id is not mapped
    # re-stamp event times on the send schedule: the first row now, the file's gaps divided by the
    # speed, never later than the moment the event is sent (needs a speed)
    retime: bool = False
    workers: int = 1  # processes; rows are split by key, so each entity's order is kept
    # after sending, count for up to this long what the detection job dead-lettered / found late
    # among the replayed events (0: do not wait)
    wait_dlq_s: float = 0.0
    late_topic: str = LATE
    job_group: str | None = None  # the job's consumer group (default: the domain's detection job)
    producer_config: Mapping[str, Any] = field(default_factory=dict)

    def validated(self) -> ReplayConfig:
        if self.domain not in DOMAINS:
            raise ReplayError(f"unknown domain {self.domain!r}; choose from {', '.join(DOMAINS)}")
        if self.speed is not None and self.speed <= 0:
            raise ReplayError("speed must be positive (or 'max')")
        if self.limit is not None and self.limit < 0:
            raise ReplayError("limit must be zero or more")
        if self.retime and self.speed is None:
            raise ReplayError("--retime needs a --speed (1 = real time): it stamps each event with the moment "
                              "the speed schedules it to be sent")
        if len(self.delimiter) != 1:
            raise ReplayError("the delimiter is one character")
        if self.workers not in (1, 2, 3, 4):
            raise ReplayError(f"workers must be between 1 and 4, not {self.workers}")
        if self.wait_dlq_s < 0:
            raise ReplayError("--wait-dlq must be zero or more seconds")
        return self


@dataclass(frozen=True)
class ReplayProgress:
    elapsed_s: float
    rows: int
    sent: int
    dead_lettered: int
    bytes_read: int
    total_bytes: int
    total_rows: int | None
    rate_now: float
    waiting_s: float | None = None  # set while waiting (up to this long) for the job's dead letters


@dataclass
class ReplaySummary:
    file: str
    format: str
    domain: str
    topic: str
    dlq_topic: str
    status: str  # finished | interrupted | failed
    rows: int
    events_sent: int
    dead_lettered: int
    dead_letter_reasons: dict[str, int]
    delivered: int
    failed: int
    undelivered: int
    elapsed_s: float
    rate: float  # rows per second
    first_event_time: str | None
    last_event_time: str | None
    # what the detection job did with the sent events (dead letters and late events by reason)
    job_dead_letters: JobDeadLetters = field(default_factory=lambda: JobDeadLetters(checked=False))
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_speed(text: str | None) -> float | None:
    """``max`` → None (as fast as possible); ``1`` / ``realtime`` → 1.0; ``10`` or ``10x`` → 10.0."""
    if text is None:
        return None
    value = text.strip().lower()
    if value in ("max", "fastest", "asap"):
        return None
    if value in ("realtime", "real-time", "real"):
        return 1.0
    try:
        speed = float(value.rstrip("x"))
    except ValueError:
        raise ReplayError(f"cannot read speed {text!r}: use max, realtime, 1, 10x") from None
    if speed <= 0:
        raise ReplayError("speed must be positive")
    return speed


def parse_pairs(items: list[str], option: str) -> dict[str, str]:
    """``["amount=AMT", …]`` → ``{"amount": "AMT"}`` with a clear error naming ``option``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ReplayError(f"{option} {item!r}: use FIELD=COLUMN")
        if name.strip() in out:
            raise ReplayError(f"{option}: field {name.strip()!r} given twice")
        out[name.strip()] = value.strip()
    return out


def _default_prefix(path: Path) -> str:
    stat = path.stat()
    digest = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode(),
                          usedforsecurity=False).hexdigest()
    return f"r{digest[:10]}"


ROWS, SENT, DLQ_COUNT, BYTES_READ, DONE = range(5)
N_COUNTERS = 5


def run_replay(
    settings: Settings,
    config: ReplayConfig,
    *,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    stop: threading.Event | None = None,
    producer_factory: Callable[[dict[str, Any]], Any] | None = None,
) -> ReplaySummary:
    """Stream the file; returns counts by outcome. Raises ``ReplayError`` when it cannot start."""
    config = config.validated()
    stop = stop or threading.Event()
    topic = config.topic or EVENTS[config.domain]
    source = _open(config, config.id_prefix or "check")[0]  # fail early: file, format, mapping
    total_bytes, total_rows, fmt = source.total_bytes, source.total_rows, source.format
    source.close()
    from include.patternalarm.simulator.runner import preflight

    bootstrap = settings.bootstrap_servers
    record_topics = sorted({config.dlq_topic, config.late_topic}) if config.wait_dlq_s > 0 else []
    preflight(bootstrap, sorted({topic, config.dlq_topic, *record_topics}))
    config = replace(config, id_prefix=config.id_prefix or _default_prefix(config.path), topic=topic)
    before = end_offsets(bootstrap, [topic, *record_topics]) if record_topics else {}
    start = time.monotonic()
    start_wall_ms = time.time_ns() // 1_000_000
    results: list[dict[str, Any]] = []
    n = config.workers
    status = "finished"

    def report(counters: Any, rate_now: float) -> None:
        if on_progress is None:
            return
        snap = list(counters)
        total = [sum(snap[w * N_COUNTERS + i] for w in range(n)) for i in range(N_COUNTERS)]
        on_progress(ReplayProgress(time.monotonic() - start, snap[ROWS], total[SENT], total[DLQ_COUNT],
                                   snap[BYTES_READ], total_bytes, total_rows, rate_now))

    if n == 1:
        counters: Any = [0] * N_COUNTERS
        last = {"t": start, "rows": 0, "rate": 0.0}

        def tick() -> None:
            now = time.monotonic()
            if now - last["t"] >= 1.0:
                last["rate"] = (counters[ROWS] - last["rows"]) / (now - last["t"])
                last["t"], last["rows"] = now, counters[ROWS]
            report(counters, last["rate"])

        try:
            results.append(_replay_part(bootstrap, config, 0, 1, counters, start_wall_ms, stop,
                                        producer_factory, tick))
        except KeyboardInterrupt:
            status = "interrupted"
    else:
        ctx = mp.get_context("spawn")
        counters = ctx.Array("q", N_COUNTERS * n, lock=False)
        stop_flag = ctx.Event()
        out = ctx.Queue()
        procs = [ctx.Process(target=_child, name=f"replay-{w}", daemon=True,
                             args=(bootstrap, config, w, n, counters, start_wall_ms, stop_flag, out))
                 for w in range(n)]
        for proc in procs:
            proc.start()
        prev = (start, 0)
        rate_now = 0.0
        try:
            while len(results) < n:
                if stop.is_set():
                    stop_flag.set()
                try:
                    results.append(out.get(timeout=PROGRESS_EVERY_S))
                except queue.Empty:
                    if all(not p.is_alive() for p in procs):
                        break
                now = time.monotonic()
                if now - prev[0] >= 1.0:
                    rate_now = (counters[ROWS] - prev[1]) / (now - prev[0])
                    prev = (now, counters[ROWS])
                report(counters, rate_now)
        except KeyboardInterrupt:
            status = "interrupted"
            stop_flag.set()
            deadline = time.monotonic() + 90
            while len(results) < n and time.monotonic() < deadline:
                try:
                    results.append(out.get(timeout=0.5))
                except queue.Empty:
                    if all(not p.is_alive() for p in procs):
                        break
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
    elapsed = time.monotonic() - start
    errors = [e for r in results for e in r["errors"]]
    if len(results) < n:
        errors.append(f"{n - len(results)} replay worker(s) ended without a report")
        status = "failed"
    statuses = {r["status"] for r in results}
    if status == "finished" and "failed" in statuses:
        status = "failed"
    elif status == "finished" and "interrupted" in statuses:
        status = "interrupted"
    reasons: dict[str, int] = {}
    for r in results:
        for reason, count in r["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    firsts = [r["first_ms"] for r in results if r["first_ms"] is not None]
    lasts = [r["last_ms"] for r in results if r["last_ms"] is not None]
    rows = max((r["rows"] for r in results), default=0)  # every worker reads every row
    summary = ReplaySummary(
        file=str(config.path), format=fmt, domain=config.domain, topic=topic, dlq_topic=config.dlq_topic,
        status=status, rows=rows, events_sent=sum(r["sent"] for r in results),
        dead_lettered=sum(r["dlq"] for r in results), dead_letter_reasons=reasons,
        delivered=sum(r["delivered"] for r in results), failed=sum(r["failed"] for r in results),
        undelivered=sum(r["undelivered"] for r in results), elapsed_s=round(elapsed, 3),
        rate=round(rows / elapsed, 1) if elapsed > 0 else 0.0,
        first_event_time=iso_ms(min(firsts)) if firsts else None,
        last_event_time=iso_ms(max(lasts)) if lasts else None, errors=errors,
    )
    if on_progress is not None:
        on_progress(ReplayProgress(elapsed, rows, summary.events_sent, summary.dead_lettered, total_bytes, total_bytes,
                                   total_rows, 0.0))
    if not record_topics:
        summary.job_dead_letters.note = NOT_WAITED
    elif summary.events_sent == 0 or stop.is_set() or summary.status == "interrupted":
        summary.job_dead_letters.note = "not waited: " + ("nothing was sent" if summary.events_sent == 0
                                                         else "the replay was interrupted")
    else:
        if on_progress is not None:
            on_progress(ReplayProgress(elapsed, rows, summary.events_sent, summary.dead_lettered, total_bytes,
                                       total_bytes, total_rows, 0.0, waiting_s=config.wait_dlq_s))
        summary.job_dead_letters = _job_dead_letters(bootstrap, config, topic, before, record_topics, stop)
    return summary


def _job_dead_letters(bootstrap: str, config: ReplayConfig, topic: str, before: dict[tuple[str, int], int],
                      record_topics: list[str], stop: threading.Event) -> JobDeadLetters:
    """Count the job's dead letters / late events for the events this replay wrote (see ``joblog``)."""
    from include.patternalarm.rules import group_id

    after = end_offsets(bootstrap, [topic])
    written = {p: (before.get((t, p), 0), end) for (t, p), end in after.items()}
    starts = {t: {p: o for (tt, p), o in before.items() if tt == t} for t in record_topics}
    generated_ids = "event_id" not in config.fields and "event_id" not in config.constants
    return count_job_dead_letters(
        bootstrap, source_topic=topic, written=written, id_prefix=config.id_prefix if generated_ids else None,
        record_topics=starts, group=config.job_group or group_id(config.domain), wait_s=config.wait_dlq_s,
        stop=stop)


def _open(config: ReplayConfig, prefix: str) -> tuple[Any, RowMapper]:
    needed = [config.key, config.time, *config.fields.values()]
    try:
        source = open_rows(config.path, fmt=config.format, columns=needed, delimiter=config.delimiter)
    except ReaderError as exc:
        raise ReplayError(str(exc)) from None
    try:
        mapper = RowMapper(ColumnMapping(config.domain, config.key, config.time, config.fields, config.constants),
                           source.columns, prefix)
    except MappingError as exc:
        source.close()
        raise ReplayError(str(exc)) from None
    return source, mapper


def _child(bootstrap: str, config: ReplayConfig, worker: int, workers: int, counters: Any, start_wall_ms: int,
           stop: Any, out: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through ``stop``
    try:
        result = _replay_part(bootstrap, config, worker, workers, counters, start_wall_ms, stop, None, None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        result = {"status": "failed", "rows": 0, "sent": 0, "dlq": 0, "reasons": {}, "delivered": 0, "failed": 0,
                  "undelivered": 0, "first_ms": None, "last_ms": None, "errors": [f"{type(exc).__name__}: {exc}"]}
    out.put(result)


def _replay_part(
    bootstrap: str, config: ReplayConfig, worker: int, workers: int, counters: Any, start_wall_ms: int,
    stop: Any, producer_factory: Callable[[dict[str, Any]], Any] | None, tick: Callable[[], None] | None,
) -> dict[str, Any]:
    """Read every row, handle those whose key hashes to ``worker`` (all of them when ``workers == 1``)."""
    source, mapper = _open(config, config.id_prefix or "r")
    topic = config.topic or EVENTS[config.domain]
    if producer_factory is None:
        from confluent_kafka import Producer

        producer_factory = Producer
    counts = {"delivered": 0, "failed": 0}
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            counts["delivered"] += 1
        else:
            counts["failed"] += 1
            if len(errors) < 5:
                errors.append(f"delivery to {msg.topic()}: {err}")

    producer = producer_factory({
        "bootstrap.servers": bootstrap,
        "client.id": f"patternalarm-replay-{worker}",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 25 if config.speed is None else 5,
        "batch.size": 1_000_000,
        "batch.num.messages": 50_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.timeout.ms": 120_000,
        "on_delivery": on_delivery,
        **dict(config.producer_config),
    })
    produce, poll = producer.produce, producer.poll

    def send(topic_: str, value: bytes, key: bytes | None) -> None:
        while True:
            try:
                produce(topic_, value, key)
                return
            except BufferError:
                poll(0.05)

    reasons: dict[str, int] = {}
    rows = sent = dlq = 0
    first_ms: int | None = None
    last_ms: int | None = None
    # the pacing clock starts when the parent started (every worker keeps one schedule)
    start = time.monotonic() - max(time.time_ns() // 1_000_000 - start_wall_ms, 0) / 1000
    next_tick = time.monotonic() + PROGRESS_EVERY_S
    status = "finished"
    pace_origin: int | None = None  # event time of the first row (pacing and --retime)
    speed = config.speed
    retime = config.retime
    iso = IsoFormatter()
    limit = config.limit
    name = config.path.name
    key_index = mapper.key_index
    base = worker * N_COUNTERS
    split = workers > 1

    def dead(problem: Problem, raw: Any, number: int, key: Any) -> None:
        nonlocal dlq
        raw_text = raw if isinstance(raw, str) else orjson.dumps(
            dict(zip(source.columns, raw, strict=False)) if isinstance(raw, list | tuple) else raw,
            default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        record = dead_letter(problem.reason, f"row {number}: {problem.detail}", source="replay", raw=raw_text,
                             domain=config.domain, topic=topic, key=None if key in (None, "") else str(key),
                             row=number, file=name)
        send(config.dlq_topic, orjson.dumps(record), None if key in (None, "") else str(key).encode())
        reasons[problem.reason] = reasons.get(problem.reason, 0) + 1
        dlq += 1

    try:
        for first_number, batch in source.batches():
            for offset, row in enumerate(batch):
                if limit is not None and rows >= limit:
                    raise StopIteration
                rows += 1
                if isinstance(row, BadRow):
                    if not split or row.number % workers == worker:
                        dead(Problem("unmappable_row", row.reason), row.raw if row.raw is not None else "",
                             row.number, None)
                    continue
                number = first_number + offset
                if speed is not None and pace_origin is None:
                    pace_origin = mapper.event_time_ms(row)
                if split:
                    raw_key = row[key_index]
                    if zlib.crc32(str(raw_key).encode()) % workers != worker:
                        continue
                result = mapper.map(row, number)
                if isinstance(result, Problem):
                    dead(result, row, number, row[key_index])
                    continue
                key, event, t_ms = result
                if pace_origin is not None and speed is not None:
                    due = (t_ms - pace_origin) / 1000 / speed  # seconds after the start
                    ahead = due - (time.monotonic() - start)
                    while ahead > 0.002 and not stop.is_set():
                        poll(0)
                        time.sleep(min(ahead, 0.25))
                        ahead = due - (time.monotonic() - start)
                    if retime:  # stamped on the schedule, and never later than now (the send)
                        t_ms = min(start_wall_ms + round(due * 1000), time.time_ns() // 1_000_000)
                        event["event_time"] = iso(t_ms)
                value = orjson.dumps(event)
                problem = check_size(value)
                if problem is not None:
                    dead(problem, value.decode(), number, key)
                    continue
                send(topic, value, key.encode())
                sent += 1
                if first_ms is None or t_ms < first_ms:
                    first_ms = t_ms
                if last_ms is None or t_ms > last_ms:
                    last_ms = t_ms
            poll(0)
            counters[base + ROWS], counters[base + SENT], counters[base + DLQ_COUNT] = rows, sent, dlq
            counters[base + BYTES_READ] = source.bytes_read
            if stop.is_set():
                status = "interrupted"
                break
            if tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + PROGRESS_EVERY_S
                tick()
    except StopIteration:
        pass
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except Exception as exc:  # noqa: BLE001 - a reader failure mid-file: report what was done
        status = "failed"
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        source.close()
        undelivered = producer.flush(60)
        counters[base + ROWS], counters[base + SENT], counters[base + DLQ_COUNT] = rows, sent, dlq
        counters[base + DONE] = 1
    if (counts["failed"] or undelivered) and status == "finished":
        status = "failed"
        errors.append(f"{counts['failed']} event(s) not acknowledged, {undelivered} unsent")
    return {"status": status, "rows": rows, "sent": sent, "dlq": dlq, "reasons": reasons,
            "delivered": counts["delivered"], "failed": counts["failed"], "undelivered": undelivered,
            "first_ms": first_ms, "last_ms": last_ms, "errors": errors}
