"""Backtest rule sets on labelled history from Airflow: ``FlinkBacktestOperator``.

The work is ``include.patternalarm.backtest`` — the very code behind ``bin/patternalarm backtest`` —
against the Flink cluster and Kafka of the ``flink_default`` connection: the file (or a registered data
set) is replayed into throwaway topics and run through isolated jobs, the alerts are scored against the
labels and the report is written under ``<reports_dir>/backtests/`` (served in the UI: *Browse →
Backtests*).

- Wrong arguments (an unknown data set, a column the file lacks, an unknown rule or parameter) fail the
  task at once with ``AirflowFailException`` naming the parameter: retrying would not help. A backtest
  that fails later (the cluster, a job) raises ``BacktestError``, and the task's retries apply.
- ``on_kill`` (the run marked failed, the task cleared, an execution timeout) cancels the isolated jobs and
  deletes their topics at once — the task process gets a few seconds before SIGKILL, so it does not wait
  for the cancellations to complete — and stops the replay and the wait.
- The return value (XCom) is a short summary; ``report_url`` and ``report_path`` are pushed as XComs of
  their own, and the per-rule table is logged.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from patternalarm_airflow.hooks.flink import FlinkHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.patternalarm.backtest.engine import Isolation
    from include.patternalarm.backtest.options import BacktestOptions

#: the operator's arguments that are options of the backtest (``BacktestOptions`` field names = DAG Params),
#: except ``label_column`` (``label`` is every operator's display label) and ``overrides``/``compare_overrides``
#: (``params`` is every operator's own: the DAG's Params)
OPTIONS = {"dataset": "dataset", "file": "file", "domain": "domain", "label_column": "label", "key": "key",
           "time": "time", "entity": "entity", "map": "map", "set": "set", "windows": "windows", "group": "group",
           "limit": "limit",
           "catalog_version": "catalog_version", "overrides": "params", "only": "only",
           "compare_catalog_version": "compare_catalog_version", "compare_overrides": "compare_params",
           "parallelism": "parallelism", "timeout_s": "timeout_s"}
LISTS = ("map", "set", "params", "compare_params", "only")


def _plain(value: Any) -> Any:
    """A templated value as a Python value: ``""``/``"None"`` → None, ``"[...]"`` → a list, ``"true"`` → True
    (the DAG renders natively; a DAG that does not still gets the right types)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("", "None", "null"):
        return None
    if text in ("True", "true", "False", "false"):
        return text in ("True", "true")
    if text[:1] in "[(":
        try:
            return list(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            return value
    return value


class FlinkBacktestOperator(BaseOperator):
    """Run a backtest (``bin/patternalarm backtest``) in isolated Flink jobs and write its report.

    :param dataset: a registered data set (``bin/patternalarm datasets list``); fills the rest unless given
    :param file: the labelled file (CSV, CSV.gz, Parquet; relative to the checkout) instead of / beside it
    :param domain: ``payments`` | ``gaming`` | ``iot``
    :param label_column: the label column (Param ``label``)
    :param key: the Kafka key column
    :param time: the event-time column
    :param entity: the column the labels are about (default: ``key``)
    :param map: ``FIELD=COLUMN`` items; :param set: ``FIELD=VALUE`` items (as for replay)
    :param windows: score labelled windows (sensor series) instead of entities
    :param group: the column naming the kind of each positive (fraud scenario, cheat): recall per kind
    :param limit: only the first N rows
    :param catalog_version: the candidate's catalog version (default: newest)
    :param overrides: ``rule.param=value`` overrides of the candidate (the DAG's Param ``params``)
    :param only: only these rule ids
    :param compare_catalog_version: run this version as the baseline too
    :param compare_overrides: run a baseline with these overrides instead (Param ``compare_params``)
    :param parallelism: of the backtest jobs
    :param timeout_s: give up after this many seconds
    :param replay_workers: replay processes (1 keeps the replay in the task's own process, which a kill stops)
    """

    template_fields: Sequence[str] = tuple(OPTIONS)
    ui_color = "#eef6ec"

    def __init__(self, *, dataset: str | None = None, file: str | None = None, domain: str | None = None,
                 label_column: str | None = None, key: str | None = None, time: str | None = None,
                 entity: str | None = None, map: list[str] | str | None = None,
                 set: list[str] | str | None = None,
                 windows: bool | str | None = None, group: str | None = None, limit: int | str | None = None,
                 catalog_version: int | str | None = None, overrides: list[str] | str | None = None,
                 only: list[str] | str | None = None, compare_catalog_version: int | str | None = None,
                 compare_overrides: list[str] | str | None = None, parallelism: int | str = 1,
                 timeout_s: float | str = 1800.0, replay_workers: int = 1,
                 flink_conn_id: str = FlinkHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset, self.file, self.domain, self.label_column = dataset, file, domain, label_column
        self.key, self.time, self.entity = key, time, entity
        self.map, self.set, self.windows, self.group, self.limit = map, set, windows, group, limit
        self.catalog_version, self.overrides, self.only = catalog_version, overrides, only
        self.compare_catalog_version, self.compare_overrides = compare_catalog_version, compare_overrides
        self.parallelism, self.timeout_s = parallelism, timeout_s
        self.replay_workers = replay_workers
        self.flink_conn_id = flink_conn_id
        self._isolation: Isolation | None = None

    def options(self, extra: dict[str, Any] | None = None) -> BacktestOptions:
        """The rendered arguments as backtest options (the types fixed; checked by ``build_spec``)."""
        from include.patternalarm.backtest.options import BacktestOptions

        values = {option: _plain(getattr(self, attribute)) for attribute, option in OPTIONS.items()}
        for name in LISTS:
            value = values[name]
            values[name] = [] if value is None else [value] if isinstance(value, str) and name != "only" else value
        for name in ("dataset", "file", "domain", "label", "key", "time", "entity", "group"):
            if values[name] is not None and not isinstance(values[name], str):  # "2024" rendered natively: a column
                values[name] = str(values[name])
        if values["parallelism"] is None:
            values["parallelism"] = 1
        if values["timeout_s"] is None:
            values["timeout_s"] = 1800.0
        return BacktestOptions(**values, workers=self.replay_workers, extra=dict(extra or {}))

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from include.patternalarm.backtest import run_backtest
        from include.patternalarm.backtest.engine import Isolation
        from include.patternalarm.backtest.options import OptionError, build_spec
        from patternalarm_airflow.backtests import URL_PREFIX

        settings = FlinkHook(flink_conn_id=self.flink_conn_id).get_conn()
        asked_by = {"airflow": {"dag_id": context["dag"].dag_id, "run_id": context["run_id"],
                                "task_id": self.task_id}}
        try:
            spec = build_spec(self.options(asked_by), data_dir=settings.data_dir, base_dir=settings.repo_root,
                              progress=self.log.info)
        except OptionError as exc:
            raise AirflowFailException(f"Param {exc.option!r}: {exc.message}") from None
        self._isolation = Isolation(settings)
        self.log.info("backtest %s (%s): candidate %s%s", spec.path, spec.domain, spec.candidate.describe(),
                      f", baseline {spec.baseline.describe()}" if spec.baseline else "")
        # a BacktestError (the cluster, a job that failed) may be passing: the task's retries apply
        result = run_backtest(settings, spec, progress=self.log.info, isolation=self._isolation)
        folder = result["report_dir"]
        url = f"{settings.airflow_api}{URL_PREFIX}/{folder.rsplit('/', 1)[-1]}/index.html"
        self.log.info("per rule:\n%s", text_table(result))
        for warning in result["warnings"]:
            self.log.warning("%s", warning)
        self.log.info("report: %s (Airflow UI: Browse → Backtests; on disk: %s/index.html)", url, folder)
        context["ti"].xcom_push(key="report_url", value=url)
        context["ti"].xcom_push(key="report_path", value=f"{folder}/index.html")
        return summary(result, url)

    def on_kill(self) -> None:
        if self._isolation is not None:
            self.log.warning("task killed: cancelling the backtest jobs %s and deleting their topics",
                             ", ".join(self._isolation.jobs) or "(none submitted yet)")
            self._isolation.release(wait=False, progress=self.log.warning)


def text_table(result: dict[str, Any], width: int = 110) -> str:
    """The CLI's per-rule table as plain text (for the task log)."""
    import io

    from rich.console import Console

    from include.patternalarm.cli.backtest import result_table, throughput_line

    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(result_table(result, width=width))
    console.print(throughput_line(result))
    return console.export_text()


def summary(result: dict[str, Any], url: str) -> dict[str, Any]:
    """The XCom: where the report is and the headline figures of each rule set (all rules together)."""
    out: dict[str, Any] = {"report_url": url, "report_dir": result["report_dir"], "rows": result["rows"],
                           "positives": result["positives"], "seconds": result["seconds"],
                           "warnings": result["warnings"]}
    for name in ("candidate", "baseline"):
        if isinstance(result.get(name), dict):
            overall = result[name]["overall"]
            out[name] = {"alerts": overall["alert_ids"], "row": overall["row"], "entity": overall["entity"],
                         "windows": overall["windows"], "precision_at_k": overall["precision_at_k"],
                         "catalog_version": result[name]["catalog_version"], "overrides": result[name]["overrides"]}
    return out
