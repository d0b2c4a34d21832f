"""Results of a validation run: one ``CheckResult`` per expectation, the run, and how they are told.

Pure (no GX import): ``check_result_from_gx`` reads the JSON form of a GX
``ExpectationValidationResult``; ``ValidationRun.failure_report()`` is the text a failed Airflow
task logs and a platform incident carries; ``store_run`` writes ``dq_runs`` + ``dq_results``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

STATUSES = ("passed", "failed", "error", "skipped")
#: a traceback's exception line: ``package.module.ErrorName: message``, not indented
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: \S")


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    suite: str
    expectation_type: str
    status: str  # passed | failed | error | skipped
    description: str
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    @property
    def broken(self) -> bool:
        return self.status in ("failed", "error")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def headline(self) -> str:
        """One line: what broke and how much."""
        if self.status == "error":
            return f"{self.check_id}: ERROR {self.detail.get('exception', 'the expectation could not run')}"
        if self.status == "skipped":
            return f"{self.check_id}: skipped ({self.detail.get('reason', '')})"
        if self.unexpected_count is not None and self.element_count:
            share = f" of {self.element_count:,} ({self.unexpected_percent or 0:.2f} %)"
        else:
            share = ""
        count = self.unexpected_count if self.unexpected_count is not None else "?"
        verb = "broke" if self.status == "failed" else "passed;"
        return f"{self.check_id}: {count}{share} row(s) {verb} {self.description}"

    def sample_lines(self, limit: int = 5) -> list[str]:
        """The offending rows, ``key=value`` each (keys first, as the checks select them)."""
        lines = []
        for row in self.sample[:limit]:
            if isinstance(row, dict):
                lines.append(", ".join(f"{k}={_short(v)}" for k, v in row.items()))
            else:
                lines.append(_short(row))
        if len(self.sample) > limit:
            lines.append(f"… {len(self.sample) - limit} more in dq_results.sample")
        return lines


def _short(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _sample_from(result: dict[str, Any]) -> list[dict[str, Any]]:
    details = result.get("details") or {}
    if isinstance(details, dict) and details.get("unexpected_rows") is not None:
        return list(details["unexpected_rows"])
    if result.get("partial_unexpected_index_list"):
        return list(result["partial_unexpected_index_list"])
    if result.get("partial_unexpected_list"):
        return [{"value": v} for v in result["partial_unexpected_list"]]
    return []


def _exception_message(info: dict[str, Any]) -> str | None:
    """GX reports an exception either flat (``raised_exception``) or per failed metric (a dict of those)."""
    entries = [info] if "raised_exception" in info or "exception_traceback" in info else [
        v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception") or entry.get("exception_traceback"):
            text = (entry.get("exception_message") or "").strip()
            if not text:  # metric errors carry only the traceback: its first exception line is the cause
                lines = (entry.get("exception_traceback") or "").splitlines()
                errors = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]
                text = (errors[0] if errors else next((ln for ln in reversed(lines) if ln.strip()), "exception"))
            return text.splitlines()[0][:500]
    return None


def check_result_from_gx(raw: dict[str, Any], *, suite: str) -> CheckResult:
    """A ``CheckResult`` from ``ExpectationValidationResult.to_json_dict()``."""
    config = raw.get("expectation_config") or {}
    meta = config.get("meta") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k not in ("batch_id",)}
    result = raw.get("result") or {}
    exception = raw.get("exception_info") or {}
    check_id = meta.get("check_id") or f"{suite}.{config.get('type', 'unknown')}"
    description = config.get("description") or check_id
    detail: dict[str, Any] = {"kwargs": kwargs}
    message = _exception_message(exception)
    if message is not None:
        detail["exception"] = message
        return CheckResult(check_id, suite, config.get("type", "unknown"), "error", description, detail=detail)
    observed = result.get("observed_value")
    unexpected = result.get("unexpected_count")
    if unexpected is None and isinstance(observed, int) and "details" in result:
        unexpected = observed  # a SQL check: the number of rows its query returned
    return CheckResult(
        check_id=check_id,
        suite=suite,
        expectation_type=config.get("type", "unknown"),
        status="passed" if raw.get("success") else "failed",
        description=description,
        element_count=result.get("element_count"),
        unexpected_count=unexpected,
        unexpected_percent=result.get("unexpected_percent"),
        observed_value=observed,
        sample=_sample_from(result),
        detail=detail,
    )


@dataclass
class ValidationRun:
    """One validation of the incident tables: what was looked at and what each check found."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    scope: dict[str, Any]  # schema, window, filters, thresholds, traffic
    results: list[CheckResult]
    docs: dict[str, str] = field(default_factory=dict)  # suite → Data Docs page (path or URL)
    report_path: str | None = None
    suite_seconds: dict[str, float] = field(default_factory=dict)  # how long each suite took

    @property
    def evaluated(self) -> list[CheckResult]:
        return [r for r in self.results if r.status != "skipped"]

    @property
    def broken(self) -> list[CheckResult]:
        return [r for r in self.results if r.broken]

    @property
    def skipped(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def success(self) -> bool:
        return not self.broken

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def failure_report(self, rows_per_check: int = 5) -> str:
        """What broke, with the offending rows, for a task log or an incident."""
        if self.success:
            return (f"data quality run {self.run_id}: all {len(self.evaluated)} expectations passed"
                    + (f" ({len(self.skipped)} skipped)" if self.skipped else ""))
        lines = [f"data quality run {self.run_id}: {len(self.broken)} of {len(self.evaluated)} expectations failed"]
        for r in self.broken:
            lines.append(f"- {r.headline()}")
            lines.extend(f"    {line}" for line in r.sample_lines(rows_per_check))
        if self.report_path:
            lines.append(f"report: {self.report_path}")
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (XCom, summary.json, the incident's details)."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "success": self.success,
            "evaluated": len(self.evaluated),
            "failed": len(self.broken),
            "skipped": len(self.skipped),
            "failed_checks": [r.check_id for r in self.broken],
            "scope": self.scope,
            "report_path": self.report_path,
            "docs": self.docs,
            "suite_seconds": self.suite_seconds,
        }


INSERT_RUN = (
    "INSERT INTO dq_runs (run_id, started_at, finished_at, success, evaluated, failed, skipped, scope, "
    "report_path, dag_id, dag_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
)
INSERT_RESULT = (
    "INSERT INTO dq_results (run_id, check_id, suite, expectation_type, status, description, element_count, "
    "unexpected_count, unexpected_percent, observed_value, sample, detail) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)"
)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def store_run(conn: Any, run: ValidationRun, *, dag_id: str | None = None, dag_run_id: str | None = None) -> None:
    """Write the run and its results in one transaction (any DB-API connection: psycopg 2 or 3)."""
    with conn.cursor() as cur:
        cur.execute(INSERT_RUN, (
            run.run_id, run.started_at, run.finished_at, run.success, len(run.evaluated), len(run.broken),
            len(run.skipped), _json(run.scope), run.report_path, dag_id, dag_run_id,
        ))
        cur.executemany(INSERT_RESULT, [(
            run.run_id, r.check_id, r.suite, r.expectation_type, r.status, r.description, r.element_count,
            r.unexpected_count, r.unexpected_percent,
            None if r.observed_value is None else _json(r.observed_value), _json(r.sample), _json(r.detail),
        ) for r in run.results])
    conn.commit()
