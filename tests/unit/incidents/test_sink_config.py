"""Sink options are checked before anything connects; back-off grows and is capped."""

from __future__ import annotations

import pytest

from include.patternalarm.incidents import SinkConfig, SinkError
from include.patternalarm.incidents.sink import Backoff


@pytest.mark.parametrize(("changes", "message"), [
    ({"topic": " "}, "--topic"),
    ({"group": ""}, "--group"),
    ({"dlq_topic": "alerts"}, "must differ"),
    ({"batch_size": 0}, "--batch-size"),
    ({"batch_size": 10_001}, "--batch-size"),
    ({"metrics_port": 70000}, "--metrics-port"),
    ({"auto_resolve_every_s": -1}, "--auto-resolve-every"),
])
def test_bad_options_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(SinkError, match=message):
        SinkConfig(**changes).validate()


def test_defaults_are_valid() -> None:
    config = SinkConfig().validate()
    assert config.topic == "alerts" and config.group == "patternalarm-incident-sink"
    assert config.dlq_topic == "alerts.dlq"


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(0.5, 4.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
