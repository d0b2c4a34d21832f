"""Shared CLI pieces: the console, settings, and turning known errors into clear exits."""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

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
