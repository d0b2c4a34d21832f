"""Changing a domain's detection job under the deployment record and its lock.

Every path that starts or stops a detection job goes through here, so they share one record and
one lock (``include.patternalarm.control.deployments``):

- ``deploy()`` — ``bin/patternalarm deploy``: lock, resolve the spec (catalog version, overrides
  kept from the last deployment unless reset, parallelism, startup mode), record ``in_progress``,
  stop-with-savepoint + submit (``flink.deploy.deploy_domain``), record the outcome, unlock;
- ``stop()`` — ``deploy stop``: an operator's stop, recorded as ``stop`` (the monitor leaves it);
- ``stop_for_upgrade()`` / ``finish_upgrade()`` — the steps of ``deploy_detection_jobs``: the
  lock is held from the stop to the healthy (or rolled back) new job, across Airflow tasks; a retried
  stop finds the savepoint it took in its own ``in_progress`` record (or, failing that, from Flink
  or the savepoint directory) instead of reporting "nothing ran";
- ``heal()`` lives in ``control.monitor`` and takes the same lock without waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.patternalarm.control.deployments import DeploymentStore, Overrides, merge_overrides
from include.patternalarm.control.fields import live_field_warnings
from include.patternalarm.flink.deploy import (
    DeployError,
    cancel_job,
    catalog_kwargs,
    deploy_domain,
    find_job,
    owns,
    stop_job,
    typed_overrides,
)
from include.patternalarm.flink.rest import FlinkRest, FlinkRestError
from include.patternalarm.rules import Catalog, RuleError, load_catalog

if TYPE_CHECKING:
    from include.patternalarm.control.deployments import Deployment
    from include.patternalarm.settings import Settings

Progress = Callable[[str], None]
START_MODES = ("earliest", "latest")
#: How long a deploy may hold a domain's lock before it expires by itself (a dead holder).
LOCK_TTL_S = 900.0


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class DeploySpec:
    """What a domain's job runs with (stored in its deployment record)."""

    domain: str
    catalog_version: int
    overrides: Overrides
    parallelism: int
    startup_mode: str = "earliest"  # partitions without a committed offset (a first deploy) start here
    rules_dir: str | None = None
    kept: Overrides = field(default_factory=dict)  # the overrides taken over from the previous deployment

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def catalog_kwargs(self) -> dict[str, Any]:
        return catalog_kwargs(self.rules_dir)


def settings_rules_dir(settings: Settings) -> str | None:
    """The user's rules directory setting when there is one (recorded with every deployment)."""
    value = getattr(settings, "rules_dir", None)
    return str(value) if value else None


def check_overrides_apply(overrides: Mapping[str, Any], domains: list[str], catalog_version: int | None = None,
                          rules_dir: str | None = None) -> None:
    """``RuleError`` when an override changes none of ``domains``' jobs (it would be silently ignored)."""
    catalog = load_catalog(catalog_version, **catalog_kwargs(rules_dir))
    stray = [o for o in overrides if not any(owns(catalog, d, o) for d in domains)]
    if stray:
        where = {o: catalog.rules[o].domain if o in catalog.rules else "?" for o in stray}
        raise RuleError(f"--param for {', '.join(f'{o} ({d})' for o, d in where.items())} changes none of the "
                        f"jobs being deployed ({', '.join(domains)})")


def running_parallelism(settings: Settings, job_id: str) -> int:
    with FlinkRest(settings.flink_rest) as rest:
        vertices = rest.job(job_id).get("vertices", [])
    return max((int(v.get("parallelism", 1)) for v in vertices), default=1)


