"""The HTML data-quality report: GX Data Docs plus a page per run and an index of runs.

Layout under ``<reports_dir>/quality`` (``settings.reports_dir``; the Airflow plugin serves the same
folder, so every link is relative and works from disk and from the UI alike)::

    index.html                  recent runs, newest first (rewritten after every run)
    runs/<run_id>/index.html    one run: every check, its status, the rows that broke it, links to Data Docs
    runs/<run_id>/summary.json  the same as JSON (what the plugin and the DAG read)
    site/                       the GX Data Docs site (validation pages of every kept run, suite pages)

Old runs are pruned (``keep``) together with their Data Docs pages.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from include.patternalarm.quality.results import CheckResult, ValidationRun

RUN_ID_PATTERN = r"^\d{8}T\d{6}Z-[0-9a-f]{8}$"
DEFAULT_KEEP = 500

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#1d2330;max-width:90rem}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem} th,td{border-bottom:1px solid #e3e6ec;
padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem} th{background:#f5f6f8}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.82rem}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.6rem;font-size:.78rem;font-weight:600;color:#fff}
.passed{background:#2e7d32}.failed{background:#c62828}.error{background:#6a1b9a}.skipped{background:#78909c}
.muted{color:#6b7280} .sample td{font-size:.8rem} dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:600} a{color:#1565c0}
"""


def quality_root(reports_dir: Path) -> Path:
    return Path(reports_dir) / "quality"


def site_dir(reports_dir: Path) -> Path:
    return quality_root(reports_dir) / "site"


def _esc(value: Any) -> str:
    if value is None:
        return "<span class='muted'>–</span>"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return html.escape(text)


def _badge(status: str) -> str:
    return f"<span class='badge {html.escape(status)}'>{html.escape(status)}</span>"


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>")


def _write(path: Path, text: str) -> None:
    """Atomic write: a reader (the plugin) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _relative_docs(docs: dict[str, str], run_dir: Path) -> dict[str, str]:
    """GX gives ``file://`` URLs; the pages link relatively so they work when served too."""
    out = {}
    for suite, url in docs.items():
        parsed = urlparse(url)
        if parsed.scheme == "file":
            out[suite] = Path(os.path.relpath(unquote(parsed.path), run_dir)).as_posix()
        else:
            out[suite] = url
    return out


