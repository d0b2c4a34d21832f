"""The monitor's log line for one heal, shared by the live jobs and the shadows."""

from __future__ import annotations

from patternalarm_airflow.monitor import heal_summary

HEALED = {"domain": "payments", "replaced": "old", "was": "CANCELED", "job_id": "new", "restored_from": None}


def test_a_live_heal_names_the_job_the_restore_point_and_the_overrides() -> None:
    line = heal_summary({**HEALED, "restored_from": "file:/chk-7", "overrides": {}}, "payments")
    assert line == ("healed payments: job old was CANCELED; resubmitted as new from file:/chk-7 "
                    "with overrides none")


def test_a_shadow_heal_has_no_overrides_and_may_start_from_offsets() -> None:
    assert heal_summary(HEALED, "the payments shadow") == (
        "healed the payments shadow: job old was CANCELED; resubmitted as new from its committed offsets")


def test_skipped_and_backing_off_say_why() -> None:
    assert heal_summary({"domain": "iot", "skipped": "cli holds the lock"}, "iot") == \
        "not healing iot: cli holds the lock"
    backoff = {"backoff": True, "streak": 3, "retry_in_s": 240, "cause": "OOM"}
    assert heal_summary(backoff, "the iot shadow") == (
        "not healing the iot shadow yet: it failed the same way after 3 resubmission(s); next attempt in 240s (OOM)")