def resolve_spec(settings: Settings, store: DeploymentStore, domain: str, *, catalog_version: int | None = None,
                 overrides: Mapping[str, Mapping[str, Any]] | None = None, reset_params: bool = False,
                 parallelism: int | None = None, start_from: str | None = None) -> DeploySpec:
    """The spec of a deploy: ``overrides`` on top of the ones the domain's last deployment ran with (all of
    them dropped with ``reset_params``), validated against the catalog; parallelism defaults to the running
    job's (it may have been rescaled), else the recorded one, else 1."""
    previous = store.desired(domain)
    kept = {} if reset_params or previous is None else {o: dict(p) for o, p in previous.overrides.items()}
    effective = merge_overrides(kept, overrides or {})
    rules_dir = settings_rules_dir(settings)
    try:
        catalog = load_catalog(catalog_version, overrides=effective, **catalog_kwargs(rules_dir))
        effective = typed_overrides(catalog, {o: p for o, p in effective.items() if owns(catalog, domain, o)})
    except RuleError as exc:
        hint = ""
        if kept:
            since = previous.requested_at.isoformat(timespec="seconds") if previous else "?"
            hint = (f" (overrides kept from the deployment of {since}: {kept}; deploy with --reset-params to drop "
                    "them)")
        raise RuleError(f"{domain}: {exc}{hint}") from None
    if start_from is not None and start_from not in START_MODES:
        raise RuleError(f"start_from must be one of {', '.join(START_MODES)}, got {start_from!r}")
    if parallelism is None:
        job = find_job(settings, domain)
        parallelism = running_parallelism(settings, job.id) if job else (previous.parallelism if previous else 1)
    return DeploySpec(domain=domain, catalog_version=catalog.version, overrides=effective, parallelism=parallelism,
                      startup_mode=start_from or "earliest", rules_dir=rules_dir, kept=kept)


def rule_set_change(previous: Deployment | None, spec: DeploySpec, *,
                    after: list[str] | None = None) -> dict[str, list[str]] | None:
    """How the domain's rules (``id vN``) change from its last deployment to ``spec``: ``{"added": […],
    "removed": […]}`` (both empty: the same rules; None: the last deployment's rules cannot be loaded any more).

    Flink derives the operators' ids from the job's plan, so a changed rule set changes ids beyond the
    rules themselves: the savepoint then holds state no operator of the new job claims, which Flink refuses
    unless told to drop it. ``after``: the spec's rules when the caller has them already (``rule_ids``)."""
    if previous is None or previous.version is None:
        return {"added": [], "removed": []}
    recorded = (previous.detail or {}).get("rules")  # what it ran (its directory's files may have changed)
    try:
        before = set(recorded) if recorded else set(rule_ids(spec.domain, previous.version, previous.overrides,
                                                             previous.rules_dir))
    except RuleError:
        return None
    now = set(after if after is not None else rule_ids(spec.domain, spec.catalog_version, spec.overrides,
                                                         spec.rules_dir))
    return {"added": sorted(now - before), "removed": sorted(before - now)}


def rule_ids(domain: str, version: int, overrides: Mapping[str, Any], rules_dir: str | None) -> list[str]:
    """The domain's rules (``id vN``) of that catalog version with that rules directory, as of now."""
    return catalog_rule_ids(load_catalog(version, overrides=overrides, **catalog_kwargs(rules_dir)), domain)


def catalog_rule_ids(catalog: Catalog, domain: str) -> list[str]:
    return sorted(f"{r.id} v{r.version}" for r in catalog.rules_for(domain))


