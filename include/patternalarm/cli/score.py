"""`score`: compare alerts with the simulator's ground truth (recall, precision, latency per rule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import psycopg
import typer
from rich.table import Table

from include.patternalarm.cli.common import clear_errors, console, settings
from include.patternalarm.rules import load_catalog
from include.patternalarm.scoring import score as score_alerts
from include.patternalarm.scoring.load import (
    ScoreError,
    dedupe,
    dumps,
    load_alerts_db,
    load_alerts_kafka,
    load_runs,
    load_truth,
)
from include.patternalarm.topics import ALERTS

ABSENCE_RULES = {"missing_heartbeat": "silence_s"}


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
    s = settings()
    runs = load_runs(s, run, last=last)
    truth = load_truth(s, [r.run_id for r in runs])
    since = min(r.started_at for r in runs) - timedelta(minutes=1)
    ends = [r.finished_at or datetime.now(UTC) for r in runs]
    run_end = max(ends)
    until = run_end + timedelta(minutes=5)
    tags = [r.tag for r in runs]
    used = source
    if source in ("auto", "db"):
        try:
            alerts = load_alerts_db(s, tags, since, until)
            used = "db"
        except ScoreError:
            if source == "db":
                raise
            alerts, used = load_alerts_kafka(s, tags, since, until, topic=alerts_topic), "kafka"
        if source == "auto" and not alerts:  # the incident sink did not store them (not running?)
            alerts, used = load_alerts_kafka(s, tags, since, until, topic=alerts_topic), "kafka"
    else:
        alerts = load_alerts_kafka(s, tags, since, until, topic=alerts_topic)
    catalog = load_catalog()
    offsets = {rule: timedelta(seconds=catalog.rule(rule).values[param]) for rule, param in ABSENCE_RULES.items()
               if rule in catalog.rules}
    end_window = max(offsets.values(), default=timedelta(0)) + \
        timedelta(milliseconds=catalog.job_values["watermark_delay_ms"]) + timedelta(seconds=10)
    result = score_alerts(truth, dedupe(alerts), rules=list(catalog.rules), latency_offsets=offsets,
                          absence_rules=list(ABSENCE_RULES), run_end=run_end, end_window=end_window)
    report = {"runs": [r.run_id for r in runs], "alert_source": used, "alerts": len(alerts),
              "latency_from": "persisted_at (database clock)" if used == "db" else "alerts topic record timestamp",
              **result.as_dict()}
    if as_json:
        console.print_json(dumps(report))
        return
    table = Table(title=f"score · runs {', '.join(report['runs'])} · alerts from {used} ({len(alerts)})")
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
