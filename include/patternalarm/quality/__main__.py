"""Validate the incident tables from a shell (what the DAG's validate task does), print the report path.

    .venv/bin/python -m include.patternalarm.quality                       # the last 2 hours of public
    .venv/bin/python -m include.patternalarm.quality --full-scan --no-store
    .venv/bin/python -m include.patternalarm.quality --schema dq_sandbox_1a2b3c4d5e --rule card_testing

Connects as the control role (settings), reads the traffic signal from Kafka, writes the HTML report
under ``settings.reports_dir``/quality and (unless ``--no-store``) the results to dq_runs/dq_results.
Exit status: 0 all passed, 1 an expectation failed, 2 the validation could not run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from include.gx.parameters import ParameterError, Scope, Thresholds, Traffic
    from include.patternalarm.quality.report import site_dir, write_report
    from include.patternalarm.quality.results import store_run
    from include.patternalarm.quality.runner import run_suites
    from include.patternalarm.quality.traffic import traffic_from_kafka
    from include.patternalarm.settings import get_settings

    defaults = Thresholds()
    parser = argparse.ArgumentParser(prog="python -m include.patternalarm.quality",
                                     description="Validate the incident tables with the Great Expectations suites.")
    parser.add_argument("--schema", default="public")
    parser.add_argument("--lookback-hours", type=float, default=2.0, help="validate the rows of the last N hours")
    parser.add_argument("--full-scan", action="store_true", help="validate every row")
    parser.add_argument("--rule", action="append", default=[], help="only this rule's alerts/incidents (repeatable)")
    parser.add_argument("--entity-like", help="only alerts/incidents whose entity matches this LIKE pattern")
    for name in defaults.__dataclass_fields__:
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(getattr(defaults, name)),
                            default=getattr(defaults, name))
    parser.add_argument("--traffic-window-min", type=float, default=5.0)
    parser.add_argument("--no-traffic", action="store_true", help="do not read Kafka (freshness is skipped)")
    parser.add_argument("--reports-dir", type=Path, help="default: settings.reports_dir")
    parser.add_argument("--no-store", action="store_true", help="do not write dq_runs/dq_results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    settings = get_settings()
    now = datetime.now(UTC)
    try:
        thresholds = Thresholds(**{name: getattr(args, name) for name in defaults.__dataclass_fields__})
        since = None if args.full_scan else now - timedelta(hours=args.lookback_hours)
        scope = Scope(schema=args.schema, since=since, until=now, rule_ids=tuple(args.rule),
                      entity_like=args.entity_like)
    except ParameterError as exc:
        parser.error(str(exc))
    window = timedelta(minutes=args.traffic_window_min)
    if args.no_traffic:
        traffic = Traffic(now, None, window, source="not read (--no-traffic)")
    else:
        traffic = traffic_from_kafka({"bootstrap.servers": settings.bootstrap_servers, "socket.timeout.ms": 10000},
                                     window=window, now=now)
    reports = args.reports_dir or settings.reports_dir
    conninfo = settings.db_conninfo("control")
    try:
        run = run_suites(conninfo, scope, thresholds, traffic, site_dir=site_dir(reports))
    except Exception as exc:  # noqa: BLE001 - a CLI: say what failed, exit 2
        print(f"validation could not run: {exc}", file=sys.stderr)
        return 2
    page = write_report(run, reports, sample_rows=thresholds.sample_rows)
    if not args.no_store:
        import psycopg

        with psycopg.connect(conninfo) as conn:
            store_run(conn, run)
    print(run.failure_report())
    print(f"report: {page}")
    return 0 if run.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
