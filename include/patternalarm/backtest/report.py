"""The HTML report of a backtest, written next to its ``result.json``, and the list of backtests.

One folder per backtest (``<reports_dir>/backtests/<UTC stamp>-<domain>-<tag>/``)::

    result.json            every figure (what ``backtest --json`` prints)
    index.html             summary, per-rule table (candidate and baseline side by side), plots, top alerts
    report.css             its style sheet (no inline styles: the plugin serves it under a strict CSP)
    precision_at_k.png     precision@k by score, one line per rule set
    alerts_per_rule.png    alerts per rule, one bar per rule set

Pure: a result dict in, files out — no Kafka, Flink or Airflow. Links are relative, so a report works
from disk and inside the Airflow UI (*Browse → Backtests*, served by the plugin) alike. Every value
from the file or the alerts is escaped.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

RULE_SETS = ("candidate", "baseline")
COLOURS = {"candidate": "#1565c0", "baseline": "#ef6c00"}
PLOTS = ("precision_at_k.png", "alerts_per_rule.png")

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#1d2330;max-width:96rem}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem} h3{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.4rem 0 1rem} th,td{border-bottom:1px solid #e3e6ec;padding:.3rem .5rem;
text-align:left;vertical-align:top;font-size:.88rem} th{background:#f5f6f8} td.n,th.n{text-align:right}
td.n,td.mono{white-space:nowrap}
th.candidate{border-top:3px solid #1565c0} th.baseline{border-top:3px solid #ef6c00}
td.sep,th.sep{border-left:2px solid #d5d9e0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem} dt{font-weight:600} dd{margin:0}
.muted{color:#6b7280} .warn{color:#9a4b00} .tp{color:#2e7d32;font-weight:600} .fp{color:#c62828;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:1rem} .plots img{max-width:100%;border:1px solid #e3e6ec}
a{color:#1565c0} .wide{width:100%}
"""


# --- formatting ----------------------------------------------------------------------------------


def esc(value: Any) -> str:
    if value is None:
        return "<span class='muted'>–</span>"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return html.escape(text)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):,.{digits}f}"


