"""The local stack: PostgreSQL, Kafka (KRaft), a Flink session cluster and Airflow under supervisord."""

from include.patternalarm.stack.manager import ServiceStatus, down, status, up
from include.patternalarm.stack.tools import StackError

__all__ = ["ServiceStatus", "StackError", "down", "status", "up"]
