"""Integration tests run against the real local stack, started once per test session.

The stack is shared (by other test runs too): tests create their own topics, ids and rows
and never assume that a table or topic holds only their data.
"""

from __future__ import annotations

import pytest

from include.patternalarm import stack
from include.patternalarm.settings import Settings, get_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_settings() -> Settings:
    """Bring the stack up (no-op when it already runs and is healthy); fail naming what is not."""
    rows = stack.up(get_settings(), progress=lambda message: None)
    unhealthy = [f"{r.name}: {r.detail}" for r in rows if not r.healthy]
    assert not unhealthy, f"stack not healthy: {unhealthy}"
    return get_settings()
