"""`replay FILE`: stream a recorded CSV / CSV.gz / Parquet file into a domain topic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from include.patternalarm.cli.common import err_console, fail, report_run, settings, stop_on_sigterm
from include.patternalarm.topics import DLQ, LATE

#: --wait-dlq on a terminal: the jobs commit their offsets on checkpoints (every 10 s), so two
#: checkpoints after the last event usually end the wait well before this
DEFAULT_WAIT_DLQ_S = 30.0


def _summary_table(summary: Any) -> Table:
    table = Table(title=f"replay {Path(summary.file).name} → {summary.topic} — {summary.status}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    rows = [
        ("rows read", f"{summary.rows:,} in {summary.elapsed_s:.1f} s ({summary.rate:,.0f} rows/s)"),
        ("events sent", f"{summary.events_sent:,} to {summary.topic}"),
        ("dead-lettered by replay", f"{summary.dead_lettered:,} to {summary.dlq_topic}"
                          + (": " + ", ".join(f"{r} {n:,}" for r, n in sorted(summary.dead_letter_reasons.items()))
                             if summary.dead_letter_reasons else "")),
        ("delivered", f"{summary.delivered:,} acknowledged, {summary.failed:,} failed, "
                      f"{summary.undelivered:,} unsent at exit"),
        ("event time", f"{summary.first_event_time or '-'} … {summary.last_event_time or '-'}"),
        ("… by the detection job", _job_line(summary.job_dead_letters)),
    ]
    for error in summary.errors:
        rows.append(("[red]error[/]", error))
    for what, value in rows:
        table.add_row(what, value)
    return table


def _job_line(job: Any) -> str:
    """What the detection job dead-lettered / found late among the replayed events, or why unknown."""
    if not job.checked:
        return f"[yellow]{job.note}[/]"
    counts = ", ".join(f"{r} {n:,}" for r, n in sorted(job.reasons.items()))
    style = "red" if job.total else "green"
    text = f"[{style}]{job.total:,}[/]" + (f" ({counts})" if counts else "")
    return f"{text} — {job.note}" if job.complete else f"{text} — [yellow]{job.note}[/]"


def replay(
    file: Annotated[Path, typer.Argument(help="CSV, CSV.gz or Parquet file (streamed, never loaded whole).")],
    domain: Annotated[str, typer.Option(help="payments, gaming or iot: the contract and topic events.<domain>.")],
    key: Annotated[str, typer.Option(help="Column with the Kafka key (also the entity field unless mapped).")],
    time: Annotated[str, typer.Option("--time", help="Column with event time: ISO-8601, epoch s or ms.")],
    map_: Annotated[list[str], typer.Option("--map", help="FIELD=COLUMN for another contract field; repeatable.")]
    = [],  # noqa: B006 - typer reads list defaults
    set_: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE: a constant for every event; repeatable.")]
    = [],  # noqa: B006
    speed: Annotated[str, typer.Option(help="max (default), realtime / 1, or N for N x real time.")] = "max",
    limit: Annotated[int | None, typer.Option(min=0, help="Stop after N rows.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="csv | csv.gz | parquet (default: by name).")]
    = None,
    delimiter: Annotated[str, typer.Option(help="CSV delimiter (one character).")] = ",",
    topic: Annotated[str | None, typer.Option(help="Target topic (default events.<domain>).")] = None,
    dlq_topic: Annotated[str, typer.Option(help="Dead-letter topic.")] = DLQ,
    id_prefix: Annotated[str | None, typer.Option(help="Event ids <prefix>-<row> when event_id is not mapped "
                                                       "(default: from the file's path, size and time).")] = None,
    retime: Annotated[bool, typer.Option(help="Stamp each event with its send time on the --speed schedule: the "
                                              "first row now, the file's gaps divided by the speed, never ahead "
                                              "of the clock.")] = False,
    workers: Annotated[int, typer.Option(help="Processes (1-4); rows are split by key, each entity keeps its "
                                              "order.")] = 1,
    wait_dlq: Annotated[float | None, typer.Option(
        "--wait-dlq", min=0, metavar="SECONDS",
        help=f"After sending, wait up to this long and count what the detection job dead-lettered or found late "
             f"among these events (default: {DEFAULT_WAIT_DLQ_S:.0f} s on a terminal, 0 = off with --json or when "
             "stdout is not a terminal).")] = None,
    late_topic: Annotated[str, typer.Option(help="The job's late-event topic (with --wait-dlq).")] = LATE,
    job_group: Annotated[str | None, typer.Option(help="The job's consumer group: its commits tell when it has "
                                                       "read every replayed event (default: the domain's "
                                                       "detection job).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Stream a recorded file into a domain topic; rows that cannot be mapped go to events.dlq with the reason."""
    from include.patternalarm.replay import ReplayConfig, ReplayError, parse_pairs, parse_speed, run_replay

    bar = Progress(SpinnerColumn(), TextColumn(f"[bold]replay[/] {file.name}"), BarColumn(), DownloadColumn(),
                   TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=err_console, disable=quiet)
    task = bar.add_task("replay", total=None, stats="starting…")

    def on_progress(p: Any) -> None:
        stats = f"{p.rows:,} rows · {p.sent:,} sent · {p.dead_lettered:,} dead-lettered · "
        stats += (f"{p.rate_now:,.0f} rows/s" if p.waiting_s is None
                  else f"waiting up to {p.waiting_s:.0f} s for the job's dead letters…")
        bar.update(task, total=p.total_bytes or None, completed=p.bytes_read, stats=stats)

    with stop_on_sigterm() as stop:
        try:
            config = ReplayConfig(
                path=file, domain=domain, key=key, time=time, fields=parse_pairs(map_, "--map"),
                constants=parse_pairs(set_, "--set"), speed=parse_speed(speed), limit=limit, format=fmt,
                delimiter=delimiter, topic=topic, dlq_topic=dlq_topic, id_prefix=id_prefix, retime=retime,
                workers=workers, wait_dlq_s=_wait_dlq_s(wait_dlq, as_json), late_topic=late_topic,
                job_group=job_group,
            )
            with bar:
                summary = run_replay(settings(), config, on_progress=on_progress, stop=stop)
        except ReplayError as exc:
            raise fail(str(exc), code=2) from None
        except RuntimeError as exc:  # the broker is unreachable, a topic is missing
            raise fail(str(exc)) from None
    report_run(summary, as_json, _summary_table)


def _wait_dlq_s(asked: float | None, as_json: bool) -> float:
    """--wait-dlq as given; by default a short wait for a person at a terminal, none for scripts."""
    if asked is not None:
        return asked
    return DEFAULT_WAIT_DLQ_S if not as_json and sys.stdout.isatty() else 0.0


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
