"""The simulator's ground-truth writer outlives a database outage: rows sent while PostgreSQL is away are
written when it is back, the batch in flight at the cut is neither lost nor doubled, and the run finishes.

The outage is a TCP proxy between the writer and the shared PostgreSQL that drops every connection (the
writer sees what a restart shows it: its connection dies, new ones are refused), so the shared stack is
never disturbed."""

from __future__ import annotations

import time

import psycopg

from include.patternalarm.settings import Settings
from include.patternalarm.simulator.truth import GroundTruthStore, TruthWriter
from tests.integration.incidents.tcpproxy import TcpProxy
from tests.support import unique, wait_until


def rows(prefix: str, n: int) -> list[tuple]:
    now = int(time.time() * 1000)
    return [(f"{prefix}-{i}", "scenario", "velocity", "burst", "payments", f"card-{prefix}-{i}", True, now, now + 1000,
             f"ev-{prefix}-{i}", now + 1000, [f"ev-{prefix}-{i}"], {"i": i}) for i in range(n)]


def stored(settings: Settings, run_id: str) -> list[str]:
    with psycopg.connect(settings.db_conninfo("reporting")) as conn:
        return [r[0] for r in conn.execute("SELECT scenario_id FROM ground_truth WHERE run_id = %s", (run_id,))]


def test_ground_truth_writer_survives_a_database_outage(stack_settings: Settings) -> None:
    proxy = TcpProxy(stack_settings.host, (stack_settings.pg_host, stack_settings.postgres_port)).restore()
    through_proxy = stack_settings.model_copy(update={"postgres_port": proxy.port})
    run_id = unique("sim-truth-outage")
    store = GroundTruthStore(through_proxy)
    try:
        store.start_run(run_id, 7, "live", ["payments"], {"test": True})
        writer = TruthWriter(store, run_id, interval=0.1, max_backoff=1.0)
        writer.start()
        writer.put(rows("before", 50))
        wait_until(lambda: len(stored(stack_settings, run_id)) == 50, timeout=30, what="the first rows")

        proxy.cut()  # the database goes away: the open connection dies, new ones are refused
        writer.put(rows("during", 40))
        wait_until(lambda: writer.outages >= 1 and writer.pending == 40, timeout=30,
                   what="the writer to notice the outage and hold its rows")
        writer.put(rows("during2", 10))
        time.sleep(1.5)  # a few reconnect attempts fail while it is down
        assert writer.error is None, writer.error

        proxy.restore()
        writer.put(rows("after", 30))
        writer.close(timeout=60)
        assert writer.error is None, writer.error
        ids = stored(stack_settings, run_id)
        assert len(ids) == len(set(ids)) == 130, "every row once: none lost, none doubled"
        store.finish_run(run_id, "finished", {"rows": 130})
    finally:
        proxy.cut()
        store.close()
    with psycopg.connect(stack_settings.db_conninfo("reporting")) as conn:
        assert conn.execute("SELECT status FROM sim_runs WHERE run_id = %s", (run_id,)).fetchone()[0] == "finished"


def test_a_batch_whose_write_may_have_committed_is_rewritten_without_doubles(stack_settings: Settings) -> None:
    run_id = unique("sim-truth-replay")
    store = GroundTruthStore(stack_settings)
    try:
        store.start_run(run_id, 7, "live", ["payments"], {"test": True})
        batch = rows("x", 20)
        store.add(run_id, batch)
        store.add(run_id, batch + rows("y", 5), idempotent=True)  # the retry after an unknown outcome
        ids = stored(stack_settings, run_id)
        assert len(ids) == len(set(ids)) == 25
    finally:
        store.close()
