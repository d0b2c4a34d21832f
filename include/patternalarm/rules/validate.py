"""Compile every rule's SQL against a running SQL Gateway (``EXPLAIN``), naming the rule that fails.

Per domain, one gateway session: the job's settings and plumbing DDL, an ``EXPLAIN`` of the
plumbing's STATEMENT SET, then for each rule its views and an ``EXPLAIN`` of its alert INSERT.
Nothing is submitted; nothing connects to Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from include.patternalarm.flink.gateway import GatewayError, SqlGateway
from include.patternalarm.rules.catalog import Catalog, RuleError
from include.patternalarm.rules.render import JobSql, render_job, rule_context, rule_statements


@dataclass(frozen=True)
class RuleCheck:
    rule_id: str  # or "(plumbing <domain>)"
    domain: str
    ok: bool
    seconds: float
    error: str = ""


def validate_catalog(gateway_url: str, catalog: Catalog, *, bootstrap: str, domains: Iterable[str] | None = None,
                     progress: Callable[[RuleCheck], None] | None = None) -> list[RuleCheck]:
    checks: list[RuleCheck] = []

    def record(check: RuleCheck) -> None:
        checks.append(check)
        if progress:
            progress(check)

    for domain in domains or list(catalog.domains):
        rules = catalog.rules_for(domain)
        started = time.monotonic()
        try:
            plumbing: JobSql = render_job(catalog, domain, bootstrap=bootstrap, rules=[])
        except RuleError as exc:
            record(RuleCheck(f"(plumbing {domain})", domain, False, 0.0, str(exc)))
            continue
        with SqlGateway(gateway_url, session_name=f"patternalarm-validate-{domain}") as gateway:
            try:
                for key, value in plumbing.settings.items():
                    gateway.set(key, value)
                for statement in plumbing.ddl:
                    gateway.execute(statement)
                gateway.execute("EXPLAIN " + plumbing.statement_set)
            except GatewayError as exc:
                record(RuleCheck(f"(plumbing {domain})", domain, False, time.monotonic() - started, str(exc)))
                for rule in rules:
                    record(RuleCheck(rule.id, domain, False, 0.0, "not checked: the domain's plumbing fails"))
                continue
            record(RuleCheck(f"(plumbing {domain})", domain, True, time.monotonic() - started))
            for rule in rules:
                started = time.monotonic()
                try:
                    views, insert = rule_statements(rule, rule_context(catalog, domain, bootstrap=bootstrap, rule=rule),
                                                    catalog.plumbing)
                    for view in views:
                        gateway.execute(view)
                    gateway.execute("EXPLAIN " + insert)
                except (GatewayError, RuleError) as exc:
                    record(RuleCheck(rule.id, domain, False, time.monotonic() - started, str(exc)))
                    continue
                record(RuleCheck(rule.id, domain, True, time.monotonic() - started))
    return checks
