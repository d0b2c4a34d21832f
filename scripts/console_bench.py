#!/usr/bin/env python
"""How fast the incident console's queue renders with many incidents in the table (default 100,000).

    .venv/bin/python scripts/console_bench.py [--incidents 100000] [--repeat 15] [--keep] [--url URL]

1. Loads synthetic incidents the way the sink makes them (``ingest_alerts`` as the sink role, one
   alert per incident, entities ``cbench-<run>-…``, event times spread over 7 days, the shipped
   rules' evidence shapes), then works them as analysts would (through the lifecycle functions):
   70 % resolved with a disposition, 10 % acknowledged and assigned, 20 % left open; 60 % of the active
   ones get a priority (``set_incident_priorities``).
2. Times whole page requests (``GET``, as the analyst user, keep-alive) against the running stack's
   api-server — or ``--url`` — for the default queue, filters, the second page and a deep page (keyset
   position 20,000 rows down), plus an incident page and the rule-quality page: median and p95 of
   ``--repeat`` requests each.
3. Deletes what it loaded (as the owner role), unless ``--keep``.

The figures are printed and written as JSON to ``<reports_dir>/console-bench-<run>.json``; they are
measurements, not test assertions (docs/incidents.md quotes them with the machine's load).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import requests
from psycopg.types.json import Jsonb

from include.patternalarm.incidents.synthetic import RULES, sample_evidence, synthetic_alert
from include.patternalarm.settings import get_settings

PREFIX = "/patternalarm-incidents"
BATCH = 2_000
PEOPLE = ("alice", "bob", "carol", "dan", "erin")


def load(settings: Any, run: str, count: int, say: Any) -> dict[str, float]:
    rng = random.Random(run)  # noqa: S311 - synthetic data, not secrets
    now = datetime.now(UTC)
    rules = list(RULES)
    started = time.monotonic()
    with psycopg.connect(settings.db_conninfo("sink"), autocommit=True) as sink:
        for start in range(0, count, BATCH):
            alerts = []
            for i in range(start, min(start + BATCH, count)):
                rule = rules[i % len(rules)]
                domain, severity = RULES[rule]
                first = now - timedelta(seconds=rng.uniform(600, 7 * 86400))
                alerts.append(synthetic_alert(rule, f"cbench-{run}-{domain}-{i:06d}", f"cbench-{run}-ev{i}",
                                              domain=domain, severity=severity, first_event_time=first,
                                              span=timedelta(seconds=30), **sample_evidence(rule, rng)))
            sink.execute("SELECT ingest_alerts(%s)", [Jsonb(alerts)])
            say(f"  loaded {min(start + BATCH, count):,} / {count:,}")
    loaded = time.monotonic() - started
    started = time.monotonic()
    with psycopg.connect(settings.db_conninfo("analyst"), autocommit=True) as analyst:
        ids = [r[0] for r in analyst.execute("SELECT incident_id FROM incidents WHERE entity LIKE %s "
                                             "AND status = 'open' ORDER BY incident_id", (f"cbench-{run}-%",))]
        rng.shuffle(ids)
        n_resolved, n_acked = int(len(ids) * 0.7), int(len(ids) * 0.1)
        resolved, acked = ids[:n_resolved], ids[n_resolved:n_resolved + n_acked]
        dispositions = [rng.choice(("confirmed_fraud", "false_positive", "benign")) for _ in resolved]
        for start in range(0, len(resolved), BATCH):
            analyst.execute("SELECT count(resolve_incident(i, d, 'cbench', NULL)) "
                            "FROM unnest(%s::bigint[], %s::text[]) AS t(i, d)",
                            (resolved[start:start + BATCH], dispositions[start:start + BATCH]))
        people = [rng.choice(PEOPLE) for _ in acked]
        for start in range(0, len(acked), BATCH):
            analyst.execute("SELECT count(acknowledge_incident(i, 'cbench', NULL, p)) "
                            "FROM unnest(%s::bigint[], %s::text[]) AS t(i, p)",
                            (acked[start:start + BATCH], people[start:start + BATCH]))
        active = ids[n_resolved:]
        scored = rng.sample(active, int(len(active) * 0.6))
    with psycopg.connect(settings.db_conninfo("control"), autocommit=True) as control:
        for start in range(0, len(scored), BATCH):
            control.execute("SELECT set_incident_priorities(%s)", [Jsonb([
                {"incident_id": i, "priority": rng.randrange(5, 100),
                 "reasons": [{"factor": "severity", "points": 40, "detail": "severity high"}]}
                for i in scored[start:start + BATCH]])])
    with psycopg.connect(settings.db_conninfo("owner"), autocommit=True) as owner:
        owner.execute("ANALYZE incidents")
        total = owner.execute("SELECT count(*) FROM incidents").fetchone()[0]
    return {"load_s": round(loaded, 1), "work_s": round(time.monotonic() - started, 1), "incidents_in_table": total}


def cleanup(settings: Any, run: str) -> int:
    pattern = f"cbench-{run}-%"
    with psycopg.connect(settings.db_conninfo("owner"), autocommit=True) as owner:
        ids = "SELECT incident_id FROM incidents WHERE entity LIKE %s"
        owner.execute(f"DELETE FROM incident_events WHERE incident_id IN ({ids})", (pattern,))  # noqa: S608
        owner.execute("DELETE FROM alerts WHERE entity LIKE %s", (pattern,))
        return owner.execute("DELETE FROM incidents WHERE entity LIKE %s", (pattern,)).rowcount


def timed(session: requests.Session, url: str, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = session.get(url, timeout=60)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        times.append(elapsed)
    times.sort()
    return {"median_s": round(statistics.median(times), 3), "p95_s": round(times[int(0.95 * (len(times) - 1))], 3),
            "max_s": round(times[-1], 3), "bytes": len(response.content)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--url", help="api-server base URL (default: the stack's)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic incidents afterwards")
    args = parser.parse_args()
    settings = get_settings()
    base = (args.url or settings.airflow_api).rstrip("/")
    run = uuid.uuid4().hex[:8]
    say = print
    say(f"console bench {run}: loading {args.incidents:,} incidents …")
    load_avg_before = os.getloadavg()
    try:
        loading = load(settings, run, args.incidents, say)
        say(f"  {loading}")
        token = requests.post(f"{base}/auth/token", timeout=10, json={
            "username": settings.airflow_analyst_user,
            "password": settings.secret("airflow_analyst_password")}).json()["access_token"]
        session = requests.Session()
        session.cookies.set("_token", token)
        queue = f"{base}{PREFIX}/"
        with psycopg.connect(settings.db_conninfo("reporting"), autocommit=True) as reader:
            one = reader.execute("SELECT incident_id FROM incidents WHERE entity LIKE %s AND status = 'open' "
                                 "LIMIT 1", (f"cbench-{run}-%",)).fetchone()[0]
            deep = reader.execute(
                "SELECT coalesce(priority, -1), last_seen, incident_id FROM incidents ORDER BY coalesce(priority, -1) "
                "DESC, last_seen DESC, incident_id DESC OFFSET 20000 LIMIT 1").fetchone()
        from include.patternalarm.incidents.queue import Cursor

        deep_cursor = Cursor(deep[0], deep[1], deep[2]).encode()
        session.get(queue, timeout=60).raise_for_status()  # warm up (plugin import, catalog, connections)
        pages = {
            "queue (active, first page)": queue,
            "queue, all statuses": f"{queue}?status=all",
            "queue, domain + severity": f"{queue}?domain=iot&severity=high",
            "queue, rule + assignee": f"{queue}?status=acknowledged&rule=aimbot&assignee=carol",
            "queue, entity contains": f"{queue}?status=all&entity=000123",
            "queue, last 2 h": f"{queue}?since=2h",
            "queue, deep page (20,000 rows down)": f"{queue}?status=all&after={deep_cursor}",
            "incident page": f"{base}{PREFIX}/incidents/{one}",
            "rule quality (7 days)": f"{base}{PREFIX}/rules",
        }
        results = {}
        for name, url in pages.items():
            results[name] = timed(session, url, args.repeat)
            say(f"  {name:<40} median {results[name]['median_s']:.3f} s  p95 {results[name]['p95_s']:.3f} s")
        report = {"run": run, "incidents_loaded": args.incidents, **loading, "repeat": args.repeat, "pages": results,
                  "load_avg_before": load_avg_before, "load_avg_after": os.getloadavg(), "cpus": os.cpu_count(),
                  "at": datetime.now(UTC).isoformat()}
        out = settings.reports_dir / f"console-bench-{run}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        say(f"load average before {load_avg_before[0]:.1f}, after {report['load_avg_after'][0]:.1f} "
            f"({report['cpus']} CPUs); report {out}")
    finally:
        if not args.keep:
            say(f"removed {cleanup(settings, run):,} synthetic incidents")


if __name__ == "__main__":
    main()
