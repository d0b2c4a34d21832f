"""Shared CLI pieces: the console, settings, tables that fit the terminal, and turning known errors into
clear exits."""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, ParamSpec, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from include.patternalarm.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    return get_settings()


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def clear_errors(*errors: type[Exception]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Print ``errors`` (plus RuntimeError) as a one-paragraph message and exit 1, no traceback."""
    caught = (RuntimeError, *errors)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except typer.Exit:  # typer.Exit subclasses RuntimeError: let intended exits through unchanged
                raise
            except caught as exc:
                raise fail(str(exc)) from None

        return wrapper

    return decorate


@contextmanager
def stop_on_sigterm() -> Iterator[threading.Event]:
    """An event set by SIGTERM (Ctrl-C stays KeyboardInterrupt), so a long run can end cleanly."""
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_run(summary: Any, as_json: bool, table: Callable[[Any], Any]) -> None:
    """Print a run's summary (JSON or a table); exit 1 if it failed and 130 if it was interrupted."""
    if as_json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        console.print(table(summary))
    if summary.status == "failed":
        raise typer.Exit(1)
    if summary.status == "interrupted":
        raise typer.Exit(130)


# --- tables that fit the terminal ------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A column of ``fit_table``. ``drop``: 0 = always shown; when the terminal is too narrow, columns are
    left out highest ``drop`` first. ``max_width``: longer values fold onto more lines."""

    header: str
    drop: int = 0
    justify: Literal["left", "right", "center"] = "left"
    max_width: int | None = None
    no_wrap: bool = False


def fit_table(columns: Sequence[Col], rows: Iterable[Sequence[Any]], *, title: str | None = None,
              width: int | None = None, out: Console | None = None) -> Table:
    """A table that fits ``width`` (default: the terminal's): while its natural width (values capped at
    their column's ``max_width``) is too wide, the droppable column with the highest ``drop`` goes; then
    long values fold. The caption names what was left out (``--json`` has everything)."""
    out = out or console
    width = width or out.width
    data = [["" if v is None else str(v) for v in row] for row in rows]
    shown = list(range(len(columns)))
    dropped: list[str] = []
    while True:
        table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False, pad_edge=False,
                      collapse_padding=True, title_justify="left")
        for i in shown:
            c = columns[i]
            table.add_column(c.header, justify=c.justify, max_width=c.max_width, no_wrap=c.no_wrap, overflow="fold")
        for row in data:
            table.add_row(*(row[i] for i in shown))
        natural = Measurement.get(out, out.options.update_width(100_000), table).maximum
        droppable = [i for i in shown if columns[i].drop > 0]
        if natural <= width or not droppable:
            break
        victim = max(droppable, key=lambda i: (columns[i].drop, i))
        shown.remove(victim)
        dropped.append(columns[victim].header)
    if dropped:
        table.caption = f"not shown at {width} columns: {', '.join(dropped)} (a wider terminal or --json shows them)"
        table.caption_justify = "left"
    return table


def short_time(value: datetime | None) -> str:
    """``12-02 10:31:05`` (UTC; the year is in --json)."""
    return value.astimezone(UTC).strftime("%m-%d %H:%M:%S") if value else ""


def age(value: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in one unit: ``45s``, ``12m``, ``3h``, ``2d``."""
    if value is None:
        return ""
    seconds = max(0.0, ((now or datetime.now(UTC)) - value).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


def utc_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""
