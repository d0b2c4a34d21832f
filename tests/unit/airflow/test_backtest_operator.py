"""FlinkBacktestOperator's argument handling and kill path (no services: refused before any call)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.patternalarm.backtest.engine import BacktestError, Isolation, JobRun, RuleSet, _follow
from include.patternalarm.rules import JobTopics
from include.patternalarm.settings import get_settings
from patternalarm_airflow.hooks.flink import FlinkHook
from patternalarm_airflow.operators.backtest import OPTIONS, FlinkBacktestOperator, _plain

CONTEXT = {"dag": SimpleNamespace(dag_id="backtest_rules"), "run_id": "manual__test"}


def test_every_option_is_templated_and_none_shadows_an_operator_attribute() -> None:
    op = FlinkBacktestOperator(task_id="backtest", label_column="fraud", overrides=["a.b=1"])
    assert set(op.template_fields) == set(OPTIONS)
    assert op.label == "backtest", "the operator's own label is untouched"
    assert op.params == {} or "a.b=1" not in str(op.params), "the DAG's params are not the overrides"


@pytest.mark.parametrize(("value", "expected"), [
    ("None", None), ("", None), ("  ", None), ("true", True), ("False", False),
    ("['amount=amt', 'lat=y']", ["amount=amt", "lat=y"]), ("[]", []), ("handbook-month", "handbook-month"),
    (4, 4), (["x"], ["x"]), (None, None), ("[not python", "[not python"),
])
def test_templated_values_become_python_values(value: Any, expected: Any) -> None:
    assert _plain(value) == expected


def test_rendered_strings_and_native_values_give_the_same_options() -> None:
    rendered = FlinkBacktestOperator(
        task_id="backtest", dataset="None", file="data/h.csv", domain="payments", label_column="fraud", key="card",
        time="ts", entity="None", map="['amount=amt']", set="[]", windows="None", limit="None",
        catalog_version="None", overrides="['large_amount.min_amount=250']", only="[]",
        compare_catalog_version="None", compare_overrides="['large_amount.min_amount=1000']", parallelism="2",
        timeout_s="600")
    native = FlinkBacktestOperator(
        task_id="backtest", dataset=None, file="data/h.csv", domain="payments", label_column="fraud", key="card",
        time="ts", map=["amount=amt"], set=[], overrides=["large_amount.min_amount=250"], only=[],
        compare_overrides=["large_amount.min_amount=1000"], parallelism=2, timeout_s=600)
    for op in (rendered, native):
        options = op.options({"airflow": {"run_id": "r"}})
        assert (options.file, options.label, options.map, options.set) == ("data/h.csv", "fraud", ["amount=amt"], [])
        assert options.params == ["large_amount.min_amount=250"]
        assert options.compare_params == ["large_amount.min_amount=1000"]
        assert options.dataset is None and options.windows is None and options.only == []
        assert int(options.parallelism) == 2 and float(options.timeout_s) == 600
        assert options.workers == 1 and options.extra == {"airflow": {"run_id": "r"}}
    single = FlinkBacktestOperator(task_id="b", map="amount=amt", only="large_amount,velocity").options()
    assert single.map == ["amount=amt"] and single.only == "large_amount,velocity"


@pytest.fixture
def offline_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Flink connection's settings without an Airflow connection (nothing is called before the check)."""
    monkeypatch.setattr(FlinkHook, "get_conn", lambda self: get_settings())


@pytest.mark.parametrize(("arguments", "param", "words"), [
    ({"dataset": "nope"}, "dataset", "unknown data set 'nope'"),
    ({}, "file", "give a labelled file, or a data set"),
    ({"dataset": "handbook-month", "overrides": ["large_amount.nope=1"]}, "params", "unknown parameter"),
    ({"dataset": "handbook-month", "only": ["aimbot"]}, "only", "no payments rule aimbot"),
    ({"file": "no/such.csv", "domain": "payments"}, "file", "no such file"),
])
def test_wrong_params_fail_the_task_naming_the_param(offline_hook: None, arguments: dict[str, Any], param: str,
                                                     words: str) -> None:
    op = FlinkBacktestOperator(task_id="backtest", **arguments)
    with pytest.raises(AirflowFailException) as caught:
        op.execute(CONTEXT)  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"Param {param!r}: ") and words in str(caught.value)
    assert op._isolation is None, "nothing was created"


def test_on_kill_releases_the_isolation_at_once_and_stops_the_wait() -> None:
    op = FlinkBacktestOperator(task_id="backtest", dataset="handbook-month")
    op.on_kill()  # before execute: nothing to release, no error
    calls: list[dict[str, Any]] = []
    stop = threading.Event()
    op._isolation = SimpleNamespace(jobs={"j1": "backtest-x-candidate"}, stop=stop,  # type: ignore[assignment]
                                    release=lambda **kw: (calls.append(kw), stop.set()))
    op.on_kill()
    assert len(calls) == 1 and calls[0]["wait"] is False
    # what the engine does once released: its wait loop gives up before calling Flink
    runs = [JobRun(RuleSet(), JobTopics(source="backtest.t.events"))]
    with pytest.raises(BacktestError, match="stopped"):
        _follow(get_settings(), runs, {"candidate": Future()}, 0, 0, lambda _: None, 60.0, stop)


def test_an_isolation_is_released_once_and_cancels_a_job_submitted_after_it() -> None:
    settings = get_settings().model_copy(update={"flink_rest_url": "http://127.0.0.1:9", "kafka_bootstrap": ""})
    isolation = Isolation(settings, tag="t")
    said: list[str] = []
    isolation.release(wait=False, progress=said.append)  # nothing created yet: nothing to do
    assert isolation.released and isolation.stop.is_set() and said == []
    isolation.release(wait=False, progress=said.append)
    isolation.add_job("late-job", "backtest-t-candidate", said.append)  # its submission returned after the kill
    assert isolation.jobs == {"late-job": "backtest-t-candidate"}
    assert said and said[0].startswith("could not cancel the backtest-t-candidate job late-job"), "cancelled at once"
