"""What the detection job did with a replay's events: its dead letters (``events.dlq``) and late
events (``events.late``) for the replay's rows, counted by reason.

The job writes one record per rejected event (shape in docs/contracts.md): ``source`` ``flink:<domain>``,
the ``topic``, ``partition`` and ``offset`` the event was read from, and its ``event_id``. A record
belongs to a replay when it comes from the replay's topic, from an offset the replay wrote (between
the topic's end offsets before and after it sent), and — when replay made the ids — its ``event_id``
carries the replay's id prefix (``<prefix>-<row>``). Replay's own dead letters (``source: replay``)
are reported separately and skipped here.

The wait is bounded. It ends early once the job's consumer group has committed offsets past every
event the replay wrote: the Flink Kafka source commits on checkpoints, after its sinks flushed, so by
then every dead letter for those events is in its topic and reading the topics to their end is complete.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

#: offsets per (topic, partition)
Offsets = dict[tuple[str, int], int]

POLL_S = 0.5
COMMIT_CHECK_EVERY_S = 2.0


@dataclass
class JobDeadLetters:
    """The job's verdicts on a replay's events, as far as they could be read."""

    checked: bool  # False: replay did not wait (nothing was read)
    complete: bool = False  # the job had read every replayed event (its committed offsets passed them)
    waited_s: float = 0.0
    group: str | None = None  # the consumer group whose commits were watched
    total: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # reason → count ("late" for events.late)
    note: str = ""


_MOVING_LEADER = ("NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PART")


def end_offsets(bootstrap: str, topics: list[str], timeout: float = 10.0) -> Offsets:
    """The current end (high-watermark) offset of every partition of ``topics``. A partition whose leader
    is not known yet (a topic just created, a leader moving to another broker) is asked again until
    ``timeout``; then its error is raised."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "patternalarm-replay-offsets",
                         "enable.auto.commit": False})
    moving = {getattr(KafkaError, name) for name in _MOVING_LEADER}
    deadline = time.monotonic() + timeout
    try:
        out: Offsets = {}
        for topic in topics:
            for p in consumer.list_topics(topic, timeout=timeout).topics[topic].partitions:
                while True:
                    try:
                        out[(topic, p)] = consumer.get_watermark_offsets(
                            TopicPartition(topic, p), timeout=max(deadline - time.monotonic(), 1.0), cached=False)[1]
                        break
                    except KafkaException as exc:
                        if exc.args[0].code() not in moving or time.monotonic() >= deadline:
                            raise
                        time.sleep(0.2)
        return out
    finally:
        consumer.close()


def _committed(bootstrap: str, group: str, partitions: list[tuple[str, int]], timeout: float = 10.0) -> Offsets:
    """The group's committed offsets (partitions it never committed are absent). Read-only: the
    admin API lists a group's offsets without joining it."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    request = [ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in partitions])]
    done = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group].result(timeout)
    return {(tp.topic, tp.partition): tp.offset for tp in done.topic_partitions if tp.offset >= 0}


def count_job_dead_letters(
    bootstrap: str,
    *,
    source_topic: str,
    written: Mapping[int, tuple[int, int]],
    id_prefix: str | None,
    record_topics: Mapping[str, Mapping[int, int]],
    group: str | None,
    wait_s: float,
    stop: Any = None,
) -> JobDeadLetters:
    """Read ``record_topics`` (topic → partition → start offset) for up to ``wait_s`` seconds and
    count the job's records about the events the replay wrote (``written``: partition of
    ``source_topic`` → [first, end) offsets). ``id_prefix`` None: ids came from the file, offsets alone
    identify the replay's events."""
    from confluent_kafka import Consumer, TopicPartition

    result = JobDeadLetters(checked=True, group=group)
    pending = {p: rng for p, rng in written.items() if rng[1] > rng[0]}
    prefix = None if id_prefix is None else f"{id_prefix}-"
    source = source_topic
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "patternalarm-replay-joblog",
                         "enable.auto.commit": False, "enable.partition.eof": False})
    consumer.assign([TopicPartition(t, p, o) for t, starts in record_topics.items() for p, o in starts.items()])
    started = time.monotonic()
    deadline = started + max(wait_s, 0.0)
    next_check = started
    final_ends: Offsets | None = None  # set once the job has read everything: read up to these, then stop
    positions: Offsets = {(t, p): o for t, starts in record_topics.items() for p, o in starts.items()}
    reasons = result.reasons
    interrupted = False
    try:
        while True:
            now = time.monotonic()
            if final_ends is None and group is not None and pending and now >= next_check:
                next_check = now + COMMIT_CHECK_EVERY_S
                try:
                    committed = _committed(bootstrap, group, [(source, p) for p in pending])
                except Exception:  # noqa: BLE001 - no such group yet, broker busy: try again, bounded by wait_s
                    committed = {}
                if all(committed.get((source, p), -1) >= end for p, (_, end) in pending.items()):
                    result.complete = True
                    final_ends = end_offsets(bootstrap, list(record_topics))
            if final_ends is not None and all(positions[k] >= final_ends[k] for k in positions):
                break
            if now >= deadline or (stop is not None and stop.is_set()):
                break
            for msg in consumer.consume(1000, timeout=min(POLL_S, max(deadline - now, 0.01))):
                if msg.error():
                    continue
                positions[(msg.topic(), msg.partition())] = msg.offset() + 1
                try:
                    record = orjson.loads(msg.value())
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(record, dict) or record.get("source") == "replay" or record.get("topic") != source:
                    continue
                partition, offset = record.get("partition"), record.get("offset")
                span = pending.get(partition) if isinstance(partition, int) else None
                if span is None or not isinstance(offset, int) or not span[0] <= offset < span[1]:
                    continue
                event_id = record.get("event_id")
                if prefix is not None and not (isinstance(event_id, str) and event_id.startswith(prefix)):
                    continue
                reason = str(record.get("reason") or "unknown")
                reasons[reason] = reasons.get(reason, 0) + 1
                result.total += 1
    except KeyboardInterrupt:  # Ctrl-C while waiting: report what was counted
        interrupted = True
    finally:
        consumer.close()
    result.waited_s = round(time.monotonic() - started, 1)
    n = sum(end - first for first, end in pending.values())
    if result.complete:
        result.note = f"the job (group {group}) read all {n:,} replayed events"
    elif interrupted or (stop is not None and stop.is_set()):
        result.note = f"incomplete: the wait was interrupted after {result.waited_s:.0f} s; counts so far"
    elif group is None:
        result.note = f"counted for {result.waited_s:.0f} s; no job group to tell when the job is done"
    else:
        result.note = (f"incomplete: after {result.waited_s:.0f} s the job (group {group}) had not committed past "
                       f"all {n:,} replayed events (not running, behind, or not reading {source}); "
                       "counts so far")
    return result
