# ruff: noqa: S608 - SQL text from validated identifiers (domains, view names) and numbers only
"""Spark SQL of the reconciliation (text only: no pyspark here, so it is rendered and unit-tested
without a Spark session). The Spark job registers the views named in each docstring and runs it.

Views the job provides:
- ``raw_<domain>``: the domain topic's records of the read window: ``p`` (partition), ``o`` (offset),
  ``kafka_ts_ms`` (record timestamp), ``raw`` (the value as UTF-8 text);
- ``late_<domain>``: ``p``, ``o`` of the records the stream wrote to ``events.late``;
- ``metrics``: the ``detection.metrics`` records (``raw``) read from the range start on;
- ``stream_<domain>``: candidate alerts of the ``alerts`` table (JDBC).
"""

from __future__ import annotations

from include.patternalarm.batch.rules import RuleSpec, batch_rule

#: Fields the batch validation reads, per domain (mirrors include/flink/<domain>/00_parse.sql).
PARSE_FIELDS = {
    "payments": ("event_id", "event_time", "domain", "event_type", "card_id", "account_id", "amount", "channel",
                 "lat", "lon"),
    "iot": ("event_id", "event_time", "domain", "device_id", "event_type", "sensor_type", "value", "battery_pct"),
}

_PAYMENT_TYPES = ("auth", "capture", "refund", "login", "login_failed", "password_reset", "payout_change", "payout",
                  "deposit")

#: event_time as epoch ms: 10–16 digits are epoch milliseconds, otherwise ISO-8601 UTC
#: (``Z`` / ``+00:00`` stripped, optional milliseconds), exactly as the Flink jobs parse it.
EVENT_TIME_MS = """CASE WHEN {col} RLIKE '^[0-9]{{10,16}}$' THEN try_cast({col} AS BIGINT)
       ELSE unix_millis(try_to_timestamp(regexp_replace({col}, 'Z$|[+]00:?00$', ''),
                                         "yyyy-MM-dd'T'HH:mm:ss[.SSS]")) END"""


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _number_check(field: str) -> str:
    return f"WHEN f_{field} IS NOT NULL AND try_cast(f_{field} AS DOUBLE) IS NULL THEN 'wrong_type:{field}'"


def _reason(domain: str, max_event_bytes: int, max_future_skew_s: int) -> str:
    head = f"""CASE
    WHEN raw IS NULL THEN 'malformed_json'
    WHEN char_length(raw) > {int(max_event_bytes)} THEN 'oversized'
    WHEN json_object_keys(raw) IS NULL THEN 'malformed_json'
    WHEN f_event_id IS NULL THEN 'missing_field:event_id'
    WHEN f_event_time IS NULL THEN 'missing_field:event_time'
    WHEN f_domain IS NULL THEN 'missing_field:domain'
    WHEN f_domain <> '{domain}' THEN 'unknown_domain'"""
    if domain == "payments":
        body = f"""
    WHEN f_event_type IS NULL THEN 'missing_field:event_type'
    WHEN f_event_type NOT IN ({_in(_PAYMENT_TYPES)}) THEN 'wrong_type:event_type'
    WHEN f_account_id IS NULL AND f_card_id IS NULL THEN 'missing_field:account_id'
    {_number_check('amount')}
    {_number_check('lat')}
    {_number_check('lon')}"""
    elif domain == "iot":  # sensor_type: any name of 1-64 characters (the schema; catalog v3's format)
        body = f"""
    WHEN f_device_id IS NULL THEN 'missing_field:device_id'
    WHEN f_event_type IS NULL THEN 'missing_field:event_type'
    WHEN f_event_type NOT IN ('reading', 'heartbeat') THEN 'wrong_type:event_type'
    WHEN f_sensor_type IS NOT NULL AND char_length(f_sensor_type) NOT BETWEEN 1 AND 64 THEN 'wrong_type:sensor_type'
    {_number_check('value')}
    {_number_check('battery_pct')}"""
    else:
        raise ValueError(f"no batch validation for domain {domain!r}")
    tail = f"""
    WHEN parsed_ts_ms IS NULL THEN 'bad_event_time'
    WHEN parsed_ts_ms > kafka_ts_ms + {int(max_future_skew_s) * 1000} THEN 'bad_event_time'
  END"""
    return head + body + tail


