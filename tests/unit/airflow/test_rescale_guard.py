"""A scaling decision is carried out only while it is fresh (no Flink needed: refused before any call)."""

from __future__ import annotations

import time

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from patternalarm_airflow.operators.flink import FlinkRescaleJobOperator


def test_a_stale_decision_is_skipped_not_applied() -> None:
    # e.g. a run left over from before the DAG was paused, resumed an hour later
    op = FlinkRescaleJobOperator(task_id="rescale", domain="payments", parallelism=4, job_id="j1",
                                 decided_at=time.time() - 3600, max_decision_age_s=300)
    with pytest.raises(AirflowSkipException, match="3600s old"):
        op.execute({})
