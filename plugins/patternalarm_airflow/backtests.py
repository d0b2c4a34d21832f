"""The backtest reports inside the Airflow UI (*Browse → Backtests*): a FastAPI app the api-server mounts
at ``/patternalarm-backtests``.

It serves ``<reports_dir>/backtests`` — the folders ``bin/patternalarm backtest`` and the
``backtest_rules`` DAG write (``include/patternalarm/backtest/report.py``):

- ``/``: every backtest, newest first, with its headline figures;
- ``/<folder>/index.html`` (and its ``result.json``, ``report.css`` and plots): one report.

Every route needs a logged-in Airflow user with read access to the runs of ``backtest_rules`` (the
reports show entities and alert evidence). Only the report files by name are served, from folders
named as the backtest names them; every response carries a strict Content-Security-Policy (no
scripts, styles and images from this app only: the reports use no inline styles and no external
assets).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from patternalarm_airflow.console.access import dag_run_reader

URL_PREFIX = "/patternalarm-backtests"
DAG_ID = "backtest_rules"
FOLDER = re.compile(r"^\d{8}T\d{6}-[a-z]+(-[0-9a-f]{8})?$")
FILES = {"index.html": "text/html; charset=utf-8", "result.json": "application/json", "report.css": "text/css",
         "precision_at_k.png": "image/png", "alerts_per_rule.png": "image/png"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; frame-ancestors 'self'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

require_backtest_reader = dag_run_reader(DAG_ID, "reading backtest reports")

app = FastAPI(title="patternalarm backtests", dependencies=[Depends(require_backtest_reader)],
              docs_url=None, redoc_url=None, openapi_url=None)


@app.middleware("http")
async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def backtests_root() -> Path:
    from include.patternalarm.settings import get_settings

    return get_settings().reports_dir / "backtests"


@app.get("/")
def index() -> HTMLResponse:
    """Every backtest, newest first."""
    from include.patternalarm.backtest.report import list_reports, render_index

    return HTMLResponse(render_index(list_reports(backtests_root())), headers={"Cache-Control": "no-store"})


@app.get("/report.css")
def style() -> Response:
    from include.patternalarm.backtest.report import STYLE

    return Response(STYLE, media_type="text/css")


@app.get("/{folder}/")
def report_folder(folder: str) -> Response:
    return report_file(folder, "index.html")


@app.get("/{folder}/{name}")
def report_file(folder: str, name: str) -> Response:
    """A file of one report, by name only (``FILES``)."""
    if not FOLDER.match(folder) or name not in FILES:
        raise HTTPException(status_code=404, detail="not found")
    root = backtests_root().resolve()
    target = (root / folder / name).resolve()
    if target.parent.parent != root or not target.is_file():  # a symlink out of the folder is not followed
        raise HTTPException(status_code=404, detail="not found")
    headers = {"Cache-Control": "no-store"} if name.endswith((".html", ".json")) else {}
    return FileResponse(target, media_type=FILES[name], headers=headers)
