DROP TABLE incident_scores;
DROP TABLE rescoring_runs;
ALTER TABLE reconciliation_runs DROP COLUMN label, DROP COLUMN config, DROP COLUMN incident_ids,
    ADD COLUMN incident_id bigint;
