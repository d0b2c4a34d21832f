"""Running a chaos experiment: labelled traffic → steady period → fault → traffic keeps flowing → recovery →
after period → drain → score against ground truth → record (``chaos_runs``, JSON + HTML report).

The phases are separate functions over a JSON-able context, so ``bin/patternalarm chaos run`` (traffic in a
thread) and the ``chaos_experiments`` DAG (traffic and fault in two parallel tasks) run the same code. The
traffic phase stops when the fault phase says so through the experiment's ``chaos_runs`` row.

A run **fails** when a scenario alert is lost or duplicated, an incident is duplicated, recovery does not
come within the experiment's limit, the labelled traffic itself did not survive the fault, or an
experiment-specific check fails; a failed run opens a ``platform`` incident (``chaos_experiment`` on the
experiment's name).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from include.patternalarm.chaos import measure
from include.patternalarm.chaos.experiments import EXPERIMENTS, Experiment, Trial
from include.patternalarm.chaos.store import ChaosStore
from include.patternalarm.topics import DLQ, DOMAINS, EVENTS, LATE

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

Say = Callable[[str], None]
MONITOR_DAG = "monitor_detection_jobs"
#: Unlabelled traffic after the labelled run, so event time passes the last patterns (absence rules' silence).
TAIL_S = 45.0
TAIL_CHECK_S = 5.0  # how often the tail asks whether every labelled scenario has alerted


class ChaosError(RuntimeError):
    """An experiment cannot be run as asked (unknown name, bad parameter, stack not ready)."""


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class ChaosConfig:
    rate_per_min: float = 50_000.0  # the seed rate; the labelled traffic during each experiment
    steady_s: float = 45.0  # traffic before the fault (the "before" latency)
    fault_s: float = 20.0  # how long a held fault lasts (a broker down, the gateway down)
    after_s: float = 45.0  # traffic after recovery (the "after" latency)
    drain_timeout_s: float = 300.0
    dry_run: bool = False
    skip_recovery: bool = False  # keep the fault until the recovery limit passed: the experiment fails on purpose
    seed: int | None = None

    def validated(self) -> ChaosConfig:
        checks = [(1_000 <= self.rate_per_min <= 50_000,
                   "rate must be 1,000..50,000 events/min (the seed rate at most)"),
                  (10 <= self.steady_s <= 600, "steady period must be 10..600 s"),
                  (5 <= self.fault_s <= 600, "fault duration must be 5..600 s"),
                  (10 <= self.after_s <= 600, "after period must be 10..600 s"),
                  (30 <= self.drain_timeout_s <= 1800, "drain timeout must be 30..1800 s")]
        problems = [text for ok, text in checks if not ok]
        if problems:
            raise ChaosError("; ".join(problems))
        return self


def experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ChaosError(f"unknown experiment {name!r} (valid: {', '.join(EXPERIMENTS)})") from None


def catalog_rule_params(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every rule's parameters as the running jobs were deployed (overrides included), so the simulator's
    scenarios are built for the thresholds the jobs really use."""
    from include.patternalarm.control.deployer import catalog_kwargs
    from include.patternalarm.control.deployments import DeploymentStore
    from include.patternalarm.rules import load_catalog

    store = DeploymentStore.from_settings(settings)
    params: dict[str, dict[str, Any]] = {}
    for domain in DOMAINS:
        record = store.desired(domain)
        catalog = load_catalog(record.version if record else None, overrides=record.overrides if record else None,
                               **catalog_kwargs(record.rules_dir if record else None))
        for rule in catalog.rules_for(domain):
            params[rule.id] = {**catalog.domains[domain].values, **rule.values}
    return params


#: how long the preflight waits for a healthy platform (jobs running with a completed checkpoint)
PREFLIGHT_HEALTH_WAIT_S = 60.0


# --- phase 1: prepare --------------------------------------------------------------------------------------

