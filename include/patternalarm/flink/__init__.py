"""Talking to Flink over HTTP: the SQL Gateway (submit SQL), the REST API (jobs), and deploying
the detection jobs (``deploy``)."""

from include.patternalarm.flink.gateway import GatewayError, SqlGateway, StatementResult
from include.patternalarm.flink.rest import FlinkRest, FlinkRestError, JobInfo

__all__ = ["FlinkRest", "FlinkRestError", "GatewayError", "JobInfo", "SqlGateway", "StatementResult"]
