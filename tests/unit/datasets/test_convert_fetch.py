"""Converters produce valid events through the replay mapping the registry prints, and fetch is
idempotent, checksummed and clear about failures — on small committed excerpts, no downloads."""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
import zipfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from include.patternalarm.datasets import DATASETS, FetchError, fetch, fps, get, handbook
from include.patternalarm.datasets import registry as registry_module
from include.patternalarm.datasets.convert import IOT_COLUMNS, ConvertError, handbook_table, value_label_csv
from include.patternalarm.datasets.fetch import content_sha256, download_wheel
from include.patternalarm.events.schema import compile_schema, load_schema
from include.patternalarm.replay import ColumnMapping, RowMapper, open_rows
from include.patternalarm.replay import mapping as replay_mapping

FIXTURES = Path(__file__).parent / "fixtures"


def _relaxed_iot_validator(domain: str):  # the lead's change for issue 13: sensor_type any string ≤ 64 chars
    schema = copy.deepcopy(load_schema(domain))
    if domain == "iot":
        schema["properties"]["sensor_type"] = {"type": ["string", "null"], "maxLength": 64}
    return compile_schema(schema, domain)


def _map_all(name: str, table: pd.DataFrame, tmp_path: Path) -> tuple[list[dict], Counter]:
    dataset = get(name)
    path = tmp_path / f"{name}.csv"
    table.to_csv(path, index=False)
    m = dataset.mapping
    source = open_rows(path)
    mapper = RowMapper(ColumnMapping(dataset.domain, m.key, m.time, dict(m.fields), dict(m.constants)),
                       source.columns, "t")
    events, problems = [], Counter()
    try:
        for first, batch in source.batches():
            for i, row in enumerate(batch):
                out = mapper.map(row, first + i)
                if isinstance(out, tuple):
                    events.append(out[1])
                else:
                    problems[out.reason] += 1
    finally:
        source.close()
    assert m.label in source.columns and m.entity in source.columns
    return events, problems


def test_handbook_rows_are_valid_payment_events(tmp_path: Path) -> None:
    tx = handbook.generate(handbook.HandbookConfig(n_customers=40, n_terminals=80, nb_days=20, radius=20))
    events, problems = _map_all("handbook-month", handbook_table(tx), tmp_path)
    assert not problems and len(events) == len(tx)
    first = events[0]
    assert first["event_type"] == "auth" and first["channel"] == "card_present"
    assert first["card_id"] == first["account_id"] and first["card_id"].startswith("card-")
    assert first["merchant_id"].startswith("term-") and isinstance(first["amount"], float | int)
    assert first["event_id"] == "hb-0"


def test_fps_rows_are_valid_gaming_events_without_reaction_times(tmp_path: Path) -> None:
    table = fps.generate(fps.FpsConfig(players=30, days=2, seed=3))
    events, problems = _map_all("fps-cheaters", table, tmp_path)
    assert not problems and len(events) == len(table)
    kills = [e for e in events if e["action"] == "kill"]
    assert kills and all(isinstance(e["headshot"], bool) for e in kills)
    assert all(e["headshot"] is None for e in events if e["action"] != "kill")
    assert all("reaction_ms" not in e for e in events)


