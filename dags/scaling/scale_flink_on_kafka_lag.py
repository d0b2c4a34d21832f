"""
### scale_flink_on_kafka_lag

Automated spike handling for the detection jobs. Runs continuously (one run after another):

1. **watch** — a deferrable sensor polls the consumer lag of every detection job every few seconds
   (no worker slot held) and fires on the first breach of `lag_high`, or after `watch_s` quietly;
2. **decide** — for each job, the target parallelism from its observed rates, the way Flink's
   Kubernetes-operator autoscaler reasons: capacity = processed rate ÷ busy share, required rate =
   input rate + lag ÷ `catch_up_s`, at `target_utilization`, bounded by the 4 partitions and the free
   slots. It scales down only after lag stayed under `lag_low` for `cooldown_s` (no flapping), never
   below the parallelism of the last deployment, and it scales nothing while the job or its last rescale
   is younger than `stabilization_s` (a minutes-old job's rates are JIT-cold, not what it can do).
   Every decision, with its inputs, goes to `scaling_events` and the task log;
3. **rescale** in place (adaptive scheduler, same job id, state from the latest checkpoint) and
   **verify** that the lag drains below `lag_low` within `drain_timeout_s`; if it does not, the next
   run (immediately after) sees the breach again and, once the rescale is `stabilization_s` old, decides
   with the rates measured at the new parallelism. `scaling_events` records when the job ran rescaled
   and when the lag drained.

Unpause it to enable automatic scaling; change the thresholds in **Trigger DAG w/ config** or the
DAG's params.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from include.patternalarm.rules import group_id
from include.patternalarm.topics import DOMAINS, EVENTS
from patternalarm_airflow.operators.flink import FlinkRescaleJobOperator
from patternalarm_airflow.sensors.kafka_lag import KafkaConsumerLagSensor

# the lag watch may last up to an hour (watch_s): every task is bounded a little above that
DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=5),
                "execution_timeout": pendulum.duration(minutes=75)}
GROUPS = {group_id(domain): [EVENTS[domain]] for domain in DOMAINS}


def _rescale_kwargs(action: dict) -> dict:
    return {"domain": action["domain"], "parallelism": action["to"], "job_id": action["job_id"],
            "decided_at": action.get("decided_at")}


def _verify_kwargs(action: dict) -> dict:
    return {"groups": {group_id(action["domain"]): [EVENTS[action["domain"]]]}}


@dag(
    dag_id="scale_flink_on_kafka_lag",
    schedule="@continuous",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scaling", "flink", "kafka"],
    doc_md=__doc__,
    params={
        "lag_high": Param(5000, type="integer", minimum=1, description="Lag (records) that counts as a breach"),
        "lag_low": Param(500, type="integer", minimum=0, description="Lag under which a job counts as drained"),
        "watch_s": Param(120, type="integer", minimum=10, maximum=3600, description="Length of one quiet watch"),
        "catch_up_s": Param(60, type="integer", minimum=5, description="Drain the backlog within this time"),
        "cooldown_s": Param(180, type="integer", minimum=0, description="Low lag this long before scaling down"),
        "stabilization_s": Param(300, type="integer", minimum=0, maximum=3600,
                                 description="No scaling while the job or its last rescale is younger than "
                                             "this: a young job's measured rates are not yet what it can do"),
        "target_utilization": Param(0.7, type="number", exclusiveMinimum=0, maximum=1),
        "max_parallelism": Param(4, type="integer", minimum=1, maximum=4),
        "drain_timeout_s": Param(180, type="integer", minimum=30,
                                 description="How long verify waits for the drain; if the lag is still high "
                                             "then, the next run decides again with the new rates"),
    },
)
def scale_flink_on_kafka_lag():
    watch = KafkaConsumerLagSensor(
        task_id="watch_lag", groups=GROUPS, threshold="{{ params.lag_high }}", mode="above", poll_interval=3.0,
        watch_timeout_s="{{ params.watch_s }}", succeed_on_timeout=True,
    )

    @task(pool="flink_control")
    def decide(event: dict, params: dict | None = None) -> list[dict]:
        from patternalarm_airflow.hooks.flink import FlinkHook
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook
        from patternalarm_airflow.hooks.kafka_lag import KafkaLagHook
        from patternalarm_airflow.scaling import decide_all

        ctx = get_current_context()
        ti = ctx["ti"]
        # the latest value from an earlier run (map_indexes=-1 asks for one value, not the history)
        low_since = ti.xcom_pull(task_ids="decide", key="low_since", include_prior_dates=True, map_indexes=-1) or {}
        breached = {d for d in DOMAINS if group_id(d) in event.get("groups", [])}
        policy = {k: params[k] for k in ("lag_high", "lag_low", "catch_up_s", "target_utilization",
                                         "max_parallelism")}
        policy["cooldown_s"] = float(params["cooldown_s"])
        policy["stabilization_s"] = float(params["stabilization_s"])
        actions, clocks = decide_all(list(DOMAINS), policy, FlinkHook(), KafkaLagHook(), IncidentStoreHook(),
                                     low_since, breached, ctx["run_id"], logging.getLogger("patternalarm.scaling"),
                                     breach_at=event.get("at") if event.get("status") == "breach" else None)
        ti.xcom_push(key="low_since", value={**low_since, **clocks})
        return actions

    actions = decide(watch.output)
    rescaled = FlinkRescaleJobOperator.partial(task_id="rescale", pool="flink_control", retries=1) \
        .expand_kwargs(actions.map(_rescale_kwargs))
    drained = KafkaConsumerLagSensor.partial(
        task_id="verify_drained", mode="below", threshold="{{ params.lag_low }}", hold_for=10, poll_interval=3.0,
        watch_timeout_s="{{ params.drain_timeout_s }}", succeed_on_timeout=True,
    ).expand_kwargs(actions.map(_verify_kwargs))
    rescaled >> drained

    @task(trigger_rule="all_done")
    def record_outcomes(results: list) -> list[dict]:
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        store, summary = IncidentStoreHook(), []
        for action, rescale, drain in results:
            done = bool(rescale)
            drained_ok = bool(drain) and drain.get("status") == "drained"
            outcome = "drained" if done and drained_ok else ("rescaled" if done else "failed")
            store.finish_scaling_event(action["event_id"], outcome,
                                       rescaled_at=(rescale or {}).get("at") if done else None,
                                       drained_at=drain.get("at") if drained_ok else None)
            summary.append({**action, "outcome": outcome, "rescale_s": (rescale or {}).get("seconds"),
                            "drain_s": (drain or {}).get("waited_s")})
            print(f"{action['domain']}: {action['action']} {action['from']} -> {action['to']}: {outcome} "
                  f"(rescaled in {(rescale or {}).get('seconds')}s, drained after {(drain or {}).get('waited_s')}s)")
        return summary

    record_outcomes(actions.zip(rescaled.output, drained.output))


scale_flink_on_kafka_lag()
