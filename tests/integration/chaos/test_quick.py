"""The quick subset of the chaos experiments on the real stack: a TaskManager SIGKILL, an incident-sink SIGKILL
mid-batch and poison input, each under labelled traffic and scored against ground truth — nothing lost,
nothing duplicated, recovered within its limit. (The full set is `bin/patternalarm chaos run --all`; it takes
about half an hour and is not part of every CI run: docs/chaos.md.)"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from include.patternalarm.chaos import QUICK, ChaosConfig, run_batch
from include.patternalarm.settings import Settings

# short periods and a third of the seed rate: the subset must fit in a few minutes on a shared 2-core machine
QUICK_CONFIG = ChaosConfig(rate_per_min=20_000, steady_s=10, fault_s=10, after_s=10, drain_timeout_s=240)


@pytest.fixture(scope="module")
def quick_batch(stack_settings: Settings, platform_running: None) -> dict:
    return run_batch(stack_settings, QUICK, QUICK_CONFIG, requested_by="test/chaos")


@pytest.mark.parametrize("name", QUICK)
def test_nothing_is_lost_or_duplicated_and_the_platform_recovers(quick_batch: dict, name: str) -> None:
    result = next(r for r in quick_batch["experiments"] if r["experiment"] == name)
    assert result["expected"] and result["expected"] > 0, "the experiment ran no labelled scenario"
    assert result["lost"] == 0, result["score"]["missed"]
    assert result["duplicated"] == 0 and result["incidents_duplicated"] == 0
    recovery = result.get("recovery_s")  # absent when the platform did not recover within the limit
    assert recovery is not None and recovery <= result["limit_s"], (result["failures"], result["notes"])
    assert not any(n > 1 for n in (result["peak_jobs"] or {}).values()), result["peak_jobs"]
    assert result["status"] == "passed", result["failures"]


def test_poison_input_is_dead_lettered_and_harms_no_job(quick_batch: dict) -> None:
    poison = next(r for r in quick_batch["experiments"] if r["experiment"] == "poison_input")["poison"]
    assert poison["labelled_bad_events"] > 0 and not poison["labelled_missing"] and not poison["labelled_wrong_reason"]
    direct = poison["direct"]
    assert direct["handled"] == direct["sent"] > 0, direct
    assert poison["dead_lettered_with_reason"] == poison["bad_input_total"]


def test_the_runs_are_recorded_and_reported(stack_settings: Settings, quick_batch: dict) -> None:
    with psycopg.connect(stack_settings.db_conninfo("reporting")) as conn:
        rows = conn.execute("select experiment, status, lost, duplicated, recovery_s from chaos_runs"
                            " where batch_id = %s order by id", (quick_batch["batch_id"],)).fetchall()
    assert [r[0] for r in rows] == list(QUICK)
    assert all(r[1] in ("passed", "failed") for r in rows)
    assert all(r[2] is not None for r in rows if r[1] == "passed"), "a passed run has its lost count"
    report = Path(quick_batch["report"])
    assert report.is_file() and quick_batch["batch_id"] in report.read_text()
    saved = json.loads((report.parent / "report.json").read_text())
    assert [e["experiment"] for e in saved["experiments"]] == list(QUICK)
