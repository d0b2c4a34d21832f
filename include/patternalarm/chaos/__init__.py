"""Chaos experiments: real faults on the real processes, under labelled traffic, scored against ground truth.

``bin/patternalarm chaos list | run EXPERIMENT|--all [--json] | report`` and the ``chaos_experiments`` DAG run
the same phases (``runner``); the faults are in ``faults``, the experiments in ``experiments``, what they
measure in ``measure``, the poison input in ``poison``. See docs/chaos.md.
"""

from include.patternalarm.chaos.experiments import EXPERIMENTS, QUICK
from include.patternalarm.chaos.runner import ChaosConfig, ChaosError, run_batch, run_experiment

__all__ = ["EXPERIMENTS", "QUICK", "ChaosConfig", "ChaosError", "run_batch", "run_experiment"]
