"""Triggers must round-trip through serialize(): the triggerer rebuilds them from (classpath, kwargs)."""

from __future__ import annotations

import importlib

import pytest

from patternalarm_airflow.triggers.flink import FlinkJobHealthyTrigger
from patternalarm_airflow.triggers.kafka_lag import KafkaLagTrigger

TRIGGERS = [
    KafkaLagTrigger(groups={"patternalarm-detect-payments": ["events.payments"]}, threshold=5000,
                    mode="above", poll_interval=2.0, hold_for=0.0, timeout=600.0, kafka_config_id="kafka_x"),
    KafkaLagTrigger(groups={"g": ["a", "b"], "h": ["c"]}, threshold=10, mode="below", hold_for=30.0),
    FlinkJobHealthyTrigger(job_id="0123abcd", timeout=120.0, poll_interval=1.0, min_checkpoints=2,
                           flink_conn_id="flink_x"),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_serialize_round_trip(trigger) -> None:
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert type(rebuilt) is type(trigger)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_lag_trigger_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode"):
        KafkaLagTrigger(groups={"g": ["t"]}, threshold=1, mode="sideways")
    with pytest.raises(ValueError, match="topics"):
        KafkaLagTrigger(groups={"g": []}, threshold=1)
