"""`shadow`: a candidate rule set on the live events beside the live job, compared, then promoted.

    bin/patternalarm shadow start --domain payments --param amount_anomaly.z_threshold=2.5
    bin/patternalarm shadow status
    bin/patternalarm shadow compare --domain payments      # per rule: live, shadow, both, live-only by verdict
    bin/patternalarm shadow promote --domain payments      # through deploy_detection_jobs, then stops the shadow
    bin/patternalarm shadow stop --domain payments
"""

from __future__ import annotations

import json
from typing import Annotated

import psycopg
import typer

from include.patternalarm.cli.common import Col, clear_errors, console, fit_table, settings
from include.patternalarm.control import shadow as shadows
from include.patternalarm.control.deployments import cli_holder
from include.patternalarm.flink.deploy import DeployError
from include.patternalarm.flink.rest import FlinkRestError
from include.patternalarm.rules import RuleError, parse_overrides
from include.patternalarm.topics import DOMAINS

ERRORS = (shadows.ShadowError, DeployError, RuleError, FlinkRestError, psycopg.Error)
shadow_app = typer.Typer(help="Run a candidate rule set in shadow on live traffic (alerts on alerts.shadow, no "
                              "incidents), compare it with the live set, promote it.", no_args_is_help=True)
Domain = Annotated[str, typer.Option("--domain", "-d", help="payments | gaming | iot")]


def _domain(value: str) -> str:
    if value not in DOMAINS:
        raise typer.BadParameter(f"must be one of {', '.join(DOMAINS)}; got {value!r}", param_hint="--domain")
    return value


def _say(message: str) -> None:
    console.print(f"[dim]·[/] {message}", highlight=False)


def _store() -> shadows.ShadowStore:
    return shadows.ShadowStore.from_settings(settings())


@shadow_app.command("start")
@clear_errors(*ERRORS)
def start(domain: Domain,
          catalog_version: Annotated[int | None, typer.Option(help="The candidate's catalog version (default: "
                                                              "newest).")] = None,
          param: Annotated[list[str] | None, typer.Option("--param", "-p", help="The candidate's overrides "
                                                          "<rule>.<param>=<value>; repeatable.")] = None,
          parallelism: Annotated[int, typer.Option(min=1, max=4)] = 1) -> None:
    """Submit the candidate (catalog version, overrides, the rules directory) beside the live job."""
    name = _domain(domain)
    started = shadows.start(settings(), _store(), name, started_by=cli_holder(), catalog_version=catalog_version,
                            overrides=parse_overrides(param or []), parallelism=parallelism, progress=_say)
    console.print(f"{name}: shadow job {started.job_id} running from now on the live events (catalog "
                  f"v{started.catalog_version}); its alerts go to alerts.shadow. Compare with `bin/patternalarm "
                  f"shadow compare --domain {name}`.", highlight=False)


@shadow_app.command("status")
@clear_errors(*ERRORS)
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Each domain's running shadow (or its last one): job state, rule set, since when."""
    store = _store()
    rows = []
    for name in DOMAINS:
        item = store.running(name) or store.latest(name)
        if item is not None:
            rows.append({**item.as_dict(), "state": shadows.job_state(settings(), item.job_id)
                         if item.stopped_at is None else f"ended ({item.outcome})"})
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    if not rows:
        console.print("no shadow has run (bin/patternalarm shadow start --domain D …)")
        return
    columns = [Col("domain"), Col("state", 2), Col("catalog", 3), Col("overrides", 4, max_width=40),
               Col("since", 5, max_width=20), Col("job", 6, max_width=32)]
    table = [[r["domain"], r["state"], f"v{r['catalog_version']}",
              ", ".join(f"{o}.{k}={v}" for o, p in r["overrides"].items() for k, v in p.items()) or "none",
              str(r["started_at"])[:19], r["job_id"] or ""] for r in rows]
    console.print(fit_table(columns, table, title="shadow jobs"))


@shadow_app.command("compare")
@clear_errors(*ERRORS)
def compare(domain: Domain, as_json: Annotated[bool, typer.Option("--json")] = False,
            settle: Annotated[float, typer.Option(min=0, help="Leave out alerts on events of the last N seconds "
                                                  "(both jobs may still be processing them).")] = 10.0) -> None:
    """Per rule, over the time the shadow ran: alerts of the live set and of the candidate, the ones both
    raised, and what the analysts made of the live-only ones' incidents."""
    result = shadows.compare(settings(), _store(), _domain(domain), settle_s=settle)
    if as_json:
        print(json.dumps(result, default=str, indent=2))
        return
    columns = [Col("rule"), Col("live", 1, "right"), Col("shadow", 1, "right"), Col("both", 1, "right"),
               Col("live only", 1, "right"), Col("shadow only", 1, "right"),
               Col("live only: false pos. / benign / confirmed / open", 2, max_width=30)]
    table = []
    for rule, r in result["rules"].items():
        d = r["live_only_by_disposition"]
        table.append([rule, str(r["live"]), str(r["shadow"]), str(r["both"]), str(r["live_only"]),
                      str(r["shadow_only"]),
                      f"{d['false_positive']} / {d['benign']} / {d['confirmed_fraud']} / {r['live_only_open']}"])
    console.print(fit_table(columns, table, title=f"{result['domain']}: live vs shadow (v"
                                                   f"{result['shadow']['catalog_version']}) since "
                                                   f"{result['since'][:19]} · shadow {result['state']}"))


@shadow_app.command("promote")
@clear_errors(*ERRORS)
def promote(domain: Domain,
            timeout: Annotated[float, typer.Option(min=60, help="Seconds to wait for the DAG run.")] = 900) -> None:
    """Deploy the shadow's rule set through deploy_detection_jobs (its overrides replace the live ones); then
    stop the shadow."""
    result = shadows.promote(settings(), _store(), _domain(domain), timeout_s=timeout, progress=_say)
    console.print(f"{result['domain']}: promoted by deploy_detection_jobs run {result['run_id']}; the shadow "
                  "is stopped", highlight=False)


@shadow_app.command("stop")
@clear_errors(*ERRORS)
def stop(domain: Domain) -> None:
    """Cancel the domain's shadow job (its alerts stay on alerts.shadow for `compare`)."""
    stopped = shadows.stop(settings(), _store(), _domain(domain))
    console.print(f"{domain}: " + (f"shadow job {stopped.job_id} stopped" if stopped else "no shadow is running"),
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(shadow_app, name="shadow")
