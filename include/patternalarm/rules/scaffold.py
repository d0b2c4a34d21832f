"""``rules new``: a commented starting point for each rule kind, valid as written."""

from __future__ import annotations

import re
from pathlib import Path

from include.patternalarm.events.schema import ENTITY_FIELD
from include.patternalarm.rules.catalog import RuleError
from include.patternalarm.rules.kinds import KINDS

_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

_HEAD = """# {rule_id}: a {kind} rule of your own (docs/detection.md, "Rules as user content").
# The alert id is sha256(rule id|version|entity|first event id): bump `version` when you change what
# the rule means, so old and new alerts never share ids.
id: {rule_id}
version: 1
domain: {domain}
severity: medium          # low | medium | high | critical
description: "TODO: what this rule finds"
"""

_BODY = {
    "threshold": """kind: threshold
entity: {entity}           # the column alerts are about
where: "TRUE"              # which events count (SQL on the event's fields)
value: "{value}"           # the number compared with min_value
requires: [{field}]        # fields without which the rule cannot fire (warned at backtest)
params:
  min_value: {{type: float, default: 1000.0, min: 0.0, description: "fires above this"}}
""",
    "window": """kind: window
entity: {entity}
where: "TRUE"
aggregate: count           # count | sum (of value)
value: "1"
params:
  min_value: {{type: float, default: 10.0, min: 0.0, description: "more than this in the window fires"}}
  window_s: {{type: int, default: 60, min: 1, max: 86400, description: "sliding window, seconds"}}
""",
    "baseline": """kind: baseline
entity: {entity}
where: "{value} IS NOT NULL"
value: "{value}"           # e.g. LN(amount) for amounts: jumps by a factor become shifts
direction: both            # up | down | both
seasonality: none          # none | daily | weekly (for series measured in minutes or slower)
detectors: [spike, level_shift]   # spike, level_shift, variance, drift, stuck
# optional params (defaults shown): z_threshold 5.5, allowance 0.75, decision_interval 12,
# horizon_events 200, warmup_events 30
""",
    "sequence": """kind: sequence
entity: {entity}
steps:                     # in order; times: N, N+ or N-M
  - {{where: "TRUE", times: "2+"}}
  - {{where: "TRUE"}}
params:
  window_s: {{type: int, default: 600, min: 1, max: 604800, description: "first to last step"}}
""",
    "absence": """kind: absence
entity: {entity}
where: "TRUE"              # the events that show the entity is alive
params:
  silence_s: {{type: int, default: 300, min: 1, max: 604800, description: "silence longer than this fires"}}
""",
    "sql": """sql: {rule_id}.sql           # relative to this directory
score: "1.0"               # or a column of your SELECT with a 0..1 score
params:
  min_amount: {{type: float, default: 100.0, min: 0.0, description: "used as {{{{ min_amount }}}} in the SQL"}}
""",
}

_SQL = """-- {rule_id}: the rule's views (named {rule_id}_<name>) and, last, the SELECT producing the alert rows:
-- entity, first_event_id (anchors the alert id), first_event_time, last_event_time, evidence (a JSON
-- object with event_ids). It reads `events`: each valid, on-time event once, `ts` its event time.
SELECT
  {entity} AS entity,
  event_id AS first_event_id,
  `ts` AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(KEY 'event_ids' VALUE ARRAY[event_id]) AS evidence
FROM events
WHERE {entity} IS NOT NULL AND {value} > {{{{ min_amount }}}}
"""

_VALUE = {"payments": "amount", "gaming": "amount", "iot": "value"}


def scaffold(directory: Path, rule_id: str, kind: str, domain: str, *, force: bool = False) -> list[Path]:
    if not _ID.match(rule_id):
        raise RuleError(f"rule id {rule_id!r}: lower case letters, digits and _, starting with a letter")
    if kind not in ("sql", *KINDS):
        raise RuleError(f"kind must be one of sql, {', '.join(KINDS)}")
    if domain not in ENTITY_FIELD:
        raise RuleError(f"domain must be one of {', '.join(ENTITY_FIELD)}")
    directory.mkdir(parents=True, exist_ok=True)
    fields = {"rule_id": rule_id, "kind": kind, "domain": domain, "entity": ENTITY_FIELD[domain],
              "value": f"`{_VALUE[domain]}`" if domain == "iot" else _VALUE[domain], "field": _VALUE[domain]}
    files = {directory / f"{rule_id}.yaml": _HEAD.format(**fields) + _BODY[kind].format(**fields)}
    if kind == "sql":
        files[directory / f"{rule_id}.sql"] = _SQL.format(**fields)
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise RuleError(f"{', '.join(map(str, existing))} already exist(s): choose another id or pass --force")
    for path, text in files.items():
        path.write_text(text)
    return list(files)
