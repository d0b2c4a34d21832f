"""A rule whose required field no live event carries is named, with the field and the sample size."""

from __future__ import annotations

from include.patternalarm.control.fields import absent_fields, warnings
from include.patternalarm.rules import load_catalog


def _gaming():
    return load_catalog(user_dir=None).rules_for("gaming")


def test_rules_needing_a_field_no_event_carries_are_named() -> None:
    events = [{"player_id": "p", "action": "kill", "headshot": None, "x": 1.0, "y": 2.0},
              {"player_id": "q", "action": "move", "x": 3.0, "y": 4.0}]
    absent = absent_fields(_gaming(), events)
    assert absent["aimbot"] == ["headshot"]  # present only as null: absent
    assert "speed_hack" not in absent  # x and y are there
    assert absent["currency_farming"] == ["amount"]
    lines = warnings("gaming", absent, len(events))
    assert lines[0] == ("gaming: rule aimbot needs headshot, which none of the newest 2 events carries: "
                        "it cannot fire on this traffic")


def test_one_event_with_the_field_is_enough_and_no_events_say_nothing() -> None:
    events = [{"player_id": "p", "headshot": True, "amount": 5}] + [{"player_id": "q"}] * 999
    absent = absent_fields(_gaming(), events)
    assert "aimbot" not in absent and "currency_farming" not in absent
    assert absent_fields(_gaming(), []) == {}
