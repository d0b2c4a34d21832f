"""Operators for the detection jobs: deploy (optionally from a savepoint), stop with savepoint, rescale."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from patternalarm_airflow.hooks.flink import FlinkHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class _FlinkOperator(BaseOperator):
    def __init__(self, *, flink_conn_id: str = FlinkHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flink_conn_id = flink_conn_id
        self._job_id: str | None = None

    @cached_property
    def hook(self) -> FlinkHook:
        return FlinkHook(flink_conn_id=self.flink_conn_id)


class FlinkDeployJobOperator(_FlinkOperator):
    """Submit a domain's detection job at ``parallelism`` from ``savepoint_path`` (None: fresh state), with
    parameter ``overrides``; partitions without a committed offset start at ``auto_offset_reset``.

    Refuses when a job of the domain is already running (stop it first, e.g. with
    `FlinkStopJobOperator`), so two jobs never consume the same topic. Returns the new job id.
    """

    template_fields: Sequence[str] = ("domain", "parallelism", "catalog_version", "savepoint_path", "overrides",
                                      "auto_offset_reset", "allow_unclaimed_state")

    def __init__(self, *, domain: str, parallelism: int | str = 1, catalog_version: int | str | None = None,
                 savepoint_path: str | None = None, overrides: dict[str, dict[str, Any]] | None = None,
                 auto_offset_reset: str = "earliest", allow_unclaimed_state: bool | str = False,
                 wait_running_s: float = 180.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain = domain
        self.parallelism = parallelism
        self.catalog_version = catalog_version
        self.savepoint_path = savepoint_path
        self.overrides = overrides
        self.auto_offset_reset = auto_offset_reset
        self.allow_unclaimed_state = allow_unclaimed_state
        self.wait_running_s = wait_running_s

    def execute(self, context: Context) -> str:
        version = int(self.catalog_version) if self.catalog_version not in (None, "", "None") else None
        savepoint = self.savepoint_path if self.savepoint_path not in (None, "", "None") else None
        self._job_id = self.hook.deploy(self.domain, parallelism=int(self.parallelism), catalog_version=version,
                                        savepoint_path=savepoint, overrides=dict(self.overrides or {}),
                                        auto_offset_reset=self.auto_offset_reset or "earliest",
                                        allow_unclaimed_state=self.allow_unclaimed_state in (True, "True", "true"),
                                        wait_running=self.wait_running_s)
        self.log.info("%s: job %s running (catalog v%s, parallelism %s, overrides %s, from %s)", self.domain,
                      self._job_id, version, self.parallelism, self.overrides or "none", savepoint or "fresh state")
        return self._job_id

    def on_kill(self) -> None:
        if self._job_id:
            self.log.warning("task killed: cancelling the job it submitted (%s)", self._job_id)
            self.hook.cancel(self._job_id)


class FlinkStopJobOperator(_FlinkOperator):
    """Stop the domain's running job with a savepoint (``savepoint=False``: cancel). Returns the path or None."""

    template_fields: Sequence[str] = ("domain",)

    def __init__(self, *, domain: str, savepoint: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain = domain
        self.savepoint = savepoint

    def execute(self, context: Context) -> str | None:
        job = self.hook.find_job(self.domain)
        if job is None:
            self.log.info("%s: no running job, nothing to stop", self.domain)
            return None
        if not self.savepoint:
            self.hook.cancel(job.id)
            self.log.info("%s: cancelled job %s (stateless upgrade)", self.domain, job.id)
            return None
        path = self.hook.stop_with_savepoint(job.id)
        self.log.info("%s: stopped job %s with savepoint %s", self.domain, job.id, path)
        return path


class FlinkRescaleJobOperator(_FlinkOperator):
    """Change a running job's parallelism in place (adaptive scheduler), wait until it runs at it."""

    template_fields: Sequence[str] = ("domain", "parallelism")

    def __init__(self, *, domain: str, parallelism: int | str, timeout_s: float = 180.0, job_id: str | None = None,
                 decided_at: float | None = None, max_decision_age_s: float = 300.0, **kwargs: Any) -> None:
        """``job_id`` and ``decided_at`` (epoch s) name the decision being carried out: a decision for a job
        that has since been replaced, or older than ``max_decision_age_s`` (a run left over from before the
        DAG was paused, or stuck in a queue), is skipped — the next run decides again on fresh readings."""
        super().__init__(**kwargs)
        self.domain = domain
        self.parallelism = parallelism
        self.timeout_s = timeout_s
        self.job_id = job_id
        self.decided_at = decided_at
        self.max_decision_age_s = max_decision_age_s

    def execute(self, context: Context) -> dict[str, Any]:
        import time

        from airflow.sdk.exceptions import AirflowSkipException

        target = int(self.parallelism)
        age = None if self.decided_at is None else time.time() - self.decided_at
        if age is not None and age > self.max_decision_age_s:
            raise AirflowSkipException(f"{self.domain}: the decision to go to {target} is {age:.0f}s old (limit "
                                       f"{self.max_decision_age_s:.0f}s); not applied, the next run decides again")
        from include.patternalarm.control.deployments import LockHeld
        from patternalarm_airflow.hooks.incidents import IncidentStoreHook

        store = IncidentStoreHook().deployments()
        holder = f"{context['dag'].dag_id}/{context['run_id']}/rescale"
        try:  # a deploy or a heal of this domain in progress: do not rescale under it
            store.acquire(self.domain, holder, "rescale", ttl_s=self.timeout_s + 120, wait_s=30)
        except LockHeld as exc:
            raise AirflowSkipException(f"not applied, the next run decides again: {exc}") from None
        try:
            return self._rescale(target)
        finally:
            store.release(self.domain, holder)

    def _rescale(self, target: int) -> dict[str, Any]:
        import time

        from airflow.sdk.exceptions import AirflowSkipException

        job = self.hook.find_job(self.domain)
        if job is None:
            raise RuntimeError(f"{self.domain}: no running job to rescale; deploy it first")
        if self.job_id and job.id != self.job_id:
            raise AirflowSkipException(f"{self.domain}: the decision was for job {self.job_id}, now {job.id} runs; "
                                       "not applied, the next run decides on fresh readings")
        before = self.hook.health(job.id).parallelism
        started = time.monotonic()
        self.hook.rescale(job.id, target)
        deadline = started + self.timeout_s
        while time.monotonic() < deadline:
            health = self.hook.health(job.id)
            if health.parallelism == target and health.state == "RUNNING" and not health.tasks.keys() - {"RUNNING"}:
                took = time.monotonic() - started
                self.log.info("%s: job %s rescaled %s -> %s in %.1fs", self.domain, job.id, before, target, took)
                return {"job_id": job.id, "from": before, "to": target, "seconds": round(took, 1), "at": time.time()}
            time.sleep(1.0)
        raise TimeoutError(
            f"{self.domain}: job {job.id} not running at parallelism {target} after {self.timeout_s:.0f}s")
