"""Streaming readers: CSV, gzip-compressed CSV and Parquet, a batch of rows at a time.

Nothing is loaded whole: CSV is read line by line through ``csv.reader`` (over ``gzip`` for
``.csv.gz``), Parquet a row batch at a time (``pyarrow.parquet.ParquetFile.iter_batches``) and
only the columns the mapping needs.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

FORMATS = ("csv", "csv.gz", "parquet")
BATCH_ROWS = 8192
#: the longest CSV field read (16 times the event size limit)
FIELD_LIMIT = 1024 * 1024


class ReaderError(ValueError):
    """The file cannot be read as the format it claims to be."""


def detect_format(path: Path, explicit: str | None = None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise ReaderError(f"unknown format {explicit!r}; choose from {', '.join(FORMATS)}")
        return explicit
    name = path.name.lower()
    if name.endswith((".csv.gz", ".tsv.gz")):
        return "csv.gz"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ReaderError(f"cannot tell the format of {path.name}: name it .csv, .csv.gz or .parquet, or pass --format")


@dataclass
class BadRow:
    """A row the reader could not split into the header's columns."""

    number: int
    reason: str
    raw: Any


@dataclass
class RowSource:
    """Rows of a file: ``columns`` (header), ``batches()`` of ``(first_row_number, rows)``."""

    path: Path
    format: str
    columns: list[str]
    total_rows: int | None = None  # Parquet: from the metadata
    total_bytes: int = 0
    _position: Any = None
    _close: list[Any] = field(default_factory=list)
    _batches: Iterator[tuple[int, list[Sequence[Any] | BadRow]]] | None = None

    def batches(self) -> Iterator[tuple[int, list[Sequence[Any] | BadRow]]]:
        assert self._batches is not None
        return self._batches

    @property
    def bytes_read(self) -> int:
        return self._position() if self._position else 0

    def close(self) -> None:
        for item in self._close:
            item.close()


def open_rows(path: Path, *, fmt: str | None = None, columns: Sequence[str] | None = None,
              delimiter: str = ",") -> RowSource:
    """Open ``path``; ``columns`` restricts Parquet reads to what is needed (CSV rows keep all)."""
    if not path.is_file():
        raise ReaderError(f"no such file: {path}")
    fmt = detect_format(path, fmt)
    if fmt == "parquet":
        return _open_parquet(path, columns)
    return _open_csv(path, fmt, delimiter)


def _open_csv(path: Path, fmt: str, delimiter: str) -> RowSource:
    csv.field_size_limit(FIELD_LIMIT)  # a longer field (or a quote never closed) is a bad row, not a crash
    raw: BinaryIO = open(path, "rb")
    try:
        binary: BinaryIO = gzip.GzipFile(fileobj=raw) if fmt == "csv.gz" else raw  # type: ignore[assignment]
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise ReaderError(f"{path.name} is empty (no header row)") from None
        except (OSError, EOFError, csv.Error) as exc:
            raise ReaderError(f"{path.name}: cannot read the header: {exc}") from None
    except BaseException:
        raw.close()
        raise
    header = [h.strip() for h in header]
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    if len(set(header)) != len(header):
        raw.close()
        raise ReaderError(f"{path.name}: duplicate column names in the header: {header}")
    width = len(header)

    def batches() -> Iterator[tuple[int, list[Sequence[Any] | BadRow]]]:
        number = 0
        batch: list[Sequence[Any] | BadRow] = []
        first = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. a NUL byte or an unterminated quote: skip, report
                number += 1
                batch.append(BadRow(number, f"line {reader.line_num}: {exc}", None))
                continue
            except (OSError, EOFError) as exc:  # a truncated gzip stream
                number += 1
                batch.append(BadRow(number, f"the file ends abruptly at line {reader.line_num}: {exc}", None))
                break
            number += 1
            if len(row) != width:
                if not row:  # blank line
                    number -= 1
                    continue
                batch.append(BadRow(number, f"line {reader.line_num}: {len(row)} fields, the header has {width}",
                                    row))
            else:
                batch.append(row)
            if len(batch) >= BATCH_ROWS:
                yield first, batch
                first, batch = number + 1, []
        if batch:
            yield first, batch

    return RowSource(path=path, format=fmt, columns=header, total_bytes=path.stat().st_size,
                     _position=raw.tell, _close=[raw], _batches=batches())


def _open_parquet(path: Path, columns: Sequence[str] | None) -> RowSource:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ReaderError(f"{path.name} is not a readable Parquet file: {exc}") from None
    names = list(pf.schema_arrow.names)
    wanted = [c for c in names if columns is None or c in columns]
    read = {"n": 0}

    def batches() -> Iterator[tuple[int, list[Sequence[Any] | BadRow]]]:
        number = 1
        for record_batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            cols = [record_batch.column(i).to_pylist() for i in range(record_batch.num_columns)]
            rows: list[Sequence[Any] | BadRow] = list(zip(*cols, strict=True)) if cols else []
            read["n"] += record_batch.num_rows
            yield number, rows
            number += record_batch.num_rows

    size = path.stat().st_size
    total = pf.metadata.num_rows
    return RowSource(path=path, format="parquet", columns=wanted, total_rows=total, total_bytes=size,
                     _position=lambda: int(size * read["n"] / total) if total else 0, _close=[pf],
                     _batches=batches())
