"""`bench`: measure the platform on the real stack (steady latency, capacity, spike with the scaler)."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer
from rich.table import Table

from include.patternalarm import stack as stack_mod
from include.patternalarm.bench import PARTS, BenchPlan, run_bench
from include.patternalarm.cli.common import clear_errors, console, err_console, fail, settings


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}{unit}"
    return f"{value}{unit}"


@clear_errors(stack_mod.StackError)
def bench(
    quick: Annotated[bool, typer.Option(help="A smoke run in under 3 minutes instead of the full run.")] = False,
    only: Annotated[list[str] | None,
                    typer.Option("--only", help="steady | spike | backlog | capacity (repeat; they run in this "
                                                "order).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    catalog_version: Annotated[int | None, typer.Option(
        help="Catalog version of the backlog part's job (default: the newest), to compare the per-event cost "
             "of two versions.")] = None,
) -> None:
    """Steady latency and recall, a 10× spike with the scaler, the per-event cost (the payments job draining a
    backlog at parallelism 1: TaskManager CPU-s per 100,000 events) and capacity, last (it overloads the jobs on
    purpose) — JSON + PNG plots in the reports folder."""
    parts = tuple(only or PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise typer.BadParameter(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}",
                                 param_hint="--only")
    # progress on stderr with --json (stdout stays the JSON alone): a full run takes half an hour
    out = err_console if as_json else console
    say = lambda m: out.print(f"[dim]·[/] {m}", highlight=False)  # noqa: E731
    if catalog_version is not None:
        from include.patternalarm.rules import catalog_versions

        if catalog_version not in catalog_versions():
            known = ", ".join(f"v{v}" for v in catalog_versions())
            raise typer.BadParameter(f"no catalog v{catalog_version}; there are {known}",
                                     param_hint="--catalog-version")
    rows = stack_mod.up(settings(), progress=say)
    if not all(r.healthy for r in rows):
        raise fail("the stack is not healthy: see `bin/patternalarm stack status`")
    plan = dataclasses.replace(BenchPlan.quick() if quick else BenchPlan.full(), backlog_catalog=catalog_version)
    result = run_bench(settings(), plan, only=parts, say=say)
    if as_json:
        slim = json.loads(json.dumps(result, default=str))
        for part in ("steady", "spike"):
            if part in slim:
                slim[part].pop("latency_over_time", None)
                slim[part].pop("series", None)
        print(json.dumps(slim, indent=2))
        return
    table = Table(title=f"bench ({'quick' if quick else 'full'}) · {result['seconds']:.0f}s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    if "steady" in result:
        s = result["steady"]
        for q in ("p50", "p95", "p99", "max"):
            table.add_row(f"steady latency {q}", _fmt(s["latency_s"][q], " s"))
        table.add_row("steady recall / precision", f"{_fmt(s['recall'])} / {_fmt(s['precision'])}")
    if "capacity" in result:
        c = result["capacity"]
        table.add_row("highest sustained events/s", _fmt(c["highest_sustained_events_per_s"]))
        table.add_row("saturated first", c["saturated_first"])
    if "spike" in result:
        p = result["spike"]
        table.add_row("spike scaling actions", str(len([e for e in p["scaling_events"] if e["action"] != "hold"])))
        lost = p["lost"] if p["lost"] is not None else f"? ({p['pending']} pending, backlog {p['backlog_left']:,})"
        table.add_row("spike alerts lost / duplicated", f"{lost} / {p['duplicated']}")
        late = p["late_records"]
        table.add_row("spike records late: to events.late / dropped downstream",
                      f"{late['routed_to_events_late']:,} / {late['dropped_downstream']:,}")
        for e in p["scaling_events"]:
            if e["action"] != "hold":
                table.add_row(f"  {e['domain']} {e['action']} {e['from']}→{e['to']}",
                              f"breach→decision {_fmt(e['decided_after_breach_s'], ' s')}, "
                              f"→rescaled {_fmt(e['rescaled_after_s'], ' s')}, "
                              f"→drained {_fmt(e['drained_after_s'], ' s')}")
        for k, v in p["p99_before_during_after_s"].items():
            table.add_row(f"spike p99 latency {k}", _fmt(v, " s"))
    if "backlog" in result:
        b = result["backlog"]
        table.add_row(f"backlog: {b['domain']} job, {b['records']:,} events, parallelism {b['parallelism']}",
                      f"{_fmt(b['events_per_s'])} events/s")
        table.add_row("  TaskManager CPU-s per 100,000 events (idle subtracted)", _fmt(b["cpu_s_per_100k_events"]))
        table.add_row("  TaskManager idle CPU (share of a core)", _fmt(b["idle_cpu_per_s"]))
    table.add_row("load before → after", f"{result['machine_before']['load_avg'][0]:.1f} → "
                                         f"{result['machine_after']['load_avg'][0]:.1f}")
    console.print(table)
    console.print(f"report and plots: {result['report_dir']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
