"""The chaos report: ``<reports_dir>/chaos/<batch_id>/report.json`` and ``index.html`` per batch, and an
``index.html`` listing the batches (served inside the Airflow UI by the plugin, like the data-quality report)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

BATCH_DIR = re.compile(r"^chaos-\d{8}T\d{6}-[0-9a-f]{4}$")
KEEP_BATCHES = 100
_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;"
          "margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top;"
          "font-size:.9rem}th{background:#f3f3f3}.passed{color:#137333;font-weight:600}.failed,.error{color:#b3261e;"
          "font-weight:600}.dry_run{color:#555}code{font-size:.85rem}")


def chaos_root(reports_dir: Path) -> Path:
    return reports_dir / "chaos"


def _e(value: Any) -> str:
    return html.escape("–" if value is None else str(value))


def _s(value: Any) -> str:
    return "–" if value is None else f"{value:.1f} s" if isinstance(value, int | float) else _e(value)


def render_batch(summary: Mapping[str, Any]) -> str:
    rows = []
    for r in summary["experiments"]:
        lat = r.get("latency_s") or {}

        def p99(phase: str, lat: Mapping[str, Any] = lat) -> str:
            return _s((lat.get(phase) or {}).get("p99"))

        rows.append(
            f"<tr><td><b>{_e(r['experiment'])}</b><br><small>{_e(r.get('title'))}</small></td>"
            f"<td class='{_e(r['status'])}'>{_e(r['status'])}</td><td>{_s(r.get('recovery_s'))} "
            f"<small>(limit {_s(r.get('limit_s'))})</small></td><td>{_s(r.get('monitor_detected_s'))}</td>"
            f"<td>{_e(r.get('expected'))} / {_e(r.get('detected'))}</td><td>{_e(r.get('lost'))}</td>"
            f"<td>{_e(r.get('duplicated'))}</td><td>{_e(r.get('incidents_duplicated'))}</td>"
            f"<td>{_e(r.get('dead_lettered'))} / {_e(r.get('late'))}</td>"
            f"<td>{p99('before')} · {p99('during')} · {p99('after')}</td>"
            f"<td>{'<br>'.join(_e(f) for f in (r.get('failures') or r.get('problems') or [])) or 'none'}</td></tr>")
    details = "".join(
        f"<h3>{_e(r['experiment'])}</h3><p>{_e(r.get('proves'))}</p><p><b>Fault:</b> {_e(r.get('plan'))}</p>"
        f"<pre>{_e(json.dumps(r.get('notes'), indent=2, default=str)[:4000])}</pre>" for r in summary["experiments"])
    verdict = "all passed" if summary.get("passed") else "FAILED"
    return (f"<!doctype html><meta charset='utf-8'><title>chaos {_e(summary['batch_id'])}</title>"
            f"<style>{_STYLE}</style>"
            f"<p><a href='../index.html'>all chaos runs</a></p><h1>Chaos run {_e(summary['batch_id'])}: "
            f"<span class='{'passed' if summary.get('passed') else 'failed'}'>{verdict}</span></h1>"
            f"<p>{len(summary['experiments'])} experiment(s) in {_s(summary.get('seconds'))}, requested by "
            f"{_e(summary.get('requested_by'))}; traffic {_e(summary['config'].get('rate_per_min'))} events/min. "
            f"<a href='report.json'>report.json</a></p>"
            "<table><tr><th>experiment</th><th>status</th><th>recovery</th><th>monitor noticed</th>"
            "<th>scenario alerts expected / detected</th><th>lost</th><th>duplicated</th><th>duplicated incidents</th>"
            "<th>dead-lettered / late</th><th>alert latency p99 before · during · after</th><th>failures</th></tr>"
            f"{''.join(rows)}</table>{details}")


def render_index(batches: list[Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td><a href='{_e(b['batch_id'])}/index.html'>{_e(b['batch_id'])}</a></td>"
        f"<td class='{'passed' if b.get('passed') else 'failed'}'>{'passed' if b.get('passed') else 'failed'}</td>"
        f"<td>{_e(', '.join(r['experiment'] + ': ' + r['status'] for r in b['experiments']))}</td>"
        f"<td>{_s(b.get('seconds'))}</td><td>{_e(b.get('requested_by'))}</td></tr>" for b in batches)
    empty = "" if batches else "<p>No chaos run yet: <code>bin/patternalarm chaos run --all</code> or the " \
                                "<code>chaos_experiments</code> DAG.</p>"
    return (f"<!doctype html><meta charset='utf-8'><title>chaos experiments</title><style>{_STYLE}</style>"
            "<h1>Chaos experiments</h1>" + empty +
            "<table><tr><th>run</th><th>verdict</th><th>experiments</th><th>took</th><th>requested by</th></tr>"
            f"{rows}</table>")


def load_batches(root: Path) -> list[dict[str, Any]]:
    found = []
    if root.is_dir():
        for path in sorted(root.iterdir(), reverse=True):
            report = path / "report.json"
            if BATCH_DIR.match(path.name) and report.is_file():
                try:
                    found.append(json.loads(report.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
    return found


def write_report(settings: Settings, summary: Mapping[str, Any]) -> Path:
    """Write the batch's JSON and HTML and refresh the index; returns the batch's HTML page."""
    root = chaos_root(settings.reports_dir)
    folder = root / str(summary["batch_id"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    (folder / "index.html").write_text(render_batch(summary), encoding="utf-8")
    batches = load_batches(root)
    (root / "index.html").write_text(render_index(batches[:KEEP_BATCHES]), encoding="utf-8")
    return folder / "index.html"


def write_batch_from_store(settings: Settings, batch_id: str) -> Path:
    """Rebuild a batch's report from its ``chaos_runs`` rows (the DAG writes it after every experiment)."""
    from include.patternalarm.chaos.store import ChaosStore

    rows = ChaosStore(settings).batch(batch_id)
    experiments = [{**(r["result"] or {}), "experiment": r["experiment"], "status": r["status"]} for r in rows]
    seconds = None
    if rows and rows[-1]["finished_at"] is not None:
        seconds = (rows[-1]["finished_at"] - rows[0]["started_at"]).total_seconds()
    summary = {"batch_id": batch_id, "requested_by": rows[0]["requested_by"] if rows else None, "seconds": seconds,
               "config": dict(rows[0]["params"]) if rows else {}, "experiments": experiments,
               "passed": all(e["status"] in ("passed", "dry_run") for e in experiments)}
    return write_report(settings, summary)
