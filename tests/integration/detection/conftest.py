"""Detection tests deploy their own copy of a domain job on the shared Flink cluster, reading and
writing their own throwaway topics, and play scenario instances into it.

Event times are synthetic (a base in the recent past plus each event's offset), so a 90-second
scenario is produced in a moment; event-time processing does not care about the wall clock. A flush
of filler events on every partition, later in event time, then moves the watermark past everything.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.control.lag import consumer_lag
from include.patternalarm.flink.deploy import cancel_job, deploy_domain
from include.patternalarm.kafka_send import send_waiting
from include.patternalarm.rules import JobTopics, load_catalog
from include.patternalarm.scenarios import ScenarioContext, ScenarioInstance, registry
from include.patternalarm.settings import Settings
from tests.support import consume, unique

PARTITIONS = 4


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Played:
    """A scenario instance as produced: its events' ids and event times (epoch ms)."""

    instance: ScenarioInstance
    event_ids: list[str]
    times_ms: list[int]

    @property
    def last_ms(self) -> int:
        return max(self.times_ms)


@dataclass
class DetectionJob:
    settings: Settings
    domain: str
    topics: JobTopics
    job_id: str
    name: str
    group: str
    producer: Producer = field(repr=False)
    admin: AdminClient = field(repr=False)

    def send(self, key: str | None, value: Any, *, partition: int | None = None) -> None:
        raw = value if isinstance(value, (bytes, str)) else json.dumps(value)
        send_waiting(self.producer, self.topics.source, raw.encode() if isinstance(raw, str) else raw,
                     key.encode() if key else None, partition)

    def flush(self) -> None:
        assert self.producer.flush(30) == 0, "producer did not deliver everything"

    def play(self, instances: list[ScenarioInstance], base_ms: int, *, epoch_every: int = 3,
             background: list[tuple[int, str, dict[str, Any], int]] = ()) -> list[Played]:
        """Produce the instances' events in event-time order (every ``epoch_every``-th instance with epoch-ms
        times), merged with ``background`` rows (event time ms, key, payload, partition)."""
        played: list[Played] = []
        rows: list[tuple[int, str, dict[str, Any], int | None]] = list(background)
        for n, inst in enumerate(instances):
            ids, times = [], []
            for i, ev in enumerate(inst.events):
                event_id = f"{inst.entity}-{i}"
                ms = base_ms + round(ev.offset_s * 1000)
                payload = {**ev.payload, "event_id": event_id,
                           "event_time": ms if n % epoch_every == 1 else iso(ms)}
                rows.append((ms, ev.key, payload, None))
                ids.append(event_id)
                times.append(ms)
            played.append(Played(inst, ids, times))
        for _, key, payload, partition in sorted(rows, key=lambda r: r[0]):
            self.send(key, payload, partition=partition)
        self.flush()
        return played

    def advance(self, to_ms: int, *, steps: int = 6) -> None:
        """Filler events on every partition up to ``to_ms``: the watermark passes everything before."""
        for step in range(1, steps + 1):
            ms = to_ms - (steps - step) * 5000
            for partition in range(PARTITIONS):
                self.send(f"filler-{partition}", filler(self.domain, partition, ms), partition=partition)
        self.flush()

    def wait_consumed(self, *, stalled_after: float = 120.0, timeout: float = 900.0) -> None:
        """Wait until the job has read everything on its source topic (its group's offsets, committed at
        each checkpoint, reach the end). Fails when the lag stops falling for ``stalled_after`` seconds —
        a slow machine only makes this take longer, a stuck job fails it."""
        deadline = time.monotonic() + timeout
        best, best_at = None, time.monotonic()
        while True:
            lag = consumer_lag(self.admin, self.group, [self.topics.source]).total
            if lag == 0:
                return
            now = time.monotonic()
            if best is None or lag < best:
                best, best_at = lag, now
            assert now - best_at < stalled_after, \
                f"the job stopped reading: {lag} records left for {stalled_after:.0f}s"
            assert now < deadline, f"the job did not read its backlog in {timeout:.0f}s ({lag} records left)"
            time.sleep(2)

    def remove(self) -> None:
        """Cancel the job (when started) and delete its throwaway topics."""
        try:
            if self.job_id:
                cancel_job(self.settings, self.job_id)
        finally:
            for future in self.admin.delete_topics([self.topics.source, self.topics.alerts, self.topics.dlq,
                                                    self.topics.late, self.topics.metrics]).values():
                try:
                    future.result(timeout=30)
                except Exception:  # noqa: BLE001,S110 - best-effort cleanup of throwaway topics
                    pass

    def alerts(self, *, until: Any, timeout: float) -> list[dict[str, Any]]:
        messages = consume(self.settings.bootstrap_servers, self.topics.alerts, until=until, timeout=timeout)
        return [json.loads(m.value()) for m in messages]

    def read(self, topic: str, *, until: Any, timeout: float) -> list[dict[str, Any]]:
        return [json.loads(m.value()) for m in consume(self.settings.bootstrap_servers, topic, until=until,
                                                        timeout=timeout)]


