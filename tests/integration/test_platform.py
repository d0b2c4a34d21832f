"""The local stack's services are real: Kafka, Flink (through the SQL Gateway), PostgreSQL, Airflow."""

from __future__ import annotations

import json
import subprocess
import time

import psycopg
import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.flink import SqlGateway
from include.patternalarm.flink.gateway import quote
from include.patternalarm.settings import DB_ROLES, Settings
from include.patternalarm.stack import airflow as airflow_stack
from include.patternalarm.topics import ALERTS, DLQ, EVENTS
from tests.support import consume, unique, wait_until

REPO_BIN = "bin/patternalarm"


@pytest.fixture
def topics(stack_settings: Settings):
    """Create throwaway topics for a test and delete them afterwards."""
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    created: list[str] = []

    def make(count: int = 1) -> list[str]:
        names = [unique("test.platform") for _ in range(count)]
        for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
            future.result(timeout=30)
        created.extend(names)
        return names

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)


def test_stack_status_json_reports_every_service_healthy(stack_settings: Settings) -> None:
    out = subprocess.run([REPO_BIN, "stack", "status", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    names = {s["name"] for s in report["services"]}
    assert {"postgres", "kafka-1", "flink-jobmanager", "flink-taskmanager", "flink-sql-gateway",
            "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"} <= names
    assert report["healthy"] is True
    assert all(s["pid"] for s in report["services"])
    assert ("zookeeper" in names) is stack_settings.flink_ha


def test_jobmanager_and_taskmanager_run_the_java_command_flinks_scripts_made(stack_settings: Settings) -> None:
    """The supervised JobManager and TaskManager are the JVMs themselves, started with the command line captured
    from Flink's start scripts at `stack up` (no script, no helper JVM on a restart's path)."""
    from include.patternalarm.stack import flink

    report = json.loads(subprocess.run([REPO_BIN, "stack", "status", "--json"], capture_output=True, text=True,
                                       timeout=120, check=True).stdout)
    pids = {s["name"]: s["pid"] for s in report["services"]}
    for program, entrypoint in (("flink-jobmanager", "StandaloneSessionClusterEntrypoint"),
                                ("flink-taskmanager", "TaskManagerRunner")):
        captured = flink.read_launch(flink.launch_file(stack_settings, program))
        assert captured is not None, program
        environment, command = captured
        with open(f"/proc/{pids[program]}/cmdline", "rb") as running:
            assert running.read().split(b"\0")[:-1] == command, program
        assert command[0].endswith(b"/java") and any(a.endswith(entrypoint.encode()) for a in command)
        assert environment[b"FLINK_CONF_DIR"] == str(flink.conf_dir(stack_settings)).encode()
    # the TaskManager's collector settings (the capped young generation, the fixed marking threshold) and its
    # GC log, from which bench reads the heap each collection left
    tm_args = flink.read_launch(flink.launch_file(stack_settings, "flink-taskmanager"))[1]  # type: ignore[index]
    for flag in (*stack_settings.flink_taskmanager_jvm_opts.split(),
                 f"-Xlog:gc:file={flink.taskmanager_gc_log(stack_settings)}:time,uptime:filecount=3,filesize=20m"):
        assert flag.encode() in tm_args, flag


def test_platform_topics_exist(stack_settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    metadata = admin.list_topics(timeout=10)
    for topic in [*EVENTS.values(), DLQ, ALERTS]:
        assert topic in metadata.topics, topic
    assert len(metadata.topics[EVENTS["payments"]].partitions) >= 4


def test_kafka_roundtrip_with_confluent_kafka(stack_settings: Settings, topics) -> None:
    (topic,) = topics()
    producer = Producer({"bootstrap.servers": stack_settings.bootstrap_servers, "acks": "all"})
    for i in range(10):
        producer.produce(topic, key=f"k{i}".encode(), value=json.dumps({"n": i}).encode())
    assert producer.flush(30) == 0
    messages = consume(stack_settings.bootstrap_servers, topic, until=lambda m: len(m) >= 10, timeout=60)
    assert sorted(json.loads(m.value())["n"] for m in messages) == list(range(10))


def test_kafka_roundtrip_with_kcat(stack_settings: Settings, topics) -> None:
    (topic,) = topics()
    broker = stack_settings.bootstrap_servers
    produced = subprocess.run(["kcat", "-b", broker, "-t", topic, "-P", "-K", ":"], input="a:one\nb:two\n",
                              capture_output=True, text=True, timeout=60)
    assert produced.returncode == 0, produced.stderr
    consumed = subprocess.run(["kcat", "-b", broker, "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%k=%s\n"],
                              capture_output=True, text=True, timeout=60)
    assert consumed.returncode == 0, consumed.stderr
    assert sorted(consumed.stdout.split()) == ["a=one", "b=two"]


def test_flink_sql_job_reads_and_writes_kafka_through_the_gateway(stack_settings: Settings, topics) -> None:
    source, sink = topics(2)
    broker = stack_settings.bootstrap_servers

    def table(name: str, topic: str, extra: str = "") -> str:
        return (f"CREATE TEMPORARY TABLE {name} (v STRING) WITH ('connector' = 'kafka', 'topic' = {quote(topic)}, "
                f"'properties.bootstrap.servers' = {quote(broker)}, 'format' = 'raw'{extra})")

    producer = Producer({"bootstrap.servers": broker})
    for word in ("alpha", "beta", "gamma"):
        producer.produce(source, value=word.encode())
    producer.flush(30)
    with SqlGateway(stack_settings.sql_gateway) as gateway:
        gateway.execute(table("src", source, ", 'scan.startup.mode' = 'earliest-offset', "
                                             "'properties.group.id' = 'platform-test'"))
        gateway.execute(table("dst", sink))
        job_id = gateway.execute("INSERT INTO dst SELECT UPPER(v) FROM src").job_id
    assert job_id
    try:
        messages = consume(broker, sink, until=lambda m: len(m) >= 3, timeout=120)
        assert sorted(m.value().decode() for m in messages) == ["ALPHA", "BETA", "GAMMA"]
        state = requests.get(f"{stack_settings.flink_rest}/jobs/{job_id}", timeout=10).json()["state"]
        assert state == "RUNNING"
    finally:
        requests.patch(f"{stack_settings.flink_rest}/jobs/{job_id}?mode=cancel", timeout=10)
    wait_until(lambda: requests.get(f"{stack_settings.flink_rest}/jobs/{job_id}", timeout=10).json()["state"]
               == "CANCELED", timeout=60, what="job cancelled")


def test_flink_gateway_reports_sql_errors_clearly(stack_settings: Settings) -> None:
    from include.patternalarm.flink import GatewayError

    with SqlGateway(stack_settings.sql_gateway) as gateway, pytest.raises(GatewayError) as excinfo:
        gateway.execute("SELECT * FROM no_such_table")
    assert "no_such_table" in str(excinfo.value).lower()


def _connect(settings: Settings, purpose: str) -> psycopg.Connection:
    return psycopg.connect(settings.db_conninfo(purpose), connect_timeout=5)


def test_postgres_roles_are_real_and_limited(stack_settings: Settings) -> None:
    with _connect(stack_settings, "reporting") as conn:
        assert conn.execute("select current_user").fetchone()[0] == DB_ROLES["reporting"]
        assert conn.execute("select count(*) >= 0 from stack_events").fetchone()[0] is True
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into stack_events (action, os_user) values ('up', 'intruder')")
    with _connect(stack_settings, "reporting") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("create table reporting_should_not_create (x int)")
    with _connect(stack_settings, "owner") as conn:
        before = conn.execute("select count(*) from stack_events where os_user = 'platform-test'").fetchone()[0]
        conn.execute("insert into stack_events (action, os_user) values ('up', 'platform-test')")
        conn.commit()
        after = conn.execute("select count(*) from stack_events where os_user = 'platform-test'").fetchone()[0]
        assert after == before + 1
    # the airflow database is not open to the project's roles
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(stack_settings.db_conninfo("reporting", dbname="airflow"), connect_timeout=5)


def test_psql_command_runs_as_reporting_role(stack_settings: Settings) -> None:
    out = subprocess.run([REPO_BIN, "psql", "-tA", "-c", "select current_user"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == DB_ROLES["reporting"]


def test_airflow_rest_api_and_dag_folder(stack_settings: Settings) -> None:
    api = stack_settings.airflow_api
    assert requests.get(f"{api}/api/v2/dags", timeout=10).status_code == 401, "the API must require a login"
    headers = {"Authorization": f"Bearer {airflow_stack.api_token(stack_settings)}"}

    def dag_ids() -> set[str]:
        response = requests.get(f"{api}/api/v2/dags", headers=headers, params={"limit": 100}, timeout=10)
        response.raise_for_status()
        return {d["dag_id"] for d in response.json()["dags"]}

    wait_until(lambda: "check_platform_connections" in dag_ids(), timeout=120, what="DAGs parsed")
    errors = requests.get(f"{api}/api/v2/importErrors", headers=headers, timeout=10).json()
    assert errors["total_entries"] == 0, errors
    connections = requests.get(f"{api}/api/v2/connections", headers=headers, params={"limit": 100}, timeout=10).json()
    conn_ids = {c["connection_id"] for c in connections["connections"]}
    assert {"flink_default", "kafka_default", "postgres_incidents", "spark_default"} <= conn_ids
    pools = requests.get(f"{api}/api/v2/pools", headers=headers, timeout=10).json()
    assert {"flink_control", "spark"} <= {p["name"] for p in pools["pools"]}


def test_platform_connections_dag_runs_through_the_scheduler(stack_settings: Settings) -> None:
    api = stack_settings.airflow_api
    headers = {"Authorization": f"Bearer {airflow_stack.api_token(stack_settings)}"}
    dag_id = "check_platform_connections"
    wait_until(lambda: requests.get(f"{api}/api/v2/dags/{dag_id}", headers=headers, timeout=10).ok,
               timeout=120, what=f"{dag_id} parsed")
    requests.patch(f"{api}/api/v2/dags/{dag_id}", headers=headers, json={"is_paused": False}, timeout=10)
    run = requests.post(f"{api}/api/v2/dags/{dag_id}/dagRuns", headers=headers,
                        json={"logical_date": None, "conf": {}}, timeout=10)
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]

    def finished() -> str | None:
        url = f"{api}/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        state = requests.get(url, headers=headers, timeout=10).json()["state"]
        return state if state in ("success", "failed") else None

    started = time.monotonic()
    assert wait_until(finished, timeout=300, interval=2, what=f"{dag_id} run") == "success", (
        f"run failed after {time.monotonic() - started:.0f}s; see the task logs in the Airflow UI")
    tis = requests.get(f"{api}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", headers=headers,
                       timeout=10).json()["task_instances"]
    assert {t["task_id"] for t in tis if t["state"] == "success"} == {"incident_store", "kafka", "flink"}
