"""The deployment record and its lock on the real stack: the CLI's deploy path (``control.deployer``) and the
monitor's healing (``control.monitor``) share them, so overrides survive healing and later deploys, a CLI
upgrade never races the monitor, a retried stop keeps its savepoint, a gateway that is down changes nothing,
a first deploy reads the events sent before it, and retained checkpoints nothing needs are deleted."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.control import deployer, monitor
from include.patternalarm.control.checkpoints import clean
from include.patternalarm.control.deployments import DeploymentStore, LockHeld
from include.patternalarm.control.jobstatus import status_rows
from include.patternalarm.flink.deploy import DeployError, cancel_job, deploy_domain, find_job, job_health, stop_job
from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.rules import JobTopics, pipeline_name
from include.patternalarm.settings import Settings
from include.patternalarm.stack.flink import checkpoints_dir, savepoints_dir
from include.patternalarm.topics import DOMAINS
from tests.integration.control.conftest import healthy_job
from tests.support import consume, unique, wait_until

CLI = "cli:test"


@pytest.fixture(scope="module")
def store(stack_settings: Settings) -> DeploymentStore:
    return DeploymentStore.from_settings(stack_settings)


@pytest.fixture(scope="module")
def running(stack_settings: Settings, store: DeploymentStore) -> None:
    """Every domain's job running under the record (deployed through the CLI's path when missing)."""
    for domain in DOMAINS:
        if find_job(stack_settings, domain) is None or store.desired(domain) is None:
            deployer.deploy(stack_settings, store, domain, requested_by=CLI, lock_wait_s=120)


def active_jobs(settings: Settings, domain: str) -> list[str]:
    with FlinkRest(settings.flink_rest) as rest:
        return [j.id for j in rest.find_active(pipeline_name(domain))]


@pytest.mark.usefixtures("running", "monitor_paused")
@pytest.mark.parametrize(("domain", "before", "after", "said"), [
    # v5 keeps the adaptive detectors' state in another form (other operator uids)
    ("iot", 4, 5, ("learn afresh", "packed")),
    # v9 runs impossible_apm on a keyed function instead of two over-windows (v7 -> v8, currency_farming's gain
    # spike, and v6 -> v7, velocity and impossible_travel, moved the same way and were checked here before)
    ("gaming", 8, 9, ("impossible_apm v3", "dropped")),
])
def test_an_upgrade_to_another_state_form_restores_every_other_operator(
        stack_settings: Settings, store: DeploymentStore, domain: str, before: int, after: int,
        said: tuple[str, ...]) -> None:
    """An upgrade whose plan keeps some rules' state in another form drops that state, says so, and restores
    the rest of the job from the savepoint."""
    deployer.deploy(stack_settings, store, domain, requested_by=CLI, catalog_version=before, lock_wait_s=120)
    healthy_job(stack_settings, domain)
    lines: list[str] = []
    upgraded = deployer.deploy(stack_settings, store, domain, requested_by=CLI, catalog_version=after,
                               lock_wait_s=120, progress=lines.append)
    assert upgraded.savepoint is not None and upgraded.spec.catalog_version == after
    assert any(all(word in line for word in said) for line in lines), lines
    health = healthy_job(stack_settings, domain)
    savepoint_name = upgraded.savepoint.rstrip("/").rsplit("/", 1)[-1]
    assert health.restored_from is not None and savepoint_name in health.restored_from
    assert store.desired(domain).version == after


@pytest.mark.usefixtures("running", "monitor_paused")
def test_overrides_survive_a_later_deploy_and_healing_and_status_shows_them(stack_settings: Settings,
                                                                            store: DeploymentStore) -> None:
    domain = "iot"
    first = deployer.deploy(stack_settings, store, domain, requested_by=CLI, reset_params=True,
                            overrides={"iot": {"temperature_max": "151.5"}})
    assert first.spec.overrides == {"iot": {"temperature_max": 151.5}}
    # a later deploy that names no parameter keeps them (before: they were silently dropped)
    later = deployer.deploy(stack_settings, store, domain, requested_by=CLI)
    assert later.spec.overrides == first.spec.overrides and later.spec.kept == first.spec.overrides
    assert store.desired(domain).overrides == {"iot": {"temperature_max": 151.5}}

    # the job dies; the monitor resubmits it with the recorded overrides (before: the catalog defaults)
    victim = healthy_job(stack_settings, domain)
    wait_until(lambda: job_health(stack_settings, victim.job_id).completed_checkpoints >= 1, timeout=120,
               what="a checkpoint to heal from")
    cancel_job(stack_settings, victim.job_id)
    healed = monitor.heal(stack_settings, store, monitor.snapshot(stack_settings, domain), requested_by="test/heal")
    assert healed and healed["job_id"] and healed["overrides"] == {"iot": {"temperature_max": 151.5}}
    assert healed["restored_from"] and victim.job_id in healed["restored_from"]
    resubmitted = store.latest(domain)
    assert (resubmitted.action, resubmitted.overrides) == ("resubmit", {"iot": {"temperature_max": 151.5}})

    rows = {r["domain"]: r for r in status_rows(stack_settings, store)}
    row = rows[domain]
    assert row["job_id"] == healed["job_id"] and row["parameters_match_record"] is True
    assert row["parameters"]["iot"]["temperature_max"] == {"value": 151.5, "default": 150.0, "override": True}
    assert row["parameters"]["iot"]["temperature_min"]["override"] is False
    assert row["checkpoints"]["completed"] is not None

    reset = deployer.deploy(stack_settings, store, domain, requested_by=CLI, reset_params=True)
    assert reset.spec.overrides == {} and store.desired(domain).overrides == {}
    assert active_jobs(stack_settings, domain) == [reset.job_id]


@pytest.mark.usefixtures("running", "monitor_paused")
def test_a_cli_upgrade_and_the_monitor_never_run_two_jobs(stack_settings: Settings, store: DeploymentStore) -> None:
    """The reported race: the monitor healed a job the CLI had just stopped for an upgrade (two jobs on one
    stream). Here the monitor runs at exactly that moment — between the CLI's stop and its submission."""
    domain = "gaming"
    before = healthy_job(stack_settings, domain)
    seen: list[dict | None] = []

    def progress(message: str) -> None:
        if "savepoint file:" in message and not seen:  # the old job is stopped, the new one not yet submitted
            assert find_job(stack_settings, domain) is None
            snap = monitor.snapshot(stack_settings, domain)
            seen.append(monitor.heal(stack_settings, store, snap, requested_by="test/monitor"))

    outcome = deployer.deploy(stack_settings, store, domain, requested_by=CLI, progress=progress)
    assert seen and seen[0] is not None and "skipped" in seen[0], seen
    assert CLI in seen[0]["skipped"]
    wait_until(lambda: active_jobs(stack_settings, domain) == [outcome.job_id], timeout=30,
               what="exactly the upgraded job running")
    assert outcome.replaced == before.job_id and outcome.savepoint

    # and the other way round: while somebody holds the lock, a CLI deploy waits, then says who holds it
    assert store.try_acquire(domain, "deploy_detection_jobs/manual__test", "upgrade", 60) is None
    try:
        started = time.monotonic()
        with pytest.raises(LockHeld, match="deploy_detection_jobs/manual__test"):
            deployer.deploy(stack_settings, store, domain, requested_by=CLI, lock_wait_s=2)
        assert time.monotonic() - started >= 2
    finally:
        store.release(domain, "deploy_detection_jobs/manual__test")
    assert active_jobs(stack_settings, domain) == [outcome.job_id]


