"""`rules validate` compiles every rule against the running SQL Gateway and names the one that fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from include.patternalarm.rules.catalog import RULES_DIR
from include.patternalarm.settings import Settings
from tests.integration.detection.conftest import domain_rules

REPO_BIN = "bin/patternalarm"


def test_validate_compiles_every_payments_rule(stack_settings: Settings) -> None:
    out = subprocess.run([REPO_BIN, "rules", "validate", "--domain", "payments"], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    for rule in ("card_testing", "velocity", "impossible_travel", "account_takeover", "structuring"):
        assert rule in out.stdout
    checks = 1 + len(domain_rules("payments"))  # the domain's plumbing and each of its rules
    assert f"all {checks} checks compile" in out.stdout


def test_validate_names_the_rule_that_fails(stack_settings: Settings, tmp_path: Path) -> None:
    catalog = yaml.safe_load((RULES_DIR / "catalog-v1.yaml").read_text())
    broken = tmp_path / "broken_rule.sql"
    broken.write_text("SELECT card_id AS entity, no_such_column AS first_event_id, `ts` AS first_event_time,\n"
                      "  `ts` AS last_event_time, '{}' AS evidence\nFROM events\n")
    catalog["rules"] = [r for r in catalog["rules"] if r["id"] == "velocity"] + [
        {"id": "broken_rule", "version": 1, "domain": "payments", "severity": "low", "description": "broken",
         "sql": str(broken), "params": {}}]
    (tmp_path / "catalog-v1.yaml").write_text(yaml.safe_dump(catalog))
    out = subprocess.run([REPO_BIN, "rules", "validate", "--domain", "payments", "--rules-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 1
    assert "broken_rule" in out.stderr and "1 failing" in out.stderr
    assert "no_such_column" in out.stdout.lower().replace("\n", "")
    assert "velocity" in out.stdout
