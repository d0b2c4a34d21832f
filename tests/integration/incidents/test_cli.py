"""`bin/patternalarm incidents …` as an analyst would type it, on the real database."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.settings import Settings
from tests.integration.incidents.conftest import Connect
from tests.support import unique

Ingest = Callable[[list[dict[str, Any]]], dict[str, int]]


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bin/patternalarm", *args], capture_output=True, text=True, timeout=120,
                          cwd=settings.repo_root, env={**os.environ, "COLUMNS": "250"})


def _incident(ingest: Ingest, connect: Connect, rule: str, entity: str = "cli-card") -> int:
    now = datetime.now(UTC)
    ingest([synthetic_alert(rule, entity, f"{rule}-e{i}", severity="high", first_event_time=now - timedelta(minutes=3),
                            amount_total=123.45) for i in range(2)])
    return connect("reporting").execute("SELECT incident_id FROM incidents WHERE rule_id = %s AND entity = %s",
                                        (rule, entity)).fetchone()["incident_id"]


def test_list_show_ack_resolve_reopen(stack_settings: Settings, ingest: Ingest, connect: Connect, rule: str) -> None:
    iid = _incident(ingest, connect, rule)

    listed = cli(stack_settings, "incidents", "list", "--rule", rule, "--status", "open", "--since", "1h", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["incident_id"] == iid and row["alert_count"] == 2 and row["severity"] == "high"
    table = cli(stack_settings, "incidents", "list", "--rule", rule, "--domain", "payments")
    assert table.returncode == 0 and "cli-card" in table.stdout

    shown = cli(stack_settings, "incidents", "show", str(iid))
    assert shown.returncode == 0, shown.stderr
    for expected in ("timeline", "alert_attached", "opened", f"{rule}-e0", "amount_total", "evidence"):
        assert expected in shown.stdout, expected
    detail = json.loads(cli(stack_settings, "incidents", "show", str(iid), "--json").stdout)
    assert len(detail["alerts"]) == 2 and detail["alerts"][0]["evidence"]["event_ids"]

    ack = cli(stack_settings, "incidents", "ack", str(iid), "--actor", "alice", "--note", "on it")
    assert ack.returncode == 0 and "acknowledged" in ack.stdout
    again = cli(stack_settings, "incidents", "ack", str(iid), "--actor", "alice")
    assert again.returncode == 1 and "already acknowledged" in again.stderr

    bogus = cli(stack_settings, "incidents", "resolve", str(iid), "--disposition", "probably_fine")
    assert bogus.returncode == 2 and "probably_fine" in bogus.stderr and "confirmed_fraud" in bogus.stderr
    missing = cli(stack_settings, "incidents", "resolve", str(iid))
    assert missing.returncode == 2 and "--disposition" in missing.stderr

    done = cli(stack_settings, "incidents", "resolve", str(iid), "--disposition", "confirmed_fraud", "--actor", "bob")
    assert done.returncode == 0 and "confirmed_fraud" in done.stdout
    twice = cli(stack_settings, "incidents", "resolve", str(iid), "--disposition", "benign")
    assert twice.returncode == 1 and "already resolved" in twice.stderr and "Traceback" not in twice.stderr

    reopened = cli(stack_settings, "incidents", "reopen", str(iid), "--note", "more activity")
    assert reopened.returncode == 0 and "open" in reopened.stdout
    timeline = [e["kind"] for e in json.loads(cli(stack_settings, "incidents", "show", str(iid), "--json").stdout)
                ["events"]]
    assert timeline[-3:] == ["acknowledged", "resolved", "reopened"]


def test_bad_parameters_get_clear_errors(stack_settings: Settings) -> None:
    cases = [
        (["incidents", "show", "999999999999"], 1, "does not exist"),
        (["incidents", "show", "0"], 2, "greater than or equal to 1"),
        (["incidents", "show", "abc"], 2, "valid integer"),
        (["incidents", "ack", "999999999999"], 1, "does not exist"),
        (["incidents", "list", "--status", "closed"], 2, "closed"),
        (["incidents", "list", "--domain", "casino"], 2, "casino"),
        (["incidents", "list", "--since", "last tuesday"], 1, "neither a duration"),
        (["incidents", "list", "--limit", "0"], 2, "--limit"),
        (["incidents", "silence", "add", "--comment", "x", "--for", "1h"], 1, "at least one matcher"),
        (["incidents", "silence", "add", "--comment", "x", "--rule", "r"], 1, "exactly one of --for"),
        (["incidents", "silence", "add", "--comment", "x", "--rule", "r", "--for", "soon"], 1, "not a duration"),
        (["incidents", "silence", "expire", "999999999999"], 1, "does not exist"),
        (["incidents", "policy", "set", "r", "--grouping-window", "-5m"], 1, "not a duration"),
        (["sink", "status", "--port", "1"], 3, "no incident sink answers"),
        (["sink", "status", "--topic", "no.such.topic.here"], 0, "does not exist"),
    ]
    for args, code, message in cases:
        result = cli(stack_settings, *args)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert message in result.stdout + result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr, args


def test_silence_and_policy_commands(stack_settings: Settings, ingest: Ingest, connect: Connect, rule: str) -> None:
    added = cli(stack_settings, "incidents", "silence", "add", "--rule", rule, "--entity", "quiet-*", "--for", "30m",
                "--comment", "known noisy test cards", "--actor", "carol", "--json")
    assert added.returncode == 0, added.stderr
    silence = json.loads(added.stdout)
    assert silence["rule_id"] == rule and silence["entity_pattern"] == "quiet-*" and silence["created_by"] == "carol"
    now = datetime.now(UTC)
    summary = ingest([synthetic_alert(rule, "quiet-1", f"{rule}-q", first_event_time=now),
                      synthetic_alert(rule, "loud-1", f"{rule}-l", first_event_time=now)])
    assert summary["silenced"] == 1 and summary["opened"] == 1
    listed = json.loads(cli(stack_settings, "incidents", "silence", "list", "--json").stdout)
    mine = next(s for s in listed if s["silence_id"] == silence["silence_id"])
    assert mine["active"] and mine["matched_alerts"] == 1
    expired = cli(stack_settings, "incidents", "silence", "expire", str(silence["silence_id"]))
    assert expired.returncode == 0 and "expired" in expired.stdout
    assert silence["silence_id"] not in {s["silence_id"] for s in json.loads(
        cli(stack_settings, "incidents", "silence", "list", "--json").stdout)}

    policy_rule = unique("test-policy")
    set_result = cli(stack_settings, "incidents", "policy", "set", policy_rule, "--grouping-window", "5m",
                     "--auto-resolve-after", "never")
    assert set_result.returncode == 0, set_result.stderr
    assert "grouping window 5m" in set_result.stdout and "auto-resolve after never" in set_result.stdout
    policies = json.loads(cli(stack_settings, "incidents", "policy", "list", "--json").stdout)
    mine = next(p for p in policies if p["rule_id"] == policy_rule)
    default = next(p for p in policies if p["rule_id"] == "*")
    assert mine["grouping_window"] == "0:05:00" and mine["auto_resolve_after"] is None
    assert mine["reopen_window"] == default["reopen_window"]  # not given: the default's value
