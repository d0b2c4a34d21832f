"""The HTML report of a backtest and the list of backtests, from a result dict (no services)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from include.patternalarm.backtest.report import list_entry, list_reports, render_index, render_report, write_report
from tests.unit.backtest.conftest import HOSTILE, make_result


class _Text(HTMLParser):
    """The page's text, its tables (rows of cell texts) and what it loads (src/href)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.rows: list[list[str]] = []
        self.loads: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        self.loads += [v for k, v in attrs if k in ("src", "href") and v]
        if any(k == "style" or k.startswith("on") for k, _ in attrs):
            self.tags.add("inline-style-or-handler")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Text:
    parser = _Text()
    parser.feed(page)
    return parser


def _row(parsed: _Text, first: str) -> list[str]:
    return next(r for r in parsed.rows if r and r[0] == first)


def test_the_summary_names_what_ran_how_long_it_took_and_the_load(result: dict[str, Any]) -> None:
    text = " ".join(" ".join(_parse(render_report(result)).text).split())
    for expected in ("/data/pay.csv", "12", "4 rows (fraud), 2 positive entities (card)",
                     "catalog v4 · large_amount.min_amount=250 · 3 rules",
                     "catalog v4 · large_amount.min_amount=1000 · 3 rules",
                     "submit 20.0 s", "process 12.0 s", "candidate job: submitted in 20.0 s",
                     "processed in 12.0 s (1 events/s)", "load 3.5 / 2.0 / 1.0 (1/5/15 min) on 2 cores",
                     "rule impossible_travel needs lat, lon", "bad_amount 1", "--map event_id=tx"):
        assert expected in text, expected


def test_the_rule_table_puts_candidate_and_baseline_side_by_side(result: dict[str, Any]) -> None:
    parsed = _parse(render_report(result))
    assert _row(parsed, "rule")[1:] == ["candidate", "baseline"]
    overall = _row(parsed, "all rules")
    assert overall[1:7] == ["5 (4166.7)", "0.75 / 0.75 / 0.75", "0.67 / 1.00 / 0.80", "1.5 min / 2.7 min", "0.20",
                            "0.02"]
    assert overall[7] == "3 (2500.0)" and overall[9] == "0.50 / 0.50 / 0.50"
    large = _row(parsed, "large_amount")
    assert large[1:4] == ["2 (1666.7)", "1.00 / 0.25 / 0.40", "1.00 / 0.50 / 0.67"] and large[4] == "0 s / 0 s"
    assert _row(parsed, "velocity")[1] == "0 (0.0)" and _row(parsed, "velocity")[4] == "–"


def test_a_result_without_baseline_shows_one_rule_set_and_window_units() -> None:
    result = make_result(with_baseline=False)
    result["windows"] = True
    parsed = _parse(render_report(result))
    assert _row(parsed, "rule")[1:] == ["candidate"]
    assert "window P / R / F1" in _row(parsed, "alerts (/10k rows)")


def test_values_from_the_file_are_escaped_and_the_page_loads_only_its_own_files(result: dict[str, Any]) -> None:
    page = render_report(result)
    assert HOSTILE not in page and "&lt;script&gt;" in page
    parsed = _parse(page)
    assert "script" not in parsed.tags and "inline-style-or-handler" not in parsed.tags
    assert sorted(set(parsed.loads)) == ["../", "alerts_per_rule.png", "precision_at_k.png", "report.css",
                                         "result.json"]


def test_top_alerts_show_score_evidence_and_whether_their_rows_are_labelled(result: dict[str, Any]) -> None:
    parsed = _parse(render_report(result))
    first = next(r for r in parsed.rows if r and r[0] == "0.900")
    assert first[1:4] == ["amount_anomaly", "card-1", "labelled"] and "tx-4" in first[5] and "236.5" in first[5]
    assert any(r[0] == "0.300" and r[3] == "not labelled" for r in parsed.rows if r)


def test_write_report_makes_the_page_its_style_sheet_and_two_pngs(result: dict[str, Any], tmp_path: Path) -> None:
    page = write_report(result, tmp_path)
    assert page == tmp_path / "index.html" and "Per rule" in page.read_text()
    assert "table{" in (tmp_path / "report.css").read_text()
    for name in ("precision_at_k.png", "alerts_per_rule.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left"


def test_the_list_is_newest_first_and_skips_unreadable_folders(tmp_path: Path) -> None:
    older, newer = make_result(), make_result(with_baseline=False)
    older["started_at"], newer["started_at"] = "2026-12-01T09:00:00+00:00", "2026-12-02T09:00:00+00:00"
    newer["dataset"] = "handbook-month"
    for name, result in (("20261201T090000-payments-aaaaaaaa", older), ("20261202T090000-payments-bbbbbbbb", newer)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "result.json").write_text(json.dumps(result))
    (tmp_path / "20261203T090000-payments-cccccccc").mkdir()
    (tmp_path / "20261203T090000-payments-cccccccc" / "result.json").write_text("{not json")
    entries = list_reports(tmp_path)
    assert len(entries) == 2
    page = render_index(entries)
    links = re.findall(r"href='([^']+)/index.html'", page)
    assert links == ["20261202T090000-payments-bbbbbbbb", "20261201T090000-payments-aaaaaaaa"]
    assert "data set handbook-month" in page and "0.67 / 1.00 / 0.80" in page
    assert list_entry(older, "x")["sets"]["baseline"]["alerts"] == 3
    assert "No backtest yet" in render_index([])
