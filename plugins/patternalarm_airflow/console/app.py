"""The incident console: a FastAPI app the api-server mounts at ``/patternalarm-incidents``.

Server-rendered HTML (Jinja2, autoescaped) plus one small script for the queue's auto-refresh; every
asset comes from this app (no CDN, no fonts, no map tiles). Links are relative, so the app works under
any mount prefix and inside the Airflow UI's frame (*Browse → Incidents*).

Reads run as the database role ``patternalarm_reporting``; actions as ``patternalarm_analyst``, only
through the lifecycle functions (``ConsoleStore``), recording the Airflow user as the actor. Access:
``access.py``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from include.patternalarm.alerts import DISPOSITIONS, INCIDENT_DOMAINS, SEVERITIES
from include.patternalarm.incidents.console import ConsoleStore, IncidentConflict
from include.patternalarm.incidents.durations import parse_when
from include.patternalarm.incidents.queue import QUEUE_STATUSES, UNASSIGNED, QueueFilter
from include.patternalarm.incidents.store import IncidentError
from patternalarm_airflow.console import evidence
from patternalarm_airflow.console.access import require_analyst, require_reader, user_name

URL_PREFIX = "/patternalarm-incidents"
HERE = Path(__file__).parent
STATIC = {"console.css": "text/css", "console.js": "text/javascript", "icon.svg": "image/svg+xml"}
PAGE_SIZE = 50
REFRESH_S = 15
DONE = {"ack": "Acknowledged.", "assign": "Assignment changed.", "resolve": "Resolved.", "reopen": "Re-opened.",
        "silence": "Silenced: this rule's alerts on this entity are stored but open no incident until it ends.",
        "maintenance": "Maintenance window started: alerts of this entity are stored but open no incident."}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                        trim_blocks=True, lstrip_blocks=True)
templates.filters["fmt"] = evidence.fmt


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _ago(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _detail(event: dict[str, Any]) -> str:
    """A timeline event's detail in words: times as HH:MM:SS, empty values left out."""
    parts = []
    for key, value in (event.get("detail") or {}).items():
        if value is None or value == "":
            continue
        if key == "reasons" and isinstance(value, list):
            value = "; ".join(f"{r.get('detail')} ({r.get('points', 0):+})" if isinstance(r, dict) else str(r)
                              for r in value)
        if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
            value = value[11:19]
        parts.append(f"{key.replace('_', ' ')} {evidence.fmt(value)}")
    return " · ".join(parts)


templates.filters["when"] = _when
templates.filters["detail"] = _detail
templates.filters["ago"] = _ago

app = FastAPI(title="patternalarm incidents", dependencies=[Depends(require_reader)], docs_url=None,
              redoc_url=None, openapi_url=None)


@lru_cache(maxsize=1)
def _stores() -> tuple[ConsoleStore, ConsoleStore]:
    from include.patternalarm.settings import get_settings

    settings = get_settings()
    return ConsoleStore.for_role(settings, "reporting"), ConsoleStore.for_role(settings, "analyst")


def reader() -> ConsoleStore:
    return _stores()[0]


def analyst() -> ConsoleStore:
    return _stores()[1]


