"""The detection rule catalog: typed, versioned rules and the Flink SQL rendered from them."""

from include.patternalarm.rules.catalog import (
    Catalog,
    Domain,
    Param,
    Rule,
    RuleError,
    catalog_versions,
    load_catalog,
    parse_overrides,
)
from include.patternalarm.rules.render import JobSql, JobTopics, group_id, pipeline_name, render_job

__all__ = [
    "Catalog", "Domain", "JobSql", "JobTopics", "Param", "Rule", "RuleError", "catalog_versions", "group_id",
    "load_catalog", "parse_overrides", "pipeline_name", "render_job",
]
