"""Scoring a backtest: the file's labels against the alerts, per rule and overall.

The file is read once more with replay's reader, so row numbers — and the event ids replay gives rows
without an ``event_id`` column (``<prefix>-<row>``) — are the same. An alert flags the rows of the
event ids in its evidence; a row's score is the highest score of the alerts flagging it (1 for a rule
without scores). The figures are those of ``include.patternalarm.datasets.metrics`` (shared with
``datasets baseline``): per row, per entity, per labelled window (``--windows``), time to first alert,
alerts per 10,000 rows — except precision@k, which ranks only what alerted (``ranked``): the baselines
score every row, a rule set scores only the rows its alerts flag. With a ``group`` column (the kind of
fraud or cheat: ``--group scenario``) recall is also given per value of it (``by_group``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from include.patternalarm.datasets.metrics import DEFAULT_KS, entity_scores, evaluate
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
    groups: np.ndarray | None = None  # the --group column's value per row ("" when absent)

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
              fmt: str | None = None, delimiter: str = ",", limit: int | None = None,
              group: str | None = None) -> Rows:
    """The file's rows (the first ``limit``, as replay reads them)."""
    source = open_rows(path, fmt=fmt, delimiter=delimiter,
                       columns=[c for c in (label, entity, time, event_id, group) if c])
    try:
        columns = list(source.columns)
        for name, what in ((label, "--label"), (entity, "--entity"), (time, "--time"), (group, "--group")):
            if name and name not in columns:
                raise LabelError(f"{what} column {name!r} is not in the file (columns: {', '.join(columns)})")
        li, ei, ti = columns.index(label), columns.index(entity), columns.index(time)
        ii = columns.index(event_id) if event_id else None
        gi = columns.index(group) if group else None
        labels: list[bool] = []
        entities: list[str] = []
        times: list[float] = []
        ids: list[str] = []
        groups: list[str] = []
        for first, batch in source.batches():
            if limit is not None and first > limit:
                break
            for offset, row in enumerate(batch):
                number = first + offset
                if limit is not None and number > limit:
                    break
                if isinstance(row, BadRow) or row is None:
                    labels.append(False)
                    entities.append("")
                    times.append(float("nan"))
                    ids.append(f"{id_prefix}-{number}")
                    groups.append("")
                    continue
                labels.append(truthy(row[li]))
                entities.append("" if row[ei] is None else str(row[ei]))
                try:
                    times.append(parse_event_time(row[ti]) / 1000.0)
                except EventTimeError:
                    times.append(float("nan"))
                ids.append(str(row[ii]) if ii is not None else f"{id_prefix}-{number}")
                groups.append("" if gi is None or row[gi] is None else str(row[gi]))
    finally:
        source.close()
    return Rows(labels=np.array(labels, dtype=bool), entities=np.array(entities, dtype=object),
                times_s=np.array(times, dtype=float), event_ids=ids, index={e: i for i, e in enumerate(ids)},
                groups=np.array(groups, dtype=object) if group else None)


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


def ranked(scores: np.ndarray, alerted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The labels of the alerted units, highest score first (ties keep input order). Units without an
    alert have no score: they are not ranked at all (rather than in arbitrary order after the others)."""
    order = np.argsort(-scores[alerted], kind="stable")
    return labels[alerted][order]


def precision_at(hits: np.ndarray, k: int) -> float:
    """Positives among the k highest-scoring alerted units, over k: a rule set that alerted on fewer
    than k units counts the empty places as misses (it cannot reach 1.0 with 3 alerts at k = 10)."""
    return float(np.sum(hits[:k])) / k if k > 0 else 0.0


def precision_curve(hits: np.ndarray, points: int = 60) -> dict[str, list]:
    """Precision@k for k = 1 … the number of alerted units, at up to ``points`` log-spaced k."""
    if not len(hits):
        return {"k": [], "precision": []}
    cumulative = np.cumsum(hits)
    ks = np.unique(np.geomspace(1, len(hits), num=min(points, len(hits))).round().astype(int))
    return {"k": ks.tolist(), "precision": [round(float(cumulative[k - 1]) / k, 4) for k in ks]}


def by_group(labels: np.ndarray, alerted: np.ndarray, entities: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """Recall per value of the group column, over the positive rows of that value: the share of those rows
    an alert flagged, and the share of their entities with an alert on any of their rows (the entity
    figure of ``evaluate``). Values of negative rows only (a "no fraud" 0) are not groups."""
    flagged = set(entities[alerted])
    out: dict[str, Any] = {}
    for value in sorted(set(groups[labels]), key=lambda v: (len(v), v)):
        rows = labels & (groups == value)
        members = set(entities[rows])
        found = len(members & flagged)
        out[value] = {"rows": int(rows.sum()), "row_recall": round(float(alerted[rows].mean()), 4),
                      "entities": len(members), "entities_found": found,
                      "entity_recall": round(found / len(members), 4) if members else 0.0}
    return out


def score_alerts(rows: Rows, alerts: Sequence[dict[str, Any]], *, windows: bool = False,
                 rules: Sequence[str] = ()) -> dict[str, Any]:
    """Overall and per-rule figures of one rule set's alerts (``rules``: also those that raised none).

    Precision@k ranks entities by their highest alert score (rows, for window labels); see ``ranked``."""
    ok = ~np.isnan(rows.times_s)
    labels, entities = rows.labels[ok], rows.entities[ok]

    def one(subset: Sequence[dict[str, Any]], curve: bool = False) -> dict[str, Any]:
        alerted, scores, unmatched = flags(rows, subset)
        alerted, scores = alerted[ok], scores[ok]
        report = evaluate(labels, alerted, entities=entities, times=rows.times_s[ok], window_labels=windows)
        out = report.as_dict()  # alerts / alerts_per_10k_rows there count alerted ROWS
        if windows:
            hits = ranked(scores, alerted, labels)
            out["precision_at_k_of"] = "rows"
        else:
            best, positive = entity_scores(entities, np.where(alerted, scores, np.nan), labels)
            hits = ranked(best, np.isfinite(best), positive)
            out["precision_at_k_of"] = "entities"
        out["precision_at_k"] = {str(k): round(precision_at(hits, k), 4) for k in DEFAULT_KS}
        out["alert_ids"] = len(subset)
        out["alert_ids_per_10k_rows"] = round(len(subset) * 10_000 / max(len(rows), 1), 3)
        out["alerts_on_no_file_row"] = unmatched
        if rows.groups is not None:
            out["by_group"] = by_group(labels, alerted, entities, rows.groups[ok])
        if curve:
            out["precision_curve"] = precision_curve(hits)
        return out

    by_rule: dict[str, list[dict[str, Any]]] = {rule: [] for rule in rules}
    for alert in alerts:
        by_rule.setdefault(alert["rule_id"], []).append(alert)
    return {"overall": one(alerts, curve=True),
            "rules": {rule: one(subset) for rule, subset in sorted(by_rule.items())}}
