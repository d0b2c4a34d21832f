"""The command's comparison table: both rule sets per rule, readable in 80 columns."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from include.patternalarm.cli.backtest import result_table, throughput_line
from tests.unit.backtest.conftest import make_result


def _lines(result: dict[str, Any], width: int) -> list[str]:
    out = Console(width=width, record=True, color_system=None)
    out.print(result_table(result, width=width))
    return out.export_text().splitlines()


def test_candidate_and_baseline_lines_per_rule_fit_80_columns(result: dict[str, Any]) -> None:
    lines = _lines(result, 80)
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    body = [line.split() for line in lines if line.split() and line.split()[0] in ("(all", "amount_anomaly",
                                                                                 "large_amount", "velocity", "base")]
    assert body[0] == ["(all", "rules)", "cand", "5", "4166.7", "0.75/0.75", "0.67/1.00", "1.5", "min", "0.20"]
    baseline_lines = [b for b in body if b[0] == "base"]
    assert len(baseline_lines) == 4, "one baseline line under each rule and under all rules"
    assert baseline_lines[0][1] == "3" and "0.50/0.50" in baseline_lines[0]
    header = next(line for line in lines if "row P/R" in line)
    for column in ("rule", "set", "alerts", "entity P/R", "1st alert"):
        assert column in header, column


def test_a_wide_terminal_shows_every_column_and_one_rule_set_has_no_set_column() -> None:
    wide = _lines(make_result(), 160)
    assert "entity F1" in next(line for line in wide if "row P/R" in line)
    assert not any("not shown" in line for line in wide)
    single = _lines(make_result(with_baseline=False), 80)
    header = next(line for line in single if "row P/R" in line)
    assert " set " not in header and all(len(line) <= 80 for line in single)


def test_the_throughput_line_has_replay_jobs_and_load(result: dict[str, Any]) -> None:
    assert throughput_line(result) == "replay 24 rows/s · candidate job 1 events/s · baseline job 1 events/s · load 3.5"
