"""The seeded generators: the handbook simulator reproduces the handbook's published example exactly, its
fraud scenarios hold, and the FPS telemetry is deterministic and shaped as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.patternalarm.datasets import fps, handbook


def test_customer_and_terminal_profiles_match_the_handbook_tables() -> None:
    customers = handbook.customer_profiles(5, seed=0)
    # the handbook's printed table (section 3.2, "generate a customer profile table for five customers")
    assert customers.x.round(6).tolist() == [54.881350, 42.365480, 96.366276, 56.804456, 2.021840]
    assert customers.mean_amount.round(6).tolist() == [62.262521, 46.570785, 80.213879, 11.748426, 78.924891]
    assert customers.mean_nb_tx_per_day.round(6).tolist() == [2.179533, 3.567092, 2.115580, 0.348517, 3.480049]
    terminals = handbook.terminal_profiles(5, seed=0)
    assert terminals.y.round(6).tolist()[:2] == [71.518937, 54.488318]
    assert handbook.terminals_within(customers, terminals, radius=50) == [[0, 1, 2, 3], [0, 1, 2, 3], [1, 4],
                                                                            [0, 1, 2, 3], [2, 3]]


def test_transactions_match_the_handbooks_five_customer_example() -> None:
    customers = handbook.customer_profiles(5, seed=0)
    available = handbook.terminals_within(customers, handbook.terminal_profiles(5, seed=0), radius=50)
    rows = [tx for c, terms in zip(customers.itertuples(index=False), available, strict=True)
            for tx in handbook.customer_transactions(c, terms, nb_days=5)]
    # "This gives us a set of 65 transactions, with 5 customers, 5 terminals, and 5 days."
    assert len(rows) == 65
    assert rows[:3] == [(26345, 0, 0, 3, 123.59), (68522, 0, 0, 3, 46.51), (64816, 0, 0, 0, 77.34)]
    assert rows[-1] == (391126, 4, 4, 3, 17.53)


@pytest.fixture(scope="module")
def small_handbook() -> pd.DataFrame:
    return handbook.generate(handbook.HandbookConfig(n_customers=150, n_terminals=300, nb_days=40, radius=15))


def test_handbook_generation_is_deterministic_and_sorted(small_handbook: pd.DataFrame) -> None:
    again = handbook.generate(handbook.HandbookConfig(n_customers=150, n_terminals=300, nb_days=40, radius=15))
    pd.testing.assert_frame_equal(small_handbook, again)
    assert small_handbook.TX_DATETIME.is_monotonic_increasing
    assert small_handbook.TRANSACTION_ID.tolist() == list(range(len(small_handbook)))


def test_handbook_fraud_scenarios(small_handbook: pd.DataFrame) -> None:
    tx = small_handbook
    assert set(tx.TX_FRAUD_SCENARIO) <= {0, 1, 2, 3}
    assert (tx.TX_FRAUD == (tx.TX_FRAUD_SCENARIO > 0)).all()
    assert (tx.loc[tx.TX_FRAUD_SCENARIO == 0, "TX_AMOUNT"] <= 220).all()  # every amount > 220 is a fraud
    # scenario 2: the two terminals drawn with the day as seed, for the 28 days from that day
    day = 3
    drawn = handbook.terminal_profiles(300, seed=1).TERMINAL_ID.sample(n=2, random_state=day)
    window = tx[(tx.TX_TIME_DAYS >= day) & (tx.TX_TIME_DAYS < day + 28) & tx.TERMINAL_ID.isin(drawn)]
    assert len(window) and window.TX_FRAUD.all()
    # scenario 3: a third of a compromised card's transactions, amounts ×5 (so scenario-3 amounts are big)
    s3 = tx[tx.TX_FRAUD_SCENARIO == 3]
    assert len(s3) and s3.TX_AMOUNT.median() > tx.loc[tx.TX_FRAUD == 0, "TX_AMOUNT"].median() * 3
    # the published loops run over range(last day): nothing is compromised from the last day on
    assert tx.TX_FRAUD.sum() > 0


def test_handbook_amounts_never_negative_and_in_cents(small_handbook: pd.DataFrame) -> None:
    amounts = small_handbook.TX_AMOUNT.to_numpy()
    assert (amounts >= 0).all()
    assert np.allclose(amounts * 100, np.round(amounts * 100))


@pytest.fixture(scope="module")
def small_fps() -> pd.DataFrame:
    return fps.generate(fps.FpsConfig(players=80, days=3, seed=5, aimbot_share=0.15, wallhack_share=0.1))


def test_fps_is_deterministic(small_fps: pd.DataFrame) -> None:
    again = fps.generate(fps.FpsConfig(players=80, days=3, seed=5, aimbot_share=0.15, wallhack_share=0.1))
    pd.testing.assert_frame_equal(small_fps, again)
    other = fps.generate(fps.FpsConfig(players=80, days=3, seed=6, aimbot_share=0.15, wallhack_share=0.1))
    assert not small_fps.equals(other)


def test_fps_shape_and_labels(small_fps: pd.DataFrame) -> None:
    d = small_fps
    assert list(d.columns) == ["ts", "player", "match", "action", "target", "weapon", "headshot", "cheater", "cheat"]
    assert "reaction_ms" not in d  # real telemetry lacks it
    assert set(d.action) == {"shot", "hit", "kill"}
    assert d.ts.is_monotonic_increasing
    assert set(d.loc[d.action == "kill", "headshot"]) <= {"true", "false"}
    assert (d.loc[d.action != "kill", "headshot"] == "").all()
    assert (d.loc[d.action == "shot", "target"] == "").all()
    assert (d.loc[d.action != "shot", "target"] != d.loc[d.action != "shot", "player"]).all()
    per_player = d.groupby("player").agg(cheater=("cheater", "nunique"), cheat=("cheat", "nunique"))
    assert (per_player == 1).all().all()  # a per-player label
    assert ((d.cheat != "none") == (d.cheater == 1)).all()
    # each match has two teams of five; a target is always on the other team
    kills = d[d.action == "kill"].merge(d[["match", "player"]].drop_duplicates(), left_on=["match", "target"],
                                        right_on=["match", "player"], suffixes=("", "_t"))
    assert len(kills) == (d.action == "kill").sum()


def test_fps_aimbot_users_hit_heads_more(small_fps: pd.DataFrame) -> None:
    kills = small_fps[small_fps.action == "kill"]
    share = (kills.headshot == "true").groupby(kills.cheat).mean()
    assert share["aimbot"] > share["none"] + 0.15
    assert abs(share["wallhack"] - share["none"]) < 0.1  # a wallhack does not aim