def retired_state(previous: Deployment | None, spec: DeploySpec) -> str | None:
    """How the state of the domain's rules changes form between the last deployment's catalog and
    ``spec``'s, or None when it keeps its form: the adaptive detectors' per-series state (v4 structured → v5
    packed: their baselines learn afresh), and rules of the same id and version whose SQL changed (v6 → v7:
    velocity, impossible_travel, speed_hack on keyed functions): their operators then have other uids, and
    an upgrade drops their state."""
    if previous is None or previous.version is None or previous.version == spec.catalog_version:
        return None
    try:
        before = load_catalog(previous.version, overrides=previous.overrides, **catalog_kwargs(previous.rules_dir))
    except RuleError:
        return None
    after = load_catalog(spec.catalog_version, overrides=spec.overrides, **catalog_kwargs(spec.rules_dir))
    notes = []
    if before.series_state != after.series_state and (_uses_series(before, spec.domain)
                                                      or _uses_series(after, spec.domain)):
        form_before, form_after = before.series_state or "structured", after.series_state or "structured"
        notes.append(f"catalog v{after.version} keeps the adaptive detectors' per-series state {form_after} "
                     f"(v{before.version}: {form_before}): their baselines are dropped and learn afresh")
    replanned = _replanned(before, after, spec.domain)
    if replanned:
        notes.append(f"catalog v{after.version} runs {', '.join(replanned)} on another plan than v{before.version}: "
                     "their state is dropped and starts afresh")
    return "; ".join(notes) or None


def _replanned(before: Catalog, after: Catalog, domain: str) -> list[str]:
    """The domain's rules of the same id and version in both catalogs whose SQL differs."""
    old = {(r.id, r.version): r for r in before.rules_for(domain)}
    return [f"{r.id} v{r.version}" for r in after.rules_for(domain)
            if (r.id, r.version) in old and old[(r.id, r.version)].sql() != r.sql()]


def _uses_series(catalog: Catalog, domain: str) -> bool:
    return domain in catalog.domains and (bool(catalog.domains[domain].series) or any(
        "series_anomalies" in (r.sql_text or "") for r in catalog.rules_for(domain)))


def unclaimed_state_note(change: dict[str, list[str]] | None, retired: str | None = None) -> str | None:
    """What an upgrade that may drop savepoint state says about it (None: the same rules and state, nothing
    dropped). ``retired``: how the rules' state changed form (`retired_state`)."""
    notes = []
    if change is None:
        notes.append("the last deployment's rules cannot be loaded any more: state no operator of the new job "
                     "claims is dropped")
    elif change["added"] or change["removed"]:
        parts = [f"{k} {', '.join(v)}" for k, v in change.items() if v]
        notes.append(f"the rule set changes ({'; '.join(parts)}): the removed rules' state, and any state the new "
                     "plan's operators no longer claim, is dropped")
    if retired:
        notes.append(retired)
    return "; ".join(notes) or None


@dataclass(frozen=True)
class DeployOutcome:
    job_id: str
    spec: DeploySpec
    replaced: str | None
    savepoint: str | None
    record_id: int


