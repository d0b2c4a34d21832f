"""Run the suites (``include/gx``) on PostgreSQL with Great Expectations 1.x and collect the results.

An *ephemeral* GX context per run: the datasource (with its password) only ever lives in memory;
what persists is the Data Docs site under ``<reports_dir>/quality/site`` and our own run pages
(``report.py``). Each suite is a ValidationDefinition over a query asset (the scoped slice of its
table, ``include/gx/assets.py``) and runs with the bounded ``SUMMARY`` result format, naming the
offending rows by the table's key.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.gx.parameters import Scope, Thresholds, Traffic

log = logging.getLogger(__name__)

DOCS_SITE = "patternalarm"


def new_run_id(now: datetime | None = None) -> str:
    """``20261126T101500Z-1a2b3c4d``: sorts by time, unique, safe as a path and a GX run name."""
    now = now or datetime.now(UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def sqlalchemy_url(conninfo: str) -> str:
    """A ``postgresql+psycopg://`` URL (psycopg 3) from a libpq connection string."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    params = conninfo_to_dict(conninfo)
    known = {k: params.pop(k, None) for k in ("host", "port", "dbname", "user", "password")}
    query = {k: str(v) for k, v in params.items() if v is not None and k != "application_name"}
    query["application_name"] = "patternalarm-quality"
    return URL.create(
        "postgresql+psycopg", username=known["user"], password=known["password"], host=known["host"],
        port=int(known["port"]) if known["port"] else None, database=known["dbname"], query=query,
    ).render_as_string(hide_password=False)


def _context(site_dir: Path | None) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if site_dir is not None:
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_suites(conninfo: str, scope: Scope, thresholds: Thresholds, traffic: Traffic, *,
               run_id: str | None = None, site_dir: Path | None = None,
               suites: tuple[str, ...] | None = None) -> Any:
    """Validate the scoped tables; returns a ``ValidationRun`` (``docs`` set when ``site_dir`` is).

    Never raises for failed expectations (they are results); raises when the database or GX
    cannot run at all, so the caller's retry applies.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from include.gx.assets import QUERIES
    from include.gx.suites import SUITES
    from include.patternalarm.quality.results import CheckResult, ValidationRun, check_result_from_gx

    started = datetime.now(UTC)
    run_id = run_id or new_run_id(started)
    names = suites or tuple(SUITES)
    unknown = set(names) - set(SUITES)
    if unknown:
        raise ValueError(f"unknown suite(s) {sorted(unknown)}: use {', '.join(SUITES)}")
    context = _context(site_dir)
    datasource = context.data_sources.add_postgres(name="incident_store", connection_string=sqlalchemy_url(conninfo))
    gx_run = RunIdentifier(run_name=run_id, run_time=started)
    tables = scope.tables
    results: list[CheckResult] = []
    identifiers = {}
    timings: dict[str, float] = {}
    for name in names:
        spec = SUITES[name]
        checks, skipped = spec.build(tables, thresholds, traffic)
        asset = datasource.add_query_asset(name=name, query=QUERIES[name](scope))
        batch = asset.add_batch_definition_whole_table("scope")
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=[c.expectation for c in checks],
                                                       meta={"scope": scope.as_dict()}))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        t0 = datetime.now(UTC)
        outcome = definition.run(run_id=gx_run, result_format={
            "result_format": "SUMMARY",
            "partial_unexpected_count": thresholds.sample_rows,
            "unexpected_index_column_names": [spec.key],
            "return_unexpected_index_query": False,
        })
        timings[name] = round((datetime.now(UTC) - t0).total_seconds(), 3)
        log.info("suite %s: %d expectations in %.1fs, success=%s", name, len(checks), timings[name],
                 outcome.success)
        results.extend(check_result_from_gx(r.to_json_dict(), suite=name) for r in outcome.results)
        results.extend(CheckResult(s.check_id, s.suite, "expect_query_to_return_no_rows", "skipped", s.description,
                                   detail={"reason": s.reason}) for s in skipped)
        identifiers[name] = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=name), run_id=gx_run,
            batch_identifier=outcome.batch_id)
    docs: dict[str, str] = {}
    if site_dir is not None:
        context.build_data_docs(site_names=[DOCS_SITE])
        for name, identifier in identifiers.items():
            for site in context.get_docs_sites_urls(resource_identifier=identifier, site_names=[DOCS_SITE]):
                if site.get("site_url"):
                    docs[name] = site["site_url"]
    scope_doc = {**scope.as_dict(), "thresholds": thresholds.as_dict(), "traffic": traffic.as_dict(),
                 "suites": list(names)}
    return ValidationRun(run_id=run_id, started_at=started, finished_at=datetime.now(UTC), scope=scope_doc,
                         results=results, docs=docs, suite_seconds=timings)