def seconds(value: Any) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``, ``4.0 d`` (time to first alert spans seconds to days)."""
    if value is None:
        return "–"
    s = float(value)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(s) >= size:
            return f"{s / size:.1f} {unit}"
    return f"{s:.0f} s"


def prf(counts: dict[str, Any] | None) -> str:
    """``P / R / F1`` of a counts block."""
    if not counts:
        return "–"
    return f"{counts['precision']:.2f} / {counts['recall']:.2f} / {counts['f1']:.2f}"


def rule_sets(result: dict[str, Any]) -> list[str]:
    return [name for name in RULE_SETS if isinstance(result.get(name), dict)]


def all_rules(result: dict[str, Any]) -> list[str]:
    """Every rule either rule set ran (``rule_ids``) or has figures for (``rules``)."""
    return sorted({rule for name in rule_sets(result) for rule in result[name].get("rule_ids") or []}
                  | {rule for name in rule_sets(result) for rule in (result[name].get("rules") or {})})


def block(result: dict[str, Any], name: str, rule: str | None) -> dict[str, Any] | None:
    """Figures of ``rule`` (None: all rules) of rule set ``name``; None when the set did not run it."""
    data = result.get(name) or {}
    if rule is None:
        return data.get("overall")
    return (data.get("rules") or {}).get(rule)


def unit_counts(result: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any] | None:
    """The per-window counts for window labels, else the per-entity counts."""
    return figures.get("windows") if result.get("windows") else figures.get("entity")


def first_alert(figures: dict[str, Any]) -> str:
    delay = figures.get("time_to_first_alert") or {}
    if not delay.get("count"):
        return "–"
    return f"{seconds(delay.get('median_s'))} / {seconds(delay.get('p90_s'))}"


def precision_at(figures: dict[str, Any], k: str) -> str:
    value = (figures.get("precision_at_k") or {}).get(k)
    return "–" if value is None else f"{value:.2f}"


def alerts_cell(figures: dict[str, Any]) -> str:
    return f"{figures.get('alert_ids', 0):,} ({figures.get('alert_ids_per_10k_rows', 0):.1f})"


def parameters(rule_set: dict[str, Any]) -> str:
    overrides = rule_set.get("overrides") or {}
    items = [f"{owner}.{name}={value}" for owner, params in sorted(overrides.items())
             for name, value in sorted(params.items())]
    return ", ".join(items) if items else "catalog defaults"


def describe_rule_set(rule_set: dict[str, Any]) -> str:
    parts = [f"catalog v{rule_set.get('catalog_version')}", parameters(rule_set)]
    if rule_set.get("rules_dir"):
        parts.append(f"rules {rule_set['rules_dir']}")
    parts.append(f"{len(rule_set.get('rule_ids') or [])} rules")
    return " · ".join(parts)


# --- the page ------------------------------------------------------------------------------------


def _page(title: str, body: str, css: str = "report.css") -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='stylesheet' href='{html.escape(css)}'></head><body>{body}</body></html>")


def _dl(items: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _load(machine: dict[str, Any] | None) -> str:
    if not machine:
        return "–"
    load = machine.get("load_avg") or []
    shown = " / ".join(f"{x:.1f}" for x in load[:3]) if load else "?"
    return (f"load {shown} (1/5/15 min) on {machine.get('cores', '?')} cores, "
            f"{machine.get('memory_available_gib', '?')} of {machine.get('memory_gib', '?')} GiB free")


def summary(result: dict[str, Any]) -> str:
    replay = result.get("replay") or {}
    mapping = result.get("mapping") or {}
    items: list[tuple[str, str]] = [
        ("file", esc(result.get("file")) + (f" · data set <code>{esc(result['dataset'])}</code>"
                                            if result.get("dataset") else "")),
        ("domain", esc(result.get("domain"))),
        ("rows", f"{result.get('rows', 0):,}" + (f" (the first {mapping['limit']:,})" if mapping.get("limit") else "")),
        ("labelled", f"{result.get('positives', 0):,} rows ({esc(result.get('label'))}), "
                     f"{result.get('positive_entities', 0):,} positive entities ({esc(result.get('entity'))})"
                     + (" · scored by labelled windows" if result.get("windows") else "")),
        ("mapping", "<code>" + esc(" ".join([f"--key {mapping.get('key')}", f"--time {mapping.get('time')}",
                                             *(f"--map {k}={v}" for k, v in (mapping.get("map") or {}).items()),
                                             *(f"--set {k}={v}" for k, v in (mapping.get("set") or {}).items())]))
         + "</code>" if mapping else "–"),
    ]
    for name in rule_sets(result):
        rs = result[name]
        items.append((name, esc(describe_rule_set(rs))
                      + (f" · only {esc(', '.join(rs['only']))}" if rs.get("only") else "")))
    durations = result.get("durations_s") or {}
    items.append(("duration", f"{seconds(result.get('seconds'))} total · " + esc(" · ".join(
        f"{k.replace('_', ' ')} {v:.1f} s" for k, v in durations.items()))))
    replay_rate = replay.get("rows_per_s")
    throughput = [f"replay {replay.get('rows', 0):,} rows in {replay.get('seconds', 0):.1f} s"
                  + (f" ({replay_rate:,.0f} rows/s)" if replay_rate else "")]
    for name in rule_sets(result):
        rs = result[name]
        rate = rs.get("events_per_s")
        throughput.append(f"{name} job: submitted in {rs.get('submit_s', 0):.1f} s, running after "
                          f"{rs.get('start_s', 0):.1f} s, processed in {rs.get('job_seconds', 0):.1f} s"
                          + (f" ({rate:,.0f} events/s)" if rate else "") + f", parallelism {result.get('parallelism')}")
    items.append(("throughput", "<br>".join(esc(t) for t in throughput)))
    items.append(("machine", esc(f"at start: {_load(result.get('machine'))}") + "<br>"
                  + esc(f"after the jobs: {_load(result.get('machine_after'))}")))
    dropped = [f"at the edge (replay): {_counts_text(replay.get('edge_dead_letters'))}"]
    for name in rule_sets(result):
        rs = result[name]
        dropped.append(f"by the {name} job: {_counts_text(rs.get('dead_lettered_by_job'))}; late {rs.get('late', 0):,}")
    items.append(("dead letters", "<br>".join(esc(d) for d in dropped)))
    warnings = result.get("warnings") or []
    items.append(("warnings", "<br>".join(f"<span class='warn'>{esc(w)}</span>" for w in warnings)
                  if warnings else "<span class='muted'>none</span>"))
    if result.get("airflow"):
        af = result["airflow"]
        items.append(("requested by", esc(f"Airflow {af.get('dag_id')} / {af.get('run_id')}")))
    return _dl(items)


def _counts_text(counts: dict[str, int] | None) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items()))


METRIC_HEADERS = ("alerts (/10k rows)", "row P / R / F1", "{unit} P / R / F1", "first alert median / p90",
                  "P@10", "P@100")


def _metric_cells(result: dict[str, Any], figures: dict[str, Any] | None, first: bool) -> list[str]:
    sep = " sep" if first else ""
    if figures is None:
        blank = ["<td></td>"] * (len(METRIC_HEADERS) - 1)
        return [f"<td class='n{sep}'><span class='muted'>not run</span></td>", *blank]
    return [f"<td class='n{sep}'>{alerts_cell(figures)}</td>", f"<td class='n'>{prf(figures.get('row'))}</td>",
            f"<td class='n'>{prf(unit_counts(result, figures))}</td>", f"<td class='n'>{first_alert(figures)}</td>",
            f"<td class='n'>{precision_at(figures, '10')}</td>", f"<td class='n'>{precision_at(figures, '100')}</td>"]


def rule_table(result: dict[str, Any]) -> str:
    sets = rule_sets(result)
    unit = "window" if result.get("windows") else "entity"
    of = ((result.get(sets[0]) or {}).get("overall") or {}).get("precision_at_k_of", "entities") if sets else ""
    head1 = "<tr><th rowspan='2'>rule</th>" + "".join(
        f"<th colspan='{len(METRIC_HEADERS)}' class='{name} sep'>{name}</th>" for name in sets) + "</tr>"
    head2 = "<tr>" + "".join(
        f"<th class='n{' sep' if i == 0 else ''}'>{html.escape(h.format(unit=unit))}</th>"
        for _ in sets for i, h in enumerate(METRIC_HEADERS)) + "</tr>"
    body = []
    for rule in [None, *all_rules(result)]:
        cells = "".join("".join(_metric_cells(result, block(result, name, rule), True)) for name in sets)
        label = "<strong>all rules</strong>" if rule is None else f"<code>{esc(rule)}</code>"
        body.append(f"<tr><td>{label}</td>{cells}</tr>")
    note = (f"<p class='muted'>Alerts: distinct alert ids (per 10,000 rows). Row / {unit}: precision / recall / "
            f"F1 of the rows{' and labelled windows (NAB-like)' if unit == 'window' else ' and entities'} the alerts "
            f"flag. First alert: from the first labelled row of a {'window' if unit == 'window' else 'positive entity'}"
            f" to its first alert, in event time. P@k: share of positives among the k {esc(of)} with the highest "
            f"alert score.</p>")
    return f"<table class='wide'><thead>{head1}{head2}</thead><tbody>{''.join(body)}</tbody></table>{note}"


def group_table(result: dict[str, Any]) -> str:
    """Recall per kind of positive (the --group column), per rule and rule set: found / positive entities
    and the share of the kind's positive rows flagged; empty without a group column."""
    sets = rule_sets(result)
    values: list[str] = []
    for name in sets:
        for value in ((result[name].get("overall") or {}).get("by_group") or {}):
            if value not in values:
                values.append(value)
    if not result.get("group") or not values:
        return ""
    unit = esc(result.get("entity"))
    head = ("<tr><th>rule</th>" + ("<th>set</th>" if len(sets) > 1 else "")
            + "".join(f"<th class='n'>{esc(result['group'])} = {esc(v)}</th>" for v in values) + "</tr>")
    body = []
    for rule in [None, *all_rules(result)]:
        for i, name in enumerate(sets):
            figures = block(result, name, rule) or {}
            groups = figures.get("by_group") or {}
            label = "" if i else ("<strong>all rules</strong>" if rule is None else f"<code>{esc(rule)}</code>")
            cells = []
            for v in values:
                g = groups.get(v)
                shown = f"{g['entities_found']:,} / {g['entities']:,} · rows {g['row_recall']:.2f}" if g else "–"
                cells.append(f"<td class='n'>{shown}</td>")
            body.append(f"<tr><td>{label}</td>" + (f"<td>{esc(name)}</td>" if len(sets) > 1 else "")
                        + "".join(cells) + "</tr>")
    note = (f"<p class='muted'>Per value of <code>{esc(result['group'])}</code> on the positive rows: {unit}s with "
            f"an alert / positive {unit}s of that kind, and the share of its positive rows an alert flagged.</p>")
    return (f"<h2>Recall by {esc(result['group'])}</h2><table class='wide'><thead>{head}</thead>"
            f"<tbody>{''.join(body)}</tbody></table>{note}")


