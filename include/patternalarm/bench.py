"""`bench`: the platform's numbers on the real stack — steady latency, capacity, and a traffic spike.

- **steady**: the seed rate (50,000 events/min) with injected scenarios; end-to-end latency (event
  time of the completing event → alert row visible in PostgreSQL) p50/p95/p99/max, recall and
  precision per rule;
- **capacity**: the rate rises step by step (no scenarios) until the detection jobs fall behind; the
  highest sustained events/s, and which component saturated first (CPU per service, lag);
- **spike**: 10× the steady rate for a while with the scaler DAG switched on; lag, latency and
  scaling events over time, and alerts lost or duplicated (scored against ground truth).

Every result records the machine (cores, memory, load before and after): this machine is shared.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
import psycopg

from include.patternalarm.airflow_client import AirflowClient
from include.patternalarm.control.jobstatus import checkpoint_stats
from include.patternalarm.demo import DemoState, deploy_domains
from include.patternalarm.flink.deploy import find_job, job_health
from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.jvm import heap_after_collections
from include.patternalarm.observe import Observer, machine
from include.patternalarm.rules import load_catalog, pipeline_name
from include.patternalarm.scoring.core import percentile
from include.patternalarm.scoring.report import ABSENCE_RULES, score_runs
from include.patternalarm.settings import Settings
from include.patternalarm.simulator import SimulationConfig, Spike, run_simulation
from include.patternalarm.stack.flink import taskmanager_gc_log
from include.patternalarm.topics import DOMAINS

SCALER_DAG = "scale_flink_on_kafka_lag"
#: the bench's parts, in the order they run. The capacity climb goes last: it overloads the jobs on purpose
#: (up to 25,000 events/s) and the simulator sizes its populations by the rate, so it leaves ~1 M one-off
#: cards and players in the live state; a spike or an idle baseline measured after it measures that state
PARTS = ("steady", "spike", "backlog", "capacity")
Say = Callable[[str], None]


@dataclass(frozen=True)
class BenchPlan:
    steady_s: float
    steady_rate: float
    capacity_rates: tuple[float, ...]
    capacity_step_s: float
    spike_total_s: float
    spike: Spike
    drain_timeout_s: float
    spike_drain_timeout_s: float
    backlog_events: int = 500_000  # the per-event cost: the payments job draining a backlog at parallelism 1
    backlog_catalog: int | None = None  # the catalog version of that job (None: the newest)

    @classmethod
    def full(cls) -> BenchPlan:
        # capacity starts near the seed rate (833/s) and climbs to issue 14's stretch goal (25,000/s)
        return cls(steady_s=300, steady_rate=50_000 / 60,
                   capacity_rates=(1_000, 2_000, 3_000, 4_000, 6_000, 8_000, 10_000, 15_000, 25_000),
                   capacity_step_s=45,
                   spike_total_s=240, spike=Spike(10, 60, 60), drain_timeout_s=180, spike_drain_timeout_s=720)

    @classmethod
    def quick(cls) -> BenchPlan:
        # a smoke run: every figure, in under 3 minutes, leaving a backlog the jobs work off in a minute or two
        return cls(steady_s=30, steady_rate=50_000 / 60, capacity_rates=(2_000, 8_000), capacity_step_s=10,
                   spike_total_s=30, spike=Spike(5, 10, 10), drain_timeout_s=20, spike_drain_timeout_s=30,
                   backlog_events=20_000)


def _run_id(kind: str) -> str:
    return f"sim-{datetime.now(UTC):%Y%m%dT%H%M%S}-b{kind[:2]}{uuid.uuid4().hex[:4]}"


def _simulate(settings: Settings, config: SimulationConfig) -> dict[str, Any]:
    return run_simulation(settings, config).as_dict()


def _drain(observer: Observer, timeout: float, settle: float = 12.0) -> tuple[float, int]:
    """Wait (bounded) until the detection jobs and the sink have caught up; (seconds waited, lag left)."""
    started = time.monotonic()
    left = 0
    while time.monotonic() - started < timeout:
        sample = observer.sample()
        left = sum(sample.lag.values()) + (sample.sink_lag or 0)
        if sum(sample.lag.values()) < 200 and (sample.sink_lag or 0) == 0 and time.monotonic() - started >= settle:
            return round(time.monotonic() - started, 1), 0
        time.sleep(2)
    return round(time.monotonic() - started, 1), left


def _alert_latencies(settings: Settings, run: dict[str, Any]) -> list[tuple[str, float]]:
    """(visible_at, seconds) of every alert on the run's scenario entities (absence rules excluded)."""
    with psycopg.connect(settings.db_conninfo("reporting"), connect_timeout=10) as conn:
        rows = conn.execute(
            "select persisted_at, extract(epoch from persisted_at - last_event_time)::float8 from alerts"
            " where entity like %s and rule_id <> all(%s) and persisted_at >= %s order by persisted_at",
            (f"%-{run['tag']}-%", list(ABSENCE_RULES), datetime.fromisoformat(run["started_at"]))).fetchall()
    return [(at.isoformat(), seconds) for at, seconds in rows]


