"""The JobManager restart watch: which supervisord events trigger a heal, and the listener's config."""

from __future__ import annotations

import configparser

from include.patternalarm.control.restart_watch import EVENTS, PROGRAM_NAME, RestartWatch, parse_payload, watch_service
from include.patternalarm.settings import get_settings
from include.patternalarm.stack.supervisor import render_config


def _watch() -> tuple[RestartWatch, list[int]]:
    calls: list[int] = []
    return RestartWatch(lambda: calls.append(1)), calls


def test_a_first_start_is_not_a_restart() -> None:
    watch, calls = _watch()
    assert not watch.event("PROCESS_STATE_RUNNING", {"processname": "flink-jobmanager"})
    assert calls == []


def test_an_exit_then_running_triggers_once() -> None:
    watch, calls = _watch()
    watch.event("PROCESS_STATE_EXITED", {"processname": "flink-jobmanager", "expected": "0"})
    assert watch.event("PROCESS_STATE_RUNNING", {"processname": "flink-jobmanager"})
    assert not watch.event("PROCESS_STATE_RUNNING", {"processname": "flink-jobmanager"})
    assert calls == [1]


def test_other_programs_are_ignored() -> None:
    watch, calls = _watch()
    watch.event("PROCESS_STATE_EXITED", {"processname": "flink-taskmanager"})
    watch.event("PROCESS_STATE_RUNNING", {"processname": "flink-taskmanager"})
    watch.event("PROCESS_STATE_RUNNING", {"processname": "flink-jobmanager"})
    assert calls == []


def test_parse_payload_reads_supervisor_tokens() -> None:
    body = "processname:flink-jobmanager groupname:flink-jobmanager from_state:STARTING pid:4242"
    assert parse_payload(body) == {"processname": "flink-jobmanager", "groupname": "flink-jobmanager",
                                   "from_state": "STARTING", "pid": "4242"}


def test_the_listener_is_an_eventlistener_logging_on_stderr() -> None:
    settings = get_settings()
    parser = configparser.RawConfigParser()
    parser.read_string(render_config(settings, [watch_service(settings).program]))
    section = f"eventlistener:{PROGRAM_NAME}"
    assert parser.has_section(section)
    assert parser.get(section, "events").split(",") == list(EVENTS)
    assert parser.has_option(section, "stderr_logfile")
    assert not parser.has_option(section, "redirect_stderr")  # supervisord refuses it for listeners
