"""validate_incident_tables in the real Airflow: a failed expectation fails the run and opens an incident.

Runs go through ``airflow dags test`` (the real metadata database, connections and task runner)
rather than the scheduler, so the shared stack's DAG stays paused and no hourly run starts on the
shared tables. Each run validates a sandbox copy of the clean run, never ``public``.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql
from psycopg.rows import dict_row

from include.patternalarm.quality import sandbox
from include.patternalarm.settings import Settings
from include.patternalarm.stack import airflow as airflow_stack
from tests.integration.quality.conftest import CleanRun, copy_clean_run
from tests.support import wait_until

DAG_ID = "validate_incident_tables"


def _dags_test(settings: Settings, conf: dict[str, Any]) -> subprocess.CompletedProcess:
    env = {**os.environ, **airflow_stack.environment(settings)}
    return subprocess.run([str(settings.venv_dir / "bin" / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(conf)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=settings.repo_root)


def _platform_incident(settings: Settings, schema: str) -> dict[str, Any] | None:
    with psycopg.connect(settings.db_conninfo("reporting"), row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM incidents WHERE domain = 'platform' AND rule_id = 'data_quality' "
                            "AND entity = %s ORDER BY incident_id DESC LIMIT 1", (schema,)).fetchone()


def _latest_run(settings: Settings, headers: dict[str, str], schema: str) -> dict[str, Any]:
    runs = requests.get(f"{settings.airflow_api}/api/v2/dags/{DAG_ID}/dagRuns", headers=headers, timeout=10,
                        params={"order_by": "-start_date", "limit": 20}).json()["dag_runs"]
    return next(r for r in runs if (r.get("conf") or {}).get("schema") == schema)


def test_a_failed_expectation_fails_the_run_names_the_rows_and_opens_an_incident(
        stack_settings: Settings, owner: psycopg.Connection, clean_run: CleanRun) -> None:
    settings = stack_settings
    schema = sandbox.create_sandbox(owner)
    headers = {"Authorization": f"Bearer {airflow_stack.api_token(settings)}"}
    conf = {"schema": schema, "full_scan": True, "alerts_max_age_min": 0, "scaling_max_age_min": 0}
    try:
        copy_clean_run(owner, schema, clean_run)
        incidents = sql.Identifier(schema, "incidents")
        incident_id = owner.execute(sql.SQL(
            "UPDATE {t} SET alert_count = alert_count + 5 WHERE incident_id = "
            "(SELECT min(incident_id) FROM {t} WHERE domain <> 'platform') RETURNING incident_id"
        ).format(t=incidents)).fetchone()["incident_id"]

        failed = _dags_test(settings, conf)
        output = failed.stdout + failed.stderr
        run = _latest_run(settings, headers, schema)
        assert run["state"] == "failed", output[-3000:]
        tis = requests.get(f"{settings.airflow_api}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances",
                           headers=headers, timeout=10).json()["task_instances"]
        assert {t["task_id"]: t["state"] for t in tis} == {"validate": "success", "gate": "failed"}
        # the gate's log names the check and the row that broke it
        assert "incidents.count_matches_alerts: 1 row(s) broke" in output
        assert f"incident_id={incident_id}" in output
        incident = _platform_incident(settings, schema)
        assert incident is not None and incident["status"] == "open" and incident["severity"] == "high"
        assert "incidents.count_matches_alerts" in incident["summary"]
        (failure,) = incident["details"]["failures"]
        assert failure["sample"][0]["incident_id"] == incident_id
        assert incident["details"]["report"].endswith("index.html")

        # repaired data: the next run passes and resolves the incident
        sandbox.drop_sandbox(owner, schema)
        sandbox.create_sandbox(owner, name=schema)
        copy_clean_run(owner, schema, clean_run)
        passed = _dags_test(settings, conf)
        assert _latest_run(settings, headers, schema)["state"] == "success", (passed.stdout + passed.stderr)[-3000:]
        assert _platform_incident(settings, schema)["status"] == "resolved"
    finally:
        sandbox.drop_sandbox(owner, schema)
        with psycopg.connect(settings.db_conninfo("control"), autocommit=True) as control:
            control.execute("SELECT resolve_platform_incident('data_quality', %s, 'test over')", (schema,))


@pytest.mark.parametrize(("conf", "field"), [
    ({"lookback_hours": "two"}, "lookback_hours"),
    ({"lookback_hours": 0}, "lookback_hours"),
    ({"latency_min_share": 1.5}, "latency_min_share"),
    ({"schema": "public; drop table alerts"}, "schema"),
    ({"rule_ids": "card_testing"}, "rule_ids"),
    ({"full_scan": "yes"}, "full_scan"),
])
def test_wrong_params_are_refused_before_a_run_exists(stack_settings: Settings, conf: dict[str, Any],
                                                      field: str) -> None:
    api = stack_settings.airflow_api
    headers = {"Authorization": f"Bearer {airflow_stack.api_token(stack_settings)}"}
    wait_until(lambda: requests.get(f"{api}/api/v2/dags/{DAG_ID}", headers=headers, timeout=10).ok, timeout=120,
               what=f"{DAG_ID} parsed by the dag-processor")
    response = requests.post(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", headers=headers, timeout=10,
                             json={"logical_date": None, "conf": conf})
    assert response.status_code == 400, response.text
    assert field in response.text
