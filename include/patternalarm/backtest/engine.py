"""Backtesting a rule set on a labelled history file, in an ISOLATED job.

The file is replayed (the same mapping as ``replay``: ``--key --time --map --set``) into a topic of its
own; a copy of the domain's detection job — the chosen catalog version, user rules, parameters —
reads it from the start with its own consumer group and writes alerts, dead letters and counts to
topics of its own. Event time is the file's: the job runs at full speed and its watermark follows
the history, so the live jobs, their alerts and the incidents are untouched. A candidate and a
baseline rule set run side by side on the same topic. When every operator's watermark has passed the
last event (filler events on every partition push it there), the alerts are read back and the
throwaway topics deleted.

Everything a run creates is recorded in an ``Isolation`` as it is created; ``Isolation.release()``
cancels the jobs and deletes the topics. ``run_jobs`` calls it in its ``finally``; a caller that can be
killed from outside (the Airflow operator's ``on_kill``, which gets a few seconds before SIGKILL) calls
``release(wait=False)`` itself: the replay stops, the cancels are sent without waiting for them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from include.patternalarm.alerts import InvalidAlert, parse_alert
from include.patternalarm.events.timefmt import iso_ms
from include.patternalarm.flink.deploy import cancel_job, deploy_domain
from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.replay.runner import ReplayConfig, run_replay
from include.patternalarm.rules import JobTopics, load_catalog
from include.patternalarm.settings import Settings

Progress = Callable[[str], None]
PARTITIONS = 4


class BacktestError(RuntimeError):
    """The backtest could not run (file, mapping, rule set, or the cluster), with the reason."""


@dataclass(frozen=True)
class RuleSet:
    """What to run: a catalog version, a user rules directory, parameter overrides, a subset of rules."""

    name: str = "candidate"
    catalog_version: int | None = None
    rules_dir: Path | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    rules: tuple[str, ...] | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "catalog_version": self.catalog_version,
                "rules_dir": str(self.rules_dir) if self.rules_dir else None,
                "overrides": {k: dict(v) for k, v in self.overrides.items()},
                "only": list(self.rules) if self.rules else None}


@dataclass
class JobRun:
    """One rule set's isolated job and what it produced."""

    rule_set: RuleSet
    topics: JobTopics
    job_id: str | None = None
    rules: list[str] = field(default_factory=list)
    catalog_version: int | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)  # the latest update of each alert id
    dead_lettered: dict[str, int] = field(default_factory=dict)  # by reason, as the job routed them
    late: int = 0
    submit_s: float = 0.0  # SQL Gateway submission (planning, compiling)
    start_s: float = 0.0  # submitted → every task RUNNING
    seconds: float = 0.0  # every task RUNNING → every operator's watermark past the last event
    submitted_at: float = 0.0  # epoch s
    running_at: float = 0.0  # epoch s: the last task's start (Flink's clock: the same machine or NTP)


class Isolation:
    """The throwaway resources of one backtest (topics, jobs), released once: jobs cancelled, topics deleted.

    Thread-safe: ``release`` may come from a signal handler or another thread while the run goes on;
    a job submitted after it is cancelled at once."""

    def __init__(self, settings: Settings, tag: str | None = None) -> None:
        self.settings = settings
        self.tag = tag or uuid.uuid4().hex[:8]
        self.topics: list[str] = []
        self.jobs: dict[str, str] = {}  # job id → name
        self.stop = threading.Event()  # set on release: the replay stops, the wait gives up
        self._lock = threading.Lock()
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def add_topics(self, names: list[str]) -> None:
        with self._lock:
            self.topics += names

    def add_job(self, job_id: str, name: str, progress: Progress = lambda _: None) -> None:
        with self._lock:
            self.jobs[job_id] = name
            late = self._released
        if late:  # its submission returned after the release
            self._cancel({job_id: name}, wait=False, progress=progress)

    def release(self, *, wait: bool = True, progress: Progress = lambda _: None) -> None:
        """Cancel every job (``wait``: until it is gone) and delete every topic; idempotent."""
        with self._lock:
            if self._released:
                return
            self._released = True
            jobs, topics = dict(self.jobs), list(self.topics)
        self.stop.set()
        self._cancel(jobs, wait=wait, progress=progress)
        if topics:
            try:
                admin = AdminClient({"bootstrap.servers": self.settings.bootstrap_servers})
                for name, future in admin.delete_topics(topics, operation_timeout=10).items():
                    try:
                        future.result(30 if wait else 3)
                    except Exception as exc:  # noqa: BLE001 - cleanup goes on
                        progress(f"could not delete topic {name}: {exc}")
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                progress(f"could not delete the backtest topics: {exc}")

    def _cancel(self, jobs: Mapping[str, str], *, wait: bool, progress: Progress) -> None:
        for job_id, name in jobs.items():
            try:
                if wait:
                    cancel_job(self.settings, job_id)
                else:
                    with FlinkRest(self.settings.flink_rest, timeout=3.0) as rest:
                        rest.cancel(job_id)
            except Exception as exc:  # noqa: BLE001 - cleanup goes on
                progress(f"could not cancel the {name} job {job_id}: {exc}")


