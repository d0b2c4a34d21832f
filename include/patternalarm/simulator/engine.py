"""The send loop of one worker: its lanes' background, bad events and scenarios, rate-controlled.

Rate control is a token bucket on the wall clock: background event ``k`` of a worker is due at
``schedule.inverse(k / worker_rate)``; the loop sends what is due, sleeps until the next event
is, and never bursts beyond what the schedule allows. Scenario events are sent at their own
offsets. Every ``TICK_S`` the worker publishes its counters and hands ground-truth rows to a sink.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from include.patternalarm.events.timefmt import IsoFormatter, parse_event_time
from include.patternalarm.scenarios.base import ScenarioFactory
from include.patternalarm.simulator.config import LANES, RateSchedule, SimulationConfig
from include.patternalarm.simulator.injection import Planned, ScenarioPlanner
from include.patternalarm.simulator.lane import Label, Lane

TICK_S = 0.2
CHUNK = 512
#: a paced worker sleeps until this much background is due and sends it together: waking for every event
#: (every 0.1 ms at 10,000 events/s) made its pacing loop cost ten times the events themselves
PACE_BATCH_S = 0.002

# counter slots (per worker)
SENT_BG, SENT_SC, SENT_BAD, DELIVERED, FAILED, BYTES, SC_STARTED, SC_DONE, FINISHED = range(9)
N_COUNTERS = 9

#: a ground-truth row: (scenario_id, kind, rule_id, variant, domain, entity, should_alert, first_ms,
#: last_ms, completing_event_id, completing_ms, event_ids, detail)
TruthRow = tuple[str, str, str | None, str, str, str, bool, int, int, str | None, int | None, list[str],
                 dict[str, Any]]


class Sink(Protocol):
    def put(self, item: Any) -> None: ...


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


def default_producer_config(config: SimulationConfig, bootstrap: str, worker: int) -> dict[str, Any]:
    """librdkafka settings tuned for throughput; short linger when paced at a modest rate (latency)."""
    fast = config.rate is None or not config.paced or config.rate >= 20_000
    return {
        "bootstrap.servers": bootstrap,
        "client.id": f"patternalarm-simulator-{worker}",
        "enable.idempotence": True,  # acks=all, no duplicates or reordering on retries
        "compression.type": "lz4",
        "linger.ms": 25 if fast else 5,
        "batch.size": 1_000_000,
        "batch.num.messages": 50_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.max.bytes": 1_000_000,
        "message.timeout.ms": 120_000,  # a message not acknowledged by then is counted as failed
        **dict(config.producer_config),
    }


def truth_row_for_label(label: Label) -> TruthRow:
    return (label.scenario_id, label.kind, None, label.variant, label.domain, label.entity, False,
            label.t_ms, label.t_ms, None, None, [label.event_id], label.detail)


def truth_row_for_planned(p: Planned) -> TruthRow:
    inst = p.instance
    sent_times = [t for t in p.sent_ms if t is not None]
    sent_ids = [eid for eid, t in zip(p.event_ids, p.sent_ms, strict=True) if t is not None]
    detail: dict[str, Any] = {"lane": p.lane, "start_s": round(p.start_s, 3)}
    if inst.notes:
        detail["notes"] = inst.notes
    if inst.side_alerts:
        detail["side_alerts"] = [list(pair) for pair in inst.side_alerts]
    should_alert = inst.should_alert
    completing_id = completing_ms = None
    if inst.completing_index is not None and p.sent_ms[inst.completing_index] is not None:
        completing_id = p.event_ids[inst.completing_index]
        completing_ms = p.sent_ms[inst.completing_index]
    if not p.complete:
        detail.update(truncated=True, sent=p.sent, of=len(inst.events))
        if completing_id is None:
            should_alert = False
    return (p.scenario_id, "scenario", p.rule_id, inst.variant, inst.domain, inst.entity, should_alert,
            min(sent_times), max(sent_times), completing_id, completing_ms, sent_ids, detail)


@dataclass
class WorkerReport:
    """What one worker did (merged into the run's summary)."""

    worker: int
    per_domain: dict[str, int] = field(default_factory=dict)
    bad_by_variant: dict[str, int] = field(default_factory=dict)
    scenarios: dict[str, dict[str, int]] = field(default_factory=dict)  # rule → variant → count
    scenarios_truncated: int = 0
    scenarios_skipped: dict[str, int] = field(default_factory=dict)
    delivery_errors: list[str] = field(default_factory=list)
    undelivered: int = 0
    elapsed_s: float = 0.0
    bg_first_s: float | None = None  # when the first / last background event was handed to the producer
    bg_last_s: float | None = None  # (seconds since the worker's loop started)
    rate_error_max_10s: float | None = None  # paced runs: worst deviation from the schedule over 10 s windows
    error: str | None = None


class Worker:
    """Runs lanes ``lanes`` of a simulation to completion (or until ``stop``)."""

    def __init__(self, config: SimulationConfig, worker: int, lanes: Sequence[int], producer: Any,
                 factories: Mapping[str, ScenarioFactory], rule_params: Mapping[str, Mapping[str, Any]],
                 counters: Any, sink: Sink, stop: StopFlag) -> None:
        self.config = config
        self.worker = worker
        self.lanes = [Lane(config, i) for i in lanes]
        self.lane_ids = set(lanes)
        self.producer = producer
        self.planner = ScenarioPlanner(config, factories, rule_params)
        self.counters = counters
        self.base = worker * N_COUNTERS
        self.sink = sink
        self.stop = stop
        self.report = WorkerReport(worker=worker)
        self._counts = [0] * N_COUNTERS
        self._truth: list[TruthRow] = []
        self._delivered = 0
        self._failed = 0
        self._errors: list[str] = []

    # --- delivery reports -------------------------------------------------------------------------
    def on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self._delivered += 1
        else:
            self._failed += 1
            if len(self._errors) < 5:
                self._errors.append(f"{msg.topic()}: {err}")

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> WorkerReport:
        started = time.monotonic()
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - reported to the run, which fails with the reason
            self.report.error = f"{type(exc).__name__}: {exc}"
        finally:
            remaining = self.producer.flush(60)
            self.report.undelivered = remaining
            self.report.elapsed_s = time.monotonic() - started
            self.report.delivery_errors = list(self._errors)
            self.report.scenarios_skipped = dict(self.planner.skipped)
            self._counts[FINISHED] = 1
            self._publish()
        return self.report

    def _publish(self) -> None:
        counts = self._counts
        counts[DELIVERED] = self._delivered
        counts[FAILED] = self._failed
        base = self.base
        for i, value in enumerate(counts):
            self.counters[base + i] = value
        if self._truth:
            self.sink.put(("truth", self._truth))
            self._truth = []

    def _run(self) -> None:
        cfg = self.config
        produce = self.producer.produce
        poll = self.producer.poll
        lanes = self.lanes
        nl = len(lanes)
        counts = self._counts
        per_domain = self.report.per_domain
        bad_by_variant = self.report.bad_by_variant
        schedule = RateSchedule(cfg.spikes)
        inverse = schedule.inverse
        no_spikes = not cfg.spikes
        live = cfg.clock == "live"
        paced = cfg.paced
        lane_rate = (cfg.rate / LANES) if cfg.rate else None
        worker_rate = lane_rate * nl if lane_rate else None
        pace_batch = max(1, math.floor(worker_rate * PACE_BATCH_S)) if worker_rate else 1
        v0 = parse_event_time(cfg.virtual_start)
        iso = IsoFormatter()
        domain_of_topic = {cfg.topics[d]: d for d in cfg.domains}

        # how many background events this worker sends (None: until duration / stop)
        quota: int | None = None
        if cfg.events is not None:
            quota = sum(cfg.events // LANES + (1 if lane.index < cfg.events % LANES else 0) for lane in lanes)
        if cfg.duration_s is not None and worker_rate is not None:
            by_time = math.ceil(schedule.integral(cfg.duration_s) * worker_rate)
            quota = by_time if quota is None else min(quota, by_time)
        end_s = cfg.duration_s

        heap: list[tuple[float, int, int, Planned]] = []
        next_round = 0
        tie = 0
        scen_counts = self.report.scenarios
        start = time.monotonic()
        next_tick = start + TICK_S
        k = 0  # background events sent by this worker
        bg_done = False
        history: list[tuple[float, int]] = []  # (elapsed, background sent) at each tick, for rate accuracy

        def plan_rounds(horizon: float) -> None:
            nonlocal next_round, tie
            while self.planner.config.scenarios and self.planner.factories:
                if self.planner.round_start(next_round) > horizon:
                    return
                if self.planner.planned_end is not None and \
                        self.planner.round_start(next_round) >= self.planner.planned_end:
                    return
                for p in self.planner.round(next_round):
                    if p.lane in self.lane_ids:
                        for j, ev in enumerate(p.instance.events):
                            tie += 1
                            heapq.heappush(heap, (p.start_s + ev.offset_s, tie, j, p))
                next_round += 1

        def send_scenario(j: int, p: Planned, t_ms: int) -> None:
            ev = p.instance.events[j]
            event: dict[str, Any] = {"event_id": p.event_ids[j], "event_time": iso(t_ms), "domain": ev.domain}
            for name, val in ev.payload.items():
                if name != "event_id" and name != "event_time":
                    event[name] = val
            value = orjson.dumps(event)
            while True:
                try:
                    produce(cfg.topics[ev.domain], value, ev.key.encode())
                    break
                except BufferError:
                    poll(0.05)
            if p.sent == 0:
                counts[SC_STARTED] += 1
            p.sent_ms[j] = t_ms
            p.sent += 1
            counts[SENT_SC] += 1
            counts[BYTES] += len(value)
            if p.complete:
                counts[SC_DONE] += 1
                by_rule = scen_counts.setdefault(p.rule_id, {})
                by_rule[p.instance.variant] = by_rule.get(p.instance.variant, 0) + 1
                self._truth.append(truth_row_for_planned(p))

        while True:
            if self.stop.is_set():
                break
            now = time.monotonic()
            now_s = now - start
            if now >= next_tick:
                poll(0)
                self._publish()
                next_tick = now + TICK_S
                if paced and not bg_done and len(history) < 200_000:
                    history.append((now_s, k))
            # --- how far may the background go -------------------------------------------------
            if bg_done:
                target = k
            elif worker_rate is None:  # as fast as the broker takes
                target = k + CHUNK
                if end_s is not None and now_s >= end_s:
                    target = k
                    bg_done = True
            elif paced:
                target = min(math.floor(schedule.integral(now_s) * worker_rate) + 1, k + CHUNK)
            else:
                target = k + CHUNK
            if quota is not None and target >= quota:
                target = quota
                if k >= quota:
                    bg_done = True
            horizon = now_s if live else (inverse(k / worker_rate) if worker_rate else now_s)
            plan_rounds(horizon + (cfg.scenario_interval_s if not bg_done else -1.0))

            # --- live: scenario events due now -------------------------------------------------
            if live:
                if heap and heap[0][0] <= now_s:
                    t_ms = time.time_ns() // 1_000_000
                    while heap and heap[0][0] <= now_s:
                        due, _, j, p = heapq.heappop(heap)
                        send_scenario(j, p, t_ms)
                t_ms = time.time_ns() // 1_000_000
                event_time = iso(t_ms)
            # --- background ----------------------------------------------------------------------
            while k < target:
                lane = lanes[k % nl]
                if not live:
                    j_lane = k // nl
                    t_s = j_lane / lane_rate if no_spikes else inverse(j_lane / lane_rate)  # type: ignore[operator]
                    while heap and heap[0][0] <= t_s:
                        due, _, j, p = heapq.heappop(heap)
                        send_scenario(j, p, v0 + round(due * 1000))
                    t_ms = v0 + round(t_s * 1000)
                    event_time = iso(t_ms)
                topic, key, value, label = lane.next(t_ms, event_time)
                try:
                    produce(topic, value, key)
                except BufferError:
                    poll(0.05)
                    while True:
                        try:
                            produce(topic, value, key)
                            break
                        except BufferError:
                            poll(0.05)
                k += 1
                counts[BYTES] += len(value)
                if label is None:
                    d = domain_of_topic[topic]
                    per_domain[d] = per_domain.get(d, 0) + 1
                else:
                    counts[SENT_BAD] += 1
                    bad_by_variant[label.variant] = bad_by_variant.get(label.variant, 0) + 1
                    self._truth.append(truth_row_for_label(label))
            if k != counts[SENT_BG]:
                if counts[SENT_BG] == 0:
                    self.report.bg_first_s = time.monotonic() - start
                self.report.bg_last_s = time.monotonic() - start
                counts[SENT_BG] = k
            poll(0)
            if quota is not None and k >= quota:
                bg_done = True
            # --- done? ---------------------------------------------------------------------------
            if bg_done:
                if not heap:
                    break
                if not live:  # virtual: the remaining scenario events follow at their own times
                    while heap:
                        due, _, j, p = heapq.heappop(heap)
                        send_scenario(j, p, v0 + round(due * 1000))
                    break
            # --- wait for the next due event ---------------------------------------------------------
            if paced or (live and bg_done):
                nxt = math.inf
                if not bg_done and worker_rate is not None:
                    due = k + pace_batch - 1  # when the next batch is due (event k alone, at low rates)
                    nxt = inverse(due / worker_rate) if not no_spikes else due / worker_rate
                if heap:
                    nxt = min(nxt, heap[0][0])
                wait = min(nxt - (time.monotonic() - start), next_tick - time.monotonic(), 0.05)
                if wait > 0.0005:
                    time.sleep(wait)
        if paced and worker_rate is not None:
            self.report.rate_error_max_10s = window_error(history, schedule, worker_rate, 10.0)
        # --- stopped: what was planned but not fully sent ------------------------------------------
        partial: dict[int, Planned] = {}
        for _, _, _, p in heap:
            if 0 < p.sent < len(p.instance.events):
                partial[p.number] = p
        for p in partial.values():
            self.report.scenarios_truncated += 1
            self._truth.append(truth_row_for_planned(p))


def window_error(history: list[tuple[float, int]], schedule: RateSchedule, rate: float,
                 window_s: float) -> float | None:
    """Worst relative difference between events sent and events due, over ``window_s`` windows."""
    worst: float | None = None
    i = 0
    for j in range(len(history)):
        while history[j][0] - history[i][0] > window_s:
            i += 1
        t0, n0 = history[i]
        t1, n1 = history[j]
        if t1 - t0 < window_s * 0.97:
            continue
        due = (schedule.integral(t1) - schedule.integral(t0)) * rate
        if due > 0:
            err = abs((n1 - n0) - due) / due
            worst = err if worst is None else max(worst, err)
    return worst


def run_worker(config: SimulationConfig, worker: int, lanes: Sequence[int], producer_factory: Callable[..., Any],
               bootstrap: str, factories: Mapping[str, ScenarioFactory],
               rule_params: Mapping[str, Mapping[str, Any]], counters: Any, sink: Sink,
               stop: StopFlag | None = None) -> WorkerReport:
    """Build the producer and run one worker (in a thread or a child process)."""
    stop = stop or threading.Event()
    w = Worker(config, worker, lanes, None, factories, rule_params, counters, sink, stop)
    conf = default_producer_config(config, bootstrap, worker)
    conf["on_delivery"] = w.on_delivery
    w.producer = producer_factory(conf)
    report = w.run()
    sink.put(("report", report))
    return report
