"""`backtest [FILE] [--dataset NAME]`: run rule sets over labelled history in an isolated job and score them."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from include.patternalarm.cli.common import Col, clear_errors, console, err_console, fail, fit_table, settings


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _pr(counts: dict[str, Any] | None) -> str:
    return "–" if not counts else f"{counts['precision']:.2f}/{counts['recall']:.2f}"


def result_table(result: dict[str, Any], width: int | None = None) -> Table:
    """Per rule (and all rules) of the candidate, each with its baseline's line below it when there is one;
    fits ``width`` (default: the terminal) by leaving out the least important columns."""
    from include.patternalarm.backtest.report import all_rules, block, rule_sets, seconds, unit_counts

    sets = rule_sets(result)
    unit = "window" if result["windows"] else "entity"
    columns = [Col("rule", max_width=24)]
    if len(sets) > 1:
        columns.append(Col("set"))
    columns += [Col("alerts", justify="right"), Col("/10k", 3, "right"), Col("row P/R", justify="right"),
                Col(f"{unit} P/R", justify="right"), Col(f"{unit} F1", 4, "right"), Col("1st alert", 1, "right"),
                Col("P@10", 2, "right")]
    rows = []
    for rule in [None, *all_rules(result)]:
        for i, name in enumerate(sets):
            cells: list[Any] = ["" if i else ("(all rules)" if rule is None else rule)]
            if len(sets) > 1:
                cells.append(name[:4])
            figures = block(result, name, rule)
            if figures is None:
                rows.append([*cells, "–", "", "", "", "", "", ""])
                continue
            units = unit_counts(result, figures)
            delay = (figures.get("time_to_first_alert") or {}).get("median_s")
            at10 = (figures.get("precision_at_k") or {}).get("10")
            rows.append([*cells, f"{figures['alert_ids']:,}", f"{figures['alert_ids_per_10k_rows']:.1f}",
                         _pr(figures["row"]), _pr(units), "–" if not units else f"{units['f1']:.2f}",
                         seconds(delay) if delay is not None else "–", "–" if at10 is None else f"{at10:.2f}"])
    title = (f"backtest {Path(result['file']).name} · {result['rows']:,} rows · {result['positives']:,} labelled · "
             f"{seconds(result['seconds'])}")
    return fit_table(columns, rows, title=title, width=width)


def group_lines(result: dict[str, Any]) -> list[str]:
    """Recall per kind of positive (``--group``), one line per rule set: of all its rules together."""
    from include.patternalarm.backtest.report import rule_sets

    lines = []
    for name in rule_sets(result):
        groups = (result[name].get("overall") or {}).get("by_group") or {}
        if groups:
            kinds = " · ".join(f"{value}: {g['entities_found']}/{g['entities']} {result['entity']}s, "
                               f"rows {g['row_recall']:.2f}" for value, g in groups.items())
            lines.append(f"{name} recall by {result['group']}: {kinds}")
    return lines


def throughput_line(result: dict[str, Any]) -> str:
    """Replay and job speed with the machine's load, one line."""
    replay = result.get("replay") or {}
    parts = [f"replay {replay.get('rows_per_s') or 0:,.0f} rows/s"]
    for name in ("candidate", "baseline"):
        if isinstance(result.get(name), dict):
            rate = result[name].get("events_per_s")
            parts.append(f"{name} job {rate or 0:,.0f} events/s")
    load = (result.get("machine_after") or {}).get("load_avg") or [0.0]
    return " · ".join(parts) + f" · load {load[0]:.1f}"


Strs = list[str]


