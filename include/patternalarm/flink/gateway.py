"""A small client for the Flink SQL Gateway REST API (v3).

Sessions hold SET values between statements; `execute()` runs one statement and returns its
rows (for DDL/queries) or the job id (for INSERT / STATEMENT SET), raising `GatewayError` with
Flink's root cause when the statement fails.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests


class GatewayError(RuntimeError):
    """A statement or session call failed; the message carries Flink's root cause. ``unreachable``: the
    gateway did not answer at all (down, restarting) — nothing about the statement is known."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def _root_cause(payload: Any) -> str:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not errors:
        return str(payload)[:2000]
    text = "\n".join(str(e) for e in errors)
    causes = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by:")]
    first = text.strip().splitlines()[0] if text.strip() else ""
    return (causes[-1] if causes else first)[:2000] + (f"\n(first error: {first[:500]})" if causes else "")


def quote(value: str) -> str:
    """A Flink SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class StatementResult:
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    job_id: str | None = None


class SqlGateway:
    """One gateway session (`with SqlGateway(url) as gw: gw.execute(...)`)."""

    def __init__(self, url: str, *, timeout: float = 120.0, properties: dict[str, str] | None = None,
                 session_name: str = "patternalarm") -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()
        self._properties = properties or {}
        self._name = session_name
        self.session: str | None = None

    # --- plumbing --------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        try:
            response = self._http.request(method, f"{self.url}{path}", timeout=30, **kwargs)
        except requests.RequestException as exc:
            raise GatewayError(f"SQL Gateway at {self.url} unreachable: {exc}", unreachable=True) from exc
        try:
            payload = response.json() if response.content else {}
        except ValueError:
            payload = {"errors": [response.text]}
        if response.status_code >= 400:
            raise GatewayError(_root_cause(payload))
        return payload

    def open(self) -> SqlGateway:
        if self.session is None:
            body = {"sessionName": self._name, "properties": self._properties}
            self.session = self._call("POST", "/v3/sessions", json=body)["sessionHandle"]
        return self

    def close(self) -> None:
        if self.session is not None:
            try:
                self._call("DELETE", f"/v3/sessions/{self.session}")
            except GatewayError:
                pass
            self.session = None
        self._http.close()

    def __enter__(self) -> SqlGateway:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- statements ------------------------------------------------------------------------------
    def execute(self, statement: str, *, timeout: float | None = None, max_rows: int = 10_000) -> StatementResult:
        """Run one statement and collect its result (bounded by ``timeout`` and ``max_rows``)."""
        self.open()
        base = f"/v3/sessions/{self.session}"
        op = self._call("POST", f"{base}/statements", json={"statement": statement})["operationHandle"]
        deadline = time.monotonic() + (timeout or self.timeout)
        result = StatementResult()
        uri: str | None = f"{base}/operations/{op}/result/0?rowFormat=JSON"
        while uri:
            if time.monotonic() > deadline:
                self._cancel(base, op)
                raise GatewayError(f"statement did not finish within {timeout or self.timeout:.0f}s: {statement[:200]}")
            page = self._call("GET", uri)
            kind = page.get("resultType")
            if kind == "NOT_READY":
                time.sleep(0.2)
                continue
            result.job_id = result.job_id or page.get("jobID")
            data = page.get("results") or {}
            if not result.columns:
                result.columns = [c["name"] for c in data.get("columns", [])]
            result.rows += [row.get("fields", []) for row in data.get("data", [])]
            if kind == "EOS" or len(result.rows) >= max_rows or result.job_id:
                break
            next_uri = page.get("nextResultUri")
            uri = next_uri if next_uri and next_uri.startswith("/") else (f"/{next_uri}" if next_uri else None)
        if result.job_id is None and result.columns == ["job id"] and result.rows:
            result.job_id = result.rows[0][0]
        self._close_operation(base, op)
        return result

    def set(self, key: str, value: str) -> None:
        self.execute(f"SET {quote(key)} = {quote(value)}")

    def reset(self, key: str) -> None:
        self.execute(f"RESET {quote(key)}")

    def _cancel(self, base: str, op: str) -> None:
        try:
            self._call("POST", f"{base}/operations/{op}/cancel")
        except GatewayError:
            pass

    def _close_operation(self, base: str, op: str) -> None:
        try:
            self._call("DELETE", f"{base}/operations/{op}/close")
        except GatewayError:
            pass
