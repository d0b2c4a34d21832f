"""`score`: compare alerts with the simulator's ground truth (recall, precision, latency per rule)."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer
from rich.table import Table

from include.patternalarm.cli.common import clear_errors, console, settings
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
    table = Table(title=f"score · runs {', '.join(report['runs'])} · alerts from {used} ({alerts})")
    for col in ("rule", "fires", "detected", "recall", "precision", "TP", "FP near/bg/extra", "end-of-stream",
                "p50 s", "p95 s", "p99 s"):
        table.add_column(col, justify="right" if col != "rule" else "left")
    for rule_id, r in sorted(result.rules.items()):
        table.add_row(rule_id, str(r.fires), str(r.detected), _fmt(r.recall, True), _fmt(r.precision, True),
                      str(r.true_positives), f"{r.near_miss_alerts}/{r.background_alerts}/{r.extra}",
                      str(r.end_of_stream), _fmt(r.latency(50)), _fmt(r.latency(95)), _fmt(r.latency(99)))
    t = result.totals()
    table.add_row("[bold]all[/]", str(t["fires"]), str(t["detected"]), _fmt(t["recall"], True),
                  _fmt(t["precision"], True), str(t["true_positives"]), str(t["false_positives"]), "",
                  _fmt(t["latency_s"]["p50"]), _fmt(t["latency_s"]["p95"]), _fmt(t["latency_s"]["p99"]))
    console.print(table)
    for rule_id, r in sorted(result.rules.items()):
        if r.missed:
            console.print(f"[yellow]{rule_id}[/] missed: {', '.join(r.missed[:5])}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
