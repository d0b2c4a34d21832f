"""scale_flink_on_kafka_lag: a traffic spike scales the payments job up, a quiet cool-down scales it back."""

from __future__ import annotations

import threading
import time

import pytest

from include.patternalarm.bench import restore_parallelism
from include.patternalarm.control.lag import admin_client, consumer_lag
from include.patternalarm.flink.deploy import find_job, job_health
from include.patternalarm.rules import group_id
from include.patternalarm.settings import Settings
from include.patternalarm.simulator import SimulationConfig, run_simulation
from include.patternalarm.topics import DOMAINS, EVENTS
from tests.integration.control.conftest import db, healthy_job, run_dag_test
from tests.support import wait_until

DAG = "scale_flink_on_kafka_lag"
# One v4 payments subtask does ~10,000 events/s here, so a 3,000/s spike alone is no reason to scale at the
# default 70 % target utilisation (the scaler rightly holds and lets it drain). A team that keeps a subtask
# at most 15 % busy scales on it: the spike stays cheap enough for two cores and still exercises the
# whole loop (breach, sizing from measured rates, rescale, drain, cool-down, scale-down). The jobs the
# suite deployed are minutes old, so the 5-minute stabilization (tested in the unit tests) is off here.
POLICY = {"lag_high": 3000, "lag_low": 300, "catch_up_s": 20, "cooldown_s": 15, "drain_timeout_s": 300,
          "target_utilization": 0.15, "stabilization_s": 0}


def scaling_events(settings: Settings, since_id: int) -> list[tuple]:
    with db(settings) as conn:
        return conn.execute(
            "select id, action, from_parallelism, to_parallelism, outcome, inputs from scaling_events"
            " where domain = 'payments' and id > %s order by id", (since_id,)).fetchall()


def detection_lag(settings: Settings) -> int:
    admin = admin_client({"bootstrap.servers": settings.bootstrap_servers})
    return sum(consumer_lag(admin, group_id(d), [EVENTS[d]]).total for d in DOMAINS)


def _stop_on_a_decision(settings: Settings, since_id: int, stop: threading.Event) -> None:
    """Set `stop` once the DAG recorded a payments decision (or the spike ended on its own)."""
    deadline = time.monotonic() + 300
    while not stop.is_set() and time.monotonic() < deadline:
        if scaling_events(settings, since_id):
            break
        stop.wait(1.0)
    stop.set()


@pytest.mark.usefixtures("scaler_paused", "monitor_paused")
def test_spike_scales_up_then_cooldown_scales_back_down(stack_settings: Settings,
                                                        detection_jobs: dict[str, str]) -> None:
    start = healthy_job(stack_settings, "payments")
    assert start.parallelism == 1
    # a quiet start: a backlog left by an earlier test would compete with the spike for the two cores
    wait_until(lambda: detection_lag(stack_settings) < POLICY["lag_low"], timeout=900, interval=5,
               what="the detection jobs to catch up before the spike")
    with db(stack_settings) as conn:
        last_id = conn.execute("select coalesce(max(id), 0) from scaling_events").fetchone()[0]
    stop = threading.Event()
    # more than one subtask handles; it lasts until the DAG has decided (at most 4 minutes): a fixed-length
    # spike could end while `airflow dags test` is still starting on a busy machine, and a scaler that
    # decides on a spike already over rightly holds and lets the rest drain
    spike = SimulationConfig(domains=("payments",), rate=3_000, duration_s=240, scenarios=False,
                             record_ground_truth=False, diurnal=False)
    producer = threading.Thread(target=run_simulation, args=(stack_settings, spike), kwargs={"stop": stop},
                                daemon=True)
    watcher = threading.Thread(target=_stop_on_a_decision, args=(stack_settings, last_id, stop), daemon=True)
    try:
        producer.start()
        watcher.start()
        up = run_dag_test(stack_settings, DAG, {**POLICY, "watch_s": 120})
        stop.set()
        producer.join(timeout=60)
        assert up.returncode == 0, up.output[-4000:]
        events = scaling_events(stack_settings, last_id)
        ups = [e for e in events if e[1] == "scale_up"]
        assert ups, f"no scale_up recorded; decisions: {[(e[1], e[2], e[3]) for e in events]}\n{up.output[-3000:]}"
        _, _, before, target, outcome, inputs = ups[-1]
        assert (before, outcome) == (1, "drained") and 1 < target <= 4
        assert inputs["breached"] is True and inputs["observation"]["lag"] > POLICY["lag_high"]
        assert 0 <= inputs["decided_after_breach_s"] < 60
        # the rates it decided on (the input rate may already be 0 if the 40 s spike ended before the decision)
        assert inputs["observation"]["processed_rate"] > 0 and inputs["capacity_per_subtask"] > 0
        assert inputs["required_rate"] > 0
        assert healthy_job(stack_settings, "payments").parallelism == target
        with db(stack_settings) as conn:
            decided, rescaled, drained = conn.execute(
                "select decided_at, rescaled_at, drained_at from scaling_events where id = %s",
                (ups[-1][0],)).fetchone()
        assert decided < rescaled <= drained, "rescaled after the decision, drained after the rescale"

        # quiet: the first quiet decision only starts the cool-down clock, a later one scales down
        decisions = []
        for _ in range(4):
            quiet = run_dag_test(stack_settings, DAG, {**POLICY, "watch_s": 20})
            assert quiet.returncode == 0, quiet.output[-4000:]
            decisions = scaling_events(stack_settings, ups[-1][0])
            if any(e[1] == "scale_down" for e in decisions):
                break
        downs = [e for e in decisions if e[1] == "scale_down"]
        assert downs, f"no scale_down after the cool-down: {[(e[1], e[2], e[3]) for e in decisions]}"
        assert (downs[0][2], downs[0][3]) == (target, 1), "back to the deployed parallelism, not below"
        assert downs[0][5]["observation"]["low_lag_for_s"] >= POLICY["cooldown_s"]
        assert wait_until(lambda: job_health(stack_settings, start.job_id).parallelism == 1, timeout=180,
                          what="payments back at parallelism 1")
        assert find_job(stack_settings, "payments").id == start.job_id, "rescaled in place: same job id"
    finally:
        stop.set()
        restore_parallelism(stack_settings, 1)  # every domain: the scaler may have scaled the others too