@pytest.mark.usefixtures("running", "monitor_paused")
def test_a_retried_stop_finds_the_savepoint_it_took(stack_settings: Settings, store: DeploymentStore) -> None:
    domain, holder = "payments", unique("deploy_detection_jobs/test")
    before = healthy_job(stack_settings, domain)
    spec = deployer.resolve_spec(stack_settings, store, domain)
    first = deployer.stop_for_upgrade(stack_settings, store, domain, requested_by=holder, mode="savepoint", spec=spec)
    assert first["previous_job"] == before.job_id and first["savepoint"]
    # the task fails after the stop (say its result never reached Airflow) and is retried: the job is gone
    retry = deployer.stop_for_upgrade(stack_settings, store, domain, requested_by=holder, mode="savepoint", spec=spec)
    assert (retry["previous_job"], retry["savepoint"], retry["record_id"]) == (
        first["previous_job"], first["savepoint"], first["record_id"])
    job_id = deploy_domain(stack_settings, domain, parallelism=spec.parallelism, catalog_version=spec.catalog_version,
                           overrides=spec.overrides, savepoint_path=retry["savepoint"], upgrade=False)
    deployer.finish_upgrade(store, retry, requested_by=holder, status="healthy", job_id=job_id)
    assert store.holder(domain) is None
    assert job_health(stack_settings, job_id).restored_from == first["savepoint"]
    record = store.latest(domain)
    assert (record.status, record.stop_savepoint, record.job_id) == ("healthy", first["savepoint"], job_id)


