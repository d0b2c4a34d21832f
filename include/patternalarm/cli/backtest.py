"""`backtest FILE`: run rule sets over labelled history in an isolated job and score them."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from include.patternalarm.cli.common import clear_errors, console, err_console, fail, settings


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _counts(block: dict[str, Any] | None) -> str:
    if not block:
        return "–"
    return f"{block['precision']:.2f}/{block['recall']:.2f}"


def result_table(result: dict[str, Any]) -> Table:
    """Per rule (and overall) of the candidate, with the baseline beside it when there is one."""
    sets = [name for name in ("candidate", "baseline") if name in result]
    table = Table(title=f"backtest {Path(result['file']).name} · {result['rows']:,} rows · "
                        f"{result['positives']:,} labelled · {result['seconds']:.0f}s")
    table.add_column("rule")
    for name in sets:
        label = name if len(sets) > 1 else ""
        table.add_column(f"{label} alerts".strip(), justify="right")
        table.add_column(f"{label} row P/R".strip(), justify="right")
        table.add_column(f"{label} entity P/R".strip() if not result["windows"] else f"{label} window P/R".strip(),
                         justify="right")
        table.add_column(f"{label} 1st alert".strip(), justify="right")
        table.add_column(f"{label} p@10".strip(), justify="right")
    rules = sorted({r for name in sets for r in result[name]["rules"]})
    for rule in ["(all rules)", *rules]:
        cells = [rule]
        for name in sets:
            block = result[name]["overall"] if rule == "(all rules)" else result[name]["rules"].get(rule)
            if block is None:
                cells += ["0", "–", "–", "–", "–"]
                continue
            delay = (block.get("time_to_first_alert") or {}).get("median_s")
            cells += [f"{block['alert_ids']:,} ({block['alert_ids_per_10k_rows']:.1f}/10k)", _counts(block["row"]),
                      _counts(block["windows"] if result["windows"] else block["entity"]),
                      "–" if delay is None else f"{delay:,.0f}s", _fmt(block["precision_at_k"].get("10"))]
        table.add_row(*cells)
    return table


@clear_errors()
def backtest(
    file: Annotated[Path, typer.Argument(help="Labelled history: CSV, CSV.gz or Parquet.")],
    domain: Annotated[str, typer.Option(help="payments, gaming or iot.")],
    label: Annotated[str, typer.Option(help="Column that is true (1/true/yes) on anomalous / fraudulent rows.")],
    key: Annotated[str, typer.Option(help="Column with the Kafka key (the entity field unless mapped).")],
    time: Annotated[str, typer.Option("--time", help="Column with event time: ISO-8601, epoch s or ms.")],
    entity: Annotated[str | None, typer.Option(help="Column naming the entity the labels are about (default: --key).")]
    = None,
    map_: Annotated[list[str], typer.Option("--map", help="FIELD=COLUMN, as for replay; repeatable.")]
    = [],  # noqa: B006 - typer reads list defaults
    set_: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE, as for replay; repeatable.")]
    = [],  # noqa: B006
    fmt: Annotated[str | None, typer.Option("--format", help="csv | csv.gz | parquet (default: by name).")] = None,
    delimiter: Annotated[str, typer.Option(help="CSV delimiter.")] = ",",
    windows: Annotated[bool, typer.Option(help="Labels mark windows of a series (sensor data): score windows, "
                                               "NAB-like.")] = False,
    catalog_version: Annotated[int | None, typer.Option(help="The candidate's catalog version (default newest).")]
    = None,
    rules_dir: Annotated[Path | None, typer.Option("--rules", help="The candidate's user rules directory.")] = None,
    param: Annotated[list[str], typer.Option("--param", help="rule.param=value for the candidate; repeatable.")]
    = [],  # noqa: B006
    only: Annotated[str | None, typer.Option(help="Only these rules, comma-separated.")] = None,
    compare_catalog_version: Annotated[int | None, typer.Option(help="Also run this catalog version as the "
                                                                     "baseline.")] = None,
    compare_param: Annotated[list[str], typer.Option(help="Run a baseline with these parameters instead; "
                                                           "repeatable.")] = [],  # noqa: B006
    compare_rules: Annotated[Path | None, typer.Option(help="Baseline's user rules directory.")] = None,
    parallelism: Annotated[int, typer.Option(min=1, max=16, help="Parallelism of the backtest jobs.")] = 1,
    workers: Annotated[int, typer.Option(help="Replay processes (1-4).")] = 2,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 1800.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Replay FILE into an isolated job (own topics, own watermark: live jobs, alerts and incidents are untouched)
    and score the rules against the labels: per rule and overall, per row and per entity (or window)
    precision/recall, time to first alert, precision@k by score, alerts per 10,000 rows; a baseline beside
    it with --compare-…."""
    from include.patternalarm.backtest import BacktestError, BacktestSpec, RuleSet, run_backtest
    from include.patternalarm.replay import ReplayConfig, parse_pairs
    from include.patternalarm.rules import RuleError, parse_overrides

    try:
        mapping = ReplayConfig(path=file, domain=domain, key=key, time=time, fields=parse_pairs(map_, "--map"),
                               constants=parse_pairs(set_, "--set"), format=fmt, delimiter=delimiter,
                               workers=workers)
        rules = tuple(r.strip() for r in only.split(",") if r.strip()) if only else None
        candidate = RuleSet("candidate", catalog_version, rules_dir, parse_overrides(param), rules)
        baseline = None
        if compare_catalog_version is not None or compare_param or compare_rules is not None:
            baseline = RuleSet("baseline", compare_catalog_version if compare_catalog_version is not None
                               else catalog_version, compare_rules, parse_overrides(compare_param), rules)
        spec = BacktestSpec(path=file, domain=domain, label=label, mapping=mapping, entity=entity, windows=windows,
                            candidate=candidate, baseline=baseline, parallelism=parallelism, timeout_s=timeout)
        def say(message: str) -> None:
            err_console.print(f"[dim]·[/] {message}", highlight=False)

        # a SIGTERM ends it like Ctrl-C: the isolated jobs are cancelled and their topics deleted
        signal.signal(signal.SIGTERM, _interrupt)
        result = run_backtest(settings(), spec, progress=say)
    except (BacktestError, RuleError, ValueError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    console.print(result_table(result))
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(f"report: {result['report_dir']}/result.json", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