def parse_sql(domain: str, raw_view: str, *, max_event_bytes: int, max_future_skew_s: int) -> str:
    """Every record of ``raw_view`` validated like the stream validates it: ``reason`` is NULL for a
    valid event, else the dead-letter reason; ``ts_ms`` is its event time, ``kafka_minute_ms`` the
    minute of its record timestamp."""
    if domain not in PARSE_FIELDS:
        raise ValueError(f"no batch validation for domain {domain!r} (only {', '.join(PARSE_FIELDS)})")
    fields = PARSE_FIELDS[domain]
    aliases = ", ".join(f"f_{f}" for f in fields)
    names = ", ".join(f"'{f}'" for f in fields)
    if domain == "payments":
        columns = """f_event_type AS event_type, f_card_id AS card_id, f_account_id AS account_id,
       try_cast(f_amount AS DOUBLE) AS amount, f_channel AS channel,
       try_cast(f_lat AS DOUBLE) AS lat, try_cast(f_lon AS DOUBLE) AS lon"""
    else:
        columns = """f_device_id AS device_id, f_event_type AS event_type, f_sensor_type AS sensor_type,
       try_cast(f_value AS DOUBLE) AS reading"""
    return f"""
SELECT p, o, kafka_ts_ms, kafka_ts_ms - pmod(kafka_ts_ms, 60000) AS kafka_minute_ms,
       {_reason(domain, max_event_bytes, max_future_skew_s)} AS reason,
       f_event_id AS id, parsed_ts_ms AS ts_ms,
       {columns}
FROM (
  SELECT *, {EVENT_TIME_MS.format(col='f_event_time')} AS parsed_ts_ms
  FROM (
    SELECT p, o, kafka_ts_ms, raw, jt.*
    FROM {raw_view} LATERAL VIEW OUTER json_tuple(raw, {names}) jt AS {aliases}
  ) j
) t
"""


def rule_events_sql(parsed_view: str, late_view: str) -> str:
    """What the stream's rules saw: valid events, not written to events.late, each event_id once
    (the first copy in event-time order)."""
    return f"""
SELECT * EXCEPT (copy_no) FROM (
  SELECT e.*, row_number() OVER (PARTITION BY e.id ORDER BY e.ts_ms, e.p, e.o) AS copy_no
  FROM {parsed_view} e LEFT ANTI JOIN {late_view} l ON e.p = l.p AND e.o = l.o
  WHERE e.reason IS NULL
) WHERE copy_no = 1
"""


def metrics_sql(metrics_raw_view: str) -> str:
    """``detection.metrics`` records (docs/contracts.md): per domain and record-timestamp minute."""
    return f"""
SELECT domain, {EVENT_TIME_MS.format(col='minute')} AS minute_ms,
       coalesce(try_cast(processed AS BIGINT), 0) AS processed,
       coalesce(try_cast(dead_lettered AS BIGINT), 0) AS dead_lettered,
       coalesce(try_cast(late AS BIGINT), 0) AS late,
       coalesce(try_cast(duplicates AS BIGINT), 0) AS duplicates
FROM (
  SELECT jt.* FROM {metrics_raw_view}
  LATERAL VIEW OUTER json_tuple(raw, 'domain', 'minute', 'processed', 'dead_lettered', 'late', 'duplicates') jt
    AS domain, minute, processed, dead_lettered, late, duplicates
) j
WHERE domain IS NOT NULL AND minute IS NOT NULL
"""


