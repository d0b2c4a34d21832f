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