def _topics(tag: str, name: str) -> JobTopics:
    base = f"backtest.{tag}.{name}"
    return JobTopics(source=f"backtest.{tag}.events", alerts=f"{base}.alerts", dlq=f"{base}.dlq",
                     late=f"{base}.late", metrics=f"{base}.metrics")


def _create(admin: AdminClient, names: list[tuple[str, int]], replication: int) -> None:
    futures = admin.create_topics([NewTopic(n, p, replication) for n, p in names])
    for name, future in futures.items():
        try:
            future.result(30)
        except Exception as exc:  # the message names the topic
            raise BacktestError(f"could not create topic {name}: {exc}") from exc


def _end_offsets(admin: AdminClient, topic: str) -> dict[int, int]:
    parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
    ends = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in parts}, request_timeout=10)
    return {tp.partition: f.result(10).offset for tp, f in ends.items()}


def read_topic(settings: Settings, admin: AdminClient, topic: str, timeout: float = 120.0) -> list[Any]:
    """Every record of ``topic`` (to its end offsets at the time of the call)."""
    ends = {p: o for p, o in _end_offsets(admin, topic).items() if o > 0}
    if not ends:
        return []
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"backtest-read-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in ends])
    records: list[Any] = []
    position = dict.fromkeys(ends, 0)
    deadline = time.monotonic() + timeout
    try:
        while any(position[p] < ends[p] for p in ends):
            if time.monotonic() > deadline:
                raise BacktestError(f"could not read {topic} within {timeout:.0f}s")
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                records.append(msg)
                position[msg.partition()] = msg.offset() + 1
    finally:
        consumer.close()
    return records


def _filler(domain: str, partition: int, ms: int) -> tuple[str, dict[str, Any]]:
    """An event no rule fires on, to move the watermark of a partition past the history."""
    key = f"backtest-flush-{partition}"
    common = {"event_id": f"{key}-{ms}", "event_time": iso_ms(ms), "domain": domain}
    if domain == "payments":
        return key, {**common, "card_id": key, "account_id": key, "event_type": "capture", "amount": 1.0}
    if domain == "gaming":
        return key, {**common, "player_id": key, "match_id": key, "action": "hit"}
    return key, {**common, "device_id": key, "event_type": "heartbeat"}


def _flush(settings: Settings, topic: str, domain: str, after_ms: int) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5})
    for partition in range(PARTITIONS):
        for step in range(3):
            key, event = _filler(domain, partition, after_ms + step * 1000)
            producer.produce(topic, json.dumps(event).encode(), key.encode(), partition=partition)
    if producer.flush(30) != 0:
        raise BacktestError(f"could not write the flush events to {topic}")


