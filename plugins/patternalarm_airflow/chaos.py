"""The chaos report inside the Airflow UI, and what the ``chaos_experiments`` DAG needs from the plugin.

A FastAPI app mounted at ``/patternalarm-chaos`` serves ``<reports_dir>/chaos`` (the index of runs, each
run's HTML and JSON), like the data-quality report: every route requires an authenticated Airflow user
with read access to the runs of ``chaos_experiments``; files are served only from inside the folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI
from fastapi.responses import Response

from patternalarm_airflow.console.access import dag_run_reader

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

URL_PREFIX = "/patternalarm-chaos"
DAG_ID = "chaos_experiments"


#: the authenticated Airflow user, if they may read the runs of ``chaos_experiments`` (else 401/403)
require_chaos_reader = dag_run_reader(DAG_ID, "reading the chaos report")


def settings() -> Settings:
    """patternalarm settings pointing at the ``flink_default`` connection's Flink and Kafka."""
    from patternalarm_airflow.hooks.flink import FlinkHook

    return FlinkHook().settings


def report_root() -> Path:
    from include.patternalarm.chaos.report import chaos_root
    from include.patternalarm.settings import get_settings

    return chaos_root(get_settings().reports_dir)


app = FastAPI(title="patternalarm chaos experiments", dependencies=[Depends(require_chaos_reader)],
              docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/{path:path}")
def report_file(path: str) -> Response:
    """A file of the chaos report folder (``index.html`` for a folder, the list of runs at the root)."""
    from include.patternalarm.chaos.report import render_index
    from patternalarm_airflow.plugin import serve_from

    return serve_from(report_root(), path, lambda: render_index([]))
