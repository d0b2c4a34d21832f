"""`incidents list | show | ack | assign | resolve | reopen | silence … | policy …` (as the analyst role)."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import typer
from rich.table import Table

from include.patternalarm.cli.common import clear_errors, console, settings
from include.patternalarm.incidents import DISPOSITIONS, INCIDENT_DOMAINS, IncidentError, IncidentStore
from include.patternalarm.incidents.durations import format_duration, parse_duration, parse_until, parse_when

StatusChoice = Enum("StatusChoice", {s: s for s in ("open", "acknowledged", "resolved", "active")}, type=str)
DomainChoice = Enum("DomainChoice", {d: d for d in INCIDENT_DOMAINS}, type=str)
DispositionChoice = Enum("DispositionChoice", {d: d for d in DISPOSITIONS}, type=str)

incidents_app = typer.Typer(help="Work incidents (as the analyst role): list, show, ack, assign, resolve, reopen, "
                                 "silence, policy.", no_args_is_help=True)
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
_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def _store() -> IncidentStore:
    return IncidentStore.for_role(settings(), "analyst")


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


def _time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _dump(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _styled(value: str | None, styles: dict[str, str]) -> str:
    if value is None:
        return ""
    style = styles.get(value)
    return f"[{style}]{value}[/]" if style else value


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
                      typer.Option(help="Only this status (active = open or acknowledged).")] = None,
    domain: Annotated[DomainChoice | None, typer.Option(help="Only this domain.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id (for platform incidents: the check).")] = None,
    entity: Annotated[str | None, typer.Option(help="Only this entity.")] = None,
    since: Annotated[str | None, typer.Option(help="Last seen since: a duration (2h, 1d) or an ISO-8601 time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Incidents, highest priority first (unscored last), then the most recently seen."""
    try:
        since_at = parse_when(since) if since else None
    except ValueError as exc:
        raise IncidentError(f"--since: {exc}") from None
    rows = _store().list_incidents(status=status.value if status else None, domain=domain.value if domain else None,
                                   rule=rule, entity=entity, since=since_at, limit=limit)
    if as_json:
        _dump(rows)
        return
    if not rows:
        console.print("no incidents match")
        return
    table = Table(title=f"incidents ({len(rows)} shown, priority then last seen)")
    for col in ("id", "status", "prio", "severity", "domain", "rule", "entity", "alerts", "first seen (UTC)",
                "last seen (UTC)", "assignee", "disposition"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["incident_id"]), _styled(r["status"], _STATUS_STYLE),
                      "" if r["priority"] is None else str(r["priority"]), _styled(r["severity"], _SEVERITY_STYLE),
                      r["domain"], r["rule_id"], r["entity"], str(r["alert_count"]), _time(r["first_seen"]),
                      _time(r["last_seen"]), r["assignee"] or "", r["disposition"] or "")
    console.print(table)


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
        table = Table(title=f"alerts and their evidence ({len(inc['alerts'])} of {inc['alert_count']})")
        for col in ("alert", "v", "severity", "events (UTC)", "stored", "evidence"):
            table.add_column(col, overflow="fold")
        for a in inc["alerts"][:alerts]:
            table.add_row(a["alert_id"][:12], str(a["rule_version"]), _styled(a["severity"], _SEVERITY_STYLE),
                          f"{_time(a['first_event_time'])}\n→ {_time(a['last_event_time'])}",
                          _time(a["persisted_at"]), _evidence_text(a["evidence"]))
        console.print(table)

    timeline = Table(title="timeline")
    for col in ("when (UTC)", "what", "who", "status", "alert / note / detail"):
        timeline.add_column(col, overflow="fold")
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
        timeline.add_row(_time(e["happened_at"]), e["kind"], f"{e['actor']} ({e['db_role']})", change,
                         " ".join(x for x in extra if x))
    console.print(timeline)


# --- the lifecycle ------------------------------------------------------------------------------


def _done(row: dict[str, Any], verb: str) -> None:
    console.print(f"incident {row['incident_id']} {verb}: status [bold]{row['status']}[/]"
                  + (f", assignee {row['assignee']}" if row.get("assignee") else "")
                  + (f", disposition {row['disposition']}" if row.get("disposition") else ""), highlight=False)


