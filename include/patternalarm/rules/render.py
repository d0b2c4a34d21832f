"""Render a domain's Flink SQL job (or one rule, for validation) from the catalog.

Templates are the files under ``include/flink/``: ``{{ name }}`` placeholders are filled with a
rule's parameters, ``{{ job.x }}``/``{{ domain.x }}`` with job/domain parameters and
``{{ topic.x }}``/``{{ kafka.x }}`` with quoted connection values. Numbers are rendered from
validated values and strings are quoted, so nothing a user passes becomes SQL text. An unknown
placeholder is an error naming the file.

A job is: the session settings, the DDL (source, sinks, parse view, routing views, domain views,
each rule's views) and one STATEMENT SET with the routing INSERTs and one INSERT per rule into the
alerts sink; each rule's final SELECT is wrapped to build the alert JSON and its ``alert_id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from include.patternalarm import topics as topic_names
from include.patternalarm.events.schema import schema_text, sql_columns
from include.patternalarm.flink.gateway import quote
from include.patternalarm.rules.catalog import FLINK_SQL_DIR, Catalog, Rule, RuleError, SeriesCall

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\s*\}\}")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")
_VIEW_NAME = re.compile(r"CREATE\s+TEMPORARY\s+VIEW\s+`?([A-Za-z_][A-Za-z0-9_]*)`?", re.IGNORECASE)
#: The plumbing files of each catalog plumbing (source + sinks, routing, alert wrapper).
PLUMBING_FILES = {
    "v1": ("common/00_source.sql", "common/10_routing.sql", "common/20_alert.sql"),
    "v3": ("v3/common/00_source.sql", "v3/common/10_routing.sql", "v3/common/20_alert.sql"),
}
STARTUP_MODES = ("group-offsets", "earliest-offset", "latest-offset")


def pipeline_name(domain: str, prefix: str = "patternalarm") -> str:
    """The Flink job name of a domain's detection job (how a running job is found)."""
    return f"{prefix}-{domain}"


def group_id(domain: str) -> str:
    """The Kafka consumer group of a domain's detection job (docs/contracts.md)."""
    return f"patternalarm-detect-{domain}"


@dataclass(frozen=True)
class JobTopics:
    """The topics a job reads and writes (defaults: the platform's; tests use their own)."""

    source: str
    alerts: str = topic_names.ALERTS
    dlq: str = topic_names.DLQ
    late: str = topic_names.LATE
    metrics: str = topic_names.METRICS

    @classmethod
    def for_domain(cls, domain: str) -> JobTopics:
        return cls(source=topic_names.EVENTS[domain])


@dataclass(frozen=True)
class JobSql:
    """A rendered job: SET values, DDL statements in order, and the INSERTs of its STATEMENT SET."""

    domain: str
    name: str
    settings: dict[str, str]
    ddl: list[str]
    inserts: list[str]
    rules: list[str] = field(default_factory=list)

    @property
    def statement_set(self) -> str:
        body = ";\n".join(self.inserts)
        return f"EXECUTE STATEMENT SET\nBEGIN\n{body};\nEND"

    def script(self) -> str:
        """The whole job as one SQL script (for reading, `rules show --sql`, or the SQL client)."""
        sets = [f"SET {quote(k)} = {quote(v)};" for k, v in self.settings.items()]
        return "\n".join(sets) + "\n\n" + ";\n\n".join(self.ddl) + ";\n\n" + self.statement_set + ";\n"


def _literal(value: int | float) -> str:
    if isinstance(value, bool):  # pragma: no cover - rejected by the catalog
        raise RuleError("booleans are not SQL parameters")
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.12f}".rstrip("0")
        text = text + "0" if text.endswith(".") else text
    return text


def series_params(catalog: Catalog, domain: str, call: SeriesCall, rules: Iterable[str] | None = None) -> str:
    """The parameter text of a domain's series call: the domain's mapped parameters, the fixed ones,
    the ranges, then for each rule of the job that uses the call its kinds and mapped parameters."""
    dom = catalog.domains[domain]
    items = [f"{name}={_literal(dom.values[source])}" for name, source in call.params.items()]
    if call.fixed:
        items.append(call.fixed)
    kinds: list[str] = []
    for rule in catalog.rules_for(domain):
        if rule.series is None or rule.series.call != call.name or (rules is not None and rule.id not in rules):
            continue
        kinds.extend(rule.series.kinds)
        items.extend(f"{name}={_literal(rule.values[source])}" for name, source in rule.series.params.items())
    items.append(f"kinds={','.join(kinds)}")
    if call.ranges:
        ranges = [f"{name[:-4]}:{_literal(dom.values[name])}:{_literal(dom.values[name[:-4] + '_max'])}"
                  for name in dom.values if name.endswith("_min") and name[:-4] + "_max" in dom.values]
        ranges += [f"{key}:{_literal(low)}:{_literal(high)}" for key, (low, high) in catalog.sensor_ranges.items()]
        items.append("ranges=" + ",".join(ranges))
    return ";".join(items)


