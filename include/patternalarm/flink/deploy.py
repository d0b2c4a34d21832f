"""Deploy, stop and inspect the detection jobs (one Flink SQL job per domain).

The API the CLI uses now and Airflow hooks wrap later:

- ``deploy_domain(settings, domain, *, parallelism, savepoint_path, catalog_version)`` → job id.
  Renders the domain's job from the rule catalog and submits it through the SQL Gateway as one
  STATEMENT SET. When a job of the same ``pipeline.name`` runs, it is upgraded: stopped with a
  savepoint and the new job restores from it (unless ``savepoint_path`` is given or ``upgrade`` is
  False, which raises instead); ``parallelism=None`` keeps the running job's parallelism (1 for a
  first deploy); ``restore=False`` still takes the savepoint (for a rollback) but starts without
  state — for upgrades that change the plan (operator state would not map or not deserialize).
  Before anything is stopped the SQL Gateway must answer (a gateway that is down fails the deploy
  cleanly, the running job untouched); after the stop, a submission that cannot reach the gateway is
  retried until ``submit_deadline_s``, and a job of the same name that appeared meanwhile (the
  gateway died after submitting it) is adopted instead of submitting a second one. ``on_stopped``
  hears the savepoint as soon as it exists (the deployment record keeps it for a retry or a
  rollback). A job without restored state reads partitions that have no committed offset from
  ``auto_offset_reset`` — ``earliest`` by default, so a first deploy processes the events sent
  before it ran.
- ``stop_domain(settings, domain)`` / ``stop_job(settings, job_id)`` → savepoint path.
- ``find_job(settings, domain)`` → the running job (by ``pipeline.name``, e.g. patternalarm-payments).
- ``job_health(settings, job_id)`` → state, tasks, restarts, last checkpoint, restored-from.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from include.patternalarm.flink.gateway import GatewayError, SqlGateway
from include.patternalarm.flink.rest import FlinkRest, FlinkRestError, JobInfo
from include.patternalarm.rules import Catalog, JobTopics, load_catalog, pipeline_name, render_job
from include.patternalarm.settings import Settings
from include.patternalarm.topics import DOMAINS

Progress = Callable[[str], None]


class DeployError(RuntimeError):
    """A deploy/stop failed; the message names the domain and Flink's cause."""


@dataclass(frozen=True)
class JobHealth:
    job_id: str
    name: str
    state: str
    healthy: bool
    tasks: dict[str, int]
    restarts: int
    last_checkpoint_age_s: float | None
    completed_checkpoints: int
    failed_checkpoints: int
    restored_from: str | None
    parallelism: int
    detail: str
    catalog_version: int | None = None
    overrides_digest: str | None = None  # from the job's global parameters (see ``overrides_digest``)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def catalog_kwargs(rules_dir: str | None) -> dict[str, Any]:
    """``load_catalog`` keyword arguments for a recorded user rules directory (None: the ``rules_dir``
    setting's). The deployment record stores the directory with every deployment, so healing and rollbacks
    read the same user rules beside the shipped catalog."""
    return {"user_dir": Path(rules_dir)} if rules_dir else {}


