"""`incidents list | show | ack | assign | resolve | reopen | silence … | policy …` (as the analyst role)."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import typer
from rich.table import Table

from include.patternalarm.cli.common import (
    Col,
    age,
    clear_errors,
    console,
    fit_table,
    settings,
    short_time,
    utc_time,
)
from include.patternalarm.incidents import DISPOSITIONS, INCIDENT_DOMAINS, SEVERITIES, IncidentError, IncidentStore
from include.patternalarm.incidents.durations import format_duration, parse_duration, parse_until, parse_when
from include.patternalarm.incidents.queue import QUEUE_STATUSES, Cursor, QueueError, QueueFilter

StatusChoice = Enum("StatusChoice", {s: s for s in QUEUE_STATUSES}, type=str)
SeverityChoice = Enum("SeverityChoice", {s: s for s in SEVERITIES}, type=str)
DomainChoice = Enum("DomainChoice", {d: d for d in INCIDENT_DOMAINS}, type=str)
DispositionChoice = Enum("DispositionChoice", {d: d for d in DISPOSITIONS}, type=str)

incidents_app = typer.Typer(help="Work incidents (as the analyst role): list, show, ack, assign, resolve, reopen, "
                                 "silence, maintenance, policy.", no_args_is_help=True)
silence_app = typer.Typer(help="Silences: matching alerts are stored but open no incident while active.",
                          no_args_is_help=True)
policy_app = typer.Typer(help="Grouping policies: grouping window, auto-resolve quiet period, re-open window.",
                         no_args_is_help=True)
incidents_app.add_typer(silence_app, name="silence")
incidents_app.add_typer(policy_app, name="policy")

IdArg = Annotated[int, typer.Argument(min=1, help="The incident id (see `incidents list`).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who does it (default: your OS user).")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note for the timeline.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

_STATUS_STYLE = {"open": "bold red", "acknowledged": "yellow", "resolved": "green"}
_SHORT_STATUS = {"acknowledged": "ack"}
_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def _store() -> IncidentStore:
    return IncidentStore.for_role(settings(), "analyst")


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


_time = utc_time


def _dump(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _styled(value: str | None, styles: dict[str, str], names: dict[str, str] | None = None) -> str:
    if value is None:
        return ""
    style, text = styles.get(value), (names or {}).get(value, value)
    return f"[{style}]{text}[/]" if style else text


def _evidence_text(evidence: dict[str, Any], width: int = 90) -> str:
    ids = evidence.get("event_ids") or []
    shown = ", ".join(ids[:6]) + (f", … ({len(ids)} events)" if len(ids) > 6 else "")
    others = {k: v for k, v in evidence.items() if k != "event_ids"}
    text = f"events: {shown}" if ids else "no event ids"
    if others:
        rendered = json.dumps(others, default=str, separators=(", ", ": "))
        text += "\n" + (rendered if len(rendered) <= width else rendered[: width - 1] + "…")
    return text


# --- reading ----------------------------------------------------------------------------------


@incidents_app.command("list")
@clear_errors(IncidentError)
def list_incidents(
    status: Annotated[StatusChoice | None,
                      typer.Option(help="Only this status (active = open or acknowledged; default: any).")] = None,
    domain: Annotated[DomainChoice | None, typer.Option(help="Only this domain.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id (for platform incidents: the check).")] = None,
    severity: Annotated[SeverityChoice | None, typer.Option(help="Only this severity.")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only incidents assigned to this name ('-': unassigned).")]
    = None,
    entity: Annotated[str | None, typer.Option(help="Only this entity.")] = None,
    since: Annotated[str | None, typer.Option(help="Last seen since: a duration (2h, 1d) or an ISO-8601 time.")] = None,
    until: Annotated[str | None, typer.Option(help="Last seen before: a duration ago or an ISO-8601 time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows.")] = 50,
    after: Annotated[str | None, typer.Option(help="Continue after this position (printed below a full page).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Incidents, highest priority first (unscored last), then the most recently seen."""
    try:
        flt = QueueFilter(status=status.value if status else "all", domain=domain.value if domain else None, rule=rule,
                          severity=severity.value if severity else None, assignee=assignee, entity=entity,
                          since=parse_when(since) if since else None, until=parse_when(until) if until else None)
        position = Cursor.decode(after) if after else None
    except (ValueError, QueueError) as exc:
        raise IncidentError(str(exc)) from None
    rows, more = _store().queue_page(flt, after=position, limit=limit)
    if as_json:
        _dump(rows)
        return
    if not rows:
        console.print("no incidents match")
        return
    columns = [Col("id", justify="right"), Col("status"), Col("prio", 2, "right"), Col("severity"),
               Col("rule", max_width=20), Col("entity", max_width=22), Col("alerts", 4, "right"),
               Col("seen", 3, "right"), Col("assignee", 5, max_width=14), Col("disposition", 6), Col("domain", 7),
               Col("last seen (UTC)", 8, no_wrap=True)]
    console.print(fit_table(columns, ([
        r["incident_id"], _styled(r["status"], _STATUS_STYLE, _SHORT_STATUS), r["priority"],
        _styled(r["severity"], _SEVERITY_STYLE), r["rule_id"], r["entity"], r["alert_count"], age(r["last_seen"]),
        r["assignee"], r["disposition"], r["domain"], short_time(r["last_seen"])] for r in rows),
        title=f"incidents ({len(rows)} shown, priority then last seen; seen = how long ago)"))
    if more:
        console.print(f"more: add --after {Cursor.of(rows[-1]).encode()}", highlight=False)


