"""Scoring a rule set's alerts against the labels (figures worked out by hand from conftest's 12 rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from include.patternalarm.backtest.evaluate import precision_at, precision_curve, ranked, read_rows
from tests.unit.backtest.conftest import HOSTILE


def test_overall_figures_of_the_candidate(result: dict[str, Any]) -> None:
    overall = result["candidate"]["overall"]
    assert overall["row"] == {"tp": 3, "fp": 1, "fn": 1, "precision": 0.75, "recall": 0.75, "f1": 0.75}
    assert (overall["entity"]["tp"], overall["entity"]["fp"], overall["entity"]["fn"]) == (2, 1, 0)
    # card-1: labelled from row 1 (60 s), first alert at row 4 (240 s); card-3: alerted on its labelled row
    assert overall["time_to_first_alert"] == {"count": 2, "median_s": 90.0, "p90_s": 162.0}
    assert overall["alert_ids"] == 5 and overall["alerts_on_no_file_row"] == 1
    assert overall["alert_ids_per_10k_rows"] == round(5 * 10_000 / 12, 3)


def test_precision_at_k_ranks_only_what_alerted(result: dict[str, Any]) -> None:
    overall = result["candidate"]["overall"]
    # card-3 (score 1: a rule without scores), card-1 (0.9), card-2 (0.3, not labelled); card-0 never alerted
    assert overall["precision_curve"] == {"k": [1, 2, 3], "precision": [1.0, 1.0, 0.6667]}
    assert overall["precision_at_k"] == {"10": 0.2, "100": 0.02, "1000": 0.002}  # 2 hits, empty places miss
    silent = result["candidate"]["rules"]["velocity"]
    assert silent["precision_at_k"]["10"] == 0.0 and silent["alert_ids"] == 0  # not card-0..3 in file order


def test_every_rule_that_ran_has_figures_also_without_alerts(result: dict[str, Any]) -> None:
    rules = result["candidate"]["rules"]
    assert set(rules) == {"amount_anomaly", "large_amount", "velocity"}
    assert (rules["amount_anomaly"]["entity"]["tp"], rules["amount_anomaly"]["entity"]["fp"]) == (1, 1)
    assert rules["large_amount"]["entity"]["recall"] == 0.5 and rules["large_amount"]["entity"]["precision"] == 1.0
    assert rules["velocity"]["row"]["fn"] == 4 and rules["velocity"]["entity"]["recall"] == 0.0
    assert result["baseline"]["overall"]["entity"]["recall"] == 0.5


def test_top_alerts_say_whether_their_rows_are_labelled(result: dict[str, Any]) -> None:
    top = result["candidate"]["top_alerts"]
    assert [a["score"] for a in top][:3] == [0.9, 0.8, 0.3]
    by_id = {a["alert_id"]: a["labelled"] for a in top}
    assert by_id["amount_anomaly-card-1-1"] is True
    assert by_id["amount_anomaly-card-2-3"] is False
    assert by_id["large_amount-nobody-5"] is None
    assert any(a["evidence"].get("note") == HOSTILE for a in top)


def test_the_result_records_what_ran(result: dict[str, Any]) -> None:
    candidate = result["candidate"]
    assert candidate["overrides"] == {"large_amount": {"min_amount": "250"}} and candidate["catalog_version"] == 4
    assert candidate["events_per_s"] == 1.0 and candidate["job_id"] == "candidate-job"
    assert result["baseline"]["dead_lettered_by_job"] == {"bad_amount": 1}
    assert result["mapping"]["map"] == {"event_id": "tx", "amount": "amount"}
    assert result["positives"] == 4 and result["positive_entities"] == 2 and result["rows"] == 12


def test_precision_helpers() -> None:
    hits = ranked(np.array([0.5, 0.0, 0.9, 0.7]), np.array([True, False, True, True]),
                  np.array([False, True, True, False]))
    assert hits.tolist() == [True, False, False]  # 0.9, 0.7, 0.5; the unalerted positive is not ranked
    assert precision_at(hits, 1) == 1.0 and precision_at(hits, 2) == 0.5 and precision_at(hits, 10) == 0.1
    assert precision_curve(np.array([], dtype=bool)) == {"k": [], "precision": []}
    curve = precision_curve(np.ones(5000, dtype=bool), points=20)
    assert curve["k"][0] == 1 and curve["k"][-1] == 5000 and len(curve["k"]) <= 20
    assert set(curve["precision"]) == {1.0}


def test_read_rows_keeps_replays_numbering_and_stops_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("ts,card,fraud\n2024-03-01T00:00:00Z,c1,1\nnot a time,c2,0\n2024-03-01T00:02:00Z,c3,yes\n"
                    "2024-03-01T00:03:00Z,c4,1\n")
    rows = read_rows(path, label="fraud", entity="card", time="ts", event_id=None, id_prefix="bt", limit=3)
    assert rows.event_ids == ["bt-1", "bt-2", "bt-3"]
    assert rows.labels.tolist() == [True, False, True]
    assert np.isnan(rows.times_s[1]) and rows.times_s[2] - rows.times_s[0] == 120.0


def test_recall_by_group_counts_each_kind_of_positive_on_its_own() -> None:
    """--group scenario: card-1's labelled rows are scenario 3 (rows 2, 5, 8: alerted at 5 and 8), card-3's
    scenario 1 (row 11, alerted by large_amount); the unlabelled rows' 0 is no group."""
    from include.patternalarm.backtest.report import render_report
    from include.patternalarm.backtest.run import build_result
    from include.patternalarm.cli.backtest import group_lines
    from tests.unit.backtest.conftest import Replayed, candidate_alerts, job, make_result, rows, spec

    grouped = rows()
    grouped.groups = np.array(["0", "3", "0", "0", "3", "0", "0", "3", "0", "0", "0", "1"], dtype=object)
    replayed = Replayed(rows=12, events=12, edge_dead_letters={}, first_ms=0, last_ms=660_000, seconds=0.5)
    result = build_result(spec(group="scenario", baseline=None), grouped, replayed,
                          [job("candidate", candidate_alerts(), ["amount_anomaly", "large_amount"], 12.0)],
                          warnings=[], tag="t")
    overall = result["candidate"]["overall"]["by_group"]
    assert list(overall) == ["1", "3"]
    assert overall["3"] == {"rows": 3, "row_recall": 0.6667, "entities": 1, "entities_found": 1, "entity_recall": 1.0}
    assert overall["1"]["row_recall"] == 1.0 and overall["1"]["entities_found"] == 1
    by_rule = result["candidate"]["rules"]
    assert by_rule["amount_anomaly"]["by_group"]["1"]["entities_found"] == 0
    assert by_rule["large_amount"]["by_group"]["3"]["row_recall"] == 0.0
    assert result["group"] == "scenario" and result["mapping"]["group"] == "scenario"
    assert group_lines(result) == ["candidate recall by scenario: 1: 1/1 cards, rows 1.00 · 3: 1/1 cards, rows 0.67"]
    page = render_report(result)
    assert "Recall by scenario" in page and "scenario = 3" in page and "1 / 1 · rows 0.67" in page
    assert "Recall by" not in render_report(make_result()), "no group column: no table"


def test_a_group_column_is_read_with_the_labels(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("ts,card,fraud,scenario\n2024-03-01T00:00:00Z,c1,0,0\n2024-03-01T00:01:00Z,c1,1,2\n")
    got = read_rows(path, label="fraud", entity="card", time="ts", event_id=None, id_prefix="r", group="scenario")
    assert got.groups is not None and got.groups.tolist() == ["0", "2"]
    assert read_rows(path, label="fraud", entity="card", time="ts", event_id=None, id_prefix="r").groups is None
