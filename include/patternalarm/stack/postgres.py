"""The project's own PostgreSQL cluster: init, program, health, roles and migrations."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from include.patternalarm.settings import DB_ROLES, Settings
from include.patternalarm.stack.supervisor import Program
from include.patternalarm.stack.tools import StackError, chown_to, postgres_bindir, postgres_os_user

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"
AIRFLOW_DB = "airflow"
AIRFLOW_ROLE = "airflow"


def data_path(settings: Settings) -> Path:
    return settings.data_dir / "postgres" / "data"


def socket_dir(settings: Settings) -> Path:
    return settings.data_dir / "postgres" / "run"


def _as_pg_user(cmd: list[str]) -> list[str]:
    user = postgres_os_user()
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def init_cluster(settings: Settings) -> bool:
    """initdb once; returns True when a new cluster was created."""
    data = data_path(settings)
    if (data / "PG_VERSION").exists():
        return False
    user = postgres_os_user()
    data.mkdir(parents=True, exist_ok=True)
    socket_dir(settings).mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    chown_to(data.parent, user)
    with tempfile.NamedTemporaryFile("w", dir=data.parent, delete=False) as fh:
        fh.write(settings.secret("postgres_superuser_password"))
        pwfile = Path(fh.name)
    try:
        chown_to(pwfile, user)
        result = subprocess.run(
            _as_pg_user([
                str(postgres_bindir() / "initdb"), "-D", str(data), "-U", "postgres",
                "--auth-local=peer", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                "--encoding=UTF8", "--locale=C",
            ]),
            capture_output=True, text=True, check=False,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StackError(f"initdb failed for {data}:\n{result.stderr.strip()}")
    return True


def program(settings: Settings) -> Program:
    return Program(
        name="postgres",
        group="postgres",
        command=[
            str(postgres_bindir() / "postgres"), "-D", str(data_path(settings)),
            "-p", str(settings.postgres_port), "-k", str(socket_dir(settings)),
            "-c", f"listen_addresses={settings.host}",
            "-c", "max_connections=200",
            "-c", "shared_buffers=256MB",
            "-c", "log_min_messages=warning",
            "-c", "log_line_prefix=%m [%p] %u@%d ",
        ],
        ports=(settings.postgres_port,),
        user=postgres_os_user(),
        stopwaitsecs=60,
    )


def superuser_conninfo(settings: Settings, dbname: str = "postgres") -> str:
    return make_conninfo(
        host=settings.pg_host, port=settings.postgres_port, dbname=dbname, user="postgres",
        password=settings.secret("postgres_superuser_password"), connect_timeout=3,
    )


def health(settings: Settings) -> str:
    with psycopg.connect(superuser_conninfo(settings)) as conn:
        version = conn.execute("select current_setting('server_version')").fetchone()[0]
    return f"PostgreSQL {version} accepting connections"


def _ensure_role(cur: psycopg.Cursor, role: str, password: str) -> None:
    exists = cur.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    cur.execute(
        sql.SQL("{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role), sql.Literal(password)
        )
    )


def _ensure_database(cur: psycopg.Cursor, name: str, owner: str) -> None:
    if not cur.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))


def bootstrap(settings: Settings) -> None:
    """Roles with their passwords from settings, the two databases, connect rights."""
    with psycopg.connect(superuser_conninfo(settings), autocommit=True) as conn, conn.cursor() as cur:
        for purpose, role in DB_ROLES.items():
            _ensure_role(cur, role, settings.secret(f"db_{purpose}_password"))
        _ensure_role(cur, AIRFLOW_ROLE, settings.secret("airflow_db_password"))
        _ensure_database(cur, settings.postgres_db, DB_ROLES["owner"])
        _ensure_database(cur, AIRFLOW_DB, AIRFLOW_ROLE)
        for role in DB_ROLES.values():
            cur.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(settings.postgres_db), sql.Identifier(role)
                )
            )
        cur.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(AIRFLOW_DB), sql.Identifier(AIRFLOW_ROLE)
            )
        )


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations from include/sql/migrations (yoyo) as the owner role."""
    from yoyo import get_backend, read_migrations

    url = (
        f"postgresql+psycopg://{DB_ROLES['owner']}:{settings.secret('db_owner_password')}"
        f"@{settings.pg_host}:{settings.postgres_port}/{settings.postgres_db}"
    )
    backend = get_backend(url)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]


def record_stack_event(settings: Settings, action: str, detail: dict) -> None:
    """Append to the stack's audit log (stack_events) as the owner role."""
    import getpass

    from psycopg.types.json import Jsonb

    with psycopg.connect(settings.db_conninfo("owner"), connect_timeout=5) as conn:
        conn.execute(
            "INSERT INTO stack_events (action, os_user, detail) VALUES (%s, %s, %s)",
            (action, getpass.getuser(), Jsonb(detail)),
        )
