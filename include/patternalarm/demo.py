"""The main job: the whole product on this machine — deploy, traffic with injected fraud, live figures, a report.

1. the stack is up (the caller makes sure);
2. the three domains are deployed through the ``deploy_detection_jobs`` DAG via Airflow's REST API, as
   a UI trigger would (domains already running are left alone); the monitor DAG is switched on;
3. the simulator sends realistic traffic with labelled scenarios at the chosen rate for the chosen
   time, while an `Observer` samples rates, lags, alerts, incidents and latency;
4. at the end (or on Ctrl-C) the pipeline drains, the run is scored against its ground truth, and a
   JSON report is written.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from include.patternalarm.airflow_client import AirflowClient
from include.patternalarm.flink.deploy import find_job
from include.patternalarm.observe import Observer, Sample, machine
from include.patternalarm.settings import Settings
from include.patternalarm.simulator import Progress, SimulationConfig, SimulationSummary, run_simulation
from include.patternalarm.topics import DOMAINS

DEPLOY_DAG = "deploy_detection_jobs"
MONITOR_DAG = "monitor_detection_jobs"


@dataclass(frozen=True)
class DemoConfig:
    minutes: float = 3.0
    rate: float = 50_000 / 60  # events/s
    domains: tuple[str, ...] = DOMAINS
    seed: int | None = None
    deploy: bool = True
    drain_timeout_s: float = 90.0


@dataclass
class DemoState:
    """What the live view shows."""

    phase: str = "starting"
    progress: Progress | None = None
    sample: Sample | None = None
    recall: dict[str, Any] = field(default_factory=dict)  # rule -> recall so far, plus "all"
    messages: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


Update = Callable[[DemoState], None]


def deploy_domains(settings: Settings, domains: tuple[str, ...], state: DemoState, on_update: Update) -> dict:
    """Deploy the domains whose job does not run, through the DAG (REST API); switch the monitor on."""
    client = AirflowClient(settings)
    try:
        missing = [d for d in domains if find_job(settings, d) is None]
        if not missing:
            state.messages.append("detection jobs already running: " + ", ".join(domains))
            result = {"deployed": [], "run_id": None}
        else:
            client.wait_parsed(DEPLOY_DAG)
            run_id = client.trigger(DEPLOY_DAG, {"domains": missing, "parallelism": 1})
            state.messages.append(f"deploying {', '.join(missing)} through {DEPLOY_DAG} ({run_id})")

            def progress(tasks: dict[str, str]) -> None:
                done = sum(1 for s in tasks.values() if s in ("success", "skipped"))
                state.phase = f"deploying {', '.join(missing)}: {done}/{len(tasks)} tasks done"
                on_update(state)

            outcome = client.wait(DEPLOY_DAG, run_id, timeout=900, on_progress=progress)
            if not outcome.ok:
                failed = [t for t, s in outcome.tasks.items() if s == "failed"]
                raise RuntimeError(f"{DEPLOY_DAG} run {run_id} failed (tasks {', '.join(failed)}): see the "
                                   f"Airflow UI at {settings.airflow_api}")
            state.messages.append(f"deployed {', '.join(missing)} in {outcome.seconds:.0f}s")
            result = {"deployed": missing, "run_id": run_id, "seconds": round(outcome.seconds, 1)}
        client.wait_parsed(MONITOR_DAG)
        client.set_paused(MONITOR_DAG, False)
        return result
    finally:
        client.close()


def _drain(settings: Settings, observer: Observer, timeout: float, state: DemoState, on_update: Update) -> float:
    """Wait until the detection jobs and the sink caught up (bounded); returns the seconds it took."""
    started = time.monotonic()
    watermark_settle = 12.0  # watermark delay + idle timeout: the last patterns complete after traffic stops
    while time.monotonic() - started < timeout:
        sample = observer.sample()
        state.sample = sample
        state.phase = f"draining: detection lag {sum(sample.lag.values())}, sink lag {sample.sink_lag}"
        on_update(state)
        caught_up = sum(sample.lag.values()) < 100 and (sample.sink_lag or 0) == 0
        if caught_up and time.monotonic() - started >= watermark_settle:
            return time.monotonic() - started
        time.sleep(2)
    return time.monotonic() - started


def run_demo(settings: Settings, config: DemoConfig, *, on_update: Update = lambda s: None,
             stop: threading.Event | None = None, report_dir: Path | None = None) -> dict[str, Any]:
    """Run the main job to its end (or until ``stop``); returns the report (also written as JSON)."""
    from include.patternalarm.scoring.report import score_runs

    stop = stop or threading.Event()
    state = DemoState()
    before = machine()
    deployment = deploy_domains(settings, config.domains, state, on_update) if config.deploy else {}
    observer = Observer(settings, started_at=datetime.now(UTC), domains=config.domains).start()
    summary: list[SimulationSummary] = []
    errors: list[str] = []

    run_id = f"sim-{datetime.now(UTC):%Y%m%dT%H%M%S}-demo{uuid.uuid4().hex[:4]}"

    def simulate() -> None:
        try:
            sim = SimulationConfig(domains=config.domains, rate=config.rate, duration_s=config.minutes * 60,
                                   seed=config.seed, run_id=run_id)
            summary.append(run_simulation(settings, sim, on_progress=lambda p: setattr(state, "progress", p),
                                          stop=stop))
        except Exception as exc:  # noqa: BLE001 - reported in the summary, the demo still ends cleanly
            errors.append(f"simulator: {exc}")

    traffic = threading.Thread(target=simulate, name="simulator", daemon=True)
    traffic.start()
    last_score = 0.0
    try:
        while traffic.is_alive():
            state.phase = "traffic" if not stop.is_set() else "stopping traffic"
            state.sample = observer.latest
            if time.monotonic() - last_score > 15 and state.progress and state.progress.scenarios_done:
                last_score = time.monotonic()
                try:
                    settled = datetime.now(UTC) - timedelta(seconds=15)
                    report, _ = score_runs(settings, [run_id], source="db", settled_before=settled)
                    state.recall = {r: v["recall"] for r, v in report["rules"].items()}
                    state.recall["all"] = report["total"]["recall"]
                except Exception as exc:  # noqa: BLE001 - the live recall is best effort
                    state.messages.append(f"live score unavailable: {exc}"[:200])
            on_update(state)
            traffic.join(timeout=1.0)
    except KeyboardInterrupt:
        stop.set()
        state.phase = "stopping traffic (Ctrl-C)"
        on_update(state)
        traffic.join(timeout=60)
    observer.stop()
    drained_s = _drain(settings, observer, config.drain_timeout_s, state, on_update)
    state.phase = "scoring"
    on_update(state)
    run = summary[0] if summary else None
    report: dict[str, Any] = {"kind": "demo", "config": config.__dict__, "machine_before": before,
                              "deployment": deployment, "drained_s": round(drained_s, 1), "errors": errors}
    if run is not None:
        scored, _ = score_runs(settings, [run.run_id], source="auto")
        last = observer.latest
        report.update({
            "run": run.as_dict(), "score": scored,
            "dead_lettered": last.dead_lettered if last else None, "late": last.late if last else None,
            "alerts_by_rule": last.alerts if last else {}, "incidents_by_rule": last.incidents if last else {},
        })
    report["samples"] = [s.as_dict() for s in observer.samples]
    report["observer_errors"] = observer.errors[-20:]
    report["machine_after"] = machine()
    folder = report_dir or settings.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    name = f"demo-{run.run_id if run else datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path = folder / name
    path.write_text(json.dumps(report, indent=2, default=str))
    report["report_file"] = str(path)
    state.phase = "done"
    on_update(state)
    return report
