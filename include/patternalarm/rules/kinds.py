# ruff: noqa: S608 - renders Flink SQL rule text from the user's own rule files (their `where`/`value`
# expressions are SQL they own, checked to be one expression); no runtime value ever reaches it
"""Declarative rule kinds: the common rules without writing SQL (``rules new --kind …`` scaffolds them).

Every kind reads the domain's ``events`` view (each valid, on-time event once, ``ts`` its event time) and
takes ``entity`` (the column alerts are about; default the domain's entity field) and ``where`` (a SQL
condition on the event's fields; default all events). The rule's SQL is rendered here; parameters
(``params``) stay typed and overridable with ``--param <id>.<param>=<value>`` like any rule's.

- **threshold**: ``value`` (a column or expression) above ``min_value`` — one alert per event.
- **window**: ``aggregate: count | sum`` (of ``value``) over the last ``window_s`` seconds per entity above
  ``min_value`` — one alert per burst (the rising edge).
- **baseline**: ``value`` against the entity's own adaptive baseline (the Java detectors of the shipped
  IoT/payment rules): ``detectors`` among spike, level_shift, variance, drift, stuck; ``direction`` up,
  down or both; ``seasonality`` none, daily or weekly. Scored, episodic alerts.
- **sequence**: ``steps`` in order (each a ``where`` and ``times``: ``1``, ``3``, ``3+`` or ``2-5``)
  within ``window_s`` — MATCH_RECOGNIZE, one alert per match.
- **absence**: an entity that sent matching events falls silent for longer than ``silence_s`` (an
  event-time session window) — one alert per silence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from include.patternalarm.events.schema import ENTITY_FIELD
from include.patternalarm.rules.catalog import RuleError

KINDS = ("threshold", "window", "baseline", "sequence", "absence")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_TIMES = re.compile(r"^(\d+)(\+|-(\d+))?$")
_SERIES_KINDS = ("spike", "level_shift", "variance", "drift", "stuck")
_BASELINE_PARAMS = {
    "z_threshold": ("float", 5.5, "spike: scales of the entity's own baseline"),
    "allowance": ("float", 0.75, "level_shift: CUSUM allowance per event (scales)"),
    "decision_interval": ("float", 12.0, "level_shift: CUSUM decision interval (scales)"),
    "horizon_events": ("int", 200, "events the baseline remembers"),
    "warmup_events": ("int", 30, "events of an entity before it is judged"),
}
_EVIDENCE_IDS = "CASE WHEN first_event_id = event_id THEN ARRAY[event_id] ELSE ARRAY[first_event_id, event_id] END"


def _expr(spec: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = spec.get(key, default)
    if value is None:
        raise RuleError(f"{where}: kind {spec['kind']} needs `{key}`")
    text = str(value).strip()
    if not text or ";" in text or "{{" in text:
        raise RuleError(f"{where}: `{key}` must be one SQL expression (no ';'), got {value!r}")
    return text


def _param(spec: dict[str, Any], name: str, type_: str, default: Any, description: str) -> None:
    params = spec.setdefault("params", {}) or {}
    spec["params"] = params
    params.setdefault(name, {"type": type_, "default": default, "description": description})


def _require_param(spec: Mapping[str, Any], name: str, where: str) -> None:
    if name not in (spec.get("params") or {}):
        raise RuleError(f"{where}: kind {spec['kind']} needs a parameter `{name}` (params: {{{name}: {{type: …, "
                        f"default: …}}}})")


def expand(spec: dict[str, Any], where: str) -> dict[str, Any]:
    """The rule spec with ``sql_text`` (and score/seq) rendered from its declarative kind."""
    kind = spec["kind"]
    domain = spec.get("domain")
    if domain not in ENTITY_FIELD:
        raise RuleError(f"{where}: domain must be one of {', '.join(ENTITY_FIELD)}, got {domain!r}")
    rule_id = spec.get("id", "")
    entity = str(spec.get("entity", ENTITY_FIELD[domain]))
    if not _IDENT.match(entity):
        raise RuleError(f"{where}: entity must be a column name, got {entity!r}")
    cond = _expr(spec, "where", where, "TRUE")
    header = f"-- {rule_id} ({kind}, from {where}): {spec.get('description', '')}\n"
    if kind == "threshold":
        value = _expr(spec, "value", where)
        _require_param(spec, "min_value", where)
        sql = header + f"""SELECT `{entity}` AS entity, event_id AS first_event_id, `ts` AS first_event_time,
  `ts` AS last_event_time,
  1.0 - POWER(0.5, CAST({value} AS DOUBLE) / {{{{ min_value }}}}) AS score,
  JSON_OBJECT(KEY 'event_ids' VALUE ARRAY[event_id], KEY 'value' VALUE CAST({value} AS DOUBLE),
              KEY 'min_value' VALUE {{{{ min_value }}}}) AS evidence
