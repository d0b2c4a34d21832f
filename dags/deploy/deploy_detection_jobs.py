"""
### deploy_detection_jobs

Deploys or upgrades the Flink detection jobs, one per domain. Trigger it from the UI
(**Trigger DAG w/ config**) and pick:

| param | meaning |
|---|---|
| `domains` | which domain jobs to (re)deploy |
| `catalog_version` | rule catalog version (`include/rules/catalog-v<N>.yaml`) |
| `parallelism` | 1–4 (the event topics have 4 partitions) |
| `param_overrides` | rule parameter overrides, `<rule>.<param>=<value>` (also `job.…`, `<domain>.…`) |
| `reset_params` | drop the overrides the previous deployment ran with (otherwise they are kept) |
| `start_from` | where a job without state reads partitions that have no committed offset (a first deploy) |
| `upgrade_mode` | `savepoint`: stop with a savepoint, restore state into the new job; `stateless`: start fresh |
| `healthy_timeout_s` | how long the new job may take to be RUNNING with a completed checkpoint |

For each domain: the rules are validated with the parameters the job will run with, then the
domain's **deployment lock** is taken (shared with `bin/patternalarm deploy` and the monitor's
healing, so they never act on a domain at once), the running job is stopped (savepoint), the new one
submitted from it (when the rule set changes — another catalog version, a rule added to or removed
from your rules directory — the state the new job's operators no longer claim is dropped, and the task
log says which rules changed), and watched until healthy. If it is not healthy in time, the previous version is
redeployed from the same savepoint, with its own overrides, and the run fails saying so. Every step
is recorded in `detection_deployments` (catalog version, overrides, parallelism, savepoints): the
state `monitor_detection_jobs` heals towards. A retried stop finds the savepoint it already took.
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
DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=10),
                "execution_timeout": pendulum.duration(minutes=40)}  # healthy_timeout_s ≤ 30 min
#: How long a run may hold a domain's lock beyond the healthy timeout before it expires by itself.
LOCK_MARGIN_S = 900


def _requested_by() -> str:
    ctx = get_current_context()
    return f"{ctx['dag'].dag_id}/{ctx['run_id']}"


@dag(
    dag_id="deploy_detection_jobs",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=pendulum.duration(hours=2),
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
        "param_overrides": Param([], type="array", uniqueItems=True,
                                 items={"type": "string", "pattern": r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*=.+$"},
                                 description="Parameter overrides <rule>.<param>=<value> (job.…, <domain>.… too); "
                                             "kept from the previous deployment unless reset_params"),
        "reset_params": Param(False, type="boolean",
                              description="Drop the parameter overrides the previous deployment ran with"),
        "start_from": Param("earliest", type="string", enum=["earliest", "latest"],
                            description="Where a job without state reads partitions with no committed offset"),
        "upgrade_mode": Param("savepoint", type="string", enum=["savepoint", "stateless"],
                              description="savepoint keeps the rules' state; stateless starts fresh"),
        "healthy_timeout_s": Param(300, type="integer", minimum=30, maximum=1800,
                                   description="Seconds the new job may take to become healthy"),
    },
)
def deploy_detection_jobs():
    @task(retries=0)
    def validate_rules(params: dict | None = None) -> list[dict]:
        """Resolve each domain's spec (overrides kept or reset) and compile its rules against the SQL Gateway."""
        from include.patternalarm.control.deployer import check_overrides_apply, resolve_spec, settings_rules_dir
        from include.patternalarm.control.fields import live_field_warnings
        from include.patternalarm.rules import load_catalog, parse_overrides
        from include.patternalarm.rules.validate import validate_catalog

        settings, store = FlinkHook().settings, IncidentStoreHook().deployments()
        requested = parse_overrides(list(params["param_overrides"]))
        check_overrides_apply(requested, list(params["domains"]), params["catalog_version"],
                              settings_rules_dir(settings))
        specs, failed = [], []
        for domain in params["domains"]:
            spec = resolve_spec(settings, store, domain, catalog_version=params["catalog_version"],
                                overrides=requested, reset_params=params["reset_params"],
                                parallelism=params["parallelism"], start_from=params["start_from"])
            if spec.kept:
                print(f"{domain}: keeping the previous deployment's overrides {spec.kept}")
            catalog = load_catalog(spec.catalog_version, overrides=spec.overrides, **spec.catalog_kwargs())
            for warning in live_field_warnings(settings, domain, catalog):
                print(f"WARNING {warning}")
            for check in validate_catalog(settings.sql_gateway, catalog, bootstrap=settings.bootstrap_servers,
                                          domains=[domain]):
                print(f"{'ok' if check.ok else 'FAIL':>4} {check.domain:<9} {check.rule_id:<22} "
                      f"{check.seconds:.1f}s {check.error}")
                if not check.ok:
                    failed.append(f"{check.domain}/{check.rule_id}: {check.error}")
            specs.append(spec.as_dict())
        if failed:
            listing = "\n  ".join(failed)
            raise ValueError(f"catalog v{params['catalog_version']} does not compile:\n  {listing}")
        return specs

    @task_group
    def upgrade(spec: dict):
        @task(pool="flink_control")
        def stop_current(spec: dict, params: dict | None = None) -> dict:
            """Take the domain's lock, record the upgrade, stop the running job (savepoint or cancel).
            A retry finds the savepoint this run already took."""
            from include.patternalarm.control.deployer import DeploySpec, stop_for_upgrade

            info = stop_for_upgrade(FlinkHook().settings, IncidentStoreHook().deployments(), spec["domain"],
                                    requested_by=_requested_by(), mode=params["upgrade_mode"],
                                    spec=DeploySpec(**spec), lock_ttl_s=params["healthy_timeout_s"] + LOCK_MARGIN_S)
            if info["unclaimed_state"]:
                print(f"{spec['domain']}: {info['unclaimed_state']}")
            # flat keys: the deploy operator's templated arguments read them one by one
            return {**info, "allow_unclaimed_state": bool(info["unclaimed_state"]),
                    "catalog_version": spec["catalog_version"], "parallelism": spec["parallelism"],
                    "overrides": spec["overrides"], "startup_mode": spec["startup_mode"]}

        stopped = stop_current(spec)
        deployed = FlinkDeployJobOperator(
            task_id="deploy",
            pool="flink_control",
            retries=0,
            domain=stopped["domain"],
            parallelism=stopped["parallelism"],
            catalog_version=stopped["catalog_version"],
            savepoint_path=stopped["savepoint"],
            overrides=stopped["overrides"],
            auto_offset_reset=stopped["startup_mode"],
            allow_unclaimed_state=stopped["allow_unclaimed_state"],
        )
        # retries repeat only an attempt Airflow failed (see the sensors package): not healthy fails at once
        healthy = FlinkJobHealthySensor(task_id="wait_healthy", job_id=deployed.output,
                                        wait_timeout_s="{{ params.healthy_timeout_s }}")

        @task
        def record_healthy(info: dict, job_id: str, health: dict) -> dict:
            from include.patternalarm.control.deployer import finish_upgrade

            finish_upgrade(IncidentStoreHook().deployments(), info, requested_by=_requested_by(), status="healthy",
                           job_id=job_id, detail={"health": health})
            return {"domain": info["domain"], "job_id": job_id, "catalog_version": info["catalog_version"],
                    "parallelism": info["parallelism"], "overrides": info["overrides"]}

        @task(trigger_rule="one_failed", pool="flink_control", retries=0)
        def rollback(info: dict | None, spec: dict) -> None:
            """The new job did not become healthy: put the previous version back and fail the run."""
            from airflow.sdk.exceptions import AirflowFailException

            from include.patternalarm.control.deployer import finish_upgrade
            from include.patternalarm.control.deployer import rollback as roll_back
            from include.patternalarm.flink.deploy import find_job

            settings, store = FlinkHook().settings, IncidentStoreHook().deployments()
            requested_by = _requested_by()
            if not info:
                store.release(spec["domain"], requested_by)
                raise AirflowFailException("stopping the running job failed (see stop_current); the deployment lock "
                                           "is released")
            domain = info["domain"]
            failed = find_job(settings, domain)
            if failed is not None and failed.id != info.get("previous_job"):
                FlinkHook().cancel(failed.id)
            try:
                job_id = roll_back(settings, store, info, requested_by=requested_by)
            finally:
                finish_upgrade(store, info, requested_by=requested_by, status="failed",
                               job_id=failed.id if failed else None, detail={"rolled_back": True})
            if job_id is None:
                raise AirflowFailException(f"{domain}: the new job did not become healthy; nothing ran before it, "
                                           "so there is nothing to roll back to")
            previous = info["previous"] or {}
            raise AirflowFailException(f"{domain}: catalog v{info['catalog_version']} was not healthy in time; "
                                       f"rolled back to v{previous.get('catalog_version')} (job {job_id}) from "
                                       f"{info['savepoint']}")

        done = record_healthy(stopped, deployed.output, healthy.output)
        [deployed, healthy] >> rollback(stopped, spec)
        return done

    upgrade.expand(spec=validate_rules())


deploy_detection_jobs()
