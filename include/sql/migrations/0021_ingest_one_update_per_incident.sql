-- ingest_alerts(): same behaviour as in 0020, but each incident row is updated once per batch
-- instead of once per alert. A batch's alerts are walked key by key; the current incident of the
-- key is kept in memory while alerts attach to it and written back when the key (or the incident:
-- superseded, re-opened) changes. Many alerts on one entity (a hot key) no longer pile up row
-- versions and index entries on one incident within a transaction.
-- The incident row is safe to write from memory: incident_for_key() holds the key's advisory
-- lock and the row lock until the transaction ends, so nobody else changes it meanwhile.

CREATE OR REPLACE FUNCTION ingest_alerts(p_alerts jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_new       text[];
        a           record;
        v_key       text;
        v_silence   bigint;
        v_window    interval;
        v_inc       incidents;
        v_have      boolean  := false;
        v_target    record;
        v_action    text;
        v_old_sev   text;
        v_ids       text[]   := '{}';
        v_incidents bigint[] := '{}';
        v_silences  bigint[] := '{}';
        n_received  integer;
        n_silenced  integer  := 0;
        n_attached  integer  := 0;
        n_opened    integer  := 0;
        n_reopened  integer  := 0;
    BEGIN
        IF p_alerts IS NULL OR jsonb_typeof(p_alerts) <> 'array' THEN
            RAISE EXCEPTION 'ingest_alerts expects a JSON array of alerts' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        n_received := jsonb_array_length(p_alerts);

        WITH ins AS (
            INSERT INTO alerts AS t (alert_id, rule_id, rule_version, domain, entity, severity, first_event_time,
                                     last_event_time, detected_at, evidence, source_topic, source_partition,
                                     source_offset, source_timestamp)
            SELECT e->>'alert_id', e->>'rule_id', (e->>'rule_version')::integer, e->>'domain', e->>'entity',
                   e->>'severity', (e->>'first_event_time')::timestamptz, (e->>'last_event_time')::timestamptz,
                   (e->>'detected_at')::timestamptz, e->'evidence', e->>'source_topic',
                   (e->>'source_partition')::integer, (e->>'source_offset')::bigint,
                   (e->>'source_timestamp')::timestamptz
              FROM jsonb_array_elements(p_alerts) WITH ORDINALITY AS x(e, ord)
             ORDER BY ord
            ON CONFLICT (alert_id) DO NOTHING
            RETURNING t.alert_id
        )
        SELECT coalesce(array_agg(ins.alert_id), '{}') INTO v_new FROM ins;

        -- keys in a fixed (hash) order, so concurrent batches take the per-key locks in one order;
        -- the alerts of one key together, in event-time order
        FOR a IN
            SELECT al.*, al.domain || '|' || al.rule_id || '|' || al.entity AS grouping_key
              FROM alerts al
             WHERE al.alert_id = ANY (v_new)
             ORDER BY hashtextextended(al.domain || '|' || al.rule_id || '|' || al.entity, 0),
                      al.domain || '|' || al.rule_id || '|' || al.entity, al.first_event_time, al.alert_id
        LOOP
            IF v_key IS DISTINCT FROM a.grouping_key THEN
                IF v_have THEN
                    UPDATE incidents
                       SET alert_count = v_inc.alert_count, first_seen = v_inc.first_seen,
                           last_seen = v_inc.last_seen, severity = v_inc.severity, last_alert_at = now(),
                           updated_at = now()
                     WHERE incident_id = v_inc.incident_id;
                    v_have := false;
                END IF;
                v_key := a.grouping_key;
                v_silence := matching_silence(a.domain, a.rule_id, a.entity);
                v_window := (incident_policy_for(a.rule_id)).grouping_window;
            END IF;

            IF v_silence IS NOT NULL THEN
                v_ids := v_ids || a.alert_id;
                v_incidents := v_incidents || NULL::bigint;
                v_silences := v_silences || v_silence;
                n_silenced := n_silenced + 1;
                CONTINUE;
            END IF;

            IF v_have AND (v_inc.status = 'acknowledged' OR a.first_event_time <= v_inc.last_seen + v_window) THEN
                v_action := 'attached';
            ELSE
                IF v_have THEN  -- the in-memory incident ends here: write it before the key is re-examined
                    UPDATE incidents
                       SET alert_count = v_inc.alert_count, first_seen = v_inc.first_seen,
                           last_seen = v_inc.last_seen, severity = v_inc.severity, last_alert_at = now(),
                           updated_at = now()
                     WHERE incident_id = v_inc.incident_id;
                END IF;
                SELECT * INTO v_target
                  FROM incident_for_key(a.domain, a.rule_id, a.entity, a.first_event_time, a.last_event_time,
                                        a.severity, 'sink', NULL, NULL);
                SELECT * INTO v_inc FROM incidents WHERE incident_id = v_target.o_incident_id;
                v_have := true;
                v_action := v_target.o_action;
            END IF;

            v_old_sev := v_inc.severity;
            v_inc.alert_count := v_inc.alert_count + 1;
            v_inc.first_seen := least(v_inc.first_seen, a.first_event_time);
            v_inc.last_seen := greatest(v_inc.last_seen, a.last_event_time);
            IF severity_rank(a.severity) > severity_rank(v_inc.severity) THEN
                v_inc.severity := a.severity;
            END IF;
            INSERT INTO incident_events (incident_id, kind, actor, alert_id, detail)
            VALUES (v_inc.incident_id, 'alert_attached', 'sink', a.alert_id,
                    jsonb_build_object('severity', a.severity, 'rule_version', a.rule_version,
                                       'first_event_time', a.first_event_time,
                                       'last_event_time', a.last_event_time)
                    || CASE WHEN v_action = 'attached' AND severity_rank(a.severity) > severity_rank(v_old_sev)
                            THEN jsonb_build_object('severity_raised_from', v_old_sev)
                            ELSE '{}'::jsonb END);
            v_ids := v_ids || a.alert_id;
            v_incidents := v_incidents || v_inc.incident_id;
            v_silences := v_silences || NULL::bigint;
            CASE v_action
                WHEN 'opened' THEN n_opened := n_opened + 1;
                WHEN 'reopened' THEN n_reopened := n_reopened + 1;
                ELSE n_attached := n_attached + 1;
            END CASE;
        END LOOP;
        IF v_have THEN
            UPDATE incidents
               SET alert_count = v_inc.alert_count, first_seen = v_inc.first_seen, last_seen = v_inc.last_seen,
                   severity = v_inc.severity, last_alert_at = now(), updated_at = now()
             WHERE incident_id = v_inc.incident_id;
        END IF;

        UPDATE alerts al
           SET incident_id = m.incident_id, silence_id = m.silence_id
          FROM unnest(v_ids, v_incidents, v_silences) AS m(alert_id, incident_id, silence_id)
         WHERE al.alert_id = m.alert_id;
        UPDATE silences s
           SET matched_alerts = s.matched_alerts + c.n
          FROM (SELECT u.sid, count(*) AS n FROM unnest(v_silences) AS u(sid)
                 WHERE u.sid IS NOT NULL GROUP BY u.sid) c
         WHERE s.silence_id = c.sid;

        RETURN jsonb_build_object('received', n_received, 'inserted', cardinality(v_new),
                                  'duplicates', n_received - cardinality(v_new), 'silenced', n_silenced,
                                  'attached', n_attached, 'opened', n_opened, 'reopened', n_reopened);
    END
    $$;

-- CREATE OR REPLACE keeps the privileges of 0020 (EXECUTE for patternalarm_sink only); restated
-- here so this file alone says who may call it.
REVOKE ALL ON FUNCTION ingest_alerts(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_alerts(jsonb) TO patternalarm_sink;
