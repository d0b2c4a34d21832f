DROP TABLE deployment_locks;
DELETE FROM detection_deployments WHERE status = 'in_progress';
ALTER TABLE detection_deployments DROP CONSTRAINT detection_deployments_status_check;
ALTER TABLE detection_deployments ADD CONSTRAINT detection_deployments_status_check
    CHECK (status IN ('submitted', 'healthy', 'failed', 'rolled_back', 'stopped'));
ALTER TABLE detection_deployments DROP COLUMN overrides, DROP COLUMN rules_dir, DROP COLUMN startup_mode,
    DROP COLUMN finished_at;
