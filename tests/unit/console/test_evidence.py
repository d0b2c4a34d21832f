"""Evidence pictures: each known rule's, the generic ones for new rules, and nothing unescaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patternalarm_airflow.console import evidence


def link(event_id: str) -> str:
    return f"../alerts/a/events#{event_id}"


def test_impossible_travel_draws_both_places_and_says_the_implied_speed() -> None:
    ev = {"event_ids": ["e1", "e2"], "distance_km": 1021.4, "speed_kmh": 122568.0,
          "from": {"lat": 48.8566, "lon": 2.3522}, "to": {"lat": 41.9028, "lon": 12.4964}}
    html = str(evidence.picture("impossible_travel", ev, {"max_speed_kmh": 900.0}, link))
    assert html.count("<circle") == 2 and "class=\"trip\"" in html
    assert ("A 48.8566, 2.3522 to B 41.9028, 12.4964: 1,021 km, implied speed 122,568 km/h (limit 900 km/h)"
            in html)


@pytest.mark.parametrize("bad", [{"from": {"lat": 95, "lon": 0}, "to": {"lat": 0, "lon": 0}}, {"from": "x"}, {}])
def test_impossible_travel_without_usable_places_has_no_picture(bad: dict) -> None:
    assert evidence.picture("impossible_travel", bad, {}, link) is None


def test_a_spike_is_drawn_against_its_baseline_and_threshold() -> None:
    html = str(evidence.picture("spike", {"value": 23.12, "mean": 19.49, "std": 0.4, "z": 9.07, "sensor_type": "t"},
                                {"z_threshold": 6.0}, link))
    assert "reading 23.12 is 9.1σ from the baseline 19.49 ± 0.4 (alerts beyond 6σ)" in html
    assert html.count('class="threshold"') == 2


def test_drift_uses_the_moving_average_and_the_baseline() -> None:
    ev = {"baseline_mean": 50.0, "baseline_std": 1.0, "moving_avg": 55.0, "sigma": 5.0, "sensor_type": "humidity"}
    html = str(evidence.picture("drift", ev, {"drift_sigma": 4.0}, link))
    assert "moving average 55 is 5.0σ from the baseline 50 ± 1" in html


def test_aimbot_shows_the_kill_series_linked_to_the_raw_events_and_both_figures() -> None:
    ev = {"event_ids": [f"k{i}" for i in range(10)], "kills": 10, "headshot_ratio": 0.9, "avg_reaction_ms": 95.5}
    html = str(evidence.picture("aimbot", ev, {"min_headshot_ratio": 0.8, "max_avg_reaction_ms": 150.0}, link))
    assert html.count('class="kill"') == 10 and 'href="../alerts/a/events#k9"' in html
    assert "10 kills, 9 headshots" in html
    assert "headshot ratio 0.9 (limit 0.8)" in html and "mean reaction 95.5 ms (limit 150 ms)" in html


def test_a_new_rule_with_a_score_and_a_baseline_gets_both_generic_pictures() -> None:
    ev = {"event_ids": ["e"], "score": 0.93, "z": 7.1, "value": 88.0, "baseline": 30.0}
    html = str(evidence.picture("adaptive_amount", ev, {}, link))
    assert "score 0.93" in html and "reading 88 is 7.1σ from the baseline 30" in html


def test_a_new_rule_without_known_figures_is_shown_as_its_key_values() -> None:
    ev = {"event_ids": ["e1"], "episode": {"id": 7, "state": "open"}, "ratio": 0.25, "flag": True}
    assert evidence.picture("brand_new", ev, {}, link) is None
    assert evidence.key_values(ev) == [("episode", '{"id": 7, "state": "open"}'), ("ratio", "0.25"),
                                       ("flag", "true")]


def test_text_from_evidence_is_escaped_in_pictures() -> None:
    ev = {"value": 5.0, "mean": 1.0, "std": 0.5, "sensor_type": "<script>alert(1)</script>"}
    html = str(evidence.picture("spike", ev, {}, link))
    assert "<script>" not in html
    strip = str(evidence.kill_strip(['"><script>x</script>'], None, link))
    assert "<script>" not in strip and "&lt;script&gt;" in strip


def test_the_incident_series_needs_two_readings() -> None:
    t0 = datetime(2026, 12, 2, 10, tzinfo=UTC)
    alerts = [{"last_event_time": t0 + timedelta(minutes=i), "evidence": {"value": 20.0 + 5 * i, "mean": 20.0,
                                                                           "std": 0.5}} for i in range(3)]
    assert evidence.incident_series(alerts[:1]) is None
    html = str(evidence.incident_series(alerts))
    assert html.count('class="hit"') == 3 and html.count('class="band"') == 3


def test_numbers_read_well() -> None:
    assert [evidence.fmt(v) for v in (1234567, 1021.4, 0.0312, 2.0, None, "x", [1, 2])] == [
        "1,234,567", "1,021", "0.0312", "2", "null", "x", "[1, 2]"]