def _context_for(catalog: Catalog, domain: str, kafka: Mapping[str, str], topics: JobTopics,
                 rule: Rule | None = None, rules: Iterable[str] | None = None) -> dict[str, str]:
    ctx: dict[str, str] = {}
    for name, value in catalog.job_values.items():
        ctx[f"job.{name}"] = _literal(value)
    ctx["job.watermark_delay_s"] = f"{catalog.job_values['watermark_delay_ms'] / 1000:.3f}"
    dom = catalog.domains[domain]
    ctx["domain.name"] = domain
    for name, value in dom.values.items():
        ctx[f"domain.{name}"] = _literal(value)
    for name in ("source", "alerts", "dlq", "late", "metrics"):
        ctx[f"topic.{name}"] = quote(getattr(topics, name))
    ctx["topic.dlq_and_late"] = quote(f"{topics.dlq};{topics.late}")
    for call in dom.series.values():
        keys = ", ".join(f"`{c}`" for c in call.partition)
        # identical text in every rule that uses it: the planner runs one operator for all of them
        ctx[f"series.{call.name}"] = (
            f"series_anomalies(input => TABLE {call.input} PARTITION BY ({keys}), on_time => DESCRIPTOR(`ts`), "
            f"params => {quote(series_params(catalog, domain, call, rules))}, "
            f"uid => '{catalog.series_uid(call.name)}')")
    if catalog.plumbing == "v3":
        columns = sql_columns(domain)
        ctx["domain.columns"] = ",\n".join(f"  `{name}` {sql_type}" for name, sql_type in columns)
        ctx["domain.fields"] = ", ".join(f"`{name}`" for name, _ in columns)
        ctx["domain.schema"] = quote(json.dumps(json.loads(schema_text(domain)), separators=(",", ":")))
    for name, value in kafka.items():
        ctx[f"kafka.{name}"] = quote(value)
    if rule is not None:
        ctx["series_uid"] = quote(catalog.series_uid(rule.id))  # a user baseline rule's own detector call
        for name, value in rule.values.items():
            ctx[name] = _literal(value)
            if isinstance(value, int):
                ctx[f"{name}_minus_1"] = _literal(value - 1)
                if name.endswith("_s"):
                    ctx[f"{name}_interval"] = interval(value)
    return ctx


def interval(seconds: int) -> str:
    """A Flink SQL interval literal for ``seconds`` (``INTERVAL '1800' SECOND`` overflows SECOND(2))."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"


def rule_context(catalog: Catalog, domain: str, *, bootstrap: str, topics: JobTopics | None = None,
                 rule: Rule | None = None) -> dict[str, str]:
    """The placeholder values for the domain's plumbing (and ``rule``'s parameters when given)."""
    kafka = {"bootstrap": bootstrap, "group_id": group_id(domain), "startup_mode": "group-offsets",
             "auto_offset_reset": "latest"}
    return _context_for(catalog, domain, kafka, topics or JobTopics.for_domain(domain), rule)


def fill(template: str, context: Mapping[str, str], where: str) -> str:
    """Replace every ``{{ name }}`` in ``template``; an unknown name is a `RuleError` naming ``where``."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            raise RuleError(f"{where}: unknown placeholder {{{{ {key} }}}}")
        return context[key]

    return _PLACEHOLDER.sub(sub, template)


def split_statements(sql: str) -> list[str]:
    """Statements of a file (``;`` at a line end separates); comment-only pieces are dropped."""
    pieces = [p.strip() for p in _STATEMENT_END.split(sql)]
    return [p for p in pieces if any(line.strip() and not line.strip().startswith("--") for line in p.splitlines())]


def _read(relative: str) -> str:
    path = FLINK_SQL_DIR / relative
    if not path.is_file():
        raise RuleError(f"SQL file {relative!r} not found under {FLINK_SQL_DIR}")
    return path.read_text()


def _first_keyword(statement: str) -> str:
    for line in statement.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            return stripped.split()[0].upper()
    return ""


def rule_statements(rule: Rule, context: Mapping[str, str], plumbing: str = "v1") -> tuple[list[str], str]:
    """A rule file's view DDL and its alert INSERT (the final SELECT wrapped into the alert JSON)."""
    where = f"rule {rule.id} ({rule.sql_file or rule.source})"
    statements = split_statements(fill(rule.sql(), context, where))
    if not statements or _first_keyword(statements[-1]) not in ("SELECT", "WITH"):
        raise RuleError(f"{where}: the last statement must be the SELECT producing the alert rows")
    views = statements[:-1]
    for view in views:
        match = _VIEW_NAME.search(view)
        if _first_keyword(view) != "CREATE" or not match:
            raise RuleError(f"{where}: only CREATE TEMPORARY VIEW may precede the final SELECT")
        if not match.group(1).startswith(f"{rule.id}_"):
            raise RuleError(f"{where}: view {match.group(1)!r} must be named {rule.id}_<name> (no clashes in a job)")
    return views, _alert_insert(rule, statements[-1], context, PLUMBING_FILES[plumbing][2])


