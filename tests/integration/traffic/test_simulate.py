"""The simulator against the real Kafka and PostgreSQL: same seed → same events; every injected
instance in ground_truth; bad events produced as labelled; the CLI's output and its errors."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections import Counter
from dataclasses import replace

import orjson
import psycopg
import pytest

from include.patternalarm.events import decode_event, parse_event_time
from include.patternalarm.settings import Settings
from include.patternalarm.simulator import SimulationConfig, SimulationSummary, run_simulation
from tests.support import unique, wait_until
from tests.unit.traffic.scenario_fixtures import FACTORIES

BIN = "bin/patternalarm"


def _read(settings: Settings, topics: dict[str, str], count: int) -> list[tuple[str, bytes, bytes]]:
    """Every message of the run's topics: (domain, key, value)."""
    out: list[tuple[str, bytes, bytes]] = []
    by_topic = {t: d for d, t in topics.items()}
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("test-traffic"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(list(topics.values()))
    try:
        def enough() -> bool:
            for msg in consumer.consume(5000, timeout=0.5):
                if not msg.error():
                    out.append((by_topic[msg.topic()], msg.key(), msg.value()))
            return len(out) >= count

        wait_until(enough, timeout=90, interval=0.0, what=f"{count} events on the run's topics")
        extra = consumer.consume(1000, timeout=1.0)  # nothing beyond what the run reported
        assert not [m for m in extra if not m.error()]
    finally:
        consumer.close()
    return out


def _run(settings: Settings, config: SimulationConfig) -> SimulationSummary:
    summary = run_simulation(settings, config, factories=FACTORIES)
    assert summary.status == "finished", summary.errors
    assert summary.failed == 0 and summary.undelivered == 0
    assert summary.delivered == summary.events_sent
    return summary


def test_same_seed_same_events_and_every_instance_in_ground_truth(stack_settings: Settings, event_topics) -> None:
    seed = random.randrange(1, 2**31)
    base = SimulationConfig(seed=seed, clock="virtual", rate=250.0, events=4000, bad_ratio=0.05,
                            scenario_interval_s=2.0, scenario_settle_s=1.0, topics=event_topics())
    first = _run(stack_settings, base)
    second = _run(stack_settings, replace(base, topics=event_topics(), workers=2))
    assert first.events_sent == second.events_sent > 4000
    events1 = _read(stack_settings, base.topics, first.events_sent)
    events2 = _read(stack_settings, second.topics, second.events_sent)
    assert Counter(events1) == Counter(events2)

    # ground truth: one row per injected scenario and per bad event, pointing at what was produced
    assert first.scenarios_injected >= 12 and first.bad_events > 100, first
    with psycopg.connect(stack_settings.db_conninfo("reporting")) as conn:
        rows = conn.execute(
            "SELECT scenario_id, kind, rule_id, variant, domain, entity, should_alert, first_event_time, "
            "last_event_time, completing_event_id, completing_event_time, event_ids, detail "
            "FROM ground_truth WHERE run_id = %s", (first.run_id,)).fetchall()
        run = conn.execute("SELECT status, seed, clock, summary FROM sim_runs WHERE run_id = %s",
                           (first.run_id,)).fetchone()
    assert run[:3] == ("finished", seed, "virtual") and run[3]["events_sent"] == first.events_sent
    assert len(rows) == first.ground_truth_rows == first.scenarios_injected + first.bad_events
    assert sum(1 for r in rows if r[1] == "scenario") == first.scenarios_injected
    produced: dict[str, list[tuple[str, bytes, bytes]]] = {}
    for domain, key, value in events1:
        event_id = value[13:].split(b'"', 1)[0].decode()
        produced.setdefault(event_id, []).append((domain, key, value))
    for sid, kind, rule, variant, domain, entity, should, first_t, last_t, comp_id, _comp_t, ids, detail in rows:
        copies = [produced[i] for i in ids]
        assert all(c[0][0] == domain and c[0][1] == entity.encode() for c in copies), sid
        if kind == "scenario":
            assert rule in FACTORIES and should == (variant == "fires")
            times = [parse_event_time(orjson.loads(c[0][2])["event_time"]) for c in copies]
            assert (first_t.timestamp() * 1000, last_t.timestamp() * 1000) == (min(times), max(times))
            assert (comp_id is not None) == should
        elif kind == "malformed":
            assert decode_event(copies[0][0][2], domain)[1].reason == variant == detail["expected_reason"]
        elif kind == "duplicate":
            # the original and its copies (a duplicate slot may repeat the same original twice)
            assert len(copies[0]) >= 2 and len({c[2] for c in copies[0]}) == 1
        else:
            assert kind == "late" and variant in ("late", "out_of_order")


def test_live_clock_same_seed_same_events_but_times(stack_settings: Settings, event_topics) -> None:
    seed = random.randrange(1, 2**31)
    base = SimulationConfig(seed=seed, clock="live", rate=2000.0, events=2000, bad_ratio=0.0,
                            scenario_interval_s=0.5, scenario_settle_s=0.5, topics=event_topics())
    first = _run(stack_settings, base)
    second = _run(stack_settings, replace(base, topics=event_topics()))
    assert first.events_sent == second.events_sent
    assert first.elapsed_s >= 0.9  # paced: 2000 events at 2000/s

    def strip(events: list[tuple[str, bytes, bytes]]) -> tuple[Counter, dict[str, float]]:
        """What a seed fixes under the live clock: ids, entities, kinds and amounts; positions, matches,
        battery and the daily cycle of sensor values follow the real clock (functions of event time)."""
        out: Counter = Counter()
        readings: dict[str, float] = {}
        for domain, key, value in events:
            event = orjson.loads(value)
            sent = parse_event_time(event["event_time"])
            assert abs(sent - parse_event_time(first.started_at)) < 60_000  # stamped at send time
            kind = event.get("event_type") or event.get("action")
            out[(domain, key, event["event_id"], kind, event.get("amount"))] += 1
            if kind == "reading":
                readings[event["event_id"]] = event["value"]
        return out, readings

    one, one_values = strip(_read(stack_settings, base.topics, first.events_sent))
    two, two_values = strip(_read(stack_settings, second.topics, second.events_sent))
    assert one == two and one_values.keys() == two_values.keys() and len(one_values) > 100
    # sensor values: the seed's noise plus a daily cycle (≤ 0.12 sigma) that moved a little between the
    # runs: equal but for a rare rounding step (0.01, or a 0.5 grid step)
    moved = [abs(v - two_values[i]) for i, v in one_values.items() if v != two_values[i]]
    assert len(moved) <= 0.05 * len(one_values) and all(d <= 0.5 + 1e-9 for d in moved), moved


def test_cli_json_summary_and_parameter_errors(stack_settings: Settings, event_topics) -> None:
    topics = event_topics()
    out = subprocess.run(
        [BIN, "simulate", "--domain", "payments", "--rate", "max", "--events", "3000", "--seed", "7",
         "--no-scenarios", "--no-ground-truth", "--bad-ratio", "0.1", "--topic", f"payments={topics['payments']}",
         "--json", "--quiet"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["events_sent"] == 3000 and summary["delivered"] == 3000
    assert summary["per_domain"] == {"payments": 3000 - summary["bad_events"]} and summary["bad_events"] > 100
    assert summary["domains"] == ["payments"] and summary["ground_truth_rows"] == 0
    for args, message in [
        (["--rate", "fast"], "cannot read rate"),
        (["--spike", "10x"], "cannot read spike"),
        (["--workers", "3"], "workers must be 1, 2 or 4"),
        (["--domain", "banking"], "banking"),
        (["--clock", "virtual", "--rate", "max"], "give a rate"),
        (["--duration", "soon"], "cannot read duration"),
        (["--topic", "payments"], "DOMAIN=TOPIC"),
        (["--bad-ratio", "0.9"], "less than or equal to 0.5"),
        (["--rules", "card_testing,nope"], "no scenario factory for rule(s) ['nope']"),
    ]:
        bad = subprocess.run([BIN, "simulate", "--events", "10", "--no-ground-truth", *args],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2, (args, bad.stdout, bad.stderr)
        assert message in bad.stderr.replace("\n", " ").replace("│", ""), (args, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_missing_topic_is_a_clear_error(stack_settings: Settings) -> None:
    from include.patternalarm.topics import EVENTS

    config = SimulationConfig(seed=1, events=10, record_ground_truth=False,
                              topics={**EVENTS, "iot": "test.traffic.does-not-exist"})
    began = time.monotonic()
    with pytest.raises(RuntimeError, match="does-not-exist do not exist"):
        run_simulation(stack_settings, config)
    assert time.monotonic() - began < 30


def test_unreachable_broker_or_database_is_a_clear_error(stack_settings: Settings, event_topics) -> None:
    config = SimulationConfig(seed=1, events=10, scenarios=False, topics=event_topics())
    no_db = stack_settings.model_copy(update={"postgres_port": 1})
    with pytest.raises(RuntimeError, match="cannot reach PostgreSQL for the ground truth"):
        run_simulation(no_db, config)
    no_kafka = stack_settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    began = time.monotonic()
    with pytest.raises(RuntimeError, match=r"Kafka at 127\.0\.0\.1:1 is not reachable"):
        run_simulation(no_kafka, replace(config, record_ground_truth=False))
    assert time.monotonic() - began < 30
