"""The backtest reports in the plugin: every route behind the reader check, only report files by name,
a strict CSP on every answer (the login itself is checked in a real api-server: tests/integration/backtest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from include.patternalarm.backtest.report import write_report
from patternalarm_airflow import backtests
from patternalarm_airflow.backtests import URL_PREFIX, app, require_backtest_reader
from patternalarm_airflow.plugin import PatternalarmPlugin
from tests.unit.backtest.conftest import make_result

FOLDER = "20261202T100000-payments-0badc0de"


def test_every_route_requires_the_backtest_reader() -> None:
    assert [d.dependency for d in app.router.dependencies] == [require_backtest_reader]
    routes = list(app.routes)
    assert routes and all(isinstance(r, APIRoute) for r in routes), "no mounted sub-apps (they skip dependencies)"
    assert app.openapi_url is None and app.docs_url is None


def test_the_plugin_mounts_it_under_browse() -> None:
    entry = next(e for e in PatternalarmPlugin.fastapi_apps if e["url_prefix"] == URL_PREFIX)
    assert entry["app"] is app
    view = next(v for v in PatternalarmPlugin.external_views if v["url_route"] == "backtests")
    assert (view["href"], view["destination"], view["category"]) == ("patternalarm-backtests/", "nav", "browse")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder with one report (plots drawn once for the module) and bait outside it."""
    base = tmp_path_factory.mktemp("backtests-plugin")
    root = base / "reports" / "backtests"
    write_report(make_result(), root / FOLDER)
    (root / FOLDER / "result.json").write_text(json.dumps(make_result()))
    (base / "secrets.env").write_text("PATTERNALARM_SECRET=leak")
    (base / "index.html").write_text("leak")  # what the symlinked folder would serve
    (root / "20261202T110000-payments-deadbeef").symlink_to(base)  # a folder name that points outside
    return root


@pytest.fixture
def client(reports: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Path]]:
    monkeypatch.setattr(backtests, "backtests_root", lambda: reports)
    app.dependency_overrides[require_backtest_reader] = lambda: "reader"
    try:
        yield TestClient(app), reports
    finally:
        app.dependency_overrides.clear()


def test_the_list_and_a_report_with_its_files(client: tuple[TestClient, Path]) -> None:
    http, _ = client
    index = http.get("/")
    assert index.status_code == 200 and f"{FOLDER}/index.html" in index.text and "report.css" in index.text
    assert http.get("/report.css").headers["content-type"].startswith("text/css")
    page = http.get(f"/{FOLDER}/index.html")
    assert page.status_code == 200 and "Per rule" in page.text and page.headers["cache-control"] == "no-store"
    assert http.get(f"/{FOLDER}/").text == page.text
    assert http.get(f"/{FOLDER}/precision_at_k.png").content[:4] == b"\x89PNG"
    assert http.get(f"/{FOLDER}/result.json").json()["tag"] == "0badc0de"
    for response in (index, page, http.get("/nope/index.html")):
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", [
    f"/{FOLDER}/other.html", f"/{FOLDER}/..%2f..%2fsecrets.env", "/..%2fsecrets.env/index.html",
    "/20261202T110000-payments-deadbeef/secrets.env", "/20261202T110000-payments-deadbeef/index.html",
    f"/{FOLDER}x/index.html", "/%2e%2e/secrets.env",
])
def test_nothing_but_report_files_is_served(client: tuple[TestClient, Path], path: str) -> None:
    http, _ = client
    response = http.get(path)
    assert response.status_code == 404 and "leak" not in response.text
