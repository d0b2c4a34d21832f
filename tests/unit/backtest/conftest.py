"""A backtest result built the way ``run_backtest`` builds it (``build_result``), from hand-made rows and
alerts — no Kafka or Flink: the jobs' output is what the test says it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from include.patternalarm.backtest.engine import JobRun, Replayed, RuleSet
from include.patternalarm.backtest.evaluate import Rows
from include.patternalarm.backtest.run import BacktestSpec, build_result
from include.patternalarm.replay.runner import ReplayConfig
from include.patternalarm.rules import JobTopics

#: 12 rows of 4 cards; card-1 (rows 2, 5, 8) and card-3 (row 11) are labelled
ENTITIES = ["card-0", "card-1", "card-2"] * 4
LABELS = [False] * 12
for i in (1, 4, 7, 10):
    LABELS[i] = i != 10
LABELS[11] = True
ENTITIES[11] = "card-3"
HOSTILE = "<script>alert('x')</script>"


def rows() -> Rows:
    ids = [f"tx-{i}" for i in range(12)]
    return Rows(labels=np.array(LABELS), entities=np.array(ENTITIES, dtype=object),
                times_s=np.arange(12, dtype=float) * 60.0, event_ids=ids, index={e: i for i, e in enumerate(ids)})


def alert(rule: str, entity: str, rows_: list[int], score: float | None, n: int, **evidence: Any) -> dict[str, Any]:
    return {"alert_id": f"{rule}-{entity}-{n}", "rule_id": rule, "rule_version": 1, "domain": "payments",
            "entity": entity, "severity": "high", "first_event_time": f"2024-03-01T00:{rows_[0]:02d}:00.000Z",
            "last_event_time": f"2024-03-01T00:{rows_[-1]:02d}:00.000Z", "detected_at": "2026-12-02T10:00:00.000Z",
            "evidence": {"event_ids": [f"tx-{i}" for i in rows_], **evidence}, "score": score, "seq": 1}


def candidate_alerts() -> list[dict[str, Any]]:
    return [
        alert("amount_anomaly", "card-1", [4], 0.9, 1, amount=236.5, kind="spike"),
        alert("amount_anomaly", "card-1", [7], 0.8, 2, amount=190.0, kind="spike"),
        alert("amount_anomaly", "card-2", [5], 0.3, 3, amount=80.0, kind="spike", note=HOSTILE),  # a false alarm
        alert("large_amount", "card-3", [11], None, 4, amount=900.0),
        alert("large_amount", "nobody", [99], None, 5),  # names no row of the file (tx-99)
    ]


def spec(**changes: Any) -> BacktestSpec:
    mapping = ReplayConfig(path=Path("/data/pay.csv"), domain="payments", key="card", time="ts",
                           fields={"event_id": "tx", "amount": "amount"}, constants={"event_type": "auth"})
    base = {"path": Path("/data/pay.csv"), "domain": "payments", "label": "fraud", "mapping": mapping,
            "candidate": RuleSet("candidate", None, None, {"large_amount": {"min_amount": "250"}}, None),
            "baseline": RuleSet("baseline", None, None, {"large_amount": {"min_amount": "1000"}}, None),
            "dataset": None}
    return BacktestSpec(**{**base, **changes})


def job(name: str, alerts: list[dict[str, Any]], rules: list[str], seconds: float) -> JobRun:
    rule_set = RuleSet(name, None, None, {"large_amount": {"min_amount": "250" if name == "candidate" else "1000"}},
                       None)
    run = JobRun(rule_set, JobTopics(source="backtest.t.events"), job_id=f"{name}-job", rules=rules,
                 catalog_version=4, alerts=alerts, dead_lettered={"bad_amount": 1} if name == "baseline" else {},
                 submit_s=20.0, start_s=1.5, seconds=seconds)
    return run


def make_result(with_baseline: bool = True) -> dict[str, Any]:
    rules = ["amount_anomaly", "large_amount", "velocity"]
    runs = [job("candidate", candidate_alerts(), rules, 12.0)]
    if with_baseline:
        runs.append(job("baseline", candidate_alerts()[:3], rules, 10.0))
    replayed = Replayed(rows=12, events=12, edge_dead_letters={}, first_ms=0, last_ms=660_000, seconds=0.5)
    result = build_result(spec(baseline=runs[-1].rule_set if with_baseline else None), rows(), replayed, runs,
                          warnings=["rule impossible_travel needs lat, lon"], tag="0badc0de")
    machine = {"cores": 2, "memory_gib": 23.5, "memory_available_gib": 6.0, "load_avg": [3.5, 2.0, 1.0],
               "at": "2026-12-02T10:00:00+00:00"}
    result.update(machine=machine, machine_after=machine, started_at="2026-12-02T10:00:00+00:00",
                  report_dir="/reports/backtests/20261202T100000-payments-0badc0de",
                  durations_s={"read_labels": 0.1, "replay": 0.5, "submit": 20.0, "start": 1.5, "process": 12.0,
                               "collect": 1.0, "score": 0.1}, seconds=36.0)
    return result


@pytest.fixture
def result() -> dict[str, Any]:
    return make_result()
