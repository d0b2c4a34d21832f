"""Ground truth in PostgreSQL: ``sim_runs`` (one row per run) and ``ground_truth`` (one per instance).

Written as the ``patternalarm_simulator`` role (migrations 0010, 0011). Rows are buffered and written
with COPY by a background thread, so the send loop never waits on the database.

The writer survives the database going away (a restart, ``pg_ctl restart -m immediate``, a network
cut): it reconnects with back-off and keeps the rows it holds. A batch whose COPY was in flight when
the connection died has an unknown outcome (committed or not), so it is written again with
``INSERT … ON CONFLICT DO NOTHING`` on the ground truth's key (run, scenario): nothing is lost, nothing
doubled. Chaos experiments rely on this: the traffic that labels the experiment must outlive the
faults it injects.
"""

from __future__ import annotations

import getpass
import queue
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from include.patternalarm.simulator.engine import TruthRow

if TYPE_CHECKING:
    import psycopg

    from include.patternalarm.settings import Settings

DB_PURPOSE = "simulator"
_COLUMNS = ("run_id", "scenario_id", "kind", "rule_id", "variant", "domain", "entity", "should_alert",
            "first_event_time", "last_event_time", "completing_event_id", "completing_event_time",
            "event_ids", "detail")
_TYPES = ("text", "text", "text", "text", "text", "text", "text", "bool", "timestamptz", "timestamptz",
          "text", "timestamptz", "text[]", "jsonb")


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


#: Errors after which the connection is replaced and the write retried (the database went away).
def _transient(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and \
        (getattr(exc, "sqlstate", None) or "08")[:2] in ("08", "57", "53")


class GroundTruthStore:
    """One connection as the simulator role; ``start_run`` / ``add`` / ``finish_run``; ``reconnect()``
    after the database went away."""

    def __init__(self, settings: Settings) -> None:
        self._conninfo = settings.db_conninfo(DB_PURPOSE)
        try:
            self.conn: psycopg.Connection = self._connect()
        except Exception as exc:  # noqa: BLE001 - psycopg.OperationalError (imported lazily)
            raise RuntimeError(
                f"cannot reach PostgreSQL for the ground truth ({settings.pg_host}:{settings.postgres_port}): "
                f"{str(exc).strip()} — start the stack (`bin/patternalarm stack up`) or run with --no-ground-truth"
            ) from None
        self.rows_written = 0

    def _connect(self) -> psycopg.Connection:
        import psycopg

        return psycopg.connect(self._conninfo, connect_timeout=10, autocommit=True)

    def reconnect(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001,S110 - it is already gone
            pass
        self.conn = self._connect()

    def start_run(self, run_id: str, seed: int, clock: str, domains: Iterable[str], config: dict[str, Any]) -> None:
        from psycopg.types.json import Jsonb

        self.conn.execute(
            "INSERT INTO sim_runs (run_id, seed, clock, domains, config, os_user) VALUES (%s, %s, %s, %s, %s, %s)",
            (run_id, seed, clock, list(domains), Jsonb(config), getpass.getuser()),
        )

    def _row(self, run_id: str, r: TruthRow) -> tuple:
        from psycopg.types.json import Jsonb

        return (run_id, r[0], r[1], r[2], r[3], r[4], r[5], r[6], _ts(r[7]), _ts(r[8]), r[9], _ts(r[10]), r[11],
                Jsonb(r[12]))

    def add(self, run_id: str, rows: list[TruthRow], *, idempotent: bool = False) -> None:
        """Write ``rows`` in one transaction: COPY, or (``idempotent``, for a batch whose earlier attempt has
        an unknown outcome) INSERT … ON CONFLICT DO NOTHING."""
        if not rows:
            return
        from psycopg import sql

        columns = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
        if idempotent:
            statement = sql.SQL("INSERT INTO ground_truth ({}) VALUES ({}) ON CONFLICT (run_id, scenario_id) DO NOTHING"
                                ).format(columns, sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)))
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.executemany(statement, [self._row(run_id, r) for r in rows])
        else:
            with self.conn.cursor() as cur, cur.copy(sql.SQL("COPY ground_truth ({}) FROM STDIN").format(columns)) \
                    as copy:
                copy.set_types(list(_TYPES))
                for r in rows:
                    copy.write_row(self._row(run_id, r))
        self.rows_written += len(rows)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any], retry_for_s: float = 60.0) -> None:
        from psycopg.types.json import Jsonb

        def update() -> None:
            self.conn.execute(
                "UPDATE sim_runs SET finished_at = now(), status = %s, summary = %s WHERE run_id = %s",
                (status, Jsonb(summary), run_id),
            )

        deadline = time.monotonic() + retry_for_s
        delay = 0.5
        while True:
            try:
                return update()
            except Exception as exc:
                if not _transient(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            try:
                self.reconnect()
            except Exception:  # noqa: BLE001,S110 - still down: the next attempt says so
                pass

    def close(self) -> None:
        self.conn.close()


class TruthWriter(threading.Thread):
    """Writes queued rows in batches (every ``interval`` s) so the producers never block on COPY; rides
    out database outages (``outages`` counts them) and gives up only when ``close`` times out."""

    def __init__(self, store: GroundTruthStore, run_id: str, interval: float = 0.5, max_backoff: float = 10.0) -> None:
        super().__init__(name="ground-truth-writer", daemon=True)
        self.store, self.run_id, self.interval, self.max_backoff = store, run_id, interval, max_backoff
        self._queue: queue.Queue[list[TruthRow] | None] = queue.Queue()
        self._give_up = threading.Event()
        self.error: Exception | None = None
        self.outages = 0
        self.pending = 0  # rows held, not yet written

    def put(self, rows: list[TruthRow]) -> None:
        self._queue.put(rows)

    def run(self) -> None:
        done = False
        batch: list[TruthRow] = []
        uncertain = False  # the batch's last attempt may have committed
        delay = 0.5
        while True:
            try:
                item = self._queue.get(timeout=self.interval)
                while True:
                    if item is None:
                        done = True
                        break
                    batch.extend(item)
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            self.pending = len(batch)
            if batch and self.error is None:
                try:
                    if uncertain:
                        self.store.reconnect()
                    self.store.add(self.run_id, batch, idempotent=uncertain)
                    batch, uncertain, delay = [], False, 0.5
                    self.pending = 0
                except Exception as exc:  # noqa: BLE001 - an outage is waited out; anything else is reported
                    if not _transient(exc):
                        self.error = exc
                    else:
                        self.outages += 1 if not uncertain else 0
                        uncertain = True
                        if self._give_up.wait(delay):
                            self.error = RuntimeError(f"{len(batch)} ground-truth row(s) not written: the database "
                                                      f"did not come back ({str(exc).strip()[:200]})")
                        delay = min(delay * 2, self.max_backoff)
                        continue
            if done and (not batch or self.error is not None):
                return

    def close(self, timeout: float = 120.0) -> None:
        """Write what is left (waiting up to ``timeout`` for the database to come back), then stop."""
        self._queue.put(None)
        self.join(timeout)
        if self.is_alive():
            self._give_up.set()
            self.join(30)
