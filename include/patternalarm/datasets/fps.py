"""A GENERATED first-person-shooter telemetry set with cheat-ban labels (no public labelled match
telemetry is obtainable here; see docs/datasets.md for what was tried).

What comes from a published study, and what does not:

- **Population** (published): the share of cheaters and the split between aim and wall cheats follow the
  CS:GO data set of Zhang et al., "Identify As A Human Does: A Pathfinder of Next-Generation Anti-Cheat
  Framework for First-Person Shooter Games" (Hawk; arXiv:2409.14830, IEEE TIFS 2025): 2,979 aimbot and
  2,971 wallhack users among 56,041 players, i.e. 5.3 % + 5.3 %.
- **Match shape** (game rules): 5 v 5, 24 rounds, about 100 s a round.
- **Per-player behaviour** (ASSUMED, not measured by that study — stated so that nobody mistakes it for a
  measurement): honest players' headshot share of kills ~ Beta with a skill-dependent mean around 0.42
  (skilled players up to ~0.6), shot accuracy ~ Beta around 0.30; aimbot users: headshot share uniform in
  [0.60, 0.92] and accuracy × 1.5 while the cheat is on; wallhack users: honest aim, 25 % more kills.
  Kill counts are Poisson with a log-normal skill effect, so good honest players overlap cheaters — the
  part that makes a one-line rule imperfect. ``toggle`` < 1 makes "closet" aimbot users who switch the
  cheat on only in that share of their matches.

Columns: ``ts`` (ISO-8601 UTC, ms), ``player``, ``match``, ``action`` (shot | hit | kill), ``target``
(the opponent hit or killed), ``weapon``, ``headshot`` (kills only; empty otherwise), ``cheater`` (1 for
every row of a banned player: a per-entity label), ``cheat`` (none | aimbot | wallhack). Like real
telemetry it has no ``reaction_ms`` and no positions. Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.patternalarm.datasets.common import iso_ms

WEAPONS = ("ak47", "m4a1", "awp", "deagle", "mp9", "galil", "famas", "usp")
WEAPON_P = (0.30, 0.25, 0.08, 0.07, 0.10, 0.08, 0.07, 0.05)


@dataclass(frozen=True)
class FpsConfig:
    players: int = 1_000
    days: int = 30
    start: str = "2026-03-02"
    aimbot_share: float = 2_979 / 56_041
    wallhack_share: float = 2_971 / 56_041
    matches_per_player: float = 5.0   # mean; geometric, so a heavy share plays once or twice
    rounds: int = 24
    round_s: float = 100.0
    toggle: float = 1.0               # share of an aimbot user's matches with the cheat on
    seed: int = 13


def _players(cfg: FpsConfig, rng: np.random.Generator) -> pd.DataFrame:
    n = cfg.players
    kind = rng.choice(["none", "aimbot", "wallhack"], size=n,
                      p=[1 - cfg.aimbot_share - cfg.wallhack_share, cfg.aimbot_share, cfg.wallhack_share])
    skill = rng.normal(0.0, 1.0, size=n)
    hs_mean = np.clip(0.42 + 0.07 * skill, 0.18, 0.62)
    honest_hs = rng.beta(hs_mean * 40, (1 - hs_mean) * 40)
    acc_mean = np.clip(0.30 + 0.04 * skill, 0.12, 0.45)
    honest_acc = rng.beta(acc_mean * 30, (1 - acc_mean) * 30)
    return pd.DataFrame({
        "player": [f"p{i:05d}" for i in range(n)], "cheat": kind, "skill": skill,
        "hs": honest_hs, "acc": honest_acc, "aim_hs": rng.uniform(0.60, 0.92, size=n),
        "matches": rng.geometric(1 / cfg.matches_per_player, size=n),
    })


def _schedule(cfg: FpsConfig, players: pd.DataFrame, rng: np.random.Generator) -> list[tuple[float, list[int]]]:
    """Matches as (start second, 10 distinct player indices); players are drawn in proportion to the
    matches they have left, so each plays about as many matches as it was given."""
    left = players.matches.to_numpy().astype(float)
    matches = []
    for _ in range(int(np.ceil(left.sum() / 10))):
        weight = left + 1e-3  # a player with none left can still fill a last roster
        roster = rng.choice(len(players), size=10, replace=False, p=weight / weight.sum())
        left[roster] = np.maximum(left[roster] - 1, 0)
        day = rng.integers(cfg.days)
        hour = rng.normal(20.0, 3.0) % 24  # evening peak
        matches.append((day * 86_400 + hour * 3_600, [int(p) for p in roster]))
    return matches


def generate(cfg: FpsConfig = FpsConfig()) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    players = _players(cfg, rng)
    ids = players.player.to_numpy()
    cheat = players.cheat.to_numpy()
    hs_on, hs_off = players.aim_hs.to_numpy(), players.hs.to_numpy()
    acc0, skill = players.acc.to_numpy(), players.skill.to_numpy()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "p", "m", "action", "target", "weapon", "head")}
    for m, (start, roster) in enumerate(_schedule(cfg, players, rng)):
        for side, team in enumerate((roster[:5], roster[5:])):
            opponents = roster[5:] if side == 0 else roster[:5]
            for p in team:
                aim_on = cheat[p] == "aimbot" and rng.random() < cfg.toggle
                acc = min(0.9, acc0[p] * (1.5 if aim_on else 1.0))
                rate = 0.68 * np.exp(0.25 * skill[p]) * (1.4 if aim_on else 1.0) \
                    * (1.25 if cheat[p] == "wallhack" else 1.0)
                kills = rng.poisson(rate * cfg.rounds)
                hits = kills + rng.poisson(1.8 * kills + 4)  # hits that killed + hits that did not
                shots = hits + rng.negative_binomial(hits + 1, acc)
                action = np.zeros(shots, dtype=np.int8)  # 0 shot, 1 hit, 2 kill
                order = rng.permutation(shots)
                action[order[:hits]] = 1
                action[order[:kills]] = 2
                parts["t"].append(start + rng.uniform(0, cfg.rounds * cfg.round_s, size=shots))
                parts["p"].append(np.full(shots, p))
                parts["m"].append(np.full(shots, m))
                parts["action"].append(action)
                parts["target"].append(rng.choice(opponents, size=shots))
                parts["weapon"].append(np.full(shots, rng.choice(len(WEAPONS), p=WEAPON_P)))
                parts["head"].append(rng.random(shots) < (hs_on[p] if aim_on else hs_off[p]))
    a = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.lexsort((a["p"], a["t"]))
    a = {k: v[order] for k, v in a.items()}
    kind = a["action"]
    return pd.DataFrame({
        "ts": iso_ms(np.datetime64(cfg.start, "ms") + np.round(a["t"] * 1000).astype("timedelta64[ms]")),
        "player": ids[a["p"]],
        "match": np.char.add("m", np.char.zfill(a["m"].astype(str), 5)),
        "action": np.array(["shot", "hit", "kill"])[kind],
        "target": np.where(kind > 0, ids[a["target"]], ""),
        "weapon": np.array(WEAPONS)[a["weapon"]],
        "headshot": np.where(kind == 2, np.where(a["head"], "true", "false"), ""),
        "cheater": (cheat[a["p"]] != "none").astype(int),
        "cheat": cheat[a["p"]],
    })