@lru_cache(maxsize=1)
def _catalog_params() -> dict[str, dict[str, float]]:
    """Each rule's parameters in the newest catalog (thresholds for the pictures); empty if unreadable."""
    try:
        from include.patternalarm.rules import load_catalog

        catalog = load_catalog()
    except Exception:  # noqa: BLE001 - pictures without thresholds are still right
        return {}
    return {rule_id: {k: float(v) for k, v in rule.values.items()} for rule_id, rule in catalog.rules.items()}


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    user = request.state.console_user
    body = templates.get_template(template).render(
        user=user_name(user), may_act=request.state.console_may_act, **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


@app.exception_handler(StarletteHTTPException)
async def _errors(request: Request, exc: StarletteHTTPException) -> Response:
    """Browsers get a page (401: with a sign-in link); API clients (``Accept`` without HTML) get JSON."""
    if "text/html" not in request.headers.get("accept", ""):
        return await http_exception_handler(request, exc)
    login = None
    if exc.status_code == 401:
        login = "/auth/login?" + urlencode({"next": str(request.url.path)})
    body = templates.get_template("error.html").render(status=exc.status_code, detail=exc.detail, login=login,
                                                       root=_root(request))
    return HTMLResponse(body, status_code=exc.status_code, headers=SECURITY_HEADERS)


def _root(request: Request) -> str:
    """The relative path from this page back to the app's root (links work under any mount prefix)."""
    path, prefix = request.url.path, request.scope.get("root_path", "")
    inside = path[len(prefix):] if prefix and path.startswith(prefix) else path
    return "../" * max(inside.count("/") - 1, 0) or "./"


# --- the queue --------------------------------------------------------------------------------


def _filter(params: dict[str, str], me: str) -> tuple[QueueFilter, list[str]]:
    """The queue's filter from the query string; problems are reported, not fatal (that filter is dropped)."""
    problems = []

    def choice(name: str, allowed: tuple[str, ...]) -> str | None:
        value = params.get(name) or None
        if value is not None and value not in allowed:
            problems.append(f"unknown {name} {value!r}")
            return None
        return value

    def when(name: str) -> datetime | None:
        text = params.get(name, "").strip()
        if not text:
            return None
        try:
            return parse_when(text)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            return None

    assignee = (params.get("assignee") or "").strip() or None
    if assignee == "me":
        assignee = me
    flt = QueueFilter(status=choice("status", QUEUE_STATUSES) or "active", domain=choice("domain", INCIDENT_DOMAINS),
                      rule=(params.get("rule") or "").strip() or None, severity=choice("severity", SEVERITIES),
                      assignee=assignee, since=when("since"), until=when("until"),
                      entity_contains=(params.get("entity") or "").strip() or None)
    if flt.since and flt.until and flt.since >= flt.until:
        problems.append("'since' must be before 'until'")
        flt = replace(flt, until=None)
    return flt, problems


def _refresh_seconds(request: Request) -> int:
    """The queue's auto-refresh period: ``?refresh=N`` (2–300 s), default ``REFRESH_S``."""
    try:
        return min(max(int(request.query_params.get("refresh", REFRESH_S)), 2), 300)
    except ValueError:
        return REFRESH_S


FILTER_KEYS = ("status", "domain", "rule", "severity", "assignee", "since", "until", "entity", "refresh")


@app.get("/")
def queue(request: Request) -> Response:
    params = {k: v for k, v in request.query_params.items() if k in (*FILTER_KEYS, "after", "before")}
    flt, problems = _filter(params, user_name(request.state.console_user))
    store = reader()
    try:
        result = store.queue(flt, after=params.get("after") or None, before=params.get("before") or None,
                             limit=PAGE_SIZE)
    except IncidentError as exc:
        problems.append(str(exc))
        result = store.queue(flt, limit=PAGE_SIZE)
    kept = {k: params[k] for k in FILTER_KEYS if params.get(k)}
    context = dict(
        root=_root(request), result=result, flt=flt, params=kept, problems=problems,
        statuses=QUEUE_STATUSES, domains=INCIDENT_DOMAINS, severities=SEVERITIES, unassigned=UNASSIGNED,
        choices=store.filter_choices(), generated=datetime.now(UTC),
        query=lambda **changes: urlencode({**{k: v for k, v in kept.items() if k not in changes},
                                           **{k: v for k, v in changes.items() if v}}),
        back=urlencode(kept), refresh_s=_refresh_seconds(request),
    )
    return page(request, "queue.html", **context)


# --- one incident ------------------------------------------------------------------------------


def _back(request: Request) -> str:
    """The queue's filter the analyst came from (only our own filter keys survive)."""
    raw = request.query_params.get("from", "")
    return urlencode([(k, v) for k, v in parse_qsl(raw) if k in FILTER_KEYS])


def _incident_page(request: Request, incident_id: int, *, status: int = 200, message: str | None = None,
                   message_kind: str = "ok", back: str = "") -> Response:
    try:
        inc = reader().incident(incident_id)
    except IncidentError as exc:
        code = 404 if "does not exist" in str(exc) else 400
        raise HTTPException(status_code=code, detail=str(exc)) from None
    params = _catalog_params().get(inc["rule_id"], {})
    root = _root(request)

    def event_link(alert_id: str) -> Any:
        return lambda event_id: f"{root}alerts/{alert_id}/events#{event_id}"

    for a in inc["alerts"]:
        a["picture"] = evidence.picture(inc["rule_id"], a["evidence"], params, event_link(a["alert_id"]))
        a["key_values"] = evidence.key_values(a["evidence"])
        a["event_ids"] = [str(e) for e in a["evidence"].get("event_ids") or []]
    reasons = inc["priority_reasons"] if isinstance(inc["priority_reasons"], list) else []
    return page(request, "incident.html", status=status, root=root, inc=inc, reasons=reasons,
                series=evidence.incident_series(inc["alerts"]), message=message, message_kind=message_kind,
                dispositions=DISPOSITIONS, back=back, rule_params=params)


@app.get("/incidents/{incident_id}")
def incident(request: Request, incident_id: int) -> Response:
    done = request.query_params.get("done")
    return _incident_page(request, incident_id, message=DONE.get(done or ""), back=_back(request))


@app.post("/incidents/{incident_id}/{action}", dependencies=[Depends(require_analyst)])
async def act(request: Request, incident_id: int, action: str) -> Response:
    form = await request.form()

    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip() or None if isinstance(value, str) else None

    actor = user_name(request.state.console_user)
    back = _back(request)
    try:
        if action in ("silence", "maintenance"):
            try:
                hours = float(text("hours") or "")
            except ValueError:
                raise IncidentError("give the number of hours") from None
            if not math.isfinite(hours):
                raise IncidentError("give a finite number of hours")
            analyst().silence_entity(incident_id, hours=hours, actor=actor, comment=text("comment"),
                                     maintenance=action == "maintenance")
        else:
            try:
                version = int(text("version") or "")
            except ValueError:
                raise HTTPException(status_code=400, detail="the form lacks the incident's version") from None
            assignee = text("assignee")
            if action == "assign" and assignee == "me":
                assignee = actor
            analyst().act(incident_id, version, action, actor, note=text("note"), assignee=assignee,
                          disposition=text("disposition"))
    except IncidentConflict as exc:
        return _incident_page(request, incident_id, status=409, message=str(exc), message_kind="conflict", back=back)
    except IncidentError as exc:
        if "does not exist" in str(exc):
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return _incident_page(request, incident_id, status=422, message=f"Refused: {exc}", message_kind="error",
                              back=back)
    query = urlencode({"done": action, **({"from": back} if back else {})})
    return RedirectResponse(f"../{incident_id}?{query}", status_code=303)


# --- the raw events of an alert -------------------------------------------------------------------

#: seconds of context read before an alert's first event: readings around a spike/drift, else a little slack
CONTEXT_S = {"spike": 120, "drift": 180, "flatline": 120, "out_of_range": 60}


@app.get("/alerts/{alert_id}/events")
def raw_events(request: Request, alert_id: str) -> Response:
    from include.patternalarm.incidents.raw_events import kcat_command, lookup_events
    from include.patternalarm.settings import get_settings
    from include.patternalarm.topics import EVENTS

    if len(alert_id) != 64 or not all(c in "0123456789abcdef" for c in alert_id):
        raise HTTPException(status_code=404, detail="not an alert id")
    try:
        alert = reader().alert(alert_id)
    except IncidentError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    ev = alert["evidence"]
    wanted = [str(e) for e in ev.get("event_ids") or []]
    before = CONTEXT_S.get(alert["rule_id"], 120 if evidence.baseline_of(ev) else 5)
    since = alert["first_event_time"] - timedelta(seconds=before)
    until = alert["last_event_time"] + timedelta(seconds=5)
    bootstrap, topic = get_settings().bootstrap_servers, EVENTS[alert["domain"]]
    found = lookup_events(bootstrap, topic, alert["entity"], wanted, since, until)
    params = _catalog_params().get(alert["rule_id"], {})
    return page(request, "events.html", root=_root(request), alert=alert, found=found, wanted=set(wanted),
                chart=_events_chart(found.events, set(wanted), ev, params),
                kcat=kcat_command(bootstrap, topic, alert["entity"], since, until, wanted),
                summary=_event_summary, event_when=_event_when)


_EVENT_META = {"event_id", "event_time", "domain", "_partition", "_offset", "_timestamp_ms"}
_EVENT_KEYS = {"card_id", "account_id", "player_id", "device_id"}  # the entity: already in the page's title


def _event_summary(event: dict[str, Any]) -> str:
    return " · ".join(f"{k} {evidence.fmt(v)}" for k, v in event.items()
                      if k not in _EVENT_META and k not in _EVENT_KEYS and v is not None)


def _event_when(event: dict[str, Any]) -> str:
    at = _event_time(event)
    return at.astimezone(UTC).strftime("%m-%d %H:%M:%S.%f")[:-3] if at else str(event.get("event_time", ""))


def _event_time(event: dict[str, Any]) -> datetime | None:
    value = event.get("event_time")
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, UTC)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        return None


