"""The report inside the Airflow UI: the plugin in a real api-server, behind Airflow's login.

The shared api-server loaded its plugins when it started, so this test starts an api-server of its
own (``own_api_server``: same metadata database and auth settings, another port,
``PATTERNALARM_DATA_DIR`` pointing at the test's folder so it serves a report the test wrote).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from include.patternalarm.quality import report
from include.patternalarm.quality.results import CheckResult, ValidationRun
from include.patternalarm.settings import Settings
from tests.support import own_api_server

PREFIX = "/patternalarm-quality"


@pytest.fixture(scope="module")
def api_server(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("dq-plugin-data")
    with own_api_server(stack_settings, data_dir / "api-server.log", PATTERNALARM_DATA_DIR=str(data_dir)) as base:
        yield base, data_dir / "reports"


def _token(base: str, settings: Settings) -> str:
    response = requests.post(f"{base}/auth/token", timeout=10, json={
        "username": settings.airflow_admin_user, "password": settings.secret("airflow_admin_password")})
    response.raise_for_status()
    return response.json()["access_token"]


def _a_report(reports: Path) -> ValidationRun:
    t0 = datetime.now(UTC)
    run = ValidationRun("20261126T100000Z-0badc0de", t0, t0 + timedelta(seconds=2), {"schema": "public"}, [
        CheckResult("alerts.belongs_to_incident", "alerts", "expect_query_to_return_no_rows", "failed",
                    "every alert belongs to an incident", None, 1, sample=[{"alert_id": "c0ffee" * 10 + "beef"}])])
    report.write_report(run, reports, dag_id="validate_incident_tables", dag_run_id="manual__plugin-test")
    return run


def test_the_plugin_is_loaded_with_its_views(api_server: tuple[str, Path], stack_settings: Settings) -> None:
    base, _ = api_server
    headers = {"Authorization": f"Bearer {_token(base, stack_settings)}"}
    plugins = requests.get(f"{base}/api/v2/plugins", headers=headers, timeout=10).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "patternalarm")
    assert {(v["destination"], v["href"]) for v in ours["external_views"]} >= {
        ("nav", "patternalarm-quality/"), ("dag_run", "patternalarm-quality/airflow-run/{DAG_ID}/{RUN_ID}")}
    assert ours["fastapi_apps"][0]["url_prefix"] == PREFIX


def test_every_route_needs_a_login_and_serves_the_report(api_server: tuple[str, Path],
                                                         stack_settings: Settings) -> None:
    base, reports = api_server
    run = _a_report(reports)
    token = _token(base, stack_settings)
    paths = ["/", "/index.html", f"/runs/{run.run_id}/index.html", f"/runs/{run.run_id}/summary.json",
             "/airflow-run/validate_incident_tables/manual__plugin-test", "/no-such-file"]
    for path in paths:
        anonymous = requests.get(f"{base}{PREFIX}{path}", timeout=10, allow_redirects=False)
        assert anonymous.status_code == 401, (path, anonymous.status_code)
        forged = requests.get(f"{base}{PREFIX}{path}", timeout=10, allow_redirects=False,
                              headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code in (401, 403), (path, forged.status_code)

    headers = {"Authorization": f"Bearer {token}"}
    index = requests.get(f"{base}{PREFIX}/", headers=headers, timeout=10)
    assert index.status_code == 200 and f"runs/{run.run_id}/index.html" in index.text
    # the browser's way: the UI's session cookie
    page = requests.get(f"{base}{PREFIX}/runs/{run.run_id}/index.html", cookies={"_token": token}, timeout=10)
    assert page.status_code == 200 and "c0ffee" in page.text and page.headers["cache-control"] == "no-store"
    # a DAG run's tab finds its report; other runs get a note, not an error
    tab = requests.get(f"{base}{PREFIX}/airflow-run/validate_incident_tables/manual__plugin-test", headers=headers,
                       timeout=10)
    assert tab.status_code == 200 and tab.url.endswith(f"{PREFIX}/runs/{run.run_id}/index.html")
    other = requests.get(f"{base}{PREFIX}/airflow-run/check_platform_connections/manual__x", headers=headers,
                         timeout=10)
    assert other.status_code == 200 and "does not validate data quality" in other.text
    assert requests.get(f"{base}{PREFIX}/no-such-file", headers=headers, timeout=10).status_code == 404


@pytest.mark.parametrize("path", ["/..%2f..%2fsecrets.env", "/%2e%2e/%2e%2e/secrets.env",
                                  "/runs/%2e%2e/%2e%2e/secrets.env", "/%2fetc%2fpasswd"])
def test_nothing_outside_the_report_folder_is_served(api_server: tuple[str, Path], stack_settings: Settings,
                                                    path: str) -> None:
    base, reports = api_server
    (reports.parent / "secrets.env").write_text("PATTERNALARM_SECRET=leak")
    response = requests.get(f"{base}{PREFIX}{path}", timeout=10,
                            headers={"Authorization": f"Bearer {_token(base, stack_settings)}"})
    assert response.status_code == 404 and "leak" not in response.text
