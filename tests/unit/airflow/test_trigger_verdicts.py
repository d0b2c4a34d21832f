"""What settles a trigger — the same verdict the sensors use for their synchronous first poll."""

from __future__ import annotations

from typing import Any

import pytest

from patternalarm_airflow.triggers.flink import FlinkJobHealthyTrigger
from patternalarm_airflow.triggers.kafka_lag import KafkaLagTrigger


def _health(state: str = "RUNNING", tasks: dict[str, int] | None = None, checkpoints: int = 1) -> dict[str, Any]:
    return {"state": state, "tasks": tasks if tasks is not None else {"RUNNING": 4},
            "completed_checkpoints": checkpoints}


@pytest.mark.parametrize(("health", "status"), [
    (_health(), "healthy"),
    (_health(checkpoints=1), "healthy"),
    (_health(checkpoints=0), None),                                   # no checkpoint yet
    (_health(tasks={"RUNNING": 3, "INITIALIZING": 1}), None),         # a task still starting
    (_health(state="CREATED", tasks={"SCHEDULED": 4}), None),
    (_health(state="RESTARTING", tasks={"CANCELING": 4}), None),
    (_health(state="FAILED", tasks={"FAILED": 4}, checkpoints=3), "failed"),
    (_health(state="CANCELED"), "failed"),
    (_health(state="FINISHED"), "failed"),
])
def test_flink_health_verdict(health: dict[str, Any], status: str | None) -> None:
    event = FlinkJobHealthyTrigger(job_id="j", min_checkpoints=1).verdict(health, 2.5)
    assert (event or {}).get("status") == status
    if event is not None:
        assert event["waited_s"] == 2.5 and event["health"] is health


def test_flink_health_verdict_counts_checkpoints() -> None:
    trigger = FlinkJobHealthyTrigger(job_id="j", min_checkpoints=2)
    assert trigger.verdict(_health(checkpoints=1), 0.0) is None
    assert trigger.verdict(_health(checkpoints=2), 0.0)["status"] == "healthy"


def test_lag_breach_names_only_the_groups_above_the_threshold() -> None:
    trigger = KafkaLagTrigger(groups={"a": ["t"], "b": ["u"], "c": ["v"]}, threshold=100)
    assert trigger.breach({"a": 100, "b": 0, "c": 5}, 1.0) is None            # at the threshold is not above
    event = trigger.breach({"a": 101, "b": 0, "c": 5000}, 1.0)
    assert event is not None and event["status"] == "breach"
    assert event["groups"] == ["a", "c"] and event["lags"]["c"] == 5000 and event["threshold"] == 100


def test_a_drain_is_never_settled_before_deferring() -> None:
    # below: the lag must stay low for hold_for seconds, which only the trigger can watch
    trigger = KafkaLagTrigger(groups={"a": ["t"]}, threshold=100, mode="below", hold_for=10)
    assert trigger.check_now() is None