def completeness_sql(domain: str, records_view: str, metrics_view: str, start_ms: int, end_ms: int,
                     *, validated: bool) -> str:
    """Per minute of the range: records in the topic vs what the detection job reported.

    ``records_view`` has ``kafka_ts_ms``, ``kafka_minute_ms`` and (when ``validated``) ``reason``.
    status: ok (every record accounted for) · missing (fewer reported: events lost or not yet
    processed) · no_metrics (records but no report at all) · excess (more reported than received,
    e.g. counted twice after a restart).
    """
    invalid = "count_if(reason IS NOT NULL)" if validated else "CAST(NULL AS BIGINT)"
    return f"""
SELECT '{domain}' AS domain, m.minute_ms,
       coalesce(t.topic_records, 0) AS topic_records,
       coalesce(r.processed, 0) AS processed, coalesce(r.dead_lettered, 0) AS dead_lettered,
       coalesce(r.late, 0) AS late, coalesce(r.duplicates, 0) AS duplicates,
       coalesce(r.reported_total, 0) AS reported_total, coalesce(r.metrics_records, 0) AS metrics_records,
       {'coalesce(t.batch_invalid, 0)' if validated else 'CAST(NULL AS BIGINT)'} AS batch_invalid,
       CASE WHEN coalesce(t.topic_records, 0) = coalesce(r.reported_total, 0) THEN 'ok'
            WHEN r.metrics_records IS NULL THEN 'no_metrics'
            WHEN r.reported_total < coalesce(t.topic_records, 0) THEN 'missing'
            ELSE 'excess' END AS status
FROM (
  SELECT explode(sequence(CAST({int(start_ms)} AS BIGINT), CAST({int(end_ms) - 60000} AS BIGINT), 60000L)) AS minute_ms
) m
LEFT JOIN (
  SELECT kafka_minute_ms AS minute_ms, count(*) AS topic_records, {invalid} AS batch_invalid
  FROM {records_view}
  WHERE kafka_ts_ms >= {int(start_ms)} AND kafka_ts_ms < {int(end_ms)}
  GROUP BY kafka_minute_ms
) t ON t.minute_ms = m.minute_ms
LEFT JOIN (
  SELECT minute_ms, count(*) AS metrics_records, sum(processed) AS processed, sum(dead_lettered) AS dead_lettered,
         sum(late) AS late, sum(duplicates) AS duplicates,
         sum(processed + dead_lettered + late + duplicates) AS reported_total
  FROM {metrics_view}
  WHERE domain = '{domain}' AND minute_ms >= {int(start_ms)} AND minute_ms < {int(end_ms)}
  GROUP BY minute_ms
) r ON r.minute_ms = m.minute_ms
ORDER BY m.minute_ms
"""


def escaped_id_part(column: str) -> str:
    """Spark SQL for one escaped part of the alert id (``include.patternalarm.alerts.escape_id_part``):
    every backslash doubled, then every ``|`` preceded by a backslash (string literals here use
    backslash escapes, so ``'\\\\'`` is one backslash)."""
    return rf"replace(replace({column}, '\\', '\\\\'), '|', '\\|')"


def matches_sql(spec: RuleSpec, input_view: str) -> str:
    """The rule's matches over ``input_view`` (pre-filtered to the entities that can match) with
    their ``alert_id``: sha256 of the escaped ``rule_id|rule_version|entity|first matched event id``
    (rule ids and versions never contain ``|`` or a backslash: ``RuleSpec`` validates them)."""
    rule = batch_rule(spec.rule_id)
    return f"""
SELECT '{spec.rule_id}' AS rule_id, {int(spec.version)} AS rule_version, m.entity,
       sha2(concat_ws('|', '{spec.rule_id}', '{int(spec.version)}', {escaped_id_part("m.entity")},
                      {escaped_id_part("m.first_id")}), 256) AS alert_id,
       m.first_id, m.first_ts_ms, m.last_id, m.last_ts_ms, m.last_kafka_ts_ms, m.n
FROM ({rule.detect_sql(spec, rule.candidate_input_sql(spec, input_view))}) m
"""


def batch_alerts_sql(matches_view: str, certainty_view: str) -> str:
    """Every rule's matches with whether the batch is certain of them (``certainty_view``: rule_id,
    id, certain — computed for the entities that have an alert on either side)."""
    return f"""
SELECT m.*, coalesce(c.certain, true) AS certain
FROM {matches_view} m LEFT JOIN {certainty_view} c ON c.rule_id = m.rule_id AND c.id = m.last_id
"""


def relevant_input_sql(input_view: str, rule_id: str, entities_view: str) -> str:
    """A rule's input restricted to the entities of ``entities_view`` (rule_id, entity)."""
    return f"""
SELECT i.* FROM {input_view} i
LEFT SEMI JOIN (SELECT entity FROM {entities_view} WHERE rule_id = '{rule_id}') r ON i.entity = r.entity
"""