def filler(domain: str, partition: int, ms: int) -> dict[str, Any]:
    """An event no rule looks at (or cannot fire on), to move the watermark."""
    event_id = f"filler-{partition}-{ms}-{random.randint(0, 10**9)}"
    common = {"event_id": event_id, "event_time": iso(ms), "domain": domain}
    if domain == "payments":
        return {**common, "card_id": f"filler-{partition}", "account_id": f"filler-{partition}",
                "event_type": "capture", "amount": 1.0, "channel": "ecommerce"}
    if domain == "gaming":
        return {**common, "player_id": f"filler-{partition}", "match_id": "filler", "action": "hit"}
    return {**common, "device_id": f"filler-{partition}", "event_type": "reading", "sensor_type": "temperature",
            "value": round(random.uniform(15, 25), 3)}


def scenario_instances(domain: str, *, seed: int = 7, overrides: dict[str, dict[str, Any]] | None = None,
                       rules: list[str] | None = None) -> list[ScenarioInstance]:
    """Every registered instance of the domain's rules, each on its own fresh entity (like the simulator)."""
    catalog = load_catalog(overrides=overrides)
    factories = registry()
    out: list[ScenarioInstance] = []
    for rule in catalog.rules_for(domain):
        if rules is not None and rule.id not in rules:
            continue
        params = {**catalog.domains[domain].values, **rule.values}

        def make(position: int, rule_id: str = rule.id, params: dict[str, Any] = params) -> ScenarioInstance:
            ctx = ScenarioContext(rng=random.Random(f"{seed}:{rule_id}:{position}"),
                                  entity=unique(f"t-{rule_id}"), params=params)
            return factories[rule_id](ctx)[position]

        first = factories[rule.id](ScenarioContext(rng=random.Random(f"{seed}:{rule.id}:0"),
                                                    entity="probe", params=params))
        out.extend(make(position) for position in range(len(first)))
    return out


def make_topics(admin: AdminClient, domain: str) -> JobTopics:
    names = {k: unique(f"test.detect.{domain}.{k}") for k in ("source", "alerts", "dlq", "late", "metrics")}
    futures = admin.create_topics([NewTopic(n, PARTITIONS if k == "source" else 1, 1) for k, n in names.items()])
    for future in futures.values():
        future.result(timeout=30)
    return JobTopics(**names)


def start_job(settings: Settings, domain: str, topics: JobTopics, *, savepoint: str | None = None,
              overrides: dict[str, dict[str, Any]] | None = None, name: str | None = None,
              group: str | None = None) -> tuple[str, str, str]:
    name = name or unique(f"patternalarm-test-{domain}")
    group = group or unique(f"test-detect-{domain}")
    job_id = deploy_domain(settings, domain, topics=topics, name=name, consumer_group=group,
                           startup_mode="earliest-offset", auto_offset_reset="earliest", savepoint_path=savepoint,
                           overrides=overrides, upgrade=False, wait_running=120)
    return job_id, name, group


