"""The main job (the README's first command) end to end, shortened to one minute of traffic."""

from __future__ import annotations

import json
import subprocess

from include.patternalarm.settings import Settings


def test_main_job_runs_end_to_end_and_detects(stack_settings: Settings) -> None:
    done = subprocess.run(["bin/patternalarm", "demo", "--minutes", "1", "--json"], capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    report = json.loads(done.stdout[done.stdout.index("{"):])
    assert report["errors"] == []
    run = report["run"]
    assert run["status"] == "finished" and run["events_sent"] > 0 and run["scenarios_injected"] > 0
    total = report["score"]["total"]
    assert sum(report["alerts_by_rule"].values()) > 0, "no alert reached the incident store"
    assert total["fires"] > 0 and total["detected"] > 0
    assert total["recall"] > 0
    assert report["score"]["alert_source"] == "db", "alerts must be scored from the incident store"
    assert report["report_file"].endswith(".json")
    with open(report["report_file"]) as fh:
        assert json.load(fh)["run"]["run_id"] == run["run_id"]