def stream_scope_sql(stream_view: str, events_view: str, certainty_view: str) -> str:
    """Stream alerts located in the read window through the events their evidence cites: the
    completing event is the latest cited event found (``diff_sql`` also requires its event time to be
    the alert's ``last_event_time``, so an alert of other traffic that reuses event ids — a
    simulation replayed with the same seed — is not attributed to this window).

    ``events_view`` holds the rule events (``id``, ``ts_ms``, ``p``, ``o``, ``kafka_ts_ms``);
    ``certainty_view`` holds (``rule_id``, ``id``, ``certain``) of every rule's input events.
    """
    return f"""
SELECT l.*, coalesce(k.certain, true) AS certain
FROM (
  SELECT c.alert_id, first(c.rule_id) AS rule_id, first(c.rule_version) AS rule_version,
         first(c.entity) AS entity, first(c.detected_at_ms) AS detected_at_ms,
         first(c.first_event_ms) AS first_event_ms, first(c.last_event_ms) AS last_event_ms,
         coalesce(first(c.cited), 0) AS cited, count(e.id) AS found,
         min_by(e.id, struct(e.ts_ms, e.p, e.o)) AS first_found_id,
         max_by(named_struct('id', e.id, 'ts_ms', e.ts_ms, 'kafka_ts_ms', e.kafka_ts_ms),
                struct(e.ts_ms, e.p, e.o)) AS completing
  FROM (
    SELECT s.alert_id, s.rule_id, s.rule_version, s.entity, s.detected_at_ms, s.first_event_ms, s.last_event_ms,
           size(s.event_ids) AS cited, x.eid
    FROM {stream_view} s LATERAL VIEW OUTER explode(s.event_ids) x AS eid
  ) c LEFT JOIN {events_view} e ON e.id = c.eid
  GROUP BY c.alert_id
) l LEFT JOIN {certainty_view} k ON k.rule_id = l.rule_id AND k.id = l.completing.id
"""


def diff_sql(domain: str, batch_view: str, stream_view: str, start_ms: int, end_ms: int) -> str:
    """matched / missed (batch only) / spurious (stream only) / edge (a difference the read window
    cannot settle) for every alert whose completing event was received in ``[start, end)``.
    ``stream_view`` is the output of ``stream_scope_sql``."""
    s, e = int(start_ms), int(end_ms)
    return f"""
SELECT '{domain}' AS domain,
       coalesce(ba.rule_id, sa.rule_id) AS rule_id,
       coalesce(ba.rule_version, sa.rule_version) AS rule_version,
       coalesce(ba.entity, sa.entity) AS entity,
       ids.alert_id,
       CASE WHEN ba.alert_id IS NOT NULL AND sa.alert_id IS NOT NULL THEN 'matched'
            WHEN ba.alert_id IS NOT NULL THEN IF(ba.certain, 'missed', 'edge')
            WHEN sa.found = 0 THEN 'spurious'
            WHEN sa.found < sa.cited OR NOT sa.certain THEN 'edge'
            ELSE 'spurious' END AS outcome,
       CASE WHEN ba.alert_id IS NOT NULL AND sa.alert_id IS NOT NULL THEN 'both'
            WHEN ba.alert_id IS NOT NULL THEN 'batch' ELSE 'stream' END AS side,
       coalesce(ba.first_id, sa.first_found_id) AS first_event_id,
       coalesce(ba.last_id, sa.completing.id) AS completing_event_id,
       coalesce(ba.first_ts_ms, sa.first_event_ms) AS first_event_ms,
       coalesce(ba.last_ts_ms, sa.last_event_ms) AS last_event_ms,
       coalesce(ba.last_kafka_ts_ms, sa.completing.kafka_ts_ms) AS received_ms,
       to_json(named_struct(
         'reason', CASE WHEN ba.alert_id IS NOT NULL AND sa.alert_id IS NOT NULL THEN 'same alert_id'
                        WHEN ba.alert_id IS NOT NULL AND ba.certain THEN 'the stream has no alert with this id'
                        WHEN ba.alert_id IS NOT NULL
                          THEN 'batch-only, but the state before the read window may have prevented it'
                        WHEN sa.found = 0 THEN 'none of the cited events is in the topic'
                        WHEN sa.found < sa.cited THEN 'the pattern started before the read window'
                        WHEN NOT sa.certain
                          THEN 'stream-only, but the state before the read window may explain it'
                        ELSE 'the batch finds no such match' END,
         'batch_events', ba.n, 'cited_events', sa.cited, 'found_events', sa.found,
         'detected_at_ms', sa.detected_at_ms)) AS detail
FROM (
  SELECT alert_id FROM {batch_view} WHERE last_kafka_ts_ms >= {s} AND last_kafka_ts_ms < {e}
  UNION
  SELECT alert_id FROM {stream_view}
  WHERE (completing.kafka_ts_ms >= {s} AND completing.kafka_ts_ms < {e} AND completing.ts_ms = last_event_ms)
     OR (found = 0 AND detected_at_ms >= {s} AND detected_at_ms < {e})
) ids
LEFT JOIN {batch_view} ba ON ba.alert_id = ids.alert_id
LEFT JOIN {stream_view} sa ON sa.alert_id = ids.alert_id
"""
