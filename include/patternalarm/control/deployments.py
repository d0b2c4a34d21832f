"""The deployment record: what each domain's detection job runs with, and one lock per domain.

One record and one lock, shared by everything that changes a detection job — ``bin/patternalarm
deploy``, ``deploy_detection_jobs``, ``monitor_detection_jobs`` (healing) and the scaler:

- ``detection_deployments`` (migrations 0051, 0052): per domain and change, the job id, catalog
  version, rules directory, **parameter overrides**, parallelism, startup mode, savepoint lineage
  (``restored_from``, ``stop_savepoint``), who and when. The latest *healthy* record is the state
  the monitor heals towards, overrides included; a later deploy keeps the overrides unless it
  resets them.
- ``deployment_locks``: a lease per domain (holder, purpose, expiry). Whoever changes a domain's
  job holds it; a second party waits (up to its timeout) or gives up with a message naming the
  holder. A lease expires by itself, so a holder that dies (a killed scheduler, a ^C) blocks the
  domain for at most its time to live.

Connections are made as the control-plane role (``patternalarm_control``) from a libpq conninfo:
the CLI builds it from the settings, Airflow from the ``postgres_incidents`` connection.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

#: Actions that leave a job running with the record's parameters.
JOB_ACTIONS = ("deploy", "upgrade", "rollback", "resubmit", "rescale")
_COLUMNS = ("id, domain, catalog_version, parallelism, action, status, job_id, restored_from, stop_savepoint,"
            " requested_by, requested_at, healthy_at, finished_at, overrides, rules_dir, startup_mode, detail")

Overrides = dict[str, dict[str, Any]]


class LockHeld(RuntimeError):
    """Another party holds the domain's deployment lock (the message names it and until when)."""

    def __init__(self, domain: str, holder: str, purpose: str, acquired_at: datetime, expires_at: datetime,
                 waited_s: float) -> None:
        self.domain, self.holder, self.purpose = domain, holder, purpose
        self.acquired_at, self.expires_at = acquired_at, expires_at
        super().__init__(
            f"{domain}: the deployment lock is held by {holder} ({purpose}, since {acquired_at:%H:%M:%S}, "
            f"expires {expires_at:%H:%M:%S} UTC); waited {waited_s:.0f}s. Another deploy or the monitor's "
            "healing is changing this job: retry when it is done, or wait longer (--lock-timeout)")


@dataclass(frozen=True)
class Deployment:
    id: int
    domain: str
    catalog_version: str
    parallelism: int
    action: str
    status: str
    job_id: str | None
    restored_from: str | None
    stop_savepoint: str | None
    requested_by: str
    requested_at: datetime
    healthy_at: datetime | None = None
    finished_at: datetime | None = None
    overrides: Overrides = field(default_factory=dict)
    rules_dir: str | None = None
    startup_mode: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> int | None:
        """The catalog version as a number (None for records that say ``unknown``/``default``)."""
        return int(self.catalog_version) if str(self.catalog_version).isdigit() else None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


def cli_holder() -> str:
    """The lock holder name of a command-line process: ``cli:<user>@<host>:<pid>``."""
    return f"cli:{getpass.getuser()}@{socket.gethostname()}:{os.getpid()}"


def merge_overrides(base: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Mapping[str, Any]]) -> Overrides:
    """``base`` with ``extra`` on top, per owner and parameter (a new value replaces the kept one)."""
    merged: Overrides = {owner: dict(params) for owner, params in base.items()}
    for owner, params in extra.items():
        merged.setdefault(owner, {}).update(params)
    return {owner: params for owner, params in merged.items() if params}


