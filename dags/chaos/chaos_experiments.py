"""
### chaos_experiments

Real faults on the platform's real processes, each under labelled traffic and scored against the
simulator's ground truth — the same experiments as `bin/patternalarm chaos run` (docs/chaos.md).
Daily at 03:00 UTC once unpaused (paused on a fresh stack; the run Airflow creates on unpausing for the
slot that already passed does nothing once it was created a minute after 03:00); trigger it with
**Trigger DAG w/ config**:

| param | meaning |
|---|---|
| `experiments` | which experiments (default: all eight, one after the other) |
| `rate_per_min` | the labelled traffic during each experiment (at most the seed rate, 50,000/min) |
| `fault_duration_s` | how long a held fault lasts (a broker down, the SQL Gateway down) |
| `steady_s` / `after_s` | traffic before the fault / after recovery |
| `dry_run` | check the stack and show each plan; inject nothing |
| `skip_recovery` | keep each fault past its recovery limit: each experiment fails (and opens an incident) |

Each experiment is a task group: `prepare` (stack healthy, `chaos_runs` row) → `traffic` (the
simulator with scenarios and a run id) in parallel with `fault` (steady period → inject → lift →
wait for recovery → after period, then it tells the traffic to stop) → `evaluate` (drain, score
against `ground_truth`, record, report). A failed experiment fails its `evaluate` task and opens a
`platform` incident; the next experiment still runs. The report (JSON + HTML) is under
`.data/reports/chaos/` and in the UI: **Browse → Chaos experiments**.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task, task_group

from include.patternalarm.chaos.experiments import EXPERIMENTS
from patternalarm_airflow.chaos import settings as _settings

NAMES = list(EXPERIMENTS)
DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=30),
                "execution_timeout": pendulum.duration(minutes=30)}


def _config(params: dict) -> dict:
    return {"rate_per_min": float(params["rate_per_min"]), "steady_s": float(params["steady_s"]),
            "fault_s": float(params["fault_duration_s"]), "after_s": float(params["after_s"]),
            "dry_run": bool(params["dry_run"]), "skip_recovery": bool(params["skip_recovery"])}


@dag(
    dag_id="chaos_experiments",
    # 03:00 UTC. Unpausing makes Airflow create the run of the slot that already passed (catchup=False
    # still schedules the latest slot): start_batch lets a scheduled run created late do nothing
    schedule="0 3 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=pendulum.duration(hours=4),
    default_args=DEFAULT_ARGS,
    tags=["chaos", "platform"],
    doc_md=__doc__,
    params={
        "experiments": Param(NAMES, type="array", minItems=1, uniqueItems=True, items={"type": "string", "enum": NAMES},
                             description="Experiments to run, in this order"),
        "rate_per_min": Param(50_000, type="integer", minimum=1_000, maximum=50_000,
                              description="Labelled traffic (events/min) during each experiment"),
        "fault_duration_s": Param(20, type="integer", minimum=5, maximum=600,
                                  description="How long a held fault lasts"),
        "steady_s": Param(45, type="integer", minimum=10, maximum=600, description="Traffic before the fault"),
        "after_s": Param(45, type="integer", minimum=10, maximum=600, description="Traffic after recovery"),
        "dry_run": Param(False, type="boolean", description="Check and show the plan; inject nothing"),
        "skip_recovery": Param(False, type="boolean",
                               description="Keep each fault past its recovery limit: the experiments fail on purpose"),
    },
)
def chaos_experiments():
    @task(retries=0)
    def start_batch() -> str | None:
        """One batch id for this run's experiments; monitor_detection_jobs must run during them. A scheduled
        run that Airflow created after its slot (the DAG was just unpaused) runs nothing: None."""
        from datetime import UTC, datetime

        from include.patternalarm.chaos.runner import ensure_monitor, late_slot, run_queued_at

        ctx = get_current_context()
        run = ctx["dag_run"]
        run_type = str(getattr(run.run_type, "value", run.run_type)).lower()
        slot = getattr(run, "run_after", None) or run.logical_date
        queued_at = run_queued_at(_settings(), ctx["dag"].dag_id, ctx["run_id"]) if run_type == "scheduled" else None
        reason = late_slot(run_type, slot, queued_at, datetime.now(UTC))
        if reason:
            print(reason)
            return None
        ensure_monitor(_settings(), print)
        return f"chaos-{pendulum.now('UTC'):%Y%m%dT%H%M%S}-{ctx['run_id'][-4:].encode().hex()[:4]}"

    def make_group(name: str):
        @task_group(group_id=name)
        def experiment(batch_id: str):
            @task(retries=0, trigger_rule="all_done")  # the previous experiment may have failed
            def prepare(batch_id: str, params: dict | None = None) -> dict:
                from airflow.sdk.exceptions import AirflowSkipException

                from include.patternalarm.chaos.runner import ChaosConfig, dry_run
                from include.patternalarm.chaos.runner import prepare as open_run

                if batch_id is None:
                    raise AirflowSkipException("a late scheduled run (see start_batch): nothing runs")
                if name not in params["experiments"]:
                    raise AirflowSkipException(f"{name} was not selected")
                ctx = get_current_context()
                run = open_run(_settings(), name, ChaosConfig(**_config(params)), batch_id=batch_id,
                               requested_by=f"{ctx['dag'].dag_id}/{ctx['run_id']}")
                if params["dry_run"] or run["problems"]:
                    result = dry_run(_settings(), run)
                    print(f"{name}: {result['status']}: {result['plan']} {result['problems']}")
                    if run["problems"] and not params["dry_run"]:
                        from airflow.sdk.exceptions import AirflowFailException

                        raise AirflowFailException(f"{name} cannot run: {'; '.join(run['problems'])}")
                    raise AirflowSkipException(f"dry run: {result['plan']}")
                return run

            @task(retries=0)
            def traffic(run: dict) -> dict:
                from include.patternalarm.chaos.runner import traffic as send

                return send(_settings(), run, say=print)

            @task(retries=0)
            def fault(run: dict) -> dict:
                from include.patternalarm.chaos.runner import fault as inject

                return inject(_settings(), run, say=print)

            @task(retries=0, trigger_rule="none_skipped")  # also when the fault or the traffic failed
            def evaluate(run: dict, faulted: dict | None, sim: dict | None) -> dict:
                from airflow.sdk.exceptions import AirflowFailException

                from include.patternalarm.chaos.report import write_batch_from_store
                from include.patternalarm.chaos.runner import evaluate as judge

                result = judge(_settings(), run, faulted or {"failures": ["the fault task did not finish"]},
                               sim or {"status": "error", "errors": ["the traffic task did not finish"]}, say=print)
                write_batch_from_store(_settings(), result["batch_id"])
                if result["status"] != "passed":
                    raise AirflowFailException(f"{name} failed: {'; '.join(result['failures'])}")
                return {k: result.get(k) for k in ("experiment", "status", "recovery_s", "lost", "duplicated",
                                                   "incidents_duplicated")}

            run = prepare(batch_id)
            evaluate(run, fault(run), traffic(run))

        return experiment

    batch = start_batch()
    previous = batch
    for name in NAMES:  # one after the other: two faults at once would blur what each one cost
        group = make_group(name)(batch)
        previous >> group
        previous = group

    @task(trigger_rule="all_done", retries=0)
    def finish_batch(batch_id: str | None) -> str | None:
        """The batch's report. It fails when an experiment did not pass: a DAG run's state is that of its last
        task, so without this a run whose experiments failed would show as a success."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.patternalarm.chaos.report import chaos_root
        from include.patternalarm.chaos.store import ChaosStore

        if batch_id is None:
            return None
        settings = _settings()
        report = str(chaos_root(settings.reports_dir) / batch_id / "index.html")
        print(f"report: {report}")
        bad = [f"{row['experiment']} {row['status']}" for row in ChaosStore(settings).batch(batch_id)
               if row["status"] not in ("passed", "dry_run")]
        if bad:
            raise AirflowFailException(f"{len(bad)} experiment(s) did not pass: {', '.join(bad)} (report: {report})")
        return report

    previous >> finish_batch(batch)


chaos_experiments()
