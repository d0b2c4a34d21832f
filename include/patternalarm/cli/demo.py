"""`demo`: the main job — the whole stack up, and where to look."""

from __future__ import annotations

import typer

from include.patternalarm import stack as stack_mod
from include.patternalarm.cli.common import clear_errors, console, fail, settings
from include.patternalarm.cli.stack import print_urls


@clear_errors(stack_mod.StackError)
def demo() -> None:
    """Bring the whole stack up and print where each UI is."""
    rows = stack_mod.up(settings(), progress=lambda m: console.print(f"[dim]·[/] {m}"))
    bad = [r.name for r in rows if not r.healthy]
    if bad:
        raise fail(f"unhealthy: {', '.join(bad)} (see `bin/patternalarm stack status`)")
    console.print("[green]patternalarm is up.[/] Stop it with `bin/patternalarm stack down`.")
    print_urls()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
