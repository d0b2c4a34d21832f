"""Helpers shared by the tests: bounded waiting, unique names, reading a topic, an api-server of their own."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import requests

if TYPE_CHECKING:
    from include.patternalarm.settings import Settings

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.5, what: str = "condition") -> T:
    """Poll ``condition`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(interval)
    detail = f" (last error: {last_exc})" if last_exc else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def unique(prefix: str) -> str:
    """A name no other test run uses (tests share one stack, so never assume empty topics/tables)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def consume(bootstrap: str, topic: str, *, until: Callable[[list], bool], timeout: float,
            from_beginning: bool = True, key_filter: Callable[[bytes | None], bool] | None = None) -> list:
    """Read ``topic`` with a fresh group until ``until(messages)`` holds or ``timeout`` passes."""
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": unique("test"),
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(messages):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            if key_filter is None or key_filter(msg.key()):
                messages.append(msg)
    finally:
        consumer.close()
    return messages


@contextmanager
def own_api_server(settings: Settings, log_path: Path, **env: str) -> Iterator[str]:
    """An Airflow api-server of the test's own (this checkout's plugins, the stack's metadata database and
    users) on a free port; yields its base URL and stops it — its own process group only — afterwards.

    The stack's api-server loaded its plugins when it started, possibly from older code; a test of a
    plugin's routes runs them in a server that loaded them now."""
    from include.patternalarm.incidents.process import free_port
    from include.patternalarm.stack import airflow as airflow_stack

    airflow_stack.write_passwords(settings)
    port = free_port(settings.host)
    base = f"http://{settings.host}:{port}"
    full_env = {**os.environ, **airflow_stack.environment(settings), "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__BASE_URL": base, **env}
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(settings.venv_dir / "bin" / "airflow"), "api-server", "--host", settings.host,
                                 "--port", str(port)], env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=settings.repo_root)
        try:
            def healthy() -> bool:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                return requests.get(f"{base}/api/v2/monitor/health", timeout=2).ok

            wait_until(healthy, timeout=120, interval=1, what="the test's own api-server")
            yield base
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
