"""The Python twin of the adaptive detectors (scenario generation) matches the recorded vectors that the
Java detectors are tested against (SeriesVectorsTest): regenerate with scripts/series_vectors.py."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.series_vectors import OUT, build


def test_the_vectors_are_what_the_twin_gives_today() -> None:
    assert json.loads(OUT.read_text())["cases"] == json.loads(json.dumps(build()))["cases"], \
        "the detectors changed: run `.venv/bin/python scripts/series_vectors.py` (and the Java tests)"


def test_the_vectors_cover_every_detector() -> None:
    kinds = {a[0] for case in json.loads(Path(OUT).read_text())["cases"] for a in case["alerts"]}
    assert kinds == {"spike", "level_shift", "variance", "drift", "stuck", "out_of_range"}
