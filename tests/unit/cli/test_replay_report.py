"""replay's report of the job's verdicts: when it waits by default, and how each outcome reads."""

from __future__ import annotations

import io

import pytest

from include.patternalarm.cli import replay as cli
from include.patternalarm.replay import JobDeadLetters


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_wait_is_short_on_a_terminal_and_off_for_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.sys, "stdout", _Tty())
    assert cli._wait_dlq_s(None, as_json=False) == cli.DEFAULT_WAIT_DLQ_S > 0
    assert cli._wait_dlq_s(None, as_json=True) == 0  # --json: off unless asked
    assert cli._wait_dlq_s(12.5, as_json=True) == 12.5
    monkeypatch.setattr(cli.sys, "stdout", io.StringIO())  # piped
    assert cli._wait_dlq_s(None, as_json=False) == 0
    assert cli._wait_dlq_s(0, as_json=False) == 0


def test_the_report_says_what_the_job_did_or_that_it_is_unknown() -> None:
    unknown = cli._job_line(JobDeadLetters(checked=False, note="not waited: …"))
    assert "not waited" in unknown and "0" not in unknown  # never a 0 that was not counted
    done = cli._job_line(JobDeadLetters(checked=True, complete=True, total=4, note="the job read all 9",
                                        reasons={"bad_event_time": 3, "late": 1}))
    assert "4" in done and "bad_event_time 3" in done and "late 1" in done and "read all" in done
    partial = cli._job_line(JobDeadLetters(checked=True, total=0, note="incomplete: after 30 s …"))
    assert "incomplete" in partial