def prepare(settings: Settings, name: str, config: ChaosConfig, *, batch_id: str, requested_by: str) -> dict[str, Any]:
    """Check the stack, open the ``chaos_runs`` row; the context the other phases take."""
    exp = experiment(name)
    config = config.validated()
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(1, 2**31)
    from include.patternalarm.simulator import SimulationConfig

    sim = SimulationConfig(seed=seed)
    problems = exp.preflight(settings)
    from include.patternalarm.flink.deploy import DeployError, check_gateway

    try:
        check_gateway(settings)
    except DeployError as exc:
        problems.append(str(exc))
    # a stack deployed a moment ago has jobs without a first checkpoint yet: give it a minute
    deadline = time.monotonic() + PREFLIGHT_HEALTH_WAIT_S
    health = measure.platform_health(settings, 0)
    while not health.ok and time.monotonic() < deadline:
        time.sleep(2.0)
        health = measure.platform_health(settings, 0)
    if not health.ok:
        problems.append(f"the platform is not healthy before the fault (waited {PREFLIGHT_HEALTH_WAIT_S:.0f} s): "
                        f"{health.detail}")
    elif not config.dry_run:  # a steady state to compare with: nothing left over from before
        caught_up = drain(settings, config.drain_timeout_s, settle=0.0)
        if caught_up["left"]:
            problems.append(f"the platform has not caught up with earlier traffic: {caught_up['left']}")
    ctx = {"experiment": name, "batch_id": batch_id, "requested_by": requested_by, "config": asdict(config),
           "seed": seed, "tag": sim.tag, "run_id": f"sim-{datetime.now(UTC):%Y%m%dT%H%M%S}-chaos-{sim.tag}",
           "plan": exp.plan(), "problems": problems, "started_at": time.time(), "limit_s": exp.limit_s}
    ctx["id"] = ChaosStore(settings).open(batch_id, name, requested_by, {**asdict(config), "seed": seed})
    return ctx


# --- phase 2: traffic ---------------------------------------------------------------------------------------

def traffic(settings: Settings, ctx: dict[str, Any], *, say: Say = _quiet,
            stop: threading.Event | None = None) -> dict[str, Any]:
    """Labelled traffic (scenarios, the experiment's bad ratio) until the fault phase says stop (or a bound)."""
    from include.patternalarm.simulator import SimulationConfig, run_simulation

    cfg, exp = ChaosConfig(**ctx["config"]), experiment(ctx["experiment"])
    bound = cfg.steady_s + cfg.fault_s + exp.limit_s + cfg.after_s + 120
    stop = stop or threading.Event()
    store = ChaosStore(settings)

    def watch() -> None:
        while not stop.wait(1.0):
            try:
                if store.result(ctx["id"]).get("stop_traffic_at"):
                    stop.set()
            except Exception:  # noqa: BLE001,S110 - the database may be the fault: ask again
                pass

    watcher = threading.Thread(target=watch, name="chaos-traffic-stop", daemon=True)
    watcher.start()
    say(f"{ctx['experiment']}: traffic {cfg.rate_per_min:,.0f} events/min, run {ctx['run_id']}")
    config = SimulationConfig(rate=cfg.rate_per_min / 60, duration_s=bound, seed=ctx["seed"], run_id=ctx["run_id"],
                              bad_ratio=exp.bad_ratio, rule_params=catalog_rule_params(settings))
    summary = run_simulation(settings, config, stop=stop)
    stop.set()
    # a tail of unlabelled background traffic: event time must move on for the last patterns to complete
    # (a silence that still has to pass the watermark, a duplicate the watermark has not yet confirmed). It
    # ends early once every labelled scenario's alert is stored — not with labelled bad events in the traffic,
    # whose dead letters the scoring does not see
    tail_stop, early = threading.Event(), threading.Event()
    if not exp.bad_ratio:
        threading.Thread(target=_end_tail_when_detected, args=(settings, ctx["run_id"], tail_stop, early),
                         name="chaos-tail-stop", daemon=True).start()
    tail = run_simulation(settings, SimulationConfig(rate=cfg.rate_per_min / 60, duration_s=TAIL_S, scenarios=False,
                                                     record_ground_truth=False, seed=ctx["seed"] + 1), stop=tail_stop)
    tail_stop.set()
    out = {k: v for k, v in summary.as_dict().items() if k in (
        "run_id", "status", "elapsed_s", "events_sent", "scenarios_injected", "scenarios_truncated", "bad_events",
        "ground_truth_rows", "errors", "achieved_rate")}
    out["tail"] = {"events_sent": tail.events_sent, "status": tail.status, "errors": tail.errors,
                   "elapsed_s": tail.elapsed_s, "ended_when_every_scenario_alerted": early.is_set()}
    return out


