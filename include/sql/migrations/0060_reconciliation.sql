-- Batch reconciliation (issue 7): one row per run, its alert diffs and its per-minute completeness.
-- Runs as patternalarm_owner; 0001's default privileges make the tables readable by the reporting
-- and analyst roles. The control plane (Airflow + the Spark job it submits, as patternalarm_control)
-- records runs and replaces a run's rows when the job is retried.

CREATE TABLE reconciliation_runs (
    run_id             uuid        PRIMARY KEY,
    dag_run_id         text,
    range_start        timestamptz NOT NULL,            -- Kafka record time, inclusive
    range_end          timestamptz NOT NULL,            -- exclusive
    read_start         timestamptz NOT NULL,            -- range_start - margin (earliest over the domains)
    domains            text[]      NOT NULL,
    rules              jsonb       NOT NULL DEFAULT '[]'::jsonb,   -- id, version, domain, parameters used
    status             text        NOT NULL DEFAULT 'running'
                                   CHECK (status IN ('running', 'passed', 'failed', 'error')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    matched            integer,
    missed             integer,
    spurious           integer,
    edge               integer,
    incomplete_minutes integer,
    excess_minutes     integer,
    records_in_range   bigint,
    records_read       bigint,
    summary            jsonb,                           -- per domain: counts, per rule, examples
    error              text,
    incident_id        bigint,                          -- the platform incident a failing run opened
    CONSTRAINT reconciliation_runs_range CHECK (range_end > range_start AND read_start <= range_start)
);
CREATE INDEX reconciliation_runs_range ON reconciliation_runs (range_start DESC);

-- Every alert judged by a run: matched (both sides), missed (batch only), spurious (stream only),
-- edge (a difference the read window cannot settle: state from before the window may explain it).
CREATE TABLE reconciliation_diffs (
    run_id              uuid        NOT NULL REFERENCES reconciliation_runs (run_id) ON DELETE CASCADE,
    domain              text        NOT NULL,
    rule_id             text        NOT NULL,
    rule_version        integer     NOT NULL,
    entity              text        NOT NULL,
    alert_id            text        NOT NULL,
    outcome             text        NOT NULL CHECK (outcome IN ('matched', 'missed', 'spurious', 'edge')),
    side                text        NOT NULL CHECK (side IN ('both', 'batch', 'stream')),
    first_event_id      text,
    completing_event_id text,
    first_event_time    timestamptz,
    last_event_time     timestamptz,
    received_at         timestamptz,                    -- Kafka timestamp of the completing event
    detail              jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (run_id, alert_id)
);
CREATE INDEX reconciliation_diffs_outcome ON reconciliation_diffs (run_id, outcome);

-- Per domain and minute (Kafka record time) of a run: records in the topic vs what the detection
-- job reported on detection.metrics.
CREATE TABLE reconciliation_completeness (
    run_id          uuid        NOT NULL REFERENCES reconciliation_runs (run_id) ON DELETE CASCADE,
    domain          text        NOT NULL,
    minute          timestamptz NOT NULL,
    topic_records   bigint      NOT NULL,
    processed       bigint      NOT NULL,
    dead_lettered   bigint      NOT NULL,
    late            bigint      NOT NULL,
    duplicates      bigint      NOT NULL,
    reported_total  bigint      NOT NULL,
    metrics_records integer     NOT NULL,
    batch_invalid   bigint,                             -- records the batch validation rejects
    status          text        NOT NULL CHECK (status IN ('ok', 'missing', 'no_metrics', 'excess')),
    PRIMARY KEY (run_id, domain, minute)
);

GRANT SELECT, INSERT, UPDATE ON reconciliation_runs TO patternalarm_control;
GRANT SELECT, INSERT, DELETE ON reconciliation_diffs, reconciliation_completeness TO patternalarm_control;
