"""A rule of the user's own, in the rules directory (the ``rules_dir`` setting: ``rules/`` in the checkout,
outside the package), deploys through ``deploy_detection_jobs`` with a parameter override, raises its
alerts, survives a monitor heal with its parameters, and is shown by ``deploy status``; removing it
again upgrades cleanly (its state is dropped and named)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from include.patternalarm.airflow_client import AirflowClient
from include.patternalarm.control import deployer, monitor
from include.patternalarm.control.deployments import DeploymentStore
from include.patternalarm.control.jobstatus import status_rows
from include.patternalarm.flink.deploy import cancel_job, job_health
from include.patternalarm.settings import Settings
from include.patternalarm.topics import EVENTS
from tests.integration.control.conftest import healthy_job
from tests.support import unique, wait_until

DOMAIN = "payments"
RULE = "it_user_refund"
RULE_YAML = f"""# written by tests/integration/control/test_user_rules.py (removed again when it ends)
id: {RULE}
version: 1
domain: payments
severity: medium
description: "a refund above a threshold (an integration test's own rule)"
kind: threshold
where: "event_type = 'refund'"
value: amount
requires: [amount]
params:
  min_value: {{type: float, default: 1000.0, min: 0.0, description: "refunds above this"}}
"""


def _refund(card: str, amount: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"event_id": unique("user-rule-ev"), "event_time": now.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{now.microsecond // 1000:03d}Z", "domain": DOMAIN, "card_id": card, "account_id": f"acct-{card}",
            "event_type": "refund", "amount": amount, "currency": "EUR", "merchant_id": "m-user-rule",
            "channel": "ecommerce"}


def _alert_on(settings: Settings, card: str, timeout: float = 120) -> dict[str, Any]:
    def stored() -> dict[str, Any] | None:
        with psycopg.connect(settings.db_conninfo("reporting")) as conn:
            row = conn.execute("SELECT alert_id, evidence FROM alerts WHERE rule_id = %s AND entity = %s",
                               (RULE, card)).fetchone()
        return {"alert_id": row[0], "evidence": row[1]} if row else None

    return wait_until(stored, timeout=timeout, interval=2, what=f"the {RULE} alert on {card}")


def _send(settings: Settings, events: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    for event in events:
        producer.produce(EVENTS[DOMAIN], key=event["card_id"].encode(), value=json.dumps(event).encode())
    assert producer.flush(30) == 0


def _status(settings: Settings) -> dict[str, Any]:
    return next(r for r in status_rows(settings, DeploymentStore.from_settings(settings)) if r["domain"] == DOMAIN)


@pytest.fixture
def user_rule(stack_settings: Settings, detection_jobs: dict[str, str]) -> Iterator[Path]:
    folder = Path(stack_settings.rules_dir)
    path = folder / f"{RULE}.yaml"
    assert not path.exists(), f"{path} exists: a user's own file? this test writes and removes it"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(RULE_YAML)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        # back to the shipped rules and the catalog defaults: the rule's state is dropped (and named)
        said: list[str] = []
        deployer.deploy(stack_settings, DeploymentStore.from_settings(stack_settings), DOMAIN,
                        requested_by="test:user-rules", reset_params=True, lock_wait_s=120, progress=said.append)
        assert any(f"removed {RULE} v1" in s and "dropped" in s for s in said), said


@pytest.mark.usefixtures("monitor_paused")
def test_a_user_rule_deploys_through_the_dag_and_survives_a_heal(stack_settings: Settings, airflow: AirflowClient,
                                                                 user_rule: Path) -> None:
    settings = stack_settings
    run = airflow.trigger("deploy_detection_jobs", {"domains": [DOMAIN], "param_overrides": [f"{RULE}.min_value=250"]})
    result = airflow.wait("deploy_detection_jobs", run, timeout=900)
    assert result.ok, result.tasks

    row = _status(settings)
    assert row["deployment"]["rules_dir"] == str(user_rule.parent)
    assert row["parameters"][RULE]["min_value"] == {"value": 250.0, "default": 1000.0, "override": True}
    shown = json.loads(subprocess.run(["bin/patternalarm", "deploy", "status", "--json"], capture_output=True,
                                      text=True, timeout=120).stdout)
    assert next(r for r in shown if r["domain"] == DOMAIN)["parameters"][RULE]["min_value"]["value"] == 250.0

    first, below = unique("user-rule-card"), unique("user-rule-card")
    _send(settings, [_refund(first, 300.0), _refund(below, 200.0)])
    assert _alert_on(settings, first)["evidence"]["event_ids"]

    # the job dies; the monitor resubmits it from its checkpoint with the user's rule and its parameter
    victim = healthy_job(settings, DOMAIN)
    wait_until(lambda: job_health(settings, victim.job_id).completed_checkpoints >= 1, timeout=120,
               what="a checkpoint to heal from")
    cancel_job(settings, victim.job_id)
    store = DeploymentStore.from_settings(settings)
    healed = monitor.heal(settings, store, monitor.snapshot(settings, DOMAIN), requested_by="test/heal")
    assert healed and healed["job_id"] and healed["overrides"] == {RULE: {"min_value": 250.0}}
    healthy_job(settings, DOMAIN)
    row = _status(settings)
    assert row["job_id"] == healed["job_id"] and row["parameters_match_record"] is True
    assert row["parameters"][RULE]["min_value"]["value"] == 250.0

    after = unique("user-rule-card")
    _send(settings, [_refund(after, 260.0)])
    assert _alert_on(settings, after)["evidence"]["event_ids"]
    with psycopg.connect(settings.db_conninfo("reporting")) as conn:
        assert conn.execute("SELECT count(*) FROM alerts WHERE rule_id = %s AND entity = %s",
                            (RULE, below)).fetchone()[0] == 0, "200 is below the overridden threshold"