@incidents_app.command("ack")
@clear_errors(IncidentError)
def ack(incident_id: IdArg, note: NoteOpt = None,
        assignee: Annotated[str | None, typer.Option(help="Assign it (default: keep, or you).")] = None,
        actor: ActorOpt = None) -> None:
    """Acknowledge an open incident (open → acknowledged)."""
    _done(_store().acknowledge(incident_id, _actor(actor), note, assignee), "acknowledged")


@incidents_app.command("assign")
@clear_errors(IncidentError)
def assign(incident_id: IdArg,
           assignee: Annotated[str, typer.Argument(help="Who works it; '-' to unassign.")],
           actor: ActorOpt = None) -> None:
    """Assign an open or acknowledged incident."""
    _done(_store().assign(incident_id, None if assignee == "-" else assignee, _actor(actor)), "assigned")


@incidents_app.command("resolve")
@clear_errors(IncidentError)
def resolve(incident_id: IdArg,
            disposition: Annotated[DispositionChoice, typer.Option(help="What it was.", case_sensitive=False)],
            note: NoteOpt = None, actor: ActorOpt = None) -> None:
    """Resolve an open or acknowledged incident with a disposition."""
    _done(_store().resolve(incident_id, disposition.value, _actor(actor), note), "resolved")


@incidents_app.command("reopen")
@clear_errors(IncidentError)
def reopen(incident_id: IdArg, note: NoteOpt = None, actor: ActorOpt = None) -> None:
    """Re-open a resolved incident (resolved → open)."""
    _done(_store().reopen(incident_id, _actor(actor), note), "re-opened")


# --- silences -----------------------------------------------------------------------------------


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
    if (for_ is None) == (until is None):
        raise IncidentError("give exactly one of --for (a duration) or --until (a time)")
    try:
        starts_at = parse_until(starts) if starts else None
        if for_ is not None:
            ends_at = (starts_at or datetime.now().astimezone()) + parse_duration(for_)
        else:
            ends_at = parse_until(until or "")
    except ValueError as exc:
        raise IncidentError(str(exc)) from None
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
    table = Table(title="silences")
    for col in ("id", "active", "rule", "entity", "domain", "from (UTC)", "until (UTC)", "matched", "by", "comment"):
        table.add_column(col, overflow="fold")
    for r in rows:
        until = _time(r["expired_at"]) + " (expired)" if r["expired_at"] else _time(r["ends_at"])
        table.add_row(str(r["silence_id"]), "yes" if r["active"] else "no", r["rule_id"] or "*",
                      r["entity_pattern"] or "*", r["domain"] or "*", _time(r["starts_at"]), until,
                      str(r["matched_alerts"]), r["created_by"], r["comment"])
    console.print(table)


@silence_app.command("expire")
@clear_errors(IncidentError)
def silence_expire(silence_id: Annotated[int, typer.Argument(min=1, help="The silence id.")],
                   actor: ActorOpt = None) -> None:
    """End a silence now."""
    row = _store().expire_silence(silence_id, _actor(actor))
    console.print(f"silence {row['silence_id']} expired at {_time(row['expired_at'])} UTC", highlight=False)


# --- policies -----------------------------------------------------------------------------------


@policy_app.command("list")
@clear_errors(IncidentError)
def policy_list(as_json: JsonOpt = False) -> None:
    """Every grouping policy ('*' is the default for rules without their own)."""
    rows = _store().policies()
    if as_json:
        _dump(rows)
        return
    table = Table(title="grouping policies")
    for col in ("rule", "grouping window", "auto-resolve after", "re-open window", "updated (UTC)", "by"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["rule_id"], format_duration(r["grouping_window"]), format_duration(r["auto_resolve_after"]),
                      format_duration(r["reopen_window"]), _time(r["updated_at"]), r["updated_by"])
    console.print(table)


@policy_app.command("set")
@clear_errors(IncidentError)
def policy_set(
    rule: Annotated[str, typer.Argument(help="The rule id, or '*' for the default.")],
    grouping_window: Annotated[str | None, typer.Option(help="e.g. 30m")] = None,
    auto_resolve_after: Annotated[str | None, typer.Option(help="e.g. 2h, or 'never'")] = None,
    reopen_window: Annotated[str | None, typer.Option(help="e.g. 1h (0 = never re-open)")] = None,
    actor: ActorOpt = None,
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
    console.print(f"policy {row['rule_id']}: grouping window {format_duration(row['grouping_window'])}, "
                  f"auto-resolve after {format_duration(row['auto_resolve_after'])}, "
                  f"re-open window {format_duration(row['reopen_window'])}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")
