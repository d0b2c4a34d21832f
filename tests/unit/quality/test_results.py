"""Results: GX's validation results become CheckResults that say which rows broke what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.gx.expectations import ExpectQueryToReturnNoRows
from include.patternalarm.quality.results import CheckResult, ValidationRun, check_result_from_gx

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _config(kind: str, check_id: str, **kwargs: object) -> dict:
    return {"type": kind, "kwargs": {**kwargs, "batch_id": "incident_store-alerts"}, "meta": {"check_id": check_id},
            "description": f"description of {check_id}"}


def test_a_failed_sql_check_carries_its_rows() -> None:
    config = _config("expect_query_to_return_no_rows", "alerts.belongs_to_incident", unexpected_rows_query="SELECT …")
    raw = {"success": False, "expectation_config": config,
           "result": {"observed_value": 2, "details": {"unexpected_rows": [{"alert_id": "a1"}, {"alert_id": "a2"}]}},
           "exception_info": {"raised_exception": False, "exception_message": None, "exception_traceback": None}}
    r = check_result_from_gx(raw, suite="alerts")
    assert (r.check_id, r.status, r.unexpected_count, r.sample) == (
        "alerts.belongs_to_incident", "failed", 2, [{"alert_id": "a1"}, {"alert_id": "a2"}])
    assert "batch_id" not in r.detail["kwargs"]
    assert r.headline() == "alerts.belongs_to_incident: 2 row(s) broke description of alerts.belongs_to_incident"


def test_a_failed_map_expectation_names_rows_by_key() -> None:
    raw = {"success": False, "expectation_config": _config("expect_column_values_to_be_in_set",
                                                             "scaling_events.domain_in_set", column="domain"),
           "result": {"element_count": 40, "unexpected_count": 1, "unexpected_percent": 2.5,
                      "partial_unexpected_list": ["bogus"],
                      "partial_unexpected_index_list": [{"id": 7, "domain": "bogus"}]},
           "exception_info": {"raised_exception": False}}
    r = check_result_from_gx(raw, suite="scaling_events")
    assert r.sample == [{"id": 7, "domain": "bogus"}] and r.element_count == 40
    assert "1 of 40 (2.50 %) row(s) broke" in r.headline()


def test_an_expectation_that_could_not_run_is_an_error_with_the_database_message() -> None:
    traceback = ("Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                 "psycopg.errors.UndefinedTable: relation \"x.alerts\" does not exist\n\nThe above exception…\n"
                 "great_expectations.exceptions.MetricResolutionError: boom\n")
    raw = {"success": False, "expectation_config": _config("expect_query_to_return_no_rows", "alerts.fresh"),
           "result": {}, "exception_info": {"MetricConfigurationID(...)": {
               "exception_traceback": traceback, "exception_message": None, "raised_exception": True}}}
    r = check_result_from_gx(raw, suite="alerts")
    assert r.status == "error" and r.broken
    assert r.detail["exception"] == "psycopg.errors.UndefinedTable: relation \"x.alerts\" does not exist"
    flat = {**raw, "exception_info": {"raised_exception": True, "exception_message": "division by zero\nmore"}}
    assert check_result_from_gx(flat, suite="alerts").detail["exception"] == "division by zero"


def test_a_run_reports_failures_with_their_rows() -> None:
    results = [
        CheckResult("alerts.alert_id_unique", "alerts", "t", "passed", "unique", 10, 0, 0.0),
        CheckResult("incidents.count_matches_alerts", "incidents", "t", "failed", "counts match", None, 1, None, 1,
                    sample=[{"incident_id": 42, "alert_count": 3, "linked_alerts": 2}]),
        CheckResult("alerts.fresh", "alerts", "t", "skipped", "fresh", detail={"reason": "no traffic"}),
    ]
    run = ValidationRun("20261126T100000Z-0123abcd", T0, T0 + timedelta(seconds=3), {"schema": "public"}, results,
                        report_path="/r/index.html")
    assert not run.success and [r.check_id for r in run.broken] == ["incidents.count_matches_alerts"]
    text = run.failure_report()
    assert "1 of 2 expectations failed" in text
    assert "incident_id=42, alert_count=3, linked_alerts=2" in text
    assert text.endswith("report: /r/index.html")
    summary = run.summary()
    assert (summary["evaluated"], summary["failed"], summary["skipped"], summary["duration_s"]) == (2, 1, 1, 3.0)
    ok = ValidationRun("r", T0, T0, {}, [results[0]])
    assert ok.success and ok.failure_report() == "data quality run r: all 1 expectations passed"


def test_status_is_checked() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        CheckResult("a.b", "a", "t", "green", "d")


class _Expectation(ExpectQueryToReturnNoRows):
    pass


@pytest.mark.parametrize(("result_format", "rows_back"), [
    ({"result_format": "SUMMARY", "partial_unexpected_count": 3}, 3),
    ({"result_format": "COMPLETE"}, 50),
    ("SUMMARY", 20),
])
def test_the_sql_expectation_reports_a_bounded_sample(result_format: object, rows_back: int) -> None:
    expectation = ExpectQueryToReturnNoRows(unexpected_rows_query="SELECT 1 FROM {batch} WHERE false")
    metrics = {"unexpected_rows_query.table": [{"k": i} for i in range(50)], "unexpected_rows_query.row_count": 1234}
    out = expectation._validate(metrics, runtime_configuration={"result_format": result_format})
    assert out["success"] is False and out["result"]["observed_value"] == 1234
    assert len(out["result"]["details"]["unexpected_rows"]) == rows_back
    passing = expectation._validate({"unexpected_rows_query.table": [], "unexpected_rows_query.row_count": 0},
                                    runtime_configuration={"result_format": "BOOLEAN_ONLY"})
    assert passing == {"success": True}
