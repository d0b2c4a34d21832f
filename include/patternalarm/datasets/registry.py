"""The public labelled data sets detectors are measured on, and the exact mapping onto our event contracts.

Every entry says where its data come from (a pinned package on PyPI, or "generated from" a published
description), its licence, size, label semantics and the replay/backtest options that turn its CSV into
valid events. ``fetch`` (include/patternalarm/datasets/fetch.py) builds the CSV; docs/datasets.md has
the figures of the one-line baselines on each.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from include.patternalarm.datasets import fps, handbook
from include.patternalarm.datasets.convert import handbook_table, value_label_csv

DOMAINS = ("payments", "gaming", "iot")


@dataclass(frozen=True)
class Mapping:
    """``--key --time --map --set`` of replay/backtest, plus the label and entity columns of backtest."""

    key: str
    time: str
    fields: tuple[tuple[str, str], ...]
    constants: tuple[tuple[str, str], ...]
    label: str
    entity: str

    def options(self) -> list[str]:
        out = ["--key", self.key, "--time", self.time]
        for field, column in self.fields:
            out += ["--map", f"{field}={column}"]
        for field, value in self.constants:
            out += ["--set", f"{field}={value}"]
        return out


@dataclass(frozen=True)
class Source:
    """A pinned PyPI package and the files read from its wheel, or the publication a generator follows."""

    package: str | None = None
    members: tuple[str, ...] = ()
    generated_from: str | None = None

    def describe(self) -> str:
        if self.package:
            return f"PyPI {self.package}: {', '.join(self.members)}"
        return f"generated from {self.generated_from}"


Builder = Callable[[dict[str, bytes]], pd.DataFrame]


@dataclass(frozen=True)
class Dataset:
    name: str
    domain: str
    description: str
    source: Source
    license: str
    rows: int
    positives: str
    label_semantics: str
    mapping: Mapping
    build: Builder
    baselines: tuple[str, ...]
    window_labels: bool = False
    sha256: str | None = None  # of the uncompressed CSV: fetch refuses a build that differs

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv.gz"

    @property
    def generated(self) -> bool:
        return self.source.package is None

    def backtest_args(self, path: Path | str) -> list[str]:
        return [str(path), "--domain", self.domain, "--label", self.mapping.label, "--entity", self.mapping.entity,
                *self.mapping.options()]

    def backtest_command(self, path: Path | str) -> str:
        return "bin/patternalarm backtest " + shlex.join(self.backtest_args(path))

    def replay_command(self, path: Path | str) -> str:
        return "bin/patternalarm replay " + shlex.join([str(path), "--domain", self.domain, *self.mapping.options()])


PAYMENTS = Mapping(key="card", time="ts",
                   fields=(("event_id", "tx"), ("account_id", "card"), ("merchant_id", "terminal"),
                           ("amount", "amount")),
                   constants=(("event_type", "auth"), ("channel", "card_present")), label="fraud", entity="card")
GAMING = Mapping(key="player", time="ts",
                 fields=(("match_id", "match"), ("action", "action"), ("target_id", "target"), ("item_id", "weapon"),
                         ("headshot", "headshot")),
                 constants=(), label="cheater", entity="player")
IOT = Mapping(key="device", time="ts", fields=(("sensor_type", "sensor"), ("value", "value"), ("unit", "unit")),
              constants=(("event_type", "reading"),), label="label", entity="device")

HANDBOOK = ("Le Borgne, Siblini, Lebichot, Bontempi: Reproducible Machine Learning for Credit Card Fraud "
            "Detection — Practical Handbook (2022), section 3.2 'Transaction data simulator'")
HAWK = ("Zhang et al., 'Identify As A Human Does: A Pathfinder of Next-Generation Anti-Cheat Framework for "
        "First-Person Shooter Games' (arXiv:2409.14830): cheater shares; per-player aim ASSUMED (fps.py)")
AEON = "aeon==1.6.0"
SKTIME = "sktime==1.2.0"
UCR_FILE = "aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv"
ECG_FILE = "aeon/datasets/data/UnitTest/ecg-diff-count-3_TEST.csv"
MITDB_FILE = "sktime/datasets/data/mitdb/mitdb.csv"
YAHOO_FILE = "sktime/datasets/data/yahoo/yahoo.csv"


@lru_cache(maxsize=1)
def _handbook_183_days() -> pd.DataFrame:
    return handbook_table(handbook.generate(handbook.HandbookConfig()))


def _handbook_month(_: dict[str, bytes]) -> pd.DataFrame:
    table = _handbook_183_days()
    return table[table.ts < "2018-05-01"].reset_index(drop=True)


def _one(member: str, **kwargs: object) -> Builder:
    def build(files: dict[str, bytes]) -> pd.DataFrame:
        return value_label_csv(files[member], Path(member).name, **kwargs)  # type: ignore[arg-type]

    return build


IOT_BASELINES = ("rolling_4sigma", "first_minutes_3sigma")

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset(
        name="handbook-month", domain="payments",
        description="Card transactions of 5,000 customers at 10,000 terminals, 2018-04-01 … 04-30: the first 30 "
                    "days of the handbook's simulated data set (the set issue 13's reviewers used). Per-card "
                    "amount scales, daily cycle, three fraud scenarios.",
        source=Source(generated_from=HANDBOOK), license="generated by our code (the handbook: CC BY-SA 4.0)",
        rows=288_062, positives="1,702 fraudulent transactions on 813 cards",
        label_semantics="fraud: per transaction, 1 = fraudulent (scenario 1 amount > 220, 2 compromised terminal, "
                        "3 compromised card ×5 amounts; column scenario). Entity = card: a card with any fraud.",
        mapping=PAYMENTS, build=_handbook_month, baselines=("amount_threshold",),
        sha256="c04d9bd831ee124d074b1be43c0c17fad7d6ae76344c56ee89588902efa8358f"),
    Dataset(
        name="handbook-183d", domain="payments",
        description="The handbook's whole simulated data set: 183 days (2018-04-01 … 09-30), 1,754,155 "
                    "transactions — the size for a 1,000,000-row backtest and for drift over months.",
        source=Source(generated_from=HANDBOOK), license="generated by our code (the handbook: CC BY-SA 4.0)",
        rows=1_754_155, positives="14,681 fraudulent transactions (973 / 9,077 / 4,631 by scenario) on 3,472 cards",
        label_semantics="as handbook-month",
        mapping=PAYMENTS, build=lambda _: _handbook_183_days(), baselines=("amount_threshold",),
        sha256="f30080fc23acababf75b82fe26d3b8ebe9db649a53985ac6d715c73beba086f5"),
    Dataset(
        name="fps-cheaters", domain="gaming",
        description="GENERATED 5v5 match telemetry (shot / hit / kill with headshot flags, no reaction times, no "
                    "positions) of 1,000 players over 30 days; 5.3 % aimbot and 5.3 % wallhack users.",
        source=Source(generated_from=HAWK), license="generated by our code",
        rows=913_109, positives="91 cheaters (51 aimbot, 40 wallhack) of 1,000 players",
        label_semantics="cheater: per player (every row of a banned player is 1; column cheat names the kind).",
        mapping=GAMING, build=lambda _: fps.generate(fps.FpsConfig()), baselines=("headshot_ratio",),
        sha256="1c090ffb9a926531f9aecb1412140a2ba3c9685d023133e143696a5269c4f2de"),
    Dataset(
        name="fps-closet-cheaters", domain="gaming",
        description="As fps-cheaters, other seed, but aimbot users switch the cheat on in only 35 % of their "
                    "matches ('closet' cheating), so their career headshot share sits inside the honest range.",
        source=Source(generated_from=HAWK), license="generated by our code",
        rows=947_983, positives="99 cheaters (54 aimbot, 45 wallhack) of 1,000 players",
        label_semantics="as fps-cheaters",
        mapping=GAMING, build=lambda _: fps.generate(fps.FpsConfig(toggle=0.35, seed=14)),
        baselines=("headshot_ratio",),
        sha256="fec379f6b90ec8cad96538be3e7ba66e0aba7954339a5f2321c614b31a52cf94"),
    Dataset(
        name="yahoo-s5-excerpt", domain="iot",
        description="1,000 hourly readings of a Yahoo Webscope S5 series with trend, seasonality and noise, "
                    "7 labelled point anomalies (sktime's bundled excerpt). Minute-to-hour spacing.",
        source=Source(package=SKTIME, members=(YAHOO_FILE,)),
        license="sktime: BSD-3-Clause; the series: Yahoo Webscope S5 terms (research use)",
        rows=1_000, positives="7 one-reading anomaly windows",
        label_semantics="label: per reading, 1 = anomalous (windows of one reading); NAB-like window scoring",
        mapping=IOT, build=_one(YAHOO_FILE, value="data", label="label", device="yahoo-s5-excerpt",
                                sensor="value", spacing_s=3600.0),
        baselines=IOT_BASELINES, window_labels=True,
        sha256="753f39d83eb4a82d0bbebe658d7142a7c44d2c090fe4a893f4028c4a1cc513d9"),
    Dataset(
        name="mitdb-ecg-excerpt", domain="iot",
        description="7,500 samples (360 Hz, 20.8 s) of an MIT-BIH arrhythmia ECG lead with one labelled abnormal "
                    "stretch (sktime's bundled excerpt): a high-rate physiological sensor series.",
        source=Source(package=SKTIME, members=(MITDB_FILE,)),
        license="sktime: BSD-3-Clause; MIT-BIH Arrhythmia Database: ODC-By 1.0 (PhysioNet)",
        rows=7_500, positives="1 anomaly window of 352 samples",
        label_semantics="label: per reading, 1 inside the labelled window; NAB-like window scoring",
        mapping=IOT, build=_one(MITDB_FILE, value="data", label="label", device="mitdb-ecg-excerpt",
                                sensor="ecg", spacing_s=1 / 360, unit="mV"),
        baselines=IOT_BASELINES, window_labels=True,
        sha256="22e03929db8e3b1c3729dd67443227f07bc6e9f0e899f9801465b0ab92f3b8d8"),
    Dataset(
        name="ucr-internal-bleeding-16", domain="iot",
        description="UCR Time Series Anomaly Archive series 135 (InternalBleeding16, a physiological pressure "
                    "trace): 7,501 samples, the first 1,200 anomaly-free (the archive's training part), one "
                    "labelled anomaly. The archive gives sample indices only: events are 1 s apart here.",
        source=Source(package=AEON, members=(UCR_FILE,)),
        license="aeon: BSD-3-Clause; UCR Time Series Anomaly Archive (Wu & Keogh 2021), public research data",
        rows=7_501, positives="1 anomaly window of 12 samples (4,187 … 4,198)",
        label_semantics="label: per reading, 1 inside the labelled window; NAB-like window scoring",
        mapping=IOT, build=_one(UCR_FILE, value="value", label="is_anomaly", device="ucr-135",
                                sensor="InternalBleeding16", spacing_s=1.0),
        baselines=IOT_BASELINES, window_labels=True,
        sha256="d67d2dcca24aade2d68c8ab16f146ae95069a6b7dbc585f69b2be162436c4a7f"),
    Dataset(
        name="gutentag-ecg-3", domain="iot",
        description="A GutenTAG-generated ECG-like series with three kinds of injected anomalies (aeon's bundled "
                    "'ecg-diff-count-3', made with TimeEval's published generator): 10,000 samples, 1 s apart here.",
        source=Source(package=AEON, members=(ECG_FILE,)),
        license="aeon: BSD-3-Clause (generated by GutenTAG, MIT)",
        rows=10_000, positives="300 anomalous samples in 3 windows",
        label_semantics="label: per reading, 1 inside an injected anomaly; NAB-like window scoring",
        mapping=IOT, build=_one(ECG_FILE, value="value-0", label="is_anomaly", device="gutentag-ecg-3",
                                sensor="value-0", spacing_s=1.0),
        baselines=IOT_BASELINES, window_labels=True,
        sha256="81371f0518ddc9baf6d3d71e27743b8cbd83ed6efd688a19fb8a3d954f3b1590"),
)}


class UnknownDataset(LookupError):
    pass


def get(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise UnknownDataset(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None
