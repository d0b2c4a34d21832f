"""`simulate`: realistic traffic with labelled scenarios and bad events, at a controlled rate."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from include.patternalarm.cli.common import err_console, fail, report_run, settings, stop_on_sigterm
from include.patternalarm.topics import DOMAINS, EVENTS


def _parse_topics(pairs: list[str]) -> dict[str, str]:
    topics = dict(EVENTS)
    for pair in pairs:
        domain, sep, topic = pair.partition("=")
        if not sep or domain not in DOMAINS or not topic:
            raise typer.BadParameter(f"{pair!r}: use DOMAIN=TOPIC with a domain of {', '.join(DOMAINS)}",
                                     param_hint="--topic")
        topics[domain] = topic
    return topics


def _domains(values: list[str]) -> tuple[str, ...]:
    if not values or "all" in values:
        return DOMAINS
    bad = [v for v in values if v not in DOMAINS]
    if bad:
        raise typer.BadParameter(f"{', '.join(bad)}: choose from all, {', '.join(DOMAINS)}", param_hint="--domain")
    return tuple(dict.fromkeys(values))


def _summary_table(summary: Any) -> Table:
    table = Table(title=f"simulation {summary.run_id} — {summary.status}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    rate = f"{summary.achieved_rate:,.0f} events/s overall, {summary.background_rate:,.0f}/s background"
    if summary.target_rate:
        rate += f" (target {summary.target_rate:,.1f}/s, accuracy {summary.rate_accuracy:.4%})"
    rows = [
        ("seed / tag", f"{summary.seed} / {summary.tag}  (clock: {summary.clock}, workers: {summary.workers})"),
        ("elapsed", f"{summary.elapsed_s:.1f} s"),
        ("events sent", f"{summary.events_sent:,} ({summary.background_events:,} background, "
                        f"{summary.bad_events:,} bad, {summary.scenario_events:,} in scenarios)"),
        ("per domain", ", ".join(f"{d} {n:,}" for d, n in sorted(summary.per_domain.items())) or "-"),
        ("rate", rate),
        ("delivered", f"{summary.delivered:,} acknowledged, {summary.failed:,} failed, "
                      f"{summary.undelivered:,} unsent at exit"),
        ("scenarios", f"{summary.scenarios_injected:,} injected, {summary.scenarios_truncated} truncated, "
                      f"{sum(summary.scenarios_skipped.values())} skipped (did not fit in the run)"),
    ]
    if summary.scenarios_skipped and not summary.scenarios_injected:
        rows.append(("", "[dim]a scenario starts only if it ends 10 s before the run does; the longest last "
                         "~80 s: run for 2 minutes or more to see every rule[/]"))
    for rule, variants in sorted(summary.scenarios.items()):
        rows.append((f"  {rule}", ", ".join(f"{v} {n}" for v, n in sorted(variants.items()))))
    if summary.bad_by_variant:
        rows.append(("bad events", ", ".join(f"{v} {n:,}" for v, n in sorted(summary.bad_by_variant.items()))))
    rows.append(("ground truth", f"{summary.ground_truth_rows:,} rows in ground_truth (run_id {summary.run_id})"))
    for error in summary.errors:
        rows.append(("[red]error[/]", error))
    for what, value in rows:
        table.add_row(what, value)
    return table


def simulate(
    domain: Annotated[list[str], typer.Option("--domain", "-d", help="all (default), or one domain; repeatable.")]
    = [],  # noqa: B006 - typer reads list defaults
    rate: Annotated[str, typer.Option(help="Background rate: 50000/min, 833/s, 5k/s, or max.")] = "50000/min",
    spike: Annotated[list[str], typer.Option(help="Spike FACTORx@START+LENGTH, e.g. 10x@60s+30s; repeatable.")]
    = [],  # noqa: B006
    duration: Annotated[str | None, typer.Option(help="Run for this long: 90s, 2m, 1h (default: until --events or "
                                                      "Ctrl-C).")] = None,
    events: Annotated[int | None, typer.Option(min=0, help="Stop after N background (and bad) events.")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Same seed, same events (default: random, reported).")]
    = None,
    clock: Annotated[str, typer.Option(help="live: event_time = send time; virtual: event times from the "
                                            "schedule (deterministic).")] = "live",
    start: Annotated[str | None, typer.Option(help="Virtual clock start (ISO-8601), or 'now'.")] = None,
    pace: Annotated[bool, typer.Option(help="Virtual clock: also send at the rate (default: as fast as "
                                            "possible).")] = False,
    bad_ratio: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of bad events (malformed, late, "
                                                                    "duplicate), labelled.")] = 0.0,
    scenarios: Annotated[bool, typer.Option(help="Inject labelled scenarios (fires + near misses).")] = True,
    rules: Annotated[str | None, typer.Option(help="Only these rules' scenarios, comma-separated.")] = None,
    scenario_interval: Annotated[str, typer.Option(help="A round of every rule's scenarios this often.")] = "30s",
    workers: Annotated[int, typer.Option(help="Producer processes: 1, 2 or 4 (same events either way).")] = 1,
    ground_truth: Annotated[bool, typer.Option(help="Record runs and injected instances in PostgreSQL.")] = True,
    topic: Annotated[list[str], typer.Option(help="Send DOMAIN's events to TOPIC instead (DOMAIN=TOPIC).")]
    = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Produce realistic traffic with injected, labelled fraud/anomaly scenarios (ground truth in PostgreSQL)."""
    from include.patternalarm.simulator import (
        ConfigError,
        SimulationConfig,
        Spike,
        parse_duration,
        parse_rate,
        run_simulation,
    )

    try:
        config = SimulationConfig(
            domains=_domains(domain),
            rate=parse_rate(rate),
            spikes=tuple(Spike.parse(s) for s in spike),
            duration_s=parse_duration(duration) if duration is not None else None,
            events=events,
            seed=seed,
            clock=clock,  # type: ignore[arg-type]
            pace=pace,
            bad_ratio=bad_ratio,
            scenarios=scenarios,
            rules=tuple(r.strip() for r in rules.split(",") if r.strip()) if rules else None,
            scenario_interval_s=parse_duration(scenario_interval),
            workers=workers,
            record_ground_truth=ground_truth,
            topics=_parse_topics(topic),
        )
        if start is not None:
            from dataclasses import replace
            from datetime import UTC, datetime

            value = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if start == "now" else start
            config = replace(config, virtual_start=value)
        config = config.validated()
    except ConfigError as exc:
        raise fail(str(exc), code=2) from None

    total = config.events if config.events is not None else None
    if total is None and config.duration_s is not None and config.rate is not None:
        from include.patternalarm.simulator import RateSchedule

        total = int(RateSchedule(config.spikes).integral(config.duration_s) * config.rate + 0.999999)
    bar = Progress(SpinnerColumn(), TextColumn("[bold]simulate[/]"), BarColumn(), TaskProgressColumn(),
                   TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=err_console,
                   disable=quiet, transient=False)
    task = bar.add_task("simulate", total=total, stats="starting…")

    def on_progress(p: Any) -> None:
        target = f" / {p.target_rate:,.0f}" if p.target_rate else ""
        stats = (f"{p.events_sent:,} sent · {p.rate_now:,.0f}{target} ev/s · scenarios {p.scenarios_done}"
                 f" (+{p.scenarios_started - p.scenarios_done} running) · bad {p.bad:,}"
                 + (f" · [red]{p.failed:,} failed[/]" if p.failed else ""))
        bar.update(task, completed=p.background, stats=stats)

    with stop_on_sigterm() as stop:
        try:
            with bar:
                if not quiet and config.duration_s is None and config.events is None:
                    err_console.print("[dim]no --duration / --events: Ctrl-C stops the run[/]")
                summary = run_simulation(settings(), config, on_progress=on_progress, stop=stop)
                bar.update(task, completed=summary.background_events + summary.bad_events)
        except ConfigError as exc:
            raise fail(str(exc), code=2) from None
        except RuntimeError as exc:  # broker / database / catalog problems, already worded for the user
            raise fail(str(exc)) from None
    report_run(summary, as_json, _summary_table)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