@pytest.fixture(scope="module")
def detection_job(stack_settings: Settings, request: pytest.FixtureRequest) -> Iterator[DetectionJob]:
    """The module's domain job (module attribute ``DOMAIN``) on its own topics; cancelled afterwards."""
    domain = request.module.DOMAIN
    overrides = getattr(request.module, "OVERRIDES", None)
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    topics = make_topics(admin, domain)
    job_id, name, group = start_job(stack_settings, domain, topics, overrides=overrides)
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers, "linger.ms": 5})
    job = DetectionJob(stack_settings, domain, topics, job_id, name, group, producer, admin)
    try:
        yield job
    finally:
        job.remove()


SENTINELS = {"payments": "card_testing", "gaming": "speed_hack", "iot": "out_of_range"}


@dataclass
class Outcome:
    played: list[Played]
    alerts: list[dict[str, Any]]
    problems: dict[str, list[str]]


def play_and_settle(job: DetectionJob, instances: list[ScenarioInstance], *, base_ms: int | None = None,
                    timeout: float = 150.0) -> Outcome:
    """Play ``instances`` and settle them (``settle``)."""
    return settle(job, job.play(instances, base_ms or recent_base_ms()), timeout=timeout)


def settle(job: DetectionJob, played: list[Played], *, timeout: float = 150.0) -> Outcome:
    """Move the watermark past the played instances; wait for the expected alerts; then play a
    sentinel instance later in event time and wait for its alert, so that every alert the instances
    caused (wanted or not) has been written when the outcome is judged."""
    end = max(p.last_ms for p in played)
    job.advance(end + 120_000)
    expected = {p.instance.entity for p in played if p.instance.should_alert}

    def entities(msgs: list[Any]) -> set[str]:
        return {json.loads(m.value())["entity"] for m in msgs}

    job.alerts(until=lambda msgs: expected <= entities(msgs), timeout=timeout)  # judged below, with the rest
    sentinel = scenario_instances(job.domain, rules=[SENTINELS[job.domain]])[0]
    assert sentinel.should_alert
    (sentinel_played,) = job.play([sentinel], end + 130_000)
    job.advance(sentinel_played.last_ms + 120_000)
    alerts = job.alerts(until=lambda msgs: sentinel.entity in entities(msgs), timeout=60)
    assert any(a["entity"] == sentinel.entity for a in alerts), \
        f"the sentinel {sentinel.rule_id} alert did not arrive within 60s"
    return Outcome(played, alerts, check_exactly_once(played, alerts))


@pytest.fixture(scope="module")
def outcome(detection_job: DetectionJob) -> Outcome:
    """Every scenario instance of the module's domain (fires and near misses) played and settled."""
    return play_and_settle(detection_job, scenario_instances(detection_job.domain))


def domain_rules(domain: str) -> list[str]:
    return [r.id for r in load_catalog().rules_for(domain)]


def assert_fires_exactly_once_and_not_on_near_misses(outcome: Outcome, rule_id: str) -> None:
    fires = [p for p in outcome.played if p.instance.rule_id == rule_id and p.instance.should_alert]
    near = [p for p in outcome.played if p.instance.rule_id == rule_id and not p.instance.should_alert]
    assert fires and near, f"{rule_id}: the factory must give a fires instance and near misses"
    assert outcome.problems.get(rule_id, []) == []


def recent_base_ms(minutes_ago: float = 20.0) -> int:
    """A base event time in the recent past (event times must not be ahead of the Kafka timestamp)."""
    return int((time.time() - minutes_ago * 60) * 1000)


