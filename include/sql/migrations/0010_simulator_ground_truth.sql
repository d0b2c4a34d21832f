-- Simulator runs and the ground truth of every labelled instance they injected
-- (issue 3; shape in docs/contracts.md). Runs as patternalarm_owner.
-- Reporting and analyst roles read both tables through 0001's default privileges.
-- The simulator writes as patternalarm_control (the control plane's role: the benchmark and the
-- demo start simulations from Airflow); it may insert runs and ground truth and update a run's
-- end state, nothing else.

CREATE TABLE sim_runs (
    run_id       text        PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text        NOT NULL DEFAULT 'running'
                             CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
    seed         bigint      NOT NULL,
    clock        text        NOT NULL CHECK (clock IN ('live', 'virtual')),
    domains      text[]      NOT NULL,
    config       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    summary      jsonb,
    os_user      text        NOT NULL DEFAULT current_user
);

-- One row per injected instance: a scenario (fires / near miss) or a bad event
-- (malformed, late / out of order, duplicate).
CREATE TABLE ground_truth (
    run_id                text        NOT NULL REFERENCES sim_runs (run_id) ON DELETE CASCADE,
    scenario_id           text        NOT NULL,
    kind                  text        NOT NULL CHECK (kind IN ('scenario', 'malformed', 'late', 'duplicate')),
    rule_id               text,
    variant               text        NOT NULL,
    domain                text        NOT NULL,
    entity                text        NOT NULL,
    should_alert          boolean     NOT NULL,
    first_event_time      timestamptz NOT NULL,
    last_event_time       timestamptz NOT NULL,
    completing_event_id   text,
    completing_event_time timestamptz,
    event_ids             text[]      NOT NULL,
    -- scenario notes, truncation, a bad event's expected reason / how far behind it was
    detail                jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, scenario_id),
    CHECK (kind <> 'scenario' OR rule_id IS NOT NULL),
    CHECK (last_event_time >= first_event_time)
);
-- evaluation joins alerts on (rule, entity) and time ranges
CREATE INDEX ground_truth_rule_entity ON ground_truth (rule_id, entity);
CREATE INDEX ground_truth_entity ON ground_truth (entity);
CREATE INDEX ground_truth_first_time ON ground_truth (first_event_time);

GRANT SELECT, INSERT ON sim_runs, ground_truth TO patternalarm_control;
GRANT UPDATE (finished_at, status, summary) ON sim_runs TO patternalarm_control;