def _alert_insert(rule: Rule, select: str, context: Mapping[str, str], alert_file: str) -> str:
    """``INSERT INTO alerts_sink`` around the rule's SELECT (the plumbing's alert file)."""
    ctx = {**context, "rule.id": rule.id, "rule.version": str(rule.version), "rule.severity": rule.severity,
           "rule.select": select, "rule.score": rule.score, "rule.seq": rule.seq}
    (insert,) = split_statements(fill(_read(alert_file), ctx, alert_file))
    return insert


def render_job(catalog: Catalog, domain: str, *, bootstrap: str, topics: JobTopics | None = None,
               name: str | None = None, parallelism: int = 1, startup_mode: str = "group-offsets",
               auto_offset_reset: str = "latest", consumer_group: str | None = None,
               rules: Iterable[str] | None = None) -> JobSql:
    """The domain's job: every rule of the domain (or the subset ``rules``)."""
    if parallelism < 1:
        raise RuleError(f"parallelism must be at least 1, got {parallelism}")
    if startup_mode not in STARTUP_MODES:
        raise RuleError(f"startup mode must be one of {', '.join(STARTUP_MODES)}, got {startup_mode!r}")
    if auto_offset_reset not in ("earliest", "latest"):
        raise RuleError(f"auto_offset_reset must be earliest or latest, got {auto_offset_reset!r}")
    domain_rules = catalog.rules_for(domain)
    if rules is not None:
        wanted = list(rules)
        for rule_id in wanted:
            if catalog.rule(rule_id).domain != domain:
                raise RuleError(f"rule {rule_id!r} belongs to domain {catalog.rule(rule_id).domain}, not {domain}")
        domain_rules = [r for r in domain_rules if r.id in wanted]
    topics = topics or JobTopics.for_domain(domain)
    kafka = {"bootstrap": bootstrap, "group_id": consumer_group or group_id(domain),
             "startup_mode": startup_mode, "auto_offset_reset": auto_offset_reset}
    rule_ids = [r.id for r in domain_rules]
    base_ctx = _context_for(catalog, domain, kafka, topics, rules=rule_ids)
    dom = catalog.domains[domain]
    source, routing, _ = PLUMBING_FILES[catalog.plumbing]
    ddl: list[str] = [function_ddl(name, cls) for name, cls in catalog.functions.items()]
    inserts: list[str] = []
    for relative in (source, *([dom.parse_file] if dom.parse_file else []), routing, *dom.view_files):
        for statement in split_statements(fill(_read(relative), base_ctx, relative)):
            (inserts if _first_keyword(statement) == "INSERT" else ddl).append(statement)
    for rule in domain_rules:
        views, insert = rule_statements(rule, _context_for(catalog, domain, kafka, topics, rule, rule_ids),
                                        catalog.plumbing)
        ddl.extend(views)
        inserts.append(insert)
    job_name = name or pipeline_name(domain)
    settings = {
        "pipeline.name": job_name,
        # shown by the REST API (/jobs/<id>/config, user-config): which catalog version a job runs
        "pipeline.global-job-parameters": f"catalog_version:{catalog.version},domain:{domain}",
        "table.local-time-zone": "UTC",
        # chained operators hand each row on instead of deep-copying it for every consumer: the dedup's
        # fan-out to the rules copied each ~30-field event row once per rule (a third of that operator's
        # CPU in a flame graph). Safe for these plans: every operator that keeps rows in heap state (CEP,
        # OVER windows, the project's functions) reads them from a network exchange, which always
        # deserialises a fresh row, or converts them to its own objects first.
        "pipeline.object-reuse": "true",
        "parallelism.default": str(parallelism),
        "table.exec.source.idle-timeout": f"{catalog.job_values['idle_timeout_ms']} ms",
        "table.exec.state.ttl": f"{catalog.job_values['state_ttl_min']} min",
    }
    return JobSql(domain=domain, name=job_name, settings=settings, ddl=ddl, inserts=inserts,
                  rules=[r.id for r in domain_rules])


def function_ddl(name: str, java_class: str) -> str:
    """Registers one of the project's Java functions (java/, in the cluster's lib/) for the job."""
    return f"CREATE TEMPORARY FUNCTION IF NOT EXISTS `{name}` AS {quote(java_class)} LANGUAGE JAVA"


def sql_files(catalog: Catalog) -> list[Path]:
    """Every SQL file the catalog uses (for listing and checks)."""
    files = {FLINK_SQL_DIR / f for f in PLUMBING_FILES[catalog.plumbing]}
    for dom in catalog.domains.values():
        files |= {FLINK_SQL_DIR / f for f in ((dom.parse_file,) if dom.parse_file else ()) + dom.view_files}
    files |= {r.sql_path for r in catalog.rules.values() if r.sql_text is None}
    return sorted(files)
