"""Source files → one table in the shape of a dataset's replay/backtest mapping.

IoT tables have the columns ``ts, device, sensor, value, unit, label``: one row per reading, the series'
own name as ``sensor`` (our ``sensor_type``), the series/file as ``device``, ``unit`` empty where the
source does not say, ``label`` 1 inside a labelled anomaly window. Sources that carry sample indices
only get event times at their documented (or stated) spacing from ``INDEX_ORIGIN``.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from include.patternalarm.datasets.common import iso_ms

INDEX_ORIGIN = np.datetime64("2024-01-01T00:00:00", "ms")
IOT_COLUMNS = ["ts", "device", "sensor", "value", "unit", "label"]


class ConvertError(ValueError):
    """A source file does not have the shape its converter expects."""


def read_csv(data: bytes, name: str, required: list[str], **kwargs: object) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.BytesIO(data), **kwargs)  # type: ignore[arg-type]
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConvertError(f"{name}: not a readable CSV: {exc}") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ConvertError(f"{name}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, frame.columns))}")
    return frame


def indexed_series(values: np.ndarray, labels: np.ndarray, *, device: str, sensor: str, spacing_s: float,
                   unit: str = "") -> pd.DataFrame:
    """One sensor series given by its sample order: event times ``INDEX_ORIGIN + i · spacing``."""
    offsets = np.round(np.arange(len(values)) * spacing_s * 1000).astype("timedelta64[ms]")
    return pd.DataFrame({
        "ts": iso_ms(INDEX_ORIGIN + offsets), "device": device, "sensor": sensor,
        "value": np.asarray(values, dtype=float), "unit": unit,
        "label": (np.asarray(labels, dtype=float) > 0).astype(int),
    })[IOT_COLUMNS]


def value_label_csv(data: bytes, name: str, *, value: str, label: str, device: str, sensor: str,
                    spacing_s: float, unit: str = "") -> pd.DataFrame:
    """A ``value,label`` CSV (sktime's and aeon's anomaly excerpts) as one series."""
    frame = read_csv(data, name, [value, label])
    values = pd.to_numeric(frame[value], errors="coerce")
    if values.isna().any():
        raise ConvertError(f"{name}: {int(values.isna().sum())} non-numeric value(s) in {value!r}")
    return indexed_series(values.to_numpy(), frame[label].fillna(0).to_numpy(), device=device, sensor=sensor,
                          spacing_s=spacing_s, unit=unit)


def handbook_table(tx: pd.DataFrame) -> pd.DataFrame:
    """The handbook's transactions as ``tx, ts, card, terminal, amount, fraud, scenario``."""
    return pd.DataFrame({
        "tx": "hb-" + tx.TRANSACTION_ID.astype(str),
        "ts": iso_ms(tx.TX_DATETIME.to_numpy()),
        "card": "card-" + tx.CUSTOMER_ID.astype(str),
        "terminal": "term-" + tx.TERMINAL_ID.astype(str),
        "amount": tx.TX_AMOUNT.round(2),
        "fraud": tx.TX_FRAUD.astype(int),
        "scenario": tx.TX_FRAUD_SCENARIO.astype(int),
    })
