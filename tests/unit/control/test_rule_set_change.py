"""An upgrade restores without the state of rules the new set no longer runs, and says which."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from include.patternalarm.control.deployer import DeploySpec, rule_set_change, unclaimed_state_note
from include.patternalarm.control.deployments import Deployment
from include.patternalarm.rules import load_catalog


def _previous(version: str, rules_dir: str | None = None) -> Deployment:
    return Deployment(id=1, domain="iot", catalog_version=version, parallelism=1, action="deploy", status="healthy",
                      job_id="j", restored_from=None, stop_savepoint=None, requested_by="t",
                      requested_at=datetime(2026, 12, 1, tzinfo=UTC), rules_dir=rules_dir)


def _spec(version: int, rules_dir: str | None = None) -> DeploySpec:
    return DeploySpec(domain="iot", catalog_version=version, overrides={}, parallelism=1, rules_dir=rules_dir)


def test_the_same_rules_drop_nothing(tmp_path: Path) -> None:
    newest = load_catalog(user_dir=None).version
    same = {"added": [], "removed": []}
    assert rule_set_change(_previous(str(newest), str(tmp_path)), _spec(newest, str(tmp_path))) == same
    assert rule_set_change(None, _spec(newest)) == same
    assert unclaimed_state_note(same) is None


def test_a_downgrade_names_the_rules_whose_state_is_dropped(tmp_path: Path) -> None:
    newest = load_catalog(user_dir=None).version
    v1 = {f"{r.id} v{r.version}" for r in load_catalog(1, user_dir=None).rules_for("iot")}
    change = rule_set_change(_previous(str(newest), str(tmp_path)), _spec(1, str(tmp_path)))
    expected = {f"{r.id} v{r.version}" for r in load_catalog(newest, user_dir=None).rules_for("iot")} - v1
    assert change["removed"] == sorted(expected) and change["removed"]
    note = unclaimed_state_note(change)
    assert note is not None and all(r in note for r in change["removed"])


def test_a_rule_added_to_or_removed_from_the_user_directory_is_a_change(tmp_path: Path) -> None:
    newest = load_catalog(user_dir=None).version
    mine, empty = tmp_path / "mine", tmp_path / "empty"
    mine.mkdir()
    empty.mkdir()
    (mine / "hot_device.yaml").write_text(
        "id: hot_device\nversion: 1\ndomain: iot\nkind: threshold\nseverity: low\ndescription: too hot\n"
        "value: value\nrequires: [value]\n"
        "params:\n  min_value: {type: float, default: 100.0, description: readings above this}\n")
    assert "hot_device v1" in {f"{r.id} v{r.version}" for r in load_catalog(user_dir=mine).rules_for("iot")}
    assert rule_set_change(_previous(str(newest), str(mine)), _spec(newest, str(empty))) == {
        "added": [], "removed": ["hot_device v1"]}
    # adding it changes the plan's operator ids too: also said
    added = rule_set_change(_previous(str(newest), str(empty)), _spec(newest, str(mine)))
    assert added == {"added": ["hot_device v1"], "removed": []} and "hot_device v1" in unclaimed_state_note(added)


def test_an_unloadable_previous_rule_set_is_said_so(tmp_path: Path) -> None:
    assert rule_set_change(_previous("999"), _spec(1)) is None
    assert "cannot be loaded" in (unclaimed_state_note(None) or "")


def test_the_rules_a_deployment_ran_are_compared_not_its_directory_as_it_is_now(tmp_path: Path) -> None:
    newest = load_catalog(user_dir=None).version
    ran = sorted(f"{r.id} v{r.version}" for r in load_catalog(newest, user_dir=tmp_path).rules_for("iot"))
    previous = dataclasses.replace(_previous(str(newest), str(tmp_path)), detail={"rules": ran})
    (tmp_path / "hot_device.yaml").write_text(
        "id: hot_device\nversion: 1\ndomain: iot\nkind: threshold\nseverity: low\ndescription: too hot\n"
        "value: value\nrequires: [value]\n"
        "params:\n  min_value: {type: float, default: 100.0, description: readings above this}\n")
    # the file appeared in the same directory after that deployment: an added rule
    assert rule_set_change(previous, _spec(newest, str(tmp_path))) == {"added": ["hot_device v1"], "removed": []}


def test_an_upgrade_to_another_state_form_says_the_baselines_start_afresh(tmp_path: Path) -> None:
    from include.patternalarm.control.deployer import retired_state

    retired = retired_state(_previous("4", str(tmp_path)), _spec(5, str(tmp_path)))
    assert retired is not None and "packed" in retired and "v4" in retired
    note = unclaimed_state_note({"added": [], "removed": []}, retired)
    assert note is not None and "afresh" in note
    assert retired_state(_previous("5", str(tmp_path)), _spec(5, str(tmp_path))) is None
    assert retired_state(_previous("3", str(tmp_path)), _spec(4, str(tmp_path))) is None  # v3 had no series
    gaming = dataclasses.replace(_previous("4", str(tmp_path)), domain="gaming")
    assert retired_state(gaming, dataclasses.replace(_spec(5, str(tmp_path)), domain="gaming")) is None


def test_an_upgrade_that_replans_rules_of_the_same_version_says_their_state_starts_afresh(tmp_path: Path) -> None:
    from include.patternalarm.control.deployer import retired_state

    payments = dataclasses.replace(_previous("6", str(tmp_path)), domain="payments")
    retired = retired_state(payments, dataclasses.replace(_spec(7, str(tmp_path)), domain="payments"))
    assert retired is not None and "velocity v2" in retired and "impossible_travel v1" in retired, retired
    assert "card_testing" not in retired  # its SQL is the same in both: its state is restored
    gaming = dataclasses.replace(_previous("6", str(tmp_path)), domain="gaming")
    replanned = retired_state(gaming, dataclasses.replace(_spec(7, str(tmp_path)), domain="gaming"))
    assert replanned is not None and "speed_hack v1" in replanned and "aimbot" not in replanned, replanned
    assert retired_state(payments, dataclasses.replace(_spec(6, str(tmp_path)), domain="payments")) is None
    note = unclaimed_state_note({"added": [], "removed": []}, retired)
    assert note is not None and "dropped" in note
