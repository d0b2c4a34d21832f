"""`deploy`: the detection jobs on the Flink cluster (deploy/upgrade, status, stop with savepoint, gc).

Every change goes through the deployment record and the domain's deployment lock, which the DAGs
(`deploy_detection_jobs`, `monitor_detection_jobs`' healing, the scaler) share: a CLI upgrade never
races the monitor, and parameter overrides stay with the deployment (healing and later deploys keep
them; `--reset-params` drops them).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import psycopg
import typer

from include.patternalarm.cli.common import Col, clear_errors, console, fail, fit_table, settings
from include.patternalarm.control import deployer
from include.patternalarm.control.checkpoints import clean, human_bytes, summarize
from include.patternalarm.control.deployments import DeploymentStore, LockHeld, cli_holder
from include.patternalarm.control.jobstatus import status_rows
from include.patternalarm.flink.deploy import DeployError
from include.patternalarm.flink.gateway import GatewayError
from include.patternalarm.flink.rest import FlinkRestError
from include.patternalarm.rules import RuleError, parse_overrides
from include.patternalarm.topics import DOMAINS

ERRORS = (DeployError, RuleError, GatewayError, FlinkRestError, LockHeld, psycopg.Error)
deploy_app = typer.Typer(help="Deploy the detection jobs (one Flink SQL job per domain); `deploy status`, "
                              "`deploy stop`, `deploy gc`.", invoke_without_command=True)
LockTimeout = Annotated[float, typer.Option("--lock-timeout", min=0, help="Seconds to wait for a domain's deployment "
                                            "lock held by another deploy or by the monitor's healing.")]


def _domains(domain: str) -> list[str]:
    if domain == "all":
        return list(DOMAINS)
    if domain not in DOMAINS:
        raise fail(f"--domain must be one of {', '.join(DOMAINS)}, all; got {domain!r}")
    return [domain]


def _say(message: str) -> None:
    console.print(f"[dim]·[/] {message}", highlight=False)


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
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Override <rule>.<param>=<value> (also "
                                                    "job.<param>, <domain>.<param>); repeatable. Kept by later "
                                                    "deploys and by healing.")] = None,
    reset_params: Annotated[bool, typer.Option("--reset-params", help="Drop the overrides the previous deployment "
                                               "ran with (only this command's --param apply).")] = False,
    start_from: Annotated[str, typer.Option("--start-from", help="earliest | latest: where a job without state reads "
                                            "partitions that have no committed offset (a first deploy). earliest "
                                            "processes the events sent before the job ran.")] = "earliest",
    allow_unclaimed_state: Annotated[bool, typer.Option(help="Restore even if some savepoint state has no "
                                                        "operator any more (after adding/removing rules).")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="Upgrade without restoring state (a rule's SQL changed "
                                        "shape): the savepoint is still taken and printed, for a rollback.")] = False,
    lock_timeout: LockTimeout = 60.0,
) -> None:
    """Deploy (or upgrade through a savepoint) the detection job of a domain, or of all three."""
    if ctx.invoked_subcommand is not None:
        return
    if domain is None:
        raise fail("give --domain payments|gaming|iot|all (or a subcommand: status, stop, gc); see --help")
    if start_from not in deployer.START_MODES:
        raise fail(f"--start-from must be earliest or latest, got {start_from!r}")
    domains = _domains(domain)
    if from_savepoint and len(domains) > 1:
        raise fail("--from-savepoint restores one domain's job: use it with a single --domain")
    overrides = parse_overrides(param or [])
    deployer.check_overrides_apply(overrides, domains, catalog_version, deployer.settings_rules_dir(settings()))
    store, holder = DeploymentStore.from_settings(settings()), cli_holder()
    for name in domains:
        outcome = deployer.deploy(settings(), store, name, requested_by=holder, catalog_version=catalog_version,
                                  overrides=overrides, reset_params=reset_params, parallelism=parallelism,
                                  savepoint_path=from_savepoint, restore=not fresh,
                                  allow_unclaimed_state=allow_unclaimed_state, start_from=start_from,
                                  lock_wait_s=lock_timeout, progress=_say)
        spec = outcome.spec
        console.print(f"[green]{name}[/]: job {outcome.job_id} (catalog v{spec.catalog_version}, parallelism "
                      f"{spec.parallelism}, overrides {spec.overrides or 'none'})", highlight=False)


def _params_text(row: dict[str, Any]) -> str:
    params = row.get("parameters")
    if params is None:
        return row.get("parameters_error", "")
    parts = [f"{owner}.{name}={p['value']}" for owner, values in params.items() for name, p in values.items()
             if p["override"]]
    return ", ".join(parts) or "catalog defaults"


def _checkpoint_text(row: dict[str, Any]) -> str:
    cp = row.get("checkpoints") or {}
    latest = cp.get("latest")
    if not latest:
        return cp.get("error", "none yet")

    def ms(v: Any) -> str:
        return "?" if v is None else f"{v / 1000:.1f}s"

    def size(v: Any) -> str:
        return "?" if v is None else human_bytes(v)

    return (f"latest {ms(latest['duration_ms'])} {size(latest['size_bytes'])}; p50 {ms(cp['duration_ms']['p50'])} "
            f"{size(cp['size_bytes']['p50'])}; max {ms(cp['duration_ms']['max'])} {size(cp['size_bytes']['max'])}")


@deploy_app.command("status")
@clear_errors(*ERRORS)
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
           all_params: Annotated[bool, typer.Option("--params", help="List every parameter's effective value, "
                                                    "not only the overrides.")] = False) -> None:
    """Each domain's job: state, health, parallelism, live parameters (overrides marked), checkpoints."""
    rows = status_rows(settings(), DeploymentStore.from_settings(settings()))
    if as_json:
        console.print_json(json.dumps(rows, default=str))
    else:
        columns = [Col("domain"), Col("job", 7, max_width=32), Col("state"), Col("health"), Col("catalog", 3),
                   Col("par.", 2, "right"), Col("overrides", 5, max_width=30),
                   Col("checkpoints (duration, size)", 4, max_width=24), Col("restarts", 6, "right"),
                   Col("deployed", 8, max_width=24), Col("detail", 1, max_width=40)]
        table = []
        for r in rows:
            record = r.get("deployment") or {}
            deployed = f"{record.get('requested_at', '')[:19]} by {record.get('requested_by', '')}" if record else ""
            table.append([r["domain"], r.get("job_id") or "", r["state"],
                          "[green]healthy[/]" if r["healthy"] else "[red]unhealthy[/]",
                          f"v{r['catalog_version']}" if r.get("catalog_version") else "",
                          str(r.get("parallelism", "")), _params_text(r), _checkpoint_text(r),
                          str(r.get("restarts", "")), deployed,
                          "; ".join(x for x in (r.get("detail", ""), r.get("record_note", ""),
                                                "runs other parameters than its record"
                                                if r.get("parameters_match_record") is False else "",
                                                f"locked by {r['lock']['holder']}" if r.get("lock") else "") if x)])
        console.print(fit_table(columns, table, title="detection jobs"))
        for r in rows:
            for warning in r.get("rules_without_fields") or []:
                console.print(f"[yellow]warning[/] {warning}", highlight=False)
        if all_params:
            for r in rows:
                for owner, values in (r.get("parameters") or {}).items():
                    listing = ", ".join(f"{'[bold]' if p['override'] else ''}{name}={p['value']}"
                                        f"{'[/] (default ' + str(p['default']) + ')' if p['override'] else ''}"
                                        for name, p in values.items())
                    console.print(f"{r['domain']:<9} {owner:<20} {listing}", highlight=False)
    if not all(r["healthy"] for r in rows):
        raise typer.Exit(1)


