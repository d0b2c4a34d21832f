"""`deploy`: the detection jobs on the Flink cluster (deploy/upgrade, status, stop with savepoint)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from include.patternalarm.cli.common import Col, clear_errors, console, fail, fit_table, settings
from include.patternalarm.flink.deploy import DeployError, deploy_domain, domain_status, stop_domain
from include.patternalarm.flink.gateway import GatewayError
from include.patternalarm.flink.rest import FlinkRestError
from include.patternalarm.rules import RuleError, parse_overrides
from include.patternalarm.topics import DOMAINS

ERRORS = (DeployError, RuleError, GatewayError, FlinkRestError)
deploy_app = typer.Typer(help="Deploy the detection jobs (one Flink SQL job per domain); `deploy status`, "
                              "`deploy stop`.", invoke_without_command=True)


def _domains(domain: str) -> list[str]:
    if domain == "all":
        return list(DOMAINS)
    if domain not in DOMAINS:
        raise fail(f"--domain must be one of {', '.join(DOMAINS)}, all; got {domain!r}")
    return [domain]


@deploy_app.callback()
@clear_errors(*ERRORS)
def deploy(
    ctx: typer.Context,
    domain: Annotated[str | None, typer.Option("--domain", "-d", help="payments | gaming | iot | all")] = None,
    parallelism: Annotated[int | None, typer.Option(min=1, max=64, help="Parallelism of the job (default: keep "
                                                    "the running job's, 1 for a first deploy).")] = None,
    from_savepoint: Annotated[str | None, typer.Option("--from-savepoint", help="Restore from this savepoint "
                                                       "(the domain's job must not be running).")] = None,
    catalog_version: Annotated[int | None, typer.Option(help="Rule catalog version (default: newest).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Override <rule>.<param>=<value>; "
                                                    "repeatable.")] = None,
    allow_unclaimed_state: Annotated[bool, typer.Option(help="Restore even if some savepoint state has no "
                                                        "operator any more (after adding/removing rules).")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Upgrade without restoring state (a rule's SQL changed "
                                        "shape): the savepoint is still taken and printed, for a rollback.")] = False,
) -> None:
    """Deploy (or upgrade through a savepoint) the detection job of a domain, or of all three."""
    if ctx.invoked_subcommand is not None:
        return
    if domain is None:
        raise fail("give --domain payments|gaming|iot|all (or a subcommand: status, stop); see --help")
    domains = _domains(domain)
    if from_savepoint and len(domains) > 1:
        raise fail("--from-savepoint restores one domain's job: use it with a single --domain")
    overrides = parse_overrides(param or [])
    for name in domains:
        job_id = deploy_domain(settings(), name, parallelism=parallelism, savepoint_path=from_savepoint,
                               catalog_version=catalog_version, overrides=overrides,
                               allow_unclaimed_state=allow_unclaimed_state, restore=not fresh,
                               progress=lambda m: console.print(f"[dim]·[/] {m}", highlight=False))
        console.print(f"[green]{name}[/]: job {job_id}", highlight=False)


@deploy_app.command("status")
@clear_errors(*ERRORS)
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Each domain's running job: state, health, checkpoints, restarts."""
    rows = domain_status(settings())
    if as_json:
        console.print_json(json.dumps(rows, default=str))
    else:
        columns = [Col("domain"), Col("job", 6, max_width=32), Col("state"), Col("health"), Col("catalog", 3),
                   Col("parallelism", 2, "right"), Col("checkpoints", 5, "right"), Col("last cp", 1, "right"),
                   Col("restarts", 4, "right"), Col("detail", max_width=40)]
        table = []
        for r in rows:
            age = r.get("last_checkpoint_age_s")
            table.append([r["domain"], r.get("job_id") or "", r["state"],
                          "[green]healthy[/]" if r["healthy"] else "[red]unhealthy[/]",
                          f"v{r['catalog_version']}" if r.get("catalog_version") else "",
                          str(r.get("parallelism", "")),
                          str(r.get("completed_checkpoints", "")), "" if age is None else f"{age:.0f}s ago",
                          str(r.get("restarts", "")), r.get("detail", "")])
        console.print(fit_table(columns, table, title="detection jobs"))
    if not all(r["healthy"] for r in rows):
        raise typer.Exit(1)


@deploy_app.command("stop")
@clear_errors(*ERRORS)
def stop(domain: Annotated[str, typer.Option("--domain", "-d", help="payments | gaming | iot | all")]) -> None:
    """Stop a domain's job with a savepoint (prints the path to pass to --from-savepoint)."""
    for name in _domains(domain):
        path = stop_domain(settings(), name)
        console.print(f"{name}: " + (f"stopped, savepoint {path}" if path else "not running"), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy")
