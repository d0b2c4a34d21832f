"""rescore_incidents end to end: incidents with a labelled history (dispositions analysts gave, the
money an entity moved) get priorities in the order that history implies, with readable reasons.

The incidents are created the way production creates them — alerts through ``ingest_alerts`` (the
sink's function), dispositions through ``resolve_incident`` (the analysts') — on fresh entities,
with event times in a window of their own that the run is restricted to (``since``/``until``), so
other tests' incidents are never touched."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.alerts import alert_id_for as make_alert_id
from include.patternalarm.settings import Settings
from tests.integration.batch.conftest import db, iso, run_dag
from tests.support import unique


@dataclass
class History:
    base: datetime  # the open incidents' alerts happen at base + a few seconds
    entities: dict[str, str]  # role -> entity
    incidents: dict[str, int]  # role -> open incident id
    topic: str


def _alert(rule_id: str, entity: str, at: datetime, severity: str, first_event_id: str) -> dict[str, Any]:
    return {"alert_id": make_alert_id(rule_id, 1, entity, first_event_id), "rule_id": rule_id, "rule_version": 1,
            "domain": "payments", "entity": entity, "severity": severity, "first_event_time": iso(at),
            "last_event_time": iso(at + timedelta(seconds=20)), "detected_at": iso(datetime.now(UTC)),
            "evidence": {"event_ids": [first_event_id]}}


@pytest.fixture(scope="module")
def history(stack_settings: Settings) -> Iterator[History]:
    settings = stack_settings
    tag = unique("rs")
    entities = {role: f"{tag}-{role}" for role in ("confirmed", "plain", "false_positive", "big_spender")}
    # a 10-second window of event time of their own, some hours back (no other test's incidents)
    base = (datetime.now(UTC) - timedelta(hours=4, minutes=random.randint(0, 59))).replace(microsecond=0)
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    topic = unique("test.batch.rescore.payments")
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(timeout=30)
    try:
        with db(settings, "sink") as sink, db(settings, "analyst") as analyst:
            # earlier incidents (two rules each, a day before): confirmed fraud for one card, false
            # positives for another; both resolved by an analyst
            earlier = base - timedelta(days=1)
            for role, disposition in (("confirmed", "confirmed_fraud"), ("false_positive", "false_positive")):
                for i, rule in enumerate(("card_testing", "impossible_travel")):
                    sink.execute("SELECT ingest_alerts(%s::jsonb)", (json.dumps([_alert(
                        rule, entities[role], earlier + timedelta(hours=i), "high", f"{tag}-{role}-h{i}")]),))
                    incident_id = analyst.execute(
                        "SELECT incident_id FROM incidents WHERE entity = %s AND rule_id = %s AND status = 'open'",
                        (entities[role], rule)).fetchone()[0]
                    analyst.execute("SELECT resolve_incident(%s, %s, %s, %s)",
                                    (incident_id, disposition, "test-analyst", "labelled history"))
            # the open incidents to prioritise: one velocity alert each, same severity, same time
            for role, entity in entities.items():
                sink.execute("SELECT ingest_alerts(%s::jsonb)", (json.dumps([_alert(
                    "velocity", entity, base, "medium", f"{tag}-{role}-now")]),))
            rows = analyst.execute("""SELECT entity, incident_id FROM incidents
                                   WHERE entity = ANY(%s) AND rule_id = 'velocity' AND status = 'open'""",
                                (list(entities.values()),)).fetchall()
        incidents = {role: next(i for e, i in rows if e == entity) for role, entity in entities.items()}

        # the big spender: ~40 a few times an hour for 8 hours, then 6,000 in the hour up to the alert;
        # the plain card: the same steady spend without the burst
        producer = Producer({"bootstrap.servers": settings.bootstrap_servers})
        for role in ("big_spender", "plain"):
            card = entities[role]
            times = [base - timedelta(hours=8) + timedelta(minutes=20 * k) for k in range(22)]
            amounts = [40.0] * len(times)
            if role == "big_spender":
                times += [base - timedelta(minutes=30), base]
                amounts += [2500.0, 3500.0]
            for n, (at, amount) in enumerate(zip(times, amounts, strict=True)):
                producer.produce(topic, key=card.encode(), value=json.dumps({
                    "event_id": f"{card}-e{n}", "event_time": iso(at), "domain": "payments", "card_id": card,
                    "account_id": f"acct-{card}", "event_type": "auth", "amount": amount, "currency": "EUR",
                    "channel": "ecommerce"}).encode())
        assert producer.flush(30) == 0
        yield History(base, entities, incidents, topic)
    finally:
        for future in admin.delete_topics([topic]).values():
            try:
                future.result(timeout=30)
            except Exception:  # noqa: BLE001,S110 - best-effort cleanup of a throwaway topic
                pass


def test_priorities_follow_the_labelled_history(stack_settings: Settings, history: History) -> None:
    label = unique("it-rescore")
    conf = {"domains": ["payments"], "since": iso(history.base - timedelta(seconds=5)),
            "until": iso(history.base + timedelta(seconds=30)), "topics": {"payments": history.topic},
            "spend_hours": 12, "label": label}
    out = run_dag(stack_settings, "rescore_incidents", conf)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    assert stack_settings.secret("db_control_password") not in out.stdout + out.stderr

    with db(stack_settings, "reporting") as conn:
        run = conn.execute("SELECT run_id, status, scored, changed FROM rescoring_runs WHERE label = %s",
                           (label,)).fetchone()
        assert run is not None and run[1] == "done"
        got = {role: conn.execute("SELECT priority, priority_reasons FROM incidents WHERE incident_id = %s",
                                  (incident_id,)).fetchone() for role, incident_id in history.incidents.items()}
        scored = {r[0] for r in conn.execute("SELECT incident_id FROM incident_scores WHERE run_id = %s", (run[0],))}
        timeline = conn.execute("""SELECT count(*) FROM incident_events
                                   WHERE incident_id = ANY(%s) AND kind = 'priority_changed'""",
                                (list(history.incidents.values()),)).fetchone()[0]
    priority = {role: p for role, (p, _) in got.items()}
    # confirmed fraud before > a burst of spending > nothing known > false positives before
    assert priority["confirmed"] > priority["big_spender"] > priority["plain"] > priority["false_positive"], priority
    reasons = {role: " | ".join(r["detail"] for r in rs) for role, (_, rs) in got.items()}
    assert "confirmed as fraud" in reasons["confirmed"]
    assert "false positive" in reasons["false_positive"]
    assert "hourly average" in reasons["big_spender"]
    assert reasons["plain"].startswith("severity medium") or "severity medium" in reasons["plain"]
    assert set(history.incidents.values()) <= scored
    assert timeline >= len(history.incidents)


def test_a_rerun_changes_nothing_and_bad_params_are_refused(stack_settings: Settings, history: History) -> None:
    conf = {"domains": ["payments"], "since": iso(history.base - timedelta(seconds=5)),
            "until": iso(history.base + timedelta(seconds=30)), "topics": {"payments": history.topic}}
    label = unique("it-rescore-again")
    out = run_dag(stack_settings, "rescore_incidents", {**conf, "label": label})
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    with db(stack_settings, "reporting") as conn:
        scored, changed = conn.execute("SELECT scored, changed FROM rescoring_runs WHERE label = %s",
                                       (label,)).fetchone()
    assert scored >= len(history.incidents) and changed == 0  # same inputs, same priorities: no new events

    bad = run_dag(stack_settings, "rescore_incidents", {**conf, "until": iso(history.base - timedelta(hours=1))},
                  timeout=300)
    assert bad.returncode != 0 and "must be after since" in bad.stdout + bad.stderr
