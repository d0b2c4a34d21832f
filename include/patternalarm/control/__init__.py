"""Control-plane logic with no Airflow in it: consumer lag, autoscaling decisions."""

from include.patternalarm.control.autoscale import Decision, Observation, ScalingPolicy, decide
from include.patternalarm.control.lag import LagReport, PartitionLag, consumer_lag

__all__ = ["Decision", "LagReport", "Observation", "PartitionLag", "ScalingPolicy", "consumer_lag", "decide"]
