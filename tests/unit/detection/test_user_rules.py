"""Rules as user content: the rules directory, its declarative kinds, scaffolding and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from include.patternalarm.rules import RuleError, load_catalog, render_job
from include.patternalarm.rules.render import series_params
from include.patternalarm.rules.scaffold import scaffold

EXAMPLES = Path(__file__).parents[3] / "rules" / "examples"


def test_the_examples_load_one_rule_of_each_declarative_kind_and_render(tmp_path: Path) -> None:
    catalog = load_catalog(4, user_dir=EXAMPLES)
    mine = {r.id: r.kind for r in catalog.rules.values() if r.source.startswith(str(EXAMPLES))}
    assert sorted(mine.values()) == ["absence", "baseline", "sequence", "threshold", "window"]
    job = render_job(catalog, "payments", bootstrap="b:1")
    assert set(mine) <= set(job.rules)
    script = job.script()
    assert "MATCH_RECOGNIZE" in script and "SESSION(TABLE quiet_terminal_alive" in script
    assert "uid => 'series_deposit_norm'" in script and "> 1000.0" in script
    # parameters of user rules are overridable like any rule's
    tuned = render_job(load_catalog(4, user_dir=EXAMPLES, overrides={"big_refund": {"min_value": 250}}),
                       "payments", bootstrap="b:1", rules=["big_refund"])
    assert "> 250.0" in tuned.script()


def test_sensor_ranges_per_device_reach_the_detector() -> None:
    catalog = load_catalog(4, user_dir=EXAMPLES)
    text = series_params(catalog, "iot", catalog.domains["iot"].series["sensor"])
    assert "dev-7/temperature:0.0:80.0" in text and "machine_temperature:0.0:120.0" in text
    assert "temperature:-50.0:150.0" in text


@pytest.mark.parametrize("kind", ["sql", "threshold", "window", "baseline", "sequence", "absence"])
def test_scaffolds_load_as_written(tmp_path: Path, kind: str) -> None:
    written = scaffold(tmp_path, f"my_{kind}", kind, "iot")
    assert written[0].name == f"my_{kind}.yaml"
    catalog = load_catalog(4, user_dir=tmp_path)
    assert catalog.rule(f"my_{kind}").kind == kind
    assert f"my_{kind}" in render_job(catalog, "iot", bootstrap="b:1").rules
    with pytest.raises(RuleError, match="already exist"):
        scaffold(tmp_path, f"my_{kind}", kind, "iot")


def _copy(tmp_path: Path, *names: str) -> Path:
    for name in names:
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: (d / "big_refund.yaml").write_text((d / "big_refund.yaml").read_text().replace(
        "id: big_refund", "id: card_testing")), "must be called card_testing.yaml"),
    (lambda d: (d / "card_testing.yaml").write_text((d / "big_refund.yaml").read_text().replace(
        "id: big_refund", "id: card_testing")), "is a shipped rule"),
    (lambda d: (d / "big_refund.yaml").write_text((d / "big_refund.yaml").read_text().replace(
        "kind: threshold", "kind: magic")), "kind must be sql or one of"),
    (lambda d: (d / "big_refund.yaml").write_text((d / "big_refund.yaml").read_text().split("params:")[0]),
     "needs a parameter `min_value`"),
    (lambda d: (d / "big_refund.yaml").write_text((d / "big_refund.yaml").read_text().replace(
        'where: "event_type = \'refund\'"', 'where: "1 = 1; DROP TABLE x"')), "one SQL expression"),
    (lambda d: (d / "catalog.yaml").write_text("disabled: [no_such_rule]\n"), "is not in catalog v4"),
    (lambda d: (d / "sensor_ranges.yaml").write_text("bad:key: [1, 0]\n"), "range key|min < max"),
])
def test_mistakes_are_errors_that_name_the_file(tmp_path: Path, edit, message: str) -> None:
    directory = _copy(tmp_path, "big_refund.yaml")
    edit(directory)
    with pytest.raises(RuleError, match=message):
        load_catalog(4, user_dir=directory)


def test_a_shipped_rule_can_be_switched_off(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text("disabled: [large_amount]\n")
    assert "large_amount" not in load_catalog(4, user_dir=tmp_path).rules


def test_user_rules_need_the_new_plumbing(tmp_path: Path) -> None:
    directory = _copy(tmp_path, "big_refund.yaml")
    with pytest.raises(RuleError, match="need catalog version 3 or later"):
        load_catalog(2, user_dir=directory)
    assert "big_refund" not in load_catalog(2, user_dir=None).rules


def test_the_packed_series_state_has_its_own_operator_uids() -> None:
    """Catalog v5 keeps the adaptive detectors' state packed: their operators (shipped series calls and a user
    baseline rule's own call) get other uids than v4's, so a v4 state is never restored into them."""
    v4, v5 = (render_job(load_catalog(v, user_dir=EXAMPLES), "payments", bootstrap="b:1").script() for v in (4, 5))
    for name in ("card_amount", "merchant_amount", "deposit_norm"):
        assert f"uid => 'series_{name}'" in v4 and f"uid => 'series_{name}_packed'" in v5
    assert "series_anomalies" in v5 and load_catalog(5, user_dir=None).functions["series_anomalies"].endswith(
        ".PackedSeriesAnomalies")
    v5 = load_catalog(5, user_dir=None)
    assert "var_direction=1" in series_params(v5, "iot", v5.domains["iot"].series["sensor"])
