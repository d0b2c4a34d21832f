"""The raw events behind an alert, read back from Kafka by entity and time (for the console's event links).

Alerts store only the matched event ids (``evidence.event_ids``); the events themselves stay in
``events.<domain>``. Kafka has no index by id, so this reads the window the alert covers: each
partition from the first record stamped at or after ``since`` (``offsets_for_times``) up to ``until``,
keeps the records whose key is the entity, and marks those whose ``event_id`` the alert names. Bounded
(records and seconds) and read-only: its own group id, nothing committed.

Record timestamps are the producers' send times, which equal ``event_time`` for live traffic (the
simulator stamps events when it sends them). Replayed history keeps its old ``event_time`` but gets
new record timestamps, so its events are outside the window: the result says what was searched and
what was not found, and ``kcat_command`` prints the search to run by hand.
"""

from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

MAX_RECORDS = 400_000
MAX_EVENTS = 2_000


@dataclass
class EventLookup:
    topic: str
    key: str
    since: datetime
    until: datetime
    wanted: list[str]
    events: list[dict[str, Any]] = field(default_factory=list)  # the key's events in the window, in time order
    scanned: int = 0
    complete: bool = True  # False: a bound (records, time, events kept) stopped the search early
    error: str | None = None

    @property
    def found(self) -> set[str]:
        return {str(e.get("event_id")) for e in self.events} & set(self.wanted)

    @property
    def missing(self) -> list[str]:
        found = self.found
        return [e for e in self.wanted if e not in found]


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def lookup_events(bootstrap: str, topic: str, key: str, event_ids: list[str], since: datetime, until: datetime, *,
                  max_records: int = MAX_RECORDS, timeout_s: float = 8.0) -> EventLookup:
    """The events of ``key`` on ``topic`` with record timestamps in [since, until], ``event_ids`` marked."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    result = EventLookup(topic, key, since, until, list(event_ids))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"patternalarm-console-lookup-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "latest",
                         "socket.timeout.ms": 5000})
    try:
        metadata = consumer.list_topics(topic, timeout=5)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            result.error = f"topic {topic} does not exist"
            return result
        parts = sorted(info.partitions)
        starts = consumer.offsets_for_times([TopicPartition(topic, p, _ms(since)) for p in parts], timeout=5)
        ends = consumer.offsets_for_times([TopicPartition(topic, p, _ms(until) + 1) for p in parts], timeout=5)
        todo: dict[int, int] = {}  # partition → the first offset past the window
        assign = []
        for start, end in zip(starts, ends, strict=True):
            if start.offset < 0:
                continue  # nothing at or after `since` in this partition
            stop = end.offset if end.offset >= 0 else consumer.get_watermark_offsets(
                TopicPartition(topic, start.partition), timeout=5)[1]
            if stop > start.offset:
                todo[start.partition] = stop
                assign.append(TopicPartition(topic, start.partition, start.offset))
        if not assign:
            return result
        consumer.assign(assign)
        wanted_key = key.encode()
        deadline = time.monotonic() + timeout_s
        while todo:
            if result.scanned >= max_records or time.monotonic() > deadline or len(result.events) >= MAX_EVENTS:
                result.complete = False
                break
            for msg in consumer.consume(num_messages=2000, timeout=0.5):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        todo.pop(msg.partition(), None)
                    continue
                partition, offset = msg.partition(), msg.offset()
                if partition not in todo:
                    continue
                if offset >= todo[partition]:
                    todo.pop(partition)
                    continue
                result.scanned += 1
                if offset + 1 >= todo[partition]:
                    todo.pop(partition)
                if msg.key() != wanted_key:
                    continue
                try:
                    value = orjson.loads(msg.value() or b"")
                except orjson.JSONDecodeError:
                    value = {"raw": (msg.value() or b"")[:4096].decode("utf-8", "replace")}
                if not isinstance(value, dict):
                    value = {"raw": value}
                _, stamp = msg.timestamp()
                result.events.append({**value, "_partition": partition, "_offset": offset, "_timestamp_ms": stamp})
    except KafkaException as exc:
        result.error = f"Kafka: {exc.args[0].str() if exc.args else exc}"
    finally:
        consumer.close()
    result.events.sort(key=lambda e: (e.get("_timestamp_ms") or 0, e["_partition"], e["_offset"]))
    return result


def kcat_command(bootstrap: str, topic: str, key: str, since: datetime, until: datetime,
                 event_ids: list[str]) -> str:
    """The same search by hand: kcat over the time window, filtered to the key and the ids."""
    pattern = "|".join(event_ids[:20]) or key
    return (f"kcat -C -b {shlex.quote(bootstrap)} -t {shlex.quote(topic)} -o s@{_ms(since)} -o e@{_ms(until) + 1} "
            f"-e -q -f '%k %T %s\\n' | grep -F {shlex.quote(key)} | grep -E {shlex.quote(pattern)}")
