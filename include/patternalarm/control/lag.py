"""Consumer-group lag from Kafka's own bookkeeping: committed offsets vs end offsets, per partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has not committed on this partition yet
    end: int
    start: int = 0  # earliest offset still in the log (retention moves it)

    @property
    def lag(self) -> int:
        # a partition the group never committed is behind by everything still in it
        base = self.committed if self.committed is not None else self.start
        return max(0, self.end - base)


@dataclass(frozen=True)
class LagReport:
    group: str
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def end_offsets(self) -> int:
        return sum(p.end for p in self.partitions)

    @property
    def max_partition_lag(self) -> int:
        return max((p.lag for p in self.partitions), default=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "total_lag": self.total,
            "end_offsets": self.end_offsets,
            "partitions": [
                {"topic": p.topic, "partition": p.partition, "committed": p.committed, "start": p.start,
                 "end": p.end, "lag": p.lag}
                for p in self.partitions
            ],
        }


def admin_client(config: dict[str, Any]) -> AdminClient:
    return AdminClient({"socket.timeout.ms": 10000, **config})


def consumer_lag(admin: AdminClient, group: str, topics: list[str], timeout: float = 10.0) -> LagReport:
    """Lag of ``group`` on every partition of ``topics`` (committed offset vs latest offset).

    Raises ``RuntimeError`` naming the group and topic when Kafka cannot answer.
    """
    try:
        metadata = admin.list_topics(timeout=timeout)
        partitions = []
        for topic in topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                raise RuntimeError(f"topic {topic!r} does not exist on this cluster")
            partitions += [TopicPartition(topic, p) for p in sorted(info.partitions)]
        request = [ConsumerGroupTopicPartitions(group, partitions)]
        done = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group].result(timeout)
        committed = {(tp.topic, tp.partition): tp.offset for tp in done.topic_partitions}
        ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions}, request_timeout=timeout)
        starts = admin.list_offsets({tp: OffsetSpec.earliest() for tp in partitions}, request_timeout=timeout)
        end_of = {(tp.topic, tp.partition): f.result(timeout).offset for tp, f in ends.items()}
        start_of = {(tp.topic, tp.partition): f.result(timeout).offset for tp, f in starts.items()}
    except KafkaException as exc:
        raise RuntimeError(f"cannot read the lag of group {group!r} on {', '.join(topics)}: {exc}") from None
    result = []
    for key in sorted(end_of):
        offset = committed.get(key)
        result.append(PartitionLag(key[0], key[1], offset if offset is not None and offset >= 0 else None,
                                   end_of[key], start_of[key]))
    return LagReport(group, result)
