"""The one-line detectors that issue 13's reviewers compared the product against, run in Python on a
data set's CSV and scored with ``metrics.evaluate`` (the backtest's own figures).

- ``rolling_4sigma`` (IoT, minute-to-hour data): per series (device, sensor), alert when a reading is more
  than 4 σ from the mean of the previous ``window`` readings (default 288: a day of 5-minute readings;
  at least half of them needed). Score = |z|.
- ``first_minutes_3sigma`` (IoT, 1 Hz-like runs): per series, mean and σ of the run's first
  ``reference_s`` seconds (at most a quarter of the run, at least 10 readings); alert when a later
  reading is more than 3 σ from them. Score = |z|.
- ``amount_threshold`` (payments): alert when ``amount > threshold``; run at a fixed threshold (220, the
  handbook's own scenario-1 rule) and at the threshold with the best per-row F1 — the latter is tuned on
  the labels and says so. Score = amount.
- ``headshot_ratio`` (gaming): per player, the running headshot share of its kills; alert on each kill
  once the player has ``min_kills`` kills and the share exceeds ``cut``. Fixed cut 0.6, and the cut with
  the best per-player F1 (tuned, and says so). Score = the share.

A σ of 0 (a flat stretch) makes any different reading an alert, as the naive rule would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from include.patternalarm.datasets.metrics import Report, best_threshold, entity_scores, evaluate
from include.patternalarm.datasets.registry import Dataset, get


@dataclass(frozen=True)
class BaselineResult:
    dataset: str
    baseline: str
    rule: str
    tuned: bool
    report: Report

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "baseline": self.baseline, "rule": self.rule, "tuned_on_labels": self.tuned,
                **self.report.as_dict()}


def load(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    frame["_t"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601").astype("int64") / 1e9
    return frame


def _z(values: pd.Series, mean: pd.Series, std: pd.Series) -> np.ndarray:
    diff = np.abs(values.to_numpy(dtype=float) - mean.to_numpy(dtype=float))
    sd = std.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, diff / sd, np.where(diff > 0, np.inf, 0.0))
    return np.where(np.isnan(mean.to_numpy(dtype=float)), np.nan, z)


def _series(frame: pd.DataFrame) -> Any:
    return frame.groupby(["device", "sensor"], sort=False)["value"]


def rolling_4sigma(frame: pd.DataFrame, window: int = 288, k: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    by = _series(frame)
    mean = by.transform(lambda s: s.rolling(window, min_periods=window // 2).mean().shift(1))
    std = by.transform(lambda s: s.rolling(window, min_periods=window // 2).std().shift(1))
    z = _z(frame["value"], mean, std)
    return np.nan_to_num(z, nan=0.0) > k, z


def first_minutes_3sigma(frame: pd.DataFrame, reference_s: float = 300.0, k: float = 3.0,
                         min_readings: int = 10) -> tuple[np.ndarray, np.ndarray]:
    t = frame["_t"]
    keys = [frame["device"], frame["sensor"]]
    start = t.groupby(keys, sort=False).transform("min")
    span = t.groupby(keys, sort=False).transform("max") - start
    rank = t.groupby(keys, sort=False).cumcount()
    reference = ((t - start) < np.minimum(reference_s, span / 4)) | (rank < min_readings)
    ref_values = frame["value"].where(reference)
    mean = ref_values.groupby(keys, sort=False).transform("mean")
    std = ref_values.groupby(keys, sort=False).transform("std")
    z = np.where(reference, np.nan, _z(frame["value"], mean, std))
    return np.nan_to_num(z, nan=0.0) > k, z


def amount_alerts(frame: pd.DataFrame, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    amount = frame["amount"].to_numpy(dtype=float)
    return amount > threshold, amount


def headshot_share(frame: pd.DataFrame, min_kills: int = 20) -> np.ndarray:
    """Per row: the player's running headshot share of kills at a kill with ≥ min_kills kills, else NaN."""
    kills = (frame["action"] == "kill").to_numpy()
    head = kills & (frame["headshot"].astype(str).str.lower() == "true").to_numpy()
    order = np.lexsort((frame["_t"].to_numpy(), frame["player"].to_numpy()))
    player = frame["player"].to_numpy()[order]
    k = pd.Series(kills[order].astype(int)).groupby(player).cumsum().to_numpy()
    h = pd.Series(head[order].astype(int)).groupby(player).cumsum().to_numpy()
    share_sorted = np.where(kills[order] & (k >= min_kills), h / np.maximum(k, 1), np.nan)
    share = np.empty_like(share_sorted)
    share[order] = share_sorted
    return share


def _labels(dataset: Dataset, frame: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(frame[dataset.mapping.label], errors="coerce").fillna(0).to_numpy() > 0


def _score(dataset: Dataset, frame: pd.DataFrame, labels: np.ndarray, alerts: np.ndarray,
           scores: np.ndarray) -> Report:
    entities = frame[dataset.mapping.entity].to_numpy()
    times = frame["_t"].to_numpy()
    if dataset.window_labels:
        series = (frame["device"] + "/" + frame["sensor"]).to_numpy() if "sensor" in frame else entities
        return evaluate(labels, alerts, scores=np.nan_to_num(scores, nan=-np.inf), entities=entities, times=times,
                        series=series, window_labels=True)
    return evaluate(labels, alerts, scores=np.nan_to_num(scores, nan=-np.inf), entities=entities, times=times)


Detection = tuple[str, str, bool, np.ndarray, np.ndarray]  # baseline, rule, tuned, alerts, scores


def _detections(dataset: Dataset, frame: pd.DataFrame, labels: np.ndarray) -> Iterator[Detection]:
    for name in dataset.baselines:
        if name == "rolling_4sigma":
            yield name, "|x − mean(previous 288)| > 4σ per series", False, *rolling_4sigma(frame)
        elif name == "first_minutes_3sigma":
            yield name, "|x − mean(first 300 s, ≤ ¼ run)| > 3σ per series", False, *first_minutes_3sigma(frame)
        elif name == "amount_threshold":
            amount = frame["amount"].to_numpy(dtype=float)
            yield name, "amount > 220", False, amount > 220.0, amount
            best, _ = best_threshold(amount, labels)
            yield name, f"amount > {best:.2f} (best per-row F1)", True, amount > best, amount
        elif name == "headshot_ratio":
            share = headshot_share(frame)
            seen = np.nan_to_num(share, nan=-np.inf)
            yield name, "headshot share > 0.6 after ≥ 20 kills", False, seen > 0.6, share
            cut, _ = best_threshold(*entity_scores(frame["player"].to_numpy(), seen, labels))
            yield name, f"headshot share > {cut:.3f} after ≥ 20 kills (best per-player F1)", True, seen > cut, share
        else:
            raise ValueError(f"unknown baseline {name!r}")


def run(name: str, path: Path) -> list[BaselineResult]:
    """Every baseline of data set ``name`` on its CSV at ``path``."""
    dataset = get(name)
    frame = load(path)
    labels = _labels(dataset, frame)
    results = []
    for baseline, rule, tuned, alerts, scores in _detections(dataset, frame, labels):
        results.append(BaselineResult(name, baseline, rule, tuned, _score(dataset, frame, labels, alerts, scores)))
    return results
