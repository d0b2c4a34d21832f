"""Start a sink as a separate process on its own topic and group (benchmarks, tests, experiments)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from include.patternalarm.incidents.status import fetch_status
from include.patternalarm.settings import Settings


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SinkProcess:
    """A ``python -m include.patternalarm.incidents`` child with its own status port and log."""

    def __init__(self, settings: Settings, *, topic: str, group: str, log_path: Path, dlq_topic: str | None = None,
                 batch_size: int | None = None, auto_resolve_every_s: float | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.topic, self.group, self.log_path = topic, group, log_path
        self.port = free_port(settings.host)
        self.args = [sys.executable, "-m", "include.patternalarm.incidents", "--topic", topic, "--group", group,
                     "--metrics-port", str(self.port)]
        if dlq_topic:
            self.args += ["--dlq-topic", dlq_topic]
        if batch_size:
            self.args += ["--batch-size", str(batch_size)]
        if auto_resolve_every_s is not None:
            self.args += ["--auto-resolve-every", str(auto_resolve_every_s)]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> SinkProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.settings.repo_root)
        return self

    def status(self) -> dict:
        return fetch_status(self.settings.host, self.port, timeout=2.0)

    def wait_consuming(self, timeout: float = 60.0) -> dict:
        """Wait until it consumes with partitions assigned; fail with its log when it dies."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"sink exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status = self.status()
                if status["healthy"] and status["lag"]["partitions"]:
                    return status
                last = f"state {status['state']}, partitions {list(status['lag']['partitions'])}"
            except ConnectionError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"sink not consuming after {timeout:.0f}s ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL: no chance to finish a batch or commit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode
