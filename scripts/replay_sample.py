"""Write the replay benchmark's sample history: N payments rows as Parquet and CSV.gz.

    .venv/bin/python scripts/replay_sample.py 1000000 /tmp/one_m   # → /tmp/one_m.parquet, /tmp/one_m.csv.gz

Columns: txn card acct ts amt cur merchant cc lat lon chan result (50,000 cards, one row every 60 ms);
the replay command that reads them is in docs/traffic.md ("Measured").
"""

from __future__ import annotations

import gzip
import random
import sys
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq


def main(rows: int, out: str) -> None:
    rng = random.Random(1)  # noqa: S311 - sample data, seeded for the same file every time
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    names = ["txn", "card", "acct", "ts", "amt", "cur", "merchant", "cc", "lat", "lon", "chan", "result"]
    cols: dict[str, list] = {k: [] for k in names}
    for i in range(rows):
        card = rng.randrange(50_000)
        cols["txn"].append(f"t{i}")
        cols["card"].append(f"card-{card}")
        cols["acct"].append(f"acct-{card}")
        cols["ts"].append((t0 + timedelta(milliseconds=i * 60)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        cols["amt"].append(round(rng.uniform(1, 500), 2))
        cols["cur"].append(rng.choice(["USD", "EUR", "GBP"]))
        cols["merchant"].append(f"m-{rng.randrange(2000)}")
        cols["cc"].append(rng.choice(["US", "DE", "GB", "FR"]))
        cols["lat"].append(round(rng.uniform(-60, 60), 4))
        cols["lon"].append(round(rng.uniform(-120, 120), 4))
        cols["chan"].append(rng.choice(["ecommerce", "card_present", "mobile"]))
        cols["result"].append(rng.choice(["approved", "declined"]))
    table = pa.table(cols)
    pq.write_table(table, f"{out}.parquet")
    with gzip.open(f"{out}.csv.gz", "wb") as f:
        pcsv.write_csv(table, f)
    print(f"{rows} rows → {out}.parquet, {out}.csv.gz")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: replay_sample.py ROWS OUT_PREFIX")
    main(int(sys.argv[1]), sys.argv[2])
