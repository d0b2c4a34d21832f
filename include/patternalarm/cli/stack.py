"""`stack up | status | down` and `psql`."""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Annotated

import typer
from rich.table import Table

from include.patternalarm import stack as stack_mod
from include.patternalarm.cli.common import clear_errors, console, fail, settings
from include.patternalarm.settings import DB_ROLES

stack_app = typer.Typer(help="The local stack: PostgreSQL, Kafka, Flink, Airflow under a supervisor.",
                        no_args_is_help=True)


def _table(rows: list[stack_mod.ServiceStatus]) -> Table:
    table = Table(title="patternalarm stack")
    for col in ("service", "state", "health", "ports", "pid", "memory", "detail"):
        table.add_column(col)
    for row in rows:
        health = "[green]healthy[/]" if row.healthy else "[red]unhealthy[/]"
        mem = f"{row.rss_mb:.0f} MiB" if row.rss_mb else ""
        table.add_row(row.name, row.state, health, ",".join(map(str, row.ports)), str(row.pid or ""), mem,
                      row.detail)
    return table


def urls() -> dict[str, str]:
    s = settings()
    return {
        "Airflow UI": f"{s.airflow_api}  (user {s.airflow_admin_user}, password: PATTERNALARM_AIRFLOW_ADMIN_PASSWORD "
        f"in {s.secrets_file})",
        "Flink UI": s.flink_rest,
        "Flink SQL Gateway": s.sql_gateway,
        "Kafka": s.bootstrap_servers,
        "PostgreSQL": f"{s.pg_host}:{s.postgres_port}/{s.postgres_db}  (bin/patternalarm psql)",
        "Logs": str(s.log_dir),
    }


def print_urls() -> None:
    for name, url in urls().items():
        console.print(f"  [bold]{name:<18}[/] {url}", highlight=False)


@stack_app.command("up")
@clear_errors(stack_mod.StackError)
def up(
    brokers: Annotated[int | None, typer.Option(help="Kafka brokers: 1, or 3 (replication 3, min ISR 2).")] = None,
) -> None:
    """Start every service (idempotent); returns when all answer their health checks."""
    started = time.monotonic()
    rows = stack_mod.up(settings(), brokers=brokers, progress=lambda m: console.print(f"[dim]·[/] {m}"))
    console.print(_table(rows))
    bad = [r.name for r in rows if not r.healthy]
    if bad:
        raise fail(f"unhealthy after start: {', '.join(bad)}")
    console.print(f"[green]stack up[/] in {time.monotonic() - started:.0f}s")
    print_urls()


@stack_app.command("status")
@clear_errors(stack_mod.StackError)
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Each service: state, health, port, pid, memory."""
    rows = stack_mod.status(settings())
    if as_json:
        print(json.dumps({"healthy": all(r.healthy for r in rows), "services": [r.as_dict() for r in rows]},
                         indent=2))
    else:
        console.print(_table(rows))
    if not all(r.healthy for r in rows):
        raise typer.Exit(3)


@stack_app.command("down")
@clear_errors(stack_mod.StackError)
def down(purge: Annotated[bool, typer.Option(help="Also delete the data directory (all state).")] = False) -> None:
    """Stop everything the stack started."""
    stack_mod.down(settings(), purge=purge, progress=lambda m: console.print(f"[dim]·[/] {m}"))
    console.print("[green]stack down[/]")


@stack_app.command("urls")
def show_urls() -> None:
    """Where the UIs and endpoints are."""
    print_urls()


def psql(ctx: typer.Context) -> None:
    """psql on the project's database as the read-only reporting role (extra arguments go to psql)."""
    s = settings()
    exe = shutil.which("psql")
    if not exe:
        raise fail("psql not found: run `make setup` (Debian package postgresql-client)")
    try:
        password = s.secret("db_reporting_password")
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    env = {**os.environ, "PGPASSWORD": password, "PGAPPNAME": "patternalarm-psql"}
    args = [exe, "-h", s.pg_host, "-p", str(s.postgres_port), "-U", DB_ROLES["reporting"], "-d", s.postgres_db,
            *ctx.args]
    os.execve(exe, args, env)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
    app.command("psql", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(psql)