def _end_tail_when_detected(settings: Settings, run_id: str, stop: threading.Event, early: threading.Event) -> None:
    """Sets ``stop`` (and ``early``) once nothing of ``run_id``'s labelled scenarios is missing in PostgreSQL;
    a run that lost something keeps its tail to ``TAIL_S``, and the evaluation reports the loss."""
    while not stop.wait(TAIL_CHECK_S):
        try:
            if score(settings, run_id)["lost"] == 0:
                early.set()
                stop.set()
        except Exception:  # noqa: BLE001,S110 - the database may still be the fault: ask again
            pass


def score(settings: Settings, run_id: str) -> dict[str, Any]:
    """The run scored against its ground truth from PostgreSQL; a truncated scenario whose alert exists counts
    as detected (``measure.alerted_truncated``)."""
    from include.patternalarm.scoring.report import score_runs

    report, _ = score_runs(settings, [run_id], source="db")
    total = report["total"]
    missed = {rule: r["missed"] for rule, r in report["rules"].items() if r["missed"]}
    truncated = measure.alerted_truncated(settings, run_id, missed)
    missed = {rule: kept for rule, items in missed.items()
              if (kept := [m for m in items if m.split(" ", 1)[0] not in truncated])}
    detected = total["detected"] + len(truncated)
    return {"report": report, "missed": missed, "truncated": truncated, "expected": total["fires"],
            "detected": detected, "lost": total["fires"] - detected,
            "duplicated": sum(r["extra_alerts"] for r in report["rules"].values())}


# --- phase 3: the fault -------------------------------------------------------------------------------------

STEADY_LAG_S = 5.0  # in its steady state every job is within this many seconds of traffic
STEADY_WAIT_S = 120.0  # how long past the steady period a fault waits for the platform to catch up


def steady_state(settings: Settings, cfg: ChaosConfig, *, say: Say = _quiet) -> dict[str, Any]:
    """A fault goes into a platform that keeps up, or the experiment measures a backlog, not the fault (seen:
    the first experiment after a fresh deploy, its TaskManager still warming up, was 100 s behind before
    its fault). Waits up to ``STEADY_WAIT_S`` for the detection jobs' summed lag (records not yet fetched) to
    fall to ``STEADY_LAG_S`` seconds of traffic; injects anyway after that, and says so."""
    limit = max(100, round(cfg.rate_per_min / 60 * STEADY_LAG_S))
    started = time.monotonic()
    lag: dict[str, int | None] = {}

    def keeps_up() -> bool:
        nonlocal lag
        lag = measure.detection_lag(settings)
        return measure.caught_up(lag, limit)

    held, _ = measure.wait_for(keeps_up, timeout=STEADY_WAIT_S, interval=2.0)
    waited = round(time.monotonic() - started, 1)
    if not held:
        say(f"the detection jobs are still behind after {waited:.0f}s more ({lag} records not fetched; the steady "
            f"state is ≤ {limit}): injecting anyway — the recovery includes that backlog")
    elif waited >= 2.0:
        say(f"waited {waited:.0f}s for the detection jobs to catch up ({lag} records not fetched)")
    return {"caught_up": held, "waited_s": waited, "lag_records": lag, "limit_records": limit}


