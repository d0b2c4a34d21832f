"""Producing to Kafka without dropping a record when the client's local queue is full."""

from __future__ import annotations

from confluent_kafka import Producer


def send_waiting(producer: Producer, topic: str, value: bytes | str | None, key: bytes | str | None = None,
                 partition: int | None = None, *, poll_s: float = 0.05) -> None:
    """``producer.produce``, waiting for deliveries to make room while the local queue is full
    (``BufferError``) instead of failing. Hot loops that bind ``produce`` locally keep their own copy."""
    kwargs = {} if partition is None else {"partition": partition}
    while True:
        try:
            producer.produce(topic, value, key, **kwargs)
            return
        except BufferError:
            producer.poll(poll_s)
