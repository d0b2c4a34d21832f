"""The one-line baselines on small hand-made series, and end to end on small generated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from include.patternalarm.cli import app
from include.patternalarm.datasets import baselines, fps, handbook
from include.patternalarm.datasets.convert import handbook_table, indexed_series


def _iot(*series: pd.DataFrame) -> pd.DataFrame:
    frame = pd.concat(series, ignore_index=True)
    frame["_t"] = pd.to_datetime(frame.ts, utc=True).astype("int64") / 1e9
    return frame


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, n)


def test_rolling_4sigma_flags_a_spike_per_series_whatever_the_scale() -> None:
    a = _noise(300, 1)
    a[250] += 20
    b = _noise(300, 2) * 1000 + 7  # another device at another scale, interleaved in time
    frame = _iot(indexed_series(a, np.zeros(300), device="a", sensor="t", spacing_s=60),
                 indexed_series(b, np.zeros(300), device="b", sensor="t", spacing_s=60)).sort_values("ts")
    alerts, z = baselines.rolling_4sigma(frame.reset_index(drop=True), window=50)
    flagged = frame.reset_index(drop=True)[alerts]
    assert flagged.device.tolist() == ["a"] and flagged.index.size == 1
    assert flagged.value.iloc[0] == pytest.approx(a[250])
    assert np.isnan(z[:40]).all()  # fewer than window/2 previous readings: no opinion


def test_rolling_4sigma_flat_stretch_then_any_change() -> None:
    values = np.r_[np.full(60, 5.0), 5.1]
    frame = _iot(indexed_series(values, np.zeros(61), device="d", sensor="s", spacing_s=1))
    alerts, _ = baselines.rolling_4sigma(frame, window=20)
    assert alerts.tolist() == [False] * 60 + [True]


def test_first_minutes_3sigma_reference_never_alerts_and_a_shift_does() -> None:
    values = _noise(1200, 3)
    values[900:] += 10  # level shift at 900 s
    frame = _iot(indexed_series(values, np.zeros(1200), device="d", sensor="s", spacing_s=1))
    alerts, z = baselines.first_minutes_3sigma(frame, reference_s=300)
    assert np.isnan(z[:300]).all() and not alerts[:300].any()
    assert alerts[900:].mean() > 0.95 and alerts[300:900].mean() < 0.01


def test_first_minutes_reference_is_at_most_a_quarter_of_the_run() -> None:
    frame = _iot(indexed_series(_noise(100, 4), np.zeros(100), device="d", sensor="s", spacing_s=1))
    _, z = baselines.first_minutes_3sigma(frame, reference_s=300)
    assert np.isnan(z[:25]).all() and not np.isnan(z[25:]).any()


def test_headshot_share_is_the_running_share_after_min_kills() -> None:
    frame = pd.DataFrame({
        "player": ["p", "p", "q", "p", "p", "p"],
        "action": ["kill", "shot", "kill", "kill", "kill", "kill"],
        "headshot": ["true", "", "true", "false", "true", "true"],
        "_t": [1, 2, 3, 4, 5, 6],
    })
    share = baselines.headshot_share(frame, min_kills=3)
    expected = [np.nan, np.nan, np.nan, np.nan, 2 / 3, 3 / 4]  # q has 1 kill; p reaches 3 kills at t=5
    np.testing.assert_allclose(share, expected)


@pytest.fixture(scope="module")
def payments_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tx = handbook.generate(handbook.HandbookConfig(n_customers=200, n_terminals=400, nb_days=40, radius=15))
    path = tmp_path_factory.mktemp("pay") / "payments.csv.gz"
    handbook_table(tx).to_csv(path, index=False)
    return path


def test_amount_threshold_fixed_and_tuned(payments_csv: Path) -> None:
    fixed, tuned = baselines.run("handbook-month", payments_csv)
    assert (fixed.rule, fixed.tuned, tuned.tuned) == ("amount > 220", False, True)
    assert fixed.report.row.precision == 1.0  # every amount > 220 is a scenario-1 fraud by construction
    assert tuned.report.row.f1 >= fixed.report.row.f1
    assert fixed.report.entity is not None and fixed.report.time_to_first_alert is not None
    assert fixed.report.precision_at_k_of == "entities"
    assert fixed.as_dict()["tuned_on_labels"] is False


def test_headshot_baseline_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "fps.csv"
    fps.generate(fps.FpsConfig(players=100, days=3, seed=8, aimbot_share=0.1, wallhack_share=0.05)).to_csv(
        path, index=False)
    fixed, tuned = baselines.run("fps-cheaters", path)
    assert fixed.rule == "headshot share > 0.6 after ≥ 20 kills"
    assert tuned.report.entity is not None and fixed.report.entity is not None
    assert tuned.report.entity.f1 >= fixed.report.entity.f1 > 0


def test_cli_list_and_show_need_no_download(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["datasets", "list", "--json", "--data-dir", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "handbook-month" in listed.output and '"fetched": false' in listed.output
    shown = runner.invoke(app, ["datasets", "show", "mitdb-ecg-excerpt", "--data-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "--domain iot --label label --entity device --key device --time ts" in shown.output
    unknown = runner.invoke(app, ["datasets", "show", "nab"])
    assert unknown.exit_code == 1 and "unknown data set 'nab'" in unknown.output
    neither = runner.invoke(app, ["datasets", "fetch"])
    assert neither.exit_code == 2
