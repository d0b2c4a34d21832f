"""``bin/patternalarm deploy status``: every domain job's live parameters, state and checkpoints.

Per domain: the running job (state, health, parallelism, restarts), the deployment record it runs
under (who, when, catalog version, rules directory, startup mode), its **effective parameters** —
job, domain and rule values with the ones that differ from the catalog defaults marked as
overrides — and its checkpoints: the latest completed one's duration and size, and p50/max over the
checkpoints Flink keeps statistics for (``/jobs/{id}/checkpoints``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from include.patternalarm.control.deployer import catalog_kwargs
from include.patternalarm.control.fields import live_field_warnings
from include.patternalarm.flink.deploy import domain_status, overrides_digest
from include.patternalarm.flink.rest import FlinkRest, FlinkRestError
from include.patternalarm.rules import Catalog, Param, RuleError, load_catalog
from include.patternalarm.topics import DOMAINS

if TYPE_CHECKING:
    from include.patternalarm.control.deployments import DeploymentStore
    from include.patternalarm.settings import Settings


def _table(params: Mapping[str, Param], values: Mapping[str, Any], overridden: Iterable[str]) -> dict[str, Any]:
    marked = set(overridden)
    return {name: {"value": values[name], "default": p.default, "override": name in marked}
            for name, p in sorted(params.items())}


def effective_parameters(catalog: Catalog, domain: str, overrides: Mapping[str, Mapping[str, Any]]
                         ) -> dict[str, dict[str, Any]]:
    """``{"job": {...}, "<domain>": {...}, "<rule>": {param: {value, default, override}}}`` of one domain's job."""
    out = {"job": _table(catalog.job_params, catalog.job_values, overrides.get("job", {}))}
    dom = catalog.domains[domain]
    if dom.params:
        out[domain] = _table(dom.params, dom.values, overrides.get(domain, {}))
    for rule in catalog.rules_for(domain):
        out[rule.id] = _table(rule.params, rule.values, overrides.get(rule.id, {}))
    return out


def checkpoint_stats(rest: FlinkRest, job_id: str) -> dict[str, Any]:
    """The latest completed checkpoint (duration, size, age) and p50/max over Flink's checkpoint statistics."""
    data = rest.checkpoints(job_id)
    latest = (data.get("latest") or {}).get("completed") or {}
    summary = data.get("summary") or {}
    size = summary.get("checkpointed_size") or summary.get("state_size") or {}
    duration = summary.get("end_to_end_duration") or {}
    counts = data.get("counts") or {}
    return {
        "completed": counts.get("completed"), "failed": counts.get("failed"), "in_progress": counts.get("in_progress"),
        "latest": {"id": latest.get("id"), "duration_ms": latest.get("end_to_end_duration"),
                   "size_bytes": latest.get("checkpointed_size", latest.get("state_size")),
                   "state_size_bytes": latest.get("state_size"), "at_ms": latest.get("latest_ack_timestamp"),
                   "path": latest.get("external_path")} if latest else None,
        "duration_ms": {"p50": duration.get("p50"), "max": duration.get("max")},
        "size_bytes": {"p50": size.get("p50"), "max": size.get("max")},
        "state_by_operator": _state_by_operator(rest, job_id, latest.get("id")) if latest else None,
    }


def _state_by_operator(rest: FlinkRest, job_id: str, checkpoint_id: int | None) -> dict[str, int] | None:
    """What each operator chain kept in checkpoint ``checkpoint_id`` (state size in bytes, largest first;
    chains without state left out): where a job's state is."""
    if checkpoint_id is None:
        return None
    try:
        tasks = rest.checkpoint_details(job_id, checkpoint_id).get("tasks") or {}
        names = {v["id"]: v["name"] for v in rest.job(job_id).get("vertices") or []}
    except FlinkRestError:  # the checkpoint's details may be gone from Flink's history already
        return None
    sizes = {names.get(vertex, vertex): int(stats.get("state_size") or 0) for vertex, stats in tasks.items()}
    return {name: size for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]) if size > 0}


def status_rows(settings: Settings, store: DeploymentStore, domains: Iterable[str] = DOMAINS) -> list[dict[str, Any]]:
    """One row per domain (``deploy status --json``)."""
    rows = domain_status(settings, domains)
    for row in rows:
        domain = row["domain"]
        record = store.desired(domain)
        latest = store.latest(domain)
        row["lock"] = store.holder(domain)
        row["deployment"] = record.as_dict() if record else None
        row["last_change"] = ({k: latest.as_dict()[k] for k in ("action", "status", "requested_by", "requested_at")}
                              if latest else None)
        overrides = record.overrides if record else {}
        version = row.get("catalog_version") or (record.version if record else None)
        try:
            catalog = load_catalog(version, overrides=overrides, **catalog_kwargs(record.rules_dir if record else None))
            row["parameters"] = effective_parameters(catalog, domain, overrides)
            # rules that cannot fire: a field they require is absent from the newest live events
            row["rules_without_fields"] = live_field_warnings(settings, domain, catalog) if row.get("job_id") else []
        except RuleError as exc:
            row["parameters"] = None
            row["parameters_error"] = str(exc)
        row["overrides"] = overrides
        if row.get("job_id"):  # the running job carries a digest of the overrides it was submitted with
            row["parameters_match_record"] = row.get("overrides_digest") == overrides_digest(overrides)
        if record and row.get("job_id") and record.job_id and record.job_id != row["job_id"]:
            row["record_note"] = (f"the running job {row['job_id']} is not the one the record names ({record.job_id}): "
                                  "resubmitted by the monitor, or started outside the record")
        if row.get("job_id"):
            try:
                with FlinkRest(settings.flink_rest) as rest:
                    row["checkpoints"] = checkpoint_stats(rest, row["job_id"])
            except FlinkRestError as exc:
                row["checkpoints"] = {"error": str(exc)}
    return rows