def _follow(settings: Settings, runs: list[JobRun], submissions: dict[str, Future], last_ms: int, total: int,
            progress: Progress, timeout: float, stop: threading.Event) -> dict[str, float]:
    """Follow every job from its submission (``submissions``: job name → future of its id, submitted in
    other threads) until every task runs and then until it has read every record and all its operators'
    watermarks passed the last event. Returns when (monotonic) the last job was submitted and running."""
    started = time.monotonic()
    milestones = {"submitted": started, "running": started}
    pending = {run.rule_set.name: run for run in runs}
    submitted: set[str] = set()
    shown = -1.0
    with FlinkRest(settings.flink_rest) as rest:
        while pending:
            elapsed = time.monotonic() - started
            if stop.is_set():
                raise BacktestError("the backtest was stopped")
            if elapsed > timeout:
                raise BacktestError(f"the backtest job(s) did not finish within {timeout:.0f}s: "
                                    f"{', '.join(r.rule_set.name for r in pending.values())}")
            for key, run in list(pending.items()):
                if key not in submitted:
                    if not submissions[key].done():
                        continue
                    submissions[key].result()  # the submission's error, if it failed
                    submitted.add(key)
                    milestones["submitted"] = time.monotonic()
                job = rest.job(run.job_id)
                state = job["state"]
                if state in ("FAILED", "CANCELED", "FINISHED", "RESTARTING", "FAILING"):
                    raise BacktestError(f"the {key} job {state.lower()}: {rest.root_exception(run.job_id)}")
                if not run.running_at:
                    vertices = job.get("vertices", [])
                    if not (state == "RUNNING" and vertices and all(v.get("status") == "RUNNING" for v in vertices)):
                        continue
                    starts = [int(v.get("start-time", 0)) for v in vertices]
                    run.running_at = max(starts) / 1000 if min(starts) > 0 else time.time()
                    run.start_s = round(max(0.0, run.running_at - run.submitted_at), 1)
                    milestones["running"] = time.monotonic()
                    progress(f"{run.rule_set.name}: job {run.job_id} running")
                read = rest.source_records(run.job_id)
                mark = rest.lowest_watermark(run.job_id) if read >= total else None
                if mark is not None and mark >= last_ms:
                    run.seconds = round(time.time() - run.running_at, 1)
                    del pending[key]
                    progress(f"{run.rule_set.name}: all {read:,} records processed in {run.seconds}s")
                elif elapsed - shown >= 10:
                    shown = elapsed
                    progress(f"{run.rule_set.name}: {read:,} of {total:,} records read ({elapsed:.0f}s)")
            if pending:
                stop.wait(1.0)
    return milestones


def _collect(settings: Settings, admin: AdminClient, run: JobRun) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for msg in read_topic(settings, admin, run.topics.alerts):
        try:
            alert = parse_alert(msg.value()).to_json()
        except InvalidAlert:
            continue
        known = latest.get(alert["alert_id"])
        if known is None or alert["seq"] > known["seq"]:
            latest[alert["alert_id"]] = alert
    run.alerts = sorted(latest.values(), key=lambda a: (a["last_event_time"], a["alert_id"]))
    for msg in read_topic(settings, admin, run.topics.dlq):
        reason = json.loads(msg.value()).get("reason", "?")
        run.dead_lettered[reason] = run.dead_lettered.get(reason, 0) + 1
    run.late = len(read_topic(settings, admin, run.topics.late))


@dataclass
class Replayed:
    rows: int
    events: int
    edge_dead_letters: dict[str, int]
    first_ms: int | None
    last_ms: int | None
    seconds: float


@dataclass
class Timings:
    """Seconds per phase of ``run_jobs`` (the jobs' own figures are on each ``JobRun``)."""

    replay: float = 0.0
    submit: float = 0.0  # → every job submitted through the SQL Gateway (side by side)
    start: float = 0.0  # → every task of every job RUNNING
    process: float = 0.0  # → every job's watermark past the last event (a job runs as soon as it is submitted)
    collect: float = 0.0  # reading alerts, dead letters and late events back

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in self.__dict__.items()}


