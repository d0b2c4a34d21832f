"""Shadow, then promote: a candidate rule set on the live events beside the live job.

``start`` submits a second job of the domain (``patternalarm-<domain>-shadow``) with the candidate's
catalog version, parameter overrides and the rules directory, reading the live event topic with its own
consumer group from the moment it starts. It writes only the shadow topics (``alerts.shadow``,
``shadow.dlq|late|metrics``): its alerts are never stored in the ``alerts`` table and never open an
incident. ``compare`` sets the two rule sets' alerts side by side over the time both ran — per rule:
alerts of each, the ones both raised (same alert id: same rule version, entity and first event), and
for the live-only ones what the analysts made of their incidents (a false positive the candidate
would not have raised, a confirmed fraud it would have missed). ``promote`` deploys the candidate
through ``deploy_detection_jobs`` (its overrides replace the live ones) and stops the shadow.

The shadow is recorded in ``shadow_deployments`` (one running per domain). ``monitor_detection_jobs``
heals a running shadow whose job FAILED or that Flink no longer knows (a JobManager that restarted
without HA): it is resubmitted from its newest retained checkpoint with the same candidate, under the
same consumer group, and backs off like the live jobs when it fails the same way again. A cancelled
shadow job is never resubmitted (``shadow stop`` and ``promote`` cancel it on purpose).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from include.patternalarm.alerts import InvalidAlert, parse_time
from include.patternalarm.control.checkpoints import retained_checkpoint_of
from include.patternalarm.control.deployments import DeploymentStore
from include.patternalarm.control.health import HealAttempt, HealBackoff, heal_delay
from include.patternalarm.control.monitor import HEAL_LOCK_TTL_S, flink_restore_point
from include.patternalarm.flink.deploy import (
    DeployError,
    cancel_job,
    catalog_kwargs,
    deploy_domain,
    find_job,
    owns,
    typed_overrides,
)
from include.patternalarm.flink.rest import FlinkRest, FlinkRestError
from include.patternalarm.kafka_read import read_to_end
from include.patternalarm.rules import JobTopics, RuleError, load_catalog, pipeline_name
from include.patternalarm.settings import Settings
from include.patternalarm.topics import EVENTS, SHADOW_ALERTS, SHADOW_DLQ, SHADOW_LATE, SHADOW_METRICS

Progress = Callable[[str], None]
DISPOSITIONS = ("confirmed_fraud", "false_positive", "benign")


class ShadowError(RuntimeError):
    """A shadow operation that cannot go on; the message says what to do."""


def shadow_name(domain: str) -> str:
    return f"{pipeline_name(domain)}-shadow"


def shadow_topics(domain: str) -> JobTopics:
    return JobTopics(source=EVENTS[domain], alerts=SHADOW_ALERTS, dlq=SHADOW_DLQ, late=SHADOW_LATE,
                     metrics=SHADOW_METRICS)


@dataclass
class Shadow:
    shadow_id: int
    domain: str
    job_id: str | None
    catalog_version: int
    overrides: dict[str, dict[str, Any]]
    rules_dir: str | None
    parallelism: int
    started_by: str
    started_at: datetime
    stopped_at: datetime | None = None
    outcome: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}

    def param_overrides(self) -> list[str]:
        """The overrides as ``<owner>.<param>=<value>`` (what deploy_detection_jobs' form takes)."""
        return [f"{owner}.{name}={value}" for owner, params in sorted(self.overrides.items())
                for name, value in sorted(params.items())]


class ShadowStore:
    """``shadow_deployments`` through the control role."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    @classmethod
    def from_settings(cls, settings: Settings) -> ShadowStore:
        return cls(settings.db_conninfo("control"))

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row)

    def running(self, domain: str) -> Shadow | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM shadow_deployments WHERE domain = %s AND stopped_at IS NULL",
                               (domain,)).fetchone()
        return Shadow(**row) if row else None

    def latest(self, domain: str) -> Shadow | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM shadow_deployments WHERE domain = %s ORDER BY shadow_id DESC LIMIT 1",
                               (domain,)).fetchone()
        return Shadow(**row) if row else None

    def record(self, domain: str, *, catalog_version: int, overrides: Mapping[str, Any], rules_dir: str | None,
               parallelism: int, started_by: str) -> int:
        try:
            with self._connect() as conn:
                return conn.execute(
                    """INSERT INTO shadow_deployments (domain, catalog_version, overrides, rules_dir, parallelism,
                                                       started_by)
                       VALUES (%s, %s, %s, %s, %s, %s) RETURNING shadow_id""",
                    (domain, catalog_version, Jsonb(dict(overrides)), rules_dir, parallelism, started_by),
                ).fetchone()["shadow_id"]
        except psycopg.errors.UniqueViolation:
            raise ShadowError(f"{domain}: a shadow is already running; compare, promote or stop it first "
                              f"(bin/patternalarm shadow stop --domain {domain})") from None

    def update(self, shadow_id: int, **values: Any) -> None:
        allowed = {"job_id", "stopped_at", "outcome", "detail"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        sets = ", ".join(f"{k} = %s" for k in values)
        args = [Jsonb(v) if k == "detail" else v for k, v in values.items()]
        with self._connect() as conn:
            conn.execute(f"UPDATE shadow_deployments SET {sets} WHERE shadow_id = %s",  # noqa: S608 - names fixed above
                         (*args, shadow_id))


def start(settings: Settings, store: ShadowStore, domain: str, *, started_by: str,
          catalog_version: int | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None,
          parallelism: int = 1, wait_running: float = 150.0, progress: Progress = lambda _: None) -> Shadow:
    """Submit ``domain``'s candidate rule set in shadow (see the module docstring)."""
    if domain not in EVENTS:
        raise ShadowError(f"unknown domain {domain!r} (valid: {', '.join(EVENTS)})")
    _require_topics(settings)
    rules_dir = str(settings.rules_dir) if getattr(settings, "rules_dir", None) else None
    try:
        catalog = load_catalog(catalog_version, overrides=overrides or {}, **catalog_kwargs(rules_dir))
    except RuleError as exc:
        raise ShadowError(f"{domain}: {exc}") from None
    stray = [o for o in (overrides or {}) if not owns(catalog, domain, o)]
    if stray:
        raise ShadowError(f"{domain}: override(s) for {', '.join(sorted(stray))} change nothing in the {domain} job")
    typed = typed_overrides(catalog, overrides or {})
    shadow_id = store.record(domain, catalog_version=catalog.version, overrides=typed, rules_dir=rules_dir,
                             parallelism=parallelism, started_by=started_by)
    progress(f"{domain}: submitting the shadow job (catalog v{catalog.version}, overrides {typed or 'none'})")
    try:
        job_id = deploy_domain(settings, domain, parallelism=parallelism, catalog_version=catalog.version,
                               overrides=typed, topics=shadow_topics(domain), name=shadow_name(domain),
                               consumer_group=f"patternalarm-shadow-{domain}-{shadow_id}",
                               auto_offset_reset="latest", upgrade=False, restore=False, rules_dir=rules_dir,
                               wait_running=wait_running, progress=progress)
    except (DeployError, RuleError, FlinkRestError) as exc:
        store.update(shadow_id, stopped_at=datetime.now(UTC), outcome="failed", detail={"error": str(exc)[:2000]})
        raise ShadowError(f"{domain}: the shadow job did not start: {exc}") from None
    store.update(shadow_id, job_id=job_id)
    shadow = store.running(domain)
    assert shadow is not None
    return shadow


def _require_topics(settings: Settings) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    present = set(admin.list_topics(timeout=10).topics)
    missing = [t for t in (SHADOW_ALERTS, SHADOW_DLQ, SHADOW_LATE, SHADOW_METRICS) if t not in present]
    if missing:
        raise ShadowError(f"the shadow topics {', '.join(missing)} do not exist: run `bin/patternalarm stack up`, "
                          "which creates every topic the platform needs")


def job_state(settings: Settings, job_id: str | None) -> str:
    if not job_id:
        return "NOT SUBMITTED"
    try:
        with FlinkRest(settings.flink_rest) as rest:
            return str(rest.job(job_id).get("state", "UNKNOWN"))
    except FlinkRestError:
        return "UNKNOWN (Flink does not know the job)"


def stop(settings: Settings, store: ShadowStore, domain: str, *, outcome: str = "stopped") -> Shadow | None:
    """Cancel the domain's shadow job and close its record (None: no shadow ran)."""
    shadow = store.running(domain)
    if shadow is None:
        return None
    if shadow.job_id and job_state(settings, shadow.job_id) in ("RUNNING", "CREATED", "INITIALIZING",
                                                                 "RESTARTING", "FAILING"):
        cancel_job(settings, shadow.job_id)
    store.update(shadow.shadow_id, stopped_at=datetime.now(UTC), outcome=outcome)
    shadow.outcome = outcome
    return shadow


def heal(settings: Settings, store: ShadowStore, domain: str, *, requested_by: str,
         backoff: HealBackoff | None = None, now: float | None = None) -> dict[str, Any] | None:
    """Resubmit the domain's running shadow when its job FAILED or Flink forgot it (None: nothing to do;
    ``{"backoff": …}`` while a repeated failure waits). The heals are kept in the record's ``detail``."""
    found = _needs_heal(settings, store, domain)
    if found is None:
        return None
    shadow, _ = found
    # one healer at a time (two monitor runs, or the monitor and an operator, would each submit a job)
    locks = DeploymentStore.from_settings(settings)
    lock = shadow_lock(domain)
    held = locks.try_acquire(lock, requested_by, "heal", HEAL_LOCK_TTL_S)
    if held is not None:
        return {"domain": domain, "shadow_id": shadow.shadow_id,
                "skipped": f"{held['holder']} holds the shadow's lock ({held['purpose']})"}
    try:
        return _heal_locked(settings, store, domain, requested_by=requested_by, backoff=backoff, now=now)
    finally:
        locks.release(lock, requested_by)


def shadow_lock(domain: str) -> str:
    """The lease name that serialises the heals of ``domain``'s shadow (beside the live job's own lease)."""
    return f"{domain}/shadow"


def _needs_heal(settings: Settings, store: ShadowStore, domain: str) -> tuple[Shadow, str] | None:
    """The running shadow and its job's state when that job FAILED or Flink forgot it; None otherwise
    (no shadow, ``start`` still submitting it, or its job running, restarting or cancelled on purpose)."""
    shadow = store.running(domain)
    if shadow is None or not shadow.job_id:
        return None
    state = job_state(settings, shadow.job_id)
    return (shadow, state) if state == "FAILED" or state.startswith("UNKNOWN") else None


def _heal_locked(settings: Settings, store: ShadowStore, domain: str, *, requested_by: str,
                 backoff: HealBackoff | None, now: float | None) -> dict[str, Any] | None:
    found = _needs_heal(settings, store, domain)  # again, under the lock: another healer may have just done it
    if found is None:
        return None
    shadow, state = found
    if find_job(settings, domain, name=shadow_name(domain)) is not None:
        return None  # a shadow job runs that the record does not name yet: not a second one
    cause = None
    if state == "FAILED":
        with FlinkRest(settings.flink_rest) as rest:
            cause = rest.root_exception(shadow.job_id)
    heals = list(shadow.detail.get("heals", []))
    attempts = [HealAttempt(at=h["at"], was=h.get("was"), cause=h.get("cause")) for h in heals]
    wait, streak = heal_delay(attempts, state, cause, now or time.time(), backoff)
    result: dict[str, Any] = {"domain": domain, "shadow_id": shadow.shadow_id, "replaced": shadow.job_id,
                              "was": state, "cause": cause}
    if wait > 0:
        return {**result, "backoff": True, "retry_in_s": round(wait), "streak": streak}
    restore = flink_restore_point(settings, shadow.job_id) or retained_checkpoint_of(settings, shadow.job_id)
    job_id = deploy_domain(settings, domain, parallelism=shadow.parallelism, catalog_version=shadow.catalog_version,
                           overrides=shadow.overrides, topics=shadow_topics(domain), name=shadow_name(domain),
                           consumer_group=f"patternalarm-shadow-{domain}-{shadow.shadow_id}",
                           auto_offset_reset="latest", upgrade=False, savepoint_path=restore,
                           rules_dir=shadow.rules_dir, wait_running=0)
    heals.append({"at": now or time.time(), "was": state, "cause": cause, "job_id": job_id, "restored_from": restore,
                  "by": requested_by})
    store.update(shadow.shadow_id, job_id=job_id, detail={**shadow.detail, "heals": heals[-20:]})
    return {**result, "job_id": job_id, "restored_from": restore}


# --- compare ------------------------------------------------------------------------------------------

def shadow_alerts(settings: Settings, domain: str, since: datetime, *, timeout_s: float = 30.0) -> dict[str, dict]:
    """The shadow's alerts of ``domain`` on ``alerts.shadow`` written since ``since`` (highest seq per id)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": "patternalarm-shadow-compare",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        metadata = consumer.list_topics(SHADOW_ALERTS, timeout=10).topics[SHADOW_ALERTS]
        since_ms = int(since.timestamp() * 1000)
        wanted = consumer.offsets_for_times([TopicPartition(SHADOW_ALERTS, p, since_ms) for p in metadata.partitions],
                                            timeout=10)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(SHADOW_ALERTS, p), timeout=10)[1]
                for p in metadata.partitions}
        start = [tp for tp in wanted if tp.offset >= 0 and tp.offset < ends[tp.partition]]
        alerts: dict[str, dict] = {}
        for message in read_to_end(consumer, start, ends, timeout_s=timeout_s):
            try:
                alert = json.loads(message.value())
            except (ValueError, TypeError):
                continue
            if not isinstance(alert, dict) or alert.get("domain") != domain or "alert_id" not in alert:
                continue
            known = alerts.get(alert["alert_id"])
            if known is None or int(alert.get("seq", 1)) > int(known.get("seq", 1)):
                alerts[alert["alert_id"]] = alert
        return alerts
    finally:
        consumer.close()


def live_alerts(settings: Settings, domain: str, since: datetime, until: datetime) -> dict[str, dict]:
    """The live job's stored alerts of ``domain`` whose first event is in [since, until], with their
    incident's disposition (None while open)."""
    with psycopg.connect(settings.db_conninfo("control"), row_factory=dict_row) as conn:
        rows = conn.execute(
            """SELECT a.alert_id, a.rule_id, a.rule_version, a.entity, i.disposition
               FROM alerts a LEFT JOIN incidents i ON i.incident_id = a.incident_id
               WHERE a.domain = %s AND a.first_event_time BETWEEN %s AND %s""",
            (domain, since, until)).fetchall()
    return {r["alert_id"]: r for r in rows}


def comparison(live: Mapping[str, Mapping[str, Any]], shadow: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per rule: alerts of each set, both, live only (by disposition), shadow only — pure."""
    rules = sorted({a["rule_id"] for a in live.values()} | {a["rule_id"] for a in shadow.values()})
    out: dict[str, Any] = {}
    for rule in rules:
        mine = {i for i, a in live.items() if a["rule_id"] == rule}
        theirs = {i for i, a in shadow.items() if a["rule_id"] == rule}
        only_live = mine - theirs
        dispositions = {d: sum(1 for i in only_live if live[i].get("disposition") == d) for d in DISPOSITIONS}
        out[rule] = {"live": len(mine), "shadow": len(theirs), "both": len(mine & theirs),
                     "live_only": len(only_live), "shadow_only": len(theirs - mine),
                     "live_only_by_disposition": dispositions,
                     "live_only_open": len(only_live) - sum(dispositions.values())}
    return out


def compare(settings: Settings, store: ShadowStore, domain: str, *, settle_s: float = 10.0) -> dict[str, Any]:
    """The running (or last) shadow of ``domain`` against the live job: the alerts of both whose first event
    is between the shadow's start and ``settle_s`` before now (or its stop), so that both jobs have seen the
    events they compare."""
    shadow = store.running(domain) or store.latest(domain)
    if shadow is None:
        raise ShadowError(f"{domain}: no shadow has run; start one with "
                          f"`bin/patternalarm shadow start --domain {domain} [--catalog-version N] [--param …]`")
    since = shadow.started_at
    until = (shadow.stopped_at or datetime.now(UTC)) - timedelta(seconds=settle_s)
    live = live_alerts(settings, domain, since, until)
    candidates = {i: a for i, a in shadow_alerts(settings, domain, since).items()
                  if since <= _event_time(a.get("first_event_time")) <= until}
    return {"domain": domain, "shadow": shadow.as_dict(), "state": job_state(settings, shadow.job_id),
            "since": since.isoformat(), "until": until.isoformat(), "rules": comparison(live, candidates),
            "live_alerts": len(live), "shadow_alerts": len(candidates)}


def _event_time(value: Any) -> datetime:
    """An alert's ISO-8601 time field as a datetime (the epoch when it is not one: such an alert predates nothing)."""
    try:
        return parse_time("first_event_time", value)
    except InvalidAlert:
        return datetime.fromtimestamp(0, UTC)


# --- promote ------------------------------------------------------------------------------------------

def promote(settings: Settings, store: ShadowStore, domain: str, *, timeout_s: float = 900.0,
            progress: Progress = lambda _: None) -> dict[str, Any]:
    """Deploy the running shadow's rule set through ``deploy_detection_jobs`` (its overrides replace the live
    ones), then stop the shadow. Raises ``ShadowError`` when the DAG run fails (the shadow keeps running)."""
    from include.patternalarm.airflow_client import AirflowClient

    shadow = store.running(domain)
    if shadow is None:
        raise ShadowError(f"{domain}: no shadow is running; start one first")
    conf = {"domains": [domain], "catalog_version": shadow.catalog_version, "param_overrides": shadow.param_overrides(),
            "reset_params": True, "parallelism": max(1, shadow.parallelism)}
    client = AirflowClient(settings)
    try:
        client.wait_parsed("deploy_detection_jobs")
        run_id = client.trigger("deploy_detection_jobs", conf)
        progress(f"{domain}: deploy_detection_jobs run {run_id} (catalog v{shadow.catalog_version}, "
                 f"overrides {shadow.param_overrides() or 'none'})")
        result = client.wait("deploy_detection_jobs", run_id, timeout=timeout_s)
    finally:
        client.close()
    if not result.ok:
        store.update(shadow.shadow_id, detail={**shadow.detail, "promote_failed": run_id})
        raise ShadowError(f"{domain}: deploy_detection_jobs run {run_id} ended {result.state} ({result.tasks}); the "
                          "live job was rolled back if it had been replaced, and the shadow keeps running")
    stop(settings, store, domain, outcome="promoted")
    store.update(shadow.shadow_id, detail={**shadow.detail, "promoted_by": run_id})
    return {"domain": domain, "run_id": run_id, "conf": conf}


__all__ = ["Shadow", "ShadowError", "ShadowStore", "compare", "comparison", "promote", "shadow_name", "start",
           "stop"]
