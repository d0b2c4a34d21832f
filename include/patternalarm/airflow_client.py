"""Driving Airflow through its REST API, as the UI does: trigger a DAG with params, wait, read the outcome.

Used by the main job (deploy through `deploy_detection_jobs`), the benchmark (the scaler DAG) and
tests. Params are validated by Airflow when the run is created: a bad value is refused with HTTP 400
and the reason, which `AirflowApiError` carries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from include.patternalarm.settings import Settings


class AirflowApiError(RuntimeError):
    """The API refused a call (the message has Airflow's reason) or a run did not finish in time."""


@dataclass
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    seconds: float
    tasks: dict[str, str] = field(default_factory=dict)  # task_id[map_index] -> state

    @property
    def ok(self) -> bool:
        return self.state == "success"


class AirflowClient:
    def __init__(self, settings: Settings, timeout: float = 15.0) -> None:
        self.base = settings.airflow_api
        self._settings = settings
        self._timeout = timeout
        self._http = requests.Session()
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = self._http.post(
                f"{self.base}/auth/token",
                json={"username": self._settings.airflow_admin_user,
                      "password": self._settings.secret("airflow_admin_password")},
                timeout=self._timeout,
            )
            if response.status_code >= 400:
                raise AirflowApiError(f"login to Airflow at {self.base} failed: HTTP {response.status_code}")
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, f"{self.base}/api/v2{path}", headers=self._headers(),
                                          timeout=self._timeout, **kwargs)
        except requests.RequestException as exc:
            raise AirflowApiError(f"Airflow API at {self.base} unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise AirflowApiError(f"{method} {path}: HTTP {response.status_code}: {detail}")
        return response.json() if response.content else {}

    def wait_parsed(self, dag_id: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.call("GET", f"/dags/{dag_id}")
                return
            except AirflowApiError:
                time.sleep(2)
        raise AirflowApiError(f"DAG {dag_id} not parsed by Airflow after {timeout:.0f}s (check import errors)")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def is_paused(self, dag_id: str) -> bool:
        return bool(self.call("GET", f"/dags/{dag_id}")["is_paused"])

    def active_runs(self, dag_id: str) -> list[str]:
        """Run ids of ``dag_id`` that are queued or running."""
        runs = self.call("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"], "limit": 100})
        return [str(r["dag_run_id"]) for r in runs["dag_runs"]]

    def end_run(self, dag_id: str, run_id: str, state: str = "failed") -> None:
        """Mark a run failed (or success): its running tasks are stopped by the scheduler."""
        self.call("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}", json={"state": state})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, unpause: bool = True) -> str:
        """Create a run with ``conf`` as its params (validated by Airflow); returns the run id."""
        if unpause:
            self.set_paused(dag_id, False)
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.dag_run(dag_id, run_id)["state"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        items = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500})
        return {(t["task_id"] + (f"[{t['map_index']}]" if t.get("map_index", -1) >= 0 else "")): t["state"]
                for t in items["task_instances"]}

    def wait(self, dag_id: str, run_id: str, timeout: float = 900.0,
             on_progress: Callable[[dict[str, str]], None] | None = None) -> DagRunResult:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            state = self.run_state(dag_id, run_id)
            tasks = self.task_states(dag_id, run_id) if on_progress or state in ("success", "failed") else {}
            if on_progress:
                on_progress(tasks)
            if state in ("success", "failed"):
                return DagRunResult(dag_id, run_id, state, time.monotonic() - started, tasks)
            time.sleep(2)
        raise AirflowApiError(f"{dag_id} run {run_id} not finished after {timeout:.0f}s")

    def close(self) -> None:
        self._http.close()
