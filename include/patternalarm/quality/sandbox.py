"""Throwaway copies of the incident tables, for corruption tests and benchmarks.

``create_sandbox`` makes a schema ``dq_sandbox_<hex>`` with the five tables cloned from ``public``
(columns, defaults, identity, CHECK constraints, indexes and the foreign keys between them — so
a corruption the real schema forbids is refused here too), readable by the control role. Rows are
copied in (``copy_rows``) or generated (``bench.py``) and then broken on purpose; the live tables
are never touched. Needs the owner role (it creates a schema). ``drop_sandbox`` removes it;
``drop_stale_sandboxes`` cleans up after crashed runs.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import tuple_row

from include.gx.parameters import TABLES
from include.patternalarm.settings import DB_ROLES

PREFIX = "dq_sandbox_"
COMMENT = "patternalarm data-quality sandbox (throwaway copy of the incident tables; safe to drop)"
#: creation order (foreign keys point backwards)
ORDER = ("silences", "incidents", "alerts", "incident_events", "scaling_events")
assert set(ORDER) == set(TABLES)


def create_sandbox(conn: Connection[Any], *, source: str = "public", reader: str | None = DB_ROLES["control"],
                   name: str | None = None) -> str:
    """Create the schema and empty copies of the tables; returns the schema name."""
    schema = name or f"{PREFIX}{secrets.token_hex(5)}"
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        comment = f"{COMMENT}; created {datetime.now(UTC).isoformat()}"
        conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(sql.Identifier(schema), sql.Literal(comment)))
        for table in ORDER:
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                sql.Identifier(schema, table), sql.Identifier(source, table)))
        # foreign keys among the copied tables, re-pointed at the copies
        rows = conn.cursor(row_factory=tuple_row).execute(
            "SELECT c.conname, t.relname AS tab, r.relname AS ref, "
            "       array(SELECT a.attname FROM unnest(c.conkey) k JOIN pg_attribute a "
            "             ON a.attrelid = c.conrelid AND a.attnum = k) AS cols, "
            "       array(SELECT a.attname FROM unnest(c.confkey) k JOIN pg_attribute a "
            "             ON a.attrelid = c.confrelid AND a.attnum = k) AS ref_cols "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE c.contype = 'f' AND n.nspname = %s AND t.relname = ANY(%s) AND r.relname = ANY(%s)",
            (source, list(ORDER), list(ORDER))).fetchall()
        for conname, tab, ref, cols, ref_cols in rows:
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
                sql.Identifier(schema, tab), sql.Identifier(conname),
                sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(schema, ref),
                sql.SQL(", ").join(map(sql.Identifier, ref_cols))))
        if reader:
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema),
                                                                          sql.Identifier(reader)))
            conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sql.Identifier(schema),
                                                                                        sql.Identifier(reader)))
    return schema


def insertable_columns(conn: Connection[Any], schema: str, table: str) -> list[str]:
    """Columns that take values (generated columns do not)."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "AND is_generated = 'NEVER' ORDER BY ordinal_position", (schema, table)).fetchall()
    return [r[0] for r in rows]


def copy_rows(conn: Connection[Any], schema: str, table: str, where: sql.Composable,
              params: tuple[Any, ...] = (), *, source: str = "public") -> int:
    """Copy the rows of ``source.table`` matching ``where`` (ids kept); returns how many."""
    cols = sql.SQL(", ").join(map(sql.Identifier, insertable_columns(conn, source, table)))
    query = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} WHERE {}").format(
        sql.Identifier(schema, table), cols, cols, sql.Identifier(source, table), where)
    return conn.execute(query, params).rowcount


def drop_sandbox(conn: Connection[Any], schema: str) -> None:
    if not schema.startswith(PREFIX):
        raise ValueError(f"refusing to drop {schema!r}: not a sandbox (prefix {PREFIX})")
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def drop_stale_sandboxes(conn: Connection[Any], older_than: timedelta = timedelta(hours=6)) -> list[str]:
    """Drop sandboxes that crashed runs left behind (created more than ``older_than`` ago)."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT n.nspname, obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE n.nspname LIKE %s",
        (PREFIX.replace("_", r"\_") + "%",)).fetchall()
    cutoff = datetime.now(UTC) - older_than
    dropped = []
    for name, comment in rows:
        if not comment or not comment.startswith(COMMENT):
            continue  # not made by create_sandbox
        try:
            created = datetime.fromisoformat(comment.rsplit("created ", 1)[1])
        except (IndexError, ValueError):
            continue
        if created < cutoff:
            drop_sandbox(conn, name)
            dropped.append(name)
    return dropped
