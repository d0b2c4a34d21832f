"""`stack up | status | down`: the local stack under supervisord, in dependency order."""

from __future__ import annotations

import fcntl
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from include.patternalarm.settings import Settings, reload_settings
from include.patternalarm.stack import airflow, flink, kafka, postgres
from include.patternalarm.stack.secrets import ensure_secrets
from include.patternalarm.stack.supervisor import Program, Supervisor, log_file, pid_path, render_config
from include.patternalarm.stack.tools import StackError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Service:
    """A supervised program and how to tell that it works."""

    program: Program
    check: Callable[[Settings], str]


def services(settings: Settings) -> list[Service]:
    """Every service of the local stack, in start order."""
    result = [Service(postgres.program(settings), postgres.health)]
    for index, prog in enumerate(kafka.programs(settings)):
        result.append(Service(prog, lambda s, i=index: kafka.health(s, i)))
    if settings.flink_ha:
        result.append(Service(flink.zookeeper_program(settings), flink.zookeeper_health))
    fj, ft, fg = flink.programs(settings)
    result += [
        Service(fj, flink.jobmanager_health),
        Service(ft, flink.taskmanager_health),
        Service(fg, flink.sql_gateway_health),
    ]
    for prog in airflow.programs(settings):
        component = prog.name.removeprefix("airflow-")
        result.append(Service(prog, lambda s, c=component: airflow.component_health(s, c)))
    result += extra_services(settings)
    return result


def extra_services(settings: Settings) -> list[Service]:
    """Long-running project processes started after the platform (the incident sink, the restart watch)."""
    try:
        from include.patternalarm.control.restart_watch import watch_service
        from include.patternalarm.incidents.service import sink_service
    except ImportError:
        return []
    return [sink_service(settings), watch_service(settings)]


@dataclass
class ServiceStatus:
    name: str
    group: str
    state: str
    pid: int | None
    ports: list[int]
    healthy: bool
    detail: str
    log: str
    uptime_s: float | None = None
    rss_mb: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


# --- helpers ------------------------------------------------------------------------------------


@contextmanager
def _lock(settings: Settings) -> Iterator[None]:
    path = settings.data_dir / "run" / "stack.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StackError("another `stack up` or `stack down` is running; wait for it to finish") from exc
        yield


def _port_owner(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.Error, PermissionError):
        pass
    return "another process"


def check_ports_free(settings: Settings, programs: list[Program]) -> None:
    taken = []
    for prog in programs:
        for port in prog.ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((settings.host, port))
                except OSError:
                    taken.append(f"port {port} ({prog.name}) is in use by {_port_owner(port)}")
    if taken:
        raise StackError(
            "cannot start the stack:\n  " + "\n  ".join(taken)
            + "\nstop those processes or choose other ports (see README, Configuration: PATTERNALARM_*_PORT)"
        )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


def wait_healthy(sup: Supervisor, service: Service, settings: Settings, timeout: float) -> str:
    """Wait until the program runs and its health check passes; fail fast when it dies."""
    name = service.program.name
    deadline = time.monotonic() + timeout
    last_error = "not checked yet"
    while time.monotonic() < deadline:
        state = sup.info(name)["statename"]
        if state in ("FATAL", "EXITED", "STOPPED", "UNKNOWN"):
            log = log_file(settings, name)
            raise StackError(f"{name} died while starting (state {state}); log {log}:\n{_tail(log)}")
        if state == "RUNNING":
            try:
                return service.check(settings)
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        time.sleep(1.0)
    log = log_file(settings, name)
    raise StackError(f"{name} not healthy after {timeout:.0f}s ({last_error}); log {log}:\n{_tail(log)}")


def _record_options(settings: Settings, brokers: int | None) -> Settings:
    if brokers is None:
        return settings
    if brokers not in (1, 3):
        raise StackError(f"--brokers must be 1 or 3, not {brokers}")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.stack_env_file.write_text(f"PATTERNALARM_KAFKA_BROKERS={brokers}\n")
    return reload_settings()


# --- commands -----------------------------------------------------------------------------------