@pytest.mark.usefixtures("running")
def test_a_deploy_while_the_sql_gateway_is_down_changes_nothing(stack_settings: Settings,
                                                               store: DeploymentStore) -> None:
    domain = "payments"
    before = healthy_job(stack_settings, domain)
    unreachable = stack_settings.model_copy(update={"sql_gateway_url": "http://127.0.0.1:9"})
    with pytest.raises(DeployError, match="does not answer, nothing was changed"):
        deployer.deploy(unreachable, store, domain, requested_by=CLI, lock_wait_s=30)
    assert active_jobs(stack_settings, domain) == [before.job_id], "the running job must be untouched"
    assert store.latest(domain).status == "failed" and store.holder(domain) is None


def test_a_first_deploy_processes_the_events_sent_before_it(stack_settings: Settings) -> None:
    """Before, a first deploy started at ``latest``: everything sent before the job ran was skipped."""
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    topics = JobTopics(**{k: unique(f"test.first.{k}") for k in ("source", "alerts", "dlq", "late", "metrics")})
    names = [getattr(topics, k) for k in ("source", "alerts", "dlq", "late", "metrics")]
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
        future.result(timeout=30)
    job_id = None
    try:
        producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers})
        for i in range(20):  # malformed: the job dead-letters each one, whatever its rules are
            producer.produce(topics.source, key=f"k{i}".encode(), value=f"not json {i}".encode())
        assert producer.flush(30) == 0
        job_id = deploy_domain(stack_settings, "payments", topics=topics, name=unique("patternalarm-test-first"),
                               consumer_group=unique("test-first"), upgrade=False, wait_running=150)
        dead = consume(stack_settings.bootstrap_servers, topics.dlq, until=lambda m: len(m) >= 20, timeout=120)
        assert len(dead) == 20
    finally:
        if job_id:
            cancel_job(stack_settings, job_id)
        for future in admin.delete_topics(names).values():
            future.result(timeout=30)


@pytest.mark.usefixtures("running")
def test_the_snapshot_fills_in_the_backpressure_ratio(stack_settings: Settings) -> None:
    snap = monitor.snapshot(stack_settings, "payments")
    assert snap["state"] == "RUNNING"
    assert isinstance(snap["backpressure_ratio"], float) and 0.0 <= snap["backpressure_ratio"] <= 1.0
    assert monitor.as_snapshot(snap).backpressure_ratio == snap["backpressure_ratio"]


