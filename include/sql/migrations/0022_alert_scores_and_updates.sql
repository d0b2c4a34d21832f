-- Alerts carry a score (0..1, for ranking) and an update number: an episodic rule (the adaptive
-- detectors) opens an episode with one alert (seq 1) and re-emits the SAME alert_id with seq 2, 3…
-- while the episode's score grows. ingest_alerts() stores a new alert as before; an alert it already
-- has is updated only when the incoming seq is higher (a replayed older update changes nothing): its
-- score, last_event_time and evidence, and its incident's last_seen and max_score. Incidents rank by
-- max_score (the highest score of their alerts).
ALTER TABLE alerts
    ADD COLUMN score double precision CHECK (score IS NULL OR (score >= 0 AND score <= 1)),
    ADD COLUMN seq integer NOT NULL DEFAULT 1 CHECK (seq >= 1),
    ADD COLUMN updated_at timestamptz;
ALTER TABLE incidents
    ADD COLUMN max_score double precision CHECK (max_score IS NULL OR (max_score >= 0 AND max_score <= 1));
CREATE INDEX incidents_active_by_score ON incidents (max_score DESC NULLS LAST)
    WHERE status IN ('open', 'acknowledged');

CREATE OR REPLACE FUNCTION ingest_alerts(p_alerts jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_new       text[];
        v_updated   text[];
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

        -- one row per alert id (the highest seq of the batch), then insert new ones and update known
        -- ones whose seq is higher; xmax = 0 tells an inserted row from an updated one
        WITH incoming AS (
            SELECT DISTINCT ON (e->>'alert_id') e, ord
              FROM jsonb_array_elements(p_alerts) WITH ORDINALITY AS x(e, ord)
             ORDER BY e->>'alert_id', coalesce((e->>'seq')::integer, 1) DESC, ord
        ), ups AS (
            INSERT INTO alerts AS t (alert_id, rule_id, rule_version, domain, entity, severity, first_event_time,
                                     last_event_time, detected_at, evidence, source_topic, source_partition,
                                     source_offset, source_timestamp, score, seq)
            SELECT e->>'alert_id', e->>'rule_id', (e->>'rule_version')::integer, e->>'domain', e->>'entity',
                   e->>'severity', (e->>'first_event_time')::timestamptz, (e->>'last_event_time')::timestamptz,
                   (e->>'detected_at')::timestamptz, e->'evidence', e->>'source_topic',
                   (e->>'source_partition')::integer, (e->>'source_offset')::bigint,
                   (e->>'source_timestamp')::timestamptz, (e->>'score')::double precision,
                   coalesce((e->>'seq')::integer, 1)
              FROM incoming
             ORDER BY ord
            ON CONFLICT (alert_id) DO UPDATE
               SET score = greatest(t.score, excluded.score), seq = excluded.seq,
                   last_event_time = greatest(t.last_event_time, excluded.last_event_time),
                   evidence = excluded.evidence, updated_at = clock_timestamp()
             WHERE excluded.seq > t.seq
            RETURNING t.alert_id, (t.xmax::text = '0') AS inserted
        )
        SELECT coalesce(array_agg(ups.alert_id) FILTER (WHERE ups.inserted), '{}'),
               coalesce(array_agg(ups.alert_id) FILTER (WHERE NOT ups.inserted), '{}')
          INTO v_new, v_updated FROM ups;

        -- updated alerts: their incident saw more of the episode
        UPDATE incidents i
           SET last_seen = greatest(i.last_seen, u.last_event_time),
               max_score = greatest(i.max_score, u.score), updated_at = now()
          FROM (SELECT incident_id, max(last_event_time) AS last_event_time, max(score) AS score
                  FROM alerts WHERE alert_id = ANY (v_updated) AND incident_id IS NOT NULL
                 GROUP BY incident_id) u
         WHERE i.incident_id = u.incident_id;

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
                           max_score = v_inc.max_score, updated_at = now()
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
                           max_score = v_inc.max_score, updated_at = now()
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
            v_inc.max_score := greatest(v_inc.max_score, a.score);
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
                   severity = v_inc.severity, last_alert_at = now(), max_score = v_inc.max_score, updated_at = now()
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
                                  'updated', cardinality(v_updated),
                                  'duplicates', n_received - cardinality(v_new) - cardinality(v_updated),
                                  'silenced', n_silenced,
                                  'attached', n_attached, 'opened', n_opened, 'reopened', n_reopened);
    END
    $$;

-- CREATE OR REPLACE keeps the privileges (EXECUTE for patternalarm_sink only); restated here.
REVOKE ALL ON FUNCTION ingest_alerts(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ingest_alerts(jsonb) TO patternalarm_sink;
