-- Planned silence (issue 16): a maintenance window for devices (or any entities). An entity in
-- maintenance is not "missing": its alerts are still stored (alerts.silence_id names the window,
-- silences.matched_alerts counts them) but they open and join no incident — the silence machinery
-- of 0020, with kind = 'maintenance' so people and tools can tell planned work from muted noise.
ALTER TABLE silences
    ADD COLUMN kind text NOT NULL DEFAULT 'silence' CHECK (kind IN ('silence', 'maintenance'));

-- One maintenance window per entity (a name or a glob), all or nothing: every entity gets a
-- silence of kind 'maintenance' for p_rule_id (NULL: every rule) and p_domain (NULL: any) from
-- p_starts_at (NULL: now) to p_ends_at, or none does. Validation is create_silence()'s.
CREATE FUNCTION start_maintenance(p_entities text[], p_rule_id text, p_domain text, p_starts_at timestamptz,
                                  p_ends_at timestamptz, p_comment text, p_actor text) RETURNS SETOF silences
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_entity text;
        v        silences;
    BEGIN
        IF p_entities IS NULL OR cardinality(p_entities) = 0 THEN
            RAISE EXCEPTION 'a maintenance window needs at least one entity' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF cardinality(p_entities) > 10000 THEN
            RAISE EXCEPTION 'at most 10000 entities per maintenance window (got %); use a glob',
                  cardinality(p_entities) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOREACH v_entity IN ARRAY p_entities LOOP
            IF v_entity IS NULL OR btrim(v_entity) = '' OR length(v_entity) > 500 THEN
                RAISE EXCEPTION 'an entity of a maintenance window must have 1 to 500 characters'
                      USING ERRCODE = 'invalid_parameter_value';
            END IF;
            v := create_silence(p_rule_id, v_entity, p_domain, p_starts_at, p_ends_at, p_comment, p_actor);
            UPDATE silences SET kind = 'maintenance' WHERE silence_id = v.silence_id RETURNING * INTO v;
            RETURN NEXT v;
        END LOOP;
    END
    $$;

REVOKE ALL ON FUNCTION start_maintenance(text[], text, text, timestamptz, timestamptz, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION start_maintenance(text[], text, text, timestamptz, timestamptz, text, text)
    TO patternalarm_analyst;