def typed_overrides(catalog: Catalog, overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The overrides as the values the catalog coerced them to (``"90"`` → ``90``)."""
    out: dict[str, dict[str, Any]] = {}
    for owner, params in overrides.items():
        values = _values_of(catalog, owner)
        out[owner] = {name: values.get(name, value) for name, value in params.items()}
    return out


def _values_of(catalog: Catalog, owner: str) -> dict[str, Any]:
    if owner == "job":
        return dict(catalog.job_values)
    if owner in catalog.domains:
        return dict(catalog.domains[owner].values)
    if owner in catalog.rules:
        return dict(catalog.rules[owner].values)
    return {}


def owns(catalog: Catalog, domain: str, owner: str) -> bool:
    """Whether overrides of ``owner`` (``job``, a domain, a rule id) change ``domain``'s job."""
    return owner in ("job", domain) or (owner in catalog.rules and catalog.rules[owner].domain == domain)

def overrides_digest(overrides: Mapping[str, Mapping[str, Any]]) -> str:
    """A short digest of typed overrides, carried in the job's global parameters (``overrides:<digest>``) so
    that ``deploy status`` can tell whether a running job runs the parameters its deployment record names."""
    if not any(overrides.values()):
        return "none"
    text = json.dumps({o: dict(p) for o, p in overrides.items() if p}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _quiet(_: str) -> None:
    pass


def find_job(settings: Settings, domain: str, *, name: str | None = None) -> JobInfo | None:
    """The active job of ``domain`` (found by its ``pipeline.name``), or None."""
    with FlinkRest(settings.flink_rest) as rest:
        jobs = rest.find_active(name or pipeline_name(domain))
    return jobs[0] if jobs else None


STOP_ATTEMPTS = 3


def stop_job(settings: Settings, job_id: str, *, drain: bool = False, timeout: float = 120.0,
             progress: Progress = _quiet) -> str:
    """Stop ``job_id`` with a savepoint; returns the savepoint path.

    A savepoint needs every task RUNNING, so a job that was just (re)submitted and is still restoring is
    waited for first. A stop whose savepoint fails leaves the job running (Flink aborts only the
    savepoint): that is retried, up to ``STOP_ATTEMPTS`` in all, all within ``timeout`` (plus the last
    savepoint's own time); a job that is no longer running is not."""
    deadline = time.monotonic() + timeout
    with FlinkRest(settings.flink_rest) as rest:
        for attempt in range(1, STOP_ATTEMPTS + 1):
            try:
                rest.wait_all_tasks_running(job_id, timeout=max(1.0, deadline - time.monotonic()))
                return rest.stop_with_savepoint(job_id, drain=drain, timeout=timeout)
            except FlinkRestError as exc:
                state = _state_or_none(rest, job_id)
                if attempt == STOP_ATTEMPTS or state != "RUNNING" or time.monotonic() >= deadline:
                    raise DeployError(f"{exc} (attempt {attempt} of {STOP_ATTEMPTS}; the job is "
                                      f"{state or 'unknown to Flink'})") from exc
                progress(f"job {job_id}: {exc}; the job still runs, stopping it again "
                         f"(attempt {attempt + 1} of {STOP_ATTEMPTS})")
                time.sleep(2.0 * attempt)
    raise AssertionError("unreachable")


def _state_or_none(rest: FlinkRest, job_id: str) -> str | None:
    try:
        return rest.state(job_id)
    except FlinkRestError:
        return None


def stop_domain(settings: Settings, domain: str, *, name: str | None = None) -> str | None:
    """Stop the domain's running job with a savepoint; its path, or None when none ran."""
    job = find_job(settings, domain, name=name)
    return stop_job(settings, job.id) if job else None


def cancel_job(settings: Settings, job_id: str, *, wait: float = 60.0) -> None:
    """Cancel without a savepoint (tests, emergencies) and wait until it is gone."""
    with FlinkRest(settings.flink_rest) as rest:
        rest.cancel(job_id)
        rest.wait_for_state(job_id, ("CANCELED", "FAILED", "FINISHED"), timeout=wait, fail_states=())


def deploy_domain(settings: Settings, domain: str, *, parallelism: int | None = None,
                  savepoint_path: str | None = None,
                  catalog_version: int | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                  topics: JobTopics | None = None, name: str | None = None, startup_mode: str = "group-offsets",
                  auto_offset_reset: str = "earliest", consumer_group: str | None = None,
                  rules: Iterable[str] | None = None, upgrade: bool = True, allow_unclaimed_state: bool = False,
                  restore: bool = True, wait_running: float = 120.0, submit_deadline_s: float = 90.0,
                  rules_dir: str | None = None,
                  on_stopped: Callable[[str], None] | None = None, progress: Progress = _quiet) -> str:
    """Submit the domain's detection job; returns its Flink job id (see the module docstring)."""
    if domain not in DOMAINS:
        raise DeployError(f"unknown domain {domain!r} (valid: {', '.join(DOMAINS)})")
    catalog = load_catalog(catalog_version, overrides=overrides, **catalog_kwargs(rules_dir))
    job_name = name or pipeline_name(domain)
    check_gateway(settings)  # before anything is stopped: a gateway that is down leaves the running job alone
    with FlinkRest(settings.flink_rest) as rest:
        active = rest.find_active(job_name)  # newest first
    running = active[0] if active else None
    if parallelism is None:  # an upgrade keeps the running job's parallelism (it may have been rescaled)
        parallelism = _parallelism(settings, running.id) if running is not None else 1
    job = render_job(catalog, domain, bootstrap=settings.bootstrap_servers, topics=topics, name=job_name,
                     parallelism=parallelism, startup_mode=startup_mode, auto_offset_reset=auto_offset_reset,
                     consumer_group=consumer_group, rules=rules)
    own = typed_overrides(catalog, {o: p for o, p in (overrides or {}).items() if owns(catalog, domain, o)})
    job_settings = dict(job.settings)
    job_settings["pipeline.global-job-parameters"] = ",".join(
        x for x in (job_settings.get("pipeline.global-job-parameters"), f"overrides:{overrides_digest(own)}") if x)
    if running is not None:
        if savepoint_path is not None or not upgrade:
            raise DeployError(f"{job.name} is already running as job {running.id} ({running.state}); stop it first "
                              "or deploy without --from-savepoint to upgrade it through a savepoint")
        # two jobs of one name (two deploys raced): keep the newest's state, cancel the others so that
        # only one job reads the topic and emits alerts
        for extra in active[1:]:
            progress(f"{job.name}: cancelling duplicate job {extra.id}")
            cancel_job(settings, extra.id)
        progress(f"{job.name}: stopping job {running.id} with a savepoint")
        savepoint_path = stop_job(settings, running.id, progress=progress)
        progress(f"{job.name}: savepoint {savepoint_path}")
        if on_stopped is not None:
            on_stopped(savepoint_path)
        if not restore:  # a plan-changing upgrade: the state does not fit the new operators
            progress(f"{job.name}: starting without state (the savepoint is kept for a rollback); "
                     "events resume from the consumer group's committed offsets")
            savepoint_path = None
    progress(f"{job.name}: submitting catalog v{catalog.version} ({len(job.rules)} rules, parallelism "
             f"{parallelism}{', from ' + savepoint_path if savepoint_path else ''})")
    job_id = _submit_until(settings, job.name, job_settings, job.ddl, job.statement_set, savepoint_path,
                           allow_unclaimed_state, deadline_s=submit_deadline_s, progress=progress)
    if wait_running:
        with FlinkRest(settings.flink_rest) as rest:
            try:
                rest.wait_all_tasks_running(job_id, timeout=wait_running)
            except FlinkRestError as exc:
                raise DeployError(f"{job.name}: {exc}") from exc
    progress(f"{job.name}: job {job_id} running")
    return job_id


def _parallelism(settings: Settings, job_id: str) -> int:
    with FlinkRest(settings.flink_rest) as rest:
        vertices = rest.job(job_id).get("vertices", [])
    return max((int(v.get("parallelism", 1)) for v in vertices), default=1)


def check_gateway(settings: Settings) -> None:
    """Fail with a clear ``DeployError`` unless the SQL Gateway answers (opens and closes a session)."""
    try:
        with SqlGateway(settings.sql_gateway, session_name="patternalarm-preflight"):
            pass
    except GatewayError as exc:
        raise DeployError(f"the SQL Gateway does not answer, nothing was changed: {exc}") from exc


def _submit_until(settings: Settings, job_name: str, sets: Mapping[str, str], ddl: list[str], statement_set: str,
                  savepoint_path: str | None, allow_unclaimed_state: bool, *, deadline_s: float,
                  progress: Progress) -> str:
    """Submit; while the gateway is unreachable, retry with back-off until ``deadline_s`` — adopting a job of
    ``job_name`` that appeared meanwhile (submitted before the gateway died) rather than starting a second."""
    deadline = time.monotonic() + deadline_s
    delay = 1.0
    while True:
        try:
            return _submit(settings, sets, ddl, statement_set, savepoint_path, allow_unclaimed_state)
        except DeployError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, GatewayError) and cause.unreachable) or time.monotonic() + delay > deadline:
                raise
            progress(f"{job_name}: the SQL Gateway is unreachable; retrying the submission in {delay:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
        try:
            with FlinkRest(settings.flink_rest) as rest:
                appeared = rest.find_active(job_name)
        except FlinkRestError:
            appeared = []
        if appeared:
            progress(f"{job_name}: job {appeared[0].id} was submitted before the gateway went away; keeping it")
            return appeared[0].id


def _submit(settings: Settings, sets: Mapping[str, str], ddl: list[str], statement_set: str,
            savepoint_path: str | None, allow_unclaimed_state: bool) -> str:
    # a fresh session per deploy: SET values never leak into the next submission
    try:
        with SqlGateway(settings.sql_gateway, session_name="patternalarm-deploy") as gateway:
            for key, value in sets.items():
                gateway.set(key, value)
            if savepoint_path:
                gateway.set("execution.savepoint.path", savepoint_path)
                if allow_unclaimed_state:
                    gateway.set("execution.state-recovery.ignore-unclaimed-state", "true")
            for statement in ddl:
                gateway.execute(statement)
            result = gateway.execute(statement_set)
    except GatewayError as exc:
        raise DeployError(f"{sets.get('pipeline.name')}: submission failed: {exc}") from exc
    if not result.job_id:
        raise DeployError(f"{sets.get('pipeline.name')}: the gateway returned no job id")
    return str(result.job_id)


def job_health(settings: Settings, job_id: str, *, max_checkpoint_age_s: float = 60.0) -> JobHealth:
    """State, task counts, restarts and checkpoint freshness of one job, from the REST API."""
    with FlinkRest(settings.flink_rest) as rest:
        job = rest.job(job_id)
        checkpoints = rest.checkpoints(job_id)
        execution = rest.call("GET", f"/jobs/{job_id}/config").get("execution-config") or {}
        user_config = execution.get("user-config") or {}
        try:
            metric = rest.call("GET", f"/jobs/{job_id}/metrics?get=numRestarts")
            restarts = int(float(metric[0]["value"])) if metric else 0
        except (FlinkRestError, KeyError, ValueError, IndexError):
            restarts = 0
    counts = checkpoints.get("counts", {})
    latest = checkpoints.get("latest", {}) or {}
    completed = latest.get("completed") or {}
    restored = latest.get("restored") or {}
    age = (time.time() * 1000 - completed["latest_ack_timestamp"]) / 1000 if completed.get("latest_ack_timestamp") \
        else None
    tasks = job.get("status-counts", {}) or {}
    vertices = job.get("vertices", [])
    state = job["state"]
    problems = []
    if state != "RUNNING":
        problems.append(f"state {state}")
    not_running = [v["name"][:60] for v in vertices if v.get("status") != "RUNNING"]
    if not_running:
        problems.append(f"{len(not_running)} vertices not RUNNING")
    running_for = (time.time() * 1000 - job.get("start-time", 0)) / 1000
    if state == "RUNNING" and running_for > max_checkpoint_age_s and (age is None or age > max_checkpoint_age_s):
        problems.append("no recent checkpoint" if age is None else f"last checkpoint {age:.0f}s ago")
    return JobHealth(
        job_id=job_id, name=job.get("name", ""), state=state, healthy=not problems,
        tasks={k: v for k, v in tasks.items() if v}, restarts=restarts, last_checkpoint_age_s=age,
        completed_checkpoints=int(counts.get("completed", 0)), failed_checkpoints=int(counts.get("failed", 0)),
        restored_from=restored.get("external_path"), parallelism=max((v.get("parallelism", 0) for v in vertices),
                                                                       default=0),
        detail="; ".join(problems) or "ok",
        catalog_version=int(user_config["catalog_version"]) if str(user_config.get("catalog_version", "")).isdigit()
        else None, overrides_digest=user_config.get("overrides"))


def domain_status(settings: Settings, domains: Iterable[str] = DOMAINS) -> list[dict[str, Any]]:
    """One row per domain: its running job and health (or not deployed)."""
    rows: list[dict[str, Any]] = []
    for domain in domains:
        job = find_job(settings, domain)
        if job is None:
            rows.append({"domain": domain, "name": pipeline_name(domain), "job_id": None, "state": "NOT DEPLOYED",
                         "healthy": False, "detail": "no running job"})
            continue
        health = job_health(settings, job.id)
        rows.append({"domain": domain, **health.as_dict()})
    return rows
