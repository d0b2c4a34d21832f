"""`datasets list | show NAME | fetch NAME|--all | baseline NAME`: public labelled data sets and the
one-line baselines every detector must beat (docs/datasets.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from include.patternalarm.cli.common import clear_errors, console, err_console, fail, settings

datasets_app = typer.Typer(help="Public labelled data sets: list, show, fetch, and their one-line baselines.",
                           no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where datasets/ goes (default: the data directory "
                                                                   "setting, .data).")]


def _data_dir(data_dir: Path | None) -> Path:
    return data_dir if data_dir is not None else settings().data_dir


def _shown(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


@datasets_app.command("list")
@clear_errors()
def list_datasets(domain: Annotated[str | None, typer.Option(help="Only this domain.")] = None,
                  data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Every registered data set: domain, rows, positives, source, and whether it is fetched."""
    from include.patternalarm.datasets import DATASETS, csv_path

    chosen = [d for d in DATASETS.values() if domain in (None, d.domain)]
    where = _data_dir(data_dir)
    if as_json:
        print(json.dumps([{"name": d.name, "domain": d.domain, "rows": d.rows, "positives": d.positives,
                           "source": d.source.describe(), "license": d.license, "generated": d.generated,
                           "fetched": csv_path(where, d.name).is_file()} for d in chosen], indent=2))
        return
    table = Table(title="labelled data sets (bin/patternalarm datasets show NAME)")
    for col in ("name", "domain", "rows", "positives", "source", "fetched"):
        table.add_column(col, overflow="fold")
    for d in chosen:
        source = d.source.package or "generated (" + (d.source.generated_from or "").split(":")[0] + ")"
        table.add_row(d.name, d.domain, f"{d.rows:,}", d.positives, source,
                      "yes" if csv_path(where, d.name).is_file() else "-")
    console.print(table)


@datasets_app.command("show")
@clear_errors(LookupError)
def show(name: Annotated[str, typer.Argument(help="A data set (see `datasets list`).")],
         data_dir: DataDir = None) -> None:
    """A data set's source, licence, label semantics, and the backtest and replay command lines for it."""
    from include.patternalarm.datasets import csv_path, get

    d = get(name)
    path = _shown(csv_path(_data_dir(data_dir), name))
    fetched = "" if path.is_file() else f"  (not fetched: datasets fetch {name})"
    console.print(f"[bold]{d.name}[/] · {d.domain} · {d.rows:,} rows · {d.positives}\n{d.description}\n\n"
                  f"[bold]source[/]   {d.source.describe()}\n[bold]licence[/]  {d.license}\n"
                  f"[bold]labels[/]   {d.label_semantics}\n[bold]sha256[/]   {d.sha256 or '-'} (of the CSV)\n"
                  f"[bold]file[/]     {path}{fetched}\n"
                  f"[bold]baselines[/] {', '.join(d.baselines)}\n", highlight=False)
    console.print("[bold]backtest[/]", highlight=False)
    console.print(d.backtest_command(path), highlight=False, markup=False, soft_wrap=True)
    console.print("[bold]replay[/]", highlight=False)
    console.print(d.replay_command(path), highlight=False, markup=False, soft_wrap=True)


@datasets_app.command("fetch")
@clear_errors(LookupError)
def fetch_cmd(names: Annotated[list[str] | None, typer.Argument(help="Data set name(s).")] = None,
              all_: Annotated[bool, typer.Option("--all", help="Every registered data set.")] = False,
              force: Annotated[bool, typer.Option(help="Rebuild even if the file matches its manifest.")] = False,
              data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Download (pip, pinned) or generate (seeded) each data set into <data dir>/datasets/NAME.csv.gz."""
    from include.patternalarm.datasets import DATASETS, FetchError, fetch, get

    if all_ == bool(names):
        raise fail("name one or more data sets, or --all", code=2)
    chosen = list(DATASETS) if all_ else [get(n).name for n in names or []]
    results = []
    for name in chosen:
        if not as_json:
            err_console.print(f"[bold]{name}[/] …", highlight=False)
        try:
            result = fetch(name, _data_dir(data_dir), force=force)
        except FetchError as exc:
            raise fail(str(exc)) from None
        results.append(result)
        if not as_json:
            console.print(f"  {result.status}: {_shown(result.path)} — {result.rows:,} rows, "
                          f"{result.labelled_rows:,} labelled, sha256 {result.sha256[:16]}…", highlight=False)
            console.print("  " + get(name).backtest_command(_shown(result.path)), highlight=False, markup=False,
                          soft_wrap=True)
    if as_json:
        print(json.dumps([r.as_dict() for r in results], indent=2))


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@datasets_app.command("baseline")
@clear_errors(LookupError)
def baseline(name: Annotated[str, typer.Argument(help="A data set (fetched first if missing).")],
             data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """The one-line baselines on a data set, with the backtest's figures."""
    from include.patternalarm.datasets import FetchError, fetch
    from include.patternalarm.datasets.baselines import run

    try:
        path = fetch(name, _data_dir(data_dir)).path
    except FetchError as exc:
        raise fail(str(exc)) from None
    results = run(name, path)
    if as_json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
        return
    table = Table(title=f"baselines on {name} ({results[0].report.rows:,} rows)")
    for col in ("rule", "row P / R / F1", "entity P / R / F1", "windows P / R / F1", "first alert s (median)",
                "P@10 / P@100", "alerts / 10k rows"):
        table.add_column(col, overflow="fold")
    for r in results:
        rep = r.report

        def prf(c: object) -> str:
            return "-" if c is None else f"{c.precision:.2f} / {c.recall:.2f} / {c.f1:.2f}"  # type: ignore[attr-defined]

        delay = rep.time_to_first_alert
        table.add_row(r.rule + (" [yellow](tuned on labels)[/]" if r.tuned else ""), prf(rep.row), prf(rep.entity),
                      prf(rep.windows), _fmt(delay.median_s if delay else None, 1),
                      " / ".join(_fmt(rep.precision_at_k.get(k)) for k in (10, 100)) + f" ({rep.precision_at_k_of})",
                      f"{rep.alerts_per_10k_rows:,.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
