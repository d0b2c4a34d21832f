"""Suite parameters: thresholds, scope and the traffic signal refuse bad values with clear messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.gx.parameters import ParameterError, Scope, Tables, Thresholds, Traffic

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_thresholds_defaults_match_the_issue() -> None:
    t = Thresholds()
    assert (t.latency_target_s, t.latency_min_share) == (3.0, 0.95)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("latency_min_share", 1.5, "latency_min_share must be between 0 and 1, not 1.5"),
    ("latency_target_s", 0, "latency_target_s must be between 0.1 and 3600"),
    ("clock_skew_s", -1, "clock_skew_s must be between 0 and 3600"),
    ("sample_rows", 500, "sample_rows must be between 1 and 200"),
    ("sample_rows", 2.5, "sample_rows must be an integer"),
    ("alerts_max_age_min", "15", "alerts_max_age_min must be a number"),
    ("latency_target_s", True, "latency_target_s must be a number"),
])
def test_thresholds_refuse_values_out_of_range(field: str, value: object, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        Thresholds(**{field: value})


def test_thresholds_from_mapping_names_the_valid_fields() -> None:
    assert Thresholds.from_mapping({"latency_target_s": 2}).latency_target_s == 2
    with pytest.raises(ParameterError, match=r"unknown threshold\(s\) \['latency'\]: use .*latency_target_s"):
        Thresholds.from_mapping({"latency": 2})


def test_scope_validates_schema_window_and_ids() -> None:
    assert Scope().schema == "public"
    with pytest.raises(ParameterError, match="schema must be a lower-case SQL identifier"):
        Scope(schema='public"; drop table alerts; --')
    with pytest.raises(ParameterError, match="timezone-aware"):
        Scope(since=datetime(2026, 1, 1))
    with pytest.raises(ParameterError, match="must be before until"):
        Scope(since=NOW, until=NOW)
    with pytest.raises(ParameterError, match="rule_ids must be a list of non-empty strings"):
        Scope(rule_ids="card_testing")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="at most 1000 ids"):
        Scope(rule_ids=tuple(f"r{i}" for i in range(1001)))
    scope = Scope.last(timedelta(hours=2), until=NOW, schema="dq_sandbox_x")
    assert (scope.since, scope.until, scope.schema) == (NOW - timedelta(hours=2), NOW, "dq_sandbox_x")
    assert Scope(rule_ids=["a", "b"]).rule_ids == ("a", "b")  # type: ignore[arg-type]


def test_tables_are_quoted_identifiers_of_the_schema() -> None:
    tables = Tables.in_schema("dq_sandbox_x")
    assert tables.alerts.as_string(None) == '"dq_sandbox_x"."alerts"'
    assert set(tables.as_params()) == {"alerts", "incidents", "incident_events", "silences", "scaling_events"}


def test_traffic_flows_only_with_a_recent_event() -> None:
    window = timedelta(minutes=5)
    assert Traffic(NOW, NOW - timedelta(minutes=4), window).flowing
    assert not Traffic(NOW, NOW - timedelta(minutes=6), window).flowing
    assert not Traffic(NOW, None, window).flowing
    with pytest.raises(ParameterError, match="timezone-aware"):
        Traffic(datetime(2026, 1, 1), None)


def test_freshness_deadline_counts_from_the_newest_event() -> None:
    flowing = Traffic(NOW, NOW - timedelta(minutes=1), timedelta(minutes=5))
    assert flowing.fresh_after(timedelta(minutes=15)) == NOW - timedelta(minutes=16)
    assert flowing.fresh_after(timedelta(0)) is None  # disabled
    assert Traffic(NOW, None).fresh_after(timedelta(minutes=15)) is None  # no traffic: not judged
    # an event stamped in the future does not move the deadline past now
    ahead = Traffic(NOW, NOW + timedelta(minutes=2))
    assert ahead.fresh_after(timedelta(minutes=15)) == NOW - timedelta(minutes=15)
