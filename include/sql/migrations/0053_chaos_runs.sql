-- Chaos experiments (issue 15): one row per experiment run, by `bin/patternalarm chaos run` or the
-- chaos_experiments DAG, with what the fault cost measured against the simulator's ground truth.
CREATE TABLE chaos_runs (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id              text        NOT NULL,   -- one `chaos run` invocation or DAG run
    experiment            text        NOT NULL,
    status                text        NOT NULL CHECK (status IN ('running', 'passed', 'failed', 'error', 'dry_run')),
    requested_by          text        NOT NULL,
    started_at            timestamptz NOT NULL DEFAULT now(),
    finished_at           timestamptz,
    sim_run_id            text,                   -- the labelled traffic (sim_runs / ground_truth)
    params                jsonb       NOT NULL DEFAULT '{}'::jsonb,
    fault_at              timestamptz,
    fault_ended_at        timestamptz,            -- the process is back / the fault is lifted
    recovered_at          timestamptz,            -- jobs RUNNING with a checkpoint, sink lag under its limit
    recovery_s            double precision,       -- fault_at → recovered_at
    monitor_detected_s    double precision,       -- fault_at → monitor_detection_jobs' first platform incident
    expected              integer,                -- scenario alerts expected (ground truth)
    detected              integer,
    lost                  integer,
    duplicated            integer,                -- extra alerts for one scenario instance
    incidents_duplicated  integer,                -- more than one incident for one scenario's (rule, entity)
    dead_lettered         integer,                -- bad input found in a dead-letter topic with a reason
    late                  integer,
    latency_p99_before_s  double precision,
    latency_p99_during_s  double precision,
    latency_p99_after_s   double precision,
    failures              text[]      NOT NULL DEFAULT '{}',
    result                jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);
CREATE INDEX chaos_runs_experiment_time ON chaos_runs (experiment, started_at DESC);
GRANT SELECT, INSERT, UPDATE ON chaos_runs TO patternalarm_control;
