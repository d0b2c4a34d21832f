"""Consumer-group lag from Kafka's own bookkeeping: committed offsets vs end offsets, per partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has not committed on this partition yet
    end: int

    @property
    def lag(self) -> int:
        # a partition the group never committed counts as fully behind only if it has data
        return self.end - (self.committed if self.committed is not None and self.committed >= 0 else 0)


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
                {"topic": p.topic, "partition": p.partition, "committed": p.committed, "end": p.end, "lag": p.lag}
                for p in self.partitions
            ],
        }


def admin_client(config: dict[str, Any]) -> AdminClient:
    return AdminClient({"socket.timeout.ms": 10000, **config})


def consumer_lag(admin: AdminClient, group: str, topics: list[str], timeout: float = 10.0) -> LagReport:
    """Lag of ``group`` on every partition of ``topics`` (committed offset vs latest offset)."""
    metadata = admin.list_topics(timeout=timeout)
    partitions = []
    for topic in topics:
        if topic not in metadata.topics:
            raise ValueError(f"topic {topic!r} does not exist on this cluster")
        partitions += [TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)]
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    committed_result = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group].result(timeout)
    committed = {(tp.topic, tp.partition): tp.offset for tp in committed_result.topic_partitions}
    ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions}, request_timeout=timeout)
    result = []
    for tp, future in ends.items():
        info = future.result(timeout)
        offset = committed.get((tp.topic, tp.partition))
        result.append(PartitionLag(tp.topic, tp.partition, offset if offset is not None and offset >= 0 else None,
                                   info.offset))
    result.sort(key=lambda p: (p.topic, p.partition))
    return LagReport(group, result)
