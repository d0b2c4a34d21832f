"""Detection figures on labelled history — the one definition that `datasets baseline` and the backtest
share, so that their numbers are comparable.

Inputs are parallel arrays, one element per row (event) of the file: ``labels`` (the file's label column,
true = anomalous / fraudulent / cheating), ``alerts`` (true where the detector alerted on that row),
optionally ``scores`` (higher = more suspicious), ``entities`` (card, player, device), ``times`` (event
time in seconds) and ``series`` (what a labelled window belongs to; default the entity).

Definitions (docs/datasets.md explains them with examples):

- **per row**: TP = alerted labelled rows, FP = alerted unlabelled rows, FN = labelled rows not alerted.
- **per entity**: an entity is positive when any of its rows is labelled, alerted when any of its rows
  alerted; TP / FP / FN over entities.
- **windows** (NAB-like, for window labels such as anomaly windows of a sensor series): a window is a
  maximal run of labelled rows of one series in time order. A window with at least one alert inside is
  one TP however many alerts it holds; a window without is one FN; every alerted row outside all windows
  is one FP (each false alarm counts, as in NAB).
- **time to first alert**: per window (window mode) or per positive entity, the event time of the first
  alert at or after the first labelled row (inside the window, in window mode) minus that row's time;
  undetected ones have none. Reported as count, median and 90th percentile in seconds.
- **precision@k**: the share of positives among the k highest scores — of entities (score = the entity's
  highest row score) when entities are given, of rows otherwise.
- **alerts per 10,000 rows**: alerted rows × 10,000 / rows.

Precision, recall and F1 are 0.0 when their denominator is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_KS = (10, 100, 1000)


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else 0.0


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return _ratio(2 * p * r, p + r)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4)}


@dataclass(frozen=True)
class Delays:
    count: int
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, delays: np.ndarray) -> Delays:
        if not len(delays):
            return cls(0, None, None)
        return cls(len(delays), float(np.median(delays)), float(np.percentile(delays, 90)))


def _bool(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=bool)


def row_counts(labels: Sequence[Any], alerts: Sequence[Any]) -> Counts:
    y, a = _bool(labels), _bool(alerts)
    return Counts(int(np.sum(y & a)), int(np.sum(~y & a)), int(np.sum(y & ~a)))


def _codes(keys: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(np.asarray(keys), use_na_sentinel=False)
    return codes, len(uniques)


def _any_by(codes: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    return np.bincount(codes, weights=values.astype(float), minlength=n) > 0


def entity_counts(entities: Sequence[Any], labels: Sequence[Any], alerts: Sequence[Any]) -> Counts:
    codes, n = _codes(entities)
    positive = _any_by(codes, n, _bool(labels))
    alerted = _any_by(codes, n, _bool(alerts))
    return Counts(int(np.sum(positive & alerted)), int(np.sum(~positive & alerted)), int(np.sum(positive & ~alerted)))


def window_ids(series: Sequence[Any] | np.ndarray, labels: Sequence[Any]) -> np.ndarray:
    """For rows already in time order within each series: the window number of each labelled row, -1
    for unlabelled rows. A window is a maximal run of labelled rows of one series."""
    y = _bool(labels)
    s = np.asarray(series)
    if not len(y):
        return np.zeros(0, dtype=np.int64)
    new_series = np.r_[True, s[1:] != s[:-1]]
    starts = y & (new_series | np.r_[True, ~y[:-1]])
    ids = np.cumsum(starts) - 1
    return np.where(y, ids, -1)


def _order(series: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    if times is None:
        return np.argsort(series, kind="stable")
    return np.lexsort((times, series))


def window_counts(series: Sequence[Any], labels: Sequence[Any], alerts: Sequence[Any],
                  times: Sequence[float] | None = None) -> Counts:
    """NAB-like window scoring (see the module docstring); rows are put in (series, time) order first."""
    s = np.asarray(series)
    order = _order(s, None if times is None else np.asarray(times, dtype=float))
    y, a = _bool(labels)[order], _bool(alerts)[order]
    ids = window_ids(s[order], y)
    n = int(ids.max()) + 1 if len(ids) and ids.max() >= 0 else 0
    detected = np.bincount(ids[y & a], minlength=n) > 0 if n else np.zeros(0, dtype=bool)
    return Counts(int(detected.sum()), int(np.sum(a & ~y)), int(n - detected.sum()))


def window_delays(series: Sequence[Any], times: Sequence[float], labels: Sequence[Any],
                  alerts: Sequence[Any]) -> np.ndarray:
    """Seconds from each detected window's first row to its first alert."""
    s, t = np.asarray(series), np.asarray(times, dtype=float)
    order = _order(s, t)
    t, y, a = t[order], _bool(labels)[order], _bool(alerts)[order]
    ids = window_ids(s[order], y)
    n = int(ids.max()) + 1 if len(ids) and ids.max() >= 0 else 0
    if not n:
        return np.zeros(0)
    start = np.full(n, np.inf)
    np.minimum.at(start, ids[y], t[y])
    first = np.full(n, np.inf)
    hit = y & a
    np.minimum.at(first, ids[hit], t[hit])
    found = np.isfinite(first)
    return first[found] - start[found]