def _evidence(evidence: dict[str, Any] | None) -> str:
    if not evidence:
        return "–"
    parts = []
    for key, value in evidence.items():
        if key == "event_ids" and isinstance(value, list):
            shown = ", ".join(str(v) for v in value[:5]) + (f" … (+{len(value) - 5})" if len(value) > 5 else "")
            parts.append(f"<span class='muted'>events</span> <code>{esc(shown)}</code>")
        else:
            parts.append(f"<span class='muted'>{esc(key)}</span> {esc(value)}")
    return " · ".join(parts)


def _verdict(alert: dict[str, Any]) -> str:
    labelled = alert.get("labelled")
    if labelled is None:
        return "<span class='muted'>?</span>"
    return "<span class='tp'>labelled</span>" if labelled else "<span class='fp'>not labelled</span>"


def top_alerts(result: dict[str, Any]) -> str:
    out = []
    for name in rule_sets(result):
        alerts = result[name].get("top_alerts") or []
        out.append(f"<h3>{html.escape(name)}: {len(alerts)} highest-scoring alerts</h3>")
        if not alerts:
            out.append("<p class='muted'>no alerts</p>")
            continue
        rows = "".join(
            f"<tr><td class='n'>{_num(a.get('score'), 3)}</td><td><code>{esc(a.get('rule_id'))}</code></td>"
            f"<td>{esc(a.get('entity'))}</td><td>{_verdict(a)}</td><td class='mono'>{esc(a.get('first_event_time'))}"
            f"<br>{esc(a.get('last_event_time'))}</td><td>{_evidence(a.get('evidence'))}</td></tr>" for a in alerts)
        out.append("<table class='wide'><thead><tr><th class='n'>score</th><th>rule</th><th>entity</th>"
                   "<th>its rows</th><th>first / last event</th><th>evidence</th></tr></thead>"
                   f"<tbody>{rows}</tbody></table>")
    return "".join(out)


