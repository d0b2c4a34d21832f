"""`demo`: the main job — the whole product working on this machine, with a live view and a summary."""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from include.patternalarm import stack as stack_mod
from include.patternalarm.cli.common import Col, clear_errors, console, fail, fit_table, settings
from include.patternalarm.cli.stack import print_urls
from include.patternalarm.demo import DEPLOY_DAG, DemoConfig, DemoState, run_demo
from include.patternalarm.simulator import ConfigError, parse_rate
from include.patternalarm.topics import DOMAINS


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}s"


def _view(state: DemoState, config: DemoConfig) -> Group:
    elapsed = time.monotonic() - state.started
    header = f"[bold]{state.phase}[/]   elapsed {elapsed:4.0f}s   traffic {config.minutes:g} min at " \
             f"{config.rate * 60:,.0f} events/min"
    sample, progress = state.sample, state.progress
    traffic = Table(title="traffic", expand=True)
    for col in ("domain", "events/s", "events on topic", "detection lag"):
        traffic.add_column(col, justify="left" if col == "domain" else "right")
    if sample:
        for d in config.domains:
            traffic.add_row(d, f"{sample.event_rate.get(d, 0):,.0f}", f"{sample.events_total.get(d, 0):,}",
                            f"{sample.lag.get(d, 0):,}")
    rules = Table(title="detection", expand=True)
    for col in ("rule", "alerts", "incidents", "recall so far"):
        rules.add_column(col, justify="left" if col == "rule" else "right")
    if sample:
        names = sorted(set(sample.alerts) | set(sample.incidents) | {r for r in state.recall if r != "all"})
        for rule in names:
            rules.add_row(rule, str(sample.alerts.get(rule, 0)), str(sample.incidents.get(rule, 0)),
                          _pct(state.recall.get(rule)))
    lines = []
    if progress:
        lines.append(f"sent {progress.events_sent:,} events ({progress.rate_now:,.0f}/s), scenarios injected "
                     f"{progress.scenarios_started} (complete {progress.scenarios_done})")
    if sample:
        lines.append(f"alert latency p50 {_secs(sample.latency_p50)}  p99 {_secs(sample.latency_p99)}   "
                     f"recall so far {_pct(state.recall.get('all'))}   dead-lettered {sample.dead_lettered:,}   "
                     f"late {sample.late:,}   sink lag {sample.sink_lag}   load {sample.load1:.1f}")
    lines += state.messages[-3:]
    return Group(Panel(header), traffic, rules, *lines)


def _deployment_line(deployment: dict[str, Any]) -> str:
    if not deployment:
        return "detection jobs: not deployed by this run (--no-deploy)"
    if not deployment.get("deployed"):
        return "detection jobs: already running"
    return (f"detection jobs: deployed {', '.join(deployment['deployed'])} through {DEPLOY_DAG} in "
            f"{deployment.get('seconds', 0):.0f}s (run {deployment.get('run_id')})")


def _summary(report: dict[str, Any]) -> None:
    console.rule("summary", align="left")
    console.print(_deployment_line(report.get("deployment") or {}), highlight=False)
    scored = report.get("score")
    if not scored:
        console.print("[red]no simulator run to score[/]", report.get("errors"))
        return
    columns = [Col("rule", no_wrap=True), Col("fires", 4, "right"), Col("detected", 5, "right"),
               Col("recall", justify="right"), Col("precision", justify="right"), Col("false pos.", 3, "right"),
               Col("p50", 2, "right"), Col("p95", 6, "right"), Col("p99", 1, "right")]
    rows: list[list[Any]] = []
    for rule, r in scored["rules"].items():
        lat = r["latency_s"]
        rows.append([rule, r["fires"], r["detected"], _pct(r["recall"]), _pct(r["precision"]), r["false_positives"],
                     _secs(lat["p50"]), _secs(lat["p95"]), _secs(lat["p99"])])
    t = scored["total"]
    rows.append(["[bold]all[/]", t["fires"], t["detected"], _pct(t["recall"]), _pct(t["precision"]),
                 t["false_positives"], _secs(t["latency_s"]["p50"]), _secs(t["latency_s"]["p95"]),
                 _secs(t["latency_s"]["p99"])])
    console.print(fit_table(columns, rows, title=f"run {report['run']['run_id']} · alerts from "
                                                 f"{scored['alert_source']}"))
    run = report["run"]
    console.print(f"events sent {run['events_sent']:,} in {run['elapsed_s']:.0f}s "
                  f"({run['achieved_rate']:,.0f}/s), scenarios {run['scenarios_injected']}, "
                  f"dead-lettered {report.get('dead_lettered')}, late {report.get('late')}, "
                  f"pipeline drained in {report['drained_s']:.0f}s", highlight=False)
    console.print("\n[bold]Where to look[/]")
    print_urls({"Incidents (CLI)": "bin/patternalarm incidents list", "Report": str(report["report_file"])})
    console.print("The stack stays up: stop it with `bin/patternalarm stack down`.")


@clear_errors(stack_mod.StackError, ConfigError)
def demo(
    minutes: Annotated[float, typer.Option(min=0.25, max=120, help="Minutes of traffic.")] = 3.0,
    rate: Annotated[str, typer.Option(help="Traffic rate, e.g. 50000/min or 800/s.")] = "50000/min",
    domain: Annotated[list[str] | None, typer.Option("--domain", "-d", help="Only this domain (repeat).")] = None,
    seed: Annotated[int | None, typer.Option(help="Simulator seed (default: random).")] = None,
    deploy: Annotated[bool, typer.Option(help="Deploy missing detection jobs through Airflow first.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="No live view; print the report as JSON.")] = False,
) -> None:
    """The main job: stack up, detection deployed through Airflow, traffic with injected fraud, live figures."""
    domains = tuple(domain or DOMAINS)
    unknown = [d for d in domains if d not in DOMAINS]
    if unknown:
        raise typer.BadParameter(f"unknown domain(s) {', '.join(unknown)}; choose from {', '.join(DOMAINS)}",
                                 param_hint="--domain")
    events_per_s = parse_rate(rate)
    if events_per_s is None:
        raise typer.BadParameter("the main job needs a finite rate, e.g. 50000/min", param_hint="--rate")
    config = DemoConfig(minutes=minutes, rate=events_per_s, domains=domains, seed=seed, deploy=deploy)
    say = (lambda m: None) if as_json else (lambda m: console.print(f"[dim]·[/] {m}"))
    rows = stack_mod.up(settings(), progress=say)
    bad = [r.name for r in rows if not r.healthy]
    if bad:
        raise fail(f"unhealthy: {', '.join(bad)} (see `bin/patternalarm stack status`)")
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: stop the traffic, still drain and summarise
    try:
        if as_json:
            report = run_demo(settings(), config, stop=stop)
        else:
            with Live(console=console, refresh_per_second=2, transient=False) as live:
                report = run_demo(settings(), config, stop=stop,
                                  on_update=lambda state: live.update(_view(state, config)))
            console.line()  # the live view's last line ends here, not in the summary's first
    finally:
        signal.signal(signal.SIGINT, previous)
    if as_json:
        slim = {k: v for k, v in report.items() if k != "samples"}
        print(json.dumps(slim, indent=2, default=str))
        return
    _summary(report)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