@clear_errors()
def backtest(
    file: Annotated[Path | None, typer.Argument(help="Labelled history: CSV, CSV.gz or Parquet (optional with "
                                                     "--dataset: a file to use instead of the fetched one).")] = None,
    dataset: Annotated[str | None, typer.Option(help="A registered data set (`datasets list`): fills FILE, domain, "
                                                     "label, entity, key, time, mapping and --windows; fetched "
                                                     "when missing. Explicit options override.")] = None,
    domain: Annotated[str | None, typer.Option(help="payments, gaming or iot.")] = None,
    label: Annotated[str | None, typer.Option(help="Column that is true (1/true/yes) on anomalous / fraudulent "
                                                   "rows.")] = None,
    key: Annotated[str | None, typer.Option(help="Column with the Kafka key (the entity field unless mapped).")]
    = None,
    time: Annotated[str | None, typer.Option("--time", help="Column with event time: ISO-8601, epoch s or ms.")]
    = None,
    entity: Annotated[str | None, typer.Option(help="Column naming the entity the labels are about (default: "
                                                    "--key).")] = None,
    map_: Annotated[Strs, typer.Option("--map", help="FIELD=COLUMN, as for replay; repeatable.")]
    = [],  # noqa: B006 - typer reads list defaults
    set_: Annotated[Strs, typer.Option("--set", help="FIELD=VALUE, as for replay; repeatable.")]
    = [],  # noqa: B006
    fmt: Annotated[str | None, typer.Option("--format", help="csv | csv.gz | parquet (default: by name).")] = None,
    delimiter: Annotated[str, typer.Option(help="CSV delimiter.")] = ",",
    windows: Annotated[bool | None, typer.Option("--windows/--no-windows",
                                                 help="Labels mark windows of a series (sensor data): score windows, "
                                                      "NAB-like (default: the data set's; else off).")] = None,
    group: Annotated[str | None, typer.Option(help="Column naming the kind of each positive (fraud scenario, cheat): "
                                                   "recall per kind too (default: the data set's).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N rows of the file.")] = None,
    catalog_version: Annotated[int | None, typer.Option(help="The candidate's catalog version (default newest).")]
    = None,
    rules_dir: Annotated[Path | None, typer.Option("--rules", help="The candidate's user rules directory.")] = None,
    param: Annotated[Strs, typer.Option("--param", help="rule.param=value for the candidate; repeatable.")]
    = [],  # noqa: B006
    only: Annotated[str | None, typer.Option(help="Only these rules, comma-separated.")] = None,
    compare_catalog_version: Annotated[int | None, typer.Option(help="Also run this catalog version as the "
                                                                     "baseline.")] = None,
    compare_param: Annotated[Strs, typer.Option(help="Run a baseline with these parameters instead; "
                                                     "repeatable.")] = [],  # noqa: B006
    compare_rules: Annotated[Path | None, typer.Option(help="Baseline's user rules directory.")] = None,
    parallelism: Annotated[int, typer.Option(min=1, max=16, help="Parallelism of the backtest jobs.")] = 1,
    workers: Annotated[int, typer.Option(help="Replay processes (1-4).")] = 2,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 1800.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Replay FILE (or a registered --dataset) into an isolated job (own topics, own watermark: live jobs,
    alerts and incidents are untouched) and score the rules against the labels: per rule and overall, per
    row and per entity (or window) precision/recall, time to first alert, precision@k by score, alerts per
    10,000 rows; a baseline beside it with --compare-…. Writes result.json and an HTML report."""
    from include.patternalarm.backtest import BacktestError, run_backtest
    from include.patternalarm.backtest.options import BacktestOptions, OptionError, build_spec, flag

    def say(message: str) -> None:
        err_console.print(f"[dim]·[/] {message}", highlight=False)

    options = BacktestOptions(
        file=file, dataset=dataset, domain=domain, label=label, key=key, time=time, entity=entity, map=map_,
        set=set_, windows=windows, group=group, format=fmt, delimiter=delimiter, limit=limit, workers=workers,
        catalog_version=catalog_version, rules=rules_dir, params=param, only=only,
        compare_catalog_version=compare_catalog_version, compare_params=compare_param, compare_rules=compare_rules,
        parallelism=parallelism, timeout_s=timeout)
    config = settings()
    try:
        spec = build_spec(options, data_dir=config.data_dir, progress=say)
    except OptionError as exc:
        raise fail(exc.named(flag(exc.option)), code=2) from None
    # a SIGTERM ends it like Ctrl-C: the isolated jobs are cancelled and their topics deleted
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run_backtest(config, spec, progress=say)
    except (BacktestError, ValueError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted: the backtest jobs were cancelled and their topics deleted", code=130) from None
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    console.print(result_table(result))
    for line in group_lines(result):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(throughput_line(result), highlight=False)
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"report: {result['report_dir']}/index.html", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