def render_report(result: dict[str, Any], plots: Sequence[str] = PLOTS) -> str:
    name = Path(str(result.get("file", "?"))).name
    title = f"Backtest {name} · {result.get('domain')}"
    shown = "".join(f"<img src='{html.escape(p)}' alt='{html.escape(p.removesuffix('.png').replace('_', ' '))}'>"
                    for p in plots)
    body = (f"<p><a href='../'>all backtests</a> · <a href='result.json'>result.json</a></p>"
            f"<h1>{html.escape(title)}</h1><p class='muted'>started {esc(result.get('started_at'))} · "
            f"tag {esc(result.get('tag'))}</p>"
            f"<h2>Summary</h2>{summary(result)}"
            f"<h2>Per rule</h2>{rule_table(result)}{group_table(result)}"
            f"<h2>Plots</h2><div class='plots'>{shown or '<p class=muted>no plots</p>'}</div>"
            f"<h2>Top alerts by score</h2>{top_alerts(result)}")
    return _page(title, body)


# --- plots ---------------------------------------------------------------------------------------


def _figure(width: float = 7.0, height: float = 4.0) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_precision_at_k(result: dict[str, Any], path: Path) -> None:
    figure = _figure()
    ax = figure.add_subplot()
    drawn = False
    for name in rule_sets(result):
        curve = (result[name].get("overall") or {}).get("precision_curve") or {}
        if curve.get("k"):
            ax.plot(curve["k"], curve["precision"], marker=".", label=name, color=COLOURS[name])
            drawn = True
    of = ((result.get("candidate") or {}).get("overall") or {}).get("precision_at_k_of", "units")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"k ({of} ranked by their highest alert score)")
    ax.set_ylabel("precision@k")
    ax.set_title("precision@k by score")
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no alerts", ha="center", va="center", transform=ax.transAxes)
    figure.savefig(path)


def plot_alerts_per_rule(result: dict[str, Any], path: Path) -> None:
    rules = all_rules(result)
    sets = rule_sets(result)
    figure = _figure(7.0, max(2.5, 0.45 * len(rules) * max(1, len(sets)) + 1.2))
    ax = figure.add_subplot()
    height = 0.8 / max(1, len(sets))
    for i, name in enumerate(sets):
        counts = [((block(result, name, r) or {}).get("alert_ids") or 0) for r in rules]
        positions = [j + (i - (len(sets) - 1) / 2) * height for j in range(len(rules))]
        bars = ax.barh(positions, counts, height=height, label=name, color=COLOURS[name])
        ax.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=2, fontsize=8)
    ax.set_yticks(range(len(rules)), rules)
    ax.invert_yaxis()
    ax.set_xlabel("alerts (distinct alert ids)")
    ax.set_title("alerts per rule")
    ax.margins(x=0.15)
    if sets:
        ax.legend()
    figure.savefig(path)


