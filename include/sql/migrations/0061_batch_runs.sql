-- Batch (issue 7), second step: reconciliation runs remember their label, full configuration and
-- the platform incidents they opened; incident rescoring keeps its runs and every score it wrote
-- (features and reasons), so a priority can always be explained. Runs as patternalarm_owner.

ALTER TABLE reconciliation_runs
    ADD COLUMN label        text,
    ADD COLUMN config       jsonb,
    ADD COLUMN incident_ids bigint[] NOT NULL DEFAULT '{}',
    DROP COLUMN incident_id;

CREATE TABLE rescoring_runs (
    run_id        uuid        PRIMARY KEY,
    dag_run_id    text,
    label         text,
    domains       text[]      NOT NULL,
    since         timestamptz,                 -- incidents last seen at or after (NULL: any)
    until         timestamptz,                 -- …and before (NULL: any)
    reference     timestamptz NOT NULL,        -- "now" of the run: history windows end here
    history_days  integer     NOT NULL CHECK (history_days BETWEEN 1 AND 3650),
    spend_hours   integer     NOT NULL CHECK (spend_hours BETWEEN 1 AND 720),
    config        jsonb,
    status        text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'error')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    scored        integer,                     -- open incidents scored
    changed       integer,                     -- whose priority or reasons changed
    summary       jsonb,
    error         text,
    CHECK (until IS NULL OR since IS NULL OR until > since)
);
CREATE INDEX rescoring_runs_started ON rescoring_runs (started_at DESC);

CREATE TABLE incident_scores (
    run_id      uuid        NOT NULL REFERENCES rescoring_runs (run_id) ON DELETE CASCADE,
    incident_id bigint      NOT NULL,
    domain      text        NOT NULL,
    rule_id     text        NOT NULL,
    entity      text        NOT NULL,
    priority    smallint    NOT NULL CHECK (priority BETWEEN 0 AND 100),
    reasons     jsonb       NOT NULL,          -- the top contributions, as written to the incident
    features    jsonb       NOT NULL,          -- every input of the score
    scored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, incident_id)
);
CREATE INDEX incident_scores_incident ON incident_scores (incident_id, scored_at DESC);

GRANT SELECT, INSERT, UPDATE ON rescoring_runs TO patternalarm_control;
GRANT SELECT, INSERT, DELETE ON incident_scores TO patternalarm_control;
