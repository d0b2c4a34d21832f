"""Backtesting on the real stack: a seeded labelled history with a few ×5 cards through
``bin/patternalarm backtest --json`` and through the ``backtest_rules`` DAG (``airflow dags test``), its
report served by the plugin in a real api-server behind Airflow's login — and the live topics and jobs
untouched.

The history is built so that the plain threshold (``large_amount``, set by ``--param``) must find exactly
the injected rows: normal cards spend 10–80 × [0.7, 1.5] (at most 120), the injected cards 70–80, and on a
third of their auths after the first third of the file ×5 (at least 245); the threshold is 200.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from include.patternalarm.flink.rest import FlinkRest
from include.patternalarm.rules import pipeline_name
from include.patternalarm.settings import Settings
from include.patternalarm.stack import airflow as airflow_stack
from include.patternalarm.topics import EVENTS
from tests.support import own_api_server, wait_until

DAG_ID = "backtest_rules"
ROWS = 8_000
CARDS = 300
INJECTED = 6
THRESHOLD = 200
MAPPING = ["--key", "card", "--time", "ts", "--label", "fraud", "--map", "event_id=tx", "--map", "account_id=card",
           "--map", "merchant_id=terminal", "--map", "amount=amount", "--set", "event_type=auth"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], int]:
    """The CSV, the injected cards and the number of ×5 rows (seeded)."""
    rng = random.Random(13)
    cards = [f"card-{i:03d}" for i in range(CARDS)]
    injected = set(rng.sample(cards, INJECTED))
    scale = {c: rng.uniform(70, 80) if c in injected else rng.uniform(10, 80) for c in cards}
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    path = tmp_path_factory.mktemp("backtest") / "history.csv"
    bad = 0
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["tx", "ts", "card", "terminal", "amount", "fraud"])
        for i in range(ROWS):
            card = rng.choice(cards)
            amount = scale[card] * rng.uniform(0.7, 1.5)
            fraud = card in injected and i > ROWS // 3 and rng.random() < 1 / 3
            bad += fraud
            when = (t0 + timedelta(seconds=30 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.writerow([f"tx-{i}", when, card, f"term-{rng.randrange(40)}", f"{amount * (5 if fraud else 1):.2f}",
                          int(fraud)])
    return path, injected, bad


def _live(settings: Settings) -> dict[str, Any]:
    """What a backtest must not touch: the domain's live jobs and the end offsets of its event topic."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    topic = EVENTS["payments"]
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    ends = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in partitions}, request_timeout=10)
    with FlinkRest(settings.flink_rest) as rest:
        jobs = sorted(j.id for j in rest.jobs() if j.name == pipeline_name("payments"))
    return {"jobs": jobs, "offsets": {tp.partition: f.result(10).offset for tp, f in ends.items()}}


def _leftovers(settings: Settings, tag: str) -> dict[str, list[str]]:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"backtest.{tag}.")]
    with FlinkRest(settings.flink_rest) as rest:
        jobs = [j.id for j in rest.jobs() if j.name.startswith(f"backtest-{tag}-") and j.active]
    return {"topics": topics, "jobs": jobs}


@pytest.fixture(scope="module")
def cli_result(stack_settings: Settings, history: tuple[Path, set[str], int]) -> Iterator[dict[str, Any]]:
    path, _, _ = history
    before = _live(stack_settings)
    done = subprocess.run(
        [str(stack_settings.repo_root / "bin" / "patternalarm"), "backtest", str(path), "--domain", "payments",
         *MAPPING, "--only", "large_amount,amount_anomaly", "--param", f"large_amount.min_amount={THRESHOLD}",
         "--compare-param", "large_amount.min_amount=100000", "--json"],
        capture_output=True, text=True, timeout=900, cwd=stack_settings.repo_root)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    result["_live_before"], result["_live_after"] = before, _live(stack_settings)
    result["_progress"] = done.stderr
    yield result


