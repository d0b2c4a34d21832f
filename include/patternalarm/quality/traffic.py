"""Is traffic flowing? The newest record timestamp on the event topics, read from Kafka.

Freshness expectations only make sense while events arrive: with no traffic, an old newest alert
is not a stale table. This reads the last record of every partition of the event topics (one
consumer, no group, nothing committed) and returns the newest Kafka timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from include.gx.parameters import Traffic
from include.patternalarm.topics import EVENTS


def newest_record_time(config: dict[str, Any], topics: Iterable[str] | None = None, *,
                       timeout: float = 10.0) -> datetime | None:
    """The newest record timestamp over ``topics`` (default: the event topics); ``None`` if all are empty.

    ``config`` is a librdkafka client configuration (at least ``bootstrap.servers``); group and
    commit settings in it are replaced, so the read leaves no trace in the cluster.
    """
    from confluent_kafka import Consumer, TopicPartition

    names = list(topics or EVENTS.values())
    settings = {k: v for k, v in config.items() if k not in ("group.id", "enable.auto.commit", "auto.offset.reset")}
    settings.update({"group.id": "patternalarm-quality-probe", "enable.auto.commit": False,
                     "enable.partition.eof": False, "auto.offset.reset": "latest"})
    consumer = Consumer(settings)
    try:
        metadata = consumer.list_topics(timeout=timeout)
        wanted: list[TopicPartition] = []
        for name in names:
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None:
                continue
            for partition in topic.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout)
                if high > low:
                    wanted.append(TopicPartition(name, partition, high - 1))
        if not wanted:
            return None
        consumer.assign(wanted)
        pending = {(tp.topic, tp.partition) for tp in wanted}
        newest: int | None = None
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            pending.discard((message.topic(), message.partition()))
            _, millis = message.timestamp()
            if millis and millis > 0:
                newest = millis if newest is None else max(newest, millis)
        return datetime.fromtimestamp(newest / 1000, UTC) if newest is not None else None
    finally:
        consumer.close()


def traffic_from_kafka(config: dict[str, Any], *, window: timedelta, now: datetime | None = None,
                       topics: Iterable[str] | None = None) -> Traffic:
    """A ``Traffic`` signal from the event topics (flowing = a record within ``window`` of now)."""
    checked = now or datetime.now(UTC)
    return Traffic(checked_at=checked, newest_event_at=newest_record_time(config, topics), window=window,
                   source="kafka:" + ",".join(topics or EVENTS.values()))