def deploy(settings: Settings, store: DeploymentStore, domain: str, *, requested_by: str,
           catalog_version: int | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
           reset_params: bool = False, parallelism: int | None = None, savepoint_path: str | None = None,
           restore: bool = True, allow_unclaimed_state: bool = False, start_from: str | None = None,
           lock_wait_s: float = 60.0, wait_running: float = 120.0, progress: Progress = _quiet) -> DeployOutcome:
    """Deploy or upgrade ``domain``'s job holding its lock; every step lands in the deployment record."""
    with store.lease([domain], requested_by, "deploy", ttl_s=LOCK_TTL_S, wait_s=lock_wait_s):
        spec = resolve_spec(settings, store, domain, catalog_version=catalog_version, overrides=overrides,
                            reset_params=reset_params, parallelism=parallelism, start_from=start_from)
        if spec.kept:
            progress(f"{domain}: keeping the parameter overrides of the last deployment: {spec.kept}")
        catalog = load_catalog(spec.catalog_version, overrides=spec.overrides, **spec.catalog_kwargs())
        for warning in live_field_warnings(settings, domain, catalog):
            progress(f"warning: {warning}")
        ids = catalog_rule_ids(catalog, domain)
        previous = store.desired(domain)
        note = unclaimed_state_note(rule_set_change(previous, spec, after=ids), retired_state(previous, spec))
        if note:
            progress(f"{domain}: {note}")
            allow_unclaimed_state = True
        running = find_job(settings, domain)
        record_id = store.record(
            domain, action="upgrade" if running else "deploy", status="in_progress", requested_by=requested_by,
            catalog_version=spec.catalog_version, parallelism=spec.parallelism, overrides=spec.overrides,
            rules_dir=spec.rules_dir, startup_mode=spec.startup_mode, restored_from=savepoint_path,
            detail={"replaced": running.id if running else None, "rules": ids})
        stopped: list[str] = []

        def on_stopped(path: str) -> None:
            stopped.append(path)
            store.update(record_id, stop_savepoint=path)

        try:
            job_id = deploy_domain(settings, domain, parallelism=spec.parallelism, savepoint_path=savepoint_path,
                                   catalog_version=spec.catalog_version, overrides=spec.overrides,
                                   rules_dir=spec.rules_dir,
                                   auto_offset_reset=spec.startup_mode, allow_unclaimed_state=allow_unclaimed_state,
                                   restore=restore, wait_running=wait_running, on_stopped=on_stopped,
                                   progress=progress)
        except BaseException as exc:
            store.update(record_id, status="failed", detail={"error": str(exc)[:2000]})
            if stopped:
                progress(f"{domain}: the old job was stopped (savepoint {stopped[0]}) and the new one did not start; "
                         "monitor_detection_jobs resubmits the last healthy deployment from that savepoint")
            raise
        restored = savepoint_path or (stopped[0] if stopped and restore else None)
        store.update(record_id, status="healthy", job_id=job_id, restored_from=restored)
        return DeployOutcome(job_id=job_id, spec=spec, replaced=running.id if running else None,
                             savepoint=stopped[0] if stopped else None, record_id=record_id)


def stop(settings: Settings, store: DeploymentStore, domain: str, *, requested_by: str,
         lock_wait_s: float = 60.0) -> str | None:
    """An operator's stop with a savepoint (recorded as ``stop``: the monitor does not resubmit it)."""
    with store.lease([domain], requested_by, "stop", ttl_s=LOCK_TTL_S, wait_s=lock_wait_s):
        job = find_job(settings, domain)
        if job is None:
            return None
        previous = store.desired(domain)
        savepoint = stop_job(settings, job.id)
        store.record(domain, action="stop", status="stopped", requested_by=requested_by, job_id=job.id,
                     catalog_version=previous.catalog_version if previous else None,
                     parallelism=previous.parallelism if previous else 1,
                     overrides=previous.overrides if previous else None, stop_savepoint=savepoint)
        return savepoint


# --- the DAG's steps (the lock spans several Airflow tasks) ----------------------------------------------

def savepoint_of(settings: Settings, job_id: str) -> str | None:
    """The savepoint a stopped job left: from Flink's REST API while it remembers the job, else the newest
    ``savepoint-<first 6 of the job id>-*`` directory under the local savepoint directory."""
    try:
        with FlinkRest(settings.flink_rest) as rest:
            latest = rest.checkpoints(job_id).get("latest") or {}
        path = (latest.get("savepoint") or {}).get("external_path")
        if path:
            return str(path)
    except FlinkRestError:
        pass
    from include.patternalarm.stack.flink import savepoints_dir

    found = sorted(savepoints_dir(settings).glob(f"savepoint-{job_id[:6]}-*"), key=lambda p: p.stat().st_mtime)
    complete = [p for p in found if (p / "_metadata").is_file()]
    return complete[-1].as_uri() if complete else None


