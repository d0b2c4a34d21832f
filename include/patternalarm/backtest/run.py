"""``run_backtest``: replay, run the rule sets in isolated jobs, score them against the labels, report.

The result (a dict, also ``result.json``) and the HTML report (``index.html`` and its plots, see
``report.py``) go to ``<reports_dir>/backtests/<UTC stamp>-<domain>-<tag>/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.patternalarm.backtest.engine import BacktestError, Isolation, JobRun, Replayed, RuleSet, run_jobs
from include.patternalarm.backtest.evaluate import LabelError, Rows, read_rows, score_alerts
from include.patternalarm.backtest.requirements import missing_fields
from include.patternalarm.observe import machine
from include.patternalarm.replay.runner import ReplayConfig
from include.patternalarm.settings import Settings

Progress = Callable[[str], None]
TOP_ALERTS = 20


@dataclass(frozen=True)
class BacktestSpec:
    path: Path
    domain: str
    label: str
    mapping: ReplayConfig  # key, time, fields (--map), constants (--set), format, delimiter, limit, workers
    entity: str | None = None  # default: the key column
    windows: bool = False  # labels mark windows of a series (sensor data) rather than single rows
    group: str | None = None  # a column naming the kind of each positive (fraud scenario, cheat): recall per kind
    candidate: RuleSet = field(default_factory=RuleSet)
    baseline: RuleSet | None = None
    parallelism: int = 1
    timeout_s: float = 1800.0
    dataset: str | None = None  # the registry's name, when the file is a registered data set
    extra: dict[str, Any] = field(default_factory=dict)  # recorded as is (e.g. the Airflow run that asked)

    def describe_mapping(self) -> dict[str, Any]:
        m = self.mapping
        return {"key": m.key, "time": m.time, "map": dict(m.fields), "set": dict(m.constants), "format": m.format,
                "limit": m.limit, "label": self.label, "entity": self.entity or m.key, "windows": self.windows,
                "group": self.group}


def labelled(rows: Rows, alert: dict[str, Any]) -> dict[str, Any]:
    """``alert`` with ``labelled``: whether a row it flags is labelled (None: it names no row of the file)."""
    found = [rows.index[e] for e in (alert.get("evidence") or {}).get("event_ids", []) if e in rows.index]
    return {**alert, "labelled": bool(rows.labels[found].any()) if found else None}


def build_result(spec: BacktestSpec, rows: Rows, replayed: Replayed, runs: list[JobRun], *, warnings: list[str],
                 tag: str) -> dict[str, Any]:
    """The result of a backtest (pure): what ran, on what, and every rule set's figures against the labels."""
    result: dict[str, Any] = {
        "kind": "backtest", "file": str(spec.path), "dataset": spec.dataset, "domain": spec.domain,
        "label": spec.label, "entity": spec.entity or spec.mapping.key, "windows": spec.windows,
        "group": spec.group, "mapping": spec.describe_mapping(), "rows": len(rows), "positives": int(rows.labels.sum()),
        "positive_entities": len(set(rows.entities[rows.labels])),
        "replay": {**replayed.__dict__, "rows_per_s": round(replayed.rows / replayed.seconds, 1)
                   if replayed.seconds else None},
        "parallelism": spec.parallelism, "tag": tag, "warnings": warnings, **spec.extra,
    }
    for run in runs:
        scored = score_alerts(rows, run.alerts, windows=spec.windows, rules=run.rules)
        ranked = sorted(run.alerts, key=lambda a: -(a.get("score") or 0.0))[:TOP_ALERTS]
        result[run.rule_set.name] = {
            **run.rule_set.describe(), "catalog_version": run.catalog_version, "rule_ids": run.rules,
            "job_id": run.job_id, "submit_s": run.submit_s, "start_s": run.start_s, "job_seconds": run.seconds,
            "events_per_s": round(replayed.events / run.seconds, 1) if run.seconds else None,
            "dead_lettered_by_job": run.dead_lettered, "late": run.late, **scored,
            "top_alerts": [labelled(rows, a) for a in ranked],
        }
    return result


def report_folder(settings: Settings, domain: str, tag: str) -> Path:
    return settings.reports_dir / "backtests" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{domain}-{tag}"


def run_backtest(settings: Settings, spec: BacktestSpec, *, progress: Progress = lambda _: None,
                 out_dir: Path | None = None, isolation: Isolation | None = None) -> dict[str, Any]:
    """Run ``spec``; the result dict (``report_dir`` names its folder). ``isolation``: to release from outside."""
    started = time.monotonic()
    started_at = datetime.now(UTC)
    machine_at_start = machine()
    if not spec.path.is_file():
        raise BacktestError(f"no such file: {spec.path}")
    isolation = isolation or Isolation(settings)
    prefix = spec.mapping.id_prefix or f"bt{int(time.time())}"
    mapping = replace(spec.mapping, id_prefix=prefix)
    durations: dict[str, float] = {}
    phase = time.monotonic()
    try:
        rows = read_rows(spec.path, label=spec.label, entity=spec.entity or spec.mapping.key, time=spec.mapping.time,
                         event_id=spec.mapping.fields.get("event_id"), id_prefix=prefix, fmt=spec.mapping.format,
                         delimiter=spec.mapping.delimiter, limit=spec.mapping.limit, group=spec.group)
    except LabelError as exc:
        raise BacktestError(str(exc)) from exc
    durations["read_labels"] = time.monotonic() - phase
    progress(f"{len(rows):,} rows, {int(rows.labels.sum()):,} labelled positive, "
             f"{len(set(rows.entities[rows.labels])):,} positive entities")
    rule_sets = [spec.candidate] + ([spec.baseline] if spec.baseline else [])
    warnings = missing_fields(spec.domain, mapping, rule_sets)
    for warning in warnings:
        progress(f"warning: {warning}")
    replayed, runs, timings = run_jobs(settings, spec.path, spec.domain, mapping, rule_sets,
                                       parallelism=spec.parallelism, progress=progress, timeout=spec.timeout_s,
                                       isolation=isolation)
    durations.update(timings.as_dict())
    machine_after_jobs = machine()  # its 1- and 5-minute loads are those of the replay and the jobs
    phase = time.monotonic()
    result = build_result(spec, rows, replayed, runs, warnings=warnings, tag=isolation.tag)
    result.update(machine=machine_at_start, machine_after=machine_after_jobs,
                  started_at=started_at.isoformat(timespec="seconds"))
    durations["score"] = time.monotonic() - phase
    folder = out_dir or report_folder(settings, spec.domain, isolation.tag)
    folder.mkdir(parents=True, exist_ok=True)
    result["report_dir"] = str(folder)
    result["durations_s"] = {k: round(v, 1) for k, v in durations.items()}
    result["seconds"] = round(time.monotonic() - started, 1)
    phase = time.monotonic()
    from include.patternalarm.backtest.report import write_report

    write_report(result, folder)
    result["durations_s"]["report"] = round(time.monotonic() - phase, 1)
    result["seconds"] = round(time.monotonic() - started, 1)
    (folder / "result.json").write_text(json.dumps(result, indent=2, default=str))
    return result