def entity_delays(entities: Sequence[Any], times: Sequence[float], labels: Sequence[Any],
                  alerts: Sequence[Any]) -> np.ndarray:
    """Seconds from each positive entity's first labelled row to its first alert at or after it."""
    codes, n = _codes(entities)
    t, y, a = np.asarray(times, dtype=float), _bool(labels), _bool(alerts)
    onset = np.full(n, np.inf)
    np.minimum.at(onset, codes[y], t[y])
    after = a & (t >= onset[codes])
    first = np.full(n, np.inf)
    np.minimum.at(first, codes[after], t[after])
    found = np.isfinite(first) & np.isfinite(onset)
    return first[found] - onset[found]


def precision_at_k(scores: Sequence[float], labels: Sequence[Any], k: int) -> float:
    """Share of positives among the ``k`` highest scores (ties keep input order); k beyond n uses n."""
    s, y = np.asarray(scores, dtype=float), _bool(labels)
    k = min(k, len(s))
    if k <= 0:
        return 0.0
    top = np.argsort(-s, kind="stable")[:k]
    return float(np.mean(y[top]))


def entity_scores(entities: Sequence[Any], scores: Sequence[float], labels: Sequence[Any]) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """Per entity: its highest score (-inf when it has none) and whether it is positive."""
    codes, n = _codes(entities)
    s = np.asarray(scores, dtype=float)
    best = np.full(n, -np.inf)
    valid = ~np.isnan(s)
    np.maximum.at(best, codes[valid], s[valid])
    return best, _any_by(codes, n, _bool(labels))


def best_threshold(scores: Sequence[float], labels: Sequence[Any]) -> tuple[float, Counts]:
    """The ``t`` for which the rule ``score > t`` has the best F1 over these units (rows, or entities with
    their best score), searched exactly over every distinct score. Tuned on the labels: report it as such."""
    s, y = np.asarray(scores, dtype=float), _bool(labels)
    finite = np.isfinite(s)
    s, y_in = s[finite], y[finite]
    positives = int(y.sum())
    if not len(s):
        return float("inf"), Counts(0, 0, positives)
    values, inverse = np.unique(-s, return_inverse=True)  # distinct scores, highest first
    tp = np.cumsum(np.bincount(inverse, weights=y_in, minlength=len(values)))
    alerted = np.cumsum(np.bincount(inverse, minlength=len(values)))
    f1 = 2 * tp / (alerted + positives)
    best = int(np.argmax(f1))
    threshold = -values[best + 1] if best + 1 < len(values) else -np.inf
    if best + 1 < len(values):
        threshold = (-values[best] + -values[best + 1]) / 2  # between the last alerted and the next score
    return float(threshold), Counts(int(tp[best]), int(alerted[best] - tp[best]), int(positives - tp[best]))


def alerts_per_10k(alerts: Sequence[Any]) -> float:
    a = _bool(alerts)
    return _ratio(10_000 * int(a.sum()), len(a))


@dataclass(frozen=True)
class Report:
    rows: int
    alerts: int
    alerts_per_10k_rows: float
    row: Counts
    entity: Counts | None
    windows: Counts | None
    time_to_first_alert: Delays | None
    precision_at_k: dict[int, float]
    precision_at_k_of: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "alerts": self.alerts, "alerts_per_10k_rows": round(self.alerts_per_10k_rows, 2),
            "row": self.row.as_dict(),
            "entity": self.entity.as_dict() if self.entity else None,
            "windows": self.windows.as_dict() if self.windows else None,
            "time_to_first_alert": asdict(self.time_to_first_alert) if self.time_to_first_alert else None,
            "precision_at_k": {str(k): round(v, 4) for k, v in self.precision_at_k.items()},
            "precision_at_k_of": self.precision_at_k_of,
        }


def evaluate(labels: Sequence[Any], alerts: Sequence[Any], *, scores: Sequence[float] | None = None,
             entities: Sequence[Any] | None = None, times: Sequence[float] | None = None,
             series: Sequence[Any] | None = None, window_labels: bool = False,
             ks: Sequence[int] = DEFAULT_KS) -> Report:
    """Every figure at once. ``window_labels`` scores windows of ``series`` (default ``entities``) and
    times windows; otherwise time to first alert is per positive entity."""
    y, a = _bool(labels), _bool(alerts)
    if len(y) != len(a):
        raise ValueError(f"labels ({len(y)}) and alerts ({len(a)}) differ in length")
    windows = delays = None
    groups = series if series is not None else entities
    if window_labels:
        if groups is None:
            groups = np.zeros(len(y), dtype=np.int8)
        windows = window_counts(groups, y, a, times)
        if times is not None:
            delays = Delays.of(window_delays(groups, times, y, a))
    elif entities is not None and times is not None:
        delays = Delays.of(entity_delays(entities, times, y, a))
    at_k: dict[int, float] = {}
    of = "rows"
    if scores is not None:
        s, yk = np.asarray(scores, dtype=float), y
        if entities is not None and not window_labels:
            s, yk = entity_scores(entities, s, y)
            of = "entities"
        at_k = {k: precision_at_k(s, yk, k) for k in ks}
    return Report(rows=len(y), alerts=int(a.sum()), alerts_per_10k_rows=alerts_per_10k(a), row=row_counts(y, a),
                  entity=entity_counts(entities, y, a) if entities is not None else None, windows=windows,
                  time_to_first_alert=delays, precision_at_k=at_k, precision_at_k_of=of)
