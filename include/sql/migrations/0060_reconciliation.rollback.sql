DROP TABLE reconciliation_completeness;
DROP TABLE reconciliation_diffs;
DROP TABLE reconciliation_runs;
