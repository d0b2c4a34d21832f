"""Retained checkpoints and savepoints on disk: what healing and rollback need, cleaning the rest, disk use.

Flink keeps ``num-retained`` checkpoints of a *running* job and deletes older ones itself; a job that is
cancelled, fails for good, or is lost with its JobManager leaves its last checkpoints behind
(``RETAIN_ON_CANCELLATION``), and every upgrade leaves a savepoint. Nothing deleted those, so a
long-running stack filled its disk (one 9-minute job on a 500,000-event backlog left 1.6 GB).

``plan_cleanup`` (pure) decides, ``clean`` deletes. Kept:

- every directory of a job Flink still runs (Flink manages it);
- per domain, the newest retained checkpoint of the job named by the newest deployment record that
  names a job — what healing restores from after a JobManager loss;
- every path the newest ``keep_records`` records per domain restored from or stopped into (rollback);
- anything younger than ``min_age_s`` (a job that is just starting or stopping).

Only a local (``file://``) checkpoint directory can be cleaned from here; on an external cluster the
storage's own lifecycle rules must do it (``clean`` then reports that it skipped).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from include.patternalarm.control.deployments import Deployment, DeploymentStore
    from include.patternalarm.settings import Settings

_JOB_DIR = re.compile(r"^[0-9a-f]{32}$")
_CHK = re.compile(r"^chk-(\d+)$")
_SAVEPOINT = re.compile(r"^savepoint-([0-9a-f]{6})-[0-9a-f]+$")


@dataclass(frozen=True)
class Retained:
    """One directory Flink left on disk: a job's checkpoint directory or a savepoint."""

    path: Path
    kind: str  # checkpoints | savepoint
    job_prefix: str  # the job id (checkpoints) or its first 6 characters (savepoint)
    bytes: int
    mtime: float

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "job": self.job_prefix, "bytes": self.bytes,
                "age_s": round(time.time() - self.mtime)}


@dataclass
class CleanupPlan:
    delete: list[Retained] = field(default_factory=list)
    keep: dict[str, str] = field(default_factory=dict)  # path -> why

    @property
    def freed_bytes(self) -> int:
        return sum(r.bytes for r in self.delete)


def local_dir(uri_or_path: str | Path) -> Path | None:
    """A ``file://`` URI or a plain path as a local path; None for remote storage (s3://, hdfs://)."""
    text = str(uri_or_path)
    parsed = urlparse(text)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else text)
    return None


def dir_size(path: Path) -> int:
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:
            continue
    return total


def newest_mtime(path: Path) -> float:
    newest = path.stat().st_mtime
    for item in path.rglob("*"):
        try:
            newest = max(newest, item.stat().st_mtime)
        except OSError:
            continue
    return newest


def scan(checkpoints: Path, savepoints: Path) -> list[Retained]:
    """Every job checkpoint directory and savepoint under the two directories."""
    found: list[Retained] = []
    if checkpoints.is_dir():
        for item in checkpoints.iterdir():
            if item.is_dir() and _JOB_DIR.match(item.name):
                found.append(Retained(item, "checkpoints", item.name, dir_size(item), newest_mtime(item)))
    if savepoints.is_dir():
        for item in savepoints.iterdir():
            match = _SAVEPOINT.match(item.name)
            if item.is_dir() and match:
                found.append(Retained(item, "savepoint", match.group(1), dir_size(item), newest_mtime(item)))
    return found


def latest_checkpoint(job_dir: Path) -> Path | None:
    """The newest complete checkpoint (``chk-N`` with ``_metadata``) of a job's checkpoint directory."""
    if not job_dir.is_dir():
        return None
    complete = [(int(m.group(1)), d) for d in job_dir.iterdir()
                if (m := _CHK.match(d.name)) and (d / "_metadata").is_file()]
    return max(complete)[1] if complete else None


