"""Expectation suites over the incident tables, as code (Great Expectations 1.x, PostgreSQL).

- ``parameters`` — ``Scope`` (schema, time window, rule filter), ``Thresholds``, ``Traffic``: plain,
  validated data, no GX import.
- ``assets`` — the scoped SELECT each suite validates (a GX query asset per table).
- ``suites`` — ``SUITES``: per table the ``Check``s (stable ``check_id`` + GX expectation).
- ``expectations`` — ``ExpectQueryToReturnNoRows``, the SQL expectation that reports its rows.

The runner, results, report and storage live in ``include.patternalarm.quality``; the list of
checks and what each one means is in ``docs/quality.md``.
"""

from include.gx.parameters import ParameterError, Scope, Tables, Thresholds, Traffic

__all__ = ["ParameterError", "Scope", "Tables", "Thresholds", "Traffic"]
