"""A killed JobManager is healed at once: the stack's restart watch (a supervisord event listener) triggers
`monitor_detection_jobs` as soon as the restarted JobManager answers, instead of the next scheduled minute,
and every domain's job comes back from the killed job's checkpoint. With JobManager HA (the default) the
restarted JobManager recovers the very same jobs itself and the monitor finds nothing to resubmit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from include.patternalarm.airflow_client import AirflowClient
from include.patternalarm.chaos import faults
from include.patternalarm.chaos.runner import ensure_monitor, restore_monitor
from include.patternalarm.control.restart_watch import MONITOR_DAG, PROGRAM_NAME
from include.patternalarm.flink.deploy import find_job, job_health
from include.patternalarm.settings import Settings
from include.patternalarm.stack.supervisor import log_file
from include.patternalarm.topics import DOMAINS
from tests.support import wait_until


@pytest.fixture
def monitor_unpaused(stack_settings: Settings) -> Iterator[None]:
    """The watch leaves a paused monitor alone (an operator paused healing): unpause it for the test."""
    was_paused = ensure_monitor(stack_settings, print)
    assert was_paused is not None, "Airflow did not answer"
    yield
    restore_monitor(stack_settings, was_paused)


def _triggered_runs(log: str) -> list[str]:
    return [line.rsplit(" ", 1)[1] for line in log.splitlines() if f"triggered {MONITOR_DAG} run" in line]


def test_a_killed_jobmanager_triggers_the_monitor_and_every_job_comes_back(
        stack_settings: Settings, platform_running: None, monitor_unpaused: None) -> None:
    settings = stack_settings
    before = {d: find_job(settings, d).id for d in DOMAINS}
    # a completed checkpoint of each job, so there is something on disk to restore
    wait_until(lambda: all(job_health(settings, j).completed_checkpoints for j in before.values()), timeout=60,
               what="a completed checkpoint of every job")
    log = log_file(settings, PROGRAM_NAME)
    offset = log.stat().st_size if log.exists() else 0

    injected = faults.kill(settings, "flink-jobmanager")
    runs = wait_until(lambda: _triggered_runs(log.read_bytes()[offset:].decode(errors="replace")), timeout=60,
                      what=f"the restart watch to trigger {MONITOR_DAG} ({log})")
    triggered_after = time.time() - injected.at
    client = AirflowClient(settings)
    try:
        result = client.wait(MONITOR_DAG, runs[0], timeout=300)
    finally:
        client.close()
    assert result.ok, result.tasks

    def back() -> dict[str, str] | None:
        jobs = {d: find_job(settings, d) for d in DOMAINS}
        if not all(j and j.state == "RUNNING" for j in jobs.values()):
            return None
        return {d: job_health(settings, j.id).restored_from or "" for d, j in jobs.items()}

    restored = wait_until(back, timeout=180, interval=2, what="every domain's job RUNNING again")
    for domain, path in restored.items():
        assert before[domain] in path, f"{domain} did not restore the killed job's checkpoint: {path!r}"
    if settings.flink_ha:  # recovered by the JobManager, not resubmitted
        assert {d: find_job(settings, d).id for d in DOMAINS} == before
    assert triggered_after < 60, f"the monitor was triggered {triggered_after:.0f}s after the kill"
