"""
### backtest_rules

Runs rule sets over **labelled history** in isolated Flink jobs and scores them against the labels —
the `bin/patternalarm backtest` command as a DAG. The history is replayed into throwaway topics at full
speed in event time; the live jobs, alerts and incidents are untouched. Trigger it with config
(**Trigger DAG w/ config**):

| param | meaning |
|---|---|
| `dataset` | a registered data set (`bin/patternalarm datasets list`): fills everything below the file |
| `file` | or a labelled CSV / CSV.gz / Parquet file on the workers (relative to the checkout) |
| `domain`, `label`, `key`, `time`, `entity` | the mapping of the file (`entity` defaults to `key`) |
| `map`, `set` | `FIELD=COLUMN` / `FIELD=VALUE` items, as for replay |
| `windows` | score labelled windows of a series (sensor data) instead of entities |
| `group` | a column naming the kind of each positive (fraud scenario, cheat): recall per kind too |
| `limit` | only the first N rows |
| `catalog_version`, `params`, `only` | the candidate: catalog version, `rule.param=value` overrides, rule ids |
| `compare_catalog_version`, `compare_params` | a baseline beside it (another version, other overrides) |
| `parallelism` | of the backtest jobs (1–4: the backtest topic has 4 partitions) |
| `timeout_s` | give up after this long |

Give `dataset` **or** `file` with its mapping; options given with a data set override its mapping.
Params of the wrong type or shape are refused before a run exists; a wrong combination (neither a data
set nor a file, a column the file lacks, an unknown rule or parameter) fails the task at once with a
message naming the param.

**Result:** the task logs the per-rule table and pushes `report_url` / `report_path` (XCom); the report
is in this UI under **Browse → Backtests**. One backtest at a time (`max_active_runs=1`): on this
machine class the jobs take what the cores have.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag

from include.patternalarm.datasets import DATASETS
from include.patternalarm.rules import catalog_versions
from include.patternalarm.topics import DOMAINS
from patternalarm_airflow.operators.backtest import FlinkBacktestOperator

VERSIONS = catalog_versions()
FIELD_PAIR = r"^[a-z_][a-z0-9_]*=.+$"
OVERRIDE = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*=.+$"
DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(seconds=30)}


def _column(description: str) -> Param:
    return Param(None, type=["null", "string"], minLength=1, maxLength=200, description=description)


def _items(pattern: str, description: str) -> Param:
    return Param([], type="array", items={"type": "string", "pattern": pattern, "maxLength": 500}, maxItems=200,
                 description=description)


@dag(
    dag_id="backtest_rules",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["quality", "flink"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
    params={
        "dataset": Param(None, type=["null", "string"], enum=[None, *DATASETS],
                         description="A registered data set (fills the file and its mapping), or none"),
        "file": Param(None, type=["null", "string"], minLength=1, maxLength=4096,
                      description="A labelled file on the workers instead (CSV, CSV.gz, Parquet)"),
        "domain": Param(None, type=["null", "string"], enum=[None, *DOMAINS], description="The file's domain"),
        "label": _column("Column true on anomalous / fraudulent rows"),
        "key": _column("Column with the Kafka key (the entity field unless mapped)"),
        "time": _column("Column with event time (ISO-8601, epoch s or ms)"),
        "entity": _column("Column the labels are about (default: key)"),
        "map": _items(FIELD_PAIR, "FIELD=COLUMN items, as for replay"),
        "set": _items(FIELD_PAIR, "FIELD=VALUE items, as for replay"),
        "windows": Param(None, type=["null", "boolean"],
                         description="Score labelled windows (sensor series) instead of entities (default: the "
                                     "data set's; else off)"),
        "group": _column("Column naming the kind of each positive (fraud scenario, cheat): recall per kind "
                         "(default: the data set's)"),
        "limit": Param(None, type=["null", "integer"], minimum=1, description="Only the first N rows"),
        "catalog_version": Param(None, type=["null", "integer"], enum=[None, *VERSIONS],
                                 description="The candidate's catalog version (default: newest)"),
        "params": _items(OVERRIDE, "rule.param=value overrides of the candidate"),
        "only": Param([], type="array", items={"type": "string", "pattern": r"^[A-Za-z0-9_]+$"}, uniqueItems=True,
                      maxItems=100, description="Only these rules (empty: every rule of the domain)"),
        "compare_catalog_version": Param(None, type=["null", "integer"], enum=[None, *VERSIONS],
                                         description="Also run this catalog version as the baseline"),
        "compare_params": _items(OVERRIDE, "Run a baseline with these overrides instead"),
        "parallelism": Param(1, type="integer", minimum=1, maximum=4, description="Parallelism of the jobs (1-4)"),
        "timeout_s": Param(1800, type="integer", minimum=60, maximum=7200,
                           description="Give up after this many seconds"),
    },
)
def backtest_rules():
    FlinkBacktestOperator(
        task_id="backtest",
        retries=1,  # a retry runs the whole backtest again: once is enough for a passing cluster hiccup
        execution_timeout=pendulum.duration(hours=2, minutes=15),
        dataset="{{ params.dataset }}",
        file="{{ params.file }}",
        domain="{{ params.domain }}",
        label_column="{{ params.label }}",
        key="{{ params.key }}",
        time="{{ params.time }}",
        entity="{{ params.entity }}",
        map="{{ params.map }}",
        set="{{ params.set }}",
        windows="{{ params.windows }}",
        group="{{ params.group }}",
        limit="{{ params.limit }}",
        catalog_version="{{ params.catalog_version }}",
        overrides="{{ params.params }}",
        only="{{ params.only }}",
        compare_catalog_version="{{ params.compare_catalog_version }}",
        compare_overrides="{{ params.compare_params }}",
        parallelism="{{ params.parallelism }}",
        timeout_s="{{ params.timeout_s }}",
    )


backtest_rules()
