"""The incident sink on real Kafka and PostgreSQL: storing and grouping, duplicates and replays, dead
letters, SIGKILL mid-batch, a database outage, its status endpoint — each on the test's own topic,
group and sink process, so the shared sink is never disturbed."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from include.patternalarm.alerts import MAX_ALERT_BYTES
from include.patternalarm.incidents import group_lag
from include.patternalarm.incidents.process import SinkProcess
from include.patternalarm.incidents.synthetic import synthetic_alert
from include.patternalarm.settings import Settings
from include.patternalarm.topics import ALERTS
from tests.integration.incidents.tcpproxy import TcpProxy
from tests.support import consume, unique, wait_until

Publish = Callable[..., None]


def _alerts(rule: str, count: int, entities: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(minutes=5)
    return [synthetic_alert(rule, f"ent-{i % entities}", f"{rule}-ev{i}", severity=("low", "high")[i % 2],
                            first_event_time=start + timedelta(milliseconds=10 * i), span=timedelta(seconds=1))
            for i in range(count)]


def _count(settings: Settings, rule: str) -> int:
    with psycopg.connect(settings.db_conninfo("reporting")) as conn:
        return conn.execute("SELECT count(*) FROM alerts WHERE rule_id = %s", (rule,)).fetchone()[0]


def _stored_ids(settings: Settings, rule: str) -> list[str]:
    with psycopg.connect(settings.db_conninfo("reporting")) as conn:
        return [r[0] for r in conn.execute("SELECT alert_id FROM alerts WHERE rule_id = %s", (rule,))]


def _check_tables_match(settings: Settings, rule: str, sent: list[dict[str, Any]]) -> None:
    """Exactly the distinct alerts sent; every one attached once; counts agree everywhere."""
    expected = {a["alert_id"] for a in sent}
    stored = _stored_ids(settings, rule)
    assert len(stored) == len(set(stored)) == len(expected)
    assert set(stored) == expected
    per_entity: dict[str, int] = {}
    for alert in {a["alert_id"]: a for a in sent}.values():
        per_entity[alert["entity"]] = per_entity.get(alert["entity"], 0) + 1
    with psycopg.connect(settings.db_conninfo("reporting")) as conn:
        incidents = conn.execute(
            "SELECT i.entity, i.alert_count, (SELECT count(*) FROM alerts a WHERE a.incident_id = i.incident_id), "
            "(SELECT count(*) FROM incident_events e WHERE e.incident_id = i.incident_id AND e.kind = 'alert_attached')"
            " FROM incidents i WHERE i.rule_id = %s", (rule,)).fetchall()
        orphans = conn.execute("SELECT count(*) FROM alerts WHERE rule_id = %s AND incident_id IS NULL",
                               (rule,)).fetchone()[0]
    assert orphans == 0
    assert {entity: count for entity, count, _, _ in incidents} == per_entity  # one incident per entity
    for entity, count, linked, attached in incidents:
        assert count == linked == attached, entity


def test_sink_stores_groups_skips_duplicates_and_dead_letters(stack_settings: Settings, topics, publish: Publish,
                                                              sinks) -> None:
    topic, dlq = topics(partitions=2), topics()
    rule = unique("test-sink")
    good = _alerts(rule, 30, entities=3)
    bad: list[tuple[bytes | dict[str, Any] | None, str]] = [
        (b"{not json", "malformed_json"),
        (None, "malformed_json"),
        ({k: v for k, v in _alerts(rule, 1, 1)[0].items() if k != "rule_id"}, "missing_field:rule_id"),
        ({**_alerts(rule, 1, 1)[0], "rule_version": "2"}, "wrong_type:rule_version"),
        ({**_alerts(rule, 1, 1)[0], "severity": "apocalyptic"}, "invalid_alert"),
        ({**_alerts(rule, 1, 1)[0], "domain": "casino"}, "unknown_domain"),
        ({**_alerts(rule, 1, 1)[0], "entity": "nul\u0000byte"}, "invalid_alert"),
        (b"x" * (MAX_ALERT_BYTES + 1), "oversized"),
    ]
    publish(topic, good[:20])
    for record, _ in bad:
        publish(topic, [record], key=b"bad-key")
    publish(topic, good[20:] + good[:5])  # 5 duplicates
    sink = sinks(topic=topic, group=unique("test-group"), dlq_topic=dlq)

    wait_until(lambda: _count(stack_settings, rule) == 30, timeout=60, what="30 stored alerts")
    dead = consume(stack_settings.bootstrap_servers, dlq, until=lambda m: len(m) >= len(bad), timeout=60)
    records = [json.loads(m.value()) for m in dead]
    assert sorted(r["reason"] for r in records) == sorted(reason for _, reason in bad)
    for record in records:
        assert record["source"] == "sink" and record["topic"] == topic and record["key"] == "bad-key"
        assert isinstance(record["offset"], int) and record["partition"] in (0, 1) and record["detail"]
        assert record["raw"] is None or len(record["raw"]) <= 4096
    oversized = next(r for r in records if r["reason"] == "oversized")
    assert oversized["raw_bytes"] == MAX_ALERT_BYTES + 1
    _check_tables_match(stack_settings, rule, good)

    status = wait_until(lambda: (s := sink.status())["lag"]["total"] == 0 and s, timeout=30, what="lag 0")
    assert status["counts"]["consumed"] == len(good) + 5 + len(bad)
    assert status["counts"]["stored"] == 30 and status["counts"]["duplicates"] == 5
    assert status["counts"]["dead_lettered"] == len(bad)
    assert status["state"] == "consuming" and status["healthy"]

    publish(topic, good)  # a full replay
    wait_until(lambda: sink.status()["counts"]["duplicates"] == 35, timeout=60, what="the replay to be read")
    _check_tables_match(stack_settings, rule, good)


def hostile_alerts(rule: str) -> list[tuple[dict[str, Any], str]]:
    """Alerts that pass nothing or that the database refuses, each with the dead-letter reason it must get."""
    rnd = random.Random(15)

    def astral(n: int) -> str:  # 4-byte UTF-8 characters that do not compress
        return "".join(chr(rnd.randint(0x10000, 0x10FFF)) for _ in range(n))

    base = _alerts(rule, 1, 1)[0]
    return [
        # converting to UTC overflows the year range: this used to raise OverflowError and crash the sink
        ({**base, "detected_at": "0001-01-01T00:00:00+01:00"}, "invalid_alert"),
        ({**base, "last_event_time": "9999-12-31T23:59:59-01:00"}, "invalid_alert"),
        # valid by the contract, but its index entry (rule_id, entity) exceeds PostgreSQL's limit: SQLSTATE
        # 54000, which psycopg files as an OperationalError, so the sink waited for the database forever
        (synthetic_alert(astral(200), astral(500), "ev-huge"), "unmappable_row"),
    ]


def test_hostile_alerts_are_dead_lettered_and_the_rest_of_their_batch_is_stored(
        stack_settings: Settings, topics, publish: Publish, sinks) -> None:
    topic, dlq = topics(), topics()
    rule = unique("test-hostile")
    good = _alerts(rule, 30, entities=3)
    hostile = hostile_alerts(rule)
    # good and hostile records interleaved, so each batch the sink reads mixes them
    publish(topic, [*good[:10], hostile[0][0], *good[10:20], hostile[1][0], hostile[2][0], *good[20:]])
    sink = sinks(topic=topic, group=unique("test-group"), dlq_topic=dlq, batch_size=500)

    wait_until(lambda: _count(stack_settings, rule) == 30, timeout=60, what="every good alert stored")
    dead = consume(stack_settings.bootstrap_servers, dlq, until=lambda m: len(m) >= len(hostile), timeout=60)
    records = [json.loads(m.value()) for m in dead]
    assert sorted(r["reason"] for r in records) == sorted(reason for _, reason in hostile)
    refused = next(r for r in records if r["reason"] == "unmappable_row")
    assert "54000" in refused["detail"] and "index row size" in refused["detail"]
    status = wait_until(lambda: (s := sink.status())["lag"]["total"] == 0 and s, timeout=30, what="lag 0")
    assert status["healthy"] and status["state"] == "consuming" and status["counts"]["db_errors"] == 0
    assert sink.proc is not None and sink.proc.poll() is None, "the sink process must still run"
    _check_tables_match(stack_settings, rule, good)


def test_sigkill_mid_batch_then_restart_loses_and_duplicates_nothing(stack_settings: Settings, topics,
                                                                      publish: Publish, sinks) -> None:
    topic = topics(partitions=4)
    group, rule = unique("test-group"), unique("test-kill")
    sent = _alerts(rule, 6000, entities=40)
    sent += sent[::10]  # at-least-once upstream: 10% sent twice
    publish(topic, sent)
    stored_at_kill = []
    for fraction in (0.15, 0.5):  # two kills at different points of the stream
        sink = sinks(topic=topic, group=group, batch_size=100)
        target = int(6000 * fraction)
        wait_until(lambda t=target: _count(stack_settings, rule) >= t, timeout=120, interval=0.02,
                   what=f"{target} stored alerts")
        sink.kill()
        stored_at_kill.append(_count(stack_settings, rule))
    assert all(n < 6000 for n in stored_at_kill), f"the kills came too late to be mid-stream: {stored_at_kill}"
    final = sinks(topic=topic, group=group, batch_size=100)
    wait_until(lambda: _count(stack_settings, rule) >= 6000 and final.status()["lag"]["total"] == 0,
               timeout=180, what="every alert stored after the restart")
    _check_tables_match(stack_settings, rule, sent)


def test_database_outage_waits_with_backoff_and_keeps_its_position(stack_settings: Settings, topics,
                                                                   publish: Publish, sinks) -> None:
    topic, group, rule = topics(partitions=2), unique("test-group"), unique("test-outage")
    proxy = TcpProxy(stack_settings.host, (stack_settings.pg_host, stack_settings.postgres_port)).restore()
    try:
        sink = sinks(topic=topic, group=group, env={"PATTERNALARM_POSTGRES_PORT": str(proxy.port)})
        sent = _alerts(rule, 40, entities=4)
        publish(topic, sent[:20])
        wait_until(lambda: _count(stack_settings, rule) == 20, timeout=60, what="the first 20 alerts")

        proxy.cut()  # the database goes away for this sink only
        publish(topic, sent[20:])
        waiting = wait_until(lambda: (s := sink.status())["state"] == "waiting_for_database"
                             and s["counts"]["db_errors"] >= 3 and s, timeout=60, what="the sink to wait and retry")
        assert not waiting["healthy"] and "retrying in" in waiting["detail"]
        assert _count(stack_settings, rule) == 20
        lag = group_lag(stack_settings.bootstrap_servers, group, topic)
        assert lag["total"] == 20  # nothing committed past what is stored: the position is kept

        proxy.restore()
        wait_until(lambda: _count(stack_settings, rule) == 40, timeout=90, what="the held alerts after recovery")
        recovered = wait_until(lambda: (s := sink.status())["healthy"] and s["lag"]["total"] == 0 and s,
                               timeout=30, what="healthy with lag 0")
        assert recovered["counts"]["stored"] == 40
        assert group_lag(stack_settings.bootstrap_servers, group, topic)["total"] == 0
        _check_tables_match(stack_settings, rule, sent)
    finally:
        proxy.cut()


def test_status_endpoint_serves_json_health_and_prometheus(stack_settings: Settings, topics, sinks) -> None:
    sink = sinks(topic=topics(), group=unique("test-group"))
    sink.wait_consuming(timeout=60)
    base = f"http://{stack_settings.host}:{sink.port}"
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
    assert "patternalarm_sink_up" in requests.get(f"{base}/metrics", timeout=5).text
    assert requests.get(f"{base}/status", timeout=5).json()["state"] == "consuming"
    assert requests.get(f"{base}/nope", timeout=5).status_code == 404


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--topic", "no.such.topic.for.sure", "--metrics-port", "-1"], 1, "does not exist"),
    (["--batch-size", "0"], 2, "batch-size"),
    (["--topic", "alerts", "--dlq-topic", "alerts", "--metrics-port", "-1"], 1, "must differ"),
    (["--metrics-port", "70000"], 1, "metrics-port"),
])
def test_sink_run_refuses_bad_options(stack_settings: Settings, args: list[str], code: int, message: str) -> None:
    result = subprocess.run(["bin/patternalarm", "sink", "run", *args], capture_output=True, text=True, timeout=60,
                            cwd=stack_settings.repo_root)
    assert result.returncode == code, result.stdout + result.stderr
    assert message in result.stdout + result.stderr


def test_the_stack_runs_the_shared_sink_on_the_alerts_topic(stack_settings: Settings, publish: Publish) -> None:
    rule = unique("test-shared-sink")
    sent = _alerts(rule, 5, entities=1)
    publish(ALERTS, sent)
    wait_until(lambda: _count(stack_settings, rule) == 5, timeout=60, what="the shared sink to store 5 alerts")
    _check_tables_match(stack_settings, rule, sent)
    result = subprocess.run(["bin/patternalarm", "sink", "status", "--json"], capture_output=True, text=True,
                            timeout=60, cwd=stack_settings.repo_root)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] and report["endpoint"]["group"] == "patternalarm-incident-sink"
    assert report["kafka_lag"]["topic"] == ALERTS


def test_sink_process_helper_reports_a_dying_sink(stack_settings: Settings, tmp_path: Path) -> None:
    process = SinkProcess(stack_settings, topic="no.such.topic.either", group=unique("g"),
                          log_path=tmp_path / "sink.log").start()
    try:
        with pytest.raises(RuntimeError, match="exited with 2"):
            process.wait_consuming(timeout=60)
    finally:
        process.stop()
