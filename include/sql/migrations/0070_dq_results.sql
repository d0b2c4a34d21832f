-- Data quality (issue 8): every validation run of the incident tables and the result of each
-- expectation in it. Written by the `validate_incident_tables` DAG as patternalarm_control;
-- reporting and analyst roles read both through 0001's default privileges. Runs as patternalarm_owner.

CREATE TABLE dq_runs (
    run_id        text        PRIMARY KEY,        -- `<UTC start>-<8 hex>`, also the Data Docs run name
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL,
    success       boolean     NOT NULL,           -- no expectation failed or errored
    evaluated     integer     NOT NULL CHECK (evaluated >= 0),
    failed        integer     NOT NULL CHECK (failed >= 0),
    skipped       integer     NOT NULL DEFAULT 0 CHECK (skipped >= 0),
    -- what was validated: schema, time window, filters, thresholds, the traffic signal
    scope         jsonb       NOT NULL,
    report_path   text,                           -- the run's HTML report (under settings.reports_dir)
    dag_id        text,
    dag_run_id    text,
    recorded_by   text        NOT NULL DEFAULT current_user,
    CHECK (finished_at >= started_at),
    CHECK (failed <= evaluated),
    CHECK (success = (failed = 0))
);
CREATE INDEX dq_runs_finished ON dq_runs (finished_at DESC);

-- One row per expectation of a run.
CREATE TABLE dq_results (
    run_id             text        NOT NULL REFERENCES dq_runs (run_id) ON DELETE CASCADE,
    check_id           text        NOT NULL,      -- stable name, e.g. `alerts.belongs_to_incident`
    suite              text        NOT NULL,      -- alerts | incidents | incident_events | scaling_events
    expectation_type   text        NOT NULL,      -- the GX expectation, e.g. expect_column_values_to_be_in_set
    status             text        NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped')),
    description        text        NOT NULL,
    element_count      bigint,                    -- rows looked at (map expectations)
    unexpected_count   bigint,                    -- rows that broke it
    unexpected_percent double precision,
    observed_value     jsonb,
    -- up to `sample_rows` of the rows that broke it (their keys and the offending values)
    sample             jsonb       NOT NULL DEFAULT '[]'::jsonb,
    detail             jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- kwargs, skip reason, exception
    PRIMARY KEY (run_id, check_id)
);
CREATE INDEX dq_results_not_passed ON dq_results (check_id) WHERE status IN ('failed', 'error');

GRANT SELECT, INSERT ON dq_runs, dq_results TO patternalarm_control;