class DeploymentStore:
    """``detection_deployments`` and ``deployment_locks`` as the control-plane role."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = make_conninfo(conninfo, connect_timeout=10, options="-c statement_timeout=30000")

    @classmethod
    def from_settings(cls, settings: Settings) -> DeploymentStore:
        return cls(settings.db_conninfo("control"))

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row)
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"the deployment record (PostgreSQL) is unreachable: {str(exc).strip()}") from None

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._connect() as conn:
            return conn.execute(sql, tuple(params)).fetchall()

    # --- records ---------------------------------------------------------------------------------
    def record(self, domain: str, *, action: str, status: str, requested_by: str, catalog_version: int | str | None,
               parallelism: int, job_id: str | None = None, restored_from: str | None = None,
               stop_savepoint: str | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
               rules_dir: str | None = None, startup_mode: str | None = None,
               detail: Mapping[str, Any] | None = None) -> int:
        """Append one record; returns its id."""
        rows = self._rows(
            "insert into detection_deployments (domain, catalog_version, parallelism, action, status, requested_by,"
            " job_id, restored_from, stop_savepoint, overrides, rules_dir, startup_mode, detail, healthy_at,"
            " finished_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
            "         case when %s = 'healthy' then now() end,"
            "         case when %s not in ('in_progress', 'submitted') then now() end) returning id",
            (domain, str(catalog_version if catalog_version is not None else "default"), int(parallelism), action,
             status, requested_by, job_id, restored_from, stop_savepoint, Jsonb(dict(overrides or {})), rules_dir,
             startup_mode, Jsonb(json.loads(json.dumps(dict(detail or {}), default=str))), status, status))
        return int(rows[0]["id"])

    def update(self, record_id: int, *, status: str | None = None, job_id: str | None = None,
               restored_from: str | None = None, stop_savepoint: str | None = None,
               detail: Mapping[str, Any] | None = None) -> None:
        """Fill in what a record learnt later (the savepoint it took, the job it started, how it ended)."""
        self._rows(
            "update detection_deployments set status = coalesce(%s, status), job_id = coalesce(%s, job_id),"
            " restored_from = coalesce(%s, restored_from), stop_savepoint = coalesce(%s, stop_savepoint),"
            " healthy_at = case when %s = 'healthy' then now() else healthy_at end,"
            " finished_at = case when coalesce(%s, status) not in ('in_progress', 'submitted') then now()"
            "                    else finished_at end,"
            " detail = detail || %s where id = %s returning id",
            (status, job_id, restored_from, stop_savepoint, status, status,
             Jsonb(json.loads(json.dumps(dict(detail or {}), default=str))), record_id))

    def _one(self, where: str, params: Iterable[Any]) -> Deployment | None:
        rows = self._rows(f"select {_COLUMNS} from detection_deployments where {where}"  # noqa: S608 - fixed text
                          " order by requested_at desc, id desc limit 1", params)
        return Deployment(**rows[0]) if rows else None

    def desired(self, domain: str) -> Deployment | None:
        """The latest healthy deployment of ``domain``: what the monitor heals towards (overrides included)."""
        return self._one("domain = %s and status = 'healthy' and action = any(%s)", (domain, list(JOB_ACTIONS)))

    def latest(self, domain: str) -> Deployment | None:
        """The newest record of ``domain`` whatever its status (a ``stop`` means stopped on purpose)."""
        return self._one("domain = %s", (domain,))

    def latest_job(self, domain: str) -> Deployment | None:
        """The newest record that names a job of ``domain`` (the job to heal from after a JobManager loss)."""
        return self._one("domain = %s and job_id is not null", (domain,))

    def in_progress(self, domain: str, requested_by: str) -> Deployment | None:
        """An unfinished change of ``domain`` by ``requested_by`` (a retried step finds its own record)."""
        return self._one("domain = %s and requested_by = %s and status = 'in_progress'", (domain, requested_by))

    def recent(self, domain: str, action: str, since_s: float) -> list[Deployment]:
        """Records of one action in the last ``since_s`` seconds, newest first."""
        rows = self._rows(f"select {_COLUMNS} from detection_deployments"  # noqa: S608 - fixed text
                          " where domain = %s and action = %s and requested_at > now() - make_interval(secs => %s)"
                          " order by requested_at desc, id desc", (domain, action, since_s))
        return [Deployment(**r) for r in rows]

    def recent_records(self, domain: str, limit: int) -> list[Deployment]:
        """The newest ``limit`` records of ``domain``, newest first."""
        rows = self._rows(f"select {_COLUMNS} from detection_deployments"  # noqa: S608 - fixed text
                          " where domain = %s order by requested_at desc, id desc limit %s", (domain, limit))
        return [Deployment(**r) for r in rows]

    def history(self, domain: str, start: datetime, end: datetime) -> list[Deployment]:
        """The deployments whose parameters were live during [start, end): the last one that started a job
        before ``start`` and every one that started a job inside the range, oldest first."""
        rows = self._rows(
            f"(select {_COLUMNS} from detection_deployments"  # noqa: S608 - fixed text
            "   where domain = %s and requested_at < %s and status in ('healthy', 'submitted') and action = any(%s)"
            "   order by requested_at desc, id desc limit 1)"
            f" union all (select {_COLUMNS} from detection_deployments"
            "   where domain = %s and requested_at >= %s and requested_at < %s and status in ('healthy', 'submitted')"
            "     and action = any(%s))"
            " order by requested_at, id",
            (domain, start, list(JOB_ACTIONS), domain, start, end, list(JOB_ACTIONS)))
        return [Deployment(**r) for r in rows]

    # --- the lock ----------------------------------------------------------------------------------
    def try_acquire(self, domain: str, holder: str, purpose: str, ttl_s: float) -> dict[str, Any] | None:
        """Take (or renew, for the same holder) the domain's lease without waiting. None: taken; otherwise
        the lease of whoever holds it (holder, purpose, acquired_at, expires_at)."""
        rows = self._rows(
            "insert into deployment_locks as l (domain, holder, purpose, acquired_at, expires_at)"
            " values (%s, %s, %s, now(), now() + make_interval(secs => %s))"
            " on conflict (domain) do update set holder = excluded.holder, purpose = excluded.purpose,"
            "   acquired_at = case when l.holder = excluded.holder then l.acquired_at else now() end,"
            "   expires_at = excluded.expires_at"
            " where l.holder = excluded.holder or l.expires_at < now()"
            " returning holder", (domain, holder, purpose, ttl_s))
        if rows:
            return None
        held = self._rows("select holder, purpose, acquired_at, expires_at from deployment_locks where domain = %s",
                          (domain,))
        return held[0] if held else {"holder": "?", "purpose": "?", "acquired_at": datetime.now(),
                                     "expires_at": datetime.now()}

    def acquire(self, domain: str, holder: str, purpose: str, *, ttl_s: float = 900.0, wait_s: float = 0.0,
                poll_s: float = 1.0) -> None:
        """Take the domain's lease, waiting up to ``wait_s`` for another holder; ``LockHeld`` after that."""
        started = time.monotonic()
        while True:
            held = self.try_acquire(domain, holder, purpose, ttl_s)
            if held is None:
                return
            waited = time.monotonic() - started
            if waited >= wait_s:
                raise LockHeld(domain, held["holder"], held["purpose"], held["acquired_at"], held["expires_at"],
                               waited)
            time.sleep(min(poll_s, max(0.05, wait_s - waited)))

    def release(self, domain: str, holder: str) -> bool:
        """Give the lease back (only its holder can); True when it was held by ``holder``."""
        return bool(self._rows("delete from deployment_locks where domain = %s and holder = %s returning domain",
                               (domain, holder)))

    def holder(self, domain: str) -> dict[str, Any] | None:
        """The live lease of ``domain`` (holder, purpose, since, until), or None."""
        rows = self._rows("select holder, purpose, acquired_at, expires_at from deployment_locks"
                          " where domain = %s and expires_at > now()", (domain,))
        return rows[0] if rows else None

    @contextmanager
    def lease(self, domains: Iterable[str], holder: str, purpose: str, *, ttl_s: float = 900.0,
              wait_s: float = 0.0) -> Iterator[None]:
        """Hold the leases of ``domains`` (in a fixed order, so two parties never deadlock) for a block."""
        taken: list[str] = []
        try:
            for domain in sorted(set(domains)):
                self.acquire(domain, holder, purpose, ttl_s=ttl_s, wait_s=wait_s)
                taken.append(domain)
            yield
        finally:
            for domain in taken:
                try:
                    self.release(domain, holder)
                except (RuntimeError, psycopg.Error):
                    pass  # it expires by itself
