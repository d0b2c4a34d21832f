"""End to end: the simulator injects labelled scenarios among background traffic into a job of our
own, and `score` finds every "fires" instance, no false positive, and a latency distribution."""

from __future__ import annotations

import json
import subprocess
import time

from tests.integration.detection.conftest import DetectionJob

DOMAIN = "payments"
REPO_BIN = "bin/patternalarm"


def test_score_of_a_simulated_run(detection_job: DetectionJob) -> None:
    sim = subprocess.run(
        [REPO_BIN, "simulate", "--domain", DOMAIN, "--rules", "card_testing,structuring", "--topic",
         f"{DOMAIN}={detection_job.topics.source}", "--duration", "75s", "--rate", "60/s",
         "--scenario-interval", "20s", "--seed", str(int(time.time()) % 100000), "--json", "--quiet"],
        capture_output=True, text=True, timeout=180)
    assert sim.returncode == 0, sim.stderr[-2000:]
    run_id = json.loads(sim.stdout)["run_id"]
    # background traffic has stopped: move the watermark past the run's last events
    detection_job.advance(int(time.time() * 1000) + 5_000)
    out = {}
    for _ in range(20):  # the last alerts need a moment to reach the topic after the flush
        result = subprocess.run([REPO_BIN, "score", "--run", run_id, "--source", "kafka", "--alerts-topic",
                                 detection_job.topics.alerts, "--json"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        out = json.loads(result.stdout)
        rules = out["rules"]
        if all(rules.get(r, {}).get("recall") == 1.0 for r in ("card_testing", "structuring")):
            break
        time.sleep(3)  # polling the topic through the CLI; bounded by the loop
    rules = out["rules"]
    for rule in ("card_testing", "structuring"):
        assert rules[rule]["fires"] >= 1, rules[rule]
        assert rules[rule]["recall"] == 1.0, rules[rule]
        assert rules[rule]["precision"] == 1.0, rules[rule]
        assert rules[rule]["near_miss_alerts"] == 0 and rules[rule]["background_alerts"] == 0
    latency = out["total"]["latency_s"]
    assert latency["n"] >= 2 and 0 < latency["p50"] < 15, latency
    assert out["alert_source"] == "kafka" and out["runs"] == [run_id]
