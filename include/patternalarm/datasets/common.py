"""Small pieces the converters and generators share."""

from __future__ import annotations

import numpy as np


def iso_ms(times: np.ndarray) -> np.ndarray:
    """datetime64 values (UTC) as ISO-8601 strings with milliseconds and ``Z``, the contract's event_time."""
    text = np.datetime_as_string(np.asarray(times).astype("datetime64[ms]"), unit="ms")
    return np.char.add(text.astype(str), "Z")
