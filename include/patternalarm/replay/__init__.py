"""Replay: stream a recorded CSV / CSV.gz / Parquet file into a domain topic (backtesting).

>>> from include.patternalarm.replay import ReplayConfig, run_replay
>>> summary = run_replay(get_settings(), ReplayConfig(Path("auths.csv.gz"), "payments", key="card",
...                      time="ts", fields={"account_id": "acct", "amount": "amt", "event_type": "type"}))
"""

from __future__ import annotations

from include.patternalarm.replay.joblog import JobDeadLetters
from include.patternalarm.replay.mapping import ColumnMapping, MappingError, RowMapper
from include.patternalarm.replay.readers import FORMATS, ReaderError, detect_format, open_rows
from include.patternalarm.replay.runner import (
    ReplayConfig,
    ReplayError,
    ReplayProgress,
    ReplaySummary,
    parse_pairs,
    parse_speed,
    run_replay,
)

__all__ = [
    "FORMATS",
    "ColumnMapping",
    "JobDeadLetters",
    "MappingError",
    "ReaderError",
    "ReplayConfig",
    "ReplayError",
    "ReplayProgress",
    "ReplaySummary",
    "RowMapper",
    "detect_format",
    "open_rows",
    "parse_pairs",
    "parse_speed",
    "run_replay",
]
