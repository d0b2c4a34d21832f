"""Batch validation, completeness and the alert diff, on small in-memory views."""

from __future__ import annotations

import json
from typing import Any

import pytest

from include.patternalarm.batch.sql import (
    completeness_sql,
    diff_sql,
    metrics_sql,
    parse_sql,
    rule_events_sql,
    stream_scope_sql,
)

T0 = 1_800_000_000_000  # a whole minute (epoch ms)
ISO_T0 = "2027-01-15T08:00:00.000Z"
assert T0 % 60_000 == 0


def _payment(**overrides: Any) -> str:
    event = {"event_id": "e1", "event_time": ISO_T0, "domain": "payments", "card_id": "c1", "account_id": "a1",
             "event_type": "auth", "amount": 12.5, "currency": "EUR", "channel": "ecommerce", "lat": None, "lon": None}
    event.update(overrides)
    return json.dumps({k: v for k, v in event.items() if v is not ...})


def _parse(spark: Any, domain: str, raws: list[str | None], kafka_ts_ms: int = T0) -> list[Any]:
    rows = [(0, i, kafka_ts_ms, raw) for i, raw in enumerate(raws)]
    spark.createDataFrame(rows, "p INT, o BIGINT, kafka_ts_ms BIGINT, raw STRING").createOrReplaceTempView("t_raw")
    return spark.sql(parse_sql(domain, "t_raw", max_event_bytes=2048, max_future_skew_s=300)).orderBy("o").collect()


@pytest.mark.parametrize(("raw", "reason"), [
    (_payment(), None),
    (_payment(event_time=T0), None),                                       # epoch milliseconds
    (_payment(event_time="2027-01-15T08:00:00Z"), None),                   # no milliseconds
    (_payment(event_time="2027-01-15T08:00:00.000+00:00"), None),
    (_payment(card_id=None), None),                                        # account event
    (None, "malformed_json"),
    (_payment()[:40], "malformed_json"),
    ("[1, 2]", "malformed_json"),
    (_payment(blob="x" * 3000), "oversized"),
    (_payment(event_id=None), "missing_field:event_id"),
    (_payment(event_time=...), "missing_field:event_time"),
    (_payment(domain="iot"), "unknown_domain"),
    (_payment(event_type="refundish"), "wrong_type:event_type"),
    (_payment(card_id=None, account_id=None), "missing_field:account_id"),
    (_payment(amount="12,50"), "wrong_type:amount"),
    (_payment(lat="north"), "wrong_type:lat"),
    (_payment(event_time="15/01/2027 08:00:00"), "bad_event_time"),
    (_payment(event_time="2027-01-15T08:05:01.000Z"), "bad_event_time"),   # > 300 s ahead of Kafka
    (_payment(event_time="2027-01-15T08:05:00.000Z"), None),               # exactly 300 s: accepted
])
def test_payments_validation_matches_the_stream(spark, raw, reason) -> None:
    [row] = _parse(spark, "payments", [raw])
    assert row["reason"] == reason
    if reason is None:
        assert row["ts_ms"] is not None and row["id"] == "e1"


def test_payments_fields_are_typed(spark) -> None:
    [row] = _parse(spark, "payments", [_payment(amount=12.5, lat=48.85, lon="2.35")])
    assert (row["amount"], row["lat"], row["lon"], row["ts_ms"]) == (12.5, 48.85, 2.35, T0)
    assert row["kafka_minute_ms"] == T0


