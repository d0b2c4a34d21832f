"""Fixtures of the traffic tests: throwaway event topics (4 partitions, like the real ones)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from include.patternalarm.settings import Settings
from include.patternalarm.topics import DOMAINS
from tests.support import unique


@pytest.fixture
def event_topics(stack_settings: Settings) -> Iterator[Callable[[], dict[str, str]]]:
    """``make()`` → a fresh topic per domain (deleted after the test)."""
    admin = AdminClient({"bootstrap.servers": stack_settings.bootstrap_servers})
    created: list[str] = []

    def make() -> dict[str, str]:
        topics = {d: unique(f"test.traffic.{d}") for d in DOMAINS}
        for future in admin.create_topics([NewTopic(t, 4, 1) for t in topics.values()]).values():
            future.result(timeout=30)
        created.extend(topics.values())
        return topics

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)
