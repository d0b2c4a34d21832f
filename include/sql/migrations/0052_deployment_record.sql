-- The deployment record shared by `bin/patternalarm deploy` and the DAGs (deploy_detection_jobs,
-- monitor_detection_jobs' healing, the scaler): what each domain's job runs with, and one lock per
-- domain so that a command-line upgrade and the monitor's healing never act on a domain at once.

-- What a job ran with, beyond the catalog version and parallelism of 0051:
ALTER TABLE detection_deployments
    -- parameter overrides as deployed ({"<rule>|job|<domain>": {"<param>": value}}); kept by later
    -- deploys and by healing unless a deploy resets them
    ADD COLUMN overrides     jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- the rules directory the catalog was read from (NULL: the catalog shipped with the package)
    ADD COLUMN rules_dir     text,
    -- where a job without restored state starts reading partitions that have no committed offset
    ADD COLUMN startup_mode  text CHECK (startup_mode IN ('earliest', 'latest')),
    ADD COLUMN finished_at   timestamptz;

-- 'in_progress': a deploy/upgrade that holds the domain's lock and has not finished (its row carries
-- the savepoint it took, so a retried step finds it again)
ALTER TABLE detection_deployments DROP CONSTRAINT detection_deployments_status_check;
ALTER TABLE detection_deployments ADD CONSTRAINT detection_deployments_status_check
    CHECK (status IN ('in_progress', 'submitted', 'healthy', 'failed', 'rolled_back', 'stopped'));

-- One lease per domain: whoever changes a domain's job (a CLI deploy, a DAG upgrade, the monitor's
-- resubmission) holds it; it expires by itself when its holder dies (a killed scheduler, a ^C).
CREATE TABLE deployment_locks (
    domain       text        PRIMARY KEY,
    holder       text        NOT NULL,   -- cli:<user>@<host>:<pid>, <dag_id>/<run_id>, …
    purpose      text        NOT NULL,   -- deploy, upgrade, stop, heal, rollback
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON deployment_locks TO patternalarm_control;
