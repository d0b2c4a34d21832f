"""``run_simulation``: the Python API behind ``bin/patternalarm simulate``.

It validates the config, opens the run in ``sim_runs``, starts one worker (a thread) or several
(processes, each with its own producer and lanes), forwards ground truth to PostgreSQL, calls
``on_progress`` a few times a second, and returns a ``SimulationSummary``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from include.patternalarm.simulator.config import LANES, RateSchedule, SimulationConfig
from include.patternalarm.simulator.engine import (
    BYTES,
    DELIVERED,
    FAILED,
    FINISHED,
    N_COUNTERS,
    SC_DONE,
    SC_STARTED,
    SENT_BAD,
    SENT_BG,
    SENT_SC,
    WorkerReport,
    run_worker,
)

if TYPE_CHECKING:
    from include.patternalarm.scenarios.base import ScenarioFactory
    from include.patternalarm.settings import Settings

PROGRESS_EVERY_S = 0.25


@dataclass(frozen=True)
class Progress:
    """A snapshot while the run goes on (``on_progress``)."""

    elapsed_s: float
    events_sent: int  # everything: background + bad + scenario events
    background: int
    bad: int
    scenario_events: int
    scenarios_started: int
    scenarios_done: int
    delivered: int
    failed: int
    bytes_sent: int
    rate_now: float  # events/s over the last second or so
    target_rate: float | None  # the schedule's rate right now (spikes included)
    planned_events: int | None  # background events planned, when known
    planned_end_s: float | None


@dataclass
class SimulationSummary:
    """What a run did; ``as_dict()`` is the ``--json`` output."""

    run_id: str
    seed: int
    tag: str
    status: str  # finished | interrupted | failed
    clock: str
    domains: list[str]
    workers: int
    started_at: str
    finished_at: str
    elapsed_s: float
    events_sent: int
    background_events: int
    bad_events: int
    scenario_events: int
    delivered: int
    failed: int
    undelivered: int
    bytes_sent: int
    achieved_rate: float  # all events / elapsed
    background_rate: float  # background+bad events / time they took
    target_rate: float | None  # the schedule's average over that time (None: as fast as possible)
    rate_accuracy: float | None  # background_rate / target_rate
    rate_error_max_10s: float | None  # worst relative deviation over 10-second windows
    per_domain: dict[str, int]
    bad_by_variant: dict[str, int]
    scenarios_injected: int
    scenarios: dict[str, dict[str, int]]
    scenarios_truncated: int
    scenarios_skipped: dict[str, int]
    ground_truth_rows: int
    topics: dict[str, str]
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _child_main(config: SimulationConfig, worker: int, lanes: list[int], bootstrap: str,
                factories: Mapping[str, ScenarioFactory], rule_params: Mapping[str, Mapping[str, Any]],
                counters: Any, sink: Any, stop: Any) -> None:
    """Entry point of a worker process (Ctrl-C is handled by the parent, which sets ``stop``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from confluent_kafka import Producer

    try:
        run_worker(config, worker, lanes, Producer, bootstrap, factories, rule_params, counters, sink, stop)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        sink.put(("report", WorkerReport(worker=worker, error=f"{type(exc).__name__}: {exc}")))


def preflight(bootstrap: str, topics: list[str], timeout: float = 10.0) -> None:
    """Fail early and clearly when the broker is unreachable or a topic is missing (a topic created
    a moment ago may take a few seconds to appear in the metadata: it is waited for)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout
    while True:
        try:
            metadata = admin.list_topics(timeout=max(deadline - time.monotonic(), 1.0))
        except Exception as exc:  # noqa: BLE001 - KafkaException with the transport error
            raise RuntimeError(f"Kafka at {bootstrap} is not reachable ({exc}); is the stack up? "
                               "(`bin/patternalarm stack up`)") from None
        missing = [t for t in topics if t not in metadata.topics or metadata.topics[t].error is not None]
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"topic(s) {', '.join(missing)} do not exist on {bootstrap} "
                               "(`bin/patternalarm stack up` creates the platform topics)")
        time.sleep(0.5)


def resolve_factories(config: SimulationConfig,
                      factories: Mapping[str, ScenarioFactory] | None) -> dict[str, ScenarioFactory]:
    if not config.scenarios:
        return {}
    if factories is not None:
        return dict(factories)
    from include.patternalarm.scenarios import registry

    return registry()


def run_simulation(
    settings: Settings,
    config: SimulationConfig,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    factories: Mapping[str, ScenarioFactory] | None = None,
    producer_factory: Callable[[dict[str, Any]], Any] | None = None,
) -> SimulationSummary:
    """Run a simulation to its end (events / duration reached, or ``stop`` set / Ctrl-C)."""
    from include.patternalarm.simulator.injection import ScenarioPlanner, default_rule_params

    config = config.validated()
    run_id = config.run_id or f"sim-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    factories_ = resolve_factories(config, factories)
    rule_params = default_rule_params() if factories_ else {}
    ScenarioPlanner(config, factories_, rule_params)  # fail early on unknown --rules
    bootstrap = settings.bootstrap_servers
    stop = stop or threading.Event()
    preflight(bootstrap, sorted({config.topics[d] for d in config.domains}))

    store = writer = None
    if config.record_ground_truth:
        from include.patternalarm.simulator.truth import GroundTruthStore, TruthWriter

        store = GroundTruthStore(settings)
        store.start_run(run_id, config.seed or 0, config.clock, config.domains,
                        {**config.as_dict(), "tag": config.tag})
        writer = TruthWriter(store, run_id)
        writer.start()

    n_workers = config.workers
    lanes_of = [[lane for lane in range(LANES) if lane % n_workers == w] for w in range(n_workers)]
    started_at = datetime.now(UTC)
    start = time.monotonic()
    procs: list[Any] = []
    threads: list[threading.Thread] = []
    if n_workers == 1:
        sink: Any = queue.Queue()
        counters: Any = [0] * N_COUNTERS
        from confluent_kafka import Producer

        factory = producer_factory or Producer
        thread = threading.Thread(
            target=_thread_main, name="simulator-worker",
            args=(config, 0, lanes_of[0], factory, bootstrap, factories_, rule_params, counters, sink, stop),
            daemon=True)
        thread.start()
        threads.append(thread)
        stop_flag: Any = stop
    else:
        ctx = mp.get_context("spawn")
        sink = ctx.Queue()
        counters = ctx.Array("q", N_COUNTERS * n_workers, lock=False)
        stop_flag = ctx.Event()
        for w in range(n_workers):
            proc = ctx.Process(target=_child_main, name=f"simulator-worker-{w}",
                               args=(config, w, lanes_of[w], bootstrap, factories_, rule_params, counters, sink,
                                     stop_flag), daemon=True)
            proc.start()
            procs.append(proc)

    reports: list[WorkerReport] = []
    status = "finished"
    errors: list[str] = []
    schedule = RateSchedule(config.spikes)
    planned_events = None
    if config.events is not None:
        planned_events = config.events
    elif config.duration_s is not None and config.rate is not None:
        planned_events = int(schedule.integral(config.duration_s) * config.rate + 0.999999)

    def totals() -> list[int]:
        out = [0] * N_COUNTERS
        snapshot = list(counters)
        for w in range(n_workers):
            for i in range(N_COUNTERS):
                out[i] += snapshot[w * N_COUNTERS + i]
        out[FINISHED] = sum(snapshot[w * N_COUNTERS + FINISHED] for w in range(n_workers))
        return out

    def drain() -> None:
        while True:
            try:
                kind, payload = sink.get_nowait()
            except queue.Empty:
                return
            except (EOFError, OSError):
                return
            if kind == "truth" and writer is not None:
                writer.put(payload)
            elif kind == "report":
                reports.append(payload)

    prev: tuple[float, int] = (0.0, 0)
    next_progress = start + PROGRESS_EVERY_S
    try:
        while len(reports) < n_workers:
            if stop.is_set() and not stop_flag.is_set():
                stop_flag.set()
            time.sleep(0.05)
            drain()
            if procs and all(not p.is_alive() for p in procs):
                time.sleep(0.2)
                drain()
                break
            now = time.monotonic()
            if now >= next_progress:
                next_progress = now + PROGRESS_EVERY_S
                t = totals()
                elapsed = now - start
                bg = t[SENT_BG]
                sent = t[SENT_BG] + t[SENT_SC]
                dt = elapsed - prev[0]
                rate_now = (sent - prev[1]) / dt if dt > 0 else 0.0
                if dt >= 1.0 or prev[0] == 0.0:
                    prev = (elapsed, sent)
                if on_progress is not None:
                    on_progress(Progress(
                        elapsed_s=elapsed, events_sent=sent, background=bg, bad=t[SENT_BAD],
                        scenario_events=t[SENT_SC], scenarios_started=t[SC_STARTED], scenarios_done=t[SC_DONE],
                        delivered=t[DELIVERED], failed=t[FAILED], bytes_sent=t[BYTES], rate_now=rate_now,
                        target_rate=(config.rate * schedule.multiplier(elapsed)) if config.rate and config.paced
                        else None,
                        planned_events=planned_events, planned_end_s=config.planned_end_s(),
                    ))
    except KeyboardInterrupt:
        status = "interrupted"
        stop_flag.set()
        stop.set()
    # wait for the workers to flush and report
    deadline = time.monotonic() + 120
    while len(reports) < n_workers and time.monotonic() < deadline:
        try:
            drain()
            if procs and all(not p.is_alive() for p in procs):
                drain()
                break
            if threads and all(not th.is_alive() for th in threads):
                drain()
                break
            time.sleep(0.05)
        except KeyboardInterrupt:
            stop_flag.set()
    for th in threads:
        th.join(5)
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.terminate()
    drain()
    elapsed = time.monotonic() - start
    if stop.is_set() and status == "finished":
        status = "interrupted"
    t = totals()
    if len(reports) < n_workers:
        errors.append(f"{n_workers - len(reports)} worker(s) ended without a report")
    for r in reports:
        if r.error:
            errors.append(f"worker {r.worker}: {r.error}")
        errors.extend(f"delivery: {e}" for e in r.delivery_errors)
    gt_rows = 0
    if writer is not None and store is not None:
        writer.close()
        gt_rows = store.rows_written
        if writer.error is not None:
            errors.append(f"ground truth: {writer.error}")
    undelivered = sum(r.undelivered for r in reports)
    if undelivered:
        errors.append(f"{undelivered} event(s) still unsent when the producer gave up")
    if t[FAILED]:
        errors.append(f"{t[FAILED]} event(s) not acknowledged by the broker")
    if status == "finished" and (len(reports) < n_workers or any(r.error for r in reports) or t[FAILED]
                                 or undelivered or (writer is not None and writer.error is not None)):
        status = "failed"  # nothing is lost silently: the run says so, and the CLI exits 1

    # rate figures over the time background events were being sent
    bg = t[SENT_BG]
    spans = [(r.bg_first_s, r.bg_last_s) for r in reports if r.bg_first_s is not None and r.bg_last_s is not None]
    send_window = max((last - first for first, last in spans), default=0.0)
    background_rate = (bg - len(spans)) / send_window if send_window > 0 else 0.0
    target_rate = rate_accuracy = err10 = None
    if config.rate and config.paced and bg > 1:
        # background event i is due at inverse(i / rate): n events span inverse((n - 1) / rate)
        due_window = schedule.inverse((bg - 1) / config.rate)
        target_rate = (bg - 1) / due_window if due_window > 0 else config.rate
        rate_accuracy = background_rate / target_rate if target_rate and background_rate else None
        errs = [r.rate_error_max_10s for r in reports if r.rate_error_max_10s is not None]
        err10 = max(errs) if errs else None

    per_domain: dict[str, int] = {}
    bad_by_variant: dict[str, int] = {}
    scenarios: dict[str, dict[str, int]] = {}
    skipped: dict[str, int] = {}
    for r in reports:
        for d, n in r.per_domain.items():
            per_domain[d] = per_domain.get(d, 0) + n
        for v, n in r.bad_by_variant.items():
            bad_by_variant[v] = bad_by_variant.get(v, 0) + n
        for rule, variants in r.scenarios.items():
            into = scenarios.setdefault(rule, {})
            for v, n in variants.items():
                into[v] = into.get(v, 0) + n
        skipped = dict(r.scenarios_skipped) or skipped  # every worker plans the same rounds
    summary = SimulationSummary(
        run_id=run_id, seed=config.seed or 0, tag=config.tag, status=status, clock=config.clock,
        domains=list(config.domains), workers=n_workers,
        started_at=started_at.isoformat(timespec="milliseconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="milliseconds"), elapsed_s=round(elapsed, 3),
        events_sent=t[SENT_BG] + t[SENT_SC], background_events=t[SENT_BG] - t[SENT_BAD], bad_events=t[SENT_BAD],
        scenario_events=t[SENT_SC], delivered=t[DELIVERED], failed=t[FAILED],
        undelivered=sum(r.undelivered for r in reports), bytes_sent=t[BYTES],
        achieved_rate=round((t[SENT_BG] + t[SENT_SC]) / elapsed, 1) if elapsed > 0 else 0.0,
        background_rate=round(background_rate, 1), target_rate=None if target_rate is None else round(target_rate, 1),
        rate_accuracy=None if rate_accuracy is None else round(rate_accuracy, 5),
        rate_error_max_10s=None if err10 is None else round(err10, 5),
        per_domain=per_domain, bad_by_variant=bad_by_variant,
        scenarios_injected=sum(sum(v.values()) for v in scenarios.values()), scenarios=scenarios,
        scenarios_truncated=sum(r.scenarios_truncated for r in reports), scenarios_skipped=skipped,
        ground_truth_rows=gt_rows, topics={d: config.topics[d] for d in config.domains}, errors=errors,
    )
    if store is not None:
        with contextlib.suppress(Exception):
            store.finish_run(run_id, status, summary.as_dict())
        store.close()
    return summary


def _thread_main(config: SimulationConfig, worker: int, lanes: list[int], factory: Any, bootstrap: str,
                 factories: Mapping[str, ScenarioFactory], rule_params: Mapping[str, Mapping[str, Any]],
                 counters: Any, sink: Any, stop: threading.Event) -> None:
    try:
        run_worker(config, worker, lanes, factory, bootstrap, factories, rule_params, counters, sink, stop)
    except Exception as exc:  # noqa: BLE001 - reported to the caller through the summary
        sink.put(("report", WorkerReport(worker=worker, error=f"{type(exc).__name__}: {exc}")))

