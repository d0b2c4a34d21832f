"""Replay without a broker: streaming readers (CSV, CSV.gz, Parquet, broken files) and the row mapper
(coercion by the schema, reasons for rows that cannot become events)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.patternalarm.events import Problem, check_event
from include.patternalarm.replay import ColumnMapping, MappingError, ReaderError, RowMapper, open_rows
from include.patternalarm.replay.readers import BadRow
from include.patternalarm.replay.runner import ReplayConfig, ReplayError, parse_pairs, parse_speed

HEADER = "ts,device,kind,sensor,val,unit,batt\n"


def _rows(path: Path, **kw) -> tuple[list[str], list]:
    source = open_rows(path, **kw)
    try:
        return source.columns, [r for _, batch in source.batches() for r in batch]
    finally:
        source.close()


def test_csv_and_gzip_stream_rows_and_flag_ragged_ones(tmp_path: Path) -> None:
    text = "\ufeff" + HEADER + "1,d1,reading,temperature,20.5,C,\n\n2,d2,heartbeat,,,,80\n3,d3,too,many,fields,x,y,z\n"
    plain = tmp_path / "a.csv"
    plain.write_text(text)
    packed = tmp_path / "a.csv.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        columns, rows = _rows(path)
        assert columns == ["ts", "device", "kind", "sensor", "val", "unit", "batt"]
        assert rows[0] == ["1", "d1", "reading", "temperature", "20.5", "C", ""]
        assert rows[1][1] == "d2"
        assert isinstance(rows[2], BadRow) and "8 fields, the header has 7" in rows[2].reason
        assert rows[2].number == 3


def test_broken_files_give_bad_rows_or_clear_errors(tmp_path: Path) -> None:
    truncated = tmp_path / "t.csv.gz"
    truncated.write_bytes(gzip.compress((HEADER + "1,d1,reading,temperature,20.5,C,\n" * 5000).encode())[:-200])
    _, rows = _rows(truncated)
    assert isinstance(rows[-1], BadRow) and "ends abruptly" in rows[-1].reason
    huge = tmp_path / "h.csv"
    huge.write_text(HEADER + '1,d1,reading,temperature,"' + "x" * (2 * 1024 * 1024) + "\n2,d2,heartbeat,,,,80\n")
    _, rows = _rows(huge)
    assert isinstance(rows[0], BadRow) and "field larger" in rows[0].reason
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(ReaderError, match="empty"):
        open_rows(empty)
    with pytest.raises(ReaderError, match="no such file"):
        open_rows(tmp_path / "missing.csv")
    with pytest.raises(ReaderError, match="cannot tell the format"):
        open_rows(Path(__file__))
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    with pytest.raises(ReaderError, match="not a readable Parquet"):
        open_rows(not_parquet)
    dup = tmp_path / "d.csv"
    dup.write_text("a,a\n1,2\n")
    with pytest.raises(ReaderError, match="duplicate column"):
        open_rows(dup)


def test_parquet_reads_only_the_needed_columns_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    n = 20_000
    table = pa.table({"ts": pa.array(range(1_767_571_200_000, 1_767_571_200_000 + n), pa.int64()),
                      "device": [f"d{i}" for i in range(n)], "val": [i / 10 for i in range(n)],
                      "unused": ["x" * 50] * n})
    pq.write_table(table, path, row_group_size=5000)
    source = open_rows(path, columns=["ts", "device", "val"])
    assert source.columns == ["ts", "device", "val"] and source.total_rows == n
    batches = list(source.batches())
    source.close()
    assert len(batches) > 1 and sum(len(b) for _, b in batches) == n
    assert batches[0][1][0] == (1_767_571_200_000, "d0", 0.0)


def _mapper(**fields: str) -> RowMapper:
    default = {"event_type": "kind", "sensor_type": "sensor", "value": "val", "unit": "unit", "battery_pct": "batt"}
    spec = ColumnMapping("iot", key="device", time="ts", fields=fields or default, constants={})
    return RowMapper(spec, ["ts", "device", "kind", "sensor", "val", "unit", "batt"], "pfx")


@pytest.mark.parametrize(("ts", "expected"), [
    ("2026-01-05T00:00:01.5Z", "2026-01-05T00:00:01.500Z"),
    ("2026-01-05 01:00:01+01:00", "2026-01-05T00:00:01.000Z"),
    ("1767571201", "2026-01-05T00:00:01.000Z"),
    ("1767571201500", "2026-01-05T00:00:01.500Z"),
    ("1767571201.25", "2026-01-05T00:00:01.250Z"),
])
def test_time_formats_become_the_contract_iso(ts: str, expected: str) -> None:
    key, event, _ = _mapper().map([ts, "d1", "reading", "temperature", "20.5", "C", ""], 7)
    assert (key, event["event_time"], event["event_id"]) == ("d1", expected, "pfx-7")
    assert event["device_id"] == "d1" and event["value"] == 20.5 and event["battery_pct"] is None
    assert check_event(event, "iot") is None


@pytest.mark.parametrize(("row", "reason"), [
    (["", "d1", "reading", "temperature", "20", "C", ""], "missing_field:event_time"),
    (["yesterday", "d1", "reading", "temperature", "20", "C", ""], "bad_event_time"),
    (["1", "d1", "reading", "temperature", "20,5", "C", ""], "wrong_type:value"),
    (["1", "d1", "reading", "temperature", "nan", "C", ""], "wrong_type:value"),
    (["1", "d1", "reading", "", "20", "C", ""], "missing_field:sensor_type"),
    (["1", "d1", "reading", "s" * 65, "20", "C", ""], "wrong_type:sensor_type"),
    (["1", "", "heartbeat", "", "", "", "80"], "missing_field:device_id"),
    (["1", "d1", "heartbeat", "", "", "", "180"], "wrong_type:battery_pct"),
    (["1", "d1", "alarm", "", "", "", ""], "wrong_type:event_type"),
])
def test_rows_that_cannot_be_events_give_the_reason(row: list[str], reason: str) -> None:
    result = _mapper().map(row, 3)
    assert isinstance(result, Problem) and result.reason == reason, result


def test_mapping_errors_name_what_is_valid() -> None:
    with pytest.raises(MappingError, match=r"unknown field.*valid: event_id"):
        _mapper(colour="val")
    with pytest.raises(MappingError, match=r"column.*nope.*its columns: ts"):
        _mapper(value="nope")
    with pytest.raises(MappingError, match="use --time"):
        _mapper(event_time="ts")
    spec = ColumnMapping("iot", key="device", time="ts", fields={"value": "val"},
                         constants={"event_type": "reading", "sensor_type": "humidity", "battery_pct": "lots"})
    with pytest.raises(MappingError, match="battery_pct=lots"):
        RowMapper(spec, ["ts", "device", "val"], "p")


def test_constants_and_booleans() -> None:
    spec = ColumnMapping("gaming", key="p", time="t", fields={"match_id": "m", "headshot": "h", "x": "x"},
                         constants={"action": "kill"})
    mapper = RowMapper(spec, ["t", "p", "m", "h", "x"], "g")
    _, event, _ = mapper.map(["1767571201000", "p1", "m1", "Yes", "12"], 1)
    assert event["action"] == "kill" and event["headshot"] is True and event["x"] == 12
    assert mapper.map(["1767571201000", "p1", "m1", "maybe", "1"], 2).reason == "wrong_type:headshot"


def test_parameter_parsing() -> None:
    assert parse_speed("max") is None and parse_speed("realtime") == 1.0 and parse_speed("10x") == 10.0
    assert parse_pairs(["amount=AMT", "x = X"], "--map") == {"amount": "AMT", "x": "X"}
    for bad in (["amount"], ["=A"], ["a=1", "a=2"]):
        with pytest.raises(ReplayError):
            parse_pairs(bad, "--map")
    with pytest.raises(ReplayError, match="cannot read speed"):
        parse_speed("fast")
    with pytest.raises(ReplayError, match="needs a --speed"):
        ReplayConfig(Path("x.csv"), "iot", "k", "t", retime=True).validated()
    with pytest.raises(ReplayError, match="unknown domain"):
        ReplayConfig(Path("x.csv"), "bank", "k", "t").validated()
