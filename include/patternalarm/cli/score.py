"""`score`: compare alerts with the simulator's ground truth (recall, precision, latency per rule)."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer

from include.patternalarm.cli.common import Col, clear_errors, console, fit_table, settings
from include.patternalarm.scoring.load import ScoreError, dumps
from include.patternalarm.scoring.report import score_runs
from include.patternalarm.topics import ALERTS


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.0%}" if pct else f"{value:.2f}"


@clear_errors(ScoreError, psycopg.Error)
def score(
    run: Annotated[list[str] | None, typer.Option("--run", help="Simulator run id(s) (default: the last).")] = None,
    last: Annotated[int, typer.Option(min=1, max=100, help="Score the last N finished runs.")] = 1,
    source: Annotated[str, typer.Option(help="Where alerts come from: auto (PostgreSQL alerts table, "
                                             "else Kafka), db, kafka.")] = "auto",
    alerts_topic: Annotated[str, typer.Option(help="The alerts topic (for --source kafka).")] = ALERTS,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recall and precision per rule, and alert latency p50/p95/p99 (alert visible − completing event)."""
    if source not in ("auto", "db", "kafka"):
        raise typer.BadParameter("must be auto, db or kafka", param_hint="--source")
    report, result = score_runs(settings(), run, last=last, source=source, alerts_topic=alerts_topic)
    used, alerts = report["alert_source"], report["alerts"]
    if as_json:
        console.print_json(dumps(report))
        return
    columns = [Col("rule", no_wrap=True), Col("fires", 6, "right"), Col("detected", 5, "right"),
               Col("recall", justify="right"), Col("precision", justify="right"), Col("TP", 7, "right"),
               Col("FP near/bg/extra", 4, "right"), Col("end-of-stream", 8, "right"), Col("p50 s", 2, "right"),
               Col("p95 s", 3, "right"), Col("p99 s", 1, "right")]
    rows: list[list[object]] = [
        [rule_id, r.fires, r.detected, _fmt(r.recall, True), _fmt(r.precision, True), r.true_positives,
         f"{r.near_miss_alerts}/{r.background_alerts}/{r.extra}", r.end_of_stream, _fmt(r.latency(50)),
         _fmt(r.latency(95)), _fmt(r.latency(99))] for rule_id, r in sorted(result.rules.items())]
    t = result.totals()
    rows.append(["[bold]all[/]", t["fires"], t["detected"], _fmt(t["recall"], True), _fmt(t["precision"], True),
                 t["true_positives"], t["false_positives"], "", _fmt(t["latency_s"]["p50"]),
                 _fmt(t["latency_s"]["p95"]), _fmt(t["latency_s"]["p99"])])
    console.print(fit_table(columns, rows, title=f"score · runs {', '.join(report['runs'])} · alerts from {used} "
                                                 f"({alerts})"))
    for rule_id, r in sorted(result.rules.items()):
        if r.missed:
            console.print(f"[yellow]{rule_id}[/] missed: {', '.join(r.missed[:5])}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