FROM events
WHERE ({cond}) AND `{entity}` IS NOT NULL AND CAST({value} AS DOUBLE) > {{{{ min_value }}}}"""
        return {**spec, "sql_text": sql, "score": "score"}
    if kind == "window":
        aggregate = spec.get("aggregate", "count")
        if aggregate not in ("count", "sum"):
            raise RuleError(f"{where}: aggregate must be count or sum, got {aggregate!r}")
        value = _expr(spec, "value", where, "1") if aggregate == "sum" else "1"
        _require_param(spec, "min_value", where)
        _require_param(spec, "window_s", where)
        stat = "n" if aggregate == "count" else "total"
        sql = header + f"""CREATE TEMPORARY VIEW {rule_id}_windows AS
SELECT `{entity}` AS k, event_id, `ts`,
  COUNT(*) OVER w AS n,
  SUM(v) OVER w AS total,
  FIRST_VALUE(event_id) OVER w AS first_id,
  FIRST_VALUE(epoch_ms) OVER w AS first_ms
FROM (
  SELECT *, CAST({value} AS DOUBLE) AS v,
         EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
  FROM events WHERE ({cond}) AND `{entity}` IS NOT NULL
)
WINDOW w AS (PARTITION BY `{entity}` ORDER BY `ts` RANGE BETWEEN {{{{ window_s_interval }}}} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW {rule_id}_edges AS
SELECT *, SUM(hot) OVER (PARTITION BY k ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hot_pair
FROM (SELECT *, IF({stat} > {{{{ min_value }}}}, 1, 0) AS hot FROM {rule_id}_windows);

SELECT k AS entity, first_id AS first_event_id, TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
  1.0 - POWER(0.5, CAST({stat} AS DOUBLE) / {{{{ min_value }}}}) AS score,
  JSON_OBJECT(KEY 'event_ids' VALUE ARRAY[first_id, event_id], KEY 'count' VALUE n,
              KEY 'sum' VALUE ROUND(total, 4), KEY 'window_s' VALUE {{{{ window_s }}}}) AS evidence
FROM {rule_id}_edges
WHERE hot = 1 AND hot_pair = 1"""
        return {**spec, "sql_text": sql, "score": "score"}
    if kind == "baseline":
        value = _expr(spec, "value", where)
        detectors = spec.get("detectors", ["spike", "level_shift"])
        if not isinstance(detectors, list) or not detectors or any(d not in _SERIES_KINDS for d in detectors):
            raise RuleError(f"{where}: detectors must list some of {', '.join(_SERIES_KINDS)}")
        direction = {"up": 1, "down": -1, "both": 0}.get(spec.get("direction", "both"))
        season = {"none": 0, "daily": 24, "weekly": 168}.get(spec.get("seasonality", "none"))
        if direction is None or season is None:
            raise RuleError(f"{where}: direction is up|down|both and seasonality none|daily|weekly")
        for name, (type_, default, description) in _BASELINE_PARAMS.items():
            _param(spec, name, type_, default, description)
        params = ("spike_z={{ z_threshold }};shift_k={{ allowance }};shift_h={{ decision_interval }};"
                  "horizon_readings={{ horizon_events }};warmup_readings={{ warmup_events }};"
                  f"season_buckets={season};direction={direction};kinds={','.join(detectors)}")
        sql = header + f"""CREATE TEMPORARY VIEW {rule_id}_input AS
SELECT `{entity}` AS series_key, event_id, CAST({value} AS DOUBLE) AS `value`, `ts`
FROM events WHERE ({cond}) AND `{entity}` IS NOT NULL AND ({value}) IS NOT NULL;

SELECT series_key AS entity, first_event_id, first_ts AS first_event_time, last_ts AS last_event_time, score, seq,
  JSON_OBJECT(KEY 'event_ids' VALUE {_EVIDENCE_IDS}, KEY 'kind' VALUE kind, KEY 'value' VALUE `value`,
              KEY 'expected' VALUE ROUND(expected, 6), KEY 'scale' VALUE ROUND(scale, 6),
              KEY 'statistic' VALUE ROUND(statistic, 2)) AS evidence
FROM series_anomalies(input => TABLE {rule_id}_input PARTITION BY series_key, on_time => DESCRIPTOR(`ts`),
                      params => '{params}', uid => {{{{ series_uid }}}})"""
        return {**spec, "sql_text": sql, "score": "score", "seq": "seq"}
    if kind == "sequence":
        steps = spec.get("steps")
        if not isinstance(steps, list) or len(steps) < 2:
            raise RuleError(f"{where}: a sequence needs at least two steps (each: where, times)")
        _require_param(spec, "window_s", where)
        names, defines, pattern = [], [], []
        for i, step in enumerate(steps):
            if not isinstance(step, Mapping):
                raise RuleError(f"{where}: step {i + 1} must be a mapping with `where`")
            name = f"S{i + 1}"
            names.append(name)
            defines.append(f"{name} AS {_expr({**step, 'kind': 'sequence'}, 'where', f'{where} step {i + 1}')}")
            times = _TIMES.match(str(step.get("times", "1")))
            if not times:
                raise RuleError(f"{where}: step {i + 1} times must be N, N+ or N-M, got {step.get('times')!r}")
            low, plus, high = times.group(1), times.group(2), times.group(3)
            quantifier = "" if low == "1" and not plus else "{" + low + ("," if plus == "+" else f",{high}" if high
                                                                        else "") + "}"
            pattern.append(name + quantifier)
        ids = ", ',', ".join(f"LISTAGG({n}.event_id, ',')" for n in names)
        sql = header + f"""CREATE TEMPORARY VIEW {rule_id}_events AS
SELECT *, `{entity}` AS k FROM events WHERE ({cond}) AND `{entity}` IS NOT NULL;

SELECT k AS entity, first_id AS first_event_id, first_ts AS first_event_time, last_ts AS last_event_time,
  JSON_OBJECT(KEY 'event_ids' VALUE SPLIT(ids, ','), KEY 'steps' VALUE {len(steps)}) AS evidence
FROM {rule_id}_events
MATCH_RECOGNIZE (
  PARTITION BY k
  ORDER BY `ts`
  MEASURES FIRST({names[0]}.event_id) AS first_id, FIRST({names[0]}.`ts`) AS first_ts,
    LAST({names[-1]}.`ts`) AS last_ts, CONCAT({ids}) AS ids
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN ({' '.join(pattern)}) WITHIN {{{{ window_s_interval }}}}
  DEFINE {', '.join(defines)}
)"""
        return {**spec, "sql_text": sql}
    # absence
    _require_param(spec, "silence_s", where)
    sql = header + f"""CREATE TEMPORARY VIEW {rule_id}_alive AS
SELECT * FROM events WHERE ({cond}) AND `{entity}` IS NOT NULL;

CREATE TEMPORARY VIEW {rule_id}_sessions AS
SELECT `{entity}` AS k, window_start, window_end, COUNT(*) AS events_in_session,
  MAX(CONCAT(LPAD(CAST(EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS STRING), 15, '0'),
             '|', event_id)) AS last_key,
  MAX(`ts`) AS last_ts
FROM TABLE(SESSION(TABLE {rule_id}_alive PARTITION BY `{entity}`, DESCRIPTOR(`ts`), {{{{ silence_s_interval }}}}))
GROUP BY `{entity}`, window_start, window_end;

SELECT k AS entity, SUBSTR(last_key, 17) AS first_event_id, window_start AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(KEY 'event_ids' VALUE ARRAY[SUBSTR(last_key, 17)], KEY 'silence_s' VALUE {{{{ silence_s }}}},
              KEY 'events_in_session' VALUE events_in_session) AS evidence
FROM {rule_id}_sessions"""
    return {**spec, "sql_text": sql}
