"""Scoring a backtest: the file's labels against the alerts, per rule and overall.

The file is read once more with replay's reader, so row numbers — and the event ids replay gives rows
without an ``event_id`` column (``<prefix>-<row>``) — are the same. An alert flags the rows of the
event ids in its evidence; a row's score is the highest score of the alerts flagging it. The figures
are those of ``include.patternalarm.datasets.metrics`` (shared with ``datasets baseline``): per row,
per entity, per labelled window (``--windows``), time to first alert, precision@k by score, alerts per
10,000 rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from include.patternalarm.datasets.metrics import evaluate
from include.patternalarm.events.timefmt import EventTimeError, parse_event_time
from include.patternalarm.replay.readers import BadRow, open_rows

_TRUE = {"1", "true", "t", "yes", "y", "fraud", "anomaly", "cheater"}


class LabelError(ValueError):
    """The label, entity or time column is missing from the file (the message lists the columns)."""


@dataclass
class Rows:
    """Per row of the file (replay's numbering, 1-based): its label, entity, event time and event id."""

    labels: np.ndarray
    entities: np.ndarray
    times_s: np.ndarray
    event_ids: list[str]
    index: dict[str, int]

    def __len__(self) -> int:
        return len(self.labels)


def truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    try:
        return float(text) != 0
    except ValueError:
        return False


def read_rows(path: Path, *, label: str, entity: str, time: str, event_id: str | None, id_prefix: str,
              fmt: str | None = None, delimiter: str = ",") -> Rows:
    source = open_rows(path, fmt=fmt, delimiter=delimiter,
                       columns=[c for c in (label, entity, time, event_id) if c])
    try:
        columns = list(source.columns)
        for name, what in ((label, "--label"), (entity, "--entity"), (time, "--time")):
            if name not in columns:
                raise LabelError(f"{what} column {name!r} is not in the file (columns: {', '.join(columns)})")
        li, ei, ti = columns.index(label), columns.index(entity), columns.index(time)
        ii = columns.index(event_id) if event_id else None
        labels: list[bool] = []
        entities: list[str] = []
        times: list[float] = []
        ids: list[str] = []
        for first, batch in source.batches():
            for offset, row in enumerate(batch):
                number = first + offset
                if isinstance(row, BadRow) or row is None:
                    labels.append(False)
                    entities.append("")
                    times.append(float("nan"))
                    ids.append(f"{id_prefix}-{number}")
                    continue
                labels.append(truthy(row[li]))
                entities.append("" if row[ei] is None else str(row[ei]))
                try:
                    times.append(parse_event_time(row[ti]) / 1000.0)
                except EventTimeError:
                    times.append(float("nan"))
                ids.append(str(row[ii]) if ii is not None else f"{id_prefix}-{number}")
    finally:
        source.close()
    return Rows(labels=np.array(labels, dtype=bool), entities=np.array(entities, dtype=object),
                times_s=np.array(times, dtype=float), event_ids=ids, index={e: i for i, e in enumerate(ids)})


def flags(rows: Rows, alerts: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, int]:
    """(alerted per row, score per row, alerts that name no row of the file)."""
    alerted = np.zeros(len(rows), dtype=bool)
    scores = np.zeros(len(rows), dtype=float)
    unmatched = 0
    for alert in alerts:
        hit = False
        score = alert.get("score")
        score = 1.0 if score is None else float(score)
        for event_id in alert["evidence"].get("event_ids", []):
            i = rows.index.get(event_id)
            if i is None:
                continue
            hit = True
            alerted[i] = True
            scores[i] = max(scores[i], score)
        unmatched += 0 if hit else 1
    return alerted, scores, unmatched


def score_alerts(rows: Rows, alerts: Sequence[dict[str, Any]], *, windows: bool = False) -> dict[str, Any]:
    """Overall and per-rule figures of one rule set's alerts."""

    def one(subset: Sequence[dict[str, Any]]) -> dict[str, Any]:
        alerted, scores, unmatched = flags(rows, subset)
        ok = ~np.isnan(rows.times_s)
        report = evaluate(rows.labels[ok], alerted[ok], scores=scores[ok], entities=rows.entities[ok],
                          times=rows.times_s[ok], window_labels=windows)
        out = report.as_dict()  # alerts / alerts_per_10k_rows there count alerted ROWS
        out["alert_ids"] = len(subset)
        out["alert_ids_per_10k_rows"] = round(len(subset) * 10_000 / max(len(rows), 1), 3)
        out["alerts_on_no_file_row"] = unmatched
        return out

    by_rule: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        by_rule.setdefault(alert["rule_id"], []).append(alert)
    return {"overall": one(alerts), "rules": {rule: one(subset) for rule, subset in sorted(by_rule.items())}}
