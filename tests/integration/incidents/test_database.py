"""The incident schema on the real PostgreSQL: grouping, idempotency, auto-resolve, re-open rules,
silences, the analyst lifecycle, platform incidents, priorities — and what each role may not do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors
from psycopg.types.json import Jsonb

from include.patternalarm.incidents import IncidentError, IncidentStore
from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.settings import Settings
from tests.integration.incidents.conftest import Connect
from tests.support import unique, wait_until

Ingest = Callable[[list[dict[str, Any]]], dict[str, int]]
# an hour ago (whole minute): alerts are stored after their events, and 40 minutes of test timeline stay
# in the past and within the auto-resolve quiet period
T0 = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)


def _alert(rule: str, entity: str, n: int, minutes: float = 0, severity: str = "medium",
           domain: str = "payments") -> dict[str, Any]:
    return synthetic_alert(rule, entity, f"{rule}-{entity}-ev{n}", severity=severity, domain=domain,
                           first_event_time=T0 + timedelta(minutes=minutes), span=timedelta(seconds=10))


def _incidents(conn: psycopg.Connection, rule: str) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM incidents WHERE rule_id = %s ORDER BY incident_id", (rule,)).fetchall()


def _events(conn: psycopg.Connection, incident_id: int) -> list[dict[str, Any]]:
    return conn.execute("SELECT * FROM incident_events WHERE incident_id = %s ORDER BY event_id",
                        (incident_id,)).fetchall()


def _policy(connect: Connect, rule: str, grouping: str = "30 minutes", quiet: str | None = "2 hours",
            reopen: str = "1 hour") -> None:
    connect("analyst").execute("SELECT set_incident_policy(%s, %s::interval, %s::interval, %s::interval, 'test')",
                               (rule, grouping, quiet, reopen))


# --- storing and grouping -------------------------------------------------------------------------


def test_alerts_of_one_rule_and_entity_group_into_one_incident(connect: Connect, ingest: Ingest, rule: str) -> None:
    batch = [_alert(rule, "card-1", 1, 0, "low"), _alert(rule, "card-1", 2, 5, "critical"),
             _alert(rule, "card-1", 3, 2, "medium"), _alert(rule, "card-2", 1, 1, "high")]
    summary = ingest(batch)
    assert summary == {"received": 4, "inserted": 4, "updated": 0, "duplicates": 0, "silenced": 0, "attached": 2,
                       "opened": 2, "reopened": 0}
    reader = connect("reporting")
    card1, card2 = sorted(_incidents(reader, rule), key=lambda i: i["entity"])
    assert (card1["entity"], card1["alert_count"], card1["severity"], card1["status"]) == ("card-1", 3, "critical",
                                                                                           "open")
    assert card1["first_seen"] == T0 and card1["last_seen"] == T0 + timedelta(minutes=5, seconds=10)
    assert (card2["entity"], card2["alert_count"], card2["severity"]) == ("card-2", 1, "high")
    alerts = reader.execute("SELECT alert_id, incident_id, silence_id, persisted_at FROM alerts WHERE rule_id = %s",
                            (rule,)).fetchall()
    assert {a["alert_id"] for a in alerts} == {a["alert_id"] for a in batch}
    assert all(a["persisted_at"] is not None and a["silence_id"] is None for a in alerts)
    assert sum(a["incident_id"] == card1["incident_id"] for a in alerts) == 3
    kinds = [e["kind"] for e in _events(reader, card1["incident_id"])]
    assert kinds == ["opened", "alert_attached", "alert_attached", "alert_attached"]
    raised = [e for e in _events(reader, card1["incident_id"]) if e["detail"].get("severity_raised_from")]
    assert raised and raised[0]["actor"] == "sink" and raised[0]["db_role"] == "patternalarm_sink"


def test_duplicate_and_replayed_alerts_change_nothing(connect: Connect, ingest: Ingest, rule: str) -> None:
    batch = [_alert(rule, "acct-1", i, i) for i in range(5)]
    assert ingest([*batch, batch[0], batch[1]])["inserted"] == 5  # duplicates inside one batch
    reader = connect("reporting")
    before = _incidents(reader, rule)
    events_before = reader.execute("SELECT count(*) AS n FROM incident_events e JOIN incidents i USING (incident_id) "
                                   "WHERE i.rule_id = %s", (rule,)).fetchone()["n"]
    replay = ingest(batch)  # the whole batch again (a replay, a redelivery after a crash)
    assert replay["inserted"] == 0 and replay["duplicates"] == 5
    assert _incidents(reader, rule) == before
    assert before[0]["alert_count"] == 5
    assert reader.execute("SELECT count(*) AS n FROM alerts WHERE rule_id = %s", (rule,)).fetchone()["n"] == 5
    assert reader.execute("SELECT count(*) AS n FROM incident_events e JOIN incidents i USING (incident_id) "
                          "WHERE i.rule_id = %s", (rule,)).fetchone()["n"] == events_before


def test_an_episode_update_updates_its_alert_and_incident_and_a_replay_changes_nothing(
        connect: Connect, ingest: Ingest, rule: str) -> None:
    opening = {**_alert(rule, "dev-1", 1, 0), "score": 0.6, "seq": 1}
    later = T0 + timedelta(minutes=3)
    update = {**opening, "score": 0.9, "seq": 3, "last_event_time": later.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
              "evidence": {"event_ids": [f"{rule}-dev-1-ev1", "later"], "z": 9.1}}
    assert ingest([opening])["inserted"] == 1
    summary = ingest([update, {**opening, "score": 0.7, "seq": 2}])  # the highest seq of a batch wins
    assert (summary["inserted"], summary["updated"], summary["duplicates"]) == (0, 1, 1)
    reader = connect("reporting")
    row = reader.execute("SELECT * FROM alerts WHERE alert_id = %s", (opening["alert_id"],)).fetchone()
    assert (row["seq"], row["score"], row["last_event_time"], row["evidence"]["z"]) == (3, 0.9, later, 9.1)
    assert row["updated_at"] is not None
    (incident,) = _incidents(reader, rule)
    assert (incident["alert_count"], incident["max_score"], incident["last_seen"]) == (1, 0.9, later)
    replay = ingest([opening, {**opening, "score": 0.7, "seq": 2}])  # older updates, redelivered
    assert (replay["inserted"], replay["updated"]) == (0, 0)
    assert reader.execute("SELECT seq, score FROM alerts WHERE alert_id = %s",
                          (opening["alert_id"],)).fetchone() == {"seq": 3, "score": 0.9}


def test_an_alert_after_the_grouping_window_starts_a_new_incident(connect: Connect, ingest: Ingest,
                                                                  rule: str) -> None:
    _policy(connect, rule, grouping="10 minutes")
    ingest([_alert(rule, "p-1", 1, 0)])
    ingest([_alert(rule, "p-1", 2, 8)])  # within 10 min of last_seen: same incident
    ingest([_alert(rule, "p-1", 3, 40)])  # 30 min of silence: a new episode
    reader = connect("reporting")
    old, new = _incidents(reader, rule)
    assert old["alert_count"] == 2 and old["status"] == "resolved" and old["resolved_by"] == "system:grouping"
    assert old["disposition"] is None
    assert new["alert_count"] == 1 and new["status"] == "open"
    superseded = _events(reader, old["incident_id"])[-1]
    assert superseded["kind"] == "auto_resolved" and superseded["detail"]["superseded_by"] == new["incident_id"]
    assert _events(reader, new["incident_id"])[0]["detail"]["supersedes"] == old["incident_id"]


def test_grouping_inside_one_batch_follows_the_same_rules(connect: Connect, ingest: Ingest, rule: str) -> None:
    _policy(connect, rule, grouping="10 minutes")
    batch = [_alert(rule, "hot-1", n, minutes, severity)
             for n, (minutes, severity) in enumerate([(0, "low"), (8, "high"), (40, "medium"), (45, "low")])]
    batch += [_alert(rule, "hot-2", 100 + n, n * 0.1) for n in range(200)]  # a hot key: 200 alerts, one batch
    summary = ingest(list(reversed(batch)))  # arrival order does not matter: event time does
    assert (summary["opened"], summary["attached"], summary["inserted"]) == (3, 201, 204)
    reader = connect("reporting")
    incidents = _incidents(reader, rule)
    hot1 = [i for i in incidents if i["entity"] == "hot-1"]
    (hot2,) = [i for i in incidents if i["entity"] == "hot-2"]
    assert [(i["alert_count"], i["severity"], i["status"]) for i in hot1] == [(2, "high", "resolved"),
                                                                           (2, "medium", "open")]
    assert hot1[0]["last_seen"] == T0 + timedelta(minutes=8, seconds=10)
    assert hot1[1]["first_seen"] == T0 + timedelta(minutes=40)
    assert hot2["alert_count"] == 200
    for inc in incidents:
        linked = reader.execute("SELECT count(*) AS n FROM alerts WHERE incident_id = %s",
                                (inc["incident_id"],)).fetchone()["n"]
        attached = sum(e["kind"] == "alert_attached" for e in _events(reader, inc["incident_id"]))
        assert inc["alert_count"] == linked == attached


def test_an_acknowledged_incident_keeps_taking_alerts(connect: Connect, ingest: Ingest, rule: str) -> None:
    _policy(connect, rule, grouping="10 minutes")
    ingest([_alert(rule, "p-2", 1, 0)])
    (inc,) = _incidents(connect("reporting"), rule)
    connect("analyst").execute("SELECT acknowledge_incident(%s, 'alice')", (inc["incident_id"],))
    ingest([_alert(rule, "p-2", 2, 120)])  # far outside the window, but an analyst owns the incident
    (inc,) = _incidents(connect("reporting"), rule)
    assert inc["alert_count"] == 2 and inc["status"] == "acknowledged"


def test_concurrent_batches_on_one_new_key_open_one_incident(connect: Connect, rule: str) -> None:
    conns = [connect("sink") for _ in range(4)]
    barrier = threading.Barrier(len(conns))
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(10)
            conns[index].execute("SELECT ingest_alerts(%s)",
                                 [Jsonb([_alert(rule, "race-1", n, n) for n in range(index * 10, index * 10 + 10)])])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(conns))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    (inc,) = _incidents(connect("reporting"), rule)
    assert inc["alert_count"] == 40


# --- auto-resolve and re-open rules -----------------------------------------------------------------


def test_quiet_open_incidents_auto_resolve_and_reopen_on_new_activity(connect: Connect, ingest: Ingest,
                                                                      rule: str) -> None:
    _policy(connect, rule, quiet="1 second", reopen="1 hour")
    ingest([_alert(rule, "q-open", 1), _alert(rule, "q-ack", 1)])
    reader = connect("reporting")
    by_entity = {i["entity"]: i for i in _incidents(reader, rule)}
    connect("analyst").execute("SELECT acknowledge_incident(%s, 'bob')", (by_entity["q-ack"]["incident_id"],))
    sink = connect("sink")

    def resolved() -> bool:
        sink.execute("SELECT auto_resolve_incidents()")
        return reader.execute("SELECT status FROM incidents WHERE incident_id = %s",
                              (by_entity["q-open"]["incident_id"],)).fetchone()["status"] == "resolved"

    wait_until(resolved, timeout=15, what="the quiet incident to be auto-resolved")
    incidents = {i["entity"]: i for i in _incidents(reader, rule)}
    assert incidents["q-open"]["resolved_by"] == "system:auto_resolve" and incidents["q-open"]["disposition"] is None
    assert incidents["q-ack"]["status"] == "acknowledged"  # the analyst's incident is left alone
    assert _events(reader, incidents["q-open"]["incident_id"])[-1]["kind"] == "auto_resolved"

    assert ingest([_alert(rule, "q-open", 2, 1)])["reopened"] == 1
    (reopened,) = [i for i in _incidents(reader, rule) if i["entity"] == "q-open"]
    assert reopened["incident_id"] == incidents["q-open"]["incident_id"]
    assert (reopened["status"], reopened["reopen_count"], reopened["alert_count"]) == ("open", 1, 2)
    assert reopened["resolved_at"] is None
    last = _events(reader, reopened["incident_id"])[-2:]
    assert [e["kind"] for e in last] == ["reopened", "alert_attached"]


def test_no_auto_resolve_when_the_policy_says_never(connect: Connect, ingest: Ingest, rule: str) -> None:
    _policy(connect, rule, quiet=None)
    ingest([_alert(rule, "never-1", 1)])
    connect("reporting").execute("SELECT pg_sleep(1.1)")  # older than any positive quiet period that could apply
    connect("sink").execute("SELECT auto_resolve_incidents()")
    (inc,) = _incidents(connect("reporting"), rule)
    assert inc["status"] == "open"


@pytest.mark.parametrize(("disposition", "reopens"), [("confirmed_fraud", True), ("false_positive", False),
                                                      ("benign", False)])
def test_reopen_rules_after_an_analyst_resolution(connect: Connect, ingest: Ingest, rule: str, disposition: str,
                                                  reopens: bool) -> None:
    ingest([_alert(rule, "r-1", 1)])
    (first,) = _incidents(connect("reporting"), rule)
    connect("analyst").execute("SELECT resolve_incident(%s, %s, 'carol')", (first["incident_id"], disposition))
    summary = ingest([_alert(rule, "r-1", 2, 1)])
    incidents = _incidents(connect("reporting"), rule)
    if reopens:
        assert summary["reopened"] == 1 and len(incidents) == 1 and incidents[0]["status"] == "open"
    else:
        assert summary["opened"] == 1 and len(incidents) == 2
        assert incidents[0]["disposition"] == disposition and incidents[1]["status"] == "open"


def test_outside_the_reopen_window_a_new_incident_opens(connect: Connect, ingest: Ingest, rule: str) -> None:
    _policy(connect, rule, reopen="0 seconds")
    ingest([_alert(rule, "r-2", 1)])
    (first,) = _incidents(connect("reporting"), rule)
    connect("analyst").execute("SELECT resolve_incident(%s, 'confirmed_fraud', 'carol')", (first["incident_id"],))
    assert ingest([_alert(rule, "r-2", 2, 1)])["opened"] == 1
    assert len(_incidents(connect("reporting"), rule)) == 2


# --- silences -------------------------------------------------------------------------------------


def test_silenced_alerts_are_stored_without_incidents(stack_settings: Settings, connect: Connect, ingest: Ingest,
                                                      rule: str) -> None:
    store = IncidentStore.for_role(stack_settings, "analyst")
    silence = store.create_silence(rule=rule, entity_pattern="card_9*", domain="payments",
                                   ends_at=datetime.now(UTC) + timedelta(hours=1), comment="load test", actor="dave")
    summary = ingest([_alert(rule, "card_9001", 1), _alert(rule, "card_9002", 1), _alert(rule, "cardX9003", 1),
                      _alert(rule, "card_8001", 1)])
    assert summary["silenced"] == 2 and summary["opened"] == 2  # '_' in the glob is literal: cardX9003 not silenced
    reader = connect("reporting")
    rows = reader.execute("SELECT entity, incident_id, silence_id FROM alerts WHERE rule_id = %s ORDER BY entity",
                          (rule,)).fetchall()
    by_entity = {r["entity"]: r for r in rows}
    assert by_entity["card_9001"]["silence_id"] == silence["silence_id"]
    assert by_entity["card_9001"]["incident_id"] is None
    assert by_entity["card_8001"]["incident_id"] is not None and by_entity["cardX9003"]["incident_id"] is not None
    assert {i["entity"] for i in _incidents(reader, rule)} == {"card_8001", "cardX9003"}
    assert reader.execute("SELECT matched_alerts FROM silences WHERE silence_id = %s",
                          (silence["silence_id"],)).fetchone()["matched_alerts"] == 2

    store.expire_silence(silence["silence_id"], "dave")
    assert ingest([_alert(rule, "card_9001", 2)])["opened"] == 1  # expired: incidents again
    with pytest.raises(IncidentError, match="already ended"):
        store.expire_silence(silence["silence_id"], "dave")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rule": None, "entity_pattern": None, "domain": None}, "at least one matcher"),
    ({"rule": "x", "entity_pattern": None, "domain": "casino"}, "unknown domain"),
    ({"rule": "x", "entity_pattern": None, "domain": None, "ends_at": datetime(2020, 1, 1, tzinfo=UTC)},
     "would already be over|must end after"),
    ({"rule": "x", "entity_pattern": None, "domain": None, "comment": " "}, "comment"),
])
def test_invalid_silences_are_refused(stack_settings: Settings, kwargs: dict[str, Any], message: str) -> None:
    args = {"ends_at": datetime.now(UTC) + timedelta(hours=1), "comment": "c", "actor": "dave", **kwargs}
    with pytest.raises(IncidentError, match=message):
        IncidentStore.for_role(stack_settings, "analyst").create_silence(**args)


# --- the analyst lifecycle ------------------------------------------------------------------------


def test_lifecycle_transitions_and_refusals(stack_settings: Settings, connect: Connect, ingest: Ingest,
                                            rule: str) -> None:
    ingest([_alert(rule, "life-1", 1)])
    (inc,) = _incidents(connect("reporting"), rule)
    iid = inc["incident_id"]
    store = IncidentStore.for_role(stack_settings, "analyst")

    acked = store.acknowledge(iid, "erin", note="looking")
    assert (acked["status"], acked["acknowledged_by"], acked["assignee"]) == ("acknowledged", "erin", "erin")
    with pytest.raises(IncidentError, match="already acknowledged"):
        store.acknowledge(iid, "erin")
    assert store.assign(iid, "frank", "erin")["assignee"] == "frank"
    with pytest.raises(IncidentError, match="unknown disposition"):
        store.resolve(iid, "probably_fine", "erin")
    with pytest.raises(errors.InvalidParameterValue, match="unknown disposition"):  # the database refuses it too
        connect("analyst").execute("SELECT resolve_incident(%s, 'probably_fine', 'erin')", (iid,))
    resolved = store.resolve(iid, "false_positive", "frank", note="test card")
    assert (resolved["status"], resolved["disposition"], resolved["resolved_by"]) == ("resolved", "false_positive",
                                                                                     "frank")
    with pytest.raises(IncidentError, match="already resolved"):
        store.resolve(iid, "benign", "frank")
    with pytest.raises(IncidentError, match="resolved"):
        store.acknowledge(iid, "erin")
    with pytest.raises(IncidentError, match="resolved"):
        store.assign(iid, "gina", "erin")
    reopened = store.reopen(iid, "frank", note="was real after all")
    assert (reopened["status"], reopened["disposition"], reopened["reopen_count"]) == ("open", None, 1)
    with pytest.raises(IncidentError, match="not resolved"):
        store.reopen(iid, "frank")
    with pytest.raises(IncidentError, match="does not exist"):
        store.acknowledge(2**62, "erin")

    timeline = store.get(iid)["events"]
    assert [e["kind"] for e in timeline] == ["opened", "alert_attached", "acknowledged", "assigned", "resolved",
                                             "reopened"]
    assert all(e["db_role"] == "patternalarm_analyst" for e in timeline[2:])
    assert timeline[4]["note"] == "test card" and timeline[4]["detail"]["disposition"] == "false_positive"
    assert (timeline[4]["from_status"], timeline[4]["to_status"]) == ("acknowledged", "resolved")


def test_reopen_is_refused_while_another_incident_is_active(stack_settings: Settings, connect: Connect,
                                                            ingest: Ingest, rule: str) -> None:
    ingest([_alert(rule, "dup-1", 1)])
    store = IncidentStore.for_role(stack_settings, "analyst")
    (first,) = _incidents(connect("reporting"), rule)
    store.resolve(first["incident_id"], "benign", "hal")
    ingest([_alert(rule, "dup-1", 2, 1)])  # benign: a new incident
    with pytest.raises(IncidentError, match="already active"):
        store.reopen(first["incident_id"], "hal")


# --- the control plane ------------------------------------------------------------------------------


def test_platform_incidents_open_idempotently_and_resolve(connect: Connect) -> None:
    control = connect("control")
    check, entity = unique("flink_job_health"), "payments"
    open_sql = "SELECT open_platform_incident(%s, %s, %s, %s, %s) AS id"
    first = control.execute(open_sql, (check, entity, "high", "job FAILED", Jsonb({"job": "x"}))).fetchone()["id"]
    again = control.execute(open_sql, (check, entity, "high", "job FAILED", Jsonb({"job": "x"}))).fetchone()["id"]
    worse = control.execute(open_sql, (check, entity, "critical", "job FAILED twice", None)).fetchone()["id"]
    assert first == again == worse
    reader = connect("reporting")
    inc = reader.execute("SELECT * FROM incidents WHERE incident_id = %s", (first,)).fetchone()
    assert (inc["domain"], inc["rule_id"], inc["severity"], inc["summary"]) == ("platform", check, "critical",
                                                                                "job FAILED twice")
    assert inc["details"] == {"job": "x"} and inc["alert_count"] == 0
    kinds = [e["kind"] for e in _events(reader, first)]
    assert kinds == ["opened", "platform_update"]  # the identical second call added nothing
    resolve_sql = "SELECT resolve_platform_incident(%s, %s, %s) AS id"
    assert control.execute(resolve_sql, (check, entity, "healthy again")).fetchone()["id"] == first
    assert control.execute(resolve_sql, (check, entity, "healthy again")).fetchone()["id"] is None
    inc = reader.execute("SELECT * FROM incidents WHERE incident_id = %s", (first,)).fetchone()
    assert inc["status"] == "resolved" and inc["resolved_by"] == "control:patternalarm_control"
    # failing again soon after: the same incident re-opens (flapping stays one incident)
    assert control.execute(open_sql, (check, entity, "high", "job FAILED", None)).fetchone()["id"] == first
    with pytest.raises(errors.InvalidParameterValue, match="unknown severity"):
        control.execute(open_sql, (check, entity, "sev1", "x", None))


def test_a_platform_silence_suppresses_platform_incidents(stack_settings: Settings, connect: Connect) -> None:
    check = unique("maintenance_check")
    IncidentStore.for_role(stack_settings, "analyst").create_silence(
        rule=check, entity_pattern=None, domain="platform", ends_at=datetime.now(UTC) + timedelta(minutes=10),
        comment="planned maintenance", actor="ivy")
    result = connect("control").execute("SELECT open_platform_incident(%s, 'kafka', 'high', 'down', NULL) AS id",
                                         (check,)).fetchone()
    assert result["id"] is None
    assert connect("reporting").execute("SELECT count(*) AS n FROM incidents WHERE rule_id = %s",
                                        (check,)).fetchone()["n"] == 0


def test_priorities_order_the_list(stack_settings: Settings, connect: Connect, ingest: Ingest, rule: str) -> None:
    ingest([_alert(rule, f"prio-{i}", 1, i) for i in range(4)])
    ids = {i["entity"]: i["incident_id"] for i in _incidents(connect("reporting"), rule)}
    changed = connect("control").execute("SELECT set_incident_priorities(%s) AS n", [Jsonb([
        {"incident_id": ids["prio-0"], "priority": 20, "reasons": ["low spend"]},
        {"incident_id": ids["prio-1"], "priority": 90, "reasons": ["confirmed fraud before"]},
        {"incident_id": ids["prio-2"], "priority": 55, "reasons": []},
    ])]).fetchone()["n"]
    assert changed == 3
    listed = IncidentStore.for_role(stack_settings, "analyst").list_incidents(rule=rule)
    # priority desc, unscored last (prio-3)
    assert [r["entity"] for r in listed] == ["prio-1", "prio-2", "prio-0", "prio-3"]
    assert listed[0]["priority_reasons"] == ["confirmed fraud before"]
    with pytest.raises(errors.InvalidParameterValue):
        connect("control").execute("SELECT set_incident_priorities(%s)",
                                   [Jsonb([{"incident_id": ids["prio-0"], "priority": 150}])])


# --- role limits ------------------------------------------------------------------------------------

REFUSED = (errors.InsufficientPrivilege,)


def _refused(conn: psycopg.Connection, statement: str, params: tuple[Any, ...] = ()) -> None:
    with pytest.raises(REFUSED):
        conn.execute(statement, params)


@pytest.fixture
def one_incident(ingest: Ingest, connect: Connect, rule: str) -> int:
    ingest([_alert(rule, "roles-1", 1)])
    return _incidents(connect("reporting"), rule)[0]["incident_id"]


def test_analyst_reads_but_changes_only_through_functions(connect: Connect, one_incident: int, rule: str) -> None:
    analyst = connect("analyst")
    assert analyst.execute("SELECT count(*) AS n FROM incidents WHERE incident_id = %s",
                           (one_incident,)).fetchone()["n"] == 1
    _refused(analyst, "UPDATE incidents SET status = 'resolved' WHERE incident_id = %s", (one_incident,))
    _refused(analyst, "UPDATE incidents SET assignee = 'me' WHERE incident_id = %s", (one_incident,))
    _refused(analyst, "DELETE FROM incidents WHERE incident_id = %s", (one_incident,))
    _refused(analyst, "INSERT INTO incident_events (incident_id, kind, actor) VALUES (%s, 'resolved', 'x')",
             (one_incident,))
    _refused(analyst, "DELETE FROM alerts WHERE rule_id = %s", (rule,))
    _refused(analyst, "INSERT INTO silences (rule_id, starts_at, ends_at, comment, created_by) "
                      "VALUES ('x', now(), now() + interval '1 hour', 'c', 'x')")
    _refused(analyst, "SELECT ingest_alerts('[]'::jsonb)")
    _refused(analyst, "SELECT auto_resolve_incidents()")
    _refused(analyst, "SELECT open_platform_incident('c', 'e', 'low', 's', NULL)")
    _refused(analyst, "SELECT * FROM lock_incident(%s)", (one_incident,))
    analyst.execute("SELECT acknowledge_incident(%s, 'roles-test')", (one_incident,))  # the allowed way


def test_sink_writes_alerts_and_grouping_only(connect: Connect, one_incident: int, rule: str) -> None:
    sink = connect("sink")
    _refused(sink, "SELECT * FROM incidents LIMIT 1")
    _refused(sink, "UPDATE incidents SET status = 'resolved' WHERE incident_id = %s", (one_incident,))
    _refused(sink, "DELETE FROM alerts WHERE rule_id = %s", (rule,))
    _refused(sink, "INSERT INTO alerts (alert_id) VALUES ('x')")
    _refused(sink, "SELECT acknowledge_incident(%s, 'sink')", (one_incident,))
    _refused(sink, "SELECT resolve_incident(%s, 'benign', 'sink')", (one_incident,))
    _refused(sink, "SELECT create_silence('x', NULL, NULL, NULL, now() + interval '1 hour', 'c', 'sink')")
    _refused(sink, "SELECT open_platform_incident('c', 'e', 'low', 's', NULL)")
    _refused(sink, "SELECT * FROM incident_for_key('payments', 'r', 'e', now(), now(), 'low', 'x', NULL, NULL)")


def test_reporting_is_read_only(connect: Connect, one_incident: int) -> None:
    reporting = connect("reporting")
    for table in ("alerts", "incidents", "incident_events", "silences", "incident_policies"):
        reporting.execute(f"SELECT count(*) FROM {table}")
    _refused(reporting, "UPDATE incidents SET priority = 1 WHERE incident_id = %s", (one_incident,))
    _refused(reporting, "DELETE FROM incident_policies WHERE rule_id = '*'")
    _refused(reporting, "SELECT ingest_alerts('[]'::jsonb)")
    _refused(reporting, "SELECT acknowledge_incident(%s, 'r')", (one_incident,))
    _refused(reporting, "SELECT resolve_platform_incident('c', 'e', 'n')")
    _refused(reporting, "SELECT set_incident_priorities('[]'::jsonb)")
    _refused(reporting, "SELECT set_incident_policy('*', '1 minute', NULL, '0', 'r')")


def test_control_plane_gets_platform_functions_only(connect: Connect, one_incident: int) -> None:
    control = connect("control")
    assert control.execute("SELECT count(*) AS n FROM incidents WHERE incident_id = %s",
                           (one_incident,)).fetchone()["n"] == 1
    _refused(control, "UPDATE incidents SET status = 'resolved' WHERE incident_id = %s", (one_incident,))
    _refused(control, "INSERT INTO incidents (domain, rule_id, entity, severity, first_seen, last_seen) "
                      "VALUES ('platform', 'c', 'e', 'low', now(), now())")
    _refused(control, "SELECT acknowledge_incident(%s, 'airflow')", (one_incident,))
    _refused(control, "SELECT ingest_alerts('[]'::jsonb)")
    _refused(control, "SELECT set_incident_policy('*', '1 minute', NULL, '0', 'airflow')")


def test_security_definer_functions_pin_their_search_path(connect: Connect) -> None:
    rows = connect("reporting").execute(
        "SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.prosecdef").fetchall()
    ours = {r["proname"]: r["proconfig"] for r in rows}
    expected = {"ingest_alerts", "auto_resolve_incidents", "acknowledge_incident", "assign_incident",
                "resolve_incident", "reopen_incident", "create_silence", "expire_silence", "set_incident_policy",
                "open_platform_incident", "resolve_platform_incident", "set_incident_priorities"}
    assert expected <= set(ours)
    for name in expected:
        assert ours[name] and any(c.startswith("search_path=") for c in ours[name]), name
    public_execute = connect("reporting").execute(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' AND p.proname = ANY(%s) "
        "AND has_function_privilege('public', p.oid, 'EXECUTE')", (sorted(expected),)).fetchall()
    assert public_execute == []
