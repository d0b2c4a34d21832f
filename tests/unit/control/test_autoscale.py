from __future__ import annotations

import pytest

from include.patternalarm.control import Observation, ScalingPolicy, decide

POLICY = ScalingPolicy(lag_high=10_000, lag_low=500, catch_up_s=60, target_utilization=0.7,
                       min_parallelism=1, max_parallelism=4, cooldown_s=120)


def obs(**kw) -> Observation:
    base = dict(parallelism=1, lag=0, input_rate=800.0, processed_rate=800.0, busy_fraction=0.4,
                partitions=4, free_slots=10, low_lag_for_s=0.0, since_last_scaling_s=1e9)
    base.update(kw)
    return Observation(**base)


def test_spike_with_lag_scales_up_to_what_the_rates_need() -> None:
    # one subtask processed 2,000 ev/s at 100 % busy -> capacity 2,000; need 8,000 + 60,000/60 = 9,000 ev/s
    d = decide(obs(lag=60_000, input_rate=8_000, processed_rate=2_000, busy_fraction=1.0), POLICY)
    assert d.action == "scale_up"
    assert d.capacity_per_subtask == pytest.approx(2_000)
    assert d.required_rate == pytest.approx(9_000)
    assert d.target_parallelism == 4  # ceil(9000 / (2000 * 0.7)) = 7, bounded by 4 partitions


def test_bounded_by_free_slots_and_partitions() -> None:
    d = decide(obs(lag=60_000, input_rate=8_000, processed_rate=2_000, busy_fraction=1.0, free_slots=1), POLICY)
    assert (d.action, d.target_parallelism) == ("scale_up", 2)
    d = decide(obs(parallelism=4, lag=60_000, input_rate=8_000, processed_rate=2_000, busy_fraction=1.0), POLICY)
    assert d.action == "hold" and "bound" in d.reason


def test_moderate_breach_adds_only_what_is_needed() -> None:
    # capacity 2,500/subtask (1,000 ev/s at 40 % busy); need 1,000 + 12,000/60 = 1,200: it drains on its own
    d = decide(obs(lag=12_000, input_rate=1_000, processed_rate=1_000, busy_fraction=0.4), POLICY)
    assert d.action == "hold" and "drain" in d.reason
    # capacity 1,666.7/subtask (1,500 at 90 %); need 3,000 + 200 = 3,200 -> ceil(3200 / (1666.7 * 0.7)) = 3
    d = decide(obs(lag=12_000, input_rate=3_000, processed_rate=1_500, busy_fraction=0.9), POLICY)
    assert (d.action, d.target_parallelism) == ("scale_up", 3)


def test_no_scale_down_before_cooldown_then_down() -> None:
    quiet = dict(parallelism=4, lag=100, input_rate=800.0, processed_rate=800.0, busy_fraction=0.1)
    assert decide(obs(**quiet, low_lag_for_s=30), POLICY).action == "hold"
    assert decide(obs(**quiet, low_lag_for_s=300, since_last_scaling_s=30), POLICY).action == "hold"
    d = decide(obs(**quiet, low_lag_for_s=300, since_last_scaling_s=300), POLICY)
    assert d.action == "scale_down" and 1 <= d.target_parallelism < 4


def test_idle_job_scales_down_after_cooldown() -> None:
    # nothing arrives, nothing waits, nothing was processed while sampled (no rate to size from)
    idle = dict(parallelism=4, lag=0, input_rate=0.0, processed_rate=0.0, busy_fraction=0.0)
    assert decide(obs(**idle, low_lag_for_s=30), POLICY).action == "hold"
    d = decide(obs(**idle, low_lag_for_s=300, since_last_scaling_s=300), POLICY)
    assert (d.action, d.target_parallelism) == ("scale_down", 1)
    # a backlog below the breach with nothing processed is not idle: hold
    assert decide(obs(**{**idle, "lag": 2_000}, low_lag_for_s=300, since_last_scaling_s=300), POLICY).action == "hold"


def test_a_young_job_is_not_rescaled_within_the_stabilization() -> None:
    # the spike that one JIT-cold payments subtask (3,231 ev/s measured) would have rescaled
    spike = dict(lag=24_231, input_rate=3_783, processed_rate=3_231, busy_fraction=1.0)
    d = decide(obs(**spike, running_for_s=140), POLICY)
    assert (d.action, d.target_parallelism) == ("hold", 1)
    assert "job started 140s ago" in d.reason and "300s stabilization" in d.reason
    assert d.capacity_per_subtask == pytest.approx(3_231)  # the decision still reports what it measured
    # a rescale is just as young: the rates right after it are not yet the new parallelism's
    d = decide(obs(**spike, parallelism=2, running_for_s=900, since_last_scaling_s=60), POLICY)
    assert d.action == "hold" and "last rescale 60s ago" in d.reason
    # once stable, the same observation scales
    d = decide(obs(**spike, running_for_s=301), POLICY)
    assert (d.action, d.target_parallelism) == ("scale_up", 2)
    # and a team that trusts its rates from the start can switch it off
    d = decide(obs(**spike, running_for_s=10), ScalingPolicy(**{**POLICY.__dict__, "stabilization_s": 0}))
    assert d.action == "scale_up"


def test_the_stabilization_never_holds_a_job_that_wants_no_change() -> None:
    d = decide(obs(lag=2_000, running_for_s=5), POLICY)
    assert d.action == "hold" and "stabilization" not in d.reason


def test_steady_state_holds() -> None:
    d = decide(obs(lag=2_000), POLICY)
    assert d.action == "hold" and d.target_parallelism == 1


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="lag_low"):
        ScalingPolicy(lag_high=10, lag_low=10)
    with pytest.raises(ValueError, match="target_utilization"):
        ScalingPolicy(target_utilization=0)
    with pytest.raises(ValueError, match="stabilization_s"):
        ScalingPolicy(stabilization_s=-1)
