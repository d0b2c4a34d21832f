"""Pure helpers of the Spark batch jobs (no pyspark): time ranges, the reconciliation's rules and
SQL, its verdict, incident priority scoring. The jobs themselves live in ``include/spark``."""

from include.patternalarm.batch.reconcile import ReconcileConfig, Verdict
from include.patternalarm.batch.rules import BATCH_RULES, RuleSpec
from include.patternalarm.batch.timerange import TimeRange, resolve_range

__all__ = ["BATCH_RULES", "ReconcileConfig", "RuleSpec", "TimeRange", "Verdict", "resolve_range"]
