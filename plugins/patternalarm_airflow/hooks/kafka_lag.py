"""Consumer-group lag through the Kafka provider's admin client (connection ``kafka_default``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

from include.patternalarm.control.lag import consumer_lag

if TYPE_CHECKING:
    from include.patternalarm.control.lag import LagReport


class KafkaLagHook(KafkaAdminClientHook):
    """Committed offsets of a consumer group vs the end offsets of its topics, per partition."""

    conn_name_attr = "kafka_config_id"
    default_conn_name = "kafka_default"
    conn_type = "kafka"
    hook_name = "Kafka consumer lag"

    def lag(self, group: str, topics: list[str], timeout: float = 10.0) -> LagReport:
        if not group:
            raise ValueError("a consumer group id is required")
        if not topics:
            raise ValueError("at least one topic is required")
        return consumer_lag(self.get_conn, group, topics, timeout=timeout)
