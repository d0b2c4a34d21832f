"""Waits (deferred, no worker slot held) until a consumer group's lag crosses a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from patternalarm_airflow.triggers.kafka_lag import KafkaLagTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class KafkaConsumerLagSensor(BaseSensorOperator):
    """Succeeds when lag > ``threshold`` (``mode="above"``) or stays <= it for ``hold_for`` s (``"below"``).

    Returns the trigger's event (lag, per-partition report, how long it waited) as XCom.
    On the trigger's timeout the sensor fails unless ``soft_fail`` is set (then it is skipped).
    """

    template_fields: Sequence[str] = ("group", "topics", "threshold")

    def __init__(self, *, group: str, topics: list[str], threshold: int, mode: str = "above",
                 poll_interval: float = 5.0, hold_for: float = 0.0, kafka_config_id: str = "kafka_default",
                 **kwargs: Any) -> None:
        kwargs.setdefault("timeout", 3600)
        super().__init__(**kwargs)
        self.group = group
        self.topics = topics
        self.threshold = threshold
        self.mode = mode
        self.poll_interval = poll_interval
        self.hold_for = hold_for
        self.kafka_config_id = kafka_config_id

    def execute(self, context: Context) -> None:
        self.defer(
            trigger=KafkaLagTrigger(
                group=self.group, topics=list(self.topics), threshold=int(self.threshold), mode=self.mode,
                poll_interval=self.poll_interval, hold_for=self.hold_for, timeout=float(self.timeout),
                kafka_config_id=self.kafka_config_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout) + 60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] == "timeout":
            from airflow.exceptions import AirflowSkipException

            message = (f"lag of {self.group} did not go {self.mode} {self.threshold} within "
                       f"{event['waited_s']:.0f}s (last lag {event['lag']})")
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise TimeoutError(message)
        self.log.info("lag of %s is %s (%s %s) after %.0fs", self.group, event["lag"], self.mode, self.threshold,
                      event["waited_s"])
        return event