@pytest.mark.parametrize(("overrides", "reason"), [
    ({}, None),
    ({"device_id": None}, "missing_field:device_id"),
    ({"event_type": "blink"}, "wrong_type:event_type"),
    ({"sensor_type": "s" * 65}, "wrong_type:sensor_type"),
    ({"sensor_type": "machine_temperature"}, None),  # any name: no range, but valid
    ({"value": "hot"}, "wrong_type:value"),
    ({"battery_pct": "full"}, "wrong_type:battery_pct"),
    ({"event_type": "heartbeat", "sensor_type": None, "value": None}, None),
])
def test_iot_validation(spark, overrides, reason) -> None:
    event = {"event_id": "i1", "event_time": ISO_T0, "domain": "iot", "device_id": "d1", "event_type": "reading",
             "sensor_type": "temperature", "value": 21.5, "unit": "C", "battery_pct": 80}
    event.update(overrides)
    [row] = _parse(spark, "iot", [json.dumps(event)])
    assert row["reason"] == reason
    if reason is None and event["value"] is not None:
        assert row["reading"] == 21.5


def test_rule_events_drop_late_invalid_and_duplicates(spark) -> None:
    raws = [_payment(event_id="a"), _payment(event_id="a"), _payment(event_id="b"), _payment(event_id="c", amount="x")]
    _parse(spark, "payments", raws)  # leaves t_raw
    spark.sql(parse_sql("payments", "t_raw", max_event_bytes=2048, max_future_skew_s=300)) \
        .createOrReplaceTempView("t_parsed")
    spark.createDataFrame([(0, 2)], "p INT, o BIGINT").createOrReplaceTempView("t_late")  # "b" was late
    rows = spark.sql(rule_events_sql("t_parsed", "t_late")).collect()
    assert [(r["id"], r["o"]) for r in rows] == [("a", 0)]


def test_completeness_per_minute(spark) -> None:
    records = [(T0 + 1_000, None), (T0 + 2_000, "malformed_json"), (T0 + 60_000, None), (T0 + 120_000, None),
               (T0 + 180_000, None), (T0 - 1, None)]
    spark.createDataFrame([(ts, ts - ts % 60_000, r) for ts, r in records],
                          "kafka_ts_ms BIGINT, kafka_minute_ms BIGINT, reason STRING").createOrReplaceTempView("t_rec")
    metrics = [
        {"domain": "payments", "minute": ISO_T0, "processed": 1, "dead_lettered": 1, "late": 0, "duplicates": 0},
        {"domain": "payments", "minute": "2027-01-15T08:01:00.000Z", "processed": 0, "dead_lettered": 0, "late": 0,
         "duplicates": 0},  # minute 1 reported 0 of 1
        # minute 2: two records that sum up (several records per minute are fine)
        {"domain": "payments", "minute": T0 + 120_000, "processed": 0, "late": 1, "dead_lettered": 0, "duplicates": 0},
        {"domain": "payments", "minute": T0 + 120_000, "processed": 1, "late": 0, "dead_lettered": 0, "duplicates": 0},
        {"domain": "iot", "minute": ISO_T0, "processed": 5, "dead_lettered": 0, "late": 0, "duplicates": 0},
        {"domain": "payments", "minute": T0 + 240_000, "processed": 3, "dead_lettered": 0, "late": 0, "duplicates": 0},
    ]
    spark.createDataFrame([(json.dumps(m),) for m in metrics] + [("garbage",)], "raw STRING") \
        .createOrReplaceTempView("t_metrics_raw")
    spark.sql(metrics_sql("t_metrics_raw")).createOrReplaceTempView("t_metrics")
    rows = spark.sql(completeness_sql("payments", "t_rec", "t_metrics", T0, T0 + 300_000, validated=True)).collect()
    got = [(r["minute_ms"] - T0, r["topic_records"], r["reported_total"], r["batch_invalid"], r["status"])
           for r in rows]
    assert got == [
        (0, 2, 2, 1, "ok"),
        (60_000, 1, 0, 0, "missing"),
        (120_000, 1, 2, 0, "excess"),
        (180_000, 1, 0, 0, "no_metrics"),
        (240_000, 0, 3, 0, "excess"),
    ]


