"""The demo's closing output: the deployment is a line of its own, tables fit 80 columns."""

from __future__ import annotations

import pytest
from rich.console import Console

from include.patternalarm.cli import demo, stack


def _report() -> dict:
    latency = {"p50": 2.1, "p95": 4.4, "p99": 7.4}
    rule = {"fires": 3, "detected": 3, "recall": 1.0, "precision": 1.0, "false_positives": 0, "latency_s": latency}
    return {
        "deployment": {"deployed": ["payments", "gaming", "iot"], "run_id": "manual__2026-12-02T10:50:55+00:00",
                       "seconds": 239.4},
        "score": {"alert_source": "db", "rules": {"impossible_travel": rule, "missing_heartbeat": rule},
                  "total": {**rule, "fires": 6, "detected": 6}},
        "run": {"run_id": "sim-20261202T105454-demo8d01", "events_sent": 101936, "elapsed_s": 120.0,
                "achieved_rate": 849.0, "scenarios_injected": 139},
        "dead_lettered": 0, "late": 0, "drained_s": 90.0, "report_file": "/very/long/path/" + "x" * 60 + ".json",
    }


def test_the_summary_starts_on_its_own_line_and_fits_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Console(width=80, record=True, color_system=None)
    monkeypatch.setattr(demo, "console", out)
    monkeypatch.setattr(stack, "console", out)
    demo._summary(_report())
    lines = out.export_text().splitlines()
    assert lines[0].startswith("summary ─")
    assert lines[1].startswith("detection jobs: deployed payments, gaming, iot through deploy_detection_jobs in")
    assert lines[2].startswith("239s (run manual__")
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("impossible_travel") for line in lines)
    assert any("Incident console" in line for line in lines) and any("x" * 40 in line for line in lines)


@pytest.mark.parametrize(("deployment", "text"), [({}, "not deployed by this run"),
                                                  ({"deployed": [], "run_id": None}, "already running")])
def test_the_deployment_line_says_what_happened(deployment: dict, text: str) -> None:
    assert text in demo._deployment_line(deployment)
