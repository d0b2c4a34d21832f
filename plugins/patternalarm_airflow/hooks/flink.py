"""Flink REST API + SQL Gateway of the detection cluster (connection ``flink_default``).

The connection's ``host`` is the REST URL (``http://127.0.0.1:8081``); its extra holds
``sql_gateway_url`` and ``kafka_bootstrap`` (Kafka as the Flink cluster reaches it). The work itself is
done by ``include.patternalarm.flink.deploy``, with the connection's endpoints in place of the local
settings, so the CLI and Airflow deploy the very same jobs.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from include.patternalarm.flink.deploy import JobHealth
    from include.patternalarm.flink.rest import FlinkRest, JobInfo
    from include.patternalarm.settings import Settings

REQUIRED_EXTRA = ("sql_gateway_url", "kafka_bootstrap")


class FlinkHook(BaseHook):
    """Deploy, stop, rescale and inspect the per-domain detection jobs."""

    conn_name_attr = "flink_conn_id"
    default_conn_name = "flink_default"
    conn_type = "http"
    hook_name = "Flink (REST + SQL Gateway)"

    def __init__(self, flink_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.flink_conn_id = flink_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "password", "port"],
            "relabeling": {"host": "Flink REST URL"},
            "placeholders": {
                "host": "http://127.0.0.1:8081",
                "extra": '{"sql_gateway_url": "http://127.0.0.1:8083", "kafka_bootstrap": "127.0.0.1:9092"}',
            },
        }

    def get_conn(self) -> Settings:
        """patternalarm settings pointing at this connection's Flink and Kafka."""
        from include.patternalarm.settings import get_settings

        conn = self.get_connection(self.flink_conn_id)
        extra = conn.extra_dejson
        missing = [key for key in REQUIRED_EXTRA if not extra.get(key)]
        if not conn.host:
            missing.insert(0, "host")
        if missing:
            raise ValueError(
                f"connection {self.flink_conn_id!r} needs host (the Flink REST URL) and extra keys "
                f"{', '.join(REQUIRED_EXTRA)}; missing: {', '.join(missing)}"
            )
        host = conn.host if "://" in conn.host else f"http://{conn.host}"
        if conn.port and host.count(":") < 2:
            host = f"{host}:{conn.port}"
        return get_settings().model_copy(update={
            "flink_rest_url": host, "sql_gateway_url": extra["sql_gateway_url"],
            "kafka_bootstrap": extra["kafka_bootstrap"],
        })

    @cached_property
    def settings(self) -> Settings:
        return self.get_conn()

    def rest(self) -> FlinkRest:
        from include.patternalarm.flink.rest import FlinkRest

        return FlinkRest(self.settings.flink_rest)

    # --- jobs -------------------------------------------------------------------------------------
    def find_job(self, domain: str) -> JobInfo | None:
        from include.patternalarm.flink.deploy import find_job

        return find_job(self.settings, domain)

    def deploy(self, domain: str, *, parallelism: int, catalog_version: int | None, savepoint_path: str | None,
               overrides: dict[str, dict[str, Any]] | None = None, auto_offset_reset: str = "earliest",
               allow_unclaimed_state: bool = False, wait_running: float = 180.0) -> str:
        from include.patternalarm.flink.deploy import deploy_domain

        return deploy_domain(self.settings, domain, parallelism=parallelism, catalog_version=catalog_version,
                             overrides=overrides, savepoint_path=savepoint_path, upgrade=False,
                             auto_offset_reset=auto_offset_reset, allow_unclaimed_state=allow_unclaimed_state,
                             wait_running=wait_running, progress=self.log.info)

    def stop_with_savepoint(self, job_id: str, timeout: float = 180.0) -> str:
        from include.patternalarm.flink.deploy import stop_job

        return stop_job(self.settings, job_id, timeout=timeout)

    def cancel(self, job_id: str) -> None:
        from include.patternalarm.flink.deploy import cancel_job

        cancel_job(self.settings, job_id)

    def health(self, job_id: str, max_checkpoint_age_s: float = 60.0) -> JobHealth:
        from include.patternalarm.flink.deploy import job_health

        return job_health(self.settings, job_id, max_checkpoint_age_s=max_checkpoint_age_s)

    def rescale(self, job_id: str, parallelism: int) -> None:
        with self.rest() as rest:
            rest.rescale(job_id, parallelism)

    def cluster_slots(self) -> dict[str, int]:
        with self.rest() as rest:
            overview = rest.call("GET", "/overview")
        return {"total": int(overview["slots-total"]), "free": int(overview["slots-available"]),
                "taskmanagers": int(overview["taskmanagers"])}

    def rates(self, job_id: str, samples: int = 3, interval_s: float = 1.0) -> dict[str, float]:
        """Records/s the job's Kafka source emits, and busy/back-pressured share of its busiest vertex."""
        with self.rest() as rest:
            vertices = rest.job(job_id).get("vertices", [])
            if not vertices:
                return {"processed_rate": 0.0, "busy_fraction": 0.0, "backpressure": 0.0}
            source = vertices[0]["id"]
            base = f"/jobs/{job_id}/vertices/{source}/subtasks/metrics"
            names = [m["id"] for m in rest.call("GET", base)]
            out_metric = next((n for n in names if n.startswith("Source__") and n.endswith(".numRecordsOutPerSecond")),
                              "numRecordsOutPerSecond")
            rate_samples = []
            for i in range(samples):
                value = rest.call("GET", f"{base}?get={out_metric}&agg=sum")
                rate_samples.append(float(value[0]["sum"]) if value else 0.0)
                if i < samples - 1:
                    time.sleep(interval_s)
            busy = backpressure = 0.0
            for vertex in vertices:
                metrics = rest.call("GET", f"/jobs/{job_id}/vertices/{vertex['id']}/subtasks/metrics"
                                           "?get=busyTimeMsPerSecond,backPressuredTimeMsPerSecond&agg=max")
                for m in metrics:
                    value = float(m.get("max", 0.0)) / 1000.0
                    if m["id"] == "busyTimeMsPerSecond":
                        busy = max(busy, value)
                    else:
                        backpressure = max(backpressure, value)
        return {"processed_rate": sum(rate_samples) / len(rate_samples), "busy_fraction": min(busy, 1.0),
                "backpressure": min(backpressure, 1.0)}
