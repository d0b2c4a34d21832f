-- The incident console (issue 16): indexes for its queue and incident page.
-- The queue lists incidents in the CLI's order — priority (unscored last), last seen, id — and pages
-- through them by keyset: `(coalesce(priority, -1), last_seen, incident_id) < (…the last row shown…)`.
-- coalesce() turns "NULLS LAST" into an ordinary value, so the row comparison and one index serve the
-- order; the partial index serves the default view (open and acknowledged incidents).
CREATE INDEX incidents_queue_order
    ON incidents ((coalesce(priority, -1)) DESC, last_seen DESC, incident_id DESC);
CREATE INDEX incidents_queue_active
    ON incidents ((coalesce(priority, -1)) DESC, last_seen DESC, incident_id DESC) WHERE status <> 'resolved';
-- the entity's other incidents (any rule) on the incident page
CREATE INDEX incidents_entity ON incidents (entity, incident_id DESC);
