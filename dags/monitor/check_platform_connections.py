"""
### check_platform_connections

Checks that every connection the control plane relies on answers: the incident store
(`postgres_incidents`), Kafka (`kafka_default`) and Flink's REST API (`flink_default`).
Run it from the UI after pointing the connections at other clusters; each task says what
it reached. Unscheduled.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=10),
                "execution_timeout": pendulum.duration(minutes=5)}


@dag(
    dag_id="check_platform_connections",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["monitor", "platform"],
    doc_md=__doc__,
)
def check_platform_connections():
    @task
    def incident_store() -> str:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        hook = PostgresHook(postgres_conn_id="postgres_incidents")
        user, version = hook.get_first("select current_user, current_setting('server_version')")
        return f"PostgreSQL {version} as {user}"

    @task
    def kafka() -> str:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        metadata = KafkaAdminClientHook(kafka_config_id="kafka_default").get_conn.list_topics(timeout=10)
        return f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)"

    @task
    def flink() -> str:
        import requests
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection("flink_default")
        overview = requests.get(f"{conn.host.rstrip('/')}/overview", timeout=10).json()
        return f"Flink {overview['flink-version']}, {overview['taskmanagers']} TaskManager(s)"

    incident_store()
    kafka()
    flink()


check_platform_connections()
