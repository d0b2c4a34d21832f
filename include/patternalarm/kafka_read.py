"""Reading a bounded stretch of a topic with an assigned consumer (no group offsets committed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any


def read_to_end(consumer: Any, start: list[Any], ends: dict[int, int], *, timeout_s: float) -> Iterator[Any]:
    """The messages of the ``start`` partitions (``TopicPartition`` with offsets) up to ``ends`` (partition →
    end offset, exclusive), each partition until its end or an error on it, all within ``timeout_s``."""
    if not start:
        return
    consumer.assign(start)
    pending = {tp.partition for tp in start}
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            pending.discard(message.partition())  # end of the partition, or an error: stop reading it
            continue
        if message.offset() + 1 >= ends.get(message.partition(), 0):
            pending.discard(message.partition())
        yield message