@incidents_app.command("show")
@clear_errors(IncidentError)
def show(
    incident_id: IdArg,
    alerts: Annotated[int, typer.Option(min=0, max=10_000, help="Show at most this many alerts.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """One incident: its fields, its alerts with their evidence, and its timeline."""
    inc = _store().get(incident_id, alerts_limit=max(alerts, 1))
    if as_json:
        _dump(inc)
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    fields = [
        ("incident", str(inc["incident_id"])),
        ("status", _styled(inc["status"], _STATUS_STYLE)),
        ("severity", _styled(inc["severity"], _SEVERITY_STYLE)),
        ("rule / entity", f"{inc['domain']} · {inc['rule_id']} · {inc['entity']}"),
        ("seen (event time)", f"{_time(inc['first_seen'])} → {_time(inc['last_seen'])} UTC"),
        ("alerts", str(inc["alert_count"])),
        ("assignee", inc["assignee"] or "—"),
    ]
    if inc["priority"] is not None:
        fields.append(("priority", f"{inc['priority']}  {json.dumps(inc['priority_reasons'], default=str)}"))
    if inc["summary"]:
        fields.append(("summary", inc["summary"]))
    if inc["details"]:
        fields.append(("details", json.dumps(inc["details"], default=str)))
    if inc["status"] == "resolved":
        fields.append(("resolved", f"{_time(inc['resolved_at'])} by {inc['resolved_by']}"
                                   f" as {inc['disposition'] or 'no disposition'}"
                                   + (f" — {inc['resolution_note']}" if inc["resolution_note"] else "")))
    if inc["reopen_count"]:
        fields.append(("re-opened", f"{inc['reopen_count']} time(s)"))
    for key, value in fields:
        head.add_row(key, value)
    console.print(head)

    if alerts and inc["alerts"]:
        columns = [Col("alert", no_wrap=True), Col("v", 4), Col("severity", 2), Col("events (UTC)", 1, no_wrap=True),
                   Col("stored", 3, no_wrap=True), Col("evidence", max_width=60)]
        console.print(fit_table(columns, ([
            a["alert_id"][:12], a["rule_version"], _styled(a["severity"], _SEVERITY_STYLE),
            f"{short_time(a['first_event_time'])}\n→ {short_time(a['last_event_time'])}", short_time(a["persisted_at"]),
            _evidence_text(a["evidence"])] for a in inc["alerts"][:alerts]),
            title=f"alerts and their evidence ({len(inc['alerts'])} of {inc['alert_count']})"))

    timeline_rows = []
    for e in inc["events"]:
        moved = e["to_status"] and e["from_status"] != e["to_status"]
        change = f"{e['from_status'] or ''} → {e['to_status']}" if moved else ""
        extra = [e["note"] or ""]
        if e["kind"] == "alert_attached":
            detail = e["detail"]
            extra.append(f"{(e['alert_id'] or '')[:12]} {detail.get('severity', '')} v{detail.get('rule_version', '')}"
                         + (f" (raised from {detail['severity_raised_from']})"
                            if detail.get("severity_raised_from") else ""))
        elif e["detail"]:
            extra.append(json.dumps(e["detail"], default=str))
        timeline_rows.append([short_time(e["happened_at"]), e["kind"], f"{e['actor']} ({e['db_role']})", change,
                              " ".join(x for x in extra if x)])
    console.print(fit_table([Col("when (UTC)", no_wrap=True), Col("what"), Col("who", max_width=20),
                             Col("status", 1), Col("alert / note / detail", max_width=80)], timeline_rows,
                            title="timeline"))


# --- the lifecycle ------------------------------------------------------------------------------


def _done(row: dict[str, Any], verb: str, as_json: bool = False) -> None:
    if as_json:
        _dump(row)
        return
    console.print(f"incident {row['incident_id']} {verb}: status [bold]{row['status']}[/]"
                  + (f", assignee {row['assignee']}" if row.get("assignee") else "")
                  + (f", disposition {row['disposition']}" if row.get("disposition") else ""), highlight=False)


@incidents_app.command("ack")
@clear_errors(IncidentError)
def ack(incident_id: IdArg, note: NoteOpt = None,
        assignee: Annotated[str | None, typer.Option(help="Assign it (default: keep, or you).")] = None,
        actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge an open incident (open → acknowledged)."""
    _done(_store().acknowledge(incident_id, _actor(actor), note, assignee), "acknowledged", as_json)


@incidents_app.command("assign")
@clear_errors(IncidentError)
def assign(incident_id: IdArg,
           assignee: Annotated[str, typer.Argument(help="Who works it; '-' to unassign.")],
           actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Assign an open or acknowledged incident."""
    _done(_store().assign(incident_id, None if assignee == "-" else assignee, _actor(actor)), "assigned", as_json)


@incidents_app.command("resolve")
@clear_errors(IncidentError)
def resolve(incident_id: IdArg,
            disposition: Annotated[DispositionChoice, typer.Option(help="What it was.", case_sensitive=False)],
            note: NoteOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Resolve an open or acknowledged incident with a disposition."""
    _done(_store().resolve(incident_id, disposition.value, _actor(actor), note), "resolved", as_json)


@incidents_app.command("reopen")
@clear_errors(IncidentError)
def reopen(incident_id: IdArg, note: NoteOpt = None, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Re-open a resolved incident (resolved → open)."""
    _done(_store().reopen(incident_id, _actor(actor), note), "re-opened", as_json)


# --- silences -----------------------------------------------------------------------------------


def _period(for_: str | None, until: str | None, starts: str | None) -> tuple[datetime | None, datetime]:
    """``--starts`` (optional) and the end from ``--for`` or ``--until`` (exactly one)."""
    if (for_ is None) == (until is None):
        raise IncidentError("give exactly one of --for (a duration) or --until (a time)")
    try:
        starts_at = parse_until(starts) if starts else None
        if for_ is not None:
            return starts_at, (starts_at or datetime.now().astimezone()) + parse_duration(for_)
        return starts_at, parse_until(until or "")
    except ValueError as exc:
        raise IncidentError(str(exc)) from None


@silence_app.command("add")
@clear_errors(IncidentError)
def silence_add(
    comment: Annotated[str, typer.Option(help="Why (required).")],
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    entity: Annotated[str | None, typer.Option(help="Entities matching this glob (* and ?).")] = None,
    domain: Annotated[DomainChoice | None, typer.Option(help="Only this domain.")] = None,
    for_: Annotated[str | None, typer.Option("--for", help="How long, from the start (e.g. 2h).")] = None,
    until: Annotated[str | None, typer.Option(help="Until this ISO-8601 time (instead of --for).")] = None,
    starts: Annotated[str | None, typer.Option(help="Start at this ISO-8601 time or in this long (default now).")]
    = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Silence matching alerts (at least one of --rule, --entity, --domain; and --for or --until)."""
    starts_at, ends_at = _period(for_, until, starts)
    row = _store().create_silence(rule=rule, entity_pattern=entity, domain=domain.value if domain else None,
                                  starts_at=starts_at, ends_at=ends_at, comment=comment, actor=_actor(actor))
    if as_json:
        _dump(row)
        return
    console.print(f"silence {row['silence_id']} active {_time(row['starts_at'])} → {_time(row['ends_at'])} UTC for "
                  f"rule={row['rule_id'] or '*'} entity={row['entity_pattern'] or '*'} domain={row['domain'] or '*'}",
                  highlight=False)


@silence_app.command("list")
@clear_errors(IncidentError)
def silence_list(include_ended: Annotated[bool, typer.Option("--all", help="Also ended silences.")] = False,
                 as_json: JsonOpt = False) -> None:
    """Current and future silences (--all: also ended ones)."""
    rows = _store().list_silences(include_ended=include_ended)
    if as_json:
        _dump(rows)
        return
    if not rows:
        console.print("no silences" + ("" if include_ended else " now or planned (--all: also ended ones)"))
        return
    columns = [Col("id", justify="right"), Col("kind", 2), Col("active", 4), Col("rule", max_width=20),
               Col("entity", max_width=24), Col("domain", 5), Col("from (UTC)", 6, no_wrap=True),
               Col("until (UTC)", no_wrap=True), Col("matched", 3, "right"), Col("by", 7),
               Col("comment", 1, max_width=40)]
    console.print(fit_table(columns, ([
        r["silence_id"], r["kind"], "yes" if r["active"] else "no", r["rule_id"] or "*", r["entity_pattern"] or "*",
        r["domain"] or "*", short_time(r["starts_at"]),
        short_time(r["expired_at"]) + " (expired)" if r["expired_at"] else short_time(r["ends_at"]),
        r["matched_alerts"], r["created_by"], r["comment"]] for r in rows), title="silences"))


@silence_app.command("expire")
@clear_errors(IncidentError)
def silence_expire(silence_id: Annotated[int, typer.Argument(min=1, help="The silence id.")],
                   actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """End a silence (or a maintenance window) now."""
    row = _store().expire_silence(silence_id, _actor(actor))
    if as_json:
        _dump(row)
        return
    console.print(f"silence {row['silence_id']} expired at {_time(row['expired_at'])} UTC", highlight=False)


# --- maintenance windows ------------------------------------------------------------------------


@incidents_app.command("maintenance")
@clear_errors(IncidentError)
def maintenance(
    entities: Annotated[list[str], typer.Argument(help="Devices (or any entities; globs with * and ? match many).")],
    for_: Annotated[str | None, typer.Option("--for", help="How long, from the start (e.g. 2h).")] = None,
    until: Annotated[str | None, typer.Option(help="Until this ISO-8601 time (instead of --for).")] = None,
    starts: Annotated[str | None, typer.Option(help="Start at this ISO-8601 time or in this long (default now).")]
    = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule, e.g. missing_heartbeat (default: every rule).")]
    = None,
    domain: Annotated[DomainChoice | None, typer.Option(help="Only this domain (default: any).")] = None,
    comment: Annotated[str | None, typer.Option(help="Why (default: 'planned maintenance').")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Planned silence: entities in a maintenance window are not 'missing' — their alerts are stored but open
    no incident until the window ends (`silence list` shows it, `silence expire ID` ends it early)."""
    starts_at, ends_at = _period(for_, until, starts)
    rows = _store().start_maintenance(entities, rule=rule, domain=domain.value if domain else None,
                                      starts_at=starts_at, ends_at=ends_at, comment=comment or "planned maintenance",
                                      actor=_actor(actor))
    if as_json:
        _dump(rows)
        return
    first = rows[0]
    console.print(f"maintenance {_time(first['starts_at'])} → {_time(first['ends_at'])} UTC for {len(rows)} "
                  f"entit{'y' if len(rows) == 1 else 'ies'} (rule {first['rule_id'] or 'any'}, domain "
                  f"{first['domain'] or 'any'}): silence id(s) {', '.join(str(r['silence_id']) for r in rows)}",
                  highlight=False)


# --- policies -----------------------------------------------------------------------------------


@policy_app.command("list")
@clear_errors(IncidentError)
def policy_list(as_json: JsonOpt = False) -> None:
    """Every grouping policy ('*' is the default for rules without their own)."""
    rows = _store().policies()
    if as_json:
        _dump(rows)
        return
    columns = [Col("rule", max_width=30), Col("grouping window"), Col("auto-resolve after"), Col("re-open window"),
               Col("updated (UTC)", 2, no_wrap=True), Col("by", 1)]
    console.print(fit_table(columns, ([
        r["rule_id"], format_duration(r["grouping_window"]), format_duration(r["auto_resolve_after"]),
        format_duration(r["reopen_window"]), short_time(r["updated_at"]), r["updated_by"]] for r in rows),
        title="grouping policies"))


@policy_app.command("set")
@clear_errors(IncidentError)
def policy_set(
    rule: Annotated[str, typer.Argument(help="The rule id, or '*' for the default.")],
    grouping_window: Annotated[str | None, typer.Option(help="e.g. 30m")] = None,
    auto_resolve_after: Annotated[str | None, typer.Option(help="e.g. 2h, or 'never'")] = None,
    reopen_window: Annotated[str | None, typer.Option(help="e.g. 1h (0 = never re-open)")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a rule's policy; options not given keep their current (or default) value."""
    store = _store()
    current = store.effective_policy(rule)
    try:
        grouping = parse_duration(grouping_window) if grouping_window else current["grouping_window"]
        if auto_resolve_after is None:
            quiet = current["auto_resolve_after"]
        else:
            quiet = None if auto_resolve_after.strip().lower() == "never" else parse_duration(auto_resolve_after)
        reopen = parse_duration(reopen_window) if reopen_window else current["reopen_window"]
    except ValueError as exc:
        raise IncidentError(str(exc)) from None
    row = store.set_policy(rule, grouping_window=grouping, auto_resolve_after=quiet, reopen_window=reopen,
                           actor=_actor(actor))
    if as_json:
        _dump(row)
        return
    console.print(f"policy {row['rule_id']}: grouping window {format_duration(row['grouping_window'])}, "
                  f"auto-resolve after {format_duration(row['auto_resolve_after'])}, "
                  f"re-open window {format_duration(row['reopen_window'])}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")
