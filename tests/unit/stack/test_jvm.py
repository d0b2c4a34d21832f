"""Reading a JVM from outside: the TaskManager's GC log (the heap each collection left) and thread groups."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from include.patternalarm.jvm import heap_after_collections, thread_group

LOG = """[2026-12-04T20:05:09.015+0000][0.003s] Using G1
[2026-12-04T20:05:11.662+0000][2.650s] GC(0) Pause Young (Concurrent Start) (Metadata GC Threshold) 95M->22M(5924M) 38ms
[2026-12-04T20:05:11.662+0000][2.650s] GC(1) Concurrent Mark Cycle
[2026-12-04T20:05:11.690+0000][2.678s] GC(1) Pause Remark 24M->24M(5924M) 9.856ms
[2026-12-04T20:08:41.640+0000][212.628s] GC(70) Pause Young (Normal) (G1 Evacuation Pause) 4484M->4243M(5924M) 257.973ms
[2026-12-04T20:09:00.000+0000][231.000s] GC(71) Pause Full (G1 Compaction Pause) 5G->3G(5924M) 900.1ms
"""


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_the_heap_after_each_pause_is_read_from_the_log_and_its_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "flink-taskmanager-gc.log"
    log.write_text(LOG)
    (tmp_path / "flink-taskmanager-gc.log.0").write_text(
        "[2026-12-04T20:00:00.500+0000][1.0s] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 30M->512K(100M) 1ms\n")
    (tmp_path / "other.log").write_text(LOG)  # another file is not read
    found = heap_after_collections(log, since=0)
    assert [(what.split(" (")[0], mb) for _, what, mb in found] == [
        ("Pause Young", 0.5), ("Pause Young", 22), ("Pause Remark", 24), ("Pause Young", 4243), ("Pause Full", 3072)]
    assert found[0][0] == _at("2026-12-04T20:00:00.500+00:00")  # time order across the files


def test_only_the_pauses_of_the_window_count_and_no_log_is_no_figure(tmp_path: Path) -> None:
    log = tmp_path / "gc.log"
    log.write_text(LOG)
    window = heap_after_collections(log, since=_at("2026-12-04T20:08:00+00:00"), until=_at("2026-12-04T20:08:59+00:00"))
    assert [mb for _, _, mb in window] == [4243]
    assert heap_after_collections(tmp_path / "missing.log", since=0) == []


def test_collector_threads_count_as_garbage_collection() -> None:
    assert thread_group("G1 Conc#0") == thread_group("GC Thread#1") == "garbage collection"
    assert thread_group("Source: events_raw[1] -> Calc[2]") == "Source: events_raw[1] -> Calc[2]"