def test_diff_outcomes(spark) -> None:
    start, end = T0, T0 + 3_600_000
    batch = [  # rule_id, version, entity, alert_id, first, last, completing kafka ts, certain
        ("velocity", 1, "c1", "A" * 64, "e1", "e5", start + 10, True),      # both sides: matched
        ("velocity", 1, "c2", "B" * 64, "e6", "e9", start + 20, True),      # batch only: missed
        ("velocity", 1, "c3", "C" * 64, "e10", "e11", start + 30, False),   # batch only, uncertain: edge
        ("velocity", 1, "c4", "D" * 64, "e12", "e13", start - 10, True),    # completes before the range
    ]
    spark.createDataFrame(
        [(r, v, ent, a, f, f_ts, last, last_ts, k, 5, c) for (r, v, ent, a, f, last, k, c), f_ts, last_ts
         in zip(batch, range(len(batch)), range(len(batch)), strict=True)],
        "rule_id STRING, rule_version INT, entity STRING, alert_id STRING, first_id STRING, first_ts_ms BIGINT, "
        "last_id STRING, last_ts_ms BIGINT, last_kafka_ts_ms BIGINT, n INT, certain BOOLEAN",
    ).createOrReplaceTempView("t_batch")
    events = [(i, start + 5 * i) for i in range(1, 20)]
    spark.createDataFrame([(f"e{i}", ts, ts, 0, i, ts) for i, ts in events],
                          "id STRING, ts_ms BIGINT, kafka_ts_ms BIGINT, p INT, o BIGINT, x BIGINT") \
        .createOrReplaceTempView("t_events")
    spark.createDataFrame([("velocity", "e16", False)], "rule_id STRING, id STRING, certain BOOLEAN") \
        .createOrReplaceTempView("t_cert")
    stream = [  # alert_id, entity, cited event ids, detected_at
        ("A" * 64, "c1", ["e1", "e2", "e3", "e4", "e5"], start + 100),
        ("E" * 64, "c5", ["e14", "e15"], start + 100),              # stream only: spurious
        ("F" * 64, "c6", ["zz-before-window", "e16"], start + 100),  # started before the read window: edge
        ("G" * 64, "c7", ["e17", "e16"], start + 100),               # completing e17 certain: spurious
        ("H" * 64, "c8", ["nowhere-1"], start + 100),                # cites nothing known, detected in range
        ("I" * 64, "c9", ["nowhere-2"], end + 100),                  # …detected after the range: not judged
        ("J" * 64, "c10", ["e18", "e19"], end + 100),                # other traffic reusing ids: other times
    ]
    last_ms = {ids[-1]: ts for i, ts in events for ids in [[f"e{i}"]]}
    spark.createDataFrame(
        [(a, "velocity", 1, ent, det, start, last_ms.get(ids[0] if a[0] == "G" else ids[-1], start)
          + (7 if a[0] == "J" else 0), ids) for a, ent, ids, det in stream],
        "alert_id STRING, rule_id STRING, rule_version INT, entity STRING, detected_at_ms BIGINT, "
        "first_event_ms BIGINT, last_event_ms BIGINT, event_ids ARRAY<STRING>",
    ).createOrReplaceTempView("t_stream_raw")
    spark.sql(stream_scope_sql("t_stream_raw", "t_events", "t_cert")).createOrReplaceTempView("t_stream")
    rows = spark.sql(diff_sql("payments", "t_batch", "t_stream", start, end)).collect()
    got = {r["alert_id"][0]: (r["outcome"], r["side"]) for r in rows}
    assert got == {
        "A": ("matched", "both"), "B": ("missed", "batch"), "C": ("edge", "batch"), "E": ("spurious", "stream"),
        "F": ("edge", "stream"), "G": ("spurious", "stream"), "H": ("spurious", "stream"),
    }
    g = next(r for r in rows if r["alert_id"][0] == "G")
    assert g["completing_event_id"] == "e17" and g["first_event_id"] == "e16"
    assert json.loads(next(r for r in rows if r["alert_id"][0] == "H")["detail"])["found_events"] == 0