def fault(settings: Settings, ctx: dict[str, Any], *, say: Say = _quiet) -> dict[str, Any]:
    """Steady period, inject, lift (held faults), wait for recovery, after period; then tell traffic to stop."""
    cfg, exp = ChaosConfig(**ctx["config"]), experiment(ctx["experiment"])
    trial = Trial(settings=settings, experiment=exp.name, tag=ctx["tag"], fault_s=cfg.fault_s, limit_s=exp.limit_s,
                  skip_recovery=cfg.skip_recovery, say=say)
    store = ChaosStore(settings)
    peak: dict[str, int] = {}
    watching = threading.Event()

    def watch_jobs() -> None:  # never two jobs on one stream
        while not watching.wait(1.0):
            for domain, ids in measure.active_jobs(settings).items():
                peak[domain] = max(peak.get(domain, 0), len(ids))

    watcher = threading.Thread(target=watch_jobs, name="chaos-job-watch", daemon=True)
    watcher.start()
    recovered_at = None
    try:
        time.sleep(cfg.steady_s)
        trial.notes["steady"] = steady_state(settings, cfg, say=say)
        say(f"{exp.name}: injecting — {exp.plan()}")
        exp.inject(trial)
        trial.fault_at = trial.fault_at or time.time()
        if exp.holds and trial.held and not cfg.skip_recovery:
            time.sleep(max(0.0, trial.fault_at + cfg.fault_s - time.time()))
            say(f"{exp.name}: lifting the fault after {cfg.fault_s:.0f}s")
            exp.lift(trial)
        held, at = measure.wait_for(lambda: exp.recovered(trial), timeout=max(
            1.0, trial.fault_at + exp.limit_s - time.time()), interval=1.0)
        recovered_at = at if held else None
        say(f"{exp.name}: " + (f"recovered {at - trial.fault_at:.1f}s after the fault" if held else
                               f"NOT recovered within {exp.limit_s:.0f}s: {trial.notes.get('last_health')}"))
        if not held:  # a deliberate failure (or a real one): put the stack back, then let it settle
            exp.cleanup(trial)
            measure.wait_for(lambda: exp.recovered(trial), timeout=300, interval=2.0)
        time.sleep(cfg.after_s)
    except Exception as exc:  # noqa: BLE001 - recorded as the experiment's error
        trial.failures.append(f"the experiment itself failed: {type(exc).__name__}: {exc}")
    finally:
        exp.cleanup(trial)
        watching.set()
        watcher.join(5)
        try:
            store.note(ctx["id"], stop_traffic_at=time.time())
        except Exception as exc:  # noqa: BLE001 - the traffic stops at its bound then
            trial.failures.append(f"could not stop the traffic: {exc}")
    poison = trial.notes.pop("poison_objects", None)
    if poison is not None:
        ctx["_poison"] = poison  # same process only (the CLI); the DAG re-creates it from the notes
    try:
        extra = exp.check(trial) if trial.fault_at else []
    except Exception as exc:  # noqa: BLE001
        extra = [f"check failed: {exc}"]
    return {"fault_at": trial.fault_at, "fault_ended_at": trial.fault_ended_at, "recovered_at": recovered_at,
            "limit_s": exp.limit_s, "notes": trial.notes, "failures": trial.failures + extra,
            "peak_jobs": peak}


# --- phase 4: evaluate ------------------------------------------------------------------------------------------

def drain(settings: Settings, timeout: float, settle: float = 15.0) -> dict[str, Any]:
    """Wait until the detection jobs and the sink caught up (bounded); what was left."""
    from confluent_kafka.admin import AdminClient

    from include.patternalarm.control.lag import consumer_lag
    from include.patternalarm.rules import group_id

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    started = time.monotonic()
    left = {}
    while time.monotonic() - started < timeout:
        try:
            left = {d: consumer_lag(admin, group_id(d), [EVENTS[d]]).total for d in DOMAINS}
            sink = measure.sink_status(settings) or {}
            left["sink"] = (sink.get("lag") or {}).get("total", -1)
        except Exception as exc:  # noqa: BLE001 - a broker coming back
            left = {"error": str(exc)[:200]}
        caught_up = "error" not in left and sum(v for k, v in left.items() if k != "sink") < 200 and left["sink"] == 0
        if caught_up and time.monotonic() - started >= settle:
            return {"drained_s": round(time.monotonic() - started, 1), "left": {}}
        time.sleep(2)
    return {"drained_s": round(time.monotonic() - started, 1), "left": left}


