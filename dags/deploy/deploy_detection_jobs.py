"""
### deploy_detection_jobs

Deploys or upgrades the Flink detection jobs, one per domain. Trigger it from the UI
(**Trigger DAG w/ config**) and pick:

| param | meaning |
|---|---|
| `domains` | which domain jobs to (re)deploy |
| `catalog_version` | rule catalog version (`include/rules/catalog-v<N>.yaml`) |
| `parallelism` | 1–4 (the event topics have 4 partitions) |
| `upgrade_mode` | `savepoint`: stop with a savepoint, restore state into the new job; `stateless`: start fresh |
| `healthy_timeout_s` | how long the new job may take to be RUNNING with a completed checkpoint |

For each domain: the rules are validated first, then the running job is stopped (savepoint), the new
one submitted from it, and watched until healthy. If it is not healthy in time, the previous
version is redeployed from the same savepoint and the run fails saying so. Every step is recorded
in `detection_deployments` (the state `monitor_detection_jobs` heals towards).
Bad params are refused by the form before a run exists.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task, task_group

from include.patternalarm.rules import catalog_versions
from include.patternalarm.topics import DOMAINS
from patternalarm_airflow.hooks.flink import FlinkHook
from patternalarm_airflow.hooks.incidents import IncidentStoreHook
from patternalarm_airflow.operators.flink import FlinkDeployJobOperator
from patternalarm_airflow.sensors.flink import FlinkJobHealthySensor

VERSIONS = catalog_versions()
DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=10)}


def _requested_by() -> str:
    ctx = get_current_context()
    return f"{ctx['dag'].dag_id}/{ctx['run_id']}"


@dag(
    dag_id="deploy_detection_jobs",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["deploy", "flink"],
    doc_md=__doc__,
    params={
        "domains": Param(list(DOMAINS), type="array", minItems=1, uniqueItems=True,
                         items={"type": "string", "enum": list(DOMAINS)},
                         description="Domain jobs to deploy"),
        "catalog_version": Param(max(VERSIONS), type="integer", enum=VERSIONS,
                                 description="Rule catalog version"),
        "parallelism": Param(1, type="integer", minimum=1, maximum=4, description="Job parallelism (1-4)"),
        "upgrade_mode": Param("savepoint", type="string", enum=["savepoint", "stateless"],
                              description="savepoint keeps the rules' state; stateless starts fresh"),
        "healthy_timeout_s": Param(300, type="integer", minimum=30, maximum=1800,
                                   description="Seconds the new job may take to become healthy"),
    },
)
def deploy_detection_jobs():
    @task(retries=0)
    def validate_rules(params: dict | None = None) -> list[str]:
        """Render every chosen domain's job from the catalog and compile each rule against the SQL Gateway."""
        from include.patternalarm.rules import load_catalog
        from include.patternalarm.rules.validate import validate_catalog

        settings = FlinkHook().settings
        catalog = load_catalog(params["catalog_version"])
        checks = validate_catalog(settings.sql_gateway, catalog, bootstrap=settings.bootstrap_servers,
                                  domains=params["domains"])
        for check in checks:
            print(f"{'ok' if check.ok else 'FAIL':>4} {check.domain:<9} {check.rule_id:<22} {check.seconds:.1f}s "
                  f"{check.error}")
        failed = [f"{c.domain}/{c.rule_id}: {c.error}" for c in checks if not c.ok]
        if failed:
            listing = "\n  ".join(failed)
            raise ValueError(f"catalog v{catalog.version} does not compile:\n  {listing}")
        return list(params["domains"])

    @task_group
    def upgrade(domain: str):
        @task(pool="flink_control")
        def stop_current(domain: str, params: dict | None = None) -> dict:
            """Stop the domain's running job (savepoint or cancel); what ran before, for a rollback."""
            flink, store = FlinkHook(), IncidentStoreHook()
            previous = store.desired_deployment(domain) or {}
            job = flink.find_job(domain)
            info = {"domain": domain, "previous_version": previous.get("catalog_version"),
                    "previous_parallelism": previous.get("parallelism") or 1, "previous_job": None, "savepoint": None}
            if job is None:
                return info
            info["previous_job"] = job.id
            if params["upgrade_mode"] == "savepoint":
                info["savepoint"] = flink.stop_with_savepoint(job.id)
            else:
                flink.cancel(job.id)
            store.record_deployment(domain=domain, catalog_version=previous.get("catalog_version") or "unknown",
                                    parallelism=int(info["previous_parallelism"]), action="stop", status="stopped",
                                    requested_by=_requested_by(), job_id=job.id, stop_savepoint=info["savepoint"])
            return info

        stopped = stop_current(domain)
        deployed = FlinkDeployJobOperator(
            task_id="deploy",
            pool="flink_control",
            retries=0,
            domain=domain,
            parallelism="{{ params.parallelism }}",
            catalog_version="{{ params.catalog_version }}",
            savepoint_path=stopped["savepoint"],
        )
        # retries repeat only an attempt Airflow failed (see the sensors package): not healthy fails at once
        healthy = FlinkJobHealthySensor(task_id="wait_healthy", job_id=deployed.output,
                                        wait_timeout_s="{{ params.healthy_timeout_s }}")

        @task
        def record_healthy(info: dict, job_id: str, health: dict, params: dict | None = None) -> dict:
            IncidentStoreHook().record_deployment(
                domain=info["domain"], catalog_version=params["catalog_version"], parallelism=params["parallelism"],
                action="upgrade" if info["previous_job"] else "deploy", status="healthy", requested_by=_requested_by(),
                job_id=job_id, restored_from=info["savepoint"], detail={"health": health})
            return {"domain": info["domain"], "job_id": job_id, "catalog_version": params["catalog_version"],
                    "parallelism": params["parallelism"]}

        @task(trigger_rule="one_failed", pool="flink_control", retries=0)
        def rollback(info: dict | None, params: dict | None = None) -> None:
            """The new job did not become healthy: put the previous version back and fail the run."""
            from airflow.exceptions import AirflowFailException

            if not info:
                raise AirflowFailException("stopping the running job failed (see stop_current); nothing was changed")
            flink, store = FlinkHook(), IncidentStoreHook()
            domain = info["domain"]
            failed = flink.find_job(domain)
            if failed is not None:
                flink.cancel(failed.id)
            store.record_deployment(domain=domain, catalog_version=params["catalog_version"],
                                    parallelism=params["parallelism"], action="upgrade", status="failed",
                                    requested_by=_requested_by(), job_id=failed.id if failed else None,
                                    restored_from=info["savepoint"])
            if info["previous_job"] is None:
                raise AirflowFailException(f"{domain}: the new job did not become healthy; nothing ran before it, "
                                           "so there is nothing to roll back to")
            version = info["previous_version"]
            job_id = flink.deploy(domain, parallelism=int(info["previous_parallelism"]),
                                  catalog_version=int(version) if version and str(version).isdigit() else None,
                                  savepoint_path=info["savepoint"])
            store.record_deployment(domain=domain, catalog_version=version or "default",
                                    parallelism=int(info["previous_parallelism"]), action="rollback",
                                    status="healthy", requested_by=_requested_by(), job_id=job_id,
                                    restored_from=info["savepoint"])
            raise AirflowFailException(f"{domain}: catalog v{params['catalog_version']} was not healthy in time; "
                                       f"rolled back to v{version} (job {job_id}) from {info['savepoint']}")

        done = record_healthy(stopped, deployed.output, healthy.output)
        [deployed, healthy] >> rollback(stopped)
        return done

    upgrade.expand(domain=validate_rules())


deploy_detection_jobs()
