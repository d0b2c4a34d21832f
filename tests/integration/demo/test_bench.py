"""`bench --quick --json`: a parsable result with every figure the benchmark promises."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from include.patternalarm.settings import Settings


def test_quick_bench_reports_every_figure(stack_settings: Settings) -> None:
    done = subprocess.run(["bin/patternalarm", "bench", "--quick", "--json"], capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    result = json.loads(done.stdout[done.stdout.index("{"):])
    for when in ("machine_before", "machine_after"):
        assert result[when]["cores"] >= 1 and len(result[when]["load_avg"]) == 3
    steady = result["steady"]
    assert set(steady["latency_s"]) >= {"p50", "p95", "p99", "max"}
    assert steady["latency_s"]["n"] > 0 and steady["latency_s"]["p50"] <= steady["latency_s"]["max"]
    assert steady["per_rule"] and all({"recall", "precision"} <= set(r) for r in steady["per_rule"].values())
    assert steady["recall"] is not None and steady["recall"] > 0
    capacity = result["capacity"]
    assert capacity["steps"] and capacity["highest_sustained_events_per_s"] >= 0
    assert isinstance(capacity["saturated_first"], str) and capacity["saturated_first"]
    assert all("cpu_avg_pct" in s and "backlog_s" in s for s in capacity["steps"])
    assert all(s["cpu_avg_pct"]["bench traffic generator"] > 0 and "after_gc_peak_mb" in s["taskmanager_heap"]
               for s in capacity["steps"])
    # the judgement: the jobs' own lag at both ends and the step's scenario alerts, with the reasons
    assert all({"lag_start", "lag_end", "scenario_alerts", "scenario_alerts_lost", "why_not"} <= set(s)
               for s in capacity["steps"])
    assert all(s["sustained"] == (not s["why_not"]) for s in capacity["steps"])
    spike = result["spike"]
    assert {"lost", "duplicated", "scaling_events", "p99_before_during_after_s", "late_records"} <= set(spike)
    for part in (result["steady"], spike):
        late = part["late_records"]
        assert late["routed_to_events_late"] >= 0 and late["dropped_downstream"] >= 0, late
    assert spike["duplicated"] >= 0
    heap = spike["taskmanager_heap"]  # the TaskManager's heap in the spike, against its maximum
    assert heap["samples"] > 0 and 0 < heap["peak_used_mb"] <= heap["max_mb"], heap
    # what the collections left (the TaskManager's GC log; a short spike may see none): the live heap
    assert heap["collections"] >= 0 and "after_gc_peak_pct" in heap, heap
    assert heap["collections"] == 0 or 0 < heap["after_gc_peak_mb"] <= heap["max_mb"], heap
    # lost is judged once the jobs caught up; until then the undetected scenarios are pending
    assert (spike["lost"] is not None and spike["lost"] >= 0) or (spike["backlog_left"] > 0 and spike["pending"] >= 0)
    plots = [Path(p) for p in result["plots"]]
    names = {p.name for p in plots}
    assert {"steady_latency_over_time.png", "steady_latency_histogram.png", "steady_throughput_and_lag.png",
            "capacity_steps.png", "spike_throughput_and_lag.png"} <= names
    assert all(p.stat().st_size > 1000 for p in plots)
    assert (Path(result["report_dir"]) / "result.json").exists()
    backlog = result["backlog"]  # the per-event cost
    assert backlog["records"] >= 20_000 and backlog["parallelism"] == 1 and backlog["events_per_s"] > 0
    assert backlog["cpu_s_per_100k_events"] > 0 and backlog["idle_cpu_per_s"] >= 0
    assert backlog["live_jobs_before_idle"]["waited_s"] >= 0, "the idle baseline waits for the live jobs"
    assert backlog["cpu_by_thread_group_s"], "CPU by thread group (jcmd)"
    # checkpoint duration and size of every job (the backlog's own job and each live domain's)
    for cp in (backlog["checkpoints"], *result["checkpoints"].values()):
        assert cp["latest"]["duration_ms"] >= 0 and cp["latest"]["size_bytes"] >= 0, cp
