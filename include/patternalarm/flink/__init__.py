"""Talking to Flink over HTTP: the SQL Gateway (submit SQL) and the REST API (jobs)."""

from include.patternalarm.flink.gateway import GatewayError, SqlGateway, StatementResult

__all__ = ["GatewayError", "SqlGateway", "StatementResult"]
