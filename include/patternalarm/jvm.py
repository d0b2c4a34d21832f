"""CPU of a JVM and of each of its threads, read from outside: what a per-event CPU figure is made of.

``process_cpu_s(pid)`` is the process's user + system CPU seconds (psutil). ``thread_cpu_s(pid)`` asks the
JVM itself (``jcmd <pid> Thread.print``, JDK 11+) for every live thread's name and CPU time, so a
Flink TaskManager's cost can be split by task (``Source: … (1/1)#0``), checkpointing, GC and the rest.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import psutil

# Java threads ("main" #1 prio=5 … cpu=12.5ms …) and the JVM's own ("GC Thread#0" os_prio=0 cpu=…ms …,
# which have no thread number): without the latter a breakdown misses the collector's CPU
_THREAD = re.compile(r'^"(?P<name>[^"\n]*)" [^\n]*?\bcpu=(?P<cpu>[0-9.]+)ms ', re.MULTILINE)
_SUBTASK = re.compile(r"\s*\(\d+/\d+\)(#\d+)?$")


def process_cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def thread_cpu_s(pid: int, timeout: float = 30.0) -> dict[str, float]:
    """CPU seconds per thread name (threads of one name, e.g. subtasks of one task, are summed; the
    subtask suffix ``(1/2)#0`` is dropped). Empty when ``jcmd`` is not available."""
    jcmd = shutil.which("jcmd")
    if jcmd is None:
        return {}
    out = subprocess.run([jcmd, str(pid), "Thread.print"], capture_output=True, text=True, timeout=timeout,
                         check=False).stdout
    totals: dict[str, float] = {}
    for match in _THREAD.finditer(out):
        name = _SUBTASK.sub("", match.group("name"))
        totals[name] = totals.get(name, 0.0) + float(match.group("cpu")) / 1000.0
    return totals


# -Xlog:gc with the time decorator: "[2026-12-04T19:30:01.123+0000][12.345s] GC(12) Pause Young (Normal)
# (G1 Evacuation Pause) 3072M->1024M(5900M) 12.345ms" — the heap in use before and after one collection
_GC = re.compile(r"^\[(?P<at>[0-9T:.+-]+)\].*? GC\(\d+\) (?P<what>Pause [^\n]*?) \d+[KMG]->"
                 r"(?P<after>\d+)(?P<unit>[KMG])\(\d+[KMG]\)", re.MULTILINE)


def heap_after_collections(log: Path, since: float, until: float | None = None) -> list[tuple[float, str, float]]:
    """(epoch seconds, the pause's kind, heap MB left in use after it) for every collection pause logged
    between ``since`` and ``until`` in a ``-Xlog:gc:file=…:time`` log and its rotated files (.0, .1, …).
    What is left after a collection is the live heap (plus the old regions not yet collected): unlike the
    heap in use sampled at random times, it excludes the young garbage. Empty when there is no log."""
    found = []
    for path in sorted(log.parent.glob(log.name + "*")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for m in _GC.finditer(text):
            at = datetime.strptime(m.group("at"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            if at >= since and (until is None or at <= until):
                mb = int(m.group("after")) * {"K": 1 / 1024, "M": 1, "G": 1024}[m.group("unit")]
                found.append((at, m.group("what"), round(mb, 1)))
    return sorted(found)


def thread_group(name: str) -> str:
    """A thread's kind, for a CPU breakdown: task chains keep their name, the rest are grouped."""
    lowered = name.lower()
    if "checkpoint" in lowered or "asyncoperations" in lowered or "snapshot" in lowered:
        return "checkpointing"
    if lowered.startswith(("gc ", "g1", "parallel gc")) or "gc thread" in lowered:
        return "garbage collection"
    if "compiler" in lowered:
        return "JIT compiler"
    if "kafka" in lowered or "source data fetcher" in lowered:
        return "Kafka clients"
    if name.startswith(("Source:", "Sink:")) or " -> " in name or name.startswith(("Calc", "Match", "Over",
                                                                                      "PTF", "Process")):
        return name
    return "other JVM/Flink threads"


def diff(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent per thread between two ``thread_cpu_s`` snapshots (new threads count fully)."""
    return {name: round(cpu - before.get(name, 0.0), 3) for name, cpu in after.items()
            if cpu - before.get(name, 0.0) > 0.0005}
