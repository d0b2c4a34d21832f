"""deploy_detection_jobs through the REST API (as the UI triggers it) and monitor_detection_jobs healing."""

from __future__ import annotations

import threading
import time

import pytest

from include.patternalarm.airflow_client import AirflowApiError, AirflowClient
from include.patternalarm.flink.deploy import find_job, job_health
from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.rules import catalog_versions
from include.patternalarm.settings import Settings
from tests.integration.control.conftest import db, healthy_job, run_dag_test
from tests.support import wait_until

DEPLOY = "deploy_detection_jobs"


def deploy(airflow: AirflowClient, conf: dict, timeout: float = 900):
    airflow.wait_parsed(DEPLOY)
    run = airflow.trigger(DEPLOY, conf)
    return airflow.wait(DEPLOY, run, timeout=timeout)


def latest_deployment(settings: Settings, domain: str) -> tuple:
    with db(settings) as conn:
        return conn.execute(
            "select action, status, parallelism, catalog_version, job_id, restored_from from detection_deployments"
            " where domain = %s order by id desc limit 1", (domain,)).fetchone()


@pytest.mark.parametrize("conf, reason", [
    ({"parallelism": 9}, "greater than the maximum of 4"),
    ({"parallelism": "2"}, "is not of type 'integer'"),
    ({"domains": ["weather"]}, "'weather' is not one of"),
    ({"domains": []}, "should be non-empty"),
    ({"upgrade_mode": "yolo"}, "'yolo' is not one of"),
    ({"catalog_version": 999}, "999 is not one of"),
])
def test_bad_params_are_refused_before_a_run_exists(airflow: AirflowClient, conf: dict, reason: str) -> None:
    airflow.wait_parsed(DEPLOY)
    with pytest.raises(AirflowApiError) as excinfo:
        airflow.trigger(DEPLOY, conf, unpause=False)
    assert "HTTP 400" in str(excinfo.value)
    assert reason in str(excinfo.value)


def test_upgrade_through_rest_runs_the_requested_version_and_parallelism_with_state(
        stack_settings: Settings, airflow: AirflowClient, detection_jobs: dict[str, str]) -> None:
    newest = max(catalog_versions())
    assert newest >= 2, "two catalog versions are needed to switch between them"
    before = healthy_job(stack_settings, "iot")
    result = deploy(airflow, {"domains": ["iot"], "catalog_version": 1, "parallelism": 2,
                              "upgrade_mode": "savepoint"})
    assert result.ok, result.tasks
    after = healthy_job(stack_settings, "iot")
    assert after.job_id != before.job_id
    assert (after.catalog_version, after.parallelism) == (1, 2)
    assert after.restored_from and "savepoint" in after.restored_from, "the new job must restore the savepoint"
    action, status, parallelism, version, job_id, restored = latest_deployment(stack_settings, "iot")
    assert (action, status, parallelism, version, job_id, restored) == (
        "upgrade", "healthy", 2, "1", after.job_id, after.restored_from)
    # back to the newest catalog on one subtask, again through the DAG (what the other tests expect)
    assert deploy(airflow, {"domains": ["iot"], "parallelism": 1}).ok
    final = healthy_job(stack_settings, "iot")
    assert (final.catalog_version, final.parallelism) == (newest, 1)


def test_a_new_job_that_dies_during_the_upgrade_is_rolled_back(
        stack_settings: Settings, airflow: AirflowClient, detection_jobs: dict[str, str]) -> None:
    before = healthy_job(stack_settings, "gaming")
    airflow.wait_parsed(DEPLOY)
    run = airflow.trigger(DEPLOY, {"domains": ["gaming"], "parallelism": 2})
    killed: list[str] = []

    def kill_the_new_job() -> None:  # a crash of the freshly deployed job, before it ever checkpoints
        deadline = time.monotonic() + 600
        with FlinkRest(stack_settings.flink_rest) as rest:
            while time.monotonic() < deadline and not killed:
                job = find_job(stack_settings, "gaming")
                if job is not None and job.id != before.job_id:
                    rest.cancel(job.id)
                    killed.append(job.id)
                time.sleep(0.3)

    killer = threading.Thread(target=kill_the_new_job, daemon=True)
    killer.start()
    result = airflow.wait(DEPLOY, run, timeout=900)
    killer.join(timeout=5)
    assert killed, "the upgraded job never appeared"
    assert result.state == "failed"
    rollback = [state for task, state in result.tasks.items() if task.startswith("upgrade.rollback")]
    assert rollback == ["failed"], result.tasks  # the rollback ran and failed the run on purpose, saying so
    restored = healthy_job(stack_settings, "gaming")
    assert restored.job_id not in (before.job_id, killed[0])
    assert restored.parallelism == before.parallelism == 1, "rolled back to the previous parallelism"
    assert restored.restored_from and "savepoint" in restored.restored_from
    action, status, parallelism, _version, job_id, _ = latest_deployment(stack_settings, "gaming")
    assert (action, status, parallelism, job_id) == ("rollback", "healthy", 1, restored.job_id)


def _platform_incident(settings: Settings, check: str, entity: str) -> tuple | None:
    with db(settings) as conn:
        return conn.execute(
            "select incident_id, status from incidents where domain = 'platform' and rule_id = %s and entity = %s"
            " order by incident_id desc limit 1", (check, entity)).fetchone()


@pytest.mark.usefixtures("monitor_paused")
def test_monitor_resubmits_a_cancelled_job_from_its_checkpoint_and_tracks_an_incident(
        stack_settings: Settings, detection_jobs: dict[str, str]) -> None:
    victim = healthy_job(stack_settings, "payments")
    wait_until(lambda: job_health(stack_settings, victim.job_id).completed_checkpoints >= 1, timeout=120,
               what="a completed checkpoint to heal from")
    with FlinkRest(stack_settings.flink_rest) as rest:
        rest.cancel(victim.job_id)
        rest.wait_for_state(victim.job_id, ("CANCELED",), timeout=60, fail_states=())
    assert find_job(stack_settings, "payments") is None

    first = run_dag_test(stack_settings, "monitor_detection_jobs")
    assert first.returncode == 0, first.output[-3000:]
    assert f"healed payments: job {victim.job_id} was CANCELED" in first.output
    healed = healthy_job(stack_settings, "payments")
    assert healed.job_id != victim.job_id
    assert healed.restored_from and victim.job_id in healed.restored_from, "resubmitted from its own checkpoint"
    incident = _platform_incident(stack_settings, "flink_job_state", "payments")
    assert incident is not None and incident[1] == "open"

    wait_until(lambda: job_health(stack_settings, healed.job_id).completed_checkpoints >= 1, timeout=120,
               what="the healed job's first checkpoint")
    second = run_dag_test(stack_settings, "monitor_detection_jobs")
    assert second.returncode == 0, second.output[-3000:]
    assert _platform_incident(stack_settings, "flink_job_state", "payments") == (incident[0], "resolved")


# The TaskManager SIGKILL (recovery, and now also nothing lost or duplicated) is the chaos experiment
# taskmanager_kill, in the integration suite's quick subset: tests/integration/chaos/test_quick.py.