def _sample_table(result: CheckResult, limit: int) -> str:
    rows = [r if isinstance(r, dict) else {"value": r} for r in result.sample[:limit]]
    if not rows:
        return ""
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td class='mono'>{_esc(r.get(c))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    more = ""
    if result.unexpected_count and result.unexpected_count > len(rows):
        more = (f"<p class='muted'>showing {len(rows)} of {result.unexpected_count:,} rows "
                f"(all of them: the query in dq_results.detail / Data Docs)</p>")
    return f"<table class='sample'><tr>{head}</tr>{body}</table>{more}"


def render_run(run: ValidationRun, run_dir: Path, *, sample_rows: int = 20) -> str:
    docs = _relative_docs(run.docs, run_dir)
    scope = run.scope
    status = "passed" if run.success else "failed"
    facts = [
        ("status", _badge(status) + f" {len(run.broken)} failed, {len(run.evaluated)} evaluated, "
                                    f"{len(run.skipped)} skipped"),
        ("run", f"<code>{html.escape(run.run_id)}</code> · {run.started_at:%Y-%m-%d %H:%M:%S} UTC · "
                f"{run.duration_s:.1f} s"),
        ("schema", f"<code>{_esc(scope.get('schema'))}</code>"),
        ("window", f"{_esc(scope.get('since') or 'the beginning')} → {_esc(scope.get('until') or 'now')}"),
    ]
    if scope.get("rule_ids") or scope.get("scaling_job_ids"):
        facts.append(("only", f"rules {_esc(scope.get('rule_ids'))}, "
                              f"scaling jobs {_esc(scope.get('scaling_job_ids'))}"))
    traffic = scope.get("traffic") or {}
    facts.append(("traffic", ("flowing" if traffic.get("flowing") else "not flowing")
                  + f" (newest event {_esc(traffic.get('newest_event_at'))})"))
    facts.append(("thresholds", f"<code>{_esc(scope.get('thresholds'))}</code>"))
    parts = ["<h1>Data quality · incident tables</h1><p><a href='../../index.html'>all runs</a></p>",
             "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"]
    suites: dict[str, list[CheckResult]] = {}
    for r in run.results:
        suites.setdefault(r.suite, []).append(r)
    for suite, results in suites.items():
        link = f" · <a href='{html.escape(docs[suite])}'>Data Docs</a>" if suite in docs else ""
        failed = sum(r.broken for r in results)
        parts.append(f"<h2 id='{html.escape(suite)}'>{html.escape(suite)} "
                     f"<span class='muted'>({failed} failed of {len(results)})</span>{link}</h2>")
        rows = []
        for r in sorted(results, key=lambda x: (not x.broken, x.check_id)):
            counts = ""
            if r.unexpected_count is not None:
                counts = f"{r.unexpected_count:,}" + (f" of {r.element_count:,}" if r.element_count else "")
            note = r.detail.get("exception") or r.detail.get("reason") or ""
            cell = html.escape(r.description) + (f"<br><span class='muted'>{html.escape(note)}</span>" if note else "")
            sample = _sample_table(r, sample_rows) if r.broken else ""
            rows.append(f"<tr><td>{_badge(r.status)}</td><td><code>{html.escape(r.check_id)}</code></td>"
                        f"<td>{cell}{sample}</td><td>{counts}</td></tr>")
        parts.append("<table><tr><th>status</th><th>check</th><th>expectation</th><th>rows that broke it</th></tr>"
                     + "".join(rows) + "</table>")
    return _page(f"data quality {run.run_id}", "".join(parts))


def list_runs(reports_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Summaries of the kept runs, newest first (unreadable ones are skipped)."""
    runs_dir = quality_root(reports_dir) / "runs"
    if not runs_dir.is_dir():
        return []
    out = []
    for path in sorted(runs_dir.iterdir(), reverse=True):
        summary = path / "summary.json"
        if not summary.is_file():
            continue
        try:
            out.append(json.loads(summary.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
        if limit is not None and len(out) >= limit:
            break
    return out


def render_index(runs: list[dict[str, Any]]) -> str:
    rows = []
    for s in runs:
        status = "passed" if s.get("success") else "failed"
        scope = s.get("scope") or {}
        checks = ", ".join(s.get("failed_checks") or []) or "<span class='muted'>–</span>"
        rows.append(
            f"<tr><td>{_badge(status)}</td><td><a href='runs/{html.escape(s['run_id'])}/index.html'>"
            f"{html.escape(s.get('started_at', '')[:19].replace('T', ' '))}</a></td>"
            f"<td><code>{_esc(scope.get('schema'))}</code></td><td>{_esc(s.get('dag_run_id'))}</td>"
            f"<td>{s.get('failed', 0)} / {s.get('evaluated', 0)}</td><td class='mono'>{checks}</td></tr>")
    table = ("<table><tr><th>status</th><th>started (UTC)</th><th>schema</th><th>Airflow run</th>"
             "<th>failed / evaluated</th><th>failed checks</th></tr>" + "".join(rows) + "</table>"
             if rows else "<p class='muted'>No validation has run yet: trigger <code>validate_incident_tables</code>."
             "</p>")
    body = ("<h1>Data quality · incident tables</h1><p class='muted'>Great Expectations suites over alerts, "
            "incidents, incident_events and scaling_events (docs/quality.md). "
            "<a href='site/index.html'>Data Docs of the latest run</a></p>" + table)
    return _page("data quality runs", body)


def prune(reports_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` runs (their pages and Data Docs); returns the deleted ids."""
    root = quality_root(reports_dir)
    runs_dir = root / "runs"
    if keep < 1 or not runs_dir.is_dir():
        return []
    old = sorted((p for p in runs_dir.iterdir() if p.is_dir()), reverse=True)[keep:]
    validations = root / "site" / "validations"
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
        if validations.is_dir():
            for suite in validations.iterdir():
                shutil.rmtree(suite / path.name, ignore_errors=True)
    return [p.name for p in old]


def write_report(run: ValidationRun, reports_dir: Path, *, dag_id: str | None = None,
                 dag_run_id: str | None = None, sample_rows: int = 20, keep: int = DEFAULT_KEEP) -> Path:
    """Write the run's page + summary, refresh the index, prune; returns the run page's path."""
    run_dir = quality_root(reports_dir) / "runs" / run.run_id
    page = run_dir / "index.html"
    run.report_path = str(page)
    _write(page, render_run(run, run_dir, sample_rows=sample_rows))
    summary = {**run.summary(), "dag_id": dag_id, "dag_run_id": dag_run_id,
               "results": [r.as_dict() for r in run.results],
               "docs_relative": _relative_docs(run.docs, run_dir)}
    _write(run_dir / "summary.json", json.dumps(summary, indent=1, default=str))
    prune(reports_dir, keep)
    _write(quality_root(reports_dir) / "index.html", render_index(list_runs(reports_dir, limit=200)))
    return page


def run_started(summary: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(summary["started_at"])
    except (KeyError, TypeError, ValueError):
        return None