def test_the_injected_cards_are_found_by_the_threshold(cli_result: dict[str, Any],
                                                       history: tuple[Path, set[str], int]) -> None:
    _, injected, bad = history
    result = cli_result
    assert (result["rows"], result["positives"], result["positive_entities"]) == (ROWS, bad, INJECTED)
    large = result["candidate"]["rules"]["large_amount"]
    assert large["row"] == {"tp": bad, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert large["entity"]["tp"] == INJECTED and large["entity"]["fp"] == 0
    assert large["alert_ids"] == bad and large["alerts_on_no_file_row"] == 0
    # the threshold fires on the first ×5 auth of every injected card
    assert large["time_to_first_alert"] == {"count": INJECTED, "median_s": 0.0, "p90_s": 0.0}
    assert large["precision_at_k"]["10"] == INJECTED / 10
    alerted = {a["entity"] for a in result["candidate"]["top_alerts"] if a["rule_id"] == "large_amount"}
    assert alerted <= injected and all(a["labelled"] for a in result["candidate"]["top_alerts"]
                                       if a["rule_id"] == "large_amount")
    assert result["candidate"]["overall"]["entity"]["recall"] == 1.0
    assert set(result["candidate"]["rule_ids"]) == {"large_amount", "amount_anomaly"}


def test_the_baseline_runs_beside_it_with_its_own_parameters(cli_result: dict[str, Any]) -> None:
    baseline = cli_result["baseline"]
    assert baseline["overrides"] == {"large_amount": {"min_amount": "100000"}}
    assert baseline["rules"]["large_amount"]["alert_ids"] == 0
    assert baseline["catalog_version"] == cli_result["candidate"]["catalog_version"]
    # the same history through the same amount_anomaly rule: the same alerts
    assert baseline["rules"]["amount_anomaly"] == cli_result["candidate"]["rules"]["amount_anomaly"]
    for name in ("candidate", "baseline"):
        run = cli_result[name]
        assert run["job_seconds"] > 0 and run["events_per_s"] > 0 and run["dead_lettered_by_job"] == {}
    assert cli_result["replay"]["events"] == ROWS and cli_result["replay"]["edge_dead_letters"] == {}
    assert set(cli_result["durations_s"]) >= {"read_labels", "replay", "submit", "start", "process", "collect",
                                               "score", "report"}


def test_the_live_topics_and_jobs_are_untouched_and_nothing_is_left(cli_result: dict[str, Any],
                                                                   stack_settings: Settings) -> None:
    assert cli_result["_live_after"] == cli_result["_live_before"]
    assert _leftovers(stack_settings, cli_result["tag"]) == {"topics": [], "jobs": []}
    folder = Path(cli_result["report_dir"])
    assert json.loads((folder / "result.json").read_text())["tag"] == cli_result["tag"]
    assert "large_amount" in (folder / "index.html").read_text()
    assert (folder / "precision_at_k.png").stat().st_size > 5000


def _token(base: str, settings: Settings) -> str:
    response = requests.post(f"{base}/auth/token", timeout=10, json={
        "username": settings.airflow_admin_user, "password": settings.secret("airflow_admin_password")})
    response.raise_for_status()
    return response.json()["access_token"]


def test_the_dag_runs_it_and_the_plugin_serves_the_report(stack_settings: Settings,
                                                          history: tuple[Path, set[str], int]) -> None:
    settings = stack_settings
    path, _, bad = history
    conf = {"file": str(path), "domain": "payments", "label": "fraud", "key": "card", "time": "ts",
            "map": ["event_id=tx", "account_id=card", "merchant_id=terminal", "amount=amount"],
            "set": ["event_type=auth"], "only": ["large_amount"], "params": [f"large_amount.min_amount={THRESHOLD}"]}
    env = {**os.environ, **airflow_stack.environment(settings)}
    done = subprocess.run([str(settings.venv_dir / "bin" / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(conf)],
                          env=env, capture_output=True, text=True, timeout=900, cwd=settings.repo_root)
    output = done.stdout + done.stderr
    assert "DagRun Finished: dag_id=backtest_rules" in output and "state=success" in output, output[-4000:]
    assert "large_amount" in output and "row P/R" in output, "the per-rule table is in the task log"

    api = settings.airflow_api
    headers = {"Authorization": f"Bearer {airflow_stack.api_token(settings)}"}
    runs = requests.get(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", headers=headers, timeout=10,
                        params={"order_by": "-start_date", "limit": 20}).json()["dag_runs"]
    run = next(r for r in runs if (r.get("conf") or {}).get("file") == str(path))
    xcom = f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/backtest/xcomEntries"
    report_path = requests.get(f"{xcom}/report_path", headers=headers, timeout=10).json()["value"]
    report_url = requests.get(f"{xcom}/report_url", headers=headers, timeout=10).json()["value"]
    folder = Path(report_path).parent
    result = json.loads((folder / "result.json").read_text())
    assert result["airflow"]["run_id"] == run["dag_run_id"] and "baseline" not in result
    assert result["candidate"]["rules"]["large_amount"]["row"]["tp"] == bad
    assert report_url.endswith(f"/patternalarm-backtests/{folder.name}/index.html")

    with own_api_server(settings, settings.log_dir / "api-server-backtest-test.log") as base:
        pages = ["/", f"/{folder.name}/index.html", f"/{folder.name}/result.json", f"/{folder.name}/report.css",
                 f"/{folder.name}/alerts_per_rule.png"]
        for page in pages:
            anonymous = requests.get(f"{base}/patternalarm-backtests{page}", timeout=10, allow_redirects=False)
            assert anonymous.status_code == 401, (page, anonymous.status_code)
        token = _token(base, settings)
        listing = requests.get(f"{base}/patternalarm-backtests/", cookies={"_token": token}, timeout=30)
        assert listing.status_code == 200 and f"{folder.name}/index.html" in listing.text
        report = requests.get(f"{base}/patternalarm-backtests/{folder.name}/index.html", timeout=30,
                              headers={"Authorization": f"Bearer {token}"})
        assert report.status_code == 200 and "large_amount" in report.text and "manual__" in report.text
        assert "default-src 'none'" in report.headers["content-security-policy"]
        image = requests.get(f"{base}/patternalarm-backtests/{folder.name}/precision_at_k.png", timeout=30,
                             cookies={"_token": token})
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
        plugin = next(p for p in requests.get(f"{base}/api/v2/plugins", timeout=10, headers={
            "Authorization": f"Bearer {token}"}).json()["plugins"] if p["name"] == "patternalarm")
        assert {"name": "Backtests", "href": "patternalarm-backtests/", "destination": "nav",
                "category": "browse", "url_route": "backtests"}.items() <= next(
            v for v in plugin["external_views"] if v.get("url_route") == "backtests").items()


@pytest.mark.parametrize(("conf", "field"), [
    ({"dataset": "no-such-set"}, "dataset"),
    ({"parallelism": 9}, "parallelism"),
    ({"params": ["no equals sign"]}, "params"),
    ({"domain": "crypto"}, "domain"),
])
def test_wrong_params_are_refused_before_a_run_exists(stack_settings: Settings, conf: dict[str, Any],
                                                      field: str) -> None:
    api = stack_settings.airflow_api
    headers = {"Authorization": f"Bearer {airflow_stack.api_token(stack_settings)}"}
    wait_until(lambda: requests.get(f"{api}/api/v2/dags/{DAG_ID}", headers=headers, timeout=10).ok, timeout=120,
               what=f"{DAG_ID} parsed by the dag-processor")
    response = requests.post(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", headers=headers, timeout=10,
                             json={"logical_date": None, "conf": conf})
    assert response.status_code == 400, response.text
    assert field in response.text