def stop_for_upgrade(settings: Settings, store: DeploymentStore, domain: str, *, requested_by: str, mode: str,
                     spec: DeploySpec, lock_ttl_s: float = LOCK_TTL_S, lock_wait_s: float = 60.0) -> dict[str, Any]:
    """Take the lock, record the upgrade ``in_progress`` and stop the running job (savepoint or cancel).

    Idempotent for a retried task: when this requester's upgrade already stopped the job, the savepoint it
    took is returned again (from its record, Flink, or the savepoint directory) — never "nothing ran"."""
    store.acquire(domain, requested_by, "upgrade", ttl_s=lock_ttl_s, wait_s=lock_wait_s)
    previous = store.desired(domain)
    ids = rule_ids(domain, spec.catalog_version, spec.overrides, spec.rules_dir)
    note = unclaimed_state_note(rule_set_change(previous, spec, after=ids), retired_state(previous, spec))
    info: dict[str, Any] = {
        "domain": domain, "spec": spec.as_dict(), "previous": previous.as_dict() if previous else None,
        "previous_job": None, "savepoint": None, "record_id": None, "unclaimed_state": note}
    pending = store.in_progress(domain, requested_by)
    job = find_job(settings, domain)
    if pending is not None:
        info["record_id"] = pending.id
        replaced = pending.detail.get("replaced")
        if job is None or job.id != replaced:  # this upgrade stopped it already: a retry of this step
            info["previous_job"] = replaced
            info["savepoint"] = pending.stop_savepoint or (
                savepoint_of(settings, replaced) if replaced and mode == "savepoint" else None)
            if info["savepoint"] and not pending.stop_savepoint:
                store.update(pending.id, stop_savepoint=info["savepoint"])
            return info
    if info["record_id"] is None:
        info["record_id"] = store.record(
            domain, action="upgrade" if job else "deploy", status="in_progress", requested_by=requested_by,
            catalog_version=spec.catalog_version, parallelism=spec.parallelism, overrides=spec.overrides,
            rules_dir=spec.rules_dir, startup_mode=spec.startup_mode,
            detail={"replaced": job.id if job else None, "rules": ids})
    if job is None:
        return info
    info["previous_job"] = job.id
    if mode == "savepoint":
        info["savepoint"] = stop_job(settings, job.id)
        store.update(info["record_id"], stop_savepoint=info["savepoint"])
    else:
        cancel_job(settings, job.id)
    return info


def finish_upgrade(store: DeploymentStore, info: Mapping[str, Any], *, requested_by: str, status: str,
                   job_id: str | None = None, detail: Mapping[str, Any] | None = None) -> None:
    """Close the upgrade's record (``healthy``, ``failed``, ``rolled_back``) and give the lock back."""
    try:
        if info.get("record_id") is not None:
            store.update(int(info["record_id"]), status=status, job_id=job_id,
                         restored_from=info.get("savepoint") if job_id else None, detail=detail)
    finally:
        store.release(str(info["domain"]), requested_by)


def rollback(settings: Settings, store: DeploymentStore, info: Mapping[str, Any], *, requested_by: str,
             progress: Progress = _quiet) -> str | None:
    """Put the previous deployment back from the upgrade's savepoint (None when nothing ran before)."""
    previous = info.get("previous")
    if not info.get("previous_job") or not previous:
        return None
    version = int(previous["catalog_version"]) if str(previous["catalog_version"]).isdigit() else None
    job_id = deploy_domain(settings, str(info["domain"]), parallelism=int(previous["parallelism"]),
                           catalog_version=version, overrides=previous.get("overrides") or {},
                           rules_dir=previous.get("rules_dir"),
                           savepoint_path=info.get("savepoint"), upgrade=False, progress=progress)
    store.record(str(info["domain"]), action="rollback", status="healthy", requested_by=requested_by,
                 catalog_version=version, parallelism=int(previous["parallelism"]), job_id=job_id,
                 overrides=previous.get("overrides") or {}, rules_dir=previous.get("rules_dir"),
                 startup_mode=previous.get("startup_mode"), restored_from=info.get("savepoint"))
    return job_id


__all__ = [
    "DeployError",
    "DeployOutcome",
    "DeploySpec",
    "deploy",
    "finish_upgrade",
    "resolve_spec",
    "retired_state",
    "rollback",
    "rule_set_change",
    "savepoint_of",
    "stop",
    "stop_for_upgrade",
    "unclaimed_state_note",
]