def plan_cleanup(retained: Iterable[Retained], *, active_jobs: Iterable[str], newest_jobs: Iterable[str],
                 referenced: Iterable[str], now: float, min_age_s: float = 3600.0) -> CleanupPlan:
    """Which retained directories may go (see the module docstring). ``newest_jobs``: per domain the job of
    the newest record naming one (its checkpoints are what healing needs); ``referenced``: paths or URIs
    the newest records restored from or stopped into."""
    active = set(active_jobs)
    newest = set(newest_jobs)
    refs = {str(p).rstrip("/") for p in (local_dir(r) for r in referenced) if p is not None}
    plan = CleanupPlan()
    for item in retained:
        path = str(item.path).rstrip("/")
        inside = [r for r in refs if r == path or r.startswith(path + "/")]
        if item.kind == "checkpoints" and item.job_prefix in active:
            plan.keep[path] = "the job is running (Flink manages its checkpoints)"
        elif item.kind == "savepoint" and any(j.startswith(item.job_prefix) for j in active) and \
                now - item.mtime < min_age_s:
            plan.keep[path] = "a savepoint of a running job, recent"
        elif item.kind == "checkpoints" and item.job_prefix in newest:
            plan.keep[path] = "the newest job of its domain: healing restores from it"
        elif inside:
            plan.keep[path] = "named by a recent deployment record (rollback)"
        elif now - item.mtime < min_age_s:
            plan.keep[path] = f"younger than {min_age_s:.0f}s"
        else:
            plan.delete.append(item)
    return plan


def references(records: Iterable[Deployment]) -> list[str]:
    return [p for r in records for p in (r.restored_from, r.stop_savepoint) if p]


def clean(settings: Settings, store: DeploymentStore, domains: Iterable[str], *, dry_run: bool = False,
          min_age_s: float = 3600.0, keep_records: int = 3) -> dict[str, Any]:
    """Delete what ``plan_cleanup`` allows under the local checkpoint and savepoint directories. Every job
    Flink runs counts as active (tests' and backtests' jobs too); when Flink cannot be asked, nothing is
    deleted."""
    from include.patternalarm.flink.rest import FlinkRest, FlinkRestError
    from include.patternalarm.stack.flink import checkpoints_dir, savepoints_dir

    checkpoints, savepoints = checkpoints_dir(settings), savepoints_dir(settings)
    try:
        with FlinkRest(settings.flink_rest) as rest:
            active_jobs = [j.id for j in rest.jobs() if j.active]
    except FlinkRestError as exc:
        return {"dry_run": dry_run, "deleted": [], "freed_bytes": 0, "kept": {},
                "errors": [f"not cleaning: the running jobs are unknown ({exc})"]}
    newest_jobs: list[str] = []
    referenced: list[str] = []
    for domain in domains:
        latest = store.latest_job(domain)
        if latest is not None and latest.job_id:
            newest_jobs.append(latest.job_id)
        referenced += references(store.recent_records(domain, keep_records))
    plan = plan_cleanup(scan(checkpoints, savepoints), active_jobs=active_jobs, newest_jobs=newest_jobs,
                        referenced=referenced, now=time.time(), min_age_s=min_age_s)
    errors = []
    if not dry_run:
        for item in plan.delete:
            try:
                shutil.rmtree(item.path)
            except OSError as exc:
                errors.append(f"{item.path}: {exc}")
    return {"dry_run": dry_run, "deleted": [r.as_dict() for r in plan.delete], "freed_bytes": plan.freed_bytes,
            "kept": plan.keep, "errors": errors}


def disk_usage(settings: Settings) -> dict[str, Any]:
    """Free space of the filesystem holding the data directory, and what Flink's retained state takes."""
    from include.patternalarm.stack.flink import checkpoints_dir, savepoints_dir

    usage = shutil.disk_usage(settings.data_dir)
    state = sum(dir_size(p) for p in (checkpoints_dir(settings), savepoints_dir(settings)) if p.is_dir())
    return {"path": str(settings.data_dir), "total_bytes": usage.total, "free_bytes": usage.free,
            "flink_state_bytes": state}


def retained_checkpoint_of(settings: Settings, job_id: str) -> str | None:
    """The newest complete retained checkpoint of ``job_id`` on the local disk, as a URI (or None)."""
    from include.patternalarm.stack.flink import checkpoints_dir

    found = latest_checkpoint(checkpoints_dir(settings) / job_id)
    return found.as_uri() if found else None


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def summarize(result: Mapping[str, Any]) -> str:
    return (f"{'would delete' if result['dry_run'] else 'deleted'} {len(result['deleted'])} retained "
            f"director{'y' if len(result['deleted']) == 1 else 'ies'} ({human_bytes(result['freed_bytes'])}), "
            f"kept {len(result['kept'])}")
