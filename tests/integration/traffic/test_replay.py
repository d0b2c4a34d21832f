"""Replay against the real Kafka: a generated CSV with a column mapping yields exactly the expected
events; rows that cannot be mapped land in events.dlq with their reason; Parquet and two workers give
the same events; pacing and re-timing (never ahead of the send); what the job dead-lettered is counted;
parameter errors."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.events import check_event, parse_event_time
from include.patternalarm.replay import ReplayConfig, run_replay
from include.patternalarm.settings import Settings
from include.patternalarm.topics import DLQ
from tests.support import unique, wait_until

BIN = "bin/patternalarm"
T0 = 1_767_571_200_000
COLUMNS = ["ts", "card", "acct", "type", "amt", "cur", "cc", "chan", "result"]
MAP = {"account_id": "acct", "event_type": "type", "amount": "amt", "currency": "cur", "country": "cc",
       "channel": "chan", "auth_result": "result"}
# row number (1-based, data rows) → (cells, expected dead-letter reason)
BAD = {
    7: (["2026-01-05T00:00:07Z", "{card}", "a7", "auth", "12,50", "EUR", "FR", "ecommerce", "approved"],
        "wrong_type:amount"),
    11: (["not a time", "{card}", "a11", "auth", "5", "EUR", "FR", "ecommerce", "approved"], "bad_event_time"),
    13: (["1767571213000", "", "a13", "auth", "5", "EUR", "FR", "ecommerce", "approved"], "missing_field:card_id"),
    17: (["1767571217000", "{card}", "a17", "teleport", "5", "EUR", "FR", "ecommerce", "approved"],
         "wrong_type:event_type"),
    19: (["1767571219000", "{card}", "a19", "auth", "5", "EUR", "France", "ecommerce", "approved"],
         "wrong_type:country"),
    23: (["1767571223000", "{card}"], "unmappable_row"),
    29: (["1767571229000", "{card}", "a29", "auth", "-4", "EUR", "FR", "ecommerce", "approved"], "wrong_type:amount"),
}
N = 400


def _write_csv(path: Path, card: str) -> dict[int, dict]:
    """The file, and the event each good row must become."""
    expected: dict[int, dict] = {}
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for row in range(1, N + 1):
            if row in BAD:
                w.writerow([c.format(card=f"{card}-{row}") for c in BAD[row][0]])
                continue
            ms = T0 + row * 1000
            ts = str(ms) if row % 3 == 0 else (str(ms // 1000) if row % 3 == 1 else
                                               time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + "Z")
            amount = f"{row % 97 + 0.5:.2f}"
            kind = "auth" if row % 5 else "refund"
            w.writerow([ts, f"{card}-{row % 50}", f"acct-{row % 50}", kind, amount, "EUR", "FR", "ecommerce",
                        "approved" if kind == "auth" else ""])
            expected[row] = {"event_id": f"{card}-r-{row}", "event_time": _iso(ms), "domain": "payments",
                             "account_id": f"acct-{row % 50}", "event_type": kind, "amount": float(amount),
                             "currency": "EUR", "country": "FR", "channel": "ecommerce",
                             "auth_result": "approved" if kind == "auth" else None, "card_id": f"{card}-{row % 50}"}
    return expected


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


@pytest.fixture
def new_topic(stack_settings: Settings) -> Iterator[Callable[[], str]]:
    """``new_topic()`` → a throwaway 4-partition topic, deleted after the test."""
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    created: list[str] = []

    def make() -> str:
        name = unique("test.traffic.replay")
        for future in admin.create_topics([NewTopic(name, 4, 1)]).values():
            future.result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)


def _read_all(settings: Settings, topic: str, count: int) -> list[tuple[bytes, dict]]:
    return [(key, event) for key, event, _ in _read_records(settings, topic, count)]


def _read_records(settings: Settings, topic: str, count: int) -> list[tuple[bytes, dict, int]]:
    """``count`` records of ``topic``: key, JSON value, record timestamp (ms); fails on one more."""
    out: list[tuple[bytes, dict, int]] = []
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("test-replay"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    try:
        def enough() -> bool:
            out.extend((m.key(), orjson.loads(m.value()), m.timestamp()[1])
                       for m in consumer.consume(1000, timeout=0.5) if not m.error())
            return len(out) >= count

        wait_until(enough, timeout=60, interval=0.0, what=f"{count} replayed events")
        assert not [m for m in consumer.consume(100, timeout=1.0) if not m.error()], "more events than expected"
    finally:
        consumer.close()
    return out


def _end_offsets(settings: Settings, topic: str) -> list[TopicPartition]:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("test-replay")})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return [TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
                for p in partitions]
    finally:
        consumer.close()


def _read_from(settings: Settings, topic: str, start: list[TopicPartition], until: Callable[[list], bool],
               timeout: float) -> None:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("test-replay"),
                         "enable.auto.commit": False})
    consumer.assign(start)
    try:
        wait_until(lambda: until([m for m in consumer.consume(1000, timeout=0.5) if not m.error()]),
                   timeout=timeout, interval=0.0, what=f"records on {topic}")
    finally:
        consumer.close()


@pytest.fixture
def csv_file(tmp_path: Path) -> tuple[Path, str, dict[int, dict]]:
    card = unique("rp")
    path = tmp_path / f"{card}.csv"
    return path, card, _write_csv(path, card)


def test_replayed_csv_yields_exactly_the_expected_events_and_dead_letters(stack_settings: Settings, csv_file,
                                                                          new_topic) -> None:
    path, card, expected = csv_file
    topic = new_topic()
    args = [BIN, "replay", str(path), "--domain", "payments", "--key", "card", "--time", "ts", "--topic", topic,
            "--id-prefix", f"{card}-r", "--json", "--quiet"]
    for field, column in MAP.items():
        args += ["--map", f"{field}={column}"]
    dlq_start = _end_offsets(stack_settings, DLQ)  # events.dlq is shared: read only what comes after
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["rows"], summary["events_sent"], summary["dead_lettered"]) == (N, N - len(BAD), len(BAD))
    assert summary["delivered"] == N and summary["status"] == "finished"
    # --json alone does not wait for the job's verdicts, and says so
    job = summary["job_dead_letters"]
    assert not job["checked"] and job["note"].startswith("not waited") and "--wait-dlq" in job["note"]

    events = _read_all(stack_settings, topic, N - len(BAD))
    by_row = {int(e["event_id"].rsplit("-", 1)[1]): (k, e) for k, e in events}
    assert set(by_row) == set(expected)
    for row, (key, event) in by_row.items():
        assert key.decode() == expected[row]["card_id"]
        assert event == expected[row], row
        assert check_event(event, "payments") is None

    records: dict[int, dict] = {}

    def all_dead_letters(batch: list) -> bool:
        for m in batch:
            record = orjson.loads(m.value())
            if record.get("file") == path.name:
                records[record["row"]] = record
        return len(records) >= len(BAD)

    _read_from(stack_settings, DLQ, dlq_start, all_dead_letters, timeout=60)
    assert {row: r["reason"] for row, r in records.items()} == {row: reason for row, (_, reason) in BAD.items()}
    for row, record in records.items():
        assert record["source"] == "replay" and record["domain"] == "payments" and record["topic"] == topic
        assert str(row) in record["detail"] and record["raw"]
    assert records[11]["key"] == f"{card}-11" and "not a time" in records[11]["raw"]


def test_parquet_with_two_workers_gives_the_same_events(stack_settings: Settings, csv_file, new_topic) -> None:
    path, _, expected = csv_file
    # the same good rows as Parquet with typed columns (epoch ms integers, float amounts)
    rows = sorted(expected)
    table = pa.table({
        "ts": pa.array([parse_event_time(expected[r]["event_time"]) for r in rows], pa.int64()),
        "card": [expected[r]["card_id"] for r in rows], "acct": [expected[r]["account_id"] for r in rows],
        "type": [expected[r]["event_type"] for r in rows], "amt": [expected[r]["amount"] for r in rows],
        "cur": ["EUR"] * len(rows), "cc": ["FR"] * len(rows), "chan": ["ecommerce"] * len(rows),
        "result": [expected[r]["auth_result"] for r in rows], "row": rows})
    parquet = path.with_suffix(".parquet")
    pq.write_table(table, parquet, row_group_size=100)
    topic = new_topic()
    summary = run_replay(stack_settings, ReplayConfig(parquet, "payments", key="card", time="ts",
                                                      fields={**MAP, "event_id": "row"}, topic=topic, workers=2))
    assert summary.status == "finished" and summary.events_sent == len(rows) and summary.dead_lettered == 0
    events = _read_all(stack_settings, topic, len(rows))
    got = {e["event_id"]: e for _, e in events}
    assert got == {str(r): {**expected[r], "event_id": str(r)} for r in rows}
    # two workers split rows by key: each card's events keep their order within its partition
    per_key: dict[bytes, list[int]] = {}
    for key, event in events:
        per_key.setdefault(key, []).append(parse_event_time(event["event_time"]))
    assert all(t == sorted(t) for t in per_key.values())


def test_speed_paces_by_event_time_and_retime_stamps_the_send_schedule(stack_settings: Settings, tmp_path: Path,
                                                                      new_topic) -> None:
    path = tmp_path / "paced.csv"
    path.write_text("ts,dev\n" + "".join(f"{T0 + i * 500},d-{i}\n" for i in range(5)))  # 2 s of event time
    topic = new_topic()
    began = time.time() * 1000
    summary = run_replay(stack_settings, ReplayConfig(path, "iot", key="dev", time="ts",
                                                      constants={"event_type": "heartbeat"}, speed=2.0, retime=True,
                                                      topic=topic))
    assert summary.events_sent == 5 and 0.9 <= summary.elapsed_s < 5.0  # 2 s at 2x real time
    events = [e for _, e in _read_all(stack_settings, topic, 5)]
    times = sorted(parse_event_time(e["event_time"]) for e in events)
    assert abs(times[0] - began) < 3000 and times[-1] - times[0] == pytest.approx(1000, abs=3)  # now, gaps / 2


@pytest.mark.parametrize(("gap_ms", "speed", "rows"), [(30_000, 100.0, 20), (200, 0.5, 8)])
def test_retimed_events_are_never_ahead_of_their_send(stack_settings: Settings, tmp_path: Path, new_topic,
                                                     gap_ms: int, speed: float, rows: int) -> None:
    """Paced history re-stamped: each event at (or, when sending lags, before) the moment it is sent,
    the file's gaps divided by the speed. The job dead-letters events more than 300 s ahead of their
    Kafka timestamp (bad_event_time): at 100x, 30 s gaps used to put row 19 ~560 s ahead."""
    path = tmp_path / "history.csv"
    path.write_text("ts,dev\n" + "".join(f"{T0 + i * gap_ms},d-{i}\n" for i in range(rows)))
    topic = new_topic()
    began = time.time() * 1000
    summary = run_replay(stack_settings, ReplayConfig(path, "iot", key="dev", time="ts", topic=topic, speed=speed,
                                                      retime=True, constants={"event_type": "heartbeat"}))
    assert summary.status == "finished" and summary.events_sent == rows
    records = _read_records(stack_settings, topic, rows)
    by_row = sorted((int(e["device_id"][2:]), parse_event_time(e["event_time"]), ts) for _, e, ts in records)
    for row, event_ms, kafka_ms in by_row:
        assert event_ms <= kafka_ms, f"row {row}: event_time {event_ms - kafka_ms} ms ahead of its Kafka timestamp"
    stamps = [event_ms for _, event_ms, _ in by_row]
    assert abs(stamps[0] - began) < 3000
    assert [b - a for a, b in itertools.pairwise(stamps)] == pytest.approx([gap_ms / speed] * (rows - 1), abs=3)


def _job_record(reason: str, topic: str, partition: int, offset: int, event: dict, **extra) -> bytes:
    """A dead-letter / late record as the detection job writes it (docs/contracts.md)."""
    raw = json.dumps(event)
    return orjson.dumps({"reason": reason, "detail": f"test: {reason}", "source": "flink:iot", "domain": "iot",
                         "topic": topic, "partition": partition, "offset": offset, "key": event["device_id"],
                         "event_id": event["event_id"], "raw_bytes": len(raw),
                         "dead_lettered_at": "2026-01-05T00:00:00.000Z", **extra, "raw": raw})


def test_replay_counts_what_the_job_dead_lettered(stack_settings: Settings, tmp_path: Path, new_topic) -> None:
    """Synthetic job output (we cannot run a Flink job here): a stand-in reads the replayed events as
    the job's consumer group, writes dead letters and late records for some of them into throwaway
    topics, then commits its offsets, as the Flink source does on a checkpoint."""
    bootstrap = stack_settings.bootstrap_servers
    source, dlq, late = new_topic(), new_topic(), new_topic()
    group, prefix = unique("test-replay-job"), unique("jr")
    path = tmp_path / "job.csv"
    path.write_text("ts,dev\n" + "".join(f"{T0 + i * 1000},d-{i}\n" for i in range(12)))
    producer = Producer({"bootstrap.servers": bootstrap})
    stale = {"event_id": f"{prefix}-1", "device_id": "d-0"}  # a verdict from before this replay
    producer.produce(dlq, _job_record("bad_event_time", source, 0, 0, stale), b"d-0")
    producer.flush(30)

    config = ReplayConfig(path, "iot", key="dev", time="ts", topic=source, dlq_topic=dlq, late_topic=late,
                          id_prefix=prefix, constants={"event_type": "heartbeat"}, wait_dlq_s=90, job_group=group)
    result: dict = {}
    replay = threading.Thread(target=lambda: result.update(summary=run_replay(stack_settings, config)))
    replay.start()
    job = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                    "auto.offset.reset": "earliest"})
    try:
        job.assign([TopicPartition(source, p, 0) for p in range(4)])
        seen: list = []
        wait_until(lambda: seen.extend(m for m in job.consume(100, timeout=0.5) if not m.error()) or len(seen) >= 12,
                   timeout=60, interval=0.0, what="the replayed events")
        verdicts = {1: "bad_event_time", 2: "bad_event_time", 3: "bad_event_time", 4: "duplicate"}
        for msg in seen:
            event = orjson.loads(msg.value())
            row = int(event["event_id"].rsplit("-", 1)[1])
            at = (source, msg.partition(), msg.offset(), event)
            if row in verdicts:
                producer.produce(dlq, _job_record(verdicts[row], *at), msg.key())
            elif row in (5, 6):
                producer.produce(late, _job_record("late", *at, event_time=event["event_time"],
                                                   watermark=event["event_time"]), msg.key())
            elif row == 7:  # not the job's: replay's own dead letter, another topic, another replay's id
                producer.produce(dlq, _job_record("wrong_type:value", *at, source="replay"), msg.key())
                producer.produce(dlq, _job_record("bad_event_time", "events.other", *at[1:]), msg.key())
                producer.produce(dlq, _job_record("duplicate", *at[:3], {**event, "event_id": "other-7"}), msg.key())
        assert producer.flush(30) == 0
        job.commit(offsets=[TopicPartition(source, p, max([m.offset() + 1 for m in seen if m.partition() == p],
                                                          default=0)) for p in range(4)], asynchronous=False)
    finally:
        job.close()
    replay.join(120)
    summary = result["summary"]
    assert summary.status == "finished" and summary.events_sent == 12 and summary.dead_lettered == 0
    found = summary.job_dead_letters
    assert found.checked and found.complete, found
    assert found.reasons == {"bad_event_time": 3, "duplicate": 1, "late": 2} and found.total == 6
    assert found.waited_s < 60 and group in found.note

    # a job that never commits: the wait ends at its bound and says the counts are incomplete
    summary = run_replay(stack_settings, replace(config, id_prefix=unique("jr"), wait_dlq_s=2,
                                                 job_group=unique("test-replay-nojob")))
    found = summary.job_dead_letters
    assert found.checked and not found.complete and found.total == 0 and "incomplete" in found.note
    assert 2 <= found.waited_s < 10


def test_replay_parameter_errors_are_clear(stack_settings: Settings, csv_file) -> None:
    path, _, _ = csv_file
    for args, message in [
        (["--map", "amount=nope"], "not in the file"),
        (["--map", "colour=amt"], "unknown field"),
        (["--speed", "fast"], "cannot read speed"),
        (["--retime"], "needs a --speed"),
        (["--domain", "banking"], "unknown domain"),
        (["--map", "amount"], "FIELD=COLUMN"),
    ]:
        base = [BIN, "replay", str(path), "--key", "card", "--time", "ts"]
        if "--domain" not in args:
            base += ["--domain", "payments"]
        out = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert message in out.stderr.replace("\n", " "), (args, out.stderr)
        assert "Traceback" not in out.stderr
    missing = subprocess.run([BIN, "replay", "/nonexistent.csv", "--domain", "iot", "--key", "k", "--time", "t"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no such file" in missing.stderr
