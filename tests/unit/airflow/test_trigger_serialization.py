"""Triggers must round-trip through serialize(): the triggerer rebuilds them from (classpath, kwargs)."""

from __future__ import annotations

import importlib

import pytest
from patternalarm_airflow.triggers.kafka_lag import KafkaLagTrigger

TRIGGERS = [
    KafkaLagTrigger(group="patternalarm-detect-payments", topics=["events.payments"], threshold=5000,
                    mode="above", poll_interval=2.0, hold_for=0.0, timeout=600.0, kafka_config_id="kafka_x"),
    KafkaLagTrigger(group="g", topics=["a", "b"], threshold=10, mode="below", hold_for=30.0),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_serialize_round_trip(trigger) -> None:
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert type(rebuilt) is type(trigger)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_lag_trigger_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        KafkaLagTrigger(group="g", topics=["t"], threshold=1, mode="sideways")
