"""`sink run | status | bench`: the incident sink (alerts topic → PostgreSQL incidents)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from include.patternalarm.cli.common import clear_errors, console, err_console, settings
from include.patternalarm.incidents import SINK_GROUP, SinkConfig, SinkError, fetch_status, group_lag, run_sink
from include.patternalarm.topics import ALERTS, ALERTS_DLQ

sink_app = typer.Typer(help="The incident sink: alerts from Kafka into PostgreSQL incidents.", no_args_is_help=True)


@sink_app.command("run")
@clear_errors(SinkError)
def run(
    topic: Annotated[str, typer.Option(help="Topic to read alerts from.")] = ALERTS,
    group: Annotated[str, typer.Option(help="Consumer group (offsets are committed after each stored batch).")]
    = SINK_GROUP,
    dlq_topic: Annotated[str, typer.Option(help="Dead-letter topic for alerts that break the contract.")] = ALERTS_DLQ,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Most alerts per database transaction.")] = 500,
    metrics_port: Annotated[int | None, typer.Option(
        help="Port of the status endpoint (default: the setting sink_metrics_port; 0: any free port; -1: none).")]
    = None,
    auto_resolve_every: Annotated[float, typer.Option(
        min=0, help="Seconds between auto_resolve_incidents() calls (0: never).")] = 30.0,
) -> None:
    """Run a sink in the foreground until Ctrl-C / SIGTERM (the stack runs one under its supervisor)."""
    s = settings()
    port = s.sink_metrics_port if metrics_port is None else metrics_port
    if port < -1 or port > 65535:
        raise SinkError(f"--metrics-port must be between -1 and 65535, not {port}")
    run_sink(s, SinkConfig(topic=topic, group=group, dlq_topic=dlq_topic, batch_size=batch_size,
                           metrics_port=None if port == -1 else port, auto_resolve_every_s=auto_resolve_every))


def _status_table(status: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    health = "[green]healthy[/]" if status["healthy"] else "[red]unhealthy[/]"
    table.add_row("sink", f"{health}  state {status['state']}" + (f" — {status['detail']}" if status["detail"] else ""))
    table.add_row("reads", f"{status['topic']} as group {status['group']}, up {status['uptime_s']:.0f}s")
    rates = ", ".join(f"{w}: {r['stored_per_s']:.1f} stored/s, {r['consumed_per_s']:.1f} read/s"
                      for w, r in status["rates"].items())
    table.add_row("throughput", rates)
    lag = status["lag"]["total"]
    table.add_row("lag", f"{lag if lag is not None else 'n/a'} record(s) behind (its assigned partitions)")
    counts = status["counts"]
    table.add_row("since start", ", ".join(f"{k} {v}" for k, v in counts.items() if v or k in ("consumed", "stored")))
    if status.get("last_batch"):
        b = status["last_batch"]
        table.add_row("last batch", f"{b['records']} records in {b['seconds'] * 1000:.0f} ms")
    if status.get("last_error"):
        table.add_row("last error", f"{status['last_error']['kind']}: {status['last_error']['message']}")
    return table


def _lag_table(title: str, lag: dict[str, Any]) -> Table:
    table = Table(title=title)
    for col in ("partition", "committed", "end", "lag"):
        table.add_column(col, justify="right")
    for partition, info in lag["partitions"].items():
        table.add_row(str(partition), "" if info["committed"] is None else str(info["committed"]), str(info["high"]),
                      str(info["lag"]))
    table.add_row("total", "", "", str(lag["total"]), style="bold")
    return table


@sink_app.command("status")
def status(
    port: Annotated[int | None, typer.Option(help="Status port of the sink (default: the shared sink's).")] = None,
    group: Annotated[str, typer.Option(help="Consumer group whose lag Kafka reports.")] = SINK_GROUP,
    topic: Annotated[str, typer.Option(help="Topic of that group.")] = ALERTS,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The sink's state, throughput and lag (its endpoint), and the group's lag as Kafka sees it."""
    s = settings()
    report: dict[str, Any] = {"endpoint": None, "endpoint_error": None, "kafka_lag": None, "kafka_error": None}
    try:
        report["endpoint"] = fetch_status(s.host, port or s.sink_metrics_port)
    except ConnectionError as exc:
        report["endpoint_error"] = str(exc)
    try:
        report["kafka_lag"] = group_lag(s.bootstrap_servers, group, topic)
    except RuntimeError as exc:
        report["kafka_error"] = str(exc)
    healthy = bool(report["endpoint"] and report["endpoint"]["healthy"])
    if as_json:
        print(json.dumps({"healthy": healthy, **report}, indent=2, default=str))
    else:
        if report["endpoint"]:
            console.print(_status_table(report["endpoint"]))
        else:
            console.print(f"[red]{report['endpoint_error']}[/] (is it running? `bin/patternalarm stack status`)",
                          highlight=False)
        if report["kafka_lag"]:
            console.print(_lag_table(f"lag of group {group} on {topic} (committed offsets, from Kafka)",
                                     report["kafka_lag"]))
        else:
            console.print(f"[red]{report['kafka_error']}[/]", highlight=False)
    if not healthy:
        raise typer.Exit(3)


@sink_app.command("bench")
@clear_errors(ValueError)
def bench(
    burst: Annotated[int, typer.Option(min=0, max=200_000, help="Alerts pre-loaded, then stored as fast as "
                                                                  "possible (throughput).")] = 20_000,
    rate: Annotated[float, typer.Option(min=0.1, max=5_000, help="Alerts/s for the latency phase.")] = 100.0,
    duration: Annotated[float, typer.Option(min=0, max=600, help="Seconds of the latency phase (0: skip).")] = 30.0,
    entities: Annotated[int, typer.Option(min=1, help="Distinct entities (incidents) the alerts spread over.")]
    = 1_000,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
    keep: Annotated[bool, typer.Option(help="Keep the benchmark's rows (default: deleted afterwards).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Sink throughput (alerts/s) and added latency at a steady rate, on a throwaway topic."""
    from include.patternalarm.incidents.bench import run_bench

    result = run_bench(settings(), burst=burst, rate=rate, duration_s=duration, entities=entities,
                       batch_size=batch_size, keep=keep,
                       progress=lambda m: (err_console if as_json else console).print(f"[dim]·[/] {m}"))
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        console.print_json(json.dumps(result))


def register(app: typer.Typer) -> None:
    app.add_typer(sink_app, name="sink")
