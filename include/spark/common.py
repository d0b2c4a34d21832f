"""Shared plumbing of the Spark jobs: the session, bounded Kafka reads, JDBC reads and statements.

The database password comes from the environment (``PASSWORD_ENV``), never from the command line:
the DAG's operator puts the ``postgres_incidents`` connection's password there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyspark.sql import DataFrame, SparkSession

PASSWORD_ENV = "PATTERNALARM_SPARK_JDBC_PASSWORD"  # noqa: S105 - the variable's name, not a password
JDBC_DRIVER = "org.postgresql.Driver"


class JobError(RuntimeError):
    """A failure the job reports in one clear line (and exits non-zero)."""


def session(app_name: str) -> SparkSession:
    """The job's session; the master and resources come from spark-submit."""
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.appName(app_name)
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    given = dict(spark.sparkContext.getConf().getAll())
    if "spark.sql.shuffle.partitions" not in given:  # 200 by default: far too many for a few cores
        spark.conf.set("spark.sql.shuffle.partitions", str(max(4, 2 * spark.sparkContext.defaultParallelism)))
    spark.sparkContext.setLogLevel(os.environ.get("PATTERNALARM_SPARK_LOG_LEVEL", "WARN"))
    return spark


def jdbc_password() -> str:
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise JobError(f"the database password is not set: the job reads it from ${PASSWORD_ENV} "
                       "(the DAG's operator sets it from the postgres_incidents connection)")
    return password


def read_topic(spark: SparkSession, bootstrap: str, topic: str, start_ms: int | None,
               end_ms: int | None = None) -> DataFrame:
    """Records of ``topic`` with Kafka timestamps in ``[start_ms, end_ms)`` (batch, bounded by the
    offsets Kafka finds for those times; ``start_ms`` None = earliest, ``end_ms`` None = latest):
    ``p``, ``o``, ``kafka_ts_ms``, ``raw`` (the value as text)."""
    from pyspark.sql import functions as F

    reader = (spark.read.format("kafka")
              .option("kafka.bootstrap.servers", bootstrap)
              .option("subscribe", topic)
              .option("failOnDataLoss", "false"))
    if start_ms is None:
        reader = reader.option("startingOffsets", "earliest")
    else:
        reader = (reader.option("startingTimestamp", str(int(start_ms)))
                  .option("startingOffsetsByTimestampStrategy", "latest"))
    if end_ms is None:
        reader = reader.option("endingOffsets", "latest")
    else:
        reader = reader.option("endingTimestamp", str(int(end_ms)))
    df = reader.load().select(
        F.col("partition").alias("p"), F.col("offset").alias("o"),
        F.unix_millis(F.col("timestamp")).alias("kafka_ts_ms"), F.col("value").cast("string").alias("raw"))
    if start_ms is not None:  # offsets-for-times bound the read; timestamps need not be monotonic
        df = df.where(F.col("kafka_ts_ms") >= int(start_ms))
    if end_ms is not None:
        df = df.where(F.col("kafka_ts_ms") < int(end_ms))
    return df


def read_table(spark: SparkSession, url: str, user: str, password: str, table: str) -> DataFrame:
    """A PostgreSQL table over JDBC; filter it with DataFrame predicates (Spark pushes them down)."""
    return (spark.read.format("jdbc")
            .option("url", url).option("dbtable", table).option("user", user).option("password", password)
            .option("driver", JDBC_DRIVER).option("fetchsize", "5000")
            .load())


class Jdbc:
    """Statements from the driver through the JVM's PostgreSQL driver (parameterised, one transaction)."""

    def __init__(self, spark: SparkSession, url: str, user: str, password: str) -> None:
        self._spark = spark
        self._url = url
        self._user = user
        self._password = password

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        jvm = self._spark.sparkContext._jvm  # type: ignore[attr-defined]
        props = jvm.java.util.Properties()
        props.setProperty("user", self._user)
        props.setProperty("password", self._password)
        props.setProperty("ApplicationName", "patternalarm-spark")
        conn = jvm.org.postgresql.Driver().connect(self._url, props)
        if conn is None:
            raise JobError(f"the PostgreSQL driver does not accept the URL {self._url!r}")
        try:
            conn.setAutoCommit(False)
            yield conn
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.close()

    @staticmethod
    def execute(conn: Any, sql: str, params: Sequence[Any] = ()) -> int:
        stmt = conn.prepareStatement(sql)
        try:
            for i, value in enumerate(params, start=1):
                if value is None:
                    stmt.setObject(i, None)
                elif isinstance(value, bool):
                    stmt.setBoolean(i, value)
                elif isinstance(value, int):
                    stmt.setLong(i, value)
                elif isinstance(value, float):
                    stmt.setDouble(i, value)
                elif isinstance(value, dict | list):
                    stmt.setString(i, json.dumps(value, default=str))
                else:
                    stmt.setString(i, str(value))
            if stmt.execute():
                return -1
            return int(stmt.getUpdateCount())
        finally:
            stmt.close()

    @staticmethod
    def query_one(conn: Any, sql: str, params: Sequence[Any] = ()) -> list[Any] | None:
        stmt = conn.prepareStatement(sql)
        try:
            for i, value in enumerate(params, start=1):
                stmt.setString(i, str(value))
            rs = stmt.executeQuery()
            if not rs.next():
                return None
            n = rs.getMetaData().getColumnCount()
            return [rs.getString(i) for i in range(1, n + 1)]
        finally:
            stmt.close()
