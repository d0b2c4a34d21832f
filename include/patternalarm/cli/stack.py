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
from include.patternalarm.cli.common import Col, clear_errors, console, err_console, fail, fit_table, settings
from include.patternalarm.settings import DB_ROLES

stack_app = typer.Typer(help="The local stack: PostgreSQL, Kafka, Flink, Airflow under a supervisor.",
                        no_args_is_help=True)


def _table(rows: list[stack_mod.ServiceStatus]) -> Table:
    columns = [Col("service", no_wrap=True), Col("state", 2), Col("health"), Col("ports", 5), Col("pid", 6),
               Col("memory", 3, "right"), Col("detail", 4, max_width=28)]
    return fit_table(columns, ([
        row.name, row.state, "[green]healthy[/]" if row.healthy else "[red]unhealthy[/]",
        ",".join(map(str, row.ports)), row.pid, f"{row.rss_mb:.0f} MiB" if row.rss_mb else "", row.detail]
        for row in rows), title="patternalarm stack")


def urls() -> dict[str, str]:
    s = settings()
    return {
        "Airflow UI": f"{s.airflow_api}  (user {s.airflow_admin_user}, password: PATTERNALARM_AIRFLOW_ADMIN_PASSWORD "
        f"in {s.secrets_file})",
        "Incident console": f"{s.airflow_api}/plugin/incidents  (Airflow UI → Incidents; user "
        f"{s.airflow_analyst_user} may act, {s.airflow_viewer_user} may read: PATTERNALARM_AIRFLOW_ANALYST_PASSWORD, "
        f"…_VIEWER_PASSWORD in {s.secrets_file})",
        "Flink UI": s.flink_rest,
        "Flink SQL Gateway": s.sql_gateway,
        "Kafka": s.bootstrap_servers,
        "PostgreSQL": f"{s.pg_host}:{s.postgres_port}/{s.postgres_db}  (bin/patternalarm psql)",
        "Logs": str(s.log_dir),
    }


def print_urls(extra: dict[str, str] | None = None) -> None:
    """The UIs and endpoints (and ``extra`` rows) as two aligned columns; long values fold."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, url in {**urls(), **(extra or {})}.items():
        grid.add_row(f" {name}", url)
    console.print(grid, highlight=False)


@stack_app.command("up")
@clear_errors(stack_mod.StackError)
def up(
    brokers: Annotated[int | None, typer.Option(help="Kafka brokers: 1, or 3 (replication 3, min ISR 2).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The services' status as JSON (progress on stderr).")]
    = False,
) -> None:
    """Start every service (idempotent); returns when all answer their health checks."""
    started = time.monotonic()
    say = err_console if as_json else console
    rows = stack_mod.up(settings(), brokers=brokers, progress=lambda m: say.print(f"[dim]·[/] {m}"))
    if as_json:
        print(json.dumps({"healthy": all(r.healthy for r in rows), "services": [r.as_dict() for r in rows],
                          "urls": urls()}, indent=2))
    else:
        console.print(_table(rows))
    bad = [r.name for r in rows if not r.healthy]
    if bad:
        raise fail(f"unhealthy after start: {', '.join(bad)}")
    if not as_json:
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
def show_urls(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Where the UIs and endpoints are."""
    if as_json:
        print(json.dumps(urls(), indent=2))
    else:
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