def _series(observer: Observer, since: float) -> list[dict[str, Any]]:
    return [{"t": round(s.at - since, 1), "event_rate": round(sum(s.event_rate.values()), 1),
             "lag": sum(s.lag.values()), "lag_by_domain": s.lag, "sink_lag": s.sink_lag, "cpu": s.cpu,
             "latency_p99": s.latency_p99, "load1": round(s.load1, 2), "tm_heap_used_mb": s.tm_heap_used_mb}
            for s in observer.samples if s.at >= since]


def _heap_peak(settings: Settings, observer: Observer, since: float) -> dict[str, Any]:
    """The TaskManagers' heap over the window against their maximum: the peak in use as sampled (garbage
    included: the collector lets the young generation fill before it runs) and the peak left after a
    collection (the TaskManager's GC log: the live heap, what the state and the buffered records need)."""
    window = [s for s in observer.samples if s.at >= since and s.tm_heap_used_mb is not None]
    if not window:
        return {"peak_used_mb": None, "max_mb": None, "peak_pct": None, "samples": 0,
                "after_gc_peak_mb": None, "after_gc_peak_pct": None, "collections": 0, "full_collections": 0}
    peak = max(window, key=lambda s: s.tm_heap_used_mb)  # the observer records used and max together
    collections = heap_after_collections(taskmanager_gc_log(settings), since)
    after = max((mb for _, _, mb in collections), default=None)
    return {"peak_used_mb": peak.tm_heap_used_mb, "max_mb": peak.tm_heap_max_mb,
            "peak_pct": round(100 * peak.tm_heap_used_mb / peak.tm_heap_max_mb, 1), "samples": len(window),
            "after_gc_peak_mb": after,
            "after_gc_peak_pct": None if after is None else round(100 * after / peak.tm_heap_max_mb, 1),
            "collections": len(collections),
            "full_collections": sum(1 for _, what, _ in collections if what.startswith("Pause Full"))}


def _score(settings: Settings, run_id: str, backlog: int = 0) -> dict[str, Any]:
    """Recall, precision, latency of a run. Undetected scenarios count as ``lost`` only once the jobs have
    caught up (``backlog`` 0); with records still unprocessed they are ``pending`` (lost stays None)."""
    report, result = score_runs(settings, [run_id], source="db")
    latencies = result.latencies_s
    total = report["total"]
    extra = sum(r["extra_alerts"] for r in report["rules"].values())
    return {
        "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                      "p99": percentile(latencies, 99), "max": max(latencies) if latencies else None,
                      "n": len(latencies)},
        "recall": total["recall"], "precision": total["precision"],
        "fires": total["fires"], "detected": total["detected"],
        "lost": None if backlog else total["fires"] - total["detected"],
        "pending": total["fires"] - total["detected"] if backlog else 0, "backlog_left": backlog,
        "duplicated": extra,
        "per_rule": {rule: {"recall": r["recall"], "precision": r["precision"], "fires": r["fires"],
                            "detected": r["detected"], "latency_s": r["latency_s"]}
                     for rule, r in report["rules"].items()},
    }


# --- scenarios ------------------------------------------------------------------------------------

