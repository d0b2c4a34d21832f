"""Airflow 3 (api-server, scheduler, dag-processor, triggerer) with LocalExecutor.

Metadata lives in the project's PostgreSQL. ``airflow_settings.yaml`` (Astro format) is converted
and imported with Airflow's own CLI, with ``${NAME}`` placeholders filled from settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import yaml

from include.patternalarm.settings import DB_ROLES, Settings
from include.patternalarm.stack.postgres import AIRFLOW_DB, AIRFLOW_ROLE
from include.patternalarm.stack.supervisor import Program
from include.patternalarm.stack.tools import StackError, venv_bin

#: seconds without a heartbeat before a scheduler counts as dead (a live one heartbeats every 5 s: four missed),
#: and between a scheduler's checks for the running tasks of dead ones, which it resets so that they run again:
#: a killed scheduler's tasks run again within their sum (plus a scheduler start). Airflow's default check
#: every 300 s held an upgrade run 5 minutes after a scheduler SIGKILL (chaos scheduler_kill, 2026-12-04).
DEAD_SCHEDULER_S = 20
ORPHAN_CHECK_S = 10


def home(settings: Settings) -> Path:
    return settings.data_dir / "airflow"


def passwords_file(settings: Settings) -> Path:
    return home(settings) / "simple_auth_manager_passwords.json"


def users(settings: Settings) -> dict[str, tuple[str, str]]:
    """Airflow's accounts under the SimpleAuthManager: name → (role, password secret). ``admin`` runs the
    platform; ``user`` is the incident console's analyst (may act on incidents); ``viewer`` only reads."""
    return {
        settings.airflow_admin_user: ("admin", "airflow_admin_password"),
        settings.airflow_analyst_user: ("user", "airflow_analyst_password"),
        settings.airflow_viewer_user: ("viewer", "airflow_viewer_password"),
    }


def environment(settings: Settings) -> dict[str, str]:
    """Everything Airflow's processes (and `airflow` CLI calls) need, as env vars."""
    api = settings.airflow_api
    db_password = settings.secret("airflow_db_password")
    return {
        "AIRFLOW_HOME": str(home(settings)),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.repo_root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.repo_root / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.airflow_parallelism),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": settings.secret("airflow_fernet_key"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{name}:{role}"
                                                             for name, (role, _) in users(settings).items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(settings)),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://{AIRFLOW_ROLE}:{db_password}@{settings.pg_host}:{settings.postgres_port}/{AIRFLOW_DB}"
        ),
        "AIRFLOW__API__HOST": settings.host,
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": settings.secret("airflow_jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": settings.secret("airflow_jwt_secret"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "20",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.log_dir / "airflow"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.airflow_worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.airflow_triggerer_log_port),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # a killed scheduler's running tasks (LocalExecutor) run again only after these: see DEAD_SCHEDULER_S
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(ORPHAN_CHECK_S),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": str(DEAD_SCHEDULER_S),
        "PATTERNALARM_DATA_DIR": str(settings.data_dir),
        "PYTHONPATH": f"{settings.repo_root}{os.pathsep}{settings.repo_root / 'plugins'}",
        "PATH": f"{settings.venv_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "NO_PROXY": "*",
    }


