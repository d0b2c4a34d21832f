"""The Airflow services' environment: what a killed scheduler leaves behind is picked up again in time."""

from __future__ import annotations

from pathlib import Path

from include.patternalarm.chaos.experiments import EXPERIMENTS
from include.patternalarm.stack import airflow
from tests.unit.stack import settings_with_secrets


def test_a_killed_schedulers_tasks_are_reset_well_within_the_scheduler_kill_limit(tmp_path: Path) -> None:
    env = airflow.environment(settings_with_secrets(tmp_path))
    dead_after = float(env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD"])
    check_every = float(env["AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL"])
    # Airflow's defaults (30 s, 300 s) left an interrupted upgrade task running for 5 minutes; the reset must
    # leave the rest of the upgrade (stop, submit, first checkpoint: ~20 s on a quiet machine) room in the limit
    assert dead_after + check_every <= EXPERIMENTS["scheduler_kill"].limit_s / 2
    # and never call a live scheduler dead: it heartbeats every 5 s (Airflow's scheduler_heartbeat_sec)
    assert "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC" not in env and dead_after >= 4 * 5