def steady(settings: Settings, plan: BenchPlan, observer: Observer, say: Say) -> dict[str, Any]:
    say(f"steady: {plan.steady_rate * 60:,.0f} events/min for {plan.steady_s:.0f}s with injected scenarios")
    since = time.time()
    run = _simulate(settings, SimulationConfig(rate=plan.steady_rate, duration_s=plan.steady_s,
                                               run_id=_run_id("steady")))
    drained, left = _drain(observer, plan.drain_timeout_s)
    result = {"run_id": run["run_id"], "rate_target": plan.steady_rate, "rate_achieved": run["background_rate"],
              "events": run["events_sent"], "scenarios": run["scenarios_injected"], "drained_s": drained,
              **_score(settings, run["run_id"], left), "late_records": _late(observer, since),
              "latency_over_time": _alert_latencies(settings, run), "series": _series(observer, since)}
    say(f"steady: latency p50 {result['latency_s']['p50']}, p99 {result['latency_s']['p99']}, recall "
        f"{result['recall']}, precision {result['precision']}")
    return result


def _job_lag(settings: Settings, committed: dict[str, int]) -> tuple[int, list[str]]:
    """Records the detection jobs' sources have not fetched yet, over every domain (Flink's
    ``pendingRecords``: exact at each fetch, unlike the consumer offsets committed at checkpoints), and
    the domains it could not read: a source reports the metric only after its first fetch (an idle job
    just recovered has none), so those domains count their ``committed`` lag instead."""
    total, fallback = 0, []
    with FlinkRest(settings.flink_rest) as rest:
        for domain in DOMAINS:
            jobs = rest.find_active(pipeline_name(domain))
            pending = rest.pending_records(jobs[0].id) if jobs else None
            if pending is None:
                fallback.append(domain)
                pending = committed.get(domain, 0)
            total += pending
    return total, fallback


