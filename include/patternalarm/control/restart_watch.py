"""Heal at once when the JobManager comes back: a supervisord event listener that triggers the monitor.

With JobManager HA (the default, ``settings.flink_ha``) a restarted JobManager recovers its jobs itself and
the monitor run this listener triggers finds them and only reports. Without HA a restarted JobManager knows
no job; ``monitor_detection_jobs`` resubmits each from its newest retained checkpoint, but on its one-minute
schedule that waited up to a minute. This listener
(program ``flink-restart-watch``, started by ``stack up``) hears supervisord's process-state events: when
``flink-jobmanager`` exits unexpectedly and is RUNNING again, it waits until the JobManager's REST API answers
and triggers a monitor run through the Airflow API. It does not wait for the TaskManager: that one notices
the new JobManager only when its heartbeat times out (``heartbeat.timeout``), and the resubmissions compile
meanwhile (a submitted job waits for slots). The minute schedule stays the backstop (Airflow down, a paused
monitor, a JobManager restarted by hand are all healed as before).

A first start (``stack up``) is not a restart: only a RUNNING that follows an exit triggers.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from include.patternalarm.settings import Settings, get_settings

if TYPE_CHECKING:
    from include.patternalarm.stack.manager import Service

PROGRAM_NAME = "flink-restart-watch"
WATCHED = "flink-jobmanager"
MONITOR_DAG = "monitor_detection_jobs"
EVENTS = ("PROCESS_STATE_EXITED", "PROCESS_STATE_RUNNING")


class RestartWatch:
    """The state machine: which events mean "the JobManager restarted" (pure; the I/O is passed in)."""

    def __init__(self, on_restart: Callable[[], None]) -> None:
        self._on_restart = on_restart
        self._exited = False

    def event(self, event_name: str, payload: dict[str, str]) -> bool:
        """Feed one event; True when it completed a restart (``on_restart`` was called)."""
        if payload.get("processname") != WATCHED:
            return False
        if event_name == "PROCESS_STATE_EXITED":
            self._exited = True
        elif event_name == "PROCESS_STATE_RUNNING" and self._exited:
            self._exited = False
            self._on_restart()
            return True
        return False


def parse_payload(payload: str) -> dict[str, str]:
    """supervisord's ``key:value key:value`` event body (the first line; PROCESS_STATE events have one)."""
    first = payload.split("\n", 1)[0]
    return dict(token.split(":", 1) for token in first.split() if ":" in token)


def trigger_monitor(settings: Settings, say: Callable[[str], None], ready_timeout_s: float = 120.0) -> str | None:
    """Wait (bounded) until the JobManager answers, then trigger the monitor; the run id or None."""
    import requests

    from include.patternalarm.airflow_client import AirflowApiError, AirflowClient

    deadline = time.monotonic() + ready_timeout_s
    while True:
        try:
            if requests.get(f"{settings.flink_rest}/overview", timeout=3).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            say(f"the JobManager did not answer within {ready_timeout_s:.0f}s; leaving it to the minute schedule")
            return None
        time.sleep(0.5)
    client = AirflowClient(settings, timeout=10)
    try:
        if client.is_paused(MONITOR_DAG):
            say(f"{MONITOR_DAG} is paused; not triggering it (an operator paused healing)")
            return None
        run_id = client.trigger(MONITOR_DAG, unpause=False)
        say(f"the JobManager restarted: triggered {MONITOR_DAG} run {run_id}")
        return run_id
    except (AirflowApiError, OSError) as exc:
        say(f"could not trigger {MONITOR_DAG} ({exc}); the minute schedule will heal")
        return None
    finally:
        client.close()


def _say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def main() -> None:
    """The event listener loop (stdin/stdout are supervisord's protocol channel; logs go to stderr)."""
    from supervisor import childutils

    settings = get_settings()

    def on_restart() -> None:  # the answer to supervisord must not wait for the JobManager
        threading.Thread(target=trigger_monitor, args=(settings, _say), daemon=True).start()

    watch = RestartWatch(on_restart)
    _say(f"watching {WATCHED} for restarts")
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        try:
            watch.event(headers.get("eventname", ""), parse_payload(payload))
        except Exception as exc:  # noqa: BLE001 - a bad event must not stop the listener
            _say(f"ignored an event it could not read ({exc}): {headers} {payload[:200]!r}")
        childutils.listener.ok(sys.stdout)


def watch_service(settings: Settings) -> Service:
    from include.patternalarm.stack.manager import Service
    from include.patternalarm.stack.supervisor import Program

    program = Program(
        name=PROGRAM_NAME,
        group="flink-watch",
        command=[str(settings.venv_dir / "bin" / "python"), "-m", "include.patternalarm.control.restart_watch"],
        environment={"PYTHONUNBUFFERED": "1"},
        directory=settings.repo_root,
        stopwaitsecs=10,
        startsecs=2,
        events=EVENTS,
    )
    return Service(program, lambda _s: f"triggers {MONITOR_DAG} when {WATCHED} restarts")


if __name__ == "__main__":
    main()
