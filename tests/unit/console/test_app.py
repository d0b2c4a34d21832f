"""The console app's shape: every route behind the reader check, actions behind the analyst check,
same-origin forms, and pages that render (templates checked without a database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from fastapi.routing import APIRoute

from include.patternalarm.incidents.console import QueuePage
from patternalarm_airflow.console.access import require_analyst, require_reader, same_origin
from patternalarm_airflow.console.app import _root, app, templates


def test_every_route_requires_a_reader_and_actions_an_analyst() -> None:
    assert [d.dependency for d in app.router.dependencies] == [require_reader]
    routes = list(app.routes)
    assert routes and all(isinstance(r, APIRoute) for r in routes), "no mounted sub-apps (they skip dependencies)"
    posts = [r for r in routes if "POST" in r.methods and r.path != "/{path:path}"]
    assert posts and all(require_analyst in [d.call for d in r.dependant.dependencies] for r in posts)
    assert app.openapi_url is None and app.docs_url is None


def test_forms_must_come_from_this_origin() -> None:
    def request(**headers: str) -> SimpleNamespace:
        return SimpleNamespace(headers={"host": "127.0.0.1:8080", **headers})

    assert same_origin(request(origin="http://127.0.0.1:8080"))
    assert same_origin(request(referer="http://127.0.0.1:8080/patternalarm-incidents/incidents/4"))
    for bad in ({}, {"origin": "null"}, {"origin": "http://evil.example"}, {"origin": "http://127.0.0.1:8081"},
                {"referer": "javascript:alert(1)"}):
        assert not same_origin(request(**bad)), bad


def _incident() -> dict:
    t0 = datetime(2026, 12, 2, 10, tzinfo=UTC)
    return {
        "incident_id": 42, "domain": "payments", "rule_id": "impossible_travel", "entity": "card-<b>1</b>",
        "status": "open", "severity": "high", "priority": 87, "priority_updated_at": t0,
        "priority_reasons": [{"factor": "severity", "points": 40, "detail": "severity high"}],
        "first_seen": t0, "last_seen": t0 + timedelta(minutes=2), "alert_count": 1, "assignee": None,
        "acknowledged_at": None, "acknowledged_by": None, "resolved_at": None, "resolved_by": None,
        "disposition": None, "resolution_note": None, "reopen_count": 0, "summary": None, "details": {},
        "version": 7, "silences": [], "others": [],
        "events": [{"event_id": 7, "happened_at": t0, "kind": "opened", "actor": "sink", "db_role": "patternalarm_sink",
                    "from_status": None, "to_status": "open", "alert_id": None, "note": None,
                    "detail": {"severity": "high"}}],
        "alerts": [{"alert_id": "a" * 64, "rule_version": 1, "severity": "high", "first_event_time": t0,
                    "last_event_time": t0, "detected_at": t0, "persisted_at": t0, "source_topic": "alerts",
                    "source_partition": 0, "source_offset": 5, "picture": None, "key_values": [("speed_kmh", "9")],
                    "event_ids": ["e1"], "evidence": {"event_ids": ["e1"], "speed_kmh": 9}}],
    }


def test_the_incident_page_renders_escaped_with_actions_only_for_analysts() -> None:
    page = templates.get_template("incident.html")
    common = dict(root="../", inc=_incident(), reasons=_incident()["priority_reasons"], series=None, message=None,
                  message_kind="ok", dispositions=("confirmed_fraud", "false_positive", "benign"), back="",
                  rule_params={}, user="alice")
    analyst = page.render(may_act=True, **common)
    viewer = page.render(may_act=False, **common)
    assert "card-&lt;b&gt;1&lt;/b&gt;" in analyst and "<b>1</b>" not in analyst
    assert 'action="../incidents/42/ack"' in analyst and 'name="version" value="7"' in analyst
    assert "<form method=\"post\"" not in viewer and "acting on them needs the analyst permission" in viewer
    assert "+40" in analyst and "../alerts/" + "a" * 64 + "/events#e1" in analyst


def test_the_queue_page_renders_tabs_with_counts_and_a_next_link() -> None:
    row = {**_incident(), "priority_reasons": [{"detail": "an earlier incident confirmed as fraud", "points": 25}]}
    result = QueuePage([row], {"open": 3, "active": 3, "all": 5, "resolved": 2}, "87_1_42", None)
    html = templates.get_template("queue.html").render(
        root="./", result=result, flt=SimpleNamespace(status="active"), params={"entity": "card"}, problems=[],
        statuses=("active", "open", "acknowledged", "resolved", "all"), domains=(), severities=(), unassigned="-",
        choices={"rules": [], "assignees": []}, generated=datetime.now(UTC), back="entity=card", refresh_s=15,
        query=lambda **changes: "x", user="alice", may_act=False)
    assert 'data-testid="count-resolved">2<' in html and 'data-testid="count-acknowledged">0<' in html
    assert "an earlier incident confirmed as fraud" in html and 'data-testid="next"' in html
    assert "./incidents/42?from=entity%3Dcard" in html


def test_relative_root_from_any_page_depth() -> None:
    def root(path: str) -> str:
        return _root(SimpleNamespace(url=SimpleNamespace(path=f"/patternalarm-incidents{path}"),
                                                 scope={"root_path": "/patternalarm-incidents"}))

    assert [root(p) for p in ("/", "/rules", "/incidents/4", "/incidents/4/ack", "/alerts/x/events")] == [
        "./", "./", "../", "../../", "../../"]