def run_jobs(settings: Settings, path: Path, domain: str, mapping: ReplayConfig, rule_sets: list[RuleSet], *,
             parallelism: int = 1, progress: Progress = lambda _: None, timeout: float = 1800.0,
             isolation: Isolation | None = None) -> tuple[Replayed, list[JobRun], Timings]:
    """Replay ``path`` into a fresh topic, run every rule set on it; the replay summary, runs and timings."""
    for rule_set in rule_sets:  # a wrong rule set or parameter fails before anything is created
        load_catalog(rule_set.catalog_version, overrides=rule_set.overrides)
    isolation = isolation or Isolation(settings)
    tag = isolation.tag
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    runs = [JobRun(rule_set, _topics(tag, rule_set.name)) for rule_set in rule_sets]
    replication = min(settings.kafka_brokers, 3)
    names = [(runs[0].topics.source, PARTITIONS)]
    for run in runs:
        names += [(run.topics.alerts, 1), (run.topics.dlq, 1), (run.topics.late, 1), (run.topics.metrics, 1)]
    edge_dlq = f"backtest.{tag}.edge-dlq"
    names.append((edge_dlq, 1))
    timings = Timings()
    try:
        isolation.add_topics([n for n, _ in names])
        if isolation.stop.is_set():
            raise BacktestError("the backtest was stopped")
        _create(admin, names, replication)
        progress(f"replaying {path.name} into {runs[0].topics.source}")
        started = time.monotonic()
        summary = run_replay(settings, ReplayConfig(**{**mapping.__dict__, "path": path, "domain": domain,
                                                       "topic": runs[0].topics.source, "dlq_topic": edge_dlq,
                                                       "speed": None, "retime": False}), stop=isolation.stop)
        if isolation.stop.is_set():
            raise BacktestError("the backtest was stopped during the replay")
        if summary.status != "finished":
            raise BacktestError(f"the replay {summary.status}: {'; '.join(summary.errors) or 'see the log'}")
        first_ms = _ms(summary.first_event_time)
        last_ms = _ms(summary.last_event_time)
        timings.replay = time.monotonic() - started
        replayed = Replayed(rows=summary.rows, events=summary.events_sent,
                            edge_dead_letters=summary.dead_letter_reasons, first_ms=first_ms, last_ms=last_ms,
                            seconds=round(timings.replay, 1))
        progress(f"replayed {summary.rows:,} rows ({summary.events_sent:,} events, {summary.dead_lettered:,} "
                 f"dead-lettered at the edge) in {replayed.seconds}s")
        if last_ms is None:
            reasons = ", ".join(f"{r} ×{n:,}" for r, n in sorted(summary.dead_letter_reasons.items()))
            raise BacktestError(f"no row of the file became an event ({reasons or 'no rows'}): check the mapping")
        _flush(settings, runs[0].topics.source, domain, last_ms + 10_000)
        total = summary.events_sent + PARTITIONS * 3
        phase = time.monotonic()

        def submit(run: JobRun) -> str:
            catalog = load_catalog(run.rule_set.catalog_version, overrides=run.rule_set.overrides)
            run.catalog_version = catalog.version
            run.rules = [r.id for r in catalog.rules_for(domain)
                         if run.rule_set.rules is None or r.id in run.rule_set.rules]
            name = f"backtest-{tag}-{run.rule_set.name}"
            submitted = time.monotonic()
            job_id = deploy_domain(
                settings, domain, parallelism=parallelism, catalog_version=run.rule_set.catalog_version,
                overrides=run.rule_set.overrides, topics=run.topics, name=name,
                startup_mode="earliest-offset", auto_offset_reset="earliest",
                consumer_group=name, rules=run.rule_set.rules, upgrade=False, wait_running=0)
            run.submit_s = round(time.monotonic() - submitted, 1)
            run.submitted_at = time.time()
            isolation.add_job(job_id, name, progress)
            run.job_id = job_id
            progress(f"{name}: catalog v{catalog.version}, {len(run.rules)} rules, parallelism {parallelism}: "
                     f"submitted as job {job_id} in {run.submit_s}s")
            return job_id

        # side by side: planning a job in the SQL Gateway takes long on a busy machine, and an earlier job
        # runs meanwhile
        with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="backtest-submit") as pool:
            submissions = {run.rule_set.name: pool.submit(submit, run) for run in runs}
            try:
                marks = _follow(settings, runs, submissions, last_ms, total, progress, timeout, isolation.stop)
            except BaseException:
                isolation.release(wait=False, progress=progress)  # a job still being planned is cancelled too
                raise
        timings.submit = marks["submitted"] - phase
        timings.start = max(0.0, marks["running"] - marks["submitted"])
        timings.process = time.monotonic() - max(marks["running"], marks["submitted"])
        phase = time.monotonic()
        for run in runs:
            _collect(settings, admin, run)
        timings.collect = time.monotonic() - phase
        return replayed, runs, timings
    finally:
        isolation.release(progress=progress)


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    from include.patternalarm.events.timefmt import parse_event_time

    return parse_event_time(iso)
