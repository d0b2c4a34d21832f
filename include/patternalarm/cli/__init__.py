"""`bin/patternalarm`: the project's command line (typer + rich).

Each area registers its commands from its own module; this file only assembles them.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="patternalarm",
    help="Streaming fraud detection and anomaly alerting: Kafka, Flink CEP, PostgreSQL, Airflow.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

# Modules that register commands on `app` (`register(app)`); missing ones are skipped so that
# areas can land independently.
COMMAND_MODULES = (
    "stack",
    "simulate",
    "replay",
    "rules",
    "deploy",
    "score",
    "incidents",
    "sink",
    "bench",
    "demo",
    "datasets",
    "backtest",
    "chaos",
    "shadow",
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"include.patternalarm.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"include.patternalarm.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    app(prog_name="bin/patternalarm")
