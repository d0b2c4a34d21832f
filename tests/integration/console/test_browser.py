"""The incident console in a real browser, one test per flow an analyst performs.

Headless Chromium (Debian's package) driven by Playwright against an api-server running this
checkout's plugin; assertions are on what the pages show. Incidents are made through the sink's own
function, and what the browser does is checked in the incident store (what
`bin/patternalarm incidents show` prints) — and the other way round.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from playwright.sync_api import expect

from include.patternalarm.incidents import IncidentStore
from include.patternalarm.settings import Settings
from tests.integration.console.conftest import PREFIX, Browse, Incidents
from tests.support import unique

TRAVEL = {"distance_km": 1021.4, "speed_kmh": 122568.0, "from": {"lat": 48.8566, "lon": 2.3522},
          "to": {"lat": 41.9028, "lon": 12.4964}}


def _timeline(page: Any) -> list[str]:
    return [row.inner_text() for row in page.get_by_test_id("timeline").locator("tbody tr").all()]


def test_an_analyst_signs_in_and_opens_the_console_from_airflows_navigation(browse: Browse, console: str,
                                                                           stack_settings: Settings) -> None:
    page = browse(stack_settings.airflow_analyst_user)
    page.get_by_role("link", name="Incidents").click()
    expect(page).to_have_url(re.compile(r"/plugin/incidents$"))
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("heading", name="Incident queue")).to_be_visible()
    expect(frame.get_by_test_id("who")).to_contain_text(f"{stack_settings.airflow_analyst_user} · can act")


def test_the_queue_filters_counts_per_status_and_refreshes_keeping_the_filter(
        browse: Browse, console: str, stack_settings: Settings, make_incident: Incidents) -> None:
    rule, prefix = unique("console-rule"), unique("card")
    first = make_incident(rule, f"{prefix}-a", severity="high")
    make_incident(rule, f"{prefix}-b", severity="medium")
    make_incident(unique("console-other"), f"{prefix}-c")  # same entity prefix, another rule
    IncidentStore.for_role(stack_settings, "analyst").acknowledge(first, "someone-else")

    page = browse(stack_settings.airflow_analyst_user)
    page.goto(f"{console}{PREFIX}/?refresh=2")
    filters = page.get_by_test_id("filters")
    filters.get_by_label("rule").fill(rule)
    filters.get_by_label("entity").fill(prefix)
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"entity={prefix}"))
    rows = page.get_by_test_id("queue").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"{prefix}-b")  # neither is scored: the most recently seen first
    expect(page.get_by_test_id("count-active")).to_have_text("2")
    expect(page.get_by_test_id("count-open")).to_have_text("1")
    expect(page.get_by_test_id("count-acknowledged")).to_have_text("1")

    page.get_by_test_id("status-tabs").get_by_role("link", name=re.compile("^Acknowledged")).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{prefix}-a")
    page.get_by_test_id("status-tabs").get_by_role("link", name=re.compile("^Active")).click()
    expect(rows).to_have_count(2)

    # a new incident arrives: the page refreshes itself (every 2 s here), still filtered
    url = page.url
    make_incident(rule, f"{prefix}-d")
    expect(rows).to_have_count(3, timeout=15_000)
    expect(page.get_by_test_id("count-open")).to_have_text("2")
    assert page.url == url
    expect(filters.get_by_label("entity")).to_have_value(prefix)
    assert not page.get_by_test_id("queue").get_by_text(f"{prefix}-c").count()


def test_an_incident_page_shows_evidence_timeline_priority_and_the_entitys_other_incidents(
        browse: Browse, console: str, stack_settings: Settings, make_incident: Incidents,
        reporting: psycopg.Connection) -> None:
    card = unique("card")
    other = make_incident(unique("console-rule"), card, severity="medium")
    travel = make_incident("impossible_travel", card, [TRAVEL, {**TRAVEL, "speed_kmh": 98000.0}])
    with psycopg.connect(stack_settings.db_conninfo("control"), autocommit=True) as control:
        control.execute("SELECT set_incident_priorities(%s)", [psycopg.types.json.Jsonb([{
            "incident_id": travel, "priority": 87,
            "reasons": [{"factor": "severity", "points": 40, "detail": "severity high"},
                        {"factor": "entity_history", "points": 25, "detail": "an earlier incident confirmed as fraud"}],
        }])])

    page = browse(stack_settings.airflow_analyst_user)
    page.goto(f"{console}{PREFIX}/?status=all&entity={card}")
    page.get_by_test_id("queue").get_by_role("link", name=str(travel), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{travel} · impossible_travel · {card}")
    expect(page.get_by_test_id("reasons")).to_contain_text("+25 an earlier incident confirmed as fraud")

    pictures = page.get_by_test_id("picture")
    expect(pictures).to_have_count(2)
    first = pictures.first
    expect(first.locator("svg circle")).to_have_count(2)  # the two locations
    expect(first.locator("figcaption")).to_contain_text("A 48.8566, 2.3522 to B 41.9028, 12.4964: 1,021 km, "
                                                        "implied speed 122,568 km/h (limit 900 km/h)")
    expect(page.get_by_test_id("evidence").first).to_contain_text("speed_kmh")

    event_links = page.locator("article.alert").first.locator("a.event")
    expect(event_links).to_have_count(3)
    assert "/alerts/" in (event_links.first.get_attribute("href") or "")

    timeline = _timeline(page)
    assert timeline[0].split("\t")[1] == "opened" and sum("alert attached" in r for r in timeline) == 2
    assert any("priority changed" in r for r in timeline)
    expect(page.get_by_test_id("others")).to_contain_text("console-rule")
    page.get_by_test_id("others").get_by_role("link", name=str(other), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{other}")


def test_acknowledge_then_resolve_as_false_positive_shows_in_the_timeline_and_the_rule_quality(
        browse: Browse, console: str, stack_settings: Settings, make_incident: Incidents) -> None:
    rule, card = unique("console-rule"), unique("card")
    incident = make_incident(rule, card)
    user = stack_settings.airflow_analyst_user
    page = browse(user)

    page.goto(f"{console}{PREFIX}/rules?rule={rule}")
    quality = page.get_by_test_id("quality").locator(f"tr[data-rule='{rule}']")
    expect(quality.get_by_test_id("fp-share")).to_have_text("no dispositions yet")

    page.goto(f"{console}{PREFIX}/incidents/{incident}")
    page.get_by_label("acknowledge note").fill("looking into it")
    page.get_by_test_id("ack").click()
    expect(page.get_by_test_id("message")).to_have_text("Acknowledged.")
    expect(page.get_by_test_id("status")).to_have_text("acknowledged")
    expect(page.get_by_test_id("assignee")).to_have_text(user)
    assert any("acknowledged" in r and user in r and "looking into it" in r for r in _timeline(page))

    page.get_by_test_id("disposition").select_option("false_positive")
    page.get_by_label("resolution note").fill("test card of the QA team")
    page.get_by_test_id("resolve").click()
    expect(page.get_by_test_id("message")).to_have_text("Resolved.")
    expect(page.get_by_test_id("status")).to_have_text("resolved")
    expect(page.get_by_test_id("resolution")).to_contain_text("false_positive")
    expect(page.get_by_test_id("actions").get_by_test_id("reopen")).to_be_visible()
    kinds = [r.split("\t")[1] for r in _timeline(page)]
    assert kinds == ["opened", "alert attached", "acknowledged", "resolved"]

    # what `bin/patternalarm incidents show` reads: the browser's actions, by the Airflow user
    shown = IncidentStore.for_role(stack_settings, "analyst").get(incident)
    assert (shown["status"], shown["disposition"], shown["acknowledged_by"], shown["resolved_by"]) == (
        "resolved", "false_positive", user, user)
    assert [(e["kind"], e["actor"]) for e in shown["events"]][-2:] == [("acknowledged", user), ("resolved", user)]

    page.goto(f"{console}{PREFIX}/rules?rule={rule}")
    expect(quality.get_by_test_id("fp-share")).to_contain_text("100%")
    expect(quality.get_by_test_id("fp-share")).to_contain_text("of 1")

    # and the other way round: a re-open from the command line shows in the browser
    IncidentStore.for_role(stack_settings, "analyst").reopen(incident, "cli-user", "not a test card after all")
    page.goto(f"{console}{PREFIX}/incidents/{incident}")
    expect(page.get_by_test_id("status")).to_have_text("open")
    assert "reopened" in _timeline(page)[-1] and "cli-user" in _timeline(page)[-1]


def test_a_change_someone_made_first_is_reported_not_overwritten(browse: Browse, console: str,
                                                                stack_settings: Settings,
                                                                make_incident: Incidents) -> None:
    incident = make_incident(unique("console-rule"), unique("card"))
    page = browse(stack_settings.airflow_analyst_user)
    page.goto(f"{console}{PREFIX}/incidents/{incident}")
    expect(page.get_by_test_id("status")).to_have_text("open")

    IncidentStore.for_role(stack_settings, "analyst").acknowledge(incident, "bob", assignee="bob")
    with page.expect_response(re.compile(rf"/incidents/{incident}/assign")) as response:
        page.get_by_test_id("assign-me").click()
    assert response.value.status == 409
    expect(page.get_by_test_id("message")).to_contain_text(
        f"incident {incident} changed after you loaded it: acknowledged by bob")
    expect(page.get_by_test_id("status")).to_have_text("acknowledged")  # the page shows the current state
    expect(page.get_by_test_id("assignee")).to_have_text("bob")
    assert IncidentStore.for_role(stack_settings, "analyst").get(incident)["assignee"] == "bob"

    page.get_by_test_id("assign-me").click()  # based on the current version now: it works
    expect(page.get_by_test_id("message")).to_have_text("Assignment changed.")
    expect(page.get_by_test_id("assignee")).to_have_text(stack_settings.airflow_analyst_user)


def test_a_viewer_reads_the_queue_and_incidents_but_cannot_act(browse: Browse, console: str,
                                                               stack_settings: Settings,
                                                               make_incident: Incidents) -> None:
    card = unique("card")
    incident = make_incident(unique("console-rule"), card)
    page = browse(stack_settings.airflow_viewer_user, login="cookie")
    page.goto(f"{console}{PREFIX}/?entity={card}")
    expect(page.get_by_test_id("queue").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("who")).to_contain_text("read-only")

    page.get_by_test_id("queue").get_by_role("link", name=str(incident), exact=True).click()
    expect(page.get_by_test_id("timeline")).to_be_visible()
    expect(page.get_by_test_id("read-only")).to_be_visible()
    actions = page.get_by_test_id("actions")
    expect(actions.locator("form")).to_have_count(0)
    expect(actions.get_by_role("button")).to_have_count(0)

    # the endpoints refuse a viewer even with a well-formed, same-origin request from the browser
    refused = page.request.post(f"{console}{PREFIX}/incidents/{incident}/ack", headers={"Origin": console},
                                form={"version": "999999999"})
    assert refused.status == 403 and "analyst permission" in refused.text()
    assert IncidentStore.for_role(stack_settings, "analyst").get(incident)["status"] == "open"
