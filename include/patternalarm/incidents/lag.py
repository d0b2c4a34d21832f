"""Consumer-group lag read from Kafka itself (committed offsets vs. the partitions' ends).

Independent of the sink process: it answers even when the sink is down.
"""

from __future__ import annotations

from typing import Any

from include.patternalarm.control.lag import admin_client, consumer_lag


def group_lag(bootstrap: str, group: str, topic: str, timeout: float = 10.0) -> dict[str, Any]:
    """``{"total": n, "partitions": {p: {"committed", "low", "high", "lag"}}}``; raises ``RuntimeError``."""
    admin = admin_client({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000)})
    report = consumer_lag(admin, group, [topic], timeout=timeout)
    partitions = {p.partition: {"committed": p.committed, "low": p.start, "high": p.end, "lag": p.lag}
                  for p in report.partitions}
    return {"group": group, "topic": topic, "total": report.total, "partitions": partitions}