def up(settings: Settings, brokers: int | None = None, progress: Progress = print) -> list[ServiceStatus]:
    """Start every service that is not running; return when all are healthy."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings):
        settings = ensure_secrets(_record_options(settings, brokers))
        sup = Supervisor(settings)
        was_running = sup.is_running()
        running: set[str] = set()
        if was_running:
            running = {i["name"] for i in sup.all_info() if i["statename"] in ("RUNNING", "STARTING")}
        all_services = services(settings)
        check_ports_free(settings, [s.program for s in all_services if s.program.name not in running])
        started: list[str] = []
        try:
            _start_all(settings, sup, all_services, running, started, progress)
        except BaseException:
            progress("start failed: stopping what this command started")
            if was_running:
                sup.stop_many(list(reversed(started)))
            else:
                _shutdown(settings, sup)
            raise
        return status(settings, all_services)


def _start_all(settings: Settings, sup: Supervisor, all_services: list[Service], running: set[str],
               started: list[str], progress: Progress) -> None:
    timeout = settings.stack_start_timeout_s
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    if postgres.init_cluster(settings):
        progress("postgres: initialised a new cluster")
    kafka.prepare(settings)
    flink.prepare(settings)
    sup.start_daemon(render_config(settings, [s.program for s in all_services]))
    by_group: dict[str, list[Service]] = {}
    for service in all_services:
        by_group.setdefault(service.program.group, []).append(service)

    def start_group(group: str) -> None:
        for service in by_group.get(group, []):
            if service.program.name not in running:
                sup.start(service.program.name)
                started.append(service.program.name)
        for service in by_group.get(group, []):
            detail = wait_healthy(sup, service, settings, timeout)
            progress(f"{service.program.name}: {detail}")

    start_group("postgres")
    postgres.bootstrap(settings)
    applied = postgres.migrate(settings)
    progress(f"postgres: roles ready, {len(applied)} migration(s) applied")
    start_group("kafka")
    created = kafka.ensure_topics(settings)
    progress(f"kafka: {len(created)} topic(s) created")
    start_group("zookeeper")
    start_group("flink")
    if not running.intersection(s.program.name for s in by_group.get("airflow", [])):
        progress("airflow: migrating the metadata database")
        airflow.prepare(settings)
    else:
        airflow.write_passwords(settings)
    counts = airflow.load_settings_file(settings, only_if_changed=True)
    if counts is not None:
        progress("airflow: loaded airflow_settings.yaml (" + ", ".join(f"{v} {k}" for k, v in counts.items()) + ")")
    start_group("airflow")
    for group in by_group:
        if group not in ("postgres", "kafka", "zookeeper", "flink", "airflow"):
            start_group(group)
    postgres.record_stack_event(settings, "up", {"started": started, "kafka_brokers": settings.kafka_brokers})


def status(settings: Settings, all_services: list[Service] | None = None) -> list[ServiceStatus]:
    sup = Supervisor(settings)
    infos = {i["name"]: i for i in sup.all_info()} if sup.is_running() else {}
    result = []
    for service in all_services or services(settings):
        prog = service.program
        info = infos.get(prog.name, {})
        state = info.get("statename", "DOWN")
        pid = info.get("pid") or None
        healthy, detail, rss, uptime = False, "not running", None, None
        if state == "RUNNING":
            try:
                detail, healthy = service.check(settings), True
            except Exception as exc:  # noqa: BLE001 - report, don't raise
                detail = f"unhealthy: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}"
            if pid:
                rss = _tree_rss_mb(pid)
                uptime = max(0.0, info["now"] - info["start"])
        result.append(ServiceStatus(prog.name, prog.group, state, pid, list(prog.ports), healthy, detail,
                                    str(log_file(settings, prog.name)), uptime, rss))
    return result


def _tree_rss_mb(pid: int) -> float | None:
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return round(sum(p.memory_info().rss for p in procs) / 2**20, 1)
    except psutil.Error:
        return None


def _shutdown(settings: Settings, sup: Supervisor) -> list[int]:
    """Stop all programs (reverse start order), supervisord, and anything they left behind."""
    pid_file = pid_path(settings)
    daemon_pid = int(pid_file.read_text()) if pid_file.exists() else None
    tree: list[psutil.Process] = []
    if daemon_pid and psutil.pid_exists(daemon_pid):
        tree = psutil.Process(daemon_pid).children(recursive=True)
    if sup.is_running():
        groups: dict[str, list[str]] = {}
        for service in services(settings):
            groups.setdefault(service.program.group, []).append(service.program.name)
        # groups in reverse start order; the programs of a group together (a KRaft quorum must go down
        # as one, or the last node waits for controllers that are gone)
        for names in reversed(list(groups.values())):
            sup.stop_many(names)
        sup.shutdown()
    leftovers = [p for p in tree if p.is_running()]
    for proc in leftovers:
        proc.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=15)
    for proc in alive:
        proc.kill()
    return [p.pid for p in leftovers]


def down(settings: Settings, purge: bool = False, progress: Progress = print) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _lock(settings):
        sup = Supervisor(settings)
        if sup.is_running():
            progress("stopping services")
            try:
                postgres.record_stack_event(settings, "down", {"purge": purge})
            except Exception as exc:  # noqa: BLE001 - the database may already be down
                progress(f"could not record the stop in stack_events: {exc}")
            leftovers = _shutdown(settings, sup)
            if leftovers:
                progress(f"terminated {len(leftovers)} leftover process(es): {leftovers}")
        else:
            progress("stack is not running")
    if purge:
        shutil.rmtree(settings.data_dir)
        progress(f"removed {settings.data_dir}")