def evaluate(settings: Settings, ctx: dict[str, Any], faulted: dict[str, Any], sim: dict[str, Any], *,
             say: Say = _quiet) -> dict[str, Any]:
    """Drain, score against ground truth, judge, record the row, and open a platform incident when it failed."""
    cfg, exp = ChaosConfig(**ctx["config"]), experiment(ctx["experiment"])
    drained = drain(settings, cfg.drain_timeout_s)
    failures = list(faulted.get("failures") or [])
    figures: dict[str, Any] = {"sim_run_id": ctx["run_id"]}
    started = measure.utc(ctx["started_at"])
    fault_at, recovered_at = measure.utc(faulted.get("fault_at")), measure.utc(faulted.get("recovered_at"))
    figures.update(fault_at=fault_at, fault_ended_at=measure.utc(faulted.get("fault_ended_at")),
                   recovered_at=recovered_at)
    if fault_at and recovered_at:
        figures["recovery_s"] = round((recovered_at - fault_at).total_seconds(), 1)
    else:
        failures.append(f"no recovery within {exp.limit_s:.0f}s of the fault")
    try:
        scored = score(settings, ctx["run_id"])
        report, missed, truncated = scored["report"], scored["missed"], scored["truncated"]
        figures.update(expected=scored["expected"], detected=scored["detected"], duplicated=scored["duplicated"],
                       lost=scored["lost"] if not drained["left"] else None)
    except Exception as exc:  # noqa: BLE001 - a run without ground truth is itself a failure
        report, missed, truncated = {}, {}, []
        failures.append(f"scoring failed: {exc}")
    if drained["left"]:
        failures.append(f"the platform did not catch up within {cfg.drain_timeout_s:.0f}s: {drained['left']}")
    if figures.get("lost"):
        failures.append(f"{figures['lost']} scenario alert(s) lost: {missed}")
    if figures.get("duplicated"):
        failures.append(f"{figures['duplicated']} duplicated scenario alert(s)")
    figures["incidents_duplicated"] = measure.incidents_duplicated(settings, ctx["tag"])
    if figures["incidents_duplicated"]:
        failures.append(f"{figures['incidents_duplicated']} duplicated incident(s)")
    # "interrupted": the fault phase stopped it, as planned; anything else (a dead ground-truth writer, undelivered
    # events) means the traffic that labels the experiment did not survive the fault
    if sim.get("status") not in ("finished", "interrupted") or sim.get("errors"):
        failures.append(f"the labelled traffic ended {sim.get('status')}: {sim.get('errors')}")
    two = {d: n for d, n in (faulted.get("peak_jobs") or {}).items() if n > 1}
    if two:
        failures.append(f"two jobs on one stream at once: {two}")
    latencies = measure.alert_latencies(settings, ctx["tag"], started)
    phases = measure.latency_by_phase(latencies, fault_at, recovered_at)
    figures.update(latency_p99_before_s=phases["before"]["p99"], latency_p99_during_s=phases["during"]["p99"],
                   latency_p99_after_s=phases["after"]["p99"])
    dlq = measure.read_topic(settings, DLQ, started) if started else []
    late = measure.read_topic(settings, LATE, started) if started else []
    figures.update(dead_lettered=len(dlq), late=len(late))
    poison_result = None
    if exp.name == "poison_input":
        poison_result = _check_poison(settings, ctx, faulted, dlq, late)
        failures += poison_result.pop("failures")
        figures["dead_lettered"] = poison_result["dead_lettered_with_reason"]
    detected = measure.monitor_detected_at(settings, fault_at) if fault_at else None
    if detected and fault_at:
        figures["monitor_detected_s"] = round((detected - fault_at).total_seconds(), 1)
    status = "failed" if failures else "passed"
    result = {"experiment": exp.name, "batch_id": ctx["batch_id"], "title": exp.title, "proves": exp.proves,
              "plan": ctx["plan"], "status": status, "failures": failures, "limit_s": exp.limit_s,
              "config": ctx["config"],
              "seed": ctx["seed"], "tag": ctx["tag"], "traffic": sim, "drain": drained, "latency_s": phases,
              "notes": faulted.get("notes"), "peak_jobs": faulted.get("peak_jobs"), "poison": poison_result,
              "score": {"total": report.get("total"), "missed": missed,
                        "truncated_by_the_stop_but_alerted": truncated}, "machine": _machine(),
              **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in figures.items()}}
    ChaosStore(settings).finish(ctx["id"], status, figures, failures, result)
    say(f"{exp.name}: {status.upper()}" + (f" — {'; '.join(failures)}" if failures else ""))
    if failures:
        _open_incident(settings, exp.name, ctx, failures)
    return result


