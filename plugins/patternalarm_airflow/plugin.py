"""patternalarm's Airflow plugin: the incident console, the data-quality report, the backtest reports and
the chaos report (``patternalarm_airflow.chaos``) inside the Airflow UI.

The incident console (``console/``: queue, incident pages, actions, rule quality) is a FastAPI app
mounted at ``/patternalarm-incidents`` and shown as *Browse → Incidents*; see its package docstring.
The backtest reports (``backtests.py``) are mounted at ``/patternalarm-backtests`` and shown as
*Browse → Backtests*.

A small FastAPI app, mounted by the api-server at ``/patternalarm-quality``, serves the report
folder ``<reports_dir>/quality`` that ``validate_incident_tables`` writes (see
``include/patternalarm/quality/report.py``), and two external views put it in the UI:

- *Browse → Data quality*: the list of validation runs, each with its checks, the offending rows
  and links to the Great Expectations Data Docs pages;
- a *Data quality* tab on every DAG run, showing that run's report (validate_incident_tables runs
  have one; other runs say so).

Plugin apps are not protected by Airflow: every route here resolves the caller with Airflow's own
authentication (the UI's ``_token`` cookie or a bearer token) and requires read access to the
``validate_incident_tables`` DAG's runs — the report shows alert ids and entities. Files are served
only from inside the report folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from patternalarm_airflow.backtests import URL_PREFIX as BACKTESTS_PREFIX
from patternalarm_airflow.backtests import app as backtests_app
from patternalarm_airflow.console import URL_PREFIX as CONSOLE_PREFIX
from patternalarm_airflow.console import app as console_app
from patternalarm_airflow.console.access import dag_run_reader

URL_PREFIX = "/patternalarm-quality"
DAG_ID = "validate_incident_tables"
_RUN_DIR = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


#: the authenticated Airflow user, if they may read the runs of ``validate_incident_tables`` (else 401/403)
require_report_reader = dag_run_reader(DAG_ID, "reading the data-quality report")


def report_root() -> Path:
    from include.patternalarm.quality.report import quality_root
    from include.patternalarm.settings import get_settings

    return quality_root(get_settings().reports_dir)


def resolve_inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it stays inside ``root`` (no ``..``, no symlink escape), else ``None``."""
    base = root.resolve()
    try:
        target = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if target != base and base not in target.parents:
        return None
    return target


app = FastAPI(title="patternalarm data quality", dependencies=[Depends(require_report_reader)],
              docs_url=None, redoc_url=None, openapi_url=None)


def _no_report(message: str, status: int = 200) -> HTMLResponse:
    import html

    return HTMLResponse(f"<!doctype html><meta charset='utf-8'><body style='font-family:system-ui;margin:1.5rem'>"
                        f"<p>{html.escape(message)}</p><p><a href='../../'>all data-quality runs</a></p>",
                        status_code=status)


@app.get("/airflow-run/{dag_id}/{run_id}")
def report_of_dag_run(dag_id: str, run_id: str) -> Response:
    """The report of one Airflow run (the *Data quality* tab of a DAG run)."""
    if dag_id != DAG_ID:
        return _no_report(f"{dag_id} does not validate data quality: the reports belong to {DAG_ID} runs.")
    runs = report_root() / "runs"
    if runs.is_dir():
        for path in sorted(runs.iterdir(), reverse=True):
            summary = path / "summary.json"
            if not (_RUN_DIR.match(path.name) and summary.is_file()):
                continue
            try:
                data = json.loads(summary.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if data.get("dag_id") == dag_id and data.get("dag_run_id") == run_id:
                # relative: /…/airflow-run/<dag>/<run> → /…/runs/<id>/index.html, whatever the mount prefix
                return RedirectResponse(f"../../runs/{path.name}/index.html", status_code=307)
    return _no_report(f"No data-quality report for run {run_id} (yet): the validate task writes it when it "
                      f"finishes; reports older than the kept ones are pruned.")


def serve_from(root: Path, path: str, empty_index: Callable[[], str]) -> Response:
    """A file of a report folder (``index.html`` for a folder; ``empty_index()`` while none was written)."""
    target = resolve_inside(root, path)
    if target is None:
        raise HTTPException(status_code=404, detail="not found")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        if target == root.resolve() / "index.html":
            return HTMLResponse(empty_index())
        raise HTTPException(status_code=404, detail="not found")
    headers = {"Cache-Control": "no-store"} if target.suffix in (".html", ".json") else {}
    return FileResponse(target, headers=headers)


@app.get("/{path:path}")
def report_file(path: str) -> Response:
    """A file of the report folder (``index.html`` for a folder)."""
    from include.patternalarm.quality.report import render_index

    return serve_from(report_root(), path, lambda: render_index([]))


def _chaos_app() -> Any:
    from patternalarm_airflow.chaos import app as chaos

    return chaos


class PatternalarmPlugin(AirflowPlugin):
    name = "patternalarm"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": app, "url_prefix": URL_PREFIX, "name": "patternalarm data quality"},
        {"app": console_app, "url_prefix": CONSOLE_PREFIX, "name": "patternalarm incident console"},
        {"app": backtests_app, "url_prefix": BACKTESTS_PREFIX, "name": "patternalarm backtests"},
        {"app": _chaos_app(), "url_prefix": "/patternalarm-chaos", "name": "patternalarm chaos experiments"},
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {"name": "Incidents", "href": f"{CONSOLE_PREFIX.lstrip('/')}/", "destination": "nav",
         "url_route": "incidents", "icon": f"{CONSOLE_PREFIX.lstrip('/')}/static/icon.svg"},
        {"name": "Data quality", "href": f"{URL_PREFIX.lstrip('/')}/", "destination": "nav", "category": "browse",
         "url_route": "data-quality"},
        {"name": "Data quality", "href": f"{URL_PREFIX.lstrip('/')}/airflow-run/{{DAG_ID}}/{{RUN_ID}}",
         "destination": "dag_run", "url_route": "data-quality-run"},
        {"name": "Backtests", "href": f"{BACKTESTS_PREFIX.lstrip('/')}/", "destination": "nav", "category": "browse",
         "url_route": "backtests"},
        {"name": "Chaos experiments", "href": "patternalarm-chaos/", "destination": "nav", "category": "browse",
         "url_route": "chaos-experiments"},
    ]
