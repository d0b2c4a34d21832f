# ruff: noqa: S608 - SQL text from validated identifiers (rule ids, view names) and numeric literals only
"""Batch re-detection: the rules the reconciliation re-implements in Spark SQL (no pyspark here).

Each rule reproduces the semantics of docs/rules.md (catalog v2, the Flink SQL under
include/flink/) over one entity's events in event-time order (ties in Kafka partition/offset order,
as the stream sees them), including the details that decide *which* event is the first of a match
and so the ``alert_id``:

- MATCH_RECOGNIZE rules (card_testing, account_takeover, structuring): ``WITHIN w`` drops a partial
  match when an event arrives ``>= w`` after its first event (first to last strictly less than
  ``w``); ``AFTER MATCH SKIP PAST LAST ROW`` discards every partial match that started before a
  match's last event; of several matches completing on one event the earliest start wins. Written
  as a left fold (``aggregate``) over the entity's sorted events keeping only the alive partial
  matches, after a pre-filter that keeps the entities that can match at all.
- over-window rules (velocity: RANGE window + rising edge; impossible_travel: each pair of
  consecutive physical transactions; out_of_range: rising edge per sensor) use window functions.
  They compare an event with the entity's previous one, and the stream's state for an entity idle
  longer than ``state_ttl_min`` has expired, so consecutive events further apart are not compared.

Every rule also yields, per input event, whether the batch can be *certain* of the verdict for a
match completing on it, given that the read window starts at ``read_start`` (state from before the
window may matter):

- velocity: its window and its predecessor's lie in the read window, or the predecessor is too far
  back to be compared;
- structuring, account_takeover (state carries over matches): certain from the first event that
  follows a gap of at least the window (all partial matches had expired), or the entity's first
  event in the read window when it arrived at least a window after ``read_start``;
- card_testing, impossible_travel: always (a stream alert that cites events from before the read
  window is recognised by those events);
- out_of_range: the previous reading of the sensor is in the read window, or the reading arrived
  more than the state TTL after ``read_start``.
The SQL uses nested subqueries, not CTEs: Spark 4.1's CTE inlining breaks on plans that union or
join several CTE queries over the same cached view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The struct every match is reported as (one element of the fold's ``out`` array).
MATCH_TYPE = ("STRUCT<first_id: STRING, first_ts_ms: BIGINT, last_id: STRING, last_ts_ms: BIGINT, "
              "last_kafka_ts_ms: BIGINT, n: INT>")

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class BatchRuleError(ValueError):
    """A rule the batch cannot run as asked (unknown rule, bad parameter)."""


@dataclass(frozen=True)
class RuleSpec:
    """One rule as the reconciliation runs it: catalog id, version, domain and effective parameters."""

    rule_id: str
    version: int
    domain: str
    severity: str
    params: Mapping[str, float | int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _IDENT.match(self.rule_id):
            raise BatchRuleError(f"invalid rule id {self.rule_id!r}")
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 0:
            raise BatchRuleError(f"rule {self.rule_id}: version must be a non-negative integer")
        for name, value in self.params.items():
            if not _IDENT.match(name):
                raise BatchRuleError(f"rule {self.rule_id}: invalid parameter name {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise BatchRuleError(f"rule {self.rule_id}: parameter {name} must be a finite number")

    def num(self, name: str) -> str:
        """Parameter ``name`` as a SQL numeric literal (only numbers reach the SQL text)."""
        try:
            value = self.params[name]
        except KeyError:
            raise BatchRuleError(f"rule {self.rule_id}: parameter {name!r} is missing") from None
        if isinstance(value, int):
            return str(value)
        return repr(float(value)) + "D"

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "version": self.version, "domain": self.domain,
                "severity": self.severity, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RuleSpec:
        try:
            return cls(rule_id=str(raw["rule_id"]), version=int(raw["version"]), domain=str(raw["domain"]),
                       severity=str(raw["severity"]), params=dict(raw.get("params") or {}))
        except KeyError as exc:
            raise BatchRuleError(f"rule spec without {exc.args[0]!r}: {dict(raw)!r}") from None


@dataclass(frozen=True)
class BatchRule:
    """How the batch re-detects one catalog rule."""

    rule_id: str
    domain: str
    window_param: str | None  # the rule's time window (seconds), None for rules without one
    input_sql: Callable[[RuleSpec, str], str]  # events view -> the rule's input rows
    detect_sql: Callable[[RuleSpec, str], str]  # input view -> one row per match
    certainty_sql: Callable[[RuleSpec, str, int, int], str]  # input view, read_start_ms, horizon_ms
    # input view -> the entities that can match at all (a necessary condition, cheap to aggregate):
    # the sequential detection then only runs over their events
    candidates_sql: Callable[[RuleSpec, str], str] | None = None
    uses_ttl: bool = False  # compares an event with the entity's previous one (over-window + state TTL)
    versions: frozenset[int] = frozenset({1})  # the catalog versions of the rule whose semantics this is

    def candidate_input_sql(self, spec: RuleSpec, input_view: str) -> str:
        """The rule's input restricted to entities that can match, as a derived table that goes where a
        view name goes (the input itself without a pre-filter)."""
        if self.candidates_sql is None:
            return input_view
        return (f"(SELECT i.* FROM {input_view} i LEFT SEMI JOIN ({self.candidates_sql(spec, input_view)}) k "
                f"ON i.entity = k.entity) candidates")

    def window_s(self, spec: RuleSpec) -> int | None:
        if self.window_param is None:
            return None
        return int(spec.params[self.window_param])

    def history_s(self, spec: RuleSpec) -> int:
        """How far back of a match the batch must read to judge it: MATCH_RECOGNIZE rules twice their
        window (the match, and the partial matches before it); over-window rules their window plus
        the state TTL (the previous event they compare with)."""
        window = self.window_s(spec) or 0
        if self.uses_ttl:
            return window + int(spec.params.get("state_ttl_s", 0))
        return 2 * window


# -------------------------------------------------------------------------------------------------
# building blocks
# -------------------------------------------------------------------------------------------------

_ORDER = "ts_ms, p, o"


def _match(first: str, last: str, n: str) -> str:
    return (f"named_struct('first_id', {first}.id, 'first_ts_ms', {first}.ts_ms, 'last_id', {last}.id, "
            f"'last_ts_ms', {last}.ts_ms, 'last_kafka_ts_ms', {last}.kafka_ts_ms, 'n', CAST({n} AS INT))")


def _fold(input_view: str, columns: str, init: str, step: str) -> str:
    """Per entity: sort its events, fold ``step`` over them from ``init``; one output row per match."""
    return f"""
