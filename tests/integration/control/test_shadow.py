"""Shadow, then promote, on the real stack: a candidate with a lower ``large_amount`` threshold runs beside
the live payments job on the live topic; its alerts land on ``alerts.shadow`` only (no alert row, no
incident); ``shadow compare`` counts per rule what each set raised; ``shadow promote`` deploys it through
``deploy_detection_jobs`` and the live job then runs with the candidate's parameters."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from include.patternalarm.control import deployer
from include.patternalarm.control import shadow as shadows
from include.patternalarm.control.deployments import DeploymentStore
from include.patternalarm.control.jobstatus import status_rows
from include.patternalarm.flink.deploy import cancel_job, find_job
from include.patternalarm.settings import Settings
from include.patternalarm.topics import EVENTS, SHADOW_DLQ
from tests.support import consume, unique, wait_until

DOMAIN = "payments"
LOW = 100.0
CLI = "bin/patternalarm"


def _auth(card: str, amount: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return {"event_id": unique("shadow-ev"), "event_time": stamp,
            "domain": DOMAIN, "card_id": card, "account_id": f"acct-{card}", "event_type": "auth", "amount": amount,
            "currency": "EUR", "merchant_id": "m-shadow", "channel": "ecommerce"}


def _stored(settings: Settings, ids: list[str]) -> list[tuple[str, str]]:
    with psycopg.connect(settings.db_conninfo("reporting")) as conn:
        return conn.execute("SELECT alert_id, rule_id FROM alerts WHERE alert_id = ANY(%s)", (ids,)).fetchall()


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def clean_shadow(stack_settings: Settings, detection_jobs: dict[str, str]):
    store = shadows.ShadowStore.from_settings(stack_settings)
    shadows.stop(stack_settings, store, DOMAIN)
    yield store
    shadows.stop(stack_settings, store, DOMAIN)
    # the live job back to the catalog defaults (promote changed its parameters)
    deployer.deploy(stack_settings, DeploymentStore.from_settings(stack_settings), DOMAIN, requested_by="test:shadow",
                    reset_params=True, lock_wait_s=120)


@pytest.mark.usefixtures("monitor_paused")  # this test heals the shadow itself
def test_a_shadow_is_compared_with_the_live_set_and_promoted(stack_settings: Settings,
                                                             clean_shadow: shadows.ShadowStore) -> None:
    settings, store = stack_settings, clean_shadow
    started = _cli("shadow", "start", "--domain", DOMAIN, "--param", f"large_amount.min_amount={LOW}")
    assert started.returncode == 0, started.stdout + started.stderr
    shadow = store.running(DOMAIN)
    assert shadow is not None and shadow.overrides == {"large_amount": {"min_amount": LOW}}
    assert find_job(settings, DOMAIN, name=shadows.shadow_name(DOMAIN)).id == shadow.job_id
    again = _cli("shadow", "start", "--domain", DOMAIN)
    assert again.returncode == 1 and "already running" in " ".join((again.stdout + again.stderr).split())

    # the monitor leaves a running shadow alone; one whose job Flink no longer knows (a JobManager that
    # restarted without HA forgets every job: here the job is cancelled and the record points at an id
    # Flink never had) is resubmitted with the same candidate, and the record says so
    assert shadows.heal(settings, store, DOMAIN, requested_by="test:shadow") is None
    cancel_job(settings, shadow.job_id)
    store.update(shadow.shadow_id, job_id="0" * 32)
    # two healers at once (two monitor runs, or the monitor and an operator): exactly one resubmits it
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda who: shadows.heal(settings, store, DOMAIN, requested_by=who),
                             ["test:shadow", "test:shadow-other"]))
    submitted = [h for h in both if h is not None and h.get("job_id")]
    assert len(submitted) == 1, both
    healed = submitted[0]
    assert healed["was"].startswith("UNKNOWN") and healed["job_id"] != shadow.job_id
    shadow = store.running(DOMAIN)
    assert shadow.job_id == healed["job_id"]
    assert shadow.detail["heals"][-1]["by"] in ("test:shadow", "test:shadow-other")
    assert shadow.overrides == {"large_amount": {"min_amount": LOW}}
    wait_until(lambda: find_job(settings, DOMAIN, name=shadows.shadow_name(DOMAIN)), timeout=120,
               what="the resubmitted shadow job")

    # the shadow reads from the end of the topic as of its start: wait until it has a position (a probe it
    # dead-letters to shadow.dlq), so the events below are after it
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
    probe = unique("shadow-probe")
    deadline = time.monotonic() + 120
    while True:
        producer.produce(EVENTS[DOMAIN], key=probe.encode(), value=f"not json: {probe}".encode())
        producer.flush(10)
        seen = consume(settings.bootstrap_servers, SHADOW_DLQ, timeout=10,
                       until=lambda msgs: any(probe in (m.value() or b"").decode(errors="replace") for m in msgs))
        if any(probe in (m.value() or b"").decode(errors="replace") for m in seen):
            break
        assert time.monotonic() < deadline, "the shadow job dead-lettered none of the probes in 120 s"

    # three cards: one auth of 300 each (only the candidate's threshold), one card an auth of 6,000 (both)
    cards = [unique("shadow-card") for _ in range(3)]
    sent = [_auth(c, 300.0) for c in cards] + [_auth(cards[0], 6000.0)]
    for event in sent:
        producer.produce(EVENTS[DOMAIN], key=event["card_id"].encode(), value=json.dumps(event).encode())
    assert producer.flush(30) == 0

    def candidate_alerts() -> dict[str, dict] | None:
        found = {i: a for i, a in shadows.shadow_alerts(settings, DOMAIN, shadow.started_at).items()
                 if a["rule_id"] == "large_amount" and a["entity"] in cards}
        return found if len(found) == 4 else None

    candidate = wait_until(candidate_alerts, timeout=120, interval=2, what="4 large_amount alerts on alerts.shadow")
    live = wait_until(lambda: [r for r in _stored(settings, list(candidate)) if r[1] == "large_amount"] or None,
                      timeout=120, interval=2, what="the live job's large_amount alert in the alerts table")
    # the live threshold (5,000) raised only the 6,000 auth's alert; the candidate's alerts are not stored
    assert len(live) == 1
    (live_id, _), = live
    assert candidate[live_id]["evidence"]["amount"] == 6000.0

    compared = _cli("shadow", "compare", "--domain", DOMAIN, "--json", "--settle", "0")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    result = json.loads(compared.stdout)
    large = result["rules"]["large_amount"]
    assert large["shadow"] >= 4 and large["both"] >= 1 and large["shadow_only"] >= 3
    assert large["live"] == large["both"], "the lower threshold raises every alert the live one does"
    assert result["state"] == "RUNNING"

    promoted = _cli("shadow", "promote", "--domain", DOMAIN, timeout=1200)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert store.running(DOMAIN) is None and store.latest(DOMAIN).outcome == "promoted"
    assert find_job(settings, DOMAIN, name=shadows.shadow_name(DOMAIN)) is None
    row = next(r for r in status_rows(settings, DeploymentStore.from_settings(settings)) if r["domain"] == DOMAIN)
    assert row["parameters"]["large_amount"]["min_amount"] == {"value": LOW, "default": 5000.0, "override": True}
    assert row["parameters_match_record"] is True


def test_compare_without_a_shadow_says_how_to_start_one(stack_settings: Settings) -> None:
    store = shadows.ShadowStore.from_settings(stack_settings)
    assert store.latest("iot") is None, "no test runs an iot shadow"
    out = _cli("shadow", "compare", "--domain", "iot")
    assert out.returncode == 1 and "shadow start --domain iot" in " ".join((out.stdout + out.stderr).split())
    wrong = _cli("shadow", "start", "--domain", "crypto")
    assert wrong.returncode == 2 and "must be one of payments, gaming, iot" in " ".join(
        (wrong.stdout + wrong.stderr).replace("│", " ").split())