def check_exactly_once(played: list[Played], alerts: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per rule, the problems: a fires instance without exactly one alert, or a near miss with any.

    missing_heartbeat: the silence after a device's final event is end-of-scenario (docs/rules.md),
    so alerts whose last_event_time is the instance's last event are not counted.
    """
    problems: dict[str, list[str]] = {}
    by_entity: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        by_entity.setdefault(alert["entity"], []).append(alert)
    for p in played:
        inst = p.instance
        # an episodic rule re-emits its alert id as the episode grows (seq 2, 3…): one alert, several updates
        mine = [a for a in by_entity.get(inst.entity, []) if a["rule_id"] == inst.rule_id and a.get("seq", 1) == 1]
        if inst.rule_id == "missing_heartbeat":
            mine = [a for a in mine if a["last_event_time"] != iso(p.last_ms)]
        side = {rule for rule, entity in inst.side_alerts if entity == inst.entity}
        others = sorted({a["rule_id"] for a in by_entity.get(inst.entity, [])
                         if a["rule_id"] != inst.rule_id and a["rule_id"] not in side})
        issues = problems.setdefault(inst.rule_id, [])
        if others:
            issues.append(f"{inst.variant}: fired other rules {others}")
        if inst.should_alert:
            ids = {a["alert_id"] for a in mine}
            updates = [a for a in by_entity.get(inst.entity, []) if a["rule_id"] == inst.rule_id and a["alert_id"]
                       not in ids and a.get("seq", 1) > 1]
            if len(mine) != 1 or updates:
                issues.append(f"{inst.variant}: {len(mine)} alerts (want exactly 1), {len(updates)} stray updates")
            elif inst.completing_index is not None and \
                    mine[0]["last_event_time"] != iso(p.times_ms[inst.completing_index]):
                issues.append(f"{inst.variant}: last_event_time {mine[0]['last_event_time']} is not the completing "
                              f"event's {iso(p.times_ms[inst.completing_index])}")
            elif len(ids) == 1 and not all(e in p.event_ids for e in mine[0]["evidence"]["event_ids"]):
                issues.append(f"{inst.variant}: evidence names events outside the instance")
        elif mine:
            issues.append(f"{inst.variant} (near miss): {len(mine)} alert(s)")
    return {rule: issues for rule, issues in problems.items() if issues}


def send_sorted(job: DetectionJob, rows: list[tuple[int, str, dict[str, Any]]]) -> int:
    """Send (event time ms, key, event) rows in event-time order (partitions advance together, so no
    row is behind another partition's watermark); returns the last event time."""
    rows.sort(key=lambda r: r[0])
    for ms, key, event in rows:
        job.send(key, {**event, "event_time": iso(ms)})
    job.flush()
    return rows[-1][0]


def finish(job: DetectionJob, last_ms: int, *, timeout: float = 600.0) -> list[dict[str, Any]]:
    """Move the watermark past ``last_ms``, wait until every operator of the job is past it (or the job
    stops making progress), and return every alert it wrote — the latest update of each alert id."""
    from include.patternalarm.backtest.engine import read_topic
    from include.patternalarm.flink.rest import FlinkRest

    job.advance(last_ms + 120_000)
    deadline = time.monotonic() + timeout
    with FlinkRest(job.settings.flink_rest) as rest:
        while True:
            mark = rest.lowest_watermark(job.job_id)
            if mark is not None and mark > last_ms:
                break
            assert rest.state(job.job_id) == "RUNNING", rest.root_exception(job.job_id)
            assert time.monotonic() < deadline, f"the job's watermark did not pass the data within {timeout:.0f}s"
            time.sleep(2)
    latest: dict[str, dict[str, Any]] = {}
    for msg in read_topic(job.settings, job.admin, job.topics.alerts):
        alert = json.loads(msg.value())
        if alert["alert_id"] not in latest or alert.get("seq", 1) > latest[alert["alert_id"]].get("seq", 1):
            latest[alert["alert_id"]] = alert
    return list(latest.values())
