-- Shadow deployments: a candidate rule set running beside a domain's live job on the same live events.
-- Its alerts go to the alerts.shadow topic (never to the alerts table, never an incident); `shadow
-- compare` sets them against the live job's alerts (and the analysts' dispositions of those), and
-- `shadow promote` deploys the candidate through deploy_detection_jobs.
CREATE TABLE shadow_deployments (
    shadow_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain           text        NOT NULL CHECK (domain IN ('payments', 'gaming', 'iot')),
    job_id           text,
    catalog_version  integer     NOT NULL CHECK (catalog_version >= 1),
    overrides        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    rules_dir        text,
    parallelism      integer     NOT NULL DEFAULT 1 CHECK (parallelism BETWEEN 1 AND 64),
    started_by       text        NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    stopped_at       timestamptz,
    outcome          text        CHECK (outcome IN ('stopped', 'promoted', 'failed')),
    detail           jsonb       NOT NULL DEFAULT '{}'::jsonb
);
-- at most one shadow per domain at a time
CREATE UNIQUE INDEX shadow_deployments_running ON shadow_deployments (domain) WHERE stopped_at IS NULL;
GRANT SELECT, INSERT, UPDATE ON shadow_deployments TO patternalarm_control;
