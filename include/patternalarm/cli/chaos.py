"""`chaos`: real faults on the running stack under labelled traffic, scored against ground truth (docs/chaos.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import psycopg
import typer
from rich.table import Table

from include.patternalarm.cli.common import clear_errors, console, fail, settings
from include.patternalarm.simulator.config import ConfigError, parse_duration, parse_rate

chaos_app = typer.Typer(help="Chaos experiments: `chaos list`, `chaos run EXPERIMENT|--all`, `chaos report`.",
                        no_args_is_help=True)


@chaos_app.command("list")
def list_experiments(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """The experiments: the fault, what it proves, its recovery limit."""
    from include.patternalarm.chaos import EXPERIMENTS, QUICK

    rows = [{"name": e.name, "fault": e.plan(), "proves": e.proves, "recovery_limit_s": e.limit_s,
             "needs_brokers": e.brokers, "quick": e.name in QUICK} for e in EXPERIMENTS.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="chaos experiments")
    for col in ("experiment", "fault", "recovery limit", "proves"):
        table.add_column(col)
    for r in rows:
        name = r["name"] + (" [dim](quick)[/]" if r["quick"] else "")
        table.add_row(name, r["fault"], f"{r['recovery_limit_s']:.0f}s", r["proves"])
    console.print(table)


def _figure(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:.1f}{unit}" if isinstance(value, float) else f"{value}{unit}"


@chaos_app.command("run")
@clear_errors(ConfigError, psycopg.Error)
def run(
    experiment: Annotated[list[str] | None, typer.Argument(help="Experiment name(s); see `chaos list`.")] = None,
    run_all: Annotated[bool, typer.Option("--all", help="Every experiment, one after the other.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="The quick subset (TaskManager kill, sink kill, poison).")
                     ] = False,
    rate: Annotated[str, typer.Option(help="Labelled traffic during each experiment (at most the seed rate).")
                    ] = "50000/min",
    steady: Annotated[str, typer.Option(help="Traffic before the fault.")] = "45s",
    fault_duration: Annotated[str, typer.Option("--fault-duration", help="How long a held fault lasts (a broker "
                                                "down, the SQL Gateway down).")] = "20s",
    after: Annotated[str, typer.Option(help="Traffic after recovery.")] = "45s",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and print the plan; inject nothing.")] = False,
    skip_recovery: Annotated[bool, typer.Option("--skip-recovery", help="Keep the fault past the recovery limit: "
                                                "the experiment fails on purpose (and opens a platform incident).")
                             ] = False,
    seed: Annotated[int | None, typer.Option(help="Traffic seed (default: a new one per experiment).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Run experiments against the running stack; exits 1 when one fails."""
    from include.patternalarm.chaos import EXPERIMENTS, QUICK, ChaosConfig, ChaosError, run_batch
    from include.patternalarm.control.deployments import cli_holder

    names = list(EXPERIMENTS) if run_all else list(QUICK) if quick else list(experiment or [])
    if not names:
        raise fail("name an experiment (see `chaos list`), or --all / --quick")
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise fail(f"unknown experiment(s) {', '.join(unknown)} (valid: {', '.join(EXPERIMENTS)})")
    per_second = parse_rate(rate)
    if per_second is None:
        raise fail("--rate must be a rate (e.g. 50000/min), not max")
    try:
        config = ChaosConfig(rate_per_min=per_second * 60, steady_s=parse_duration(steady),
                             fault_s=parse_duration(fault_duration), after_s=parse_duration(after), dry_run=dry_run,
                             skip_recovery=skip_recovery, seed=seed).validated()
    except ChaosError as exc:
        raise fail(str(exc)) from None
    say = (lambda m: None) if as_json else (lambda m: console.print(f"[dim]·[/] {m}", highlight=False))
    summary = run_batch(settings(), names, config, requested_by=cli_holder(), say=say)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        table = Table(title=f"chaos {summary['batch_id']} ({summary['seconds']:.0f}s)")
        for col in ("experiment", "status", "recovery", "monitor", "expected/detected", "lost", "dup.", "dup. inc.",
                    "DLQ/late", "p99 before/during/after", "failures"):
            table.add_column(col)
        for r in summary["experiments"]:
            lat = r.get("latency_s") or {}
            p99 = "/".join(_figure((lat.get(p) or {}).get("p99")) for p in ("before", "during", "after"))
            table.add_row(r["experiment"], r["status"], _figure(r.get("recovery_s"), "s"),
                          _figure(r.get("monitor_detected_s"), "s"),
                          f"{_figure(r.get('expected'))}/{_figure(r.get('detected'))}", _figure(r.get("lost")),
                          _figure(r.get("duplicated")), _figure(r.get("incidents_duplicated")),
                          f"{_figure(r.get('dead_lettered'))}/{_figure(r.get('late'))}", p99,
                          "; ".join(r.get("failures") or r.get("problems") or []))
        console.print(table)
        console.print(f"report: {summary['report']}", highlight=False)
    if not summary["passed"]:
        raise typer.Exit(1)


@chaos_app.command("report")
@clear_errors(psycopg.Error)
def report(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
           last: Annotated[int, typer.Option(min=1, max=500, help="How many experiment runs.")] = 20) -> None:
    """The latest experiment runs (chaos_runs) and where the HTML report is."""
    from include.patternalarm.chaos.report import chaos_root
    from include.patternalarm.chaos.store import ChaosStore

    rows = ChaosStore(settings()).recent(last)
    index = chaos_root(settings().reports_dir) / "index.html"
    if as_json:
        print(json.dumps({"runs": rows, "report": str(index)}, indent=2, default=str))
        return
    table = Table(title="chaos runs")
    for col in ("id", "batch", "experiment", "status", "started", "recovery", "lost", "dup.", "dup. inc.",
                "p99 before/during/after", "failures"):
        table.add_column(col)
    for r in rows:
        p99 = "/".join(_figure(r[f"latency_p99_{p}_s"]) for p in ("before", "during", "after"))
        table.add_row(str(r["id"]), r["batch_id"], r["experiment"], r["status"], str(r["started_at"])[:19],
                      _figure(r["recovery_s"], "s"), _figure(r["lost"]), _figure(r["duplicated"]),
                      _figure(r["incidents_duplicated"]), p99, "; ".join(r["failures"] or []))
    console.print(table)
    console.print(f"HTML report: {index} (Airflow UI → Browse → Chaos experiments)", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(chaos_app, name="chaos")
