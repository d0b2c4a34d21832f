"""The one custom expectation the suites need: a SQL query that must return no rows.

GX's ``UnexpectedRowsExpectation`` only reports the offending rows with ``result_format=COMPLETE``
(which, for the column-map expectations in the same run, would return *every* unexpected value —
a million-row failure would be a million values). This subclass keeps the bounded ``SUMMARY`` format
for the run and still reports up to ``partial_unexpected_count`` offending rows (GX fetches at most
200 of them; the count is exact), so every failure says which rows broke it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from great_expectations.core.result_format import ResultFormat
from great_expectations.expectations import UnexpectedRowsExpectation

if TYPE_CHECKING:
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.execution_engine import ExecutionEngine

#: rows kept when the result format does not say
DEFAULT_SAMPLE = 20


class ExpectQueryToReturnNoRows(UnexpectedRowsExpectation):
    """Fails when ``unexpected_rows_query`` returns rows; the result carries a sample of them.

    The query selects the offending rows (their keys first, then the values that make them
    wrong); ``{batch}`` is the scoped slice of the table the suite validates.
    """

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: ExecutionEngine | None = None,
    ) -> ExpectationValidationResult | dict[str, Any]:
        result_format: Any = self._get_result_format(runtime_configuration=runtime_configuration)
        if isinstance(result_format, dict):
            sample = int(result_format.get("partial_unexpected_count", DEFAULT_SAMPLE))
            result_format = result_format.get("result_format", ResultFormat.SUMMARY)
        else:
            sample = DEFAULT_SAMPLE
        count = metrics["unexpected_rows_query.row_count"]
        success = count == 0
        if result_format == ResultFormat.BOOLEAN_ONLY:
            return {"success": success}
        rows = metrics["unexpected_rows_query.table"] or []
        if result_format != ResultFormat.COMPLETE:
            rows = rows[:sample]
        return {"success": success, "result": {"observed_value": count, "details": {"unexpected_rows": rows}}}
