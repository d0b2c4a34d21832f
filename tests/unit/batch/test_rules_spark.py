"""The batch re-detection SQL on hand-made event sequences (docs/rules.md: fires, near misses, the
window boundary, AFTER MATCH SKIP PAST LAST ROW, certainty at the read-window edge)."""

from __future__ import annotations

from typing import Any

import pytest

from include.patternalarm.batch.rules import BATCH_RULES, RuleSpec
from include.patternalarm.batch.sql import batch_alerts_sql, matches_sql

CATALOG_V1 = {
    "card_testing": {"small_amount_max": 2.0, "min_small_auths": 3, "large_amount_min": 500.0, "window_s": 60},
    "velocity": {"max_auths": 4, "max_amount": 2500.0, "window_s": 60, "state_ttl_s": 300},
    "impossible_travel": {"max_speed_kmh": 900.0, "min_distance_km": 15.0, "state_ttl_s": 300},
    "account_takeover": {"min_failed_logins": 3, "window_s": 1800},
    "structuring": {"reporting_threshold": 10000.0, "band_pct": 10.0, "min_deposits": 3, "window_s": 600},
    "out_of_range": {"temperature_min": -50.0, "temperature_max": 150.0, "humidity_min": 0.0, "humidity_max": 100.0,
                     "pressure_min": 800.0, "pressure_max": 1200.0, "vibration_min": 0.0, "vibration_max": 100.0,
                     "power_min": 0.0, "power_max": 10000.0, "state_ttl_s": 300},
}
T0 = 1_800_000_000_000  # epoch ms
SCHEMA = ("p INT, o BIGINT, kafka_ts_ms BIGINT, id STRING, ts_ms BIGINT, event_type STRING, card_id STRING, "
          "account_id STRING, amount DOUBLE, channel STRING, lat DOUBLE, lon DOUBLE, device_id STRING, "
          "sensor_type STRING, reading DOUBLE")
_DOUBLES = {"amount", "lat", "lon", "reading"}
PARIS, NEW_YORK = (48.8566, 2.3522), (40.7128, -74.0060)


