"""The chaos_experiments DAG: typed Params refused before a run exists, a dry run through the scheduler that
records its plan, a deliberately failing experiment that fails its task and opens a platform incident, and the
report inside the Airflow UI behind Airflow's login."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from include.patternalarm.airflow_client import AirflowApiError, AirflowClient
from include.patternalarm.chaos.report import write_report
from include.patternalarm.control.platform import PlatformIncidents
from include.patternalarm.settings import Settings
from tests.integration.quality.test_plugin import _token, api_server  # noqa: F401 - the api-server fixture

DAG = "chaos_experiments"
PREFIX = "/patternalarm-chaos"


@pytest.fixture(scope="module")
def airflow(stack_settings: Settings):
    client = AirflowClient(stack_settings)
    client.wait_parsed(DAG)
    yield client
    client.close()


@pytest.mark.parametrize("conf, reason", [
    ({"experiments": ["meteor_strike"]}, "'meteor_strike' is not one of"),
    ({"rate_per_min": 500_000}, "greater than the maximum of 50000"),
    ({"fault_duration_s": "20"}, "is not of type 'integer'"),
    ({"skip_recovery": "yes"}, "is not of type 'boolean'"),
])
def test_bad_params_are_refused_before_a_run_exists(airflow: AirflowClient, conf: dict, reason: str) -> None:
    with pytest.raises(AirflowApiError) as excinfo:
        airflow.trigger(DAG, conf, unpause=False)
    assert "HTTP 400" in str(excinfo.value) and reason in str(excinfo.value)


@pytest.mark.usefixtures("platform_running")
def test_a_dry_run_through_the_scheduler_records_each_plan(stack_settings: Settings, airflow: AirflowClient) -> None:
    was_paused = airflow.is_paused(DAG)
    try:
        run_id = airflow.trigger(DAG, {"experiments": ["sink_kill", "gateway_down"], "dry_run": True})
        result = airflow.wait(DAG, run_id, timeout=600)
    finally:
        airflow.set_paused(DAG, was_paused)
    assert result.ok, result.tasks
    prepared = {t: s for t, s in result.tasks.items() if t.endswith(".prepare")}
    assert prepared["sink_kill.prepare"] == prepared["gateway_down.prepare"] == "skipped"  # dry run: plan only
    assert prepared["taskmanager_kill.prepare"] == "skipped"  # not selected
    with psycopg.connect(stack_settings.db_conninfo("reporting")) as conn:
        rows = conn.execute("select experiment, status, result->>'plan' from chaos_runs where requested_by = %s"
                            " order by id", (f"{DAG}/{run_id}",)).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("sink_kill", "dry_run"), ("gateway_down", "dry_run")]
    assert "SIGKILL incident-sink" in rows[0][2]


@pytest.mark.usefixtures("platform_running")
def test_a_deliberately_failing_experiment_fails_its_task_and_opens_a_platform_incident(
        stack_settings: Settings, airflow: AirflowClient) -> None:
    # skip_recovery keeps the killed sink down past its 60 s recovery limit: the experiment must fail on that
    was_paused = airflow.is_paused(DAG)
    try:
        run_id = airflow.trigger(DAG, {"experiments": ["sink_kill"], "skip_recovery": True, "rate_per_min": 6_000,
                                       "steady_s": 10, "after_s": 10, "fault_duration_s": 5})
        result = airflow.wait(DAG, run_id, timeout=900)
    finally:
        airflow.set_paused(DAG, was_paused)
    assert result.state == "failed", result.tasks
    assert result.tasks["sink_kill.evaluate"] == "failed", result.tasks
    with psycopg.connect(stack_settings.db_conninfo("reporting"), row_factory=dict_row) as conn:
        (row,) = conn.execute("select id, status, failures, recovery_s, lost from chaos_runs where requested_by = %s",
                              (f"{DAG}/{run_id}",)).fetchall()
        incident = conn.execute(
            "select status, severity, summary, details from incidents where domain = 'platform'"
            " and rule_id = 'chaos_experiment' and entity = 'sink_kill' order by incident_id desc limit 1").fetchone()
    try:
        assert row["status"] == "failed" and row["recovery_s"] is None
        assert any("no recovery within 60s" in f for f in row["failures"]), row["failures"]
        assert row["lost"] == 0  # the sink was down, not the detection: nothing is lost once it is back
        assert incident is not None and incident["status"] == "open" and incident["severity"] == "high"
        assert incident["details"]["chaos_run_id"] == row["id"]
        assert "no recovery within 60s" in incident["summary"]
    finally:
        PlatformIncidents(stack_settings.db_conninfo("control")).resolve("chaos_experiment", "sink_kill",
                                                                        "closed by the test that opened it")


def test_the_chaos_report_is_in_the_ui_behind_the_login(api_server: tuple[str, Path],  # noqa: F811
                                                        stack_settings: Settings) -> None:
    base, reports = api_server
    settings = stack_settings.model_copy(update={"data_dir": reports.parent})
    batch = {"batch_id": "chaos-20261202T120000-abcd", "requested_by": "test", "seconds": 12.5,
             "config": {"rate_per_min": 20000}, "passed": False,
             "experiments": [{"experiment": "sink_kill", "status": "failed", "failures": ["<b>no recovery</b>"],
                              "recovery_s": None, "limit_s": 60.0, "latency_s": {}}]}
    write_report(settings, batch)
    for path in ("/", f"/{batch['batch_id']}/index.html", f"/{batch['batch_id']}/report.json"):
        assert requests.get(f"{base}{PREFIX}{path}", timeout=10).status_code == 401, path
    headers = {"Authorization": f"Bearer {_token(base, stack_settings)}"}
    index = requests.get(f"{base}{PREFIX}/", headers=headers, timeout=10)
    assert index.status_code == 200 and f"{batch['batch_id']}/index.html" in index.text
    page = requests.get(f"{base}{PREFIX}/{batch['batch_id']}/index.html", headers=headers, timeout=10)
    assert page.status_code == 200 and "&lt;b&gt;no recovery&lt;/b&gt;" in page.text  # escaped, not markup
    assert requests.get(f"{base}{PREFIX}/..%2f..%2fsecrets.env", headers=headers, timeout=10).status_code == 404
    plugins = requests.get(f"{base}/api/v2/plugins", headers=headers, timeout=10).json()["plugins"]
    views = next(p for p in plugins if p["name"] == "patternalarm")["external_views"]
    assert ("nav", "patternalarm-chaos/") in {(v["destination"], v["href"]) for v in views}