SELECT entity, m.first_id, m.first_ts_ms, m.last_id, m.last_ts_ms, m.last_kafka_ts_ms, m.n
FROM (
  SELECT entity, array_sort(collect_list(struct(ts_ms, p, o, id, kafka_ts_ms, {columns}))) AS evs
  FROM {input_view}
  GROUP BY entity
) seqs
LATERAL VIEW explode(aggregate(evs, {init}, {step}, acc -> acc.out)) x AS m
"""


_EMPTY_EVS = "slice(evs, 1, 0)"
_EMPTY_OUT = f"CAST(array() AS ARRAY<{MATCH_TYPE}>)"


def _gap_certainty(input_view: str, read_start_ms: int, gap_ms: int) -> str:
    """Certain from the first event after a gap >= ``gap_ms`` (or the first event, if it arrived
    ``gap_ms`` after the read window opened): every partial match from before had expired."""
    return f"""
SELECT id, coalesce(ts_ms >= synced_from, false) AS certain
FROM (
  SELECT id, ts_ms,
         MIN(CASE WHEN (prev_ts_ms IS NULL AND kafka_ts_ms - {read_start_ms} >= {gap_ms})
                    OR ts_ms - prev_ts_ms >= {gap_ms} THEN ts_ms END)
           OVER (PARTITION BY entity ORDER BY {_ORDER} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           AS synced_from
  FROM (
    SELECT entity, id, ts_ms, p, o, kafka_ts_ms,
           LAG(ts_ms) OVER (PARTITION BY entity ORDER BY {_ORDER}) AS prev_ts_ms
    FROM {input_view}
  ) lagged
) synced
"""


def _always_certain(input_view: str, read_start_ms: int, horizon_ms: int) -> str:
    return f"SELECT id, true AS certain FROM {input_view}"


def _window_ms(spec: RuleSpec, param: str = "window_s") -> str:
    return f"({spec.num(param)} * 1000)"


# -------------------------------------------------------------------------------------------------
# payments
# -------------------------------------------------------------------------------------------------

def _auths(spec: RuleSpec, events: str) -> str:
    return f"""
SELECT card_id AS entity, ts_ms, p, o, id, kafka_ts_ms, amount
FROM {events}
WHERE event_type = 'auth' AND card_id IS NOT NULL
"""


def _card_testing_input(spec: RuleSpec, events: str) -> str:
    return _auths(spec, events) + " AND amount IS NOT NULL"


def _card_testing(spec: RuleSpec, input_view: str) -> str:
    # state: the run of consecutive small auths (only those still inside the window)
    w = _window_ms(spec)
    alive = f"filter(acc.run, r -> e.ts_ms - r.ts_ms < {w})"
    step = f"""(acc, e) -> CASE
      WHEN e.amount < {spec.num('small_amount_max')}
        THEN named_struct('run', concat({alive}, array(e)), 'out', acc.out)
      WHEN e.amount > {spec.num('large_amount_min')} AND size({alive}) >= {spec.num('min_small_auths')}
        THEN named_struct('run', {_EMPTY_EVS}, 'out',
                          concat(acc.out, array({_match(f'element_at({alive}, 1)', 'e', f'size({alive})')})))
      ELSE named_struct('run', {_EMPTY_EVS}, 'out', acc.out)
    END"""
    init = f"named_struct('run', {_EMPTY_EVS}, 'out', {_EMPTY_OUT})"
    return _fold(input_view, "amount", init, step)


def _velocity_input(spec: RuleSpec, events: str) -> str:
    return f"""
SELECT card_id AS entity, ts_ms, p, o, id, kafka_ts_ms, coalesce(amount, 0D) AS amount
FROM {events}
WHERE event_type = 'auth' AND card_id IS NOT NULL
"""


def _ttl_ms(spec: RuleSpec) -> str:
    return f"({spec.num('state_ttl_s')} * 1000)"


def _velocity(spec: RuleSpec, input_view: str) -> str:
    # per auth: the card's auths in the window_s up to it (a RANGE frame: inclusive, same-time peers
    # included); the alert is the rising edge — hot now, not hot at the card's previous auth (unless
    # that one is more than state_ttl apart: the stream's state has expired) — one per burst.
    # first event = the earliest auth in the window (FIRST_VALUE over the frame).
    hot = f"(n > {spec.num('max_auths')} OR total > {spec.num('max_amount')})"
    return f"""
SELECT entity, first.id AS first_id, first.ts_ms AS first_ts_ms, id AS last_id, ts_ms AS last_ts_ms,
       kafka_ts_ms AS last_kafka_ts_ms, CAST(n AS INT) AS n
FROM (
  SELECT *, LAG(hot) OVER (PARTITION BY entity ORDER BY {_ORDER}) AS prev_hot,
            LAG(ts_ms) OVER (PARTITION BY entity ORDER BY {_ORDER}) AS prev_ts_ms
  FROM (
    SELECT *, {hot} AS hot
    FROM (
      SELECT entity, id, ts_ms, p, o, kafka_ts_ms,
             count(*) OVER w AS n, sum(amount) OVER w AS total,
             min_by(named_struct('id', id, 'ts_ms', ts_ms), struct(ts_ms, p, o)) OVER w AS first
      FROM {input_view}
      WINDOW w AS (PARTITION BY entity ORDER BY ts_ms RANGE BETWEEN {_window_ms(spec)} PRECEDING AND CURRENT ROW)
    ) windows
  ) flagged
) edges
WHERE hot AND (prev_hot IS NULL OR NOT prev_hot OR ts_ms - prev_ts_ms > {_ttl_ms(spec)})
"""


def _velocity_certainty(spec: RuleSpec, input_view: str, read_start_ms: int, horizon_ms: int) -> str:
    # certain when the auth's window lies in the read window, and so does its predecessor's (whose
    # hotness decides the rising edge) — or the predecessor is too far back to be compared
    w, ttl = _window_ms(spec), _ttl_ms(spec)
    return f"""
SELECT id, coalesce(CASE
         WHEN prev_ts_ms IS NULL THEN kafka_ts_ms - {read_start_ms} >= {ttl} + {w}
         WHEN ts_ms - prev_ts_ms > {ttl} THEN kafka_ts_ms - {read_start_ms} >= {w}
         ELSE prev_kafka_ts_ms - {read_start_ms} >= {w} END, false) AS certain
FROM (
  SELECT id, ts_ms, kafka_ts_ms,
         LAG(ts_ms) OVER (PARTITION BY entity ORDER BY {_ORDER}) AS prev_ts_ms,
         LAG(kafka_ts_ms) OVER (PARTITION BY entity ORDER BY {_ORDER}) AS prev_kafka_ts_ms
  FROM {input_view}
) lagged
"""


def _distance_km(a: str, b: str) -> str:
    return (f"(2 * 6371.0D * asin(sqrt(pow(sin(radians({b}.lat - {a}.lat) / 2), 2) + cos(radians({a}.lat)) "
            f"* cos(radians({b}.lat)) * pow(sin(radians({b}.lon - {a}.lon) / 2), 2))))")


def _qualifies(spec: RuleSpec, a: str, b: str) -> str:
    d = _distance_km(a, b)
    return (f"({d} >= {spec.num('min_distance_km')} AND "
            f"{d} > {spec.num('max_speed_kmh')} * greatest({b}.ts_ms - {a}.ts_ms, 1000) / 3600000.0D)")


def _travel_input(spec: RuleSpec, events: str) -> str:
    return f"""
SELECT card_id AS entity, ts_ms, p, o, id, kafka_ts_ms, lat, lon
FROM {events}
WHERE event_type = 'auth' AND channel IN ('card_present', 'atm') AND card_id IS NOT NULL
  AND lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180
"""


def _impossible_travel(spec: RuleSpec, input_view: str) -> str:
    # every pair of consecutive physical transactions (each impossible hop alerts; nothing is
    # consumed), unless they are more than state_ttl apart (the stream's state has expired)
    return f"""
SELECT entity, a.id AS first_id, a.ts_ms AS first_ts_ms, id AS last_id, ts_ms AS last_ts_ms,
       kafka_ts_ms AS last_kafka_ts_ms, 2 AS n
FROM (
  SELECT entity, id, ts_ms, kafka_ts_ms, named_struct('ts_ms', ts_ms, 'lat', lat, 'lon', lon) AS b,
         LAG(named_struct('id', id, 'ts_ms', ts_ms, 'lat', lat, 'lon', lon))
           OVER (PARTITION BY entity ORDER BY {_ORDER}) AS a
  FROM {input_view}
) pairs
WHERE a IS NOT NULL AND b.ts_ms - a.ts_ms <= {_ttl_ms(spec)} AND {_qualifies(spec, 'a', 'b')}
"""


def _security_input(spec: RuleSpec, events: str) -> str:
    return f"""
SELECT account_id AS entity, ts_ms, p, o, id, kafka_ts_ms, event_type
FROM {events}
WHERE account_id IS NOT NULL
  AND event_type IN ('login_failed', 'login', 'password_reset', 'payout_change', 'payout')
"""


def _account_takeover(spec: RuleSpec, input_view: str) -> str:
    # state: the current run of consecutive login_failed (inside the window), the candidates (an
    # F-run followed by its login; has_c once a credential/payout change followed) and the matches
    w = _window_ms(spec)
    k = spec.num("min_failed_logins")
    fails_alive = f"filter(acc.fails, f -> e.ts_ms - f.ts_ms < {w})"
    cands = (f"filter(transform(acc.cands, c -> named_struct('fs', filter(c.fs, f -> e.ts_ms - f.ts_ms < {w}), "
             f"'has_c', c.has_c)), c -> size(c.fs) >= {k})")
    firing = f"filter({cands}, c -> c.has_c)"
    step = f"""(acc, e) -> CASE
      WHEN e.event_type = 'login_failed'
        THEN named_struct('fails', concat({fails_alive}, array(e)), 'cands', {cands}, 'out', acc.out)
      WHEN e.event_type = 'login'
        THEN named_struct('fails', {_EMPTY_EVS},
                          'cands', IF(size({fails_alive}) >= {k},
                                      concat({cands}, array(named_struct('fs', {fails_alive}, 'has_c', false))),
                                      {cands}),
                          'out', acc.out)
      WHEN e.event_type IN ('password_reset', 'payout_change')
        THEN named_struct('fails', {_EMPTY_EVS},
                          'cands', transform({cands}, c -> named_struct('fs', c.fs, 'has_c', true)), 'out', acc.out)
      WHEN e.event_type = 'payout' AND size({firing}) > 0
        THEN named_struct('fails', {_EMPTY_EVS}, 'cands', slice(acc.cands, 1, 0),
                          'out', concat(acc.out, array({_match(f'element_at(element_at({firing}, 1).fs, 1)', 'e',
                                                               f'size(element_at({firing}, 1).fs)')})))
      ELSE named_struct('fails', {_EMPTY_EVS}, 'cands', {cands}, 'out', acc.out)
    END"""
    init = (f"named_struct('fails', {_EMPTY_EVS}, "
            f"'cands', CAST(array() AS ARRAY<STRUCT<fs: ARRAY<STRUCT<ts_ms: BIGINT, p: INT, o: BIGINT, id: STRING, "
            f"kafka_ts_ms: BIGINT, event_type: STRING>>, has_c: BOOLEAN>>), 'out', {_EMPTY_OUT})")
    return _fold(input_view, "event_type", init, step)


def _deposits_input(spec: RuleSpec, events: str) -> str:
    threshold, band = spec.num("reporting_threshold"), spec.num("band_pct")
    return f"""
SELECT account_id AS entity, ts_ms, p, o, id, kafka_ts_ms, amount
FROM {events}
WHERE event_type = 'deposit' AND account_id IS NOT NULL
  AND amount >= {threshold} * (1 - {band} / 100.0D) AND amount < {threshold}
"""


def _structuring(spec: RuleSpec, input_view: str) -> str:
    # D{n}: n consecutive in-band deposits, first to last inside the window; a match consumes them
    n = int(spec.params["min_deposits"])
    w = _window_ms(spec)
    keep = n - 1
    step = f"""(acc, e) -> IF(size(acc.pend) = {keep} AND e.ts_ms - element_at(acc.pend, 1).ts_ms < {w},
      named_struct('pend', {_EMPTY_EVS},
                   'out', concat(acc.out, array({_match('element_at(acc.pend, 1)', 'e', str(n))}))),
      named_struct('pend', IF(size(acc.pend) + 1 > {keep},
                              slice(concat(acc.pend, array(e)), size(acc.pend) + 2 - {keep}, {keep}),
                              concat(acc.pend, array(e))),
                   'out', acc.out))"""
    init = f"named_struct('pend', {_EMPTY_EVS}, 'out', {_EMPTY_OUT})"
    return _fold(input_view, "amount", init, step)


# -------------------------------------------------------------------------------------------------
# iot
# -------------------------------------------------------------------------------------------------

SENSOR_TYPES = ("temperature", "humidity", "pressure", "vibration", "power")


def _readings_input(spec: RuleSpec, events: str) -> str:
    cases = " ".join(
        f"WHEN '{s}' THEN reading < {spec.num(s + '_min')} OR reading > {spec.num(s + '_max')}" for s in SENSOR_TYPES)
    return f"""
SELECT device_id AS entity, sensor_type, ts_ms, p, o, id, kafka_ts_ms, reading,
       CASE sensor_type {cases} ELSE FALSE END AS oor
FROM {events}
WHERE event_type = 'reading' AND device_id IS NOT NULL AND sensor_type IS NOT NULL AND reading IS NOT NULL
"""


def _out_of_range(spec: RuleSpec, input_view: str) -> str:
    # rising edge per sensor: the previous reading was in range, or there was none (or it is more
    # than state_ttl back: the stream's state has expired)
    return f"""
SELECT entity, id AS first_id, ts_ms AS first_ts_ms, id AS last_id, ts_ms AS last_ts_ms,
       kafka_ts_ms AS last_kafka_ts_ms, 1 AS n
FROM (
  SELECT *, LAG(oor) OVER (PARTITION BY entity, sensor_type ORDER BY {_ORDER}) AS prev_oor,
            LAG(ts_ms) OVER (PARTITION BY entity, sensor_type ORDER BY {_ORDER}) AS prev_ts_ms
  FROM {input_view}
) lagged
WHERE oor AND (prev_oor IS NULL OR NOT prev_oor OR ts_ms - prev_ts_ms > {_ttl_ms(spec)})
"""


def _out_of_range_certainty(spec: RuleSpec, input_view: str, read_start_ms: int, horizon_ms: int) -> str:
    # the previous reading is in the read window, or any earlier one is more than state_ttl back
    return f"""
SELECT id, LAG(id) OVER (PARTITION BY entity, sensor_type ORDER BY {_ORDER}) IS NOT NULL
           OR kafka_ts_ms - {read_start_ms} >= {_ttl_ms(spec)} AS certain
FROM {input_view}
"""


# -------------------------------------------------------------------------------------------------
# pre-filters: entities that can match at all (each HAVING is implied by any match of the rule)

def _card_testing_candidates(spec: RuleSpec, input_view: str) -> str:
    return f"""SELECT entity FROM {input_view} GROUP BY entity
HAVING count_if(amount < {spec.num('small_amount_max')}) >= {spec.num('min_small_auths')}
   AND count_if(amount > {spec.num('large_amount_min')}) >= 1"""


def _velocity_candidates(spec: RuleSpec, input_view: str) -> str:
    # a window's sum is at most the sum of the positive amounts of all the card's auths
    return f"""SELECT entity FROM {input_view} GROUP BY entity
HAVING count(*) > {spec.num('max_auths')} OR sum(greatest(amount, 0D)) > {spec.num('max_amount')}"""


def _travel_candidates(spec: RuleSpec, input_view: str) -> str:
    # great-circle distance <= R * (latitude span + longitude span), in radians
    return f"""SELECT entity FROM {input_view} GROUP BY entity
HAVING count(*) >= 2
   AND 6371.0D * (radians(max(lat) - min(lat)) + radians(max(lon) - min(lon))) >= {spec.num('min_distance_km')}"""


def _account_takeover_candidates(spec: RuleSpec, input_view: str) -> str:
    return f"""SELECT entity FROM {input_view} GROUP BY entity
HAVING count_if(event_type = 'login_failed') >= {spec.num('min_failed_logins')}
   AND count_if(event_type = 'login') >= 1 AND count_if(event_type = 'payout') >= 1
   AND count_if(event_type IN ('password_reset', 'payout_change')) >= 1"""


def _structuring_candidates(spec: RuleSpec, input_view: str) -> str:
    return f"SELECT entity FROM {input_view} GROUP BY entity HAVING count(*) >= {spec.num('min_deposits')}"


def _out_of_range_candidates(spec: RuleSpec, input_view: str) -> str:
    return f"SELECT entity FROM {input_view} GROUP BY entity HAVING count_if(oor) >= 1"


# -------------------------------------------------------------------------------------------------
# the registry
# -------------------------------------------------------------------------------------------------

def _gap(spec_param: str = "window_s") -> Callable[[RuleSpec, str, int, int], str]:
    def build(spec: RuleSpec, input_view: str, read_start_ms: int, horizon_ms: int) -> str:
        return _gap_certainty(input_view, read_start_ms, int(spec.params[spec_param]) * 1000)
    return build


BATCH_RULES: dict[str, BatchRule] = {
    r.rule_id: r for r in (
        BatchRule("card_testing", "payments", "window_s", _card_testing_input, _card_testing,
                  lambda s, v, rs, h: _always_certain(v, rs, h), _card_testing_candidates),
        BatchRule("velocity", "payments", "window_s", _velocity_input, _velocity, _velocity_certainty,
                  _velocity_candidates, uses_ttl=True, versions=frozenset({1, 2})),
        BatchRule("impossible_travel", "payments", None, _travel_input, _impossible_travel,
                  lambda s, v, rs, h: _always_certain(v, rs, h), _travel_candidates, uses_ttl=True),
        BatchRule("account_takeover", "payments", "window_s", _security_input, _account_takeover, _gap(),
                  _account_takeover_candidates),
        BatchRule("structuring", "payments", "window_s", _deposits_input, _structuring, _gap(),
                  _structuring_candidates),
        BatchRule("out_of_range", "iot", None, _readings_input, _out_of_range, _out_of_range_certainty,
                  _out_of_range_candidates, uses_ttl=True),
    )
}

#: Domains whose alerts the batch re-detects (completeness is checked for every domain).
ALERT_DOMAINS = tuple(sorted({r.domain for r in BATCH_RULES.values()}))

#: Margin for domains whose batch rules have no time window (state rules only).
DEFAULT_STATE_MARGIN_S = 600


def batch_rule(rule_id: str) -> BatchRule:
    try:
        return BATCH_RULES[rule_id]
    except KeyError:
        raise BatchRuleError(f"the batch cannot re-detect rule {rule_id!r} "
                             f"(it can: {', '.join(sorted(BATCH_RULES))})") from None


def specs_for(domain: str, specs: Iterable[RuleSpec]) -> list[RuleSpec]:
    return [s for s in specs if s.domain == domain and s.rule_id in BATCH_RULES]


def default_margin_s(specs: Iterable[RuleSpec]) -> int:
    """Enough history for every rule (``BatchRule.history_s``), at least ``DEFAULT_STATE_MARGIN_S``."""
    return max([DEFAULT_STATE_MARGIN_S, *(batch_rule(s.rule_id).history_s(s) for s in specs)])


def rule_specs_from_catalog(catalog: Any, domains: Iterable[str], rules: Iterable[str] | None = None) -> list[RuleSpec]:
    """The batch-capable rules of ``domains`` from a loaded ``include.patternalarm.rules.Catalog``
    (parameters: the domain's values, e.g. the IoT sensor ranges, then the rule's own)."""
    wanted = set(rules) if rules else None
    if wanted:
        for rule_id in wanted:
            batch_rule(rule_id)
    specs = []
    for rule in catalog.rules.values():
        if rule.domain not in domains or rule.id not in BATCH_RULES:
            continue
        if wanted is not None and rule.id not in wanted:
            continue
        if int(rule.version) not in BATCH_RULES[rule.id].versions:
            # e.g. out_of_range v2 (adaptive episodes in a Java function): a SQL twin would be a second
            # implementation to keep in step, so the batch re-detects only the versions it implements
            if wanted is not None:
                raise BatchRuleError(
                    f"the batch re-detects {rule.id} version(s) {sorted(BATCH_RULES[rule.id].versions)}, "
                    f"the catalog has version {rule.version}")
            continue
        domain_values = catalog.domains[rule.domain].values if rule.domain in catalog.domains else {}
        params = {**domain_values, **rule.values}
        if BATCH_RULES[rule.id].uses_ttl:
            params["state_ttl_s"] = int(catalog.job_values.get("state_ttl_min", 15)) * 60
        specs.append(RuleSpec(rule_id=rule.id, version=int(rule.version), domain=rule.domain,
                              severity=rule.severity, params=params))
    return specs
