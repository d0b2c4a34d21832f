"""Backtesting rule sets on labelled history in an isolated job (``bin/patternalarm backtest``)."""

from include.patternalarm.backtest.engine import BacktestError, RuleSet
from include.patternalarm.backtest.run import BacktestSpec, run_backtest

__all__ = ["BacktestError", "BacktestSpec", "RuleSet", "run_backtest"]