def _own_cpu_s() -> float:
    """CPU-seconds of this process (the simulator's worker threads) and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def judge_step(*, rate: float, achieved: float, lag_start: int, lag_end: int, lost: int | None,
               allowance_s: float = 2.0) -> tuple[bool, list[str]]:
    """Whether a capacity step kept up, and why not: the generator reached ≥ 90 % of the rate, the jobs'
    lag at the step's end is at most its lag at the start plus ``allowance_s`` of the step's traffic, and
    every scenario alert of the step arrived (``lost`` 0; None = some never came, the jobs never caught up)."""
    reasons = []
    if achieved < 0.9 * rate:
        reasons.append(f"the traffic generator reached {achieved:,.0f}/s of {rate:,.0f}/s")
    allowed = lag_start + allowance_s * achieved
    if lag_end > allowed:
        reasons.append(f"lag grew from {lag_start:,} to {lag_end:,} records (allowed {allowed:,.0f}: "
                       f"{allowance_s:.0f} s of the step's traffic)")
    if lost is None:
        reasons.append("the jobs did not catch up: the step's scenario alerts could not all arrive")
    elif lost:
        reasons.append(f"{lost} scenario alert(s) of the step did not arrive")
    return not reasons, reasons


def capacity(settings: Settings, plan: BenchPlan, observer: Observer, say: Say) -> dict[str, Any]:
    steps = []
    for rate in plan.capacity_rates:
        say(f"capacity: {rate:,.0f} events/s for {plan.capacity_step_s:.0f}s (with scenarios)")
        since = time.time()
        first_lag, fallback = _job_lag(settings, observer.sample().lag)
        own_cpu, started = _own_cpu_s(), time.monotonic()
        run = _simulate(settings, SimulationConfig(rate=rate, duration_s=plan.capacity_step_s,
                                                   run_id=_run_id("capacity")))
        # the traffic generator runs in this process and shares the machine's cores with the stack
        generator_pct = 100.0 * (_own_cpu_s() - own_cpu) / max(time.monotonic() - started, 1e-6)
        last_lag, later = _job_lag(settings, observer.sample().lag)
        fallback = sorted(set(fallback) | set(later))
        lag_source = "flink pendingRecords" + (f" (committed offsets for {', '.join(fallback)})" if fallback else "")
        window = [s for s in observer.samples if s.at >= since]
        cpu: dict[str, float] = {}
        for s in window:
            for name, value in s.cpu.items():
                cpu[name] = cpu.get(name, 0.0) + value / max(len(window), 1)
        achieved = run["background_rate"]
        drained, left = _drain(observer, plan.drain_timeout_s)
        scored = _score(settings, run["run_id"], left)
        timed = {r: v for r, v in scored["per_rule"].items() if r not in ABSENCE_RULES}
        lost = None if left else sum(v["fires"] - v["detected"] for v in timed.values())
        sustained, reasons = judge_step(rate=rate, achieved=achieved, lag_start=first_lag, lag_end=last_lag,
                                        lost=lost)
        busiest = max(cpu.items(), key=lambda kv: kv[1], default=("?", 0.0))
        cpu["bench traffic generator"] = generator_pct  # not a service of the stack: never "busiest"
        backlog_s = max(0, last_lag - first_lag) / achieved if achieved else 0.0
        step = {"target_rate": rate, "achieved_rate": round(achieved, 1), "lag_start": first_lag,
                "lag_end": last_lag, "lag_source": lag_source, "backlog_s": round(backlog_s, 1),
                "scenario_alerts": sum(v["fires"] for v in timed.values()), "scenario_alerts_lost": lost,
                "drained_s": drained, "sustained": sustained, "why_not": reasons,
                "cpu_avg_pct": {k: round(v, 1) for k, v in sorted(cpu.items())}, "busiest": busiest[0],
                "taskmanager_heap": _heap_peak(settings, observer, since),
                "producer_limited": achieved < 0.9 * rate}
        steps.append(step)
        say(f"capacity: achieved {achieved:,.0f}/s, lag {first_lag:,} → {last_lag:,}, busiest {busiest[0]} "
            f"({busiest[1]:.0f}% of a core): {'keeps up' if sustained else 'falls behind: ' + '; '.join(reasons)}")
        if not sustained:
            break
    kept = [s for s in steps if s["sustained"]]
    failing = next((s for s in steps if not s["sustained"]), None)
    if failing is None:
        saturated = "none within the tested range"
    elif failing["producer_limited"]:
        saturated = "the traffic generator (could not reach the target rate on this machine)"
    else:
        saturated = f"{failing['busiest']} (highest CPU while detection lag grew)"
    return {"steps": steps, "highest_sustained_events_per_s": kept[-1]["achieved_rate"] if kept else 0.0,
            "saturated_first": saturated,
            "judgement": "a step keeps up when the generator reached 90 % of its rate, the jobs' lag (Flink "
                         "pendingRecords) at its end is at most the lag at its start plus 2 s of its traffic, "
                         "and every scenario alert of the step arrived"}


def _late(observer: Observer, since: float) -> dict[str, int]:
    """Valid records that never reached a rule because they were behind the watermark, since ``since``:
    routed to events.late by the source, or dropped by an operator downstream (Flink's counter)."""
    window = [s for s in observer.samples if s.at >= since]
    before = [s for s in observer.samples if s.at < since]
    start = before[-1] if before else (window[0] if window else None)
    if start is None or not window:
        return {"routed_to_events_late": 0, "dropped_downstream": 0}
    return {"routed_to_events_late": window[-1].late - start.late,
            "dropped_downstream": window[-1].late_dropped - start.late_dropped}


def spike(settings: Settings, plan: BenchPlan, observer: Observer, say: Say) -> dict[str, Any]:
    say(f"spike: {plan.steady_rate * 60:,.0f} events/min with {plan.spike} and the scaler DAG on")
    client = AirflowClient(settings)
    started = datetime.now(UTC)
    since = time.time()
    try:
        client.wait_parsed(SCALER_DAG)
        client.set_paused(SCALER_DAG, False)
        run = _simulate(settings, SimulationConfig(rate=plan.steady_rate, duration_s=plan.spike_total_s,
                                                   spikes=(plan.spike,), run_id=_run_id("spike")))
        drained, left = _drain(observer, plan.spike_drain_timeout_s)
    finally:
        client.set_paused(SCALER_DAG, True)
        client.close()
    with psycopg.connect(settings.db_conninfo("reporting"), connect_timeout=10) as conn:
        events = conn.execute(
            "select decided_at, domain, action, from_parallelism, to_parallelism, outcome,"
            " extract(epoch from rescaled_at - decided_at), extract(epoch from drained_at - decided_at), reason,"
            " (inputs->>'decided_after_breach_s')::float8"
            " from scaling_events where decided_at >= %s order by decided_at", (started,)).fetchall()
    scaling = [{"t": round(e[0].timestamp() - since, 1), "domain": e[1], "action": e[2], "from": e[3], "to": e[4],
                "outcome": e[5], "decided_after_breach_s": e[9], "rescaled_after_s": e[6], "drained_after_s": e[7],
                "reason": e[8]} for e in events]
    late = _late(observer, since)
    restore_parallelism(settings)
    spike_window = (plan.spike.at_s, plan.spike.at_s + plan.spike.length_s)
    series = _series(observer, since)

    def p99(window: tuple[float, float]) -> float | None:
        values = [s["latency_p99"] for s in series if window[0] <= s["t"] < window[1] and s["latency_p99"]]
        return max(values) if values else None

    result = {"run_id": run["run_id"], "spike": str(plan.spike), "drained_s": drained,
              **_score(settings, run["run_id"], left),
              "late_records": late, "taskmanager_heap": _heap_peak(settings, observer, since),
              "scaling_events": scaling, "latency_over_time": _alert_latencies(settings, run), "series": series,
              "p99_before_during_after_s": {"before": p99((0, spike_window[0])), "during": p99(spike_window),
                                            "after": p99((spike_window[1], 1e9))}}
    lost = result["lost"] if result["lost"] is not None else (
        f"none yet ({result['pending']} scenario(s) pending behind a backlog of {left:,} records after "
        f"{drained:.0f}s)")
    heap = result["taskmanager_heap"]
    say(f"spike: {len([e for e in scaling if e['action'] != 'hold'])} scaling action(s), lost {lost}, "
        f"duplicated {result['duplicated']}, TaskManager heap peak {heap['peak_used_mb']} of {heap['max_mb']} MB")
    return result


def _taskmanager_pid(settings: Settings) -> int:
    """The TaskManager's JVM (the supervised program may be a shell that started it)."""
    from include.patternalarm.stack.manager import status

    row = next((r for r in status(settings) if r.name == "flink-taskmanager"), None)
    if row is None or not row.pid:
        raise RuntimeError("the Flink TaskManager is not running: `bin/patternalarm stack up`")
    proc = psutil.Process(row.pid)
    for candidate in (proc, *proc.children(recursive=True)):
        if candidate.name() == "java":
            return candidate.pid
    raise RuntimeError(f"no java process under the TaskManager's pid {row.pid}")


def backlog(settings: Settings, say: Say, *, domain: str = "payments", events: int = 500_000,
            parallelism: int = 1, idle_s: float = 10.0, timeout_s: float = 1800.0,
            catalog_version: int | None = None,
            wait_quiet: Callable[[], tuple[float, int]] | None = None) -> dict[str, Any]:
    """The per-event cost: ``events`` simulated events (virtual clock at the seed rate, with scenarios) are
    written to a throwaway topic first, then a fresh copy of the domain's job reads them from the start at
    ``parallelism``. TaskManager CPU-seconds per 100,000 events (the TaskManager's idle CPU over the same
    time subtracted), drain rate, and the CPU by thread (jcmd). ``wait_quiet`` (seconds waited, lag left)
    is called just before the idle baseline: the live jobs share the TaskManager, and a baseline taken
    while they work off a backlog is not idle (seen: a quick bench after its capacity steps measured
    0.28 CPU-s/s "idle" and a negative net cost)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from include.patternalarm.flink.deploy import cancel_job, deploy_domain
    from include.patternalarm.jvm import diff, process_cpu_s, thread_cpu_s, thread_group
    from include.patternalarm.rules import JobTopics

    tag = uuid.uuid4().hex[:8]
    topics = JobTopics(source=f"bench.backlog.{domain}.{tag}", alerts=f"bench.backlog.alerts.{tag}",
                       dlq=f"bench.backlog.dlq.{tag}", late=f"bench.backlog.late.{tag}",
                       metrics=f"bench.backlog.metrics.{tag}")
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    names = [topics.source, topics.alerts, topics.dlq, topics.late, topics.metrics]
    futures = admin.create_topics([NewTopic(t, settings.topic_partitions if t == topics.source else 1,
                                            min(settings.kafka_brokers, 3)) for t in names])
    for future in futures.values():
        future.result(30)
    job_id = None
    try:
        say(f"backlog: writing {events:,} {domain} events (virtual clock, seed rate, with scenarios)")
        # one worker (two write each partition at their own pace, so a partition's event times jump back and
        # forth by seconds and the job rightly routed 14-42 % of the backlog to late), in a process of its
        # own like the simulator's workers (its producer is gone before the measurement starts)
        writer = multiprocessing.get_context("spawn").Process(target=_simulate, name="bench-backlog-writer", args=(
            settings, SimulationConfig(domains=(domain,), rate=50_000 / 60, clock="virtual", events=events,
                                       topics={domain: topics.source}, record_ground_truth=False,
                                       workers=1, seed=20261202, run_id=_run_id("backlog"))))
        writer.start()
        writer.join(timeout_s)
        if writer.is_alive():
            writer.kill()
            raise RuntimeError(f"writing the backlog took more than {timeout_s:.0f}s")
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        parts = admin.list_topics(topics.source, timeout=10).topics[topics.source].partitions
        ends = admin.list_offsets({TopicPartition(topics.source, p): OffsetSpec.latest() for p in parts})
        total = sum(f.result(10).offset for f in ends.values())
        if total < events:
            raise RuntimeError(f"the simulator wrote {total:,} of {events:,} events to {topics.source}")
        quiet = None
        if wait_quiet is not None:
            say("backlog: waiting for the live jobs and the sink to catch up before the idle baseline")
            waited, left = wait_quiet()
            quiet = {"waited_s": waited, "lag_left": left}
            if left:
                say(f"backlog: the live jobs still have {left:,} records of lag after {waited:.0f}s: the idle "
                    f"baseline includes their work")
        pid = _taskmanager_pid(settings)
        say(f"backlog: {total:,} records; TaskManager idle CPU over {idle_s:.0f}s")
        c0, t0 = process_cpu_s(pid), time.monotonic()
        time.sleep(idle_s)
        idle_rate = (process_cpu_s(pid) - c0) / (time.monotonic() - t0)
        threads_before = thread_cpu_s(pid)
        cpu_before, started = process_cpu_s(pid), time.monotonic()
        job_id = deploy_domain(settings, domain, parallelism=parallelism, topics=topics,
                               catalog_version=catalog_version,
                               name=f"bench-backlog-{domain}-{tag}", startup_mode="earliest-offset",
                               auto_offset_reset="earliest", consumer_group=f"bench-backlog-{tag}", upgrade=False)
        running_at = time.monotonic()
        say(f"backlog: job {job_id} reading (parallelism {parallelism})")
        read = 0
        with FlinkRest(settings.flink_rest) as rest:
            while read < total:
                if time.monotonic() - started > timeout_s:
                    raise RuntimeError(f"the job read only {read:,} of {total:,} records in {timeout_s:.0f}s")
                time.sleep(1.0)
                read = rest.source_records(job_id)
        read_at = time.monotonic()
        # the last records are still in flight between operators: settle until the CPU is back near idle
        settle_from = read_at
        previous = process_cpu_s(pid)
        while time.monotonic() - read_at < 30:
            time.sleep(1.0)
            now_cpu = process_cpu_s(pid)
            if now_cpu - previous < idle_rate * 1.5 + 0.05:
                break
            previous = now_cpu
        settle_from = time.monotonic()
        cpu = process_cpu_s(pid) - cpu_before
        threads = diff(thread_cpu_s(pid), threads_before)
        elapsed = settle_from - started
        net = cpu - idle_rate * elapsed
        groups: dict[str, float] = {}
        for name, seconds in threads.items():
            group = thread_group(name)
            groups[group] = round(groups.get(group, 0.0) + seconds, 2)
        per_100k = net * 100_000 / total
        _wait_for_a_checkpoint(settings, job_id)  # after the CPU figures: its duration and size are reported
        routed = _routed(settings, [topics.dlq, topics.late])
        result = {"domain": domain, "records": total, "parallelism": parallelism,
                  "catalog_version": catalog_version or load_catalog().version,
                  "submit_to_running_s": round(running_at - started, 1),
                  "drain_s": round(read_at - running_at, 1),
                  "events_per_s": round(total / max(read_at - running_at, 1e-9), 1),
                  "taskmanager_cpu_s": round(cpu, 1), "idle_cpu_per_s": round(idle_rate, 3),
                  "live_jobs_before_idle": quiet,
                  "dead_lettered_or_late": routed,
                  "cpu_s_per_100k_events": round(per_100k, 2),
                  "cpu_s_per_100k_gross": round(cpu * 100_000 / total, 2),
                  "cpu_by_thread_group_s": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
                  "state_backend": settings.flink_state_backend, "checkpoints": _checkpoints(settings, job_id),
                  "machine": machine()}
        say(f"backlog: {total:,} records in {result['drain_s']}s ({result['events_per_s']:,.0f}/s), "
            f"{per_100k:.2f} TaskManager CPU-s per 100,000 events (idle {idle_rate:.2f} CPU-s/s subtracted)")
        return result
    finally:
        if job_id:
            try:
                cancel_job(settings, job_id)
            except Exception as exc:  # noqa: BLE001 - cleanup: report, go on deleting the topics
                say(f"backlog: could not cancel {job_id}: {exc}")
        admin.delete_topics(names)


def _routed(settings: Settings, topics: list[str], timeout_s: float = 60.0) -> dict[str, Any]:
    """What a job routed away from its rules, by reason (its dead-letter and late topics, read to their end):
    a backlog that the job mostly dead-lettered would measure the routing, not the rules."""
    from confluent_kafka import Consumer, TopicPartition

    from include.patternalarm.kafka_read import read_to_end
    from include.patternalarm.replay.joblog import end_offsets

    ends = end_offsets(settings.bootstrap_servers, topics)
    reasons: dict[str, int] = {}
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "patternalarm-bench-routed",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        for topic in topics:
            own = {p: end for (t, p), end in ends.items() if t == topic and end > 0}
            start = [TopicPartition(topic, p, 0) for p in own]
            for message in read_to_end(consumer, start, own, timeout_s=timeout_s):
                try:
                    reason = str(orjson.loads(message.value()).get("reason") or "unknown")
                except (orjson.JSONDecodeError, AttributeError):
                    reason = "unreadable"
                reasons[reason] = reasons.get(reason, 0) + 1
    finally:
        consumer.close()
    return {"total": sum(ends.values()), "by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}


def _wait_for_a_checkpoint(settings: Settings, job_id: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    with FlinkRest(settings.flink_rest) as rest:
        while time.monotonic() < deadline:
            if (rest.checkpoints(job_id).get("counts") or {}).get("completed"):
                return
            time.sleep(1.0)


def _checkpoints(settings: Settings, job_id: str) -> dict[str, Any]:
    try:
        with FlinkRest(settings.flink_rest) as rest:
            return checkpoint_stats(rest, job_id)
    except Exception as exc:  # noqa: BLE001 - a figure missing is reported, the run goes on
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def restore_parallelism(settings: Settings, parallelism: int = 1) -> None:
    """Put the detection jobs back at their deployed parallelism after the spike (the scaler is paused)."""
    with FlinkRest(settings.flink_rest) as rest:
        for domain in DOMAINS:
            job = find_job(settings, domain)
            if job is not None and job_health(settings, job.id).parallelism != parallelism:
                rest.rescale(job.id, parallelism)


QUIET_TIMEOUT_S = 300.0  # how long the backlog part waits for the live jobs to catch up before its idle baseline


def _backlog(settings: Settings, plan: BenchPlan, observer: Observer, say: Say) -> dict[str, Any]:
    return backlog(settings, say, events=plan.backlog_events, catalog_version=plan.backlog_catalog,
                   wait_quiet=lambda: _drain(observer, QUIET_TIMEOUT_S))


def run_bench(settings: Settings, plan: BenchPlan, *,
              only: tuple[str, ...] = PARTS,
              say: Say = print, out_dir: Path | None = None) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {"kind": "bench", "plan": {**plan.__dict__, "spike": str(plan.spike)},
                              "machine_before": machine()}
    deployment = deploy_domains(settings, DOMAINS, DemoState(), lambda state: None)
    result["deployment"] = deployment
    observer = Observer(settings, interval=2.0).start()
    try:
        steps = {"steady": steady, "spike": spike, "backlog": _backlog, "capacity": capacity}
        for name in PARTS:
            if name in only:
                result[name] = steps[name](settings, plan, observer, say)
    finally:
        observer.stop()
    result["state_backend"] = settings.flink_state_backend
    result["checkpoints"] = {}  # each live job's: duration and size (latest, p50, max)
    for domain in DOMAINS:
        job = find_job(settings, domain)
        result["checkpoints"][domain] = _checkpoints(settings, job.id) if job else {"error": "no running job"}
    result["machine_after"] = machine()
    result["seconds"] = round(time.monotonic() - started, 1)
    folder = out_dir or settings.reports_dir / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    folder.mkdir(parents=True, exist_ok=True)
    result["plots"] = plot(result, folder)
    path = folder / "result.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    result["report_dir"] = str(folder)
    return result


# --- plots ----------------------------------------------------------------------------------------

def plot(result: dict[str, Any], folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []

    def save(fig: Any, name: str) -> None:
        path = folder / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(str(path))

    for scenario in ("steady", "spike"):
        data = result.get(scenario)
        if not data:
            continue
        points = data["latency_over_time"]
        if points:
            t0 = datetime.fromisoformat(points[0][0])
            fig, ax = plt.subplots(figsize=(8, 3.5))
            ax.scatter([(datetime.fromisoformat(p[0]) - t0).total_seconds() for p in points], [p[1] for p in points],
                       s=8)
            ax.axhline(3.0, color="red", linestyle="--", linewidth=1, label="3 s budget")
            ax.set(xlabel="seconds into the run", ylabel="alert latency (s)",
                   title=f"{scenario}: event → alert visible in PostgreSQL")
            ax.legend()
            save(fig, f"{scenario}_latency_over_time.png")
        series = data["series"]
        if series:
            fig, ax = plt.subplots(figsize=(8, 3.5))
            ax.plot([s["t"] for s in series], [s["event_rate"] for s in series], label="events/s in")
            ax.set(xlabel="seconds", ylabel="events/s", title=f"{scenario}: throughput and detection lag")
            ax2 = ax.twinx()
            ax2.plot([s["t"] for s in series], [s["lag"] for s in series], color="tab:orange", label="lag (records)")
            ax2.set_ylabel("consumer lag (records)")
            for event in data.get("scaling_events", []):
                if event["action"] != "hold":
                    ax.axvline(event["t"], color="green", linestyle=":", linewidth=1)
            ax.legend(loc="upper left")
            ax2.legend(loc="upper right")
            save(fig, f"{scenario}_throughput_and_lag.png")
    steady_data = result.get("steady")
    if steady_data and steady_data["latency_over_time"]:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist([p[1] for p in steady_data["latency_over_time"]], bins=30)
        ax.set(xlabel="alert latency (s)", ylabel="alerts", title="steady: latency histogram")
        save(fig, "steady_latency_histogram.png")
    cap = result.get("capacity")
    if cap and cap["steps"]:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        xs = range(len(cap["steps"]))
        ax.bar(xs, [s["achieved_rate"] for s in cap["steps"]],
               color=["tab:green" if s["sustained"] else "tab:red" for s in cap["steps"]])
        ax.set_xticks(list(xs), [f"{s['target_rate']:,.0f}" for s in cap["steps"]])
        ax.set(xlabel="target events/s", ylabel="achieved events/s",
               title="capacity: green keeps up, red falls behind")
        save(fig, "capacity_steps.png")
    return files