def _check_poison(settings: Settings, ctx: dict[str, Any], faulted: dict[str, Any], dlq: list[dict[str, Any]],
                  late: list[dict[str, Any]]) -> dict[str, Any]:
    """Every labelled bad event and every direct poison record dead-lettered (or late) with a reason."""
    import re

    import psycopg

    from include.patternalarm.chaos import poison
    from include.patternalarm.topics import ALERTS_DLQ

    started = measure.utc(ctx["started_at"])
    event_id = re.compile(r'"event_id"\s*:\s*"([^"]+)"')
    by_event: dict[str, dict[str, Any]] = {}
    for record in dlq + late:
        match = event_id.search(str(record.get("raw") or ""))
        if match:
            by_event.setdefault(match.group(1), record)
    with psycopg.connect(settings.db_conninfo("reporting"), connect_timeout=10) as conn:
        labels = conn.execute("select kind, variant, event_ids[1], detail->>'expected_reason' from ground_truth"
                              " where run_id = %s and kind <> 'scenario'", (ctx["run_id"],)).fetchall()
    missing, wrong = [], []
    for kind, variant, eid, expected in labels:
        if variant == "out_of_order":
            continue  # inside the watermark delay: valid, processed
        record = by_event.get(eid)
        if record is None:
            missing.append(f"{variant} {eid}")
        elif kind == "malformed" and record.get("reason") != expected:
            wrong.append(f"{variant} {eid}: {record.get('reason')}")
        elif kind == "duplicate" and record.get("reason") not in ("duplicate", "late"):
            wrong.append(f"duplicate {eid}: {record.get('reason')}")
    # the records the fault phase sent (rebuilt from the run's tag when another process sent them: same keys)
    direct = ctx.get("_poison") or poison.event_poison(ctx["tag"]) + poison.alert_poison(ctx["tag"])
    alert_dead = poison.dead_letter_reasons(measure.read_topic(settings, ALERTS_DLQ, started))
    verdict = poison.verify(direct, poison.dead_letter_reasons(dlq), alert_dead,
                            poison.stored_probe_entities(settings, ctx["tag"]))
    resolved = poison.resolve_probe_incidents(settings, ctx["tag"])
    labelled = len([x for x in labels if x[1] != "out_of_order"])
    failures = []
    if missing or wrong:
        failures.append(f"{len(missing)} labelled bad event(s) not dead-lettered, {len(wrong)} with another reason: "
                        f"{(missing + wrong)[:5]}")
    if verdict["missing"] or verdict["wrong_reason"]:
        failures.append(f"poison records not handled: {(verdict['missing'] + verdict['wrong_reason'])[:5]}")
    return {"labelled_bad_events": labelled, "labelled_missing": missing[:20], "labelled_wrong_reason": wrong[:20],
            "direct": verdict, "probe_incidents_resolved": resolved,
            "dead_lettered_with_reason": labelled - len(missing) - len(wrong) + verdict["handled"],
            "bad_input_total": labelled + verdict["sent"], "failures": failures}


def _open_incident(settings: Settings, name: str, ctx: dict[str, Any], failures: list[str]) -> None:
    from include.patternalarm.control.platform import PlatformIncidents

    try:
        PlatformIncidents(settings.db_conninfo("control")).open(
            "chaos_experiment", name, "high", f"chaos experiment {name} failed: {'; '.join(failures)[:400]}",
            {"chaos_run_id": ctx["id"], "batch_id": ctx["batch_id"], "failures": failures})
    except Exception:  # noqa: BLE001,S110 - the row and the report still say it failed
        pass


def _machine() -> dict[str, Any]:
    from include.patternalarm.observe import machine

    return machine()


# --- whole runs ------------------------------------------------------------------------------------------------

def dry_run(settings: Settings, ctx: dict[str, Any]) -> dict[str, Any]:
    exp = experiment(ctx["experiment"])
    status = "dry_run" if not ctx["problems"] else "error"
    result = {"experiment": exp.name, "batch_id": ctx["batch_id"], "title": exp.title, "plan": ctx["plan"],
              "proves": exp.proves, "status": status, "problems": ctx["problems"], "limit_s": exp.limit_s,
              "config": ctx["config"]}
    ChaosStore(settings).finish(ctx["id"], status, {}, ctx["problems"], result)
    return result


def run_experiment(settings: Settings, name: str, config: ChaosConfig, *, batch_id: str, requested_by: str,
                   say: Say = _quiet) -> dict[str, Any]:
    """All phases in this process (traffic in a thread): what ``chaos run`` does per experiment."""
    ctx = prepare(settings, name, config, batch_id=batch_id, requested_by=requested_by)
    if config.dry_run or ctx["problems"]:
        result = dry_run(settings, ctx)
        say(f"{name}: {result['status']} — {ctx['plan']}" + (f" ({'; '.join(ctx['problems'])})" if ctx["problems"]
                                                              else ""))
        return result
    sim: dict[str, Any] = {}
    stop = threading.Event()

    def run_traffic() -> None:
        try:
            sim.update(traffic(settings, ctx, say=say, stop=stop))
        except Exception as exc:  # noqa: BLE001 - recorded as a traffic failure
            sim.update(status="error", errors=[f"{type(exc).__name__}: {exc}"])

    thread = threading.Thread(target=run_traffic, name="chaos-traffic", daemon=True)
    thread.start()
    faulted = fault(settings, ctx, say=say)
    stop.set()
    thread.join(timeout=300)
    return evaluate(settings, ctx, faulted, sim, say=say)


