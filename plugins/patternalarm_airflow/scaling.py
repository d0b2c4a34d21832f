"""What `scale_flink_on_kafka_lag` does after its lag watch fires, on top of the hooks.

For every domain job: measure (parallelism, lag, input rate from end-offset growth, processed rate
and busy share from Flink's metrics, partitions, free slots, how long lag has been low, time since
the last scaling, how long the job has run), decide with
``include.patternalarm.control.autoscale.decide``, and record every decision that matters — with all
its inputs — in ``scaling_events`` and the task log.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from include.patternalarm.control.autoscale import Observation, ScalingPolicy, decide
from include.patternalarm.rules import group_id
from include.patternalarm.topics import EVENTS

if TYPE_CHECKING:
    from include.patternalarm.flink.rest import JobInfo
    from patternalarm_airflow.hooks.flink import FlinkHook
    from patternalarm_airflow.hooks.incidents import IncidentStoreHook
    from patternalarm_airflow.hooks.kafka_lag import KafkaLagHook


def observe(domain: str, job: JobInfo, flink: FlinkHook, kafka: KafkaLagHook, low_since: float | None,
            since_last_scaling_s: float | None, lag_low: int) -> tuple[Observation, float | None]:
    """One observation of the domain's job; returns it and the updated "lag low since" wall time."""
    group, topics = group_id(domain), [EVENTS[domain]]
    first, t1 = kafka.lag(group, topics), time.time()
    metrics = flink.rates(job.id, samples=3, interval_s=1.0)
    second, t2 = kafka.lag(group, topics), time.time()
    input_rate = max(0.0, (second.end_offsets - first.end_offsets) / max(t2 - t1, 1e-3))
    lag = second.total
    now = time.time()
    low_since = (low_since or now) if lag < lag_low else None
    health = flink.health(job.id)
    observation = Observation(
        parallelism=max(health.parallelism, 1), lag=lag, input_rate=input_rate,
        processed_rate=metrics["processed_rate"], busy_fraction=metrics["busy_fraction"],
        partitions=len(second.partitions), free_slots=flink.cluster_slots()["free"],
        low_lag_for_s=now - low_since if low_since else 0.0,
        since_last_scaling_s=since_last_scaling_s if since_last_scaling_s is not None else math.inf,
        running_for_s=max(0.0, now - job.start_time / 1000) if job.start_time else math.inf,
    )
    return observation, low_since


def decide_all(domains: list[str], policy_args: dict[str, Any], flink: FlinkHook, kafka: KafkaLagHook,
               store: IncidentStoreHook, low_since: dict[str, float | None], breached: set[str],
               run_id: str, log: Any, breach_at: float | None = None,
               ) -> tuple[list[dict[str, Any]], dict[str, float | None]]:
    """Decide for every domain with a running job; returns the rescale actions and the new low-lag clocks."""
    actions: list[dict[str, Any]] = []
    clocks: dict[str, float | None] = {}
    for domain in domains:
        job = flink.find_job(domain)
        if job is None:
            log.info("%s: no running job, nothing to scale", domain)
            continue
        desired = store.desired_deployment(domain) or {}
        baseline = int(desired.get("parallelism") or 1)
        policy = ScalingPolicy(**{**policy_args, "min_parallelism": min(baseline, policy_args["max_parallelism"])})
        observation, clocks[domain] = observe(domain, job, flink, kafka, low_since.get(domain),
                                              store.seconds_since_last_scaling(domain), policy.lag_low)
        decision = decide(observation, policy)
        seen = {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in observation.__dict__.items()}
        inputs = {"observation": seen, "policy": policy.__dict__,
                  "capacity_per_subtask": round(decision.capacity_per_subtask, 1),
                  "required_rate": round(decision.required_rate, 1), "breached": domain in breached,
                  "breach_seen_at": breach_at if domain in breached else None,
                  "decided_after_breach_s": round(time.time() - breach_at, 1) if breach_at and domain in breached
                  else None}
        log.info("%s: %s %s -> %s: %s | inputs %s", domain, decision.action, observation.parallelism,
                 decision.target_parallelism, decision.reason, inputs)
        if decision.action == "hold" and domain not in breached:
            continue  # quiet and nothing to change: logged, not recorded
        event_id = store.record_scaling_event(
            domain=domain, job_id=job.id, action=decision.action, from_parallelism=observation.parallelism,
            to_parallelism=decision.target_parallelism, reason=decision.reason, inputs=inputs, dag_run_id=run_id)
        if decision.action != "hold":
            actions.append({"domain": domain, "job_id": job.id, "event_id": event_id,
                            "from": observation.parallelism, "to": decision.target_parallelism,
                            "action": decision.action, "decided_at": time.time()})
    return actions, clocks
