"""Payments rules against each card's and merchant's own norm, on the real stack, on seeded history
generated here: 300 cards over 30 days, each with its own typical amount (log-normal across cards) and
spread; 30 of them compromised from their 30th auth on — a third of their auths then at x5 their norm,
a dozen of those at one terminal over three days.

- amount_anomaly finds the compromised cards with card-level recall and precision >= 0.8, within the
  first 3 such auths of a card (median);
- compromised_terminal alerts the terminal."""

from __future__ import annotations

import math
import random
import statistics
import time
from typing import Any

import pytest

from tests.integration.detection.conftest import DetectionJob, finish, send_sorted

DOMAIN = "payments"
HOUR = 3_600_000
CARDS, COMPROMISED, AUTHS = 300, 30, 60
BAD_TERMINAL = "term-bad"


@pytest.fixture(scope="module")
def played(detection_job: DetectionJob) -> dict[str, Any]:
    rng = random.Random(20261203)
    start = int((time.time() - 40 * 86_400) * 1000)
    rows: list[tuple[int, str, dict[str, Any]]] = []
    fraud: dict[str, list[str]] = {}  # card -> its x5 auths, in order
    for c in range(CARDS):
        card = f"card-{c:04d}"
        norm = math.exp(rng.gauss(math.log(45), 0.8))
        spread = rng.uniform(0.2, 0.4)
        compromised = c < COMPROMISED
        t = start + rng.randint(0, 12 * HOUR)
        for i in range(AUTHS):
            t += int(rng.uniform(4, 20) * HOUR)
            amount = norm * math.exp(rng.gauss(0, spread))
            terminal = f"term-{rng.randint(0, 399):03d}"
            event_id = f"{card}-{i}"
            if compromised and i >= 30 and rng.random() < 1 / 3:
                amount *= 5
                fraud.setdefault(card, []).append(event_id)
                if c < 12:
                    terminal = BAD_TERMINAL
                    t = max(t, start + 15 * 24 * HOUR)  # the terminal's three bad days
                    t = min(t, start + 18 * 24 * HOUR)
            rows.append((t, card, {"event_id": event_id, "domain": DOMAIN, "card_id": card,
                                   "account_id": f"acct-{card}", "event_type": "auth", "amount": round(amount, 2),
                                   "currency": "EUR", "merchant_id": terminal, "channel": "card_present"}))
    last = send_sorted(detection_job, rows)
    return {"fraud": fraud, "alerts": finish(detection_job, last)}


def test_cards_far_above_their_own_norm_are_found(played: dict[str, Any]) -> None:
    alerted = {a["entity"] for a in played["alerts"] if a["rule_id"] == "amount_anomaly"}
    compromised = set(played["fraud"])
    tp = alerted & compromised
    recall, precision = len(tp) / len(compromised), len(tp) / max(len(alerted), 1)
    assert recall >= 0.8 and precision >= 0.8, (recall, precision, sorted(alerted - compromised))
    ranks = []
    for card in tp:
        firsts = [a["evidence"]["event_ids"][0] for a in played["alerts"]
                  if a["rule_id"] == "amount_anomaly" and a["entity"] == card]
        hits = [played["fraud"][card].index(e) + 1 for e in firsts if e in played["fraud"][card]]
        ranks.append(min(hits) if hits else len(played["fraud"][card]) + 1)
    print(f"figure payments x5 cards: recall {recall:.2f} precision {precision:.2f} "
          f"median transactions to first alert {statistics.median(ranks)}")  # docs/detection.md (pytest -s)
    assert statistics.median(ranks) <= 3, ranks


def test_a_terminal_compromised_for_days_is_alerted(played: dict[str, Any]) -> None:
    terminals = {a["entity"] for a in played["alerts"] if a["rule_id"] == "compromised_terminal"}
    print(f"figure payments terminals alerted: {sorted(terminals)}")
    assert BAD_TERMINAL in terminals, terminals
    assert len(terminals) <= 2, terminals
