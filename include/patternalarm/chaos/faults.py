"""Real faults on the real processes of the local stack, through its supervisor (never a mock).

- ``kill(program)``: SIGKILL the program's process; the supervisor restarts it
  (``autorestart``), as a crashed service on a real host is restarted by systemd or Kubernetes;
- ``kill_and_hold(program)``: SIGKILL, then keep it down (the supervisor is told to stop the restart)
  until ``bring_back(program)`` — a host that stays down for the fault's duration;
- ``postgres_immediate_restart()``: SIGQUIT to the postmaster, which is what ``pg_ctl restart -m
  immediate`` sends: every backend is killed without a checkpoint, commits in flight have an unknown
  outcome, and the supervisor starts it again (crash recovery replays the WAL).
"""

from __future__ import annotations

import os
import signal
import time
import xmlrpc.client
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings
    from include.patternalarm.stack.supervisor import Supervisor


class FaultError(RuntimeError):
    """A fault could not be injected or lifted (the message says which process and why)."""


@dataclass(frozen=True)
class Injected:
    program: str
    pid: int
    signal: str
    at: float  # epoch seconds


def _supervisor(settings: Settings) -> Supervisor:
    from include.patternalarm.stack.supervisor import Supervisor

    return Supervisor(settings)


def info(settings: Settings, program: str) -> dict:
    try:
        return _supervisor(settings).info(program)
    except (OSError, xmlrpc.client.Fault) as exc:
        raise FaultError(f"the stack's supervisor does not know {program!r} ({exc}); is the stack up?") from None


def pid_of(settings: Settings, program: str) -> int:
    found = info(settings, program)
    if found["statename"] != "RUNNING" or not found.get("pid"):
        raise FaultError(f"{program} is {found['statename']}, not running: nothing to kill")
    return int(found["pid"])


def _signal_tree(pid: int, sig: signal.Signals) -> None:
    try:
        root = psutil.Process(pid)
        children = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for proc in [root, *children]:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            continue


def children(settings: Settings, program: str) -> list[int]:
    """The pids of the program's child processes (e.g. the scheduler's executor workers)."""
    try:
        return [c.pid for c in psutil.Process(pid_of(settings, program)).children(recursive=True)]
    except psutil.Error:
        return []


def reap_idle(pids: list[int], wait_s: float = 120.0) -> list[int]:
    """SIGKILL those of ``pids`` (the orphans a kill left) that are still alive once they are idle (an Airflow
    worker shows ``<idle>`` in its title); waits up to ``wait_s`` for a busy one to finish its task."""
    reaped: list[int] = []
    deadline = time.monotonic() + wait_s
    pending = list(pids)
    while pending:
        for pid in list(pending):
            try:
                proc = psutil.Process(pid)
                idle = "<idle>" in " ".join(proc.cmdline()) or proc.status() == psutil.STATUS_ZOMBIE
            except psutil.Error:
                pending.remove(pid)
                continue
            if idle or time.monotonic() > deadline:
                try:
                    proc.kill()
                    reaped.append(pid)
                except psutil.Error:
                    pass
                pending.remove(pid)
        if pending:
            time.sleep(1.0)
    return reaped


def kill(settings: Settings, program: str, sig: signal.Signals = signal.SIGKILL, *, tree: bool = False) -> Injected:
    """Send ``sig`` to the program's process (with ``tree``, to its children too); the supervisor restarts it.
    Without ``tree`` the children live on, as after ``kill -9 <pid>`` on a host (e.g. the task processes of a
    killed Airflow scheduler)."""
    pid = pid_of(settings, program)
    at = time.time()
    if tree:
        _signal_tree(pid, sig)
    else:
        os.kill(pid, sig)
    return Injected(program, pid, sig.name, at)


def kill_and_hold(settings: Settings, program: str, sig: signal.Signals = signal.SIGKILL,
                  timeout: float = 60.0) -> Injected:
    """Kill the program and keep it down: the supervisor's automatic restart is stopped as soon as it starts."""
    injected = kill(settings, program, sig)
    sup = _supervisor(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = sup.info(program)
        name = state["statename"]
        if name in ("STOPPED", "FATAL"):
            return injected
        proxy = sup._proxy().supervisor
        try:
            if name in ("STARTING", "BACKOFF") or (name == "RUNNING" and state["pid"] != injected.pid):
                proxy.stopProcess(program, False)  # the restart began: stop it …
            if name in ("STARTING", "RUNNING", "STOPPING") and state["pid"] not in (0, injected.pid):
                proxy.signalProcess(program, "KILL")  # … now (a starting broker may ignore SIGTERM for a minute)
        except xmlrpc.client.Fault as exc:  # EXITED / a state that moved on meanwhile: look again
            if not any(code in exc.faultString for code in ("NOT_RUNNING", "BAD_SIGNAL")):
                raise FaultError(f"cannot hold {program} down: {exc.faultString}") from None
        time.sleep(0.1)
    raise FaultError(f"{program} did not stay down after the kill (last state {name})")


def stop(settings: Settings, program: str) -> Injected:
    """A clean stop (SIGTERM through the supervisor) that keeps the program down."""
    pid = pid_of(settings, program)
    at = time.time()
    _supervisor(settings).stop(program)
    return Injected(program, pid, "TERM", at)


def bring_back(settings: Settings, program: str, timeout: float = 120.0) -> float:
    """Start a held-down program again; returns when the supervisor reports it RUNNING (epoch seconds)."""
    sup = _supervisor(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = sup.info(program)["statename"]
        if state == "RUNNING":
            return time.time()
        if state in ("STOPPED", "EXITED", "FATAL", "BACKOFF"):  # (STOPPING: wait until it is stopped)
            try:
                sup.start(program)
            except xmlrpc.client.Fault as exc:
                if "ALREADY_STARTED" not in exc.faultString and "SPAWN_ERROR" not in exc.faultString:
                    raise FaultError(f"cannot start {program}: {exc.faultString}") from None
        time.sleep(0.5)
    raise FaultError(f"{program} not RUNNING {timeout:.0f}s after it was started again")


def wait_restarted(settings: Settings, injected: Injected, timeout: float = 120.0) -> float | None:
    """When (epoch seconds) the supervisor had the program running again under a new pid; None on timeout."""
    sup = _supervisor(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = sup.info(injected.program)
        except (OSError, xmlrpc.client.Fault):
            state = {"statename": "?", "pid": 0}
        if state["statename"] == "RUNNING" and state["pid"] not in (0, injected.pid):
            return time.time()
        time.sleep(0.2)
    return None


def postgres_immediate_restart(settings: Settings, *, hold: bool = False) -> Injected:
    """``pg_ctl restart -m immediate`` as the supervisor runs PostgreSQL: SIGQUIT to the postmaster (an immediate
    shutdown: backends killed, no checkpoint), then the supervisor starts it again (unless ``hold``)."""
    if hold:
        return kill_and_hold(settings, "postgres", signal.SIGQUIT)
    return kill(settings, "postgres", signal.SIGQUIT)
