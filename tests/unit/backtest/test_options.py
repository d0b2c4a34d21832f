"""``--dataset NAME`` / the DAG's Params → a BacktestSpec: the registry's mapping, explicit overrides, clear
errors naming the option (no services: a fake fetch writes the data set's file)."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from include.patternalarm.backtest.options import BacktestOptions, OptionError, build_spec, flag
from include.patternalarm.datasets import DATASETS, FetchError, csv_path

HANDBOOK_HEADER = "tx,ts,card,terminal,amount,fraud,scenario\nhb-1,2018-04-01T00:00:00.000Z,card-1,term-1,12.5,0,0\n"
IOT_HEADER = "ts,device,sensor,value,unit,label\n2024-01-01T00:00:00.000Z,yahoo,value,1.0,,0\n"


class FakeFetch:
    """Writes the data set's file where fetch would; counts the calls."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, name: str, data_dir: Path) -> Any:
        self.calls.append(name)
        if self.fail:
            raise FetchError(f"pip download for {name} failed: no network")
        path = csv_path(data_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt") as fh:
            fh.write(IOT_HEADER if DATASETS[name].domain == "iot" else HANDBOOK_HEADER)
        return SimpleNamespace(path=path, rows=1, labelled_rows=0)


def _build(tmp_path: Path, fetch: FakeFetch | None = None, progress: list[str] | None = None,
           **options: Any) -> Any:
    return build_spec(BacktestOptions(**options), data_dir=tmp_path / "data", base_dir=tmp_path,
                      fetch=fetch or FakeFetch(), progress=(progress if progress is not None else []).append)


def _error(tmp_path: Path, **options: Any) -> OptionError:
    with pytest.raises(OptionError) as caught:
        _build(tmp_path, **options)
    return caught.value


def test_a_data_set_fills_file_mapping_labels_and_is_fetched_once_with_progress(tmp_path: Path) -> None:
    fetch, said = FakeFetch(), []
    spec = _build(tmp_path, fetch, said, dataset="handbook-month")
    registry = DATASETS["handbook-month"]
    assert spec.path == csv_path(tmp_path / "data", "handbook-month") and spec.dataset == "handbook-month"
    assert (spec.domain, spec.label, spec.entity, spec.windows) == ("payments", "fraud", "card", False)
    assert spec.group == "scenario", "the handbook's scenario column: recall per kind of fraud"
    assert (spec.mapping.key, spec.mapping.time) == ("card", "ts")
    assert dict(spec.mapping.fields) == dict(registry.mapping.fields)
    assert dict(spec.mapping.constants) == {"event_type": "auth", "channel": "card_present"}
    assert fetch.calls == ["handbook-month"]
    assert said[0].startswith("fetching data set handbook-month (288,062 rows, generating it)")
    assert spec.baseline is None and spec.candidate.overrides == {} and spec.candidate.rules is None

    again = FakeFetch()
    _build(tmp_path, again, dataset="handbook-month")
    assert again.calls == [], "a fetched data set is not fetched again"


def test_explicit_options_override_the_registry(tmp_path: Path) -> None:
    own = tmp_path / "cut.csv"
    own.write_text(HANDBOOK_HEADER.replace("fraud,scenario", "fraud,scenario,amount2"))
    fetch = FakeFetch()
    spec = _build(tmp_path, fetch, dataset="handbook-month", file="cut.csv", map=["amount=amount2", "lat=ts"],
                  set=["channel=online"], entity="terminal", windows=True, limit=1000, only="large_amount, velocity",
                  params=["large_amount.min_amount=250"], compare_params=["large_amount.min_amount=1000"])
    assert spec.path == own and fetch.calls == [], "FILE beside --dataset is used instead of fetching"
    fields = dict(spec.mapping.fields)
    assert fields["amount"] == "amount2" and fields["lat"] == "ts" and fields["event_id"] == "tx"
    assert dict(spec.mapping.constants) == {"event_type": "auth", "channel": "online"}
    assert (spec.entity, spec.windows, spec.mapping.limit) == ("terminal", True, 1000)
    assert spec.candidate.rules == ("large_amount", "velocity")
    assert spec.candidate.overrides == {"large_amount": {"min_amount": "250"}}
    assert spec.baseline is not None and spec.baseline.overrides == {"large_amount": {"min_amount": "1000"}}
    assert spec.baseline.catalog_version == spec.candidate.catalog_version
    assert spec.baseline.rules == spec.candidate.rules


def test_sensor_data_sets_score_windows_unless_told_not_to(tmp_path: Path) -> None:
    spec = _build(tmp_path, dataset="yahoo-s5-excerpt")
    assert (spec.domain, spec.windows, spec.entity, spec.label) == ("iot", True, "device", "label")
    assert dict(spec.mapping.constants) == {"event_type": "reading"}
    assert _build(tmp_path, dataset="yahoo-s5-excerpt", windows=False).windows is False


def test_a_file_without_a_data_set_needs_its_mapping(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("when,card,bad,amt\n2024-03-01T00:00:00Z,c1,0,3.5\n")
    base = {"file": "h.csv", "domain": "payments", "key": "card", "time": "when"}
    error = _error(tmp_path, **base)
    assert error.option == "label" and "required" in error.message
    refused = _error(tmp_path, **base, label="bad", map=["amount=amt"])
    assert refused.option == "map" and "account_id" in refused.message and "--map FIELD=COLUMN" in refused.message
    spec = _build(tmp_path, **base, label="bad", map=["amount=amt", "account_id=card"], set=["event_type=auth"])
    assert spec.entity is None and spec.dataset is None and spec.group is None
    assert dict(spec.mapping.fields) == {"amount": "amt", "account_id": "card"}
    wrong_group = _error(tmp_path, **base, label="bad", map=["amount=amt", "account_id=card"], group="kind")
    assert wrong_group.option == "group" and "'kind' is not in h.csv" in wrong_group.message
    assert _error(tmp_path, **{**base, "label": "fraud"}).message.startswith("column 'fraud' is not in h.csv")
    assert _error(tmp_path, **base, label="bad", map=["amount=nope"]).option == "map"
    assert _error(tmp_path, **base, label="bad", set=["colour=red"]).option == "set"
    assert _error(tmp_path, **{**base, "domain": "crypto"}, label="bad").option == "domain"
    assert _error(tmp_path, file="missing.csv", domain="payments").message.startswith("no such file")


@pytest.mark.parametrize(("options", "option", "words"), [
    ({"dataset": "nope"}, "dataset", ["unknown data set 'nope'", *DATASETS]),
    ({}, "file", ["give a labelled file, or a data set", "handbook-month"]),
    ({"dataset": "handbook-month", "params": ["large_amount.nope=1"]}, "params", ["nope", "min_amount"]),
    ({"dataset": "handbook-month", "params": ["large_amount"]}, "params", ["<rule>.<param>=<value>"]),
    ({"dataset": "handbook-month", "compare_params": ["velocity.max_auths=0"]}, "compare_params", ["max_auths"]),
    ({"dataset": "handbook-month", "catalog_version": 99}, "catalog_version", ["99 not found"]),
    ({"dataset": "handbook-month", "compare_catalog_version": "x"}, "compare_catalog_version", ["whole number"]),
    ({"dataset": "handbook-month", "only": ["aimbot"]}, "only", ["no payments rule aimbot", "large_amount"]),
    ({"dataset": "handbook-month", "parallelism": 0}, "parallelism", ["between 1 and 16"]),
    ({"dataset": "handbook-month", "limit": 0}, "limit", ["at least 1"]),
    ({"dataset": "handbook-month", "map": ["amount"]}, "map", ["FIELD=COLUMN"]),
    ({"dataset": "handbook-month", "rules": "no/such/dir"}, "rules", ["no such directory"]),
])
def test_wrong_options_name_the_option_before_anything_is_fetched(tmp_path: Path, options: dict[str, Any],
                                                                   option: str, words: list[str]) -> None:
    fetch = FakeFetch()
    with pytest.raises(OptionError) as caught:
        _build(tmp_path, fetch, **options)
    assert caught.value.option == option
    for word in words:
        assert word in caught.value.message, (word, caught.value.message)
    assert fetch.calls == []


def test_a_failed_fetch_names_the_data_set(tmp_path: Path) -> None:
    error = _error(tmp_path, fetch=FakeFetch(fail=True), dataset="yahoo-s5-excerpt")
    assert error.option == "dataset" and "could not fetch yahoo-s5-excerpt: pip download" in error.message


def test_the_command_line_spells_options_as_flags(tmp_path: Path) -> None:
    assert [flag(o) for o in ("file", "params", "compare_params", "compare_catalog_version", "timeout_s")] == [
        "FILE", "--param", "--compare-param", "--compare-catalog-version", "--timeout"]
    from include.patternalarm.cli import app

    done = CliRunner().invoke(app, ["backtest", "--dataset", "nope"])
    assert done.exit_code == 2 and "--dataset: unknown data set 'nope'" in done.output
    assert "fps-cheaters" in done.output and "Traceback" not in done.output
    done = CliRunner().invoke(app, ["backtest", "--dataset", "handbook-month", "--param", "large_amount.x=1"])
    assert done.exit_code == 2 and "--param: " in done.output
