"""The typed rule catalog: loading, versions, parameter validation with errors that name the rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from include.patternalarm.rules import RuleError, catalog_versions, load_catalog, parse_overrides
from include.patternalarm.rules.catalog import RULES_DIR

EXPECTED = {
    "payments": {"card_testing", "velocity", "impossible_travel", "account_takeover", "structuring",
                 "amount_anomaly", "merchant_amount_anomaly", "compromised_terminal", "large_amount"},
    "gaming": {"speed_hack", "aimbot", "impossible_apm", "currency_farming"},
    "iot": {"out_of_range", "spike", "level_shift", "variance_change", "flatline", "missing_heartbeat", "drift"},
}


def test_the_newest_catalog_ships_every_rule() -> None:
    catalog = load_catalog(user_dir=None)
    assert catalog.version == max(catalog_versions()) and 1 in catalog_versions()
    for domain, rules in EXPECTED.items():
        assert {r.id for r in catalog.rules_for(domain)} == rules
    for rule in catalog.rules.values():
        assert rule.sql_path.is_file() and rule.severity in ("low", "medium", "high", "critical")
        assert rule.values == {name: p.default for name, p in rule.params.items()}


def test_overrides_are_coerced_and_bounded() -> None:
    catalog = load_catalog(overrides={"velocity": {"max_auths": "6", "max_amount": 1000}, "job": {"state_ttl_min": 5}})
    assert catalog.rule("velocity").values["max_auths"] == 6
    assert catalog.rule("velocity").values["max_amount"] == 1000.0
    assert catalog.job_values["state_ttl_min"] == 5


@pytest.mark.parametrize(("overrides", "message"), [
    ({"velocity": {"max_auths": 0}}, "rule velocity: parameter 'max_auths' = 0 is below its minimum 1"),
    ({"velocity": {"max_auths": "many"}}, "rule velocity: parameter 'max_auths' must be int, got 'many'"),
    ({"velocity": {"max_auths": 2.5}}, "rule velocity: parameter 'max_auths' must be int"),
    ({"velocity": {"max_auths": True}}, "must be int, got a boolean"),
    ({"spike": {"z_threshold": float("nan")}}, "rule spike: parameter 'z_threshold' must be a finite number"),
    ({"aimbot": {"min_kills": 1}}, "below its minimum 2"),
    ({"velocity": {"nope": 1}}, "rule velocity: unknown parameter(s) nope (valid: max_amount, max_auths, window_s)"),
    ({"no_such_rule": {"x": 1}}, "overrides for unknown rule(s): no_such_rule"),
    ({"iot": {"temperature_max": "hot"}}, "domain iot: parameter 'temperature_max' must be float"),
])
def test_invalid_parameters_name_the_rule_and_the_parameter(overrides: dict, message: str) -> None:
    with pytest.raises(RuleError) as excinfo:
        load_catalog(overrides=overrides)
    assert message in str(excinfo.value)


def test_unknown_version_and_rule_are_clear_errors() -> None:
    with pytest.raises(RuleError, match="catalog version 99 not found"):
        load_catalog(99)
    with pytest.raises(RuleError, match="unknown rule 'nope'"):
        load_catalog().rule("nope")
    with pytest.raises(RuleError, match="unknown domain 'fintech'"):
        load_catalog().rules_for("fintech")


def test_parse_overrides() -> None:
    assert parse_overrides(["velocity.max_auths=6", "job.watermark_delay_ms = 500"]) == {
        "velocity": {"max_auths": "6"}, "job": {"watermark_delay_ms": "500"}}
    for bad in ("velocity=6", "velocity.max_auths", ".x=1", "velocity.max_auths="):
        with pytest.raises(RuleError, match=r"must look like <rule>\.<param>=<value>"):
            parse_overrides([bad])


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((RULES_DIR / "catalog-v1.yaml").read_text())
    mutate(data)
    (tmp_path / "catalog-v1.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d["rules"][0].update(severity="urgent"), "rule card_testing: severity must be one of"),
    (lambda d: d["rules"][0].update(domain="fintech"), "rule card_testing: domain must be one of"),
    (lambda d: d["rules"][0].update(sql="payments/missing.sql"), "SQL file 'payments/missing.sql' not found"),
    (lambda d: d["rules"].append(dict(d["rules"][0])), "rule 'card_testing' defined twice"),
    (lambda d: d["rules"][0]["params"]["window_s"].pop("default"), "parameter 'window_s' has no default"),
    (lambda d: d["rules"][0]["params"]["window_s"].update(type="str"), "needs type int or float"),
    (lambda d: d.update(catalog_version=2), "catalog_version must be 1"),
])
def test_broken_catalog_files_are_rejected_naming_the_rule(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(RuleError) as excinfo:
        load_catalog(1, rules_dir=_write(tmp_path, mutate))
    assert message in str(excinfo.value)


def test_no_catalog_at_all(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"no catalog-v<N>\.yaml"):
        load_catalog(rules_dir=tmp_path)
