"""Consumer-group lag read from Kafka itself (committed offsets vs. the partitions' ends).

Independent of the sink process: it answers even when the sink is down.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


def group_lag(bootstrap: str, group: str, topic: str, timeout: float = 10.0) -> dict[str, Any]:
    """``{"total": n, "partitions": {p: {"committed", "low", "high", "lag"}}}``; raises ``RuntimeError``."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000)})
    try:
        metadata = admin.list_topics(topic, timeout=timeout)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise RuntimeError(f"topic {topic!r} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(info.partitions)]
        request = [ConsumerGroupTopicPartitions(group, tps)]
        committed_result = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group].result(timeout)
        committed = {tp.partition: tp.offset for tp in committed_result.topic_partitions}
        ends = {tp: OffsetSpec.latest() for tp in tps}
        starts = {tp: OffsetSpec.earliest() for tp in tps}
        high = {tp.partition: f.result(timeout).offset
                for tp, f in admin.list_offsets(ends, request_timeout=timeout).items()}
        low = {tp.partition: f.result(timeout).offset
               for tp, f in admin.list_offsets(starts, request_timeout=timeout).items()}
    except KafkaException as exc:
        raise RuntimeError(f"cannot read the lag of group {group!r} on {topic!r}: {exc}") from None
    partitions: dict[int, dict[str, int | None]] = {}
    for p in sorted(high):
        done = committed.get(p)
        base = done if done is not None and done >= 0 else low[p]
        partitions[p] = {"committed": done if done is not None and done >= 0 else None, "low": low[p],
                         "high": high[p], "lag": max(0, high[p] - base)}
    return {"group": group, "topic": topic, "total": sum(p["lag"] or 0 for p in partitions.values()),
            "partitions": partitions}
