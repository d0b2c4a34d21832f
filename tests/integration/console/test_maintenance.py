"""Planned silence: entities in a maintenance window are not "missing" — their alerts are stored but open
no incident — from the command line and from the console."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests
from psycopg.types.json import Jsonb

from include.patternalarm.incidents import IncidentError, IncidentStore
from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.settings import Settings
from tests.integration.console.conftest import PREFIX, Incidents, token
from tests.integration.incidents.test_cli import cli
from tests.support import unique


def _heartbeat_alert(entity: str, rule: str = "missing_heartbeat") -> dict:
    return synthetic_alert(rule, entity, unique(f"{entity}-hb"), domain="iot", severity="high",
                           first_event_time=datetime.now(UTC) - timedelta(minutes=2), silence_s=30,
                           events_in_session=12, heartbeats=4)


def test_devices_in_a_maintenance_window_raise_no_incident(stack_settings: Settings,
                                                           reporting: psycopg.Connection) -> None:
    prefix = unique("dev")
    in_window, glob_member, outside = f"{prefix}-a", f"{prefix}-g-1", f"{prefix}-b"
    started = cli(stack_settings, "incidents", "maintenance", in_window, f"{prefix}-g-*", "--for", "2h",
                  "--rule", "missing_heartbeat", "--domain", "iot", "--comment", "firmware update", "--actor", "ops",
                  "--json")
    assert started.returncode == 0, started.stderr
    windows = json.loads(started.stdout)
    assert [(w["kind"], w["entity_pattern"], w["rule_id"], w["created_by"]) for w in windows] == [
        ("maintenance", in_window, "missing_heartbeat", "ops"), ("maintenance", f"{prefix}-g-*", "missing_heartbeat",
                                                                 "ops")]

    with psycopg.connect(stack_settings.db_conninfo("sink"), autocommit=True) as sink:
        summary = sink.execute("SELECT ingest_alerts(%s)", [Jsonb([
            _heartbeat_alert(in_window), _heartbeat_alert(glob_member), _heartbeat_alert(outside),
            _heartbeat_alert(in_window, rule="spike")])]).fetchone()[0]
    assert (summary["inserted"], summary["silenced"], summary["opened"]) == (4, 2, 2)

    stored = reporting.execute("SELECT entity, rule_id, incident_id, silence_id FROM alerts WHERE entity LIKE %s "
                               "ORDER BY entity, rule_id", (f"{prefix}-%",)).fetchall()
    by_key = {(a["entity"], a["rule_id"]): a for a in stored}
    assert by_key[(in_window, "missing_heartbeat")]["silence_id"] == windows[0]["silence_id"]
    assert by_key[(glob_member, "missing_heartbeat")]["silence_id"] == windows[1]["silence_id"]
    assert by_key[(in_window, "missing_heartbeat")]["incident_id"] is None
    assert by_key[(outside, "missing_heartbeat")]["incident_id"] is not None  # not in maintenance
    assert by_key[(in_window, "spike")]["incident_id"] is not None  # the window covers missing_heartbeat only
    incidents = reporting.execute("SELECT entity, rule_id FROM incidents WHERE entity LIKE %s", (f"{prefix}-%",))
    assert sorted((i["entity"], i["rule_id"]) for i in incidents) == [(in_window, "spike"),
                                                                      (outside, "missing_heartbeat")]

    listed = json.loads(cli(stack_settings, "incidents", "silence", "list", "--json").stdout)
    mine = {s["silence_id"]: s for s in listed if s["silence_id"] in {w["silence_id"] for w in windows}}
    assert [mine[w["silence_id"]]["matched_alerts"] for w in windows] == [1, 1]

    # ended early: the device's next silence is an incident again
    assert cli(stack_settings, "incidents", "silence", "expire", str(windows[0]["silence_id"])).returncode == 0
    with psycopg.connect(stack_settings.db_conninfo("sink"), autocommit=True) as sink:
        assert sink.execute("SELECT ingest_alerts(%s)", [Jsonb([_heartbeat_alert(in_window)])]).fetchone()[0][
            "opened"] == 1


def test_a_maintenance_window_is_all_or_nothing(stack_settings: Settings, reporting: psycopg.Connection) -> None:
    good = unique("dev")
    store = IncidentStore.for_role(stack_settings, "analyst")
    with pytest.raises(IncidentError, match="1 to 500 characters"):
        store.start_maintenance([good, " "], rule=None, domain=None, ends_at=datetime.now(UTC) + timedelta(hours=1),
                                comment="x", actor="test")
    assert reporting.execute("SELECT count(*) AS n FROM silences WHERE entity_pattern = %s", (good,)).fetchone()[
        "n"] == 0
    refused = cli(stack_settings, "incidents", "maintenance", good, "--until", "2001-01-01T00:00:00Z")
    assert refused.returncode == 1 and "must end after it starts" in refused.stderr


def test_the_console_silences_a_rule_on_an_entity_and_starts_maintenance(
        console: str, stack_settings: Settings, make_incident: Incidents, reporting: psycopg.Connection) -> None:
    device = unique("dev")
    incident = make_incident("missing_heartbeat", device, domain="iot")
    cookies = {"_token": token(console, stack_settings, stack_settings.airflow_analyst_user)}
    headers = {"Origin": console}
    for action, form in (("silence", {"hours": "3", "comment": "flapping sensor"}), ("maintenance", {"hours": "1"})):
        done = requests.post(f"{console}{PREFIX}/incidents/{incident}/{action}", data=form, cookies=cookies,
                             headers=headers, timeout=10, allow_redirects=False)
        assert done.status_code == 303, done.text[:500]
    rows = reporting.execute("SELECT kind, rule_id, domain, entity_pattern, created_by, comment, "
                             "ends_at - starts_at AS length FROM silences WHERE entity_pattern = %s "
                             "ORDER BY silence_id", (device,)).fetchall()
    analyst = stack_settings.airflow_analyst_user
    assert [(r["kind"], r["rule_id"], r["domain"], r["created_by"]) for r in rows] == [
        ("silence", "missing_heartbeat", "iot", analyst), ("maintenance", None, "iot", analyst)]
    assert rows[0]["comment"] == "flapping sensor" and rows[0]["length"] == timedelta(hours=3)
    page = requests.get(f"{console}{PREFIX}/incidents/{incident}", cookies=cookies, timeout=10).text
    assert "In maintenance" in page and "Silenced" in page

    bad = requests.post(f"{console}{PREFIX}/incidents/{incident}/silence", data={"hours": "nan"}, cookies=cookies,
                        headers=headers, timeout=10, allow_redirects=False)
    assert bad.status_code == 422 and "Refused" in bad.text
