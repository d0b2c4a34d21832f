"""The raw events behind an alert, read back from Kafka by entity and time window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.incidents.raw_events import lookup_events
from include.patternalarm.settings import Settings
from tests.integration.console.conftest import PREFIX, Incidents, token
from tests.support import unique


@pytest.fixture
def topic(stack_settings: Settings) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    name = unique("test.console-events")
    for future in admin.create_topics([NewTopic(name, 2, 1)]).values():
        future.result(timeout=30)
    yield name
    for future in admin.delete_topics([name]).values():
        future.result(timeout=30)


def test_the_entitys_events_in_the_window_are_found_and_the_alerts_marked(stack_settings: Settings,
                                                                          topic: str) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers})

    def send(key: str, event_id: str, at: datetime, **fields: object) -> None:
        value = {"event_id": event_id, "event_time": at.isoformat(), **fields}
        producer.produce(topic, key=key, value=json.dumps(value), timestamp=int(at.timestamp() * 1000))

    for i in range(6):
        send("dev-1", f"e{i}", t0 + timedelta(seconds=10 * i), value=20.0 + i)
        send("dev-2", f"other{i}", t0 + timedelta(seconds=10 * i), value=1.0)
        if i == 2:  # a record that is not JSON, between e2 and e3
            producer.produce(topic, key="dev-1", value=b"not json",
                             timestamp=int((t0 + timedelta(seconds=25)).timestamp() * 1000))
    send("dev-1", "too-late", t0 + timedelta(minutes=3))
    assert producer.flush(30) == 0

    found = lookup_events(stack_settings.bootstrap_servers, topic, "dev-1", ["e2", "e4", "e9"],
                          t0 + timedelta(seconds=10), t0 + timedelta(seconds=45))
    assert found.error is None and found.complete
    assert [e.get("event_id") for e in found.events] == ["e1", "e2", None, "e3", "e4"]  # dev-1 only, in time order
    assert found.events[2] == {**found.events[2], "raw": "not json"}
    assert found.found == {"e2", "e4"} and found.missing == ["e9"]
    assert found.scanned >= 8  # both keys were read in the window; only dev-1's are kept

    nothing = lookup_events(stack_settings.bootstrap_servers, topic, "dev-1", ["e1"], t0 + timedelta(hours=1),
                            t0 + timedelta(hours=2))
    assert nothing.events == [] and nothing.missing == ["e1"] and nothing.error is None
    missing_topic = lookup_events(stack_settings.bootstrap_servers, unique("no.such.topic"), "k", [], t0, t0)
    assert missing_topic.error is not None and "does not exist" in missing_topic.error


def test_the_events_page_says_what_it_searched_and_how_to_search_by_hand(
        console: str, stack_settings: Settings, make_incident: Incidents, reporting: psycopg.Connection) -> None:
    card = unique("card")
    incident = make_incident("card_testing", card, [{"small_count": 3, "large_amount": 900.0}])
    alert = reporting.execute("SELECT alert_id, evidence FROM alerts WHERE incident_id = %s", (incident,)).fetchone()
    cookies = {"_token": token(console, stack_settings, stack_settings.airflow_viewer_user)}
    page = requests.get(f"{console}{PREFIX}/alerts/{alert['alert_id']}/events", cookies=cookies, timeout=60)
    assert page.status_code == 200
    # made-up alerts have no events in Kafka: the page names the window and the ids it did not find
    assert "events.payments" in page.text and card in page.text
    assert "Not found in that window" in page.text and alert["evidence"]["event_ids"][0] in page.text
    assert "kcat -C -b" in page.text and "-t events.payments" in page.text
    unknown = requests.get(f"{console}{PREFIX}/alerts/{'f' * 64}/events", cookies=cookies, timeout=10)
    assert unknown.status_code == 404
