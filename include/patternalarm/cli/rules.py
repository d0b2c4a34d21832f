"""`rules list | show | validate`: the detection rule catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from include.patternalarm.cli.common import Col, clear_errors, console, fail, fit_table, settings
from include.patternalarm.flink.gateway import GatewayError
from include.patternalarm.rules import Catalog, RuleError, catalog_versions, load_catalog, parse_overrides, render_job
from include.patternalarm.rules.catalog import RULES_DIR
from include.patternalarm.rules.render import rule_context, rule_statements

rules_app = typer.Typer(help="The detection rule catalog: list, show, validate against the SQL Gateway.",
                        no_args_is_help=True)

CatalogVersion = Annotated[int | None, typer.Option("--catalog-version", help="Catalog version (default: newest).")]
Params = Annotated[list[str] | None, typer.Option("--param", "-p", help="Override: <rule>.<param>=<value> "
                                                   "(also job.<param>, <domain>.<param>); repeatable.")]
RulesDir = Annotated[Path, typer.Option("--rules-dir", hidden=True, help="Where catalog-v<N>.yaml files live.")]
UserDir = Annotated[Path | None, typer.Option("--rules", help="Your rules directory (default: the rules_dir "
                                                             "setting).")]


def _load(version: int | None, params: list[str] | None, rules_dir: Path = RULES_DIR,
          user_dir: Path | None = None) -> Catalog:
    if user_dir is not None and not user_dir.is_dir():
        raise RuleError(f"rules directory {user_dir} does not exist")
    return load_catalog(version, overrides=parse_overrides(params or []), rules_dir=rules_dir,
                        user_dir=user_dir or settings().rules_dir)


@rules_app.command("list")
@clear_errors(RuleError)
def list_rules(catalog_version: CatalogVersion = None, rules: UserDir = None,
               as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Every rule of the catalog and of your rules directory: id, version, domain, severity, description."""
    catalog = _load(catalog_version, None, user_dir=rules)
    if as_json:
        console.print_json(json.dumps({"catalog_version": catalog.version, "rules": [
            {"id": r.id, "version": r.version, "domain": r.domain, "severity": r.severity,
             "description": r.description, "params": r.values, "kind": r.kind,
             "source": "catalog" if r.source == catalog.path.name else r.source}
            for r in catalog.rules.values()]}))
        return
    columns = [Col("rule", no_wrap=True), Col("v", 3), Col("domain", 2), Col("severity", 1),
               Col("from", 4), Col("description", max_width=40)]
    console.print(fit_table(columns, ([r.id, r.version, r.domain, r.severity,
                                       "catalog" if r.source == catalog.path.name else f"yours ({r.kind})",
                                       r.description] for r in catalog.rules.values()),
                            title=f"rule catalog v{catalog.version} ({catalog.path.name}; versions: "
                                  f"{', '.join(map(str, catalog_versions()))})"))


@rules_app.command("show")
@clear_errors(RuleError)
def show(rule_id: Annotated[str, typer.Argument(help="The rule id (see `rules list`).")],
         catalog_version: CatalogVersion = None, param: Params = None,
         sql: Annotated[bool, typer.Option("--sql", help="Also print the rendered SQL.")] = False,
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """A rule's parameters (default, effective value, bounds) and optionally its rendered SQL."""
    catalog = _load(catalog_version, param)
    rule = catalog.rule(rule_id)
    if as_json:
        console.print_json(json.dumps({
            "id": rule.id, "version": rule.version, "domain": rule.domain, "severity": rule.severity,
            "description": rule.description, "sql_file": f"include/flink/{rule.sql_file}",
            "params": {name: {"type": p.type, "default": p.default, "value": rule.values[name], "min": p.min,
                              "max": p.max, "meaning": p.description} for name, p in rule.params.items()}}))
        return
    console.print(f"[bold]{rule.id}[/] v{rule.version} · {rule.domain} · severity {rule.severity}\n"
                  f"{rule.description}\nSQL: include/flink/{rule.sql_file}", highlight=False)
    columns = [Col("parameter", no_wrap=True), Col("type", 4), Col("default", 1, "right"),
               Col("value", justify="right"), Col("min", 3, "right"), Col("max", 2, "right"),
               Col("meaning", max_width=60)]
    console.print(fit_table(columns, ([
        name, p.type, p.default,
        f"[yellow]{rule.values[name]}[/]" if rule.values[name] != p.default else rule.values[name],
        p.min, p.max, p.description] for name, p in rule.params.items())))
    if sql:
        views, insert = rule_statements(rule, rule_context(catalog, rule.domain, bootstrap=settings().bootstrap_servers,
                                                           rule=rule), catalog.plumbing)
        console.print(";\n\n".join([*views, insert]) + ";", highlight=False, markup=False)


@rules_app.command("validate")
@clear_errors(RuleError, GatewayError)
def validate(catalog_version: CatalogVersion = None, param: Params = None,
             domain: Annotated[list[str] | None, typer.Option("--domain", "-d", help="Only this domain.")] = None,
             rules_dir: RulesDir = RULES_DIR, rules: UserDir = None) -> None:
    """Compile every rule's SQL (yours included) against the running SQL Gateway; names each rule that fails."""
    from include.patternalarm.rules.validate import RuleCheck, validate_catalog

    catalog = _load(catalog_version, param, rules_dir, rules)

    def show_check(check: RuleCheck) -> None:
        mark = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        console.print(f"{mark:>16} {check.domain:<9} {check.rule_id:<22} {check.seconds:5.1f}s", highlight=False)
        if not check.ok:
            console.print(f"         {check.error}", highlight=False, markup=False)

    checks = validate_catalog(settings().sql_gateway, catalog, bootstrap=settings().bootstrap_servers,
                              domains=domain, progress=show_check)
    failed = [c.rule_id for c in checks if not c.ok]
    if failed:
        raise fail(f"catalog v{catalog.version}: {len(failed)} failing: {', '.join(failed)}")
    console.print(f"[green]catalog v{catalog.version}: all {len(checks)} checks compile[/]")


@rules_app.command("sql")
@clear_errors(RuleError)
def job_sql(domain: Annotated[str, typer.Argument(help="payments | gaming | iot")],
            catalog_version: CatalogVersion = None, param: Params = None) -> None:
    """The whole job script a deploy submits for a domain (SET, DDL, STATEMENT SET)."""
    job = render_job(_load(catalog_version, param), domain, bootstrap=settings().bootstrap_servers)
    console.print(job.script(), highlight=False, markup=False)


@rules_app.command("new")
@clear_errors(RuleError)
def new(rule_id: Annotated[str, typer.Argument(help="The new rule's id (lower case, digits, _).")],
        kind: Annotated[str, typer.Option(help="sql | threshold | window | baseline | sequence | absence")],
        domain: Annotated[str, typer.Option(help="payments | gaming | iot")],
        directory: Annotated[Path | None, typer.Option("--dir", help="The rules directory (default: the "
                                                                      "rules_dir setting).")] = None,
        force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False) -> None:
    """Scaffold a rule in your rules directory: a commented YAML (and for kind sql a SQL file) that
    `rules validate` compiles and deploy picks up."""
    from include.patternalarm.rules.scaffold import scaffold

    target = directory or settings().rules_dir
    written = scaffold(target, rule_id, kind, domain, force=force)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"next: edit it, then `bin/patternalarm rules validate` and `bin/patternalarm backtest … --rules "
                  f"{target}`", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
