"""No network call waits forever: database connections from the settings give up and notice a dead server,
and every HTTP call in the package, the plugin and the DAGs names a timeout."""

from __future__ import annotations

import ast
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from include.patternalarm.settings import Settings

REPO = Path(__file__).resolve().parents[3]
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "request", "urlopen"}
HTTP_RECEIVERS = {"requests", "_http", "http", "session", "urllib.request"}


def test_database_connections_have_a_connect_timeout_and_keepalives() -> None:
    settings = Settings(db_control_password="x", db_reporting_password="x")  # type: ignore[arg-type]
    for purpose in ("control", "reporting"):
        params = conninfo_to_dict(settings.db_conninfo(purpose))
        assert int(params["connect_timeout"]) == 10
        assert params["keepalives"] == "1" and int(params["keepalives_count"]) >= 1


def _receiver(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _receiver(node.value)
        return f"{inner}.{node.attr}" if inner in ("urllib",) else node.attr
    return ""


def test_every_http_call_names_a_timeout() -> None:
    missing, seen = [], 0
    for root in ("include", "plugins", "dags"):
        for path in (REPO / root).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr in HTTP_METHODS and _receiver(node.func.value) in HTTP_RECEIVERS:
                    seen += 1
                    if not any(k.arg == "timeout" for k in node.keywords):
                        missing.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert seen >= 5, "the scan found no HTTP calls: it no longer recognises them"
    assert not missing, f"HTTP calls without a timeout: {missing}"
