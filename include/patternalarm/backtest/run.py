"""``run_backtest``: replay, run the rule sets in isolated jobs, score them against the labels, report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.patternalarm.backtest.engine import BacktestError, RuleSet, run_jobs
from include.patternalarm.backtest.evaluate import LabelError, read_rows, score_alerts
from include.patternalarm.backtest.requirements import missing_fields
from include.patternalarm.observe import machine
from include.patternalarm.replay.runner import ReplayConfig
from include.patternalarm.settings import Settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BacktestSpec:
    path: Path
    domain: str
    label: str
    mapping: ReplayConfig  # key, time, fields (--map), constants (--set), format, delimiter, workers
    entity: str | None = None  # default: the key column
    windows: bool = False  # labels mark windows of a series (sensor data) rather than single rows
    candidate: RuleSet = field(default_factory=RuleSet)
    baseline: RuleSet | None = None
    parallelism: int = 1
    timeout_s: float = 1800.0


def run_backtest(settings: Settings, spec: BacktestSpec, *, progress: Progress = lambda _: None,
                 out_dir: Path | None = None) -> dict[str, Any]:
    started = time.monotonic()
    if not spec.path.is_file():
        raise BacktestError(f"no such file: {spec.path}")
    prefix = spec.mapping.id_prefix or f"bt{int(time.time())}"
    mapping = replace(spec.mapping, id_prefix=prefix)
    try:
        rows = read_rows(spec.path, label=spec.label, entity=spec.entity or spec.mapping.key, time=spec.mapping.time,
                         event_id=spec.mapping.fields.get("event_id"), id_prefix=prefix, fmt=spec.mapping.format,
                         delimiter=spec.mapping.delimiter)
    except LabelError as exc:
        raise BacktestError(str(exc)) from exc
    progress(f"{len(rows):,} rows, {int(rows.labels.sum()):,} labelled positive, "
             f"{len(set(rows.entities[rows.labels])):,} positive entities")
    rule_sets = [spec.candidate] + ([spec.baseline] if spec.baseline else [])
    warnings = missing_fields(spec.domain, mapping, rule_sets)
    for warning in warnings:
        progress(f"warning: {warning}")
    replayed, runs = run_jobs(settings, spec.path, spec.domain, mapping, rule_sets, parallelism=spec.parallelism,
                              progress=progress, timeout=spec.timeout_s)
    result: dict[str, Any] = {
        "kind": "backtest", "file": str(spec.path), "domain": spec.domain, "label": spec.label,
        "entity": spec.entity or spec.mapping.key, "windows": spec.windows, "rows": len(rows),
        "positives": int(rows.labels.sum()), "positive_entities": len(set(rows.entities[rows.labels])),
        "replay": replayed.__dict__, "warnings": warnings, "machine": machine(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for run in runs:
        scored = score_alerts(rows, run.alerts, windows=spec.windows)
        result[run.rule_set.name] = {
            **run.rule_set.describe(), "catalog_version": run.catalog_version, "rules": run.rules,
            "job_seconds": run.seconds, "dead_lettered_by_job": run.dead_lettered, "late": run.late,
            "events_per_s": round(replayed.events / run.seconds, 1) if run.seconds else None, **scored,
            "top_alerts": sorted(run.alerts, key=lambda a: -(a.get("score") or 0.0))[:20],
        }
    result["seconds"] = round(time.monotonic() - started, 1)
    folder = out_dir or settings.reports_dir / "backtests" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{spec.domain}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result, indent=2, default=str))
    result["report_dir"] = str(folder)
    return result
