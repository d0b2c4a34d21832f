from __future__ import annotations

import typer
from typer.testing import CliRunner

from include.patternalarm.cli.common import clear_errors

app = typer.Typer()


@app.command()
@clear_errors(ValueError)
def cmd(mode: str) -> None:
    if mode == "exit3":
        raise typer.Exit(3)
    if mode == "value":
        raise ValueError("the value is wrong: use another")
    if mode == "runtime":
        raise RuntimeError("stack not up: run `bin/patternalarm stack up`")


def test_known_errors_become_one_clear_line_and_exit_1() -> None:
    for mode, text in (("value", "the value is wrong"), ("runtime", "stack not up")):
        result = CliRunner().invoke(app, [mode])
        assert result.exit_code == 1
        assert text in result.output
        assert "Traceback" not in result.output


def test_intended_exit_codes_pass_through() -> None:
    result = CliRunner().invoke(app, ["exit3"])
    assert result.exit_code == 3
    assert "error" not in result.output


# --- tables that fit an 80-column terminal -----------------------------------------------------------

from datetime import UTC, datetime, timedelta  # noqa: E402

from rich.console import Console  # noqa: E402

from include.patternalarm.cli.common import Col, age, fit_table  # noqa: E402

COLUMNS = [Col("id", justify="right"), Col("status"), Col("prio", 2, "right"), Col("severity"),
           Col("rule", max_width=20), Col("entity", max_width=22), Col("alerts", 4, "right"), Col("seen", 3, "right"),
           Col("assignee", 5, max_width=14), Col("disposition", 6), Col("domain", 7), Col("last seen (UTC)", 8)]
ROWS = [[12345, "[bold red]open[/]", 87, "critical", "impossible_travel", "card-000123", 3, "5m", "alice-the-analyst",
         "false_positive", "payments", "12-02 10:31:05"],
        [7, "ack", None, "low", "a_rather_long_rule_name_for_tests", "device-0000000000000000000000000000000042", 1,
         "2d", None, None, "iot", "11-30 09:00:00"]]


def _render(table: object, width: int) -> list[str]:
    out = Console(width=width, record=True, color_system=None)
    out.print(table)
    return out.export_text().splitlines()


def test_a_table_fits_80_columns_by_leaving_out_the_least_important_columns() -> None:
    out = Console(width=80)
    table = fit_table(COLUMNS, ROWS, title="incidents", out=out)
    lines = _render(table, 80)
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "status" in line)
    for kept in ("id", "status", "prio", "severity", "rule", "entity"):  # never dropped before these
        assert kept in header, kept
    assert "disposition" not in header and "domain" not in header
    caption = " ".join(line.strip() for line in lines[-3:])
    assert "not shown at 80 columns: last seen (UTC), domain, disposition, assignee, alerts, seen" in caption
    assert "--json" in caption


def test_a_wide_terminal_shows_every_column_and_no_caption() -> None:
    out = Console(width=250)
    lines = _render(fit_table(COLUMNS, ROWS, out=out), 250)
    assert all(col.header in lines[0] for col in COLUMNS)
    assert not any("not shown" in line for line in lines)


def test_long_values_fold_instead_of_being_cut() -> None:
    out = Console(width=60)
    text = "\n".join(_render(fit_table([Col("k"), Col("detail", max_width=20)],
                                       [["a", "x" * 50]], out=out), 60))
    assert text.count("x") == 50


def test_age_is_one_unit() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert [age(now - timedelta(seconds=s), now) for s in (5, 90, 7300, 200000)] == ["5s", "1m", "2h", "2d"]
    assert age(None) == ""