def run_batch(settings: Settings, names: Iterable[str], config: ChaosConfig, *, requested_by: str,
              say: Say = _quiet) -> dict[str, Any]:
    """Several experiments, one after the other (a shared ``batch_id``); writes the batch's report."""
    from include.patternalarm.chaos.report import write_report

    batch_id = f"chaos-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"
    started = time.monotonic()
    monitor_was_paused = ensure_monitor(settings, say)
    results = []
    try:
        for name in names:
            results.append(run_experiment(settings, name, config, batch_id=batch_id, requested_by=requested_by,
                                          say=say))
    finally:
        restore_monitor(settings, monitor_was_paused)
    summary = {"batch_id": batch_id, "requested_by": requested_by, "seconds": round(time.monotonic() - started, 1),
               "config": asdict(config), "experiments": results,
               "passed": all(r["status"] in ("passed", "dry_run") for r in results)}
    summary["report"] = str(write_report(settings, summary))
    return summary


#: a scheduled run the scheduler created later than this after its slot was created by an unpause (a healthy
#: scheduler creates a due run within seconds)
CREATED_LATE = timedelta(minutes=1)
#: without the run's creation time (Airflow did not answer): a scheduled run that starts this late runs nothing
STARTED_LATE = timedelta(minutes=30)
_NOTHING_NOW = "no experiment runs now; the next scheduled run is at 03:00 UTC, or trigger one"


def late_slot(run_type: str, slot: datetime | None, queued_at: datetime | None, now: datetime) -> str | None:
    """Why a scheduled run must run nothing, or None. Unpausing the DAG makes Airflow create the run of the
    slot that already passed (catchup=False still schedules the latest slot): a daily chaos set must not
    start because someone unpaused the DAG to trigger one experiment (seen: a test's unpause at 03:22 UTC
    started all eight experiments). A run created on time but queued behind another run still runs."""
    if run_type.lower() != "scheduled" or slot is None:
        return None
    if queued_at is not None:
        if queued_at - slot > CREATED_LATE:
            return (f"this run of the {slot:%Y-%m-%d %H:%M} UTC slot was created {_minutes(queued_at - slot)} after "
                    f"it (the DAG was unpaused since): {_NOTHING_NOW}")
        return None
    if now - slot > STARTED_LATE:
        return (f"the {slot:%Y-%m-%d %H:%M} UTC slot passed {_minutes(now - slot)} ago and when this run was created "
                f"is unknown: {_NOTHING_NOW}")
    return None


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"


def run_queued_at(settings: Settings, dag_id: str, run_id: str) -> datetime | None:
    """When Airflow created (queued) the run, from its REST API; None if it does not answer."""
    from include.patternalarm.airflow_client import AirflowApiError, AirflowClient

    client = AirflowClient(settings)
    try:
        queued = client.dag_run(dag_id, run_id).get("queued_at")
        return datetime.fromisoformat(queued.replace("Z", "+00:00")) if queued else None
    except (AirflowApiError, ValueError):
        return None
    finally:
        client.close()


def ensure_monitor(settings: Settings, say: Say) -> bool | None:
    """monitor_detection_jobs must run (it heals after a JobManager loss, and its detection is measured):
    unpause it for the batch; returns whether it was paused (None: Airflow did not answer)."""
    from include.patternalarm.airflow_client import AirflowApiError, AirflowClient

    client = AirflowClient(settings)
    try:
        client.wait_parsed(MONITOR_DAG, timeout=60)
        paused = client.is_paused(MONITOR_DAG)
        if paused:
            client.set_paused(MONITOR_DAG, False)
            say(f"{MONITOR_DAG} unpaused for the experiments (paused again afterwards)")
        return paused
    except AirflowApiError as exc:
        say(f"could not make sure {MONITOR_DAG} runs: {exc}")
        return None
    finally:
        client.close()


def restore_monitor(settings: Settings, was_paused: bool | None) -> None:
    from include.patternalarm.airflow_client import AirflowApiError, AirflowClient

    if not was_paused:
        return
    client = AirflowClient(settings)
    try:
        client.set_paused(MONITOR_DAG, True)
    except AirflowApiError:
        pass
    finally:
        client.close()
