"""Waits (deferred, no worker slot held) until consumer-group lag crosses a threshold.

A breach already there when the sensor starts is settled synchronously — see ``sensors/__init__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from patternalarm_airflow.sensors import settle_or_defer
from patternalarm_airflow.triggers.kafka_lag import KafkaLagTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class KafkaConsumerLagSensor(BaseSensorOperator):
    """``mode="above"``: succeeds when any group's lag exceeds ``threshold`` (a breach).
    ``mode="below"``: succeeds when every group stayed at or below it for ``hold_for`` seconds.

    Returns the trigger's event (lags per group, which breached, how long it waited) as XCom. When
    nothing happens within ``watch_timeout_s``: fails, or with ``succeed_on_timeout`` returns the
    ``timeout`` event (a watch window that ended quietly).
    """

    template_fields: Sequence[str] = ("groups", "threshold", "hold_for", "watch_timeout_s")

    def __init__(self, *, groups: dict[str, list[str]], threshold: int | str, mode: str = "above",
                 poll_interval: float = 5.0, hold_for: float | str = 0.0, watch_timeout_s: float | str = 3600,
                 succeed_on_timeout: bool = False, kafka_config_id: str = "kafka_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.groups = groups
        self.threshold = threshold
        self.mode = mode
        self.poll_interval = poll_interval
        self.hold_for = hold_for
        self.watch_timeout_s = watch_timeout_s
        self.succeed_on_timeout = succeed_on_timeout
        self.kafka_config_id = kafka_config_id

    def execute(self, context: Context) -> dict[str, Any] | None:
        trigger = KafkaLagTrigger(
            groups=dict(self.groups), threshold=int(self.threshold), mode=self.mode,
            poll_interval=self.poll_interval, hold_for=float(self.hold_for),
            timeout=float(self.watch_timeout_s), kafka_config_id=self.kafka_config_id,
        )
        return settle_or_defer(self, context, trigger, timedelta(seconds=float(self.watch_timeout_s) + 120))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event["status"] == "timeout" and not self.succeed_on_timeout:
            raise AirflowFailException(f"lag did not go {self.mode} {self.threshold} within "
                                       f"{event['waited_s']:.0f}s (last lags {event['lags']})")
        self.log.info("%s after %.0fs: lags %s (threshold %s)", event["status"], event["waited_s"], event["lags"],
                      self.threshold)
        return event
