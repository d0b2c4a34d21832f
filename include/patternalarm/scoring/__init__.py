"""Scoring detection against the simulator's ground truth: recall, precision, latency per rule."""

from include.patternalarm.scoring.core import AlertRecord, RuleScore, Score, TruthRecord, percentile, score

__all__ = ["AlertRecord", "RuleScore", "Score", "TruthRecord", "percentile", "score"]
