"""The eight chaos experiments: what each breaks, how it is lifted, when the platform counts as recovered,
and what must hold besides "nothing lost, nothing duplicated"."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from include.patternalarm.chaos import faults
from include.patternalarm.chaos.measure import platform_health, restarts, sink_status
from include.patternalarm.topics import DOMAINS

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

Say = Callable[[str], None]


@dataclass
class Trial:
    """One experiment run as it happens (lives in the process that injects and watches the fault)."""

    settings: Settings
    experiment: str
    tag: str
    fault_s: float
    limit_s: float
    skip_recovery: bool
    say: Say
    fault_at: float | None = None  # epoch seconds
    fault_ended_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # programs kept down (brought back by cleanup at the latest)

    @property
    def fault_ms(self) -> float:
        return (self.fault_at or time.time()) * 1000


class Experiment:
    name: ClassVar[str]
    title: ClassVar[str]
    proves: ClassVar[str]
    limit_s: ClassVar[float] = 60.0  # recovery must come within this many seconds of the fault
    brokers: ClassVar[int] = 1  # brokers the stack needs
    bad_ratio: ClassVar[float] = 0.0  # the simulator's labelled bad events in the experiment's traffic
    holds: ClassVar[bool] = False  # the fault lasts fault_s (then it is lifted), rather than being one kill

    def preflight(self, settings: Settings) -> list[str]:
        """Why the experiment cannot run on this stack (empty: it can)."""
        return []

    def plan(self) -> str:
        return self.title

    def inject(self, trial: Trial) -> None:
        raise NotImplementedError

    def lift(self, trial: Trial) -> None:
        """End a held fault (after ``fault_s``); the default brings back what was held down."""
        for program in list(trial.held):
            faults.bring_back(trial.settings, program)
            trial.held.remove(program)
        trial.fault_ended_at = trial.fault_ended_at or time.time()

    def recovered(self, trial: Trial) -> bool:
        after = (trial.fault_ended_at or trial.fault_at or 0) * 1000
        health = platform_health(trial.settings, after)
        trial.notes["last_health"] = health.detail
        return health.ok

    def check(self, trial: Trial) -> list[str]:
        """Experiment-specific failures, once traffic drained."""
        return []

    def cleanup(self, trial: Trial) -> None:
        """Leave the stack as it was: bring back anything still held down."""
        for program in list(trial.held):
            try:
                faults.bring_back(trial.settings, program)
            except faults.FaultError as exc:
                trial.failures.append(f"could not bring {program} back: {exc}")
            trial.held.remove(program)


class _Kill(Experiment):
    """SIGKILL one supervised process; the supervisor restarts it (with ``skip_recovery`` it stays down)."""

    program: ClassVar[str]

    def plan(self) -> str:
        return f"SIGKILL {self.program}"

    def inject(self, trial: Trial) -> None:
        if trial.skip_recovery:
            trial.held.append(self.program)  # first: cleanup brings it back even if holding it fails
            injected = faults.kill_and_hold(trial.settings, self.program)
        else:
            injected = faults.kill(trial.settings, self.program)
        trial.fault_at = injected.at
        trial.notes["killed"] = {"program": self.program, "pid": injected.pid}
        if not trial.skip_recovery:
            back = faults.wait_restarted(trial.settings, injected, timeout=self.limit_s)
            trial.notes["process_back_s"] = round(back - injected.at, 1) if back else None


class TaskManagerKill(_Kill):
    name = "taskmanager_kill"
    program = "flink-taskmanager"
    title = "TaskManager SIGKILL"
    proves = ("Flink's restart strategy brings every job back from its latest checkpoint on the restarted "
              "TaskManager; the Kafka source rewinds to the checkpointed offsets and the deterministic alert ids "
              "make the replayed alerts idempotent: nothing lost, nothing duplicated.")


class JobManagerKill(_Kill):
    name = "jobmanager_kill"
    program = "flink-jobmanager"
    title = "JobManager SIGKILL"
    proves = ("With JobManager HA (ZooKeeper) the restarted JobManager becomes leader once the killed one's "
              "ZooKeeper session expires and recovers every job itself — same job id — from its latest completed "
              "checkpoint: nothing lost, nothing resubmitted. Without HA (PATTERNALARM_FLINK_HA=false) it knows no "
              "jobs; the restart watch triggers monitor_detection_jobs, which resubmits each job from its newest "
              "retained checkpoint on disk with the recorded parameters.")

    def inject(self, trial: Trial) -> None:
        trial.notes["jobs_before"] = _job_ids(trial.settings)
        super().inject(trial)

    def recovered(self, trial: Trial) -> bool:
        if not super().recovered(trial):
            return False
        trial.notes["restored"] = _restored_from(trial.settings)
        trial.notes["jobs_after"] = _job_ids(trial.settings)
        return True

    def check(self, trial: Trial) -> list[str]:
        restored = trial.notes.get("restored") or _restored_from(trial.settings)
        trial.notes["restored"] = restored
        fresh = [d for d, path in restored.items() if not path]
        failures = [f"{', '.join(fresh)}: resubmitted without restoring a checkpoint (state lost)"] if fresh else []
        if trial.settings.flink_ha:
            before, after = trial.notes.get("jobs_before") or {}, trial.notes.get("jobs_after") or {}
            replaced = [d for d, job in before.items() if job and after.get(d) and after[d] != job]
            if replaced:
                failures.append(f"{', '.join(replaced)}: a new job replaced the killed JobManager's (HA should "
                                "have recovered the same job)")
        return failures


def _per_job(settings: Settings, read: Callable[[str], str | None]) -> dict[str, str | None]:
    """Per domain, ``read(job_id)`` of its active job (None: no job, or Flink cannot say yet — a job still
    initializing answers 500 on its checkpoints)."""
    from include.patternalarm.flink.deploy import find_job
    from include.patternalarm.flink.rest import FlinkRestError

    out: dict[str, str | None] = {}
    for domain in DOMAINS:
        try:
            job = find_job(settings, domain)
            out[domain] = read(job.id) if job else None
        except FlinkRestError:
            out[domain] = None
    return out


def _job_ids(settings: Settings) -> dict[str, str | None]:
    """Per domain, the id of its active job."""
    return _per_job(settings, lambda job_id: job_id)


def _restored_from(settings: Settings) -> dict[str, str | None]:
    """Per domain, what its running job restored from (None: nothing)."""
    from include.patternalarm.flink.deploy import job_health

    return _per_job(settings, lambda job_id: job_health(settings, job_id).restored_from)


class BrokerKill(Experiment):
    name = "broker_kill"
    title = "one Kafka broker SIGKILL (3 brokers, RF 3, min ISR 2), down for the fault duration, then back"
    brokers = 3
    holds = True
    limit_s = 120.0
    program = "kafka-2"
    proves = ("With replication factor 3 and min ISR 2, producers (acks=all), the Flink jobs and the incident sink "
              "keep going on two brokers; the returning broker catches up and rejoins every ISR.")

    def preflight(self, settings: Settings) -> list[str]:
        if settings.kafka_brokers < 3:
            return ["needs the 3-broker stack: `bin/patternalarm stack up --brokers 3`"]
        return []

    def plan(self) -> str:
        return f"SIGKILL {self.program}, keep it down for the fault duration, start it again"

    def inject(self, trial: Trial) -> None:
        trial.held.append(self.program)
        injected = faults.kill_and_hold(trial.settings, self.program)
        trial.fault_at = injected.at
        trial.notes["killed"] = {"program": self.program, "pid": injected.pid}

    def recovered(self, trial: Trial) -> bool:
        if trial.held:
            return False
        isr = _min_isr(trial.settings)
        trial.notes["min_isr"] = isr
        return isr >= 3 and super().recovered(trial)


def _min_isr(settings: Settings) -> int:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    meta = admin.list_topics(timeout=10)
    sizes = [len(p.isrs) for name, t in meta.topics.items() if not name.startswith("__") for p in t.partitions.values()]
    return min(sizes) if sizes else 0


class PostgresRestart(Experiment):
    name = "postgres_restart"
    title = "PostgreSQL immediate restart (pg_ctl restart -m immediate: SIGQUIT to the postmaster)"
    proves = ("The incident sink waits with back-off and re-reads its uncommitted batch (commits in flight have an "
              "unknown outcome; the idempotent insert makes a replay harmless); the simulator's ground-truth writer "
              "reconnects and rewrites its batch in flight without doubles; the run finishes.")

    def plan(self) -> str:
        return "SIGQUIT to the postmaster (immediate shutdown), the supervisor starts it again"

    def inject(self, trial: Trial) -> None:
        if trial.skip_recovery:
            trial.held.append("postgres")
        injected = faults.postgres_immediate_restart(trial.settings, hold=trial.skip_recovery)
        trial.fault_at = injected.at
        trial.notes["killed"] = {"program": "postgres", "pid": injected.pid, "signal": "SIGQUIT"}


class SinkKill(_Kill):
    name = "sink_kill"
    program = "incident-sink"
    title = "incident sink SIGKILL mid-batch"
    proves = ("The sink commits Kafka offsets only after a batch is stored: killed mid-batch it re-reads the "
              "uncommitted records and the idempotent ingest skips what was stored — no lost or duplicated alert, "
              "no duplicated incident.")

    def inject(self, trial: Trial) -> None:
        # mid-batch: wait (bounded) until the sink has alerts waiting or is writing, then kill
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = sink_status(trial.settings) or {}
            if ((status.get("lag") or {}).get("total") or 0) > 0 or status.get("state") != "consuming":
                break
            time.sleep(0.05)
        trial.notes["lag_at_kill"] = ((sink_status(trial.settings) or {}).get("lag") or {}).get("total")
        super().inject(trial)


class SchedulerKill(Experiment):
    name = "scheduler_kill"
    title = "Airflow scheduler SIGKILL while a deploy_detection_jobs upgrade is in flight"
    domain = "iot"
    proves = ("A killed scheduler (and the tasks it ran) leaves no domain with two jobs or none: the upgrade holds "
              "the domain's deployment lock, a retried stop finds its savepoint, and the run ends healthy or rolled "
              "back; the monitor heals only what no deploy is changing.")

    def plan(self) -> str:
        return f"trigger deploy_detection_jobs ({self.domain}), SIGKILL airflow-scheduler while its upgrade runs"

    def inject(self, trial: Trial) -> None:
        from include.patternalarm.airflow_client import AirflowClient

        client = AirflowClient(trial.settings)
        try:
            client.wait_parsed("deploy_detection_jobs")
            run_id = client.trigger("deploy_detection_jobs", {"domains": [self.domain], "upgrade_mode": "savepoint"})
            trial.notes["dag_run"] = run_id
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:  # in flight: the old job is being stopped or the new one submitted
                tasks = client.task_states("deploy_detection_jobs", run_id)
                states = {t.split("[")[0]: s for t, s in tasks.items()}
                if states.get("upgrade.stop_current") == "running" or states.get("upgrade.deploy") in (
                        "running", "queued", "scheduled"):
                    break
                if client.run_state("deploy_detection_jobs", run_id) in ("success", "failed"):
                    raise faults.FaultError(f"the deploy run ended before it was in flight: {tasks}")
                time.sleep(0.5)
            else:
                raise faults.FaultError("the deploy run did not reach its upgrade within 300 s")
            trial.notes["tasks_at_kill"] = client.task_states("deploy_detection_jobs", run_id)
        finally:
            client.close()
        program = "airflow-scheduler"
        trial.notes["orphans"] = faults.children(trial.settings, program)
        if trial.skip_recovery:
            trial.held.append(program)
        injected = faults.kill_and_hold(trial.settings, program) if trial.skip_recovery else \
            faults.kill(trial.settings, program)
        trial.fault_at = injected.at
        trial.notes["killed"] = {"program": program, "pid": injected.pid}

    def recovered(self, trial: Trial) -> bool:
        from include.patternalarm.airflow_client import AirflowApiError, AirflowClient

        client = AirflowClient(trial.settings)
        try:
            state = client.run_state("deploy_detection_jobs", trial.notes["dag_run"])
            trial.notes["dag_run_state"] = state
            if state in ("success", "failed"):
                trial.notes["dag_run_tasks"] = client.task_states("deploy_detection_jobs", trial.notes["dag_run"])
        except AirflowApiError as exc:
            trial.notes["last_health"] = f"Airflow: {exc}"
            return False
        finally:
            client.close()
        return state in ("success", "failed") and super().recovered(trial)

    def cleanup(self, trial: Trial) -> None:
        super().cleanup(trial)
        # the killed scheduler's LocalExecutor workers live on as orphans; once idle they never exit (and ignore
        # SIGTERM): a supervisor that kills the whole control group (systemd, Kubernetes) reaps them; here we do
        trial.notes["orphans_reaped"] = faults.reap_idle(trial.notes.get("orphans") or [])

    def check(self, trial: Trial) -> list[str]:
        tasks = trial.notes.get("dag_run_tasks") or {}
        if trial.notes.get("dag_run_state") == "failed" and not any(
                t.startswith("upgrade.rollback") and s == "failed" for t, s in tasks.items()):
            return [f"the deploy run failed without a rollback: {tasks}"]
        return []


class GatewayDown(Experiment):
    name = "gateway_down"
    title = "SQL Gateway down before and during a deploy"
    holds = True
    limit_s = 150.0
    domain = "payments"
    proves = ("A deploy while the gateway is down fails before stopping anything (the job keeps running); a gateway "
              "that dies between the stop and the submission is waited for (the submission is retried, a job it "
              "already created is adopted), so a domain never ends with two jobs or none.")

    def plan(self) -> str:
        return (f"stop flink-sql-gateway, deploy {self.domain} (must change nothing); start it; deploy again and "
                "SIGKILL the gateway right after the old job's savepoint, bring it back after the fault duration")

    def inject(self, trial: Trial) -> None:
        from include.patternalarm.control import deployer
        from include.patternalarm.control.deployments import DeploymentStore
        from include.patternalarm.flink.deploy import DeployError, find_job

        settings, store = trial.settings, DeploymentStore.from_settings(trial.settings)
        holder = f"chaos/{trial.tag}"
        before = find_job(settings, self.domain)
        trial.held.append("flink-sql-gateway")
        trial.fault_at = faults.kill_and_hold(settings, "flink-sql-gateway").at
        try:
            deployer.deploy(settings, store, self.domain, requested_by=holder, lock_wait_s=30)
            trial.failures.append("a deploy while the SQL Gateway was down did not fail")
        except DeployError as exc:
            trial.notes["deploy_while_down"] = str(exc)[:300]
        after = find_job(settings, self.domain)
        if (before and before.id) != (after and after.id):
            trial.failures.append("the deploy while the gateway was down changed the running job")
        self.lift(trial)
        _wait_gateway(settings)

        # the gateway dies between the stop (savepoint) and the submission
        def progress(message: str) -> None:
            if "savepoint file:" in message and "mid_deploy_kill_at" not in trial.notes:
                trial.held.append("flink-sql-gateway")
                trial.notes["mid_deploy_kill_at"] = faults.kill_and_hold(settings, "flink-sql-gateway").at
                if not trial.skip_recovery:
                    threading.Timer(trial.fault_s, self.lift, args=(trial,)).start()

        trial.fault_ended_at = None
        try:
            outcome = deployer.deploy(settings, store, self.domain, requested_by=holder, lock_wait_s=30,
                                      progress=progress)
            trial.notes["deploy_during_outage"] = {"job_id": outcome.job_id, "replaced": outcome.replaced}
        except Exception as exc:  # noqa: BLE001 - the outcome is what the experiment reports
            trial.notes["deploy_during_outage"] = {"error": str(exc)[:300]}

    def recovered(self, trial: Trial) -> bool:
        return not trial.held and super().recovered(trial)


def _wait_gateway(settings: Settings, timeout: float = 60.0) -> None:
    from include.patternalarm.flink.deploy import DeployError, check_gateway

    deadline = time.monotonic() + timeout
    while True:
        try:
            check_gateway(settings)
            return
        except DeployError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class PoisonInput(Experiment):
    name = "poison_input"
    title = "poison input into the event topics and into alerts"
    bad_ratio = 0.02
    proves = ("Malformed, oversized, wrong-typed, far-future, duplicate and late events and hostile alerts are each "
              "dead-lettered with a reason (or routed late); no job fails or restarts, the sink keeps running, and no "
              "good alert is lost.")

    def plan(self) -> str:
        return "2 % labelled bad events in the traffic, plus hostile events and alerts sent directly"

    def inject(self, trial: Trial) -> None:
        from include.patternalarm.chaos.poison import alert_poison, event_poison, send

        trial.notes["before"] = restarts(trial.settings)
        trial.notes["sink_pid"] = faults.info(trial.settings, "incident-sink").get("pid")
        poison = event_poison(trial.tag) + alert_poison(trial.tag)
        trial.fault_at = time.time()
        send(trial.settings, poison)
        trial.notes["poison"] = [p.as_dict() for p in poison]
        trial.notes["poison_objects"] = poison

    def check(self, trial: Trial) -> list[str]:
        failures = []
        after = restarts(trial.settings)
        for domain, (job_id, count) in trial.notes.get("before", {}).items():
            now = after.get(domain)
            if now is None or now[0] != job_id:
                failures.append(f"{domain}: the job was replaced during poison input ({job_id} → {now})")
            elif now[1] != count:
                failures.append(f"{domain}: the job restarted {now[1] - count} time(s) under poison input")
        if faults.info(trial.settings, "incident-sink").get("pid") != trial.notes.get("sink_pid"):
            failures.append("the incident sink restarted under poison input")
        return failures


EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    TaskManagerKill(), JobManagerKill(), BrokerKill(), PostgresRestart(), SinkKill(), SchedulerKill(), GatewayDown(),
    PoisonInput())}
#: The integration suite's quick subset.
QUICK = ("taskmanager_kill", "sink_kill", "poison_input")

__all__ = ["EXPERIMENTS", "QUICK", "Experiment", "Trial"]
