"""Target parallelism from observed rates, the way Flink's Kubernetes-operator autoscaler reasons.

The job's *true* processing capacity is the rate it processed divided by how busy it was
(``rate / busy_fraction``): a job that processed 2,000 ev/s while 40 % busy could do ~5,000 ev/s.
The rate it must sustain is the input rate plus the backlog spread over the catch-up time
(``input_rate + lag / catch_up_s``). The target parallelism makes the per-subtask load land at the
target utilisation, bounded by the source partitions (more subtasks than partitions idle) and by the
free task slots. Scale-down happens only after lag stayed low for a cool-down, so a spike's tail does
not make the job flap.

Like the operator's ``job.autoscaler.stabilization.interval`` (5 minutes by default), nothing is scaled
while the job is younger than ``stabilization_s`` or its last rescale is: a job minutes old runs JIT-cold
code and may still be restoring state, so its measured rate is a fraction of what it does warm (a fresh
payments subtask measured 3,231 ev/s and rescaled a spike that the same subtask drains at 15,000 ev/s
warm), and the rescale's restart then costs more latency than the spike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ScalingPolicy:
    lag_high: int = 20_000  # records of lag that count as a breach
    lag_low: int = 1_000  # lag below this counts as "drained"
    catch_up_s: float = 60.0  # drain the backlog within this time
    target_utilization: float = 0.7
    min_parallelism: int = 1
    max_parallelism: int = 4
    cooldown_s: float = 120.0  # lag must stay low this long before scaling down
    min_busy_fraction: float = 0.05  # below this, busy time says nothing reliable
    stabilization_s: float = 300.0  # no scaling while the job or its last rescale is younger than this

    def __post_init__(self) -> None:
        if not 0 < self.target_utilization <= 1:
            raise ValueError("target_utilization must be in (0, 1]")
        if self.lag_low >= self.lag_high:
            raise ValueError("lag_low must be below lag_high")
        if not 1 <= self.min_parallelism <= self.max_parallelism:
            raise ValueError("need 1 <= min_parallelism <= max_parallelism")
        if self.stabilization_s < 0:
            raise ValueError("stabilization_s must be >= 0")


@dataclass(frozen=True)
class Observation:
    """What the control loop measured for one job."""

    parallelism: int
    lag: int
    input_rate: float  # events/s arriving on the topic
    processed_rate: float  # events/s the job consumed
    busy_fraction: float  # busiest vertex, 0..1
    partitions: int
    free_slots: int
    low_lag_for_s: float = 0.0  # how long lag has been below lag_low
    since_last_scaling_s: float = math.inf
    running_for_s: float = math.inf  # since the job started


@dataclass(frozen=True)
class Decision:
    action: str  # scale_up | scale_down | hold
    target_parallelism: int
    reason: str
    capacity_per_subtask: float
    required_rate: float

    def as_dict(self) -> dict:
        return asdict(self)


def _bounded(value: int, observation: Observation, policy: ScalingPolicy) -> int:
    upper = min(policy.max_parallelism, observation.partitions, observation.parallelism + observation.free_slots)
    return max(policy.min_parallelism, min(value, max(upper, policy.min_parallelism)))


def decide(observation: Observation, policy: ScalingPolicy) -> Decision:
    """Scale up on a lag breach, down after a quiet cool-down, otherwise hold — with the reason."""
    p = observation.parallelism
    busy = max(observation.busy_fraction, policy.min_busy_fraction)
    capacity = observation.processed_rate / busy / max(p, 1)  # events/s one subtask can do at 100 % busy
    required = observation.input_rate + observation.lag / policy.catch_up_s
    if capacity <= 0:  # nothing processed while sampled: no rate to size from
        if observation.lag > policy.lag_high:
            wanted = p + 1
        elif observation.lag < policy.lag_low and observation.input_rate <= 0:
            wanted = policy.min_parallelism  # idle: nothing arrives and nothing waits
        else:
            wanted = p
    else:
        wanted = math.ceil(required / (capacity * policy.target_utilization))
    target = _bounded(wanted, observation, policy)

    young = min(observation.running_for_s, observation.since_last_scaling_s)
    if target != p and young < policy.stabilization_s:
        what = "job started" if observation.running_for_s <= observation.since_last_scaling_s else "last rescale"
        return Decision("hold", p, f"lag {observation.lag}; {target} subtask(s) wanted ({required:.0f} ev/s at "
                        f"{capacity:.0f} ev/s per subtask) but the {what} {young:.0f}s ago, within the "
                        f"{policy.stabilization_s:.0f}s stabilization: its rates are not yet representative",
                        capacity, required)
    if observation.lag > policy.lag_high:
        if target > p:
            return Decision("scale_up", target, f"lag {observation.lag} > {policy.lag_high}; need "
                            f"{required:.0f} ev/s at {capacity:.0f} ev/s per subtask", capacity, required)
        if wanted > p:
            return Decision("hold", p, f"lag {observation.lag} > {policy.lag_high} but already at the bound "
                            f"(partitions {observation.partitions}, free slots {observation.free_slots}, "
                            f"max {policy.max_parallelism})", capacity, required)
        return Decision("hold", p, f"lag {observation.lag} > {policy.lag_high} but {p} subtask(s) can do "
                        f"{capacity * p:.0f} ev/s, enough for {required:.0f} ev/s: letting it drain",
                        capacity, required)
    if observation.lag < policy.lag_low and target < p:
        if observation.low_lag_for_s < policy.cooldown_s or observation.since_last_scaling_s < policy.cooldown_s:
            return Decision("hold", p, f"lag low for {observation.low_lag_for_s:.0f}s; waiting for the "
                            f"{policy.cooldown_s:.0f}s cool-down before scaling down", capacity, required)
        return Decision("scale_down", target, f"lag {observation.lag} < {policy.lag_low} for "
                        f"{observation.low_lag_for_s:.0f}s; {required:.0f} ev/s fits {target} subtask(s)",
                        capacity, required)
    return Decision("hold", p, f"lag {observation.lag} within [{policy.lag_low}, {policy.lag_high}]"
                    if observation.lag >= policy.lag_low else f"lag {observation.lag} low; parallelism fits",
                    capacity, required)
