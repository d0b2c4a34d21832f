"""A small client for the Flink REST API (jobs, savepoints, checkpoints, rescaling)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

ACTIVE_STATES = ("INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING", "RECONCILING")


class FlinkRestError(RuntimeError):
    """A REST call failed or a job did not reach the expected state (the message says which)."""


def root_cause(stack_trace: object) -> str:
    """The innermost ``Caused by:`` line of a Java stack trace (its first line when it has none)."""
    text = str(stack_trace or "").strip()
    causes = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by:")]
    return (causes[-1] if causes else (text.splitlines()[0] if text else "(none)"))[:1000]


@dataclass(frozen=True)
class JobInfo:
    id: str
    name: str
    state: str
    start_time: int = 0  # epoch ms
    tasks: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class FlinkRest:
    """``FlinkRest(settings.flink_rest)``: jobs overview, one job, stop-with-savepoint, cancel."""

    def __init__(self, url: str, *, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FlinkRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, f"{self.url}{path}", timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise FlinkRestError(f"Flink REST API at {self.url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                errors = response.json().get("errors", [response.text])
            except ValueError:
                errors = [response.text]
            first = str(errors[0]).strip().splitlines()[0] if errors else ""
            raise FlinkRestError(f"{method} {path}: HTTP {response.status_code}: {first[:500]}")
        return response.json() if response.content else {}

    # --- jobs ----------------------------------------------------------------------------------
    def jobs(self) -> list[JobInfo]:
        overview = self.call("GET", "/jobs/overview").get("jobs", [])
        return [JobInfo(id=j["jid"], name=j["name"], state=j["state"], start_time=j.get("start-time", 0),
                        tasks=j.get("tasks", {})) for j in overview]

    def find_active(self, name: str) -> list[JobInfo]:
        """Active (not terminal) jobs called ``name`` (its ``pipeline.name``), newest first."""
        found = [j for j in self.jobs() if j.name == name and j.active]
        return sorted(found, key=lambda j: j.start_time, reverse=True)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{job_id}")

    def late_records_dropped(self, job_id: str, metric_ids: dict[str, list[str]] | None = None) -> dict[str, int]:
        """Per vertex, the records its event-time operators (OVER, MATCH_RECOGNIZE, windows) dropped as
        behind their watermark — summed over subtasks, counted since the tasks last started.
        ``metric_ids`` caches each vertex's metric names between calls."""
        cache = metric_ids if metric_ids is not None else {}
        out: dict[str, int] = {}
        for vertex in self.job(job_id).get("vertices", []):
            path = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
            ids = cache.get(vertex["id"])
            if ids is None:
                ids = cache[vertex["id"]] = [m["id"] for m in self.call("GET", path)
                                             if m["id"].endswith(".numLateRecordsDropped")]
            if ids:
                values = self.call("GET", path, params={"get": ",".join(ids), "agg": "sum"})
                out[vertex["id"]] = int(sum(float(v.get("sum", 0)) for v in values))
        return out

    def _source_metric(self, job_id: str, suffix: str, prefix: str = "") -> int | None:
        """A metric of the job's source vertices (names starting with ``prefix`` and ending in ``suffix``:
        the chained operators report metrics of their own) summed over subtasks; None while none reports it."""
        total, seen = 0, False
        for vertex in self.job(job_id).get("vertices", []):
            if not vertex["name"].startswith("Source:"):
                continue
            path = f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
            names = [m["id"] for m in self.call("GET", path) if m["id"].startswith(prefix) and m["id"].endswith(suffix)]
            if names:
                values = self.call("GET", path, params={"get": ",".join(names), "agg": "sum"})
                total += int(sum(float(v.get("sum", 0)) for v in values))
                seen = seen or bool(values)
        return total if seen else None

    def source_records(self, job_id: str) -> int:
        """Records the job's sources have read so far (``numRecordsOut`` of each source operator, summed
        over subtasks; valid or not) — how far a job has got through its input."""
        return self._source_metric(job_id, ".numRecordsOut", prefix="Source__") or 0

    def pending_records(self, job_id: str) -> int | None:
        """Records in the job's Kafka topics its sources have not fetched yet (the standard source metric
        ``pendingRecords``, summed over subtasks): the job's own lag, exact at every fetch — the committed
        consumer offsets move only at checkpoints. None while no source reports it."""
        return self._source_metric(job_id, ".pendingRecords")

    def lowest_watermark(self, job_id: str) -> int | None:
        """The lowest input watermark (epoch ms) over every vertex and subtask of the job except its
        sources (None while some vertex has none yet): everything before it has been processed."""
        lowest: int | None = None
        for vertex in self.job(job_id).get("vertices", []):
            if vertex["name"].startswith("Source:"):
                continue
            marks = self.call("GET", f"/jobs/{job_id}/vertices/{vertex['id']}/watermarks")
            values = [int(float(m["value"])) for m in marks if m["id"].endswith("currentInputWatermark")]
            if not values or min(values) <= -(2**62):
                return None
            lowest = min(values) if lowest is None else min(lowest, min(values))
        return lowest

    def taskmanager_heap(self) -> tuple[int, int]:
        """(used, max) JVM heap bytes summed over the TaskManagers (``Status.JVM.Memory.Heap.*``). Used
        includes garbage not collected yet: its peak is an upper bound of what the state and records need."""
        used = most = 0
        for tm in self.call("GET", "/taskmanagers").get("taskmanagers", []):
            metrics = self.call("GET", f"/taskmanagers/{tm['id']}/metrics",
                                params={"get": "Status.JVM.Memory.Heap.Used,Status.JVM.Memory.Heap.Max"})
            values = {m["id"]: int(float(m["value"])) for m in metrics}
            used += values.get("Status.JVM.Memory.Heap.Used", 0)
            most += values.get("Status.JVM.Memory.Heap.Max", 0)
        return used, most

    def backpressure(self, job_id: str) -> float:
        """Share of time (0..1) the most back-pressured subtask of the job spent back-pressured, over the
        last metrics window (``backPressuredTimeMsPerSecond``, max over subtasks and vertices)."""
        worst = 0.0
        for vertex in self.job(job_id).get("vertices", []):
            metrics = self.call("GET", f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics",
                                params={"get": "backPressuredTimeMsPerSecond", "agg": "max"})
            for metric in metrics:
                worst = max(worst, float(metric.get("max", 0.0) or 0.0) / 1000.0)
        return min(worst, 1.0)

    def latest_restorable(self, job_id: str) -> str | None:
        """External path of the job's newest completed checkpoint or savepoint (to resubmit from)."""
        latest = self.checkpoints(job_id).get("latest") or {}
        candidates = [latest.get(k) or {} for k in ("completed", "savepoint")]
        best = max(candidates, key=lambda c: c.get("latest_ack_timestamp", 0))
        return best.get("external_path")

    def failures_since(self, job_id: str, since_ms: float) -> int:
        """How many times the job failed (and restarted) since ``since_ms`` (epoch ms)."""
        entries = (self.exceptions(job_id).get("exceptionHistory") or {}).get("entries") or []
        return sum(1 for e in entries if e.get("timestamp", 0) >= since_ms)

    def newest_job(self, name: str) -> JobInfo | None:
        """The newest job called ``name`` in any state (the one to heal when none is active)."""
        jobs = [j for j in self.jobs() if j.name == name]
        return max(jobs, key=lambda j: j.start_time) if jobs else None

    def state(self, job_id: str) -> str:
        return str(self.job(job_id)["state"])

    def checkpoints(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{job_id}/checkpoints")

    def checkpoint_details(self, job_id: str, checkpoint_id: int) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{job_id}/checkpoints/details/{checkpoint_id}")

    def exceptions(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{job_id}/exceptions")

    def wait_for_state(self, job_id: str, states: tuple[str, ...], *, timeout: float = 120.0,
                       fail_states: tuple[str, ...] = ("FAILED", "CANCELED", "FINISHED")) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.state(job_id)
            if state in states:
                return state
            if state in fail_states:
                raise FlinkRestError(f"job {job_id} is {state} (waiting for {'/'.join(states)}): "
                                     f"{self.root_exception(job_id)}")
            time.sleep(0.5)
        raise FlinkRestError(f"job {job_id} still {state} after {timeout:.0f}s (waiting for {'/'.join(states)})")

    def wait_all_tasks_running(self, job_id: str, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
                raise FlinkRestError(f"job {job_id} is {job['state']}: {self.root_exception(job_id)}")
            vertices = job.get("vertices", [])
            if job["state"] == "RUNNING" and vertices and all(v.get("status") == "RUNNING" for v in vertices):
                return
            time.sleep(0.5)
        raise FlinkRestError(f"job {job_id}: not all tasks RUNNING after {timeout:.0f}s")

    def root_exception(self, job_id: str) -> str:
        try:
            data = self.exceptions(job_id)
        except FlinkRestError:
            return "(no exception history)"
        history = data.get("exceptionHistory", {}).get("entries") or []
        return root_cause(history[0].get("stacktrace", "") if history else data.get("root-exception", ""))

    # --- lifecycle -----------------------------------------------------------------------------
    def stop_with_savepoint(self, job_id: str, *, target_directory: str | None = None, drain: bool = False,
                            timeout: float = 120.0) -> str:
        """Stop ``job_id`` taking a savepoint; returns the savepoint path."""
        body: dict[str, Any] = {"drain": drain}
        if target_directory:
            body["targetDirectory"] = target_directory
        trigger = self.call("POST", f"/jobs/{job_id}/stop", json=body)["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call("GET", f"/jobs/{job_id}/savepoints/{trigger}")
            if status.get("status", {}).get("id") == "COMPLETED":
                operation = status.get("operation", {})
                if "failure-cause" in operation:
                    cause = root_cause(operation["failure-cause"].get("stack-trace", ""))
                    raise FlinkRestError(f"stop-with-savepoint of {job_id} failed: {cause}")
                return str(operation["location"])
            time.sleep(0.5)
        raise FlinkRestError(f"stop-with-savepoint of {job_id} did not complete within {timeout:.0f}s")

    def cancel(self, job_id: str) -> None:
        self.call("PATCH", f"/jobs/{job_id}?mode=cancel")

    def rescale(self, job_id: str, parallelism: int) -> None:
        """In-place rescale (adaptive scheduler): set every vertex's upper bound to ``parallelism``."""
        requirements = self.call("GET", f"/jobs/{job_id}/resource-requirements")
        for vertex in requirements.values():
            vertex["parallelism"]["upperBound"] = parallelism
        self.call("PUT", f"/jobs/{job_id}/resource-requirements", json=requirements)
