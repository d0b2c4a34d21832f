"""A local Spark session for the batch SQL tests (no services: Spark runs in-process, local[1])."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    pyspark = pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    assert pyspark.__version__.startswith("4.")
    session = (SparkSession.builder.master("local[1]").appName("patternalarm-batch-unit")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    # py4j logs while it shuts down at interpreter exit, after pytest closed the captured streams
    logging.getLogger("py4j").setLevel(logging.WARNING)
    yield session
    session.stop()
