"""Control-plane tests: DAGs run on the real stack — through the scheduler (REST) or `airflow dags test`."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

import psycopg
import pytest
import requests

from include.patternalarm.airflow_client import AirflowClient
from include.patternalarm.flink.deploy import find_job, job_health
from include.patternalarm.settings import Settings
from include.patternalarm.stack.airflow import environment
from include.patternalarm.topics import DOMAINS
from tests.support import wait_until


@dataclass
class DagTest:
    returncode: int
    output: str


def run_dag_test(settings: Settings, dag_id: str, conf: dict | None = None, timeout: float = 900) -> DagTest:
    """`airflow dags test` (in-process run, triggers inline) against the stack's metadata DB."""
    env = {**os.environ, **environment(settings)}
    args = [str(settings.venv_dir / "bin" / "airflow"), "dags", "test", dag_id]
    if conf:
        args += ["-c", json.dumps(conf)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return DagTest(done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="session")
def airflow(stack_settings: Settings):
    client = AirflowClient(stack_settings)
    yield client
    client.close()


@pytest.fixture(scope="session")
def detection_jobs(stack_settings: Settings, airflow: AirflowClient) -> dict[str, str]:
    """Every domain's detection job running (deployed through the DAG when one is missing)."""
    missing = [d for d in DOMAINS if find_job(stack_settings, d) is None]
    if missing:
        airflow.wait_parsed("deploy_detection_jobs")
        run = airflow.trigger("deploy_detection_jobs", {"domains": missing, "parallelism": 1})
        result = airflow.wait("deploy_detection_jobs", run, timeout=900)
        assert result.ok, f"deploying {missing} failed: {result.tasks}"
    jobs = {}
    for domain in DOMAINS:
        job = wait_until(lambda d=domain: find_job(stack_settings, d), timeout=120, what=f"{domain} job")
        jobs[domain] = job.id
    return jobs


def _paused(airflow: AirflowClient, dag_id: str):
    """``dag_id``'s schedule paused (and its in-flight runs ended), so a test's own `dags test` run is
    the one that acts on what the test did; the pause state is restored after."""
    airflow.wait_parsed(dag_id)
    was_paused = airflow.is_paused(dag_id)
    airflow.set_paused(dag_id, True)
    for run_id in airflow.active_runs(dag_id):  # e.g. a continuous run left deferred on a sensor
        airflow.end_run(dag_id, run_id)
    wait_until(lambda: not airflow.active_runs(dag_id), timeout=120, interval=2, what=f"{dag_id}'s runs to end")
    yield
    airflow.set_paused(dag_id, was_paused)


@pytest.fixture
def monitor_paused(airflow: AirflowClient):
    yield from _paused(airflow, "monitor_detection_jobs")


@pytest.fixture
def scaler_paused(airflow: AirflowClient):
    yield from _paused(airflow, "scale_flink_on_kafka_lag")


def healthy_job(settings: Settings, domain: str, timeout: float = 240):
    """Wait until the domain's job runs with every task RUNNING; return its health."""
    def check():
        job = find_job(settings, domain)
        if job is None:
            return None
        health = job_health(settings, job.id)
        return health if health.state == "RUNNING" and set(health.tasks) <= {"RUNNING"} else None

    return wait_until(check, timeout=timeout, interval=2, what=f"{domain} job running")


def flink_jobs(settings: Settings) -> list[dict]:
    return requests.get(f"{settings.flink_rest}/jobs/overview", timeout=10).json()["jobs"]


def db(settings: Settings, purpose: str = "reporting") -> psycopg.Connection:
    return psycopg.connect(settings.db_conninfo(purpose), connect_timeout=5, autocommit=True)
