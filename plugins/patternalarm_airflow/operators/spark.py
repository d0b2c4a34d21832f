"""Submit one of patternalarm's PySpark jobs (``include/spark/<job>.py``) with the Spark provider.

``PatternalarmSparkSubmitOperator`` is the provider's ``SparkSubmitOperator`` (connection
``spark_default``: the master, deploy mode, spark-submit binary) plus what every job of ours needs,
prepared at execute time (never at DAG parse time):

- the project package as ``py_files``: a zip of ``include/`` (Python files only) built per run;
- the jars: Spark's Kafka source and the PostgreSQL JDBC driver (``.deps/jars/spark``, fetched by
  ``make setup``), also on the driver's class path (the job opens JDBC connections from the driver);
- the incident store's password from the ``postgres_incidents`` connection, in the environment of
  spark-submit (``PATTERNALARM_SPARK_JDBC_PASSWORD``) — not on the command line, not in the
  rendered template fields;
- for a ``local[...]`` master, the Python of this worker for the driver and the executors, and
  ``SPARK_LOCAL_IP=127.0.0.1`` so that the driver and its UI listen on loopback only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

PASSWORD_ENV = "PATTERNALARM_SPARK_JDBC_PASSWORD"  # noqa: S105 - the variable's name, not a password
_SKIP_DIRS = {"__pycache__", "tests"}


def build_package_zip(include_dir: Path, target: Path) -> Path:
    """Zip every ``.py`` file under ``include_dir`` as the ``include`` package (what ``py_files`` ships)."""
    if not (include_dir / "__init__.py").is_file():
        raise FileNotFoundError(f"{include_dir} is not the include package (no __init__.py)")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(include_dir.rglob("*.py")):
            rel = path.relative_to(include_dir.parent)
            if _SKIP_DIRS.intersection(rel.parts):
                continue
            zf.write(path, rel.as_posix())
    return target


class PatternalarmSparkSubmitOperator(SparkSubmitOperator):
    """Run ``include/spark/<job>.py`` through spark-submit (see the module docstring).

    :param job: the job's module name under ``include/spark`` (e.g. ``reconcile_detection``).
    :param postgres_conn_id: the connection whose password the job gets in its environment.
    :param extra_jars: jars beyond the project's (default: the ones ``make setup`` fetched).
    """

    template_fields: Sequence[str] = (*SparkSubmitOperator.template_fields, "job")
    ui_color = "#fde2c8"

    def __init__(self, *, job: str, postgres_conn_id: str = "postgres_incidents",
                 extra_jars: Sequence[str] = (), conn_id: str = "spark_default", **kwargs: Any) -> None:
        kwargs.setdefault("name", f"patternalarm-{job}")
        super().__init__(application="", conn_id=conn_id, **kwargs)
        self.job = job
        self.postgres_conn_id = postgres_conn_id
        self.extra_jars = list(extra_jars)
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def _prepare(self) -> None:
        from airflow.sdk import BaseHook

        import include
        from include.patternalarm.settings import get_settings
        from include.patternalarm.stack.tools import spark_jars

        include_dir = Path(include.__file__).resolve().parent
        application = include_dir / "spark" / f"{self.job}.py"
        if not application.is_file():
            raise FileNotFoundError(f"no Spark job {self.job!r}: {application} does not exist")
        self.application = str(application)
        self._workdir = tempfile.TemporaryDirectory(prefix="patternalarm-spark-")
        package = build_package_zip(include_dir, Path(self._workdir.name) / "patternalarm_include.zip")
        self.py_files = ",".join(p for p in (str(package), self.py_files) if p)
        jars = [str(j) for j in spark_jars(get_settings())] + self.extra_jars
        self.jars = ",".join(p for p in (*jars, self.jars) if p)
        postgres_jars = [j for j in jars if "postgresql" in Path(j).name]
        self.driver_class_path = ":".join(p for p in (*postgres_jars, self.driver_class_path) if p)

        password = BaseHook.get_connection(self.postgres_conn_id).password
        if not password:
            raise ValueError(f"connection {self.postgres_conn_id!r} has no password: the Spark job needs one to "
                             "write its results")
        env = dict(self.env_vars or {})
        env[PASSWORD_ENV] = password
        master = BaseHook.get_connection(self._conn_id).host or ""
        if master.startswith("local"):
            env.setdefault("PYSPARK_PYTHON", sys.executable)
            env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            # the driver, its block manager and its UI listen on loopback only (not 0.0.0.0)
            env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        self.env_vars = env

    def execute(self, context: Context) -> None:
        self._prepare()
        try:
            super().execute(context)
        finally:
            if self._workdir is not None:
                self._workdir.cleanup()
                self._workdir = None
            if self.env_vars:
                self.env_vars.pop(PASSWORD_ENV, None)
            os.environ.pop(PASSWORD_ENV, None)
