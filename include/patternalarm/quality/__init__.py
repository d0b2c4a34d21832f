"""Data quality of the incident tables: run the GX suites (``include/gx``), keep and show the results.

- ``run_suites`` (``runner.py``) — one validation: ephemeral GX context, a query asset per table,
  Data Docs; returns a ``ValidationRun`` of ``CheckResult``s (``results.py``).
- ``store_run`` — ``dq_runs`` + ``dq_results`` (migration 0070).
- ``write_report`` (``report.py``) — the HTML report under ``settings.reports_dir``/quality.
- ``traffic_from_kafka`` (``traffic.py``) — whether events flow (freshness is judged only then).
- ``sandbox.py`` — throwaway copies of the tables for corruption tests; ``bench.py`` — the
  one-million-alert measurement (``python -m include.patternalarm.quality.bench``).

No Airflow here: the operator in ``patternalarm_airflow.operators.quality`` wires these together.
"""

from include.patternalarm.quality.report import quality_root, site_dir, write_report
from include.patternalarm.quality.results import CheckResult, ValidationRun, store_run
from include.patternalarm.quality.runner import new_run_id, run_suites
from include.patternalarm.quality.traffic import newest_record_time, traffic_from_kafka

__all__ = [
    "CheckResult", "ValidationRun", "new_run_id", "newest_record_time", "quality_root", "run_suites", "site_dir",
    "store_run", "traffic_from_kafka", "write_report",
]
