-- What the control plane deployed: the desired state the monitor heals towards, and the audit trail
-- of every deploy / upgrade / rollback / resubmission.
CREATE TABLE detection_deployments (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain           text        NOT NULL,
    catalog_version  text        NOT NULL,
    parallelism      integer     NOT NULL CHECK (parallelism >= 1),
    action           text        NOT NULL CHECK (action IN ('deploy', 'upgrade', 'rollback', 'resubmit', 'rescale', 'stop')),
    job_id           text,
    restored_from    text,        -- savepoint or checkpoint path the job started from
    stop_savepoint   text,        -- savepoint taken from the job it replaced
    status           text        NOT NULL CHECK (status IN ('submitted', 'healthy', 'failed', 'rolled_back', 'stopped')),
    requested_by     text        NOT NULL,   -- dag_id/run_id or cli
    requested_at     timestamptz NOT NULL DEFAULT now(),
    healthy_at       timestamptz,
    detail           jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX detection_deployments_domain_time ON detection_deployments (domain, requested_at DESC);
GRANT SELECT, INSERT, UPDATE ON detection_deployments TO patternalarm_control;