@deploy_app.command("stop")
@clear_errors(*ERRORS)
def stop(domain: Annotated[str, typer.Option("--domain", "-d", help="payments | gaming | iot | all")],
         lock_timeout: LockTimeout = 60.0) -> None:
    """Stop a domain's job with a savepoint (prints the path to pass to --from-savepoint). The monitor leaves a
    stopped job alone until the next deploy."""
    store, holder = DeploymentStore.from_settings(settings()), cli_holder()
    for name in _domains(domain):
        path = deployer.stop(settings(), store, name, requested_by=holder, lock_wait_s=lock_timeout)
        console.print(f"{name}: " + (f"stopped, savepoint {path}" if path else "not running"), highlight=False)


@deploy_app.command("gc")
@clear_errors(*ERRORS)
def gc(dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be deleted.")] = False,
       min_age: Annotated[float, typer.Option("--min-age", min=0, help="Keep anything younger (seconds).")] = 3600,
       ) -> None:
    """Delete retained checkpoints and savepoints that neither healing nor a rollback needs (the monitor does
    this every minute); prints what went and what stayed."""
    result = clean(settings(), DeploymentStore.from_settings(settings()), DOMAINS, dry_run=dry_run,
                   min_age_s=min_age)
    for item in result["deleted"]:
        console.print(f"{'would delete' if dry_run else 'deleted'} {item['path']} ({human_bytes(item['bytes'])})",
                      highlight=False)
    for error in result["errors"]:
        console.print(f"[yellow]{error}[/]", highlight=False)
    console.print(summarize(result), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(deploy_app, name="deploy")
