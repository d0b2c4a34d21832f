"""The shared detection metrics on tiny hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from include.patternalarm.datasets.metrics import (
    Counts,
    alerts_per_10k,
    best_threshold,
    entity_counts,
    entity_delays,
    entity_scores,
    evaluate,
    precision_at_k,
    row_counts,
    window_counts,
    window_delays,
    window_ids,
)


def test_counts_precision_recall_f1_and_zero_denominators() -> None:
    c = Counts(tp=3, fp=1, fn=2)
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(0.6)
    assert c.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert Counts(0, 0, 5).precision == 0.0 and Counts(0, 0, 5).f1 == 0.0
    assert Counts(0, 0, 0).recall == 0.0


def test_row_counts() -> None:
    labels = [1, 1, 0, 0, 1, 0]
    alerts = [1, 0, 1, 0, 1, 0]
    assert row_counts(labels, alerts) == Counts(tp=2, fp=1, fn=1)


def test_entity_counts_any_label_any_alert() -> None:
    # a: positive, alerted on an unlabelled row (still detected) · b: positive, missed · c: negative, alerted
    entities = ["a", "a", "b", "b", "c", "d"]
    labels = [0, 1, 1, 0, 0, 0]
    alerts = [1, 0, 0, 0, 1, 0]
    assert entity_counts(entities, labels, alerts) == Counts(tp=1, fp=1, fn=1)


def test_window_ids_split_runs_and_series() -> None:
    series = ["s", "s", "s", "s", "t", "t", "t"]
    labels = [1, 1, 0, 1, 1, 1, 0]
    # run 0 = rows 0-1, run 1 = row 3, and row 4 starts a new series, so run 2 = rows 4-5
    assert window_ids(series, labels).tolist() == [0, 0, -1, 1, 2, 2, -1]


def test_window_counts_nab_like() -> None:
    series = ["s"] * 10
    labels = [0, 1, 1, 1, 0, 0, 1, 1, 0, 0]   # two windows: rows 1-3 and 6-7
    alerts = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]   # 3 alerts in window 1 count once; rows 0 and 9 are 2 FPs
    assert window_counts(series, labels, alerts) == Counts(tp=1, fp=2, fn=1)


def test_window_counts_orders_rows_by_series_and_time() -> None:
    # interleaved series and shuffled rows: s has one window (t=2,3), u has none
    series = ["u", "s", "s", "u", "s", "s"]
    times = [1, 3, 1, 2, 2, 4]
    labels = [0, 1, 0, 0, 1, 0]
    alerts = [0, 1, 0, 1, 0, 0]
    assert window_counts(series, labels, alerts, times) == Counts(tp=1, fp=1, fn=0)


def test_window_delays_from_window_start_to_first_alert_inside() -> None:
    series = ["s"] * 8
    times = [0, 10, 20, 30, 40, 50, 60, 70]
    labels = [0, 1, 1, 1, 0, 1, 1, 0]         # windows start at 10 and 50
    alerts = [1, 0, 1, 1, 0, 0, 0, 1]         # first alert in window 1 at 20; window 2 missed
    assert window_delays(series, times, labels, alerts).tolist() == [10.0]


def test_entity_delays_from_first_labelled_row_ignoring_earlier_alerts() -> None:
    entities = ["a", "a", "a", "b", "b", "c"]
    times = [0, 5, 9, 1, 4, 2]
    labels = [0, 1, 1, 1, 1, 0]
    alerts = [1, 0, 1, 1, 0, 1]   # a: onset 5, alert at 0 (before) and 9 → 4 s; b: 0 s; c: not positive
    assert sorted(entity_delays(entities, times, labels, alerts).tolist()) == [0.0, 4.0]


def test_precision_at_k_ties_keep_order_and_k_beyond_n() -> None:
    scores = [0.9, 0.5, 0.9, 0.1]
    labels = [0, 1, 1, 0]
    assert precision_at_k(scores, labels, 1) == 0.0      # the first 0.9 wins the tie
    assert precision_at_k(scores, labels, 2) == 0.5
    assert precision_at_k(scores, labels, 10) == 0.5     # k = n = 4
    assert precision_at_k([], [], 3) == 0.0


def test_entity_scores_take_the_best_row() -> None:
    best, positive = entity_scores(["a", "b", "a", "c"], [0.2, 0.7, 0.9, float("nan")], [0, 0, 1, 0])
    assert best.tolist() == [0.9, 0.7, -np.inf]
    assert positive.tolist() == [True, False, False]


def test_best_threshold_is_exact() -> None:
    scores = [1, 2, 3, 4, 5, 6]
    labels = [0, 0, 1, 0, 1, 1]
    t, counts = best_threshold(scores, labels)
    # "> 2.5" alerts 3,4,5,6: TP 3, FP 1 → F1 6/7, better than "> 4.5" (TP 2: F1 0.8) or "> 0" (F1 2/3)
    assert 2 < t < 3
    assert counts == Counts(tp=3, fp=1, fn=0)
    assert row_counts(labels, np.asarray(scores) > t) == counts


def test_alerts_per_10k() -> None:
    assert alerts_per_10k([1, 0, 0, 0]) == 2500.0
    assert alerts_per_10k([]) == 0.0


def test_evaluate_entity_mode() -> None:
    entities = ["a", "a", "b", "b", "c"]
    times = [0, 10, 0, 10, 0]
    labels = [0, 1, 0, 0, 1]
    alerts = [0, 1, 1, 0, 0]
    scores = [0.1, 0.8, 0.9, 0.2, 0.3]
    report = evaluate(labels, alerts, scores=scores, entities=entities, times=times, ks=(1, 2))
    assert report.row == Counts(tp=1, fp=1, fn=1)
    assert report.entity == Counts(tp=1, fp=1, fn=1)
    assert report.windows is None
    assert report.time_to_first_alert is not None and report.time_to_first_alert.count == 1
    assert report.time_to_first_alert.median_s == 0.0
    # entity scores: a 0.8 (+), b 0.9 (-), c 0.3 (+)
    assert report.precision_at_k == {1: 0.0, 2: 0.5}
    assert report.precision_at_k_of == "entities"
    assert report.alerts_per_10k_rows == 4000.0
    assert report.as_dict()["entity"]["f1"] == 0.5


def test_evaluate_window_mode_uses_rows_for_precision_at_k() -> None:
    labels = [0, 1, 1, 0]
    alerts = [0, 0, 1, 1]
    report = evaluate(labels, alerts, scores=[0.0, 5.0, 1.0, 2.0], entities=["d"] * 4, times=[0, 1, 2, 3],
                      window_labels=True, ks=(1,))
    assert report.windows == Counts(tp=1, fp=1, fn=0)
    assert report.time_to_first_alert is not None and report.time_to_first_alert.median_s == 1.0
    assert report.precision_at_k == {1: 1.0} and report.precision_at_k_of == "rows"


def test_evaluate_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        evaluate([1, 0], [1])