def _events_chart(events: list[dict[str, Any]], wanted: set[str], ev: dict[str, Any],
                  params: dict[str, float]) -> Any:
    """Readings of the alert's sensor over the window (iot), or reaction time per kill (gaming)."""
    sensor = ev.get("sensor_type")
    readings = [(t, float(e["value"]), str(e.get("event_id")) in wanted) for e in events
                if e.get("event_type") == "reading" and evidence.number(e.get("value")) is not None
                and (sensor is None or e.get("sensor_type") == sensor) and (t := _event_time(e)) is not None]
    if readings:
        return evidence.series_chart([(t, v, None, None) for t, v, _ in readings], marked=[m for *_, m in readings],
                                     label=f"{len(readings)} {sensor or ''} readings of the entity around the alert "
                                           f"(red: the alert's own events)")
    kills = [(t, float(e["reaction_ms"]), bool(e.get("headshot"))) for e in events
             if e.get("action") == "kill" and evidence.number(e.get("reaction_ms")) is not None
             and (t := _event_time(e)) is not None]
    if kills:
        limit = params.get("max_avg_reaction_ms")
        return evidence.series_chart([(t, v, None, None) for t, v, _ in kills], marked=[h for *_, h in kills],
                                     reference=(limit, f"mean limit {evidence.fmt(limit)} ms") if limit else None,
                                     label=f"reaction time (ms) of {len(kills)} kills (red: headshot)")
    return None


# --- rule quality ------------------------------------------------------------------------------


@app.get("/rules")
def rules(request: Request) -> Response:
    try:
        days = int(request.query_params.get("days", "7"))
    except ValueError:
        days = 7
    days = min(max(days, 1), 90)
    rule = (request.query_params.get("rule") or "").strip() or None
    rows = reader().rule_quality(days, rule=rule)
    for r in rows:
        r["spark"] = evidence.sparkline(r["daily"], f"alerts per day over the last {days} days, oldest first")
    return page(request, "rules.html", root=_root(request), rows=rows, days=days, rule=rule)


# --- static files ------------------------------------------------------------------------------


@app.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(status_code=404, detail="not found")
    return FileResponse(HERE / "static" / name, media_type=STATIC[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


@app.api_route("/{path:path}", methods=["GET", "POST"], include_in_schema=False)
def not_found(path: str) -> Response:
    """Anything else: 404 — after the login check, like every route here."""
    raise HTTPException(status_code=404, detail="not found")