def _airflow(settings: Settings, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, **environment(settings)}
    result = subprocess.run(
        [venv_bin(settings, "airflow"), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise StackError(f"`airflow {' '.join(args)}` failed:\n{(result.stderr or result.stdout).strip()[-3000:]}")
    return result


def write_passwords(settings: Settings) -> None:
    """The SimpleAuthManager's password file from settings (it would invent a password for a user missing
    there). Idempotent; run on every ``stack up``, so accounts added later get their generated secret."""
    home(settings).mkdir(parents=True, exist_ok=True)
    fd = os.open(passwords_file(settings), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({name: settings.secret(secret) for name, (_, secret) in users(settings).items()}, fh)


def prepare(settings: Settings) -> None:
    """Home folder, the users' passwords (from settings), and the metadata DB schema."""
    (settings.log_dir / "airflow").mkdir(parents=True, exist_ok=True)
    write_passwords(settings)
    _airflow(settings, "db", "migrate")


def placeholders(settings: Settings) -> dict[str, str]:
    """Values that ``${NAME}`` in airflow_settings.yaml may use."""
    return {
        "KAFKA_BOOTSTRAP": settings.bootstrap_servers,
        "FLINK_REST_URL": settings.flink_rest,
        "SQL_GATEWAY_URL": settings.sql_gateway,
        "PG_HOST": settings.pg_host,
        "PG_PORT": str(settings.postgres_port),
        "PG_DB": settings.postgres_db,
        "PG_CONTROL_USER": DB_ROLES["control"],
        "PG_CONTROL_PASSWORD": settings.secret("db_control_password"),
        "SPARK_MASTER": settings.spark_master,
        "DATA_DIR": str(settings.data_dir),
        "REPO_ROOT": str(settings.repo_root),
    }


def _fill(value: object, values: dict[str, str]) -> object:
    if isinstance(value, str):
        try:
            return string.Template(value).substitute(values)
        except KeyError as exc:
            raise StackError(f"airflow_settings.yaml uses unknown placeholder ${{{exc.args[0]}}}") from exc
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def convert_settings(path: Path, values: dict[str, str]) -> dict[str, object]:
    """Astro's airflow_settings.yaml → the files `airflow connections|variables|pools import` read."""
    doc = yaml.safe_load(path.read_text()) or {}
    section = _fill(doc.get("airflow", {}), values)
    connections = {}
    for conn in section.get("connections") or []:
        conn_id = conn["conn_id"]
        if not re.fullmatch(r"[\w.-]+", conn_id):
            raise StackError(f"airflow_settings.yaml: bad conn_id {conn_id!r}")
        connections[conn_id] = {
            "conn_type": conn["conn_type"],
            "host": conn.get("conn_host"),
            "schema": conn.get("conn_schema"),
            "login": conn.get("conn_login"),
            "password": conn.get("conn_password"),
            "port": conn.get("conn_port"),
            "extra": json.dumps(conn.get("conn_extra") or {}),
            "description": conn.get("conn_description"),
        }
    variables = {v["variable_name"]: v["variable_value"] for v in section.get("variables") or []}
    pools = {
        p["pool_name"]: {
            "slots": p["pool_slot"], "description": p.get("pool_description", ""), "include_deferred": False,
        }
        for p in section.get("pools") or []
    }
    return {"connections": connections, "variables": variables, "pools": pools}


def load_settings_file(settings: Settings, only_if_changed: bool = False) -> dict[str, int] | None:
    """Import connections, variables and pools from airflow_settings.yaml into Airflow.

    With ``only_if_changed``, skip (and return None) when neither the file nor the values it uses
    changed since the last import.
    """
    converted = convert_settings(settings.repo_root / "airflow_settings.yaml", placeholders(settings))
    folder = home(settings) / "import"
    folder.mkdir(exist_ok=True)
    stamp = folder / "imported.sha256"
    digest = hashlib.sha256(json.dumps(converted, sort_keys=True).encode()).hexdigest()
    if only_if_changed and stamp.exists() and stamp.read_text() == digest:
        return None
    commands = []
    for kind, data in converted.items():
        if not data:
            continue
        target = folder / f"{kind}.json"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        extra = {"connections": ["--overwrite"], "variables": ["--action-on-existing-key", "overwrite"], "pools": []}
        commands.append((kind, "import", str(target), *extra[kind]))
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda args: _airflow(settings, *args, timeout=300), commands))
    stamp.write_text(digest)
    return {kind: len(data) for kind, data in converted.items()}


def programs(settings: Settings) -> list[Program]:
    airflow = venv_bin(settings, "airflow")
    env = environment(settings)
    return [
        Program("airflow-api-server", "airflow", [airflow, "api-server", "--host", settings.host,
                                                   "--port", str(settings.airflow_port)],
                ports=(settings.airflow_port,), environment=env, startsecs=5, stopwaitsecs=30),
        Program("airflow-scheduler", "airflow", [airflow, "scheduler", "--skip-serve-logs"], environment=env,
                startsecs=5, stopwaitsecs=45),
        Program("airflow-dag-processor", "airflow", [airflow, "dag-processor"], environment=env, startsecs=5),
        Program("airflow-triggerer", "airflow", [airflow, "triggerer", "--skip-serve-logs"], environment=env,
                startsecs=5),
    ]


def _health_json(settings: Settings) -> dict:
    response = requests.get(f"{settings.airflow_api}/api/v2/monitor/health", timeout=5)
    response.raise_for_status()
    return response.json()


def component_health(settings: Settings, component: str) -> str:
    """``component``: api-server, scheduler, dag-processor or triggerer."""
    data = _health_json(settings)
    if component == "api-server":
        if data["metadatabase"]["status"] != "healthy":
            raise StackError("api-server cannot reach its metadata database")
        return "api-server healthy, metadata database healthy"
    key = component.replace("-", "_")
    status = data.get(key, {}).get("status")
    if status != "healthy":
        raise StackError(f"{component} not healthy yet (status {status})")
    beat = data[key].get(f"latest_{key}_heartbeat") or data[key].get("latest_heartbeat")
    return f"{component} healthy, last heartbeat {beat}"


def api_token(settings: Settings) -> str:
    """A bearer token for the REST API, for the admin user from settings."""
    response = requests.post(
        f"{settings.airflow_api}/auth/token",
        json={"username": settings.airflow_admin_user, "password": settings.secret("airflow_admin_password")},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]
