"""From DAG params to a job configuration (pure: the DAG passes in the connection facts).

Every bad param gets a ``PlanError`` that says what is wrong and what is accepted; the DAG turns
it into a failed task without retries.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from include.patternalarm.batch.reconcile import ConfigError, ReconcileConfig
from include.patternalarm.batch.rules import ALERT_DOMAINS, BatchRuleError, rule_specs_from_catalog
from include.patternalarm.batch.timerange import RangeError, resolve_range
from include.patternalarm.topics import ALERTS, DLQ, DOMAINS, EVENTS, LATE, METRICS

TOPIC_KEYS = (*DOMAINS, "late", "dlq", "metrics", "alerts")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST = re.compile(r"^[A-Za-z0-9.:\[\]_-]{1,253}$")
_DBNAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


class PlanError(ValueError):
    """Params the run cannot use; the message names the param."""


def jdbc_url(host: str, port: int | None, database: str) -> str:
    """``jdbc:postgresql://host:port/db`` from a connection's parts (validated: no options smuggled in)."""
    if not host or not _HOST.match(host):
        raise PlanError(f"database host {host!r} is not a host name or address")
    if not database or not _DBNAME.match(database):
        raise PlanError(f"database name {database!r} is not valid")
    return f"jdbc:postgresql://{host}:{int(port or 5432)}/{database}"


def topics_from(overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """The topics a run reads: the platform's, or ``overrides`` (tests, a replay into a side topic)."""
    topics = {**EVENTS, "late": LATE, "dlq": DLQ, "metrics": METRICS, "alerts": ALERTS}
    for key, value in (overrides or {}).items():
        if key not in TOPIC_KEYS:
            raise PlanError(f"topics: unknown key {key!r} (valid: {', '.join(TOPIC_KEYS)})")
        if not isinstance(value, str) or not _TOPIC.match(value):
            raise PlanError(f"topics.{key}: {value!r} is not a Kafka topic name")
        topics[key] = value
    return topics


def incident_entity(domain: str, topics: Mapping[str, str]) -> str:
    """The platform incident's entity: the domain, or ``domain@topic`` when a run read a side topic."""
    return domain if topics.get(domain, EVENTS.get(domain)) == EVENTS.get(domain) else f"{domain}@{topics[domain]}"


def _domains(value: Any) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise PlanError(f"domains must be a non-empty list of {', '.join(DOMAINS)}")
    unknown = [d for d in value if d not in DOMAINS]
    if unknown:
        raise PlanError(f"domains: unknown {unknown} (valid: {', '.join(DOMAINS)})")
    if len(set(value)) != len(value):
        raise PlanError("domains must not repeat")
    return tuple(d for d in DOMAINS if d in value)


def plan_reconciliation(params: Mapping[str, Any], *, reference: datetime, bootstrap: str, jdbc: str,
                        jdbc_user: str, load_catalog: Callable[..., Any], run_id: str | None = None,
                        deployed_versions: Mapping[str, int] | None = None,
                        deployed_overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None
                        ) -> ReconcileConfig:
    """The ``ReconcileConfig`` of one run.

    params: ``start``/``end`` (ISO-8601, optional: default the last full hour that ended at least
    ``settle_minutes`` ago), ``domains``, ``margin_minutes`` (optional; default from the rules'
    windows), ``catalog_version`` (optional: else each domain's ``deployed_versions`` entry, else the
    newest), ``rule_overrides`` ({rule: {param: value}}; empty: each domain's ``deployed_overrides``,
    the parameter overrides its job ran with — see ``batch.runs.deployed_parameters``), ``rules``
    (optional subset to re-detect), ``topics`` (optional overrides).
    """
    domains = _domains(params.get("domains", list(DOMAINS)))
    settle = params.get("settle_minutes", 5)
    if isinstance(settle, bool) or not isinstance(settle, int) or not 0 <= settle <= 180:
        raise PlanError(f"settle_minutes must be an integer 0..180, got {settle!r}")
    try:
        rng = resolve_range(params.get("start"), params.get("end"), reference=reference,
                            settle=timedelta(minutes=settle))
    except RangeError as exc:
        raise PlanError(str(exc)) from None
    overrides = params.get("rule_overrides") or {}
    if not isinstance(overrides, Mapping):
        raise PlanError("rule_overrides must be an object: {rule_id: {parameter: value}}")
    version = params.get("catalog_version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise PlanError(f"catalog_version must be a positive integer, got {version!r}")
    rules = params.get("rules") or None
    if rules is not None and (not isinstance(rules, Sequence) or isinstance(rules, str)):
        raise PlanError("rules must be a list of rule ids")
    topics = topics_from(params.get("topics"))
    # the platform's deployments say nothing about jobs reading other topics (a replay, a test)
    deployed = {d: v for d, v in (deployed_versions or {}).items() if topics.get(d) == EVENTS.get(d)}
    ran_with = {d: dict(v) for d, v in (deployed_overrides or {}).items() if topics.get(d) == EVENTS.get(d)}
    specs = []
    catalogs: dict[tuple[int | None, str], Any] = {}
    try:
        for domain in [d for d in domains if d in ALERT_DOMAINS] or [None]:
            chosen = version if version is not None else deployed.get(domain) if domain else None
            # explicit overrides win; otherwise the domain re-detects with what its job ran with
            used = overrides if overrides or not domain else ran_with.get(domain, {})
            key = (chosen, repr(sorted((o, sorted(p.items())) for o, p in used.items())))
            if key not in catalogs:
                catalogs[key] = load_catalog(chosen, overrides=used)
            if domain:
                specs += rule_specs_from_catalog(catalogs[key], [domain], rules)
    except (BatchRuleError, ValueError) as exc:
        raise PlanError(f"rules: {exc}") from None
    catalog = next(iter(catalogs.values()))
    margins: dict[str, int] = {}
    margin = params.get("margin_minutes")
    if margin is not None:
        if isinstance(margin, bool) or not isinstance(margin, int) or not 0 <= margin <= 240:
            raise PlanError(f"margin_minutes must be an integer 0..240, got {margin!r}")
        margins = {d: margin * 60 for d in domains}
    try:
        return ReconcileConfig(
            run_id=run_id or str(uuid.uuid4()), range=rng, domains=domains, rules=tuple(specs), bootstrap=bootstrap,
            jdbc_url=jdbc, jdbc_user=jdbc_user, margins_s=margins,
            topics={d: topics[d] for d in DOMAINS}, late_topic=topics["late"], dlq_topic=topics["dlq"],
            metrics_topic=topics["metrics"], alerts_topic=topics["alerts"],
            max_event_bytes=int(catalog.job_values.get("max_event_bytes", 65536)),
            max_future_skew_s=int(catalog.job_values.get("max_future_skew_s", 300)),
        )
    except ConfigError as exc:
        raise PlanError(str(exc)) from None