@pytest.mark.usefixtures("running")
def test_retained_checkpoints_nothing_needs_are_deleted(stack_settings: Settings, store: DeploymentStore) -> None:
    old = time.time() - 2 * 3600

    def fake(path: Path) -> Path:
        (path / "chk-7").mkdir(parents=True)
        (path / "chk-7" / "_metadata").write_bytes(b"x" * 1000)
        for item in (path / "chk-7" / "_metadata", path / "chk-7", path):
            os.utime(item, (old, old))
        return path

    orphan = fake(checkpoints_dir(stack_settings) / os.urandom(16).hex())
    stale_savepoint = fake(savepoints_dir(stack_settings) / f"savepoint-{os.urandom(3).hex()}-{os.urandom(6).hex()}")
    newest = store.latest_job("payments")
    assert newest is not None
    kept_for_healing = checkpoints_dir(stack_settings) / newest.job_id
    running = {r["domain"]: r["job_id"] for r in status_rows(stack_settings, store)}
    dry = clean(stack_settings, store, DOMAINS, dry_run=True)
    assert {orphan.as_posix(), stale_savepoint.as_posix()} <= {d["path"] for d in dry["deleted"]}
    assert orphan.exists()
    done = clean(stack_settings, store, DOMAINS)
    assert not orphan.exists() and not stale_savepoint.exists() and not done["errors"]
    for job_id in running.values():  # the running jobs' checkpoints are Flink's to manage
        assert (checkpoints_dir(stack_settings) / job_id).exists()
    if kept_for_healing.exists():
        assert str(kept_for_healing) in done["kept"]


@pytest.mark.usefixtures("running")
def test_two_parties_never_hold_one_domain_lock(store: DeploymentStore) -> None:
    domain = unique("lock-test")

    def take(holder: str) -> bool:
        return store.try_acquire(domain, holder, "test", 30) is None

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(take, [f"h{i}" for i in range(8)]))
    assert results.count(True) == 1
    winner = f"h{results.index(True)}"
    assert store.holder(domain)["holder"] == winner
    assert not store.release(domain, "h-not-the-holder") and store.release(domain, winner)
    assert take("next")
    store.release(domain, "next")


@pytest.mark.usefixtures("running")
def test_the_parameters_a_job_ran_with_over_a_range(stack_settings: Settings, store: DeploymentStore) -> None:
    """What reconcile_detection re-detects with: the deployments live over a time range, oldest first."""
    from datetime import UTC, datetime, timedelta

    from include.patternalarm.batch.runs import deployed_parameters, dominant

    domain = unique("range-test")  # a domain name of its own: the records only, no job
    t0 = datetime.now(UTC)
    for overrides in ({"velocity": {"max_auths": 9}}, {}):
        store.record(domain, action="deploy", status="healthy", requested_by=CLI, catalog_version=2, parallelism=1,
                     overrides=overrides, job_id=unique("job"))
        time.sleep(1.0)
    history = deployed_parameters(store, [domain], t0 - timedelta(seconds=1), datetime.now(UTC))[domain]
    assert [s["overrides"] for s in history] == [{"velocity": {"max_auths": 9}}, {}]
    assert history[0]["to"] == history[1]["from"]
    assert dominant(history)["catalog_version"] == 2
    later = deployed_parameters(store, [domain], datetime.now(UTC), datetime.now(UTC) + timedelta(minutes=1))[domain]
    assert [s["overrides"] for s in later] == [{}], "the deployment live at the range's start counts"


def test_a_job_stopped_while_it_still_starts_is_stopped_with_a_savepoint(stack_settings: Settings) -> None:
    """A stop right after a (re)submission — a heal followed at once by an upgrade, seen in CI — used to fail
    ("Stop with savepoint operation could not be completed": not every task ran yet); it waits for the tasks."""
    name = unique("patternalarm-iot-early-stop")
    job_id = deploy_domain(stack_settings, "iot", name=name, consumer_group=name, wait_running=0,
                           upgrade=False)
    try:
        savepoint = stop_job(stack_settings, job_id)
    except DeployError:
        cancel_job(stack_settings, job_id)
        raise
    assert Path(savepoint.removeprefix("file:")).is_dir()
    with FlinkRest(stack_settings.flink_rest) as rest:
        assert rest.wait_for_state(job_id, ("FINISHED",), timeout=60) == "FINISHED"