class Seq:
    """Events of one test, in offsets order; times in seconds after T0."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, at_s: float, **fields: Any) -> str:
        n = len(self.rows)
        event_id = fields.pop("id", f"e{n}")
        ts = T0 + round(at_s * 1000)
        row = {"p": 0, "o": n, "kafka_ts_ms": ts, "id": event_id, "ts_ms": ts, "event_type": None, "card_id": None,
               "account_id": None, "amount": None, "channel": None, "lat": None, "lon": None, "device_id": None,
               "sensor_type": None, "reading": None}
        row.update({k: float(v) if isinstance(v, int) and k in _DOUBLES else v for k, v in fields.items()})
        self.rows.append(row)
        return event_id

    def auth(self, at_s: float, amount: float | None, card: str = "c1", **fields: Any) -> str:
        return self.add(at_s, event_type="auth", card_id=card, account_id=f"a-{card}", amount=amount,
                        channel=fields.pop("channel", "ecommerce"), **fields)

    def sec(self, at_s: float, event_type: str, account: str = "a1", amount: float | None = None) -> str:
        return self.add(at_s, event_type=event_type, account_id=account, amount=amount)

    def reading(self, at_s: float, value: float, sensor: str = "temperature", device: str = "d1") -> str:
        return self.add(at_s, event_type="reading", device_id=device, sensor_type=sensor, reading=value)


def detect(spark: Any, rule_id: str, seq: Seq, *, read_start_ms: int = T0 - 3_600_000,
           horizon_ms: int = 600_000, **params: Any) -> list[tuple[str, str, bool]]:
    """(first event id, completing event id, certain) of every match, in completion order."""
    spec = RuleSpec(rule_id=rule_id, version=1, domain=BATCH_RULES[rule_id].domain, severity="high",
                    params={**CATALOG_V1[rule_id], **params})
    rule = BATCH_RULES[rule_id]
    spark.createDataFrame(seq.rows, SCHEMA).createOrReplaceTempView("t_events")
    spark.sql(rule.input_sql(spec, "t_events")).createOrReplaceTempView("t_input")
    spark.sql(matches_sql(spec, "t_input")).createOrReplaceTempView("t_matches")
    spark.sql(rule.certainty_sql(spec, "t_input", read_start_ms, horizon_ms)) \
        .selectExpr(f"'{rule_id}' AS rule_id", "id", "certain").createOrReplaceTempView("t_cert")
    rows = spark.sql(batch_alerts_sql("t_matches", "t_cert")).orderBy("last_ts_ms", "first_ts_ms").collect()
    # the pre-filter only drops entities that cannot match: detection without it finds the same
    unfiltered = spark.sql(rule.detect_sql(spec, "t_input")).collect()
    assert sorted((r["first_id"], r["last_id"]) for r in unfiltered) == sorted((r["first_id"], r["last_id"])
                                                                               for r in rows)
    return [(r["first_id"], r["last_id"], r["certain"]) for r in rows]


def ids(matches: list[tuple[str, str, bool]]) -> list[tuple[str, str]]:
    return [(f, last) for f, last, _ in matches]


# ------------------------------------------------------------------------------------- card_testing

def test_card_testing_fires_on_three_small_then_large(spark) -> None:
    s = Seq()
    first = s.auth(0, 0.5)
    s.auth(5, 1.2)
    s.auth(10, 1.99)
    last = s.auth(20, 900.0)
    assert ids(detect(spark, "card_testing", s)) == [(first, last)]


def test_card_testing_earliest_alive_start_wins(spark) -> None:
    s = Seq()
    first = s.auth(0, 0.5)
    for t in (5, 10, 15):
        s.auth(t, 1.0)
    last = s.auth(20, 700.0)
    assert ids(detect(spark, "card_testing", s)) == [(first, last)]


@pytest.mark.parametrize("amounts_times", [
    [(0, 0.5), (5, 1.0), (20, 900.0)],                            # two small only
    [(0, 0.5), (5, 1.0), (10, 1.5), (20, 450.0)],                 # large not above 500
    [(0, 0.5), (25, 1.0), (50, 1.5), (65, 900.0)],                # first small 65 s before: out of the window
    [(0, 0.5), (5, 1.0), (8, 40.0), (10, 1.5), (20, 900.0)],      # the run is broken
    [(0, 0.5), (1, 1.0), (2, 1.5), (60, 900.0)],                  # exactly 60 s: WITHIN is strict
])
def test_card_testing_near_misses(spark, amounts_times) -> None:
    s = Seq()
    for t, amount in amounts_times:
        s.auth(t, amount)
    assert detect(spark, "card_testing", s) == []


def test_card_testing_ignores_captures_between_auths_and_other_cards(spark) -> None:
    s = Seq()
    first = s.auth(0, 0.5)
    s.add(1, event_type="capture", card_id="c1", amount=0.5)
    s.auth(2, 1.0)
    s.auth(3, 1.0, card="c2")
    s.auth(4, 1.5)
    last = s.auth(59.999, 900.0)
    assert ids(detect(spark, "card_testing", s)) == [(first, last)]


# ------------------------------------------------------------------------------------------ velocity

def test_velocity_fifth_auth_fires_once_per_burst(spark) -> None:
    s = Seq()
    got = [s.auth(t, 50.0) for t in range(0, 50, 5)]  # 10 auths, 5 s apart: one burst
    assert ids(detect(spark, "velocity", s)) == [(got[0], got[4])]


def test_velocity_fires_again_after_the_card_cooled_down(spark) -> None:
    s = Seq()
    first = [s.auth(t, 50.0) for t in range(0, 25, 5)]
    second = [s.auth(t, 50.0) for t in range(120, 145, 5)]  # back under the limits in between
    assert ids(detect(spark, "velocity", s)) == [(first[0], first[4]), (second[0], second[4])]


def test_velocity_amount_limit(spark) -> None:
    s = Seq()
    first = s.auth(0, 900.0)
    s.auth(10, 900.0)
    last = s.auth(20, 900.0)
    assert ids(detect(spark, "velocity", s)) == [(first, last)]


def test_velocity_window_is_inclusive(spark) -> None:
    s = Seq()
    got = [s.auth(t, 50.0) for t in (0, 15, 30, 45, 60)]  # first to fifth exactly 60 s
    assert ids(detect(spark, "velocity", s)) == [(got[0], got[4])]


@pytest.mark.parametrize("times_amounts", [
    [(0, 50), (10, 50), (20, 50), (30, 50)],                      # 4 auths in 30 s
    [(0, 50), (17, 50), (34, 50), (51, 50), (68, 50)],            # never 5 within 60 s
    [(0, 1200), (30, 1200)],                                      # 2,400
    [(0, 50), (15, 50), (30, 50), (45, 50), (60.001, 50)],        # 60.001 s
])
def test_velocity_near_misses(spark, times_amounts) -> None:
    s = Seq()
    for t, amount in times_amounts:
        s.auth(t, amount)
    assert detect(spark, "velocity", s) == []


def test_velocity_null_amount_counts_as_zero(spark) -> None:
    s = Seq()
    got = [s.auth(t, None) for t in (0, 1, 2, 3, 4)]
    assert ids(detect(spark, "velocity", s)) == [(got[0], got[4])]


@pytest.mark.parametrize(("gap_s", "alerts"), [(200, 1), (400, 2)])
def test_velocity_rising_edge_only_within_the_state_ttl(spark, gap_s, alerts) -> None:
    s = Seq()
    s.auth(0, 3000.0)
    s.auth(gap_s, 3000.0)  # hot again: a new alert only when the previous auth is beyond the TTL (300 s)
    assert len(detect(spark, "velocity", s)) == alerts


def test_velocity_certainty_at_the_read_window_start(spark) -> None:
    s = Seq()
    early = [s.auth(t, 50.0) for t in range(0, 45, 5)]      # a burst in the first minute of the window
    late = [s.auth(t, 50.0) for t in range(300, 325, 5)]    # another, well inside it
    got = detect(spark, "velocity", s, read_start_ms=T0)
    assert got == [(early[0], early[4], False), (late[0], late[4], True)]


# --------------------------------------------------------------------------------- impossible_travel

def test_impossible_travel_alerts_on_each_impossible_hop(spark) -> None:
    s = Seq()
    a = s.auth(0, 10.0, channel="card_present", lat=PARIS[0], lon=PARIS[1])
    b = s.auth(30, 10.0, channel="card_present", lat=NEW_YORK[0], lon=NEW_YORK[1])
    c = s.auth(60, 10.0, channel="atm", lat=PARIS[0], lon=PARIS[1])
    s.auth(65, 10.0, channel="atm", lat=PARIS[0] + 0.01, lon=PARIS[1])  # 1 km: fine
    assert ids(detect(spark, "impossible_travel", s)) == [(a, b), (b, c)]


@pytest.mark.parametrize("hops", [
    [(0, (48.8566, 2.3522)), (80, (48.8566 + 18 / 111.2, 2.3522))],   # 18 km in 80 s = 810 km/h
    [(0, (48.8566, 2.3522)), (2, (48.8566 + 8 / 111.2, 2.3522))],      # 8 km: below min distance
    [(0, (48.8566, 2.3522)), (400, (40.7128, -74.0060))],               # beyond the state TTL: not compared
])
def test_impossible_travel_near_misses(spark, hops) -> None:
    s = Seq()
    for t, (lat, lon) in hops:
        s.auth(t, 10.0, channel="card_present", lat=lat, lon=lon)
    assert detect(spark, "impossible_travel", s) == []


def test_impossible_travel_ignores_online_transactions(spark) -> None:
    s = Seq()
    s.auth(0, 10.0, channel="card_present", lat=PARIS[0], lon=PARIS[1])
    s.auth(30, 10.0, channel="ecommerce", lat=NEW_YORK[0], lon=NEW_YORK[1])
    assert detect(spark, "impossible_travel", s) == []


# ---------------------------------------------------------------------------------- account_takeover

def _takeover(s: Seq, start: float, account: str = "a1", failures: int = 3) -> tuple[str, str]:
    first = s.sec(start, "login_failed", account)
    for i in range(1, failures):
        s.sec(start + 5 * i, "login_failed", account)
    s.sec(start + 15, "login", account)
    s.sec(start + 30, "payout_change", account)
    last = s.sec(start + 45, "payout", account, amount=900.0)
    return first, last


def test_account_takeover_fires(spark) -> None:
    s = Seq()
    expected = _takeover(s, 0)
    assert ids(detect(spark, "account_takeover", s)) == [expected]


def test_account_takeover_with_other_events_between_and_four_failures(spark) -> None:
    s = Seq()
    first = s.sec(0, "login_failed")
    for t in (1, 2, 3):
        s.sec(t, "login_failed")
    s.sec(4, "login")
    s.sec(5, "payout", amount=10.0)      # a payout before the change: absorbed
    s.sec(6, "login_failed")
    s.sec(7, "password_reset")
    s.add(8, event_type="deposit", account_id="a1", amount=5.0)  # not a security event
    last = s.sec(9, "payout", amount=900.0)
    assert ids(detect(spark, "account_takeover", s)) == [(first, last)]


@pytest.mark.parametrize("steps", [
    ["login_failed", "login_failed", "login", "payout_change", "payout"],
    ["login_failed", "login_failed", "login_failed", "login", "password_reset"],
    ["login_failed", "login_failed", "login_failed", "login", "payout"],
    ["login_failed", "login_failed", "login", "login_failed", "login", "payout_change", "payout"],
])
def test_account_takeover_near_misses(spark, steps) -> None:
    s = Seq()
    for i, step in enumerate(steps):
        s.sec(5 * i, step)
    assert detect(spark, "account_takeover", s) == []


def test_account_takeover_window(spark) -> None:
    s = Seq()
    for t in (0, 5, 10):
        s.sec(t, "login_failed")
    s.sec(15, "login")
    s.sec(30, "payout_change")
    s.sec(1810, "payout")  # 1,810 s after the first failure
    assert detect(spark, "account_takeover", s) == []


def test_account_takeover_overlapping_attempts_alert_once(spark) -> None:
    s = Seq()
    first = s.sec(0, "login_failed")
    s.sec(1, "login_failed")
    s.sec(2, "login_failed")
    s.sec(3, "login")
    for t in (4, 5, 6):
        s.sec(t, "login_failed")
    s.sec(7, "login")
    s.sec(8, "payout_change")
    last = s.sec(9, "payout")
    assert ids(detect(spark, "account_takeover", s)) == [(first, last)]


# -------------------------------------------------------------------------------------- structuring

def test_structuring_fires_and_consumes_its_deposits(spark) -> None:
    s = Seq()
    got = [s.sec(20 * i, "deposit", amount=a) for i, a in enumerate((9500, 9800, 9200, 9100, 9900, 9300, 9400))]
    assert ids(detect(spark, "structuring", s)) == [(got[0], got[2]), (got[3], got[5])]


@pytest.mark.parametrize("amounts", [(9500, 9800, 10000), (8500, 8500, 8500), (9500, 5000, 9800)])
def test_structuring_near_misses(spark, amounts) -> None:
    s = Seq()
    for i, a in enumerate(amounts):
        s.sec(20 * i, "deposit", amount=a)
    assert detect(spark, "structuring", s) == []


def test_structuring_window_slides(spark) -> None:
    s = Seq()
    s.sec(0, "deposit", amount=9500)
    first = s.sec(100, "deposit", amount=9500)
    s.sec(650, "deposit", amount=9500)  # 650 s after the first: that start expired
    last = s.sec(660, "deposit", amount=9500)
    assert ids(detect(spark, "structuring", s)) == [(first, last)]


# ------------------------------------------------------------------------------------- out_of_range

def test_out_of_range_rising_edge_per_sensor(spark) -> None:
    s = Seq()
    for t in range(5):
        s.reading(t, 21.0 + t / 10)
    a = s.reading(5, 180.0)
    s.reading(6, 190.0)          # still out of range: same excursion
    s.reading(7, 21.0)
    b = s.reading(8, -60.0)      # a new excursion
    s.reading(9, 100.0, sensor="humidity")   # inclusive bound
    s.reading(10, 149.9)
    c = s.reading(11, 1300.0, sensor="pressure")
    s.reading(12, 5000.0, sensor="machine_temperature")  # a type without a range: never out of range
    got = detect(spark, "out_of_range", s)
    assert ids(got) == [(a, a), (b, b), (c, c)]


def test_out_of_range_compares_only_within_the_state_ttl(spark) -> None:
    s = Seq()
    a = s.reading(0, 180.0)
    b = s.reading(400, 190.0)  # the previous reading is beyond the TTL (300 s): a new excursion
    s.reading(500, 195.0)
    assert ids(detect(spark, "out_of_range", s)) == [(a, a), (b, b)]


def test_out_of_range_first_reading_in_window_is_uncertain_near_the_window_start(spark) -> None:
    s = Seq()
    s.reading(0, 180.0)
    assert detect(spark, "out_of_range", s, read_start_ms=T0 - 60_000)[0][2] is False
    assert detect(spark, "out_of_range", s, read_start_ms=T0 - 3_600_000)[0][2] is True
