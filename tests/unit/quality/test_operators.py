"""The operators' pure parts: a libpq connection string from an Airflow connection, the gate's input check."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection
from psycopg.conninfo import conninfo_to_dict

from include.patternalarm.quality.runner import sqlalchemy_url
from patternalarm_airflow.operators.quality import DataQualityGateOperator, IncidentTablesValidateOperator


def test_conninfo_from_the_airflow_connection_keeps_only_libpq_options() -> None:
    conn = Connection(conn_id="postgres_incidents", conn_type="postgres", host="127.0.0.1", port=5433,
                      schema="patternalarm", login="patternalarm_control", password="p@ss word'x",
                      extra='{"sslmode": "require", "cursor": "dictcursor"}')
    params = conninfo_to_dict(IncidentTablesValidateOperator.conninfo(conn))
    assert params == {"host": "127.0.0.1", "port": "5433", "dbname": "patternalarm", "user": "patternalarm_control",
                      "password": "p@ss word'x", "sslmode": "require", "connect_timeout": "10"}
    url = sqlalchemy_url(IncidentTablesValidateOperator.conninfo(conn))
    assert url.startswith("postgresql+psycopg://patternalarm_control:") and "sslmode=require" in url
    assert "application_name=patternalarm-quality" in url


def test_the_gate_refuses_a_summary_that_is_not_a_validation_result() -> None:
    gate = DataQualityGateOperator(task_id="gate", summary={"run_id": "x"})
    with pytest.raises(ValueError, match="validate task's result"):
        gate.execute(context={"run_id": "r"})  # type: ignore[arg-type]
