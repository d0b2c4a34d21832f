"""The card-transaction simulator of *Reproducible Machine Learning for Credit Card Fraud Detection —
Practical Handbook* (Le Borgne, Siblini, Lebichot, Bontempi, 2022), chapter 3.2 "Transaction data
simulator", generated from its published description.

The handbook's process, step by step (its parameters are the defaults here):

1. customers: location (x, y) ~ U(0, 100)²; ``mean_amount`` ~ U(5, 100), ``std_amount`` = mean / 2;
   ``mean_nb_tx_per_day`` ~ U(0, 4) — drawn in that order per customer from a generator seeded 0;
2. terminals: location (x, y) ~ U(0, 100)², generator seeded 1;
3. a customer uses the terminals closer than ``r`` (5) to its location;
4. per customer (generators seeded by the customer id) and day: Poisson(mean_nb_tx_per_day)
   transactions, each at ``int(N(43200, 20000))`` seconds into the day (kept only inside the day),
   amount N(mean, std) (a negative draw is replaced by U(0, 2·mean)), rounded to cents, at a terminal
   drawn uniformly from the customer's terminals; all transactions sorted by time and numbered;
5. frauds: (1) every amount > 220; (2) each day two terminals are compromised (drawn with the day as
   seed) and all their transactions of the next 28 days are fraudulent; (3) each day three customers are
   compromised (drawn with the day as seed) and a third of their transactions of the next 14 days
   (drawn with the day as seed) have their amount multiplied by 5 and are fraudulent. As published, the
   daily loops run over ``range(last day)``.

Seeding follows the description exactly (NumPy's legacy generator and Python's ``random``, through
private instances), so the output is the handbook's own data: 5 customers / 5 terminals / 5 days give
its 65-transaction example, and 5,000 customers / 10,000 terminals / 183 days its 1,754,155
transactions (tests/unit/datasets check the first).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_S = 86_400


@dataclass(frozen=True)
class HandbookConfig:
    n_customers: int = 5_000
    n_terminals: int = 10_000
    nb_days: int = 183
    start_date: str = "2018-04-01"
    radius: float = 5.0
    customer_seed: int = 0
    terminal_seed: int = 1


def customer_profiles(n: int, seed: int = 0) -> pd.DataFrame:
    rs = np.random.RandomState(seed)
    rows = []
    for customer_id in range(n):
        x, y = rs.uniform(0, 100), rs.uniform(0, 100)
        mean_amount = rs.uniform(5, 100)
        rows.append((customer_id, x, y, mean_amount, mean_amount / 2, rs.uniform(0, 4)))
    return pd.DataFrame(rows, columns=["CUSTOMER_ID", "x", "y", "mean_amount", "std_amount", "mean_nb_tx_per_day"])


def terminal_profiles(n: int, seed: int = 1) -> pd.DataFrame:
    rs = np.random.RandomState(seed)
    rows = [(terminal_id, rs.uniform(0, 100), rs.uniform(0, 100)) for terminal_id in range(n)]
    return pd.DataFrame(rows, columns=["TERMINAL_ID", "x", "y"])


def terminals_within(customers: pd.DataFrame, terminals: pd.DataFrame, radius: float) -> list[list[int]]:
    xy = terminals[["x", "y"]].to_numpy(dtype=float)
    out = []
    for cx, cy in customers[["x", "y"]].to_numpy(dtype=float):
        distance = np.sqrt(np.sum(np.square(np.array([cx, cy]) - xy), axis=1))
        out.append([int(t) for t in np.where(distance < radius)[0]])
    return out


def customer_transactions(customer: pd.Series, available: list[int], nb_days: int) -> list[tuple]:
    """One customer's transactions: (seconds since start, day, customer, terminal, amount)."""
    customer_id = int(customer.CUSTOMER_ID)
    rs = np.random.RandomState(customer_id)
    pick = random.Random(customer_id)  # noqa: S311 - reproducing the published simulator, not security
    out = []
    for day in range(nb_days):
        for _ in range(rs.poisson(customer.mean_nb_tx_per_day)):
            t = int(rs.normal(DAY_S / 2, 20_000))
            if 0 < t < DAY_S:
                amount = rs.normal(customer.mean_amount, customer.std_amount)
                if amount < 0:
                    amount = rs.uniform(0, customer.mean_amount * 2)
                amount = float(np.round(amount, decimals=2))
                if available:
                    out.append((t + day * DAY_S, day, customer_id, pick.choice(available), amount))
    return out


def add_frauds(customers: pd.DataFrame, terminals: pd.DataFrame, tx: pd.DataFrame) -> pd.DataFrame:
    """The three published fraud scenarios; adds TX_FRAUD and TX_FRAUD_SCENARIO (1, 2, 3) in place."""
    tx["TX_FRAUD"] = 0
    tx["TX_FRAUD_SCENARIO"] = 0
    big = tx.TX_AMOUNT > 220
    tx.loc[big, ["TX_FRAUD", "TX_FRAUD_SCENARIO"]] = [1, 1]
    last_day = int(tx.TX_TIME_DAYS.max())
    days = tx.TX_TIME_DAYS.to_numpy()
    for day in range(last_day):
        compromised = terminals.TERMINAL_ID.sample(n=2, random_state=day)
        hit = (days >= day) & (days < day + 28) & tx.TERMINAL_ID.isin(compromised).to_numpy()
        tx.loc[hit, ["TX_FRAUD", "TX_FRAUD_SCENARIO"]] = [1, 2]
    for day in range(last_day):
        compromised = customers.CUSTOMER_ID.sample(n=3, random_state=day).to_numpy()
        hit = (days >= day) & (days < day + 14) & tx.CUSTOMER_ID.isin(compromised).to_numpy()
        index = list(tx.index[hit])
        chosen = random.Random(day).sample(index, k=len(index) // 3)  # noqa: S311 - as published
        tx.loc[chosen, "TX_AMOUNT"] = tx.loc[chosen, "TX_AMOUNT"] * 5
        tx.loc[chosen, ["TX_FRAUD", "TX_FRAUD_SCENARIO"]] = [1, 3]
    return tx


def generate(config: HandbookConfig = HandbookConfig(), with_frauds: bool = True) -> pd.DataFrame:
    """The labelled transactions table (handbook column names), sorted by time, TRANSACTION_ID from 0."""
    customers = customer_profiles(config.n_customers, config.customer_seed)
    terminals = terminal_profiles(config.n_terminals, config.terminal_seed)
    available = terminals_within(customers, terminals, config.radius)
    rows: list[tuple] = []
    for customer, terminals_of in zip(customers.itertuples(index=False), available, strict=True):
        rows.extend(customer_transactions(customer, terminals_of, config.nb_days))  # type: ignore[arg-type]
    tx = pd.DataFrame(rows, columns=["TX_TIME_SECONDS", "TX_TIME_DAYS", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"])
    tx["TX_DATETIME"] = pd.to_datetime(tx.TX_TIME_SECONDS, unit="s", origin=config.start_date)
    # the published order: sorted by time (pandas' default sort), then numbered
    tx = tx.sort_values("TX_DATETIME").reset_index(drop=True)
    tx.insert(0, "TRANSACTION_ID", tx.index)
    if with_frauds:
        add_frauds(customers, terminals, tx)
    return tx