# --- files ---------------------------------------------------------------------------------------


def _write(path: Path, data: str | bytes) -> None:
    """Atomic: a reader (the plugin) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def write_report(result: dict[str, Any], folder: Path) -> Path:
    """``index.html``, ``report.css`` and the plots into ``folder``; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, draw in (("precision_at_k.png", plot_precision_at_k), ("alerts_per_rule.png", plot_alerts_per_rule)):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".png")
        os.close(fd)
        draw(result, Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / name)
    _write(folder / "report.css", STYLE)
    page = folder / "index.html"
    _write(page, render_report(result))
    return page


# --- the list of backtests -----------------------------------------------------------------------


def list_entry(result: dict[str, Any], folder: str) -> dict[str, Any]:
    """One line of the list: what ran and its headline figures."""
    sets = rule_sets(result)
    headline = {}
    for name in sets:
        overall = (result[name].get("overall") or {})
        headline[name] = {"alerts": overall.get("alert_ids"), "unit": prf(unit_counts(result, overall)),
                          "row": prf(overall.get("row")), "rule_set": describe_rule_set(result[name])}
    return {"folder": folder, "started_at": result.get("started_at"), "file": Path(str(result.get("file"))).name,
            "dataset": result.get("dataset"), "domain": result.get("domain"), "rows": result.get("rows"),
            "positives": result.get("positives"), "seconds": result.get("seconds"), "windows": result.get("windows"),
            "sets": headline, "airflow": result.get("airflow")}


def render_index(entries: Sequence[dict[str, Any]], css: str = "report.css") -> str:
    """The list of backtests, newest first (``entries`` as ``list_entry`` makes them)."""
    ordered = sorted(entries, key=lambda e: (str(e.get("started_at") or ""), e["folder"]), reverse=True)
    if not ordered:
        body = ("<h1>Backtests</h1><p class='muted'>No backtest yet. Run one with <code>bin/patternalarm backtest "
                "--dataset NAME</code> or trigger the <code>backtest_rules</code> DAG.</p>")
        return _page("Backtests", body, css)
    rows = []
    for e in ordered:
        sets = e.get("sets") or {}
        figures = "<br>".join(
            f"<span class='muted'>{html.escape(n)}</span> {esc(s.get('alerts'))} alerts · "
            f"{'window' if e.get('windows') else 'entity'} {esc(s.get('unit'))} · row {esc(s.get('row'))}"
            for n, s in sets.items())
        what = "<br>".join(f"<span class='muted'>{html.escape(n)}</span> {esc(s.get('rule_set'))}"
                           for n, s in sets.items())
        source = esc(e.get("file")) + (f"<br><span class='muted'>data set {esc(e['dataset'])}</span>"
                                       if e.get("dataset") else "")
        rows.append(f"<tr><td class='mono'><a href='{html.escape(e['folder'])}/index.html'>"
                    f"{esc(e.get('started_at'))}</a></td><td>{esc(e.get('domain'))}</td><td>{source}</td>"
                    f"<td class='n'>{_num(e.get('rows'))}<br><span class='muted'>{_num(e.get('positives'))} "
                    f"labelled</span></td><td>{what}</td><td>{figures}</td>"
                    f"<td class='n'>{seconds(e.get('seconds'))}</td></tr>")
    body = ("<h1>Backtests</h1><p class='muted'>Newest first. P / R / F1 of all rules together; each report "
            "has the figures per rule.</p><table class='wide'><thead><tr><th>started (UTC)</th><th>domain</th>"
            "<th>file</th><th class='n'>rows</th><th>rule sets</th><th>all rules: P / R / F1</th>"
            f"<th class='n'>took</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    return _page("Backtests", body, css)


def list_reports(root: Path) -> list[dict[str, Any]]:
    """Every readable report folder under ``root`` (unreadable ones are skipped)."""
    entries = []
    if not root.is_dir():
        return entries
    for folder in root.iterdir():
        path = folder / "result.json"
        if not (folder.is_dir() and path.is_file()):
            continue
        try:
            entries.append(list_entry(json.loads(path.read_text(encoding="utf-8")), folder.name))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue
    return entries