@pytest.mark.parametrize(("name", "fixture", "value", "label", "spacing_s", "windows"), [
    ("yahoo-s5-excerpt", "yahoo-excerpt.csv", "data", "label", 3600.0, 2),
    ("ucr-internal-bleeding-16", "ucr-135-excerpt.csv", "value", "is_anomaly", 1.0, 1),
])
def test_iot_excerpts_convert_and_map(name: str, fixture: str, value: str, label: str, spacing_s: float,
                                      windows: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = (FIXTURES / fixture).read_bytes()
    table = value_label_csv(raw, fixture, value=value, label=label, device="dev-1", sensor="some_series_name",
                            spacing_s=spacing_s)
    source = pd.read_csv(FIXTURES / fixture)
    assert list(table.columns) == IOT_COLUMNS and len(table) == len(source)
    assert table.label.sum() == (source[label] > 0).sum()
    step = pd.to_datetime(table.ts).diff().dropna().dt.total_seconds().unique()
    assert step.tolist() == [spacing_s]
    assert (table.unit == "").all()  # the source has no unit: the optional field stays empty
    # the current contract: the only problem is the closed sensor_type enum the lead is relaxing
    _, problems = _map_all(name, table, tmp_path)
    assert set(problems) <= {"wrong_type:sensor_type"}
    # with sensor_type a free string (≤ 64 chars), every reading is a valid event
    monkeypatch.setattr(replay_mapping, "validator", _relaxed_iot_validator)
    events, problems = _map_all(name, table, tmp_path)
    assert not problems and len(events) == len(table)
    assert events[0]["sensor_type"] == "some_series_name" and events[0]["device_id"] == "dev-1"
    assert events[0]["event_type"] == "reading" and "unit" in events[0] and events[0]["unit"] is None


def test_converter_errors_are_clear() -> None:
    with pytest.raises(ConvertError, match="missing column"):
        value_label_csv(b"a,b\n1,0\n", "x.csv", value="value", label="label", device="d", sensor="s", spacing_s=1)
    with pytest.raises(ConvertError, match="non-numeric"):
        value_label_csv(b"value,label\n1,0\noops,0\n", "x.csv", value="value", label="label", device="d",
                        sensor="s", spacing_s=1)


def test_registry_is_complete() -> None:
    assert {d.domain for d in DATASETS.values()} == {"payments", "gaming", "iot"}
    for domain in ("payments", "gaming", "iot"):
        assert sum(d.domain == domain for d in DATASETS.values()) >= 2
    for d in DATASETS.values():
        assert d.rows > 0 and d.positives and d.license and d.sha256
        assert d.generated == (d.source.package is None)
        assert (d.source.package or "").count("==") == (0 if d.generated else 1)
        command = d.backtest_command("x.csv.gz")
        assert f"--label {d.mapping.label}" in command and f"--entity {d.mapping.entity}" in command
        assert command.startswith("bin/patternalarm backtest x.csv.gz --domain " + d.domain)


# --- fetch ---------------------------------------------------------------------------------------------

def _fake_wheel(cache: Path, spec: str, member: str, data: bytes) -> Path:
    name, _, version = spec.partition("==")
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(member, data)
    return wheel


@pytest.fixture
def yahoo_from_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The yahoo entry reading the committed excerpt from a wheel already in the download cache."""
    real = get("yahoo-s5-excerpt")
    monkeypatch.setitem(registry_module.DATASETS, real.name, dataclasses.replace(real, sha256=None))
    _fake_wheel(tmp_path / "datasets" / ".downloads", real.source.package or "", real.source.members[0],
                (FIXTURES / "yahoo-excerpt.csv").read_bytes())
    return tmp_path


def _no_pip(*_: object, **__: object) -> None:
    raise AssertionError("pip must not run when the wheel is cached")


def test_fetch_builds_then_is_idempotent(yahoo_from_fixture: Path) -> None:
    first = fetch("yahoo-s5-excerpt", yahoo_from_fixture, run=_no_pip)
    assert first.status == "built" and first.rows == 81 and first.labelled_rows == 2 and first.windows == 2
    assert first.path == yahoo_from_fixture / "datasets" / "yahoo-s5-excerpt.csv.gz"
    assert content_sha256(first.path) == first.sha256
    manifest = json.loads((yahoo_from_fixture / "datasets" / "yahoo-s5-excerpt.json").read_text())
    assert manifest["sha256"] == first.sha256 and manifest["rows"] == 81
    stamp = first.path.stat().st_mtime_ns
    second = fetch("yahoo-s5-excerpt", yahoo_from_fixture, run=_no_pip)
    assert second.status == "cached" and second.sha256 == first.sha256 and first.path.stat().st_mtime_ns == stamp
    # same content, byte for byte, when rebuilt (no timestamp in the gzip stream)
    before = first.path.read_bytes()
    assert fetch("yahoo-s5-excerpt", yahoo_from_fixture, force=True, run=_no_pip).status == "built"
    assert first.path.read_bytes() == before


def test_fetch_rebuilds_a_damaged_file(yahoo_from_fixture: Path) -> None:
    first = fetch("yahoo-s5-excerpt", yahoo_from_fixture, run=_no_pip)
    with gzip.open(first.path, "wb") as fh:
        fh.write(b"ts,device\n")
    again = fetch("yahoo-s5-excerpt", yahoo_from_fixture, run=_no_pip)
    assert again.status == "built" and again.sha256 == first.sha256


def test_fetch_refuses_content_that_differs_from_the_registry(yahoo_from_fixture: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    entry = get("yahoo-s5-excerpt")
    monkeypatch.setitem(registry_module.DATASETS, entry.name, dataclasses.replace(entry, sha256="0" * 64))
    with pytest.raises(FetchError, match="differs from the registry"):
        fetch("yahoo-s5-excerpt", yahoo_from_fixture, run=_no_pip)
    assert not (yahoo_from_fixture / "datasets" / "yahoo-s5-excerpt.csv.gz").exists()


def test_download_runs_pip_and_reports_its_failure(tmp_path: Path) -> None:
    calls = []

    def failing(cmd: list[str], **_: object) -> SimpleNamespace:
        calls.append(cmd)
        return SimpleNamespace(returncode=1, stderr="ERROR: No matching distribution found for aeon==9.9", stdout="")

    with pytest.raises(FetchError, match="No matching distribution"):
        download_wheel("aeon==9.9", tmp_path, run=failing)
    assert calls and calls[0][1:5] == ["-m", "pip", "download", "--no-deps"] and calls[0][-1] == "aeon==9.9"
    with pytest.raises(FetchError, match="pinned"):
        download_wheel("aeon", tmp_path, run=failing)


def test_fetch_reads_the_wheel_pip_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = get("ucr-internal-bleeding-16")
    monkeypatch.setitem(registry_module.DATASETS, real.name, dataclasses.replace(real, sha256=None))
    cache = tmp_path / "datasets" / ".downloads"

    def pip(cmd: list[str], **_: object) -> SimpleNamespace:
        _fake_wheel(Path(cmd[cmd.index("--dest") + 1]), cmd[-1], real.source.members[0],
                    (FIXTURES / "ucr-135-excerpt.csv").read_bytes())
        return SimpleNamespace(returncode=0, stderr="", stdout="")

    result = fetch(real.name, tmp_path, run=pip)
    assert result.status == "built" and result.windows == 1 and result.labelled_rows == 12
    assert any(cache.glob("aeon-1.6.0-*.whl"))


def test_fetch_of_a_generated_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = get("fps-cheaters")
    small = dataclasses.replace(real, sha256=None, build=lambda _: fps.generate(fps.FpsConfig(players=20, days=1)))
    monkeypatch.setitem(registry_module.DATASETS, real.name, small)
    result = fetch(real.name, tmp_path, run=_no_pip)
    assert result.status == "built" and result.source.startswith("generated from Zhang et al.")
    assert result.positive_entities == pd.read_csv(result.path).query("cheater == 1").player.nunique()
