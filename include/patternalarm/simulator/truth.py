"""Ground truth in PostgreSQL: ``sim_runs`` (one row per run) and ``ground_truth`` (one per instance).

Written as the ``patternalarm_simulator`` role (migrations 0010, 0011). Rows are buffered and written
with COPY by a background thread, so the send loop never waits on the database.
"""

from __future__ import annotations

import getpass
import queue
import threading
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


class GroundTruthStore:
    """One connection as the control role; ``start_run`` / ``add`` / ``finish_run``."""

    def __init__(self, settings: Settings) -> None:
        import psycopg

        try:
            self.conn: psycopg.Connection = psycopg.connect(settings.db_conninfo(DB_PURPOSE), connect_timeout=10,
                                                            autocommit=True)
        except psycopg.OperationalError as exc:
            raise RuntimeError(
                f"cannot reach PostgreSQL for the ground truth ({settings.pg_host}:{settings.postgres_port}): "
                f"{str(exc).strip()} — start the stack (`bin/patternalarm stack up`) or run with --no-ground-truth"
            ) from None
        self.rows_written = 0

    def start_run(self, run_id: str, seed: int, clock: str, domains: Iterable[str], config: dict[str, Any]) -> None:
        from psycopg.types.json import Jsonb

        self.conn.execute(
            "INSERT INTO sim_runs (run_id, seed, clock, domains, config, os_user) VALUES (%s, %s, %s, %s, %s, %s)",
            (run_id, seed, clock, list(domains), Jsonb(config), getpass.getuser()),
        )

    def add(self, run_id: str, rows: list[TruthRow]) -> None:
        if not rows:
            return
        from psycopg import sql
        from psycopg.types.json import Jsonb

        statement = sql.SQL("COPY ground_truth ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(list(_TYPES))
            for r in rows:
                copy.write_row((run_id, r[0], r[1], r[2], r[3], r[4], r[5], r[6], _ts(r[7]), _ts(r[8]), r[9],
                                _ts(r[10]), r[11], Jsonb(r[12])))
        self.rows_written += len(rows)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        from psycopg.types.json import Jsonb

        self.conn.execute(
            "UPDATE sim_runs SET finished_at = now(), status = %s, summary = %s WHERE run_id = %s",
            (status, Jsonb(summary), run_id),
        )

    def close(self) -> None:
        self.conn.close()


class TruthWriter(threading.Thread):
    """Writes queued rows in batches (every ``interval`` s) so the producers never block on COPY."""

    def __init__(self, store: GroundTruthStore, run_id: str, interval: float = 0.5) -> None:
        super().__init__(name="ground-truth-writer", daemon=True)
        self.store, self.run_id, self.interval = store, run_id, interval
        self._queue: queue.Queue[list[TruthRow] | None] = queue.Queue()
        self.error: Exception | None = None

    def put(self, rows: list[TruthRow]) -> None:
        self._queue.put(rows)

    def run(self) -> None:
        done = False
        while not done:
            batch: list[TruthRow] = []
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
            if batch and self.error is None:
                try:
                    self.store.add(self.run_id, batch)
                except Exception as exc:  # noqa: BLE001 - surfaced in the run's summary and exit code
                    self.error = exc

    def close(self, timeout: float = 60.0) -> None:
        self._queue.put(None)
        self.join(timeout)
