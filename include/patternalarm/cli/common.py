"""Shared CLI pieces: the console, settings, and turning known errors into clear exits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

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
