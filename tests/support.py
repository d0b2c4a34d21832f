"""Helpers shared by the tests: bounded waiting, unique names, reading a topic."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.5, what: str = "condition") -> T:
    """Poll ``condition`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(interval)
    detail = f" (last error: {last_exc})" if last_exc else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def unique(prefix: str) -> str:
    """A name no other test run uses (tests share one stack, so never assume empty topics/tables)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def consume(bootstrap: str, topic: str, *, until: Callable[[list], bool], timeout: float,
            from_beginning: bool = True, key_filter: Callable[[bytes | None], bool] | None = None) -> list:
    """Read ``topic`` with a fresh group until ``until(messages)`` holds or ``timeout`` passes."""
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": unique("test"),
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    messages: list = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(messages):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            if key_filter is None or key_filter(msg.key()):
                messages.append(msg)
    finally:
        consumer.close()
    return messages
