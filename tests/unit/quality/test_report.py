"""The HTML report: a page per run, an index, relative links, escaping, pruning."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from include.patternalarm.quality import report
from include.patternalarm.quality.results import CheckResult, ValidationRun

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def _run(tmp: Path, n: int, *, failed: bool = True) -> ValidationRun:
    run_id = f"20261126T10{n:02d}00Z-{n:08x}"
    site = report.site_dir(tmp)
    page = site / "validations" / "alerts" / run_id / "20261126T100000Z" / "incident_store-alerts.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html>gx</html>")
    results = [
        CheckResult("alerts.alert_id_unique", "alerts", "expect_column_values_to_be_unique", "passed", "unique",
                    10, 0, 0.0),
        CheckResult("alerts.belongs_to_incident", "alerts", "expect_query_to_return_no_rows",
                    "failed" if failed else "passed", "every alert in an incident", None, 1 if failed else 0,
                    sample=[{"alert_id": "ab12", "entity": "<script>alert(1)</script>"}] if failed else []),
    ]
    return ValidationRun(run_id, T0 + timedelta(minutes=n), T0 + timedelta(minutes=n, seconds=2),
                         {"schema": "public", "since": None, "until": None, "traffic": {"flowing": False}},
                         results, docs={"alerts": page.as_uri()})


def test_a_run_page_shows_the_offending_rows_escaped_and_links_data_docs(tmp_path: Path) -> None:
    run = _run(tmp_path, 1)
    page = report.write_report(run, tmp_path, dag_id="validate_incident_tables", dag_run_id="manual__x")
    assert page == tmp_path / "quality" / "runs" / run.run_id / "index.html" and run.report_path == str(page)
    html = page.read_text()
    assert "alerts.belongs_to_incident" in html and "ab12" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    link = f"../../site/validations/alerts/{run.run_id}/20261126T100000Z/incident_store-alerts.html"
    assert f"href='{link}'" in html and (page.parent / link).resolve().is_file()
    summary = json.loads((page.parent / "summary.json").read_text())
    assert (summary["dag_run_id"], summary["success"], summary["failed_checks"]) == (
        "manual__x", False, ["alerts.belongs_to_incident"])
    index = (tmp_path / "quality" / "index.html").read_text()
    assert f"runs/{run.run_id}/index.html" in index and "manual__x" in index


def test_the_index_lists_newest_first_and_pruning_removes_old_runs_with_their_data_docs(tmp_path: Path) -> None:
    runs = [_run(tmp_path, n, failed=n % 2 == 0) for n in range(1, 5)]
    for run in runs:
        report.write_report(run, tmp_path, keep=3)
    kept = [s["run_id"] for s in report.list_runs(tmp_path)]
    assert kept == [r.run_id for r in reversed(runs[1:])]
    assert not (tmp_path / "quality" / "runs" / runs[0].run_id).exists()
    assert not (report.site_dir(tmp_path) / "validations" / "alerts" / runs[0].run_id).exists()
    assert (report.site_dir(tmp_path) / "validations" / "alerts" / runs[1].run_id).exists()
    index = (tmp_path / "quality" / "index.html").read_text()
    assert index.index(runs[3].run_id) < index.index(runs[1].run_id)


def test_an_empty_index_says_how_to_get_a_report() -> None:
    assert "trigger <code>validate_incident_tables</code>" in report.render_index([])
