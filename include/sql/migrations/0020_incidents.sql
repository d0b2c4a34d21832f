-- Incident tracking (issue 5): alerts, incidents grouped from them, the incident timeline,
-- silences, grouping policies, and the functions through which each role changes them.
-- Runs as patternalarm_owner. 0001's default privileges make every table here readable by
-- patternalarm_reporting and patternalarm_analyst; nobody but the owner writes a table directly:
-- the sink, the analysts and the control plane go through the SECURITY DEFINER functions below,
-- each granted to exactly the role that needs it (EXECUTE is revoked from PUBLIC).

-- ---------------------------------------------------------------------------------------------
-- helpers
-- ---------------------------------------------------------------------------------------------

-- Order of severities: "the highest severity" of an incident is the max of this rank.
CREATE FUNCTION severity_rank(p_severity text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE p_severity WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3
                               WHEN 'critical' THEN 4 END
    $$;

-- A shell-style glob ('card-12*', 'dev-?7') as a LIKE pattern: * → %, ? → _, and LIKE's own
-- metacharacters (%, _, \) escaped so they match literally.
CREATE FUNCTION glob_to_like(p_glob text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT replace(replace(replace(replace(replace(p_glob, '\', '\\'), '%', '\%'), '_', '\_'),
                               '*', '%'), '?', '_')
    $$;

-- ---------------------------------------------------------------------------------------------
-- tables
-- ---------------------------------------------------------------------------------------------

-- How alerts of one rule are grouped into incidents. The row with rule_id '*' is the default for
-- every rule without a row of its own.
CREATE TABLE incident_policies (
    rule_id            text        PRIMARY KEY CHECK (length(rule_id) BETWEEN 1 AND 200),
    -- an alert joins the open incident of its rule and entity when its first event lies no more
    -- than this after the incident's last_seen (event time); later, it starts a new incident
    grouping_window    interval    NOT NULL CHECK (grouping_window >= interval '0'),
    -- an open incident without a new alert for this long (database clock) is resolved
    -- automatically by auto_resolve_incidents(); NULL = never
    auto_resolve_after interval    CHECK (auto_resolve_after > interval '0'),
    -- a new alert this soon after its incident was resolved re-opens it (unless the analyst
    -- resolved it as false_positive or benign)
    reopen_window      interval    NOT NULL CHECK (reopen_window >= interval '0'),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         text        NOT NULL
);
INSERT INTO incident_policies (rule_id, grouping_window, auto_resolve_after, reopen_window, updated_by)
VALUES ('*', interval '30 minutes', interval '2 hours', interval '1 hour', 'migration 0020');

-- Matchers that keep alerts from opening incidents while they are active; the alerts are still
-- stored (alerts.silence_id says which silence caught them).
CREATE TABLE silences (
    silence_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id        text,                       -- NULL: any rule
    entity_pattern text,                       -- shell glob on the entity, NULL: any entity
    entity_like    text GENERATED ALWAYS AS (glob_to_like(entity_pattern)) STORED,
    domain         text CHECK (domain IN ('payments', 'gaming', 'iot', 'platform')),  -- NULL: any
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    comment        text        NOT NULL CHECK (btrim(comment) <> ''),
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expired_at     timestamptz,                -- ended early by expire_silence()
    expired_by     text,
    matched_alerts bigint      NOT NULL DEFAULT 0,
    CONSTRAINT silences_period CHECK (ends_at > starts_at),
    CONSTRAINT silences_some_matcher CHECK (coalesce(rule_id, entity_pattern, domain) IS NOT NULL)
);
CREATE INDEX silences_current ON silences (ends_at) WHERE expired_at IS NULL;

CREATE TABLE incidents (
    incident_id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain              text        NOT NULL CHECK (domain IN ('payments', 'gaming', 'iot', 'platform')),
    rule_id             text        NOT NULL,   -- for the platform domain: the check's name
    entity              text        NOT NULL,
    status              text        NOT NULL DEFAULT 'open'
                                    CHECK (status IN ('open', 'acknowledged', 'resolved')),
    severity            text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    first_seen          timestamptz NOT NULL,   -- earliest first_event_time of its alerts
    last_seen           timestamptz NOT NULL,   -- latest last_event_time of its alerts
    alert_count         integer     NOT NULL DEFAULT 0 CHECK (alert_count >= 0),
    last_alert_at       timestamptz NOT NULL DEFAULT now(),  -- database clock; the quiet period counts from here
    summary             text,
    details             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    assignee            text,
    acknowledged_at     timestamptz,
    acknowledged_by     text,
    resolved_at         timestamptz,
    resolved_by         text,
    disposition         text CHECK (disposition IN ('confirmed_fraud', 'false_positive', 'benign')),
    resolution_note     text,
    reopen_count        integer     NOT NULL DEFAULT 0,
    -- written by the batch rescoring (issue 7) through set_incident_priorities()
    priority            smallint CHECK (priority BETWEEN 0 AND 100),
    priority_reasons    jsonb,
    priority_updated_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT incidents_seen_order CHECK (first_seen <= last_seen),
    CONSTRAINT incidents_resolved_iff_resolved_at CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    CONSTRAINT incidents_disposition_only_when_resolved CHECK (disposition IS NULL OR status = 'resolved')
);
-- at most one open or acknowledged incident per rule and entity
CREATE UNIQUE INDEX incidents_one_active_per_key ON incidents (domain, rule_id, entity) WHERE status <> 'resolved';
CREATE INDEX incidents_key ON incidents (domain, rule_id, entity, incident_id DESC);
CREATE INDEX incidents_open_quiet ON incidents (last_alert_at) WHERE status = 'open';
CREATE INDEX incidents_by_priority ON incidents (priority DESC NULLS LAST, last_seen DESC);
CREATE INDEX incidents_by_last_seen ON incidents (last_seen DESC);

-- One row per alert_id: the alert contract (docs/contracts.md) plus where it came from.
CREATE TABLE alerts (
    alert_id         text        PRIMARY KEY CHECK (alert_id ~ '^[0-9a-f]{64}$'),
    rule_id          text        NOT NULL CHECK (length(rule_id) BETWEEN 1 AND 200),
    rule_version     integer     NOT NULL CHECK (rule_version >= 0),
    domain           text        NOT NULL CHECK (domain IN ('payments', 'gaming', 'iot')),
    entity           text        NOT NULL CHECK (length(entity) BETWEEN 1 AND 500),
    severity         text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    first_event_time timestamptz NOT NULL,
    last_event_time  timestamptz NOT NULL,
    detected_at      timestamptz NOT NULL,
    evidence         jsonb       NOT NULL CHECK (jsonb_typeof(evidence) = 'object'),
    persisted_at     timestamptz NOT NULL DEFAULT clock_timestamp(),  -- database clock
    incident_id      bigint REFERENCES incidents (incident_id),
    silence_id       bigint REFERENCES silences (silence_id),
    -- the Kafka record it was read from (timestamp: the record's, log-append time where the
    -- topic uses it)
    source_topic     text,
    source_partition integer,
    source_offset    bigint,
    source_timestamp timestamptz,
    CONSTRAINT alerts_event_order CHECK (first_event_time <= last_event_time),
    CONSTRAINT alerts_incident_or_silence CHECK (incident_id IS NULL OR silence_id IS NULL)
);
CREATE INDEX alerts_incident ON alerts (incident_id);
CREATE INDEX alerts_persisted_at ON alerts (persisted_at);
CREATE INDEX alerts_rule_entity ON alerts (rule_id, entity);

-- The timeline: every state change and every attached alert, who (actor + database role) and when.
-- alert_id is not a foreign key on purpose: the timeline is an audit log and outlives alert rows.
CREATE TABLE incident_events (
    event_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (incident_id),
    happened_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind        text        NOT NULL CHECK (kind IN ('opened', 'alert_attached', 'acknowledged', 'assigned',
                                                     'resolved', 'auto_resolved', 'reopened',
                                                     'platform_update', 'priority_changed')),
    actor       text        NOT NULL,
    db_role     text        NOT NULL DEFAULT session_user,
    from_status text,
    to_status   text,
    alert_id    text,
    note        text,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, event_id);
CREATE INDEX incident_events_alert ON incident_events (alert_id) WHERE alert_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- internal functions (run as the owner inside the SECURITY DEFINER functions; not granted)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION incident_policy_for(p_rule_id text) RETURNS incident_policies
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT * FROM incident_policies WHERE rule_id IN (p_rule_id, '*') ORDER BY (rule_id = '*') LIMIT 1
    $$;

CREATE FUNCTION matching_silence(p_domain text, p_rule_id text, p_entity text) RETURNS bigint
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT s.silence_id FROM silences s
         WHERE s.expired_at IS NULL AND s.starts_at <= now() AND now() < s.ends_at
           AND (s.domain IS NULL OR s.domain = p_domain)
           AND (s.rule_id IS NULL OR s.rule_id = p_rule_id)
           AND (s.entity_like IS NULL OR p_entity LIKE s.entity_like)
         ORDER BY s.silence_id
         LIMIT 1
    $$;

CREATE FUNCTION actor_name(p_actor text) RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF p_actor IS NULL OR btrim(p_actor) = '' THEN
            RETURN session_user;
        END IF;
        IF length(p_actor) > 200 THEN
            RAISE EXCEPTION 'actor name is longer than 200 characters' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN btrim(p_actor);
    END
    $$;

CREATE FUNCTION lock_incident(p_incident_id bigint) RETURNS incidents
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    DECLARE
        v incidents;
    BEGIN
        SELECT * INTO v FROM incidents WHERE incident_id = p_incident_id FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'incident % does not exist', p_incident_id USING ERRCODE = 'no_data_found';
        END IF;
        RETURN v;
    END
    $$;

-- The incident that new activity on (domain, rule, entity) belongs to, applying the grouping and
-- re-open rules; opens one when needed. Serialised per key with an advisory lock, so concurrent
-- callers never open two incidents for one key.
--   1. an acknowledged incident of the key takes every new alert (an analyst owns it);
--   2. an open incident takes it when p_first <= last_seen + grouping window; otherwise the open
--      incident is closed as superseded and a new one is opened;
--   3. with no active incident, the key's latest incident is re-opened when it was resolved less
--      than the re-open window ago with no disposition (auto-resolved) or confirmed_fraud;
--   4. otherwise a new incident is opened.
CREATE FUNCTION incident_for_key(p_domain text, p_rule_id text, p_entity text, p_first timestamptz,
                                 p_last timestamptz, p_severity text, p_actor text, p_summary text,
                                 p_details jsonb, OUT o_incident_id bigint, OUT o_action text)
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_policy incident_policies;
        v_inc    incidents;
        v_old_id bigint;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_domain || '|' || p_rule_id || '|' || p_entity, 0));
        v_policy := incident_policy_for(p_rule_id);

        SELECT * INTO v_inc FROM incidents i
         WHERE i.domain = p_domain AND i.rule_id = p_rule_id AND i.entity = p_entity AND i.status <> 'resolved'
           FOR UPDATE;
        IF FOUND THEN
            IF v_inc.status = 'acknowledged' OR p_first <= v_inc.last_seen + v_policy.grouping_window THEN
                o_incident_id := v_inc.incident_id;
                o_action := 'attached';
                RETURN;
            END IF;
            v_old_id := v_inc.incident_id;
            UPDATE incidents
               SET status = 'resolved', resolved_at = now(), resolved_by = 'system:grouping',
                   resolution_note = format('superseded: the next alert came more than the grouping window (%s) '
                                            'after the last one', v_policy.grouping_window),
                   updated_at = now()
             WHERE incident_id = v_old_id;
        ELSE
            SELECT * INTO v_inc FROM incidents i
             WHERE i.domain = p_domain AND i.rule_id = p_rule_id AND i.entity = p_entity
             ORDER BY i.incident_id DESC
             LIMIT 1
               FOR UPDATE;
            IF FOUND AND v_inc.resolved_at > now() - v_policy.reopen_window
                     AND (v_inc.disposition IS NULL OR v_inc.disposition = 'confirmed_fraud') THEN
                UPDATE incidents
                   SET status = 'open', resolved_at = NULL, resolved_by = NULL, disposition = NULL,
                       resolution_note = NULL, acknowledged_at = NULL, acknowledged_by = NULL,
                       reopen_count = reopen_count + 1, last_alert_at = now(), updated_at = now()
                 WHERE incident_id = v_inc.incident_id;
                INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, note, detail)
                VALUES (v_inc.incident_id, 'reopened', p_actor, 'resolved', 'open',
                        'new activity within the re-open window',
                        jsonb_build_object('reopen_window', v_policy.reopen_window::text,
                                           'previous_disposition', v_inc.disposition,
                                           'previously_resolved_at', v_inc.resolved_at,
                                           'previously_resolved_by', v_inc.resolved_by));
                o_incident_id := v_inc.incident_id;
                o_action := 'reopened';
                RETURN;
            END IF;
        END IF;

        INSERT INTO incidents (domain, rule_id, entity, severity, first_seen, last_seen, summary, details)
        VALUES (p_domain, p_rule_id, p_entity, p_severity, p_first, greatest(p_first, p_last), p_summary,
                coalesce(p_details, '{}'::jsonb))
        RETURNING incident_id INTO o_incident_id;
        INSERT INTO incident_events (incident_id, kind, actor, to_status, detail)
        VALUES (o_incident_id, 'opened', p_actor, 'open',
                jsonb_build_object('severity', p_severity)
                || CASE WHEN v_old_id IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('supersedes', v_old_id) END);
        IF v_old_id IS NOT NULL THEN
            INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, note, detail)
            VALUES (v_old_id, 'auto_resolved', 'system:grouping', 'open', 'resolved',
                    'superseded by a new incident: no alert within the grouping window',
                    jsonb_build_object('superseded_by', o_incident_id,
                                       'grouping_window', v_policy.grouping_window::text));
        END IF;
        o_action := 'opened';
    END
    $$;

-- ---------------------------------------------------------------------------------------------
-- the sink: store a batch of alerts and group them, atomically
-- ---------------------------------------------------------------------------------------------

-- p_alerts: a JSON array of alerts (the contract's fields, plus source_topic, source_partition,
-- source_offset, source_timestamp). Alerts already stored (same alert_id) are skipped, so a
-- replayed batch changes nothing. Returns counts:
-- {received, inserted, duplicates, silenced, attached, opened, reopened}.
CREATE FUNCTION ingest_alerts(p_alerts jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_new       text[];
        a           record;
        v_silence   bigint;
        v_target    record;
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

        -- keys in a fixed (hash) order, so concurrent batches take the per-key locks in one order
        FOR a IN
            SELECT al.* FROM alerts al
             WHERE al.alert_id = ANY (v_new)
             ORDER BY hashtextextended(al.domain || '|' || al.rule_id || '|' || al.entity, 0),
                      al.first_event_time, al.alert_id
        LOOP
            v_silence := matching_silence(a.domain, a.rule_id, a.entity);
            IF v_silence IS NOT NULL THEN
                v_ids := v_ids || a.alert_id;
                v_incidents := v_incidents || NULL::bigint;
                v_silences := v_silences || v_silence;
                n_silenced := n_silenced + 1;
                CONTINUE;
            END IF;

            SELECT * INTO v_target
              FROM incident_for_key(a.domain, a.rule_id, a.entity, a.first_event_time, a.last_event_time,
                                    a.severity, 'sink', NULL, NULL);
            UPDATE incidents i
               SET alert_count = i.alert_count + 1,
                   first_seen = least(i.first_seen, a.first_event_time),
                   last_seen = greatest(i.last_seen, a.last_event_time),
                   severity = CASE WHEN severity_rank(a.severity) > severity_rank(i.severity)
                                   THEN a.severity ELSE i.severity END,
                   last_alert_at = now(),
                   updated_at = now()
              FROM (SELECT incident_id, severity AS old_severity FROM incidents
                     WHERE incident_id = v_target.o_incident_id) o
             WHERE i.incident_id = o.incident_id
            RETURNING o.old_severity INTO v_old_sev;
            INSERT INTO incident_events (incident_id, kind, actor, alert_id, detail)
            VALUES (v_target.o_incident_id, 'alert_attached', 'sink', a.alert_id,
                    jsonb_build_object('severity', a.severity, 'rule_version', a.rule_version,
                                       'first_event_time', a.first_event_time,
                                       'last_event_time', a.last_event_time)
                    || CASE WHEN v_target.o_action = 'attached'
                                 AND severity_rank(a.severity) > severity_rank(v_old_sev)
                            THEN jsonb_build_object('severity_raised_from', v_old_sev)
                            ELSE '{}'::jsonb END);
            v_ids := v_ids || a.alert_id;
            v_incidents := v_incidents || v_target.o_incident_id;
            v_silences := v_silences || NULL::bigint;
            CASE v_target.o_action
                WHEN 'opened' THEN n_opened := n_opened + 1;
                WHEN 'reopened' THEN n_reopened := n_reopened + 1;
                ELSE n_attached := n_attached + 1;
            END CASE;
        END LOOP;

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

-- Resolve open incidents that have been quiet for their policy's auto_resolve_after. Incidents
-- an analyst acknowledged are left to the analyst. Safe to call from several processes at once
-- (rows locked by someone else are skipped until the next call). Returns how many it resolved.
CREATE FUNCTION auto_resolve_incidents() RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        r record;
        n integer := 0;
    BEGIN
        FOR r IN
            SELECT i.incident_id, coalesce(p.rule_id, d.rule_id) AS policy_rule,
                   CASE WHEN p.rule_id IS NOT NULL THEN p.auto_resolve_after ELSE d.auto_resolve_after END AS quiet
              FROM incidents i
              LEFT JOIN incident_policies p ON p.rule_id = i.rule_id
             CROSS JOIN (SELECT * FROM incident_policies WHERE rule_id = '*') d
             WHERE i.status = 'open'
               AND i.last_alert_at < now() - CASE WHEN p.rule_id IS NOT NULL THEN p.auto_resolve_after
                                                  ELSE d.auto_resolve_after END
             ORDER BY i.incident_id
               FOR UPDATE OF i SKIP LOCKED
        LOOP
            UPDATE incidents
               SET status = 'resolved', resolved_at = now(), resolved_by = 'system:auto_resolve',
                   resolution_note = format('no new alert for %s', r.quiet), updated_at = now()
             WHERE incident_id = r.incident_id;
            INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, note, detail)
            VALUES (r.incident_id, 'auto_resolved', 'system:auto_resolve', 'open', 'resolved',
                    format('no new alert for %s', r.quiet),
                    jsonb_build_object('quiet_period', r.quiet::text, 'policy', r.policy_rule));
            n := n + 1;
        END LOOP;
        RETURN n;
    END
    $$;

-- ---------------------------------------------------------------------------------------------
-- analysts: the lifecycle (open → acknowledged → resolved, re-open), assignment, silences, policies
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION acknowledge_incident(p_incident_id bigint, p_actor text, p_note text DEFAULT NULL,
                                     p_assignee text DEFAULT NULL) RETURNS incidents
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor text := actor_name(p_actor);
        v       incidents;
    BEGIN
        v := lock_incident(p_incident_id);
        IF v.status = 'acknowledged' THEN
            RAISE EXCEPTION 'incident % is already acknowledged (by %, at %)', v.incident_id, v.acknowledged_by,
                  v.acknowledged_at USING ERRCODE = 'raise_exception';
        ELSIF v.status = 'resolved' THEN
            RAISE EXCEPTION 'incident % is resolved (%); only an open incident can be acknowledged', v.incident_id,
                  coalesce(v.disposition, 'no disposition')
                  USING ERRCODE = 'raise_exception', HINT = 'reopen it first';
        END IF;
        UPDATE incidents
           SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = v_actor,
               assignee = coalesce(nullif(btrim(p_assignee), ''), assignee, v_actor), updated_at = now()
         WHERE incident_id = p_incident_id
        RETURNING * INTO v;
        INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, note, detail)
        VALUES (v.incident_id, 'acknowledged', v_actor, 'open', 'acknowledged', p_note,
                jsonb_build_object('assignee', v.assignee));
        RETURN v;
    END
    $$;

CREATE FUNCTION assign_incident(p_incident_id bigint, p_assignee text, p_actor text) RETURNS incidents
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor    text := actor_name(p_actor);
        v_assignee text := nullif(btrim(p_assignee), '');
        v          incidents;
        v_previous text;
    BEGIN
        v := lock_incident(p_incident_id);
        IF v.status = 'resolved' THEN
            RAISE EXCEPTION 'incident % is resolved; only open or acknowledged incidents can be assigned',
                  v.incident_id USING ERRCODE = 'raise_exception', HINT = 'reopen it first';
        END IF;
        IF length(v_assignee) > 200 THEN
            RAISE EXCEPTION 'assignee is longer than 200 characters' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_previous := v.assignee;
        UPDATE incidents SET assignee = v_assignee, updated_at = now()
         WHERE incident_id = p_incident_id
        RETURNING * INTO v;
        INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, detail)
        VALUES (v.incident_id, 'assigned', v_actor, v.status, v.status,
                jsonb_build_object('from', v_previous, 'to', v_assignee));
        RETURN v;
    END
    $$;

CREATE FUNCTION resolve_incident(p_incident_id bigint, p_disposition text, p_actor text,
                                 p_note text DEFAULT NULL) RETURNS incidents
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor text := actor_name(p_actor);
        v       incidents;
        v_from  text;
    BEGIN
        IF p_disposition IS NULL OR p_disposition NOT IN ('confirmed_fraud', 'false_positive', 'benign') THEN
            RAISE EXCEPTION 'unknown disposition %: use one of confirmed_fraud, false_positive, benign',
                  coalesce(quote_literal(p_disposition), '(none)') USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v := lock_incident(p_incident_id);
        IF v.status = 'resolved' THEN
            RAISE EXCEPTION 'incident % is already resolved (%, by %, at %)', v.incident_id,
                  coalesce(v.disposition, 'no disposition'), v.resolved_by, v.resolved_at
                  USING ERRCODE = 'raise_exception', HINT = 'reopen it first to change its disposition';
        END IF;
        v_from := v.status;
        UPDATE incidents
           SET status = 'resolved', resolved_at = now(), resolved_by = v_actor, disposition = p_disposition,
               resolution_note = p_note, updated_at = now()
         WHERE incident_id = p_incident_id
        RETURNING * INTO v;
        INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, note, detail)
        VALUES (v.incident_id, 'resolved', v_actor, v_from, 'resolved', p_note,
                jsonb_build_object('disposition', p_disposition));
        RETURN v;
    END
    $$;

CREATE FUNCTION reopen_incident(p_incident_id bigint, p_actor text, p_note text DEFAULT NULL) RETURNS incidents
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor  text := actor_name(p_actor);
        v        incidents;
        v_active bigint;
    BEGIN
        SELECT * INTO v FROM incidents WHERE incident_id = p_incident_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'incident % does not exist', p_incident_id USING ERRCODE = 'no_data_found';
        END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended(v.domain || '|' || v.rule_id || '|' || v.entity, 0));
        v := lock_incident(p_incident_id);
        IF v.status <> 'resolved' THEN
            RAISE EXCEPTION 'incident % is %, not resolved; only a resolved incident can be reopened',
                  v.incident_id, v.status USING ERRCODE = 'raise_exception';
        END IF;
        SELECT incident_id INTO v_active FROM incidents
         WHERE domain = v.domain AND rule_id = v.rule_id AND entity = v.entity AND status <> 'resolved';
        IF FOUND THEN
            RAISE EXCEPTION 'incident % cannot be reopened: incident % is already active for rule % on entity %',
                  v.incident_id, v_active, v.rule_id, v.entity
                  USING ERRCODE = 'raise_exception', HINT = format('work incident %s instead', v_active);
        END IF;
        INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, note, detail)
        VALUES (v.incident_id, 'reopened', v_actor, 'resolved', 'open', p_note,
                jsonb_build_object('previous_disposition', v.disposition, 'previously_resolved_at', v.resolved_at,
                                   'previously_resolved_by', v.resolved_by));
        UPDATE incidents
           SET status = 'open', resolved_at = NULL, resolved_by = NULL, disposition = NULL, resolution_note = NULL,
               acknowledged_at = NULL, acknowledged_by = NULL, reopen_count = reopen_count + 1,
               last_alert_at = now(), updated_at = now()
         WHERE incident_id = p_incident_id
        RETURNING * INTO v;
        RETURN v;
    END
    $$;

CREATE FUNCTION create_silence(p_rule_id text, p_entity_pattern text, p_domain text, p_starts_at timestamptz,
                               p_ends_at timestamptz, p_comment text, p_actor text) RETURNS silences
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor  text        := actor_name(p_actor);
        v_rule   text        := nullif(btrim(p_rule_id), '');
        v_entity text        := nullif(btrim(p_entity_pattern), '');
        v_domain text        := nullif(btrim(p_domain), '');
        v_start  timestamptz := coalesce(p_starts_at, now());
        v        silences;
    BEGIN
        IF coalesce(v_rule, v_entity, v_domain) IS NULL THEN
            RAISE EXCEPTION 'a silence needs at least one matcher: a rule, an entity pattern or a domain'
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF v_domain IS NOT NULL AND v_domain NOT IN ('payments', 'gaming', 'iot', 'platform') THEN
            RAISE EXCEPTION 'unknown domain %: use one of payments, gaming, iot, platform', quote_literal(v_domain)
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_ends_at IS NULL THEN
            RAISE EXCEPTION 'a silence needs an end time' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_ends_at <= v_start THEN
            RAISE EXCEPTION 'a silence must end after it starts (starts %, ends %)', v_start, p_ends_at
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_ends_at <= now() THEN
            RAISE EXCEPTION 'a silence ending at % would already be over', p_ends_at
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_comment IS NULL OR btrim(p_comment) = '' THEN
            RAISE EXCEPTION 'a silence needs a comment saying why' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        INSERT INTO silences (rule_id, entity_pattern, domain, starts_at, ends_at, comment, created_by)
        VALUES (v_rule, v_entity, v_domain, v_start, p_ends_at, btrim(p_comment), v_actor)
        RETURNING * INTO v;
        RETURN v;
    END
    $$;

CREATE FUNCTION expire_silence(p_silence_id bigint, p_actor text) RETURNS silences
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor text := actor_name(p_actor);
        v       silences;
    BEGIN
        SELECT * INTO v FROM silences WHERE silence_id = p_silence_id FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'silence % does not exist', p_silence_id USING ERRCODE = 'no_data_found';
        END IF;
        IF v.expired_at IS NOT NULL OR v.ends_at <= now() THEN
            RAISE EXCEPTION 'silence % already ended at %', p_silence_id, coalesce(v.expired_at, v.ends_at)
                  USING ERRCODE = 'raise_exception';
        END IF;
        UPDATE silences SET expired_at = now(), expired_by = v_actor
         WHERE silence_id = p_silence_id
        RETURNING * INTO v;
        RETURN v;
    END
    $$;

-- Set the whole grouping policy of one rule ('*' = the default). p_auto_resolve_after NULL = never.
CREATE FUNCTION set_incident_policy(p_rule_id text, p_grouping_window interval, p_auto_resolve_after interval,
                                    p_reopen_window interval, p_actor text) RETURNS incident_policies
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor text := actor_name(p_actor);
        v       incident_policies;
    BEGIN
        IF p_rule_id IS NULL OR btrim(p_rule_id) = '' OR length(p_rule_id) > 200 THEN
            RAISE EXCEPTION 'a policy needs a rule id (1 to 200 characters, or * for the default)'
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_grouping_window IS NULL OR p_grouping_window < interval '0' THEN
            RAISE EXCEPTION 'grouping window must be zero or positive, not %', coalesce(p_grouping_window::text, 'empty')
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_auto_resolve_after IS NOT NULL AND p_auto_resolve_after <= interval '0' THEN
            RAISE EXCEPTION 'auto-resolve quiet period must be positive (or empty for never), not %',
                  p_auto_resolve_after USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_reopen_window IS NULL OR p_reopen_window < interval '0' THEN
            RAISE EXCEPTION 're-open window must be zero or positive, not %', coalesce(p_reopen_window::text, 'empty')
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        INSERT INTO incident_policies AS t (rule_id, grouping_window, auto_resolve_after, reopen_window, updated_by)
        VALUES (btrim(p_rule_id), p_grouping_window, p_auto_resolve_after, p_reopen_window, v_actor)
        ON CONFLICT (rule_id) DO UPDATE
           SET grouping_window = excluded.grouping_window, auto_resolve_after = excluded.auto_resolve_after,
               reopen_window = excluded.reopen_window, updated_at = now(), updated_by = excluded.updated_by
        RETURNING * INTO v;
        RETURN v;
    END
    $$;

-- ---------------------------------------------------------------------------------------------
-- the control plane (Airflow): platform incidents and batch priorities
-- ---------------------------------------------------------------------------------------------

-- Open the platform incident of check p_check on p_entity, or update the active one (latest
-- details, highest severity, last_seen = now). Idempotent: call it on every failed check.
-- Returns the incident id, or NULL when an active silence matches (domain 'platform').
CREATE FUNCTION open_platform_incident(p_check text, p_entity text, p_severity text, p_summary text,
                                       p_details jsonb) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor   text := 'control:' || session_user;
        v_target  record;
        v_before  incidents;
        v_silence bigint;
    BEGIN
        IF p_check IS NULL OR btrim(p_check) = '' OR length(p_check) > 200 THEN
            RAISE EXCEPTION 'a platform incident needs a check name (1 to 200 characters)'
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_entity IS NULL OR btrim(p_entity) = '' OR length(p_entity) > 500 THEN
            RAISE EXCEPTION 'a platform incident needs an entity (1 to 500 characters)'
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_severity IS NULL OR p_severity NOT IN ('low', 'medium', 'high', 'critical') THEN
            RAISE EXCEPTION 'unknown severity %: use one of low, medium, high, critical',
                  coalesce(quote_literal(p_severity), '(none)') USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF p_details IS NOT NULL AND jsonb_typeof(p_details) <> 'object' THEN
            RAISE EXCEPTION 'details must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        v_silence := matching_silence('platform', p_check, p_entity);
        IF v_silence IS NOT NULL THEN
            UPDATE silences SET matched_alerts = matched_alerts + 1 WHERE silence_id = v_silence;
            RETURN NULL;
        END IF;

        SELECT * INTO v_target
          FROM incident_for_key('platform', p_check, p_entity, now(), now(), p_severity, v_actor, p_summary,
                                p_details);
        SELECT * INTO v_before FROM incidents WHERE incident_id = v_target.o_incident_id;
        UPDATE incidents
           SET last_seen = greatest(last_seen, now()), last_alert_at = now(),
               severity = CASE WHEN severity_rank(p_severity) > severity_rank(severity) THEN p_severity
                               ELSE severity END,
               summary = coalesce(p_summary, summary), details = coalesce(p_details, details), updated_at = now()
         WHERE incident_id = v_target.o_incident_id;
        IF v_target.o_action = 'attached'
           AND (severity_rank(p_severity) > severity_rank(v_before.severity)
                OR p_summary IS DISTINCT FROM v_before.summary) THEN
            INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, detail)
            VALUES (v_target.o_incident_id, 'platform_update', v_actor, v_before.status, v_before.status,
                    jsonb_build_object('severity', p_severity, 'summary', p_summary));
        END IF;
        RETURN v_target.o_incident_id;
    END
    $$;

-- Resolve the active platform incident of p_check on p_entity. Idempotent: returns its id, or
-- NULL when there is none.
CREATE FUNCTION resolve_platform_incident(p_check text, p_entity text, p_note text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_actor text := 'control:' || session_user;
        v       incidents;
    BEGIN
        IF p_check IS NULL OR p_entity IS NULL THEN
            RAISE EXCEPTION 'check and entity are required' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM pg_advisory_xact_lock(hashtextextended('platform' || '|' || p_check || '|' || p_entity, 0));
        SELECT * INTO v FROM incidents
         WHERE domain = 'platform' AND rule_id = p_check AND entity = p_entity AND status <> 'resolved'
           FOR UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        UPDATE incidents
           SET status = 'resolved', resolved_at = now(), resolved_by = v_actor, resolution_note = p_note,
               updated_at = now()
         WHERE incident_id = v.incident_id;
        INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, note)
        VALUES (v.incident_id, 'resolved', v_actor, v.status, 'resolved', p_note);
        RETURN v.incident_id;
    END
    $$;

-- Batch priorities (issue 7's rescoring): p_priorities is a JSON array of
-- {"incident_id": <int>, "priority": <0..100>, "reasons": <json>}. Unknown ids are ignored;
-- returns how many incidents changed. Each change is a priority_changed event.
CREATE FUNCTION set_incident_priorities(p_priorities jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        n integer;
    BEGIN
        IF p_priorities IS NULL OR jsonb_typeof(p_priorities) <> 'array' THEN
            RAISE EXCEPTION 'set_incident_priorities expects a JSON array' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_priorities) e
                    WHERE CASE WHEN jsonb_typeof(e->'incident_id') = 'number'
                                    AND jsonb_typeof(e->'priority') = 'number'
                               THEN (e->>'incident_id')::numeric <> trunc((e->>'incident_id')::numeric)
                                    OR (e->>'priority')::numeric NOT BETWEEN 0 AND 100
                               ELSE true END) THEN
            RAISE EXCEPTION 'every element needs a numeric incident_id and a priority between 0 and 100'
                  USING ERRCODE = 'invalid_parameter_value';
        END IF;
        WITH input AS (
            SELECT DISTINCT ON ((e->>'incident_id')::bigint)
                   (e->>'incident_id')::bigint AS incident_id, round((e->>'priority')::numeric)::smallint AS priority,
                   e->'reasons' AS reasons
              FROM jsonb_array_elements(p_priorities) e
        ), changed AS (
            UPDATE incidents i
               SET priority = input.priority, priority_reasons = input.reasons, priority_updated_at = now()
              FROM input
             WHERE i.incident_id = input.incident_id
               AND (i.priority IS DISTINCT FROM input.priority OR i.priority_reasons IS DISTINCT FROM input.reasons)
            RETURNING i.incident_id, i.status, input.priority, input.reasons
        ), logged AS (
            INSERT INTO incident_events (incident_id, kind, actor, from_status, to_status, detail)
            SELECT c.incident_id, 'priority_changed', 'control:' || session_user, c.status, c.status,
                   jsonb_build_object('priority', c.priority, 'reasons', c.reasons)
              FROM changed c
            RETURNING 1
        )
        SELECT count(*) INTO n FROM logged;
        RETURN n;
    END
    $$;

-- ---------------------------------------------------------------------------------------------
-- privileges
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION incident_policy_for(text), matching_silence(text, text, text), actor_name(text),
    lock_incident(bigint),
    incident_for_key(text, text, text, timestamptz, timestamptz, text, text, text, jsonb),
    ingest_alerts(jsonb), auto_resolve_incidents(),
    acknowledge_incident(bigint, text, text, text), assign_incident(bigint, text, text),
    resolve_incident(bigint, text, text, text), reopen_incident(bigint, text, text),
    create_silence(text, text, text, timestamptz, timestamptz, text, text), expire_silence(bigint, text),
    set_incident_policy(text, interval, interval, interval, text),
    open_platform_incident(text, text, text, text, jsonb), resolve_platform_incident(text, text, text),
    set_incident_priorities(jsonb)
    FROM PUBLIC;

-- the sink: stores and groups alerts, resolves quiet incidents; no direct table access
GRANT EXECUTE ON FUNCTION ingest_alerts(jsonb), auto_resolve_incidents() TO patternalarm_sink;

-- analysts: read everything (0001's default privileges), change the lifecycle only through these
GRANT EXECUTE ON FUNCTION
    acknowledge_incident(bigint, text, text, text), assign_incident(bigint, text, text),
    resolve_incident(bigint, text, text, text), reopen_incident(bigint, text, text),
    create_silence(text, text, text, timestamptz, timestamptz, text, text), expire_silence(bigint, text),
    set_incident_policy(text, interval, interval, interval, text)
    TO patternalarm_analyst;

-- the control plane: reads the incident tables (monitoring, reconciliation, data quality),
-- opens/resolves platform incidents, writes priorities, may run the auto-resolve
GRANT SELECT ON alerts, incidents, incident_events, silences, incident_policies TO patternalarm_control;
GRANT EXECUTE ON FUNCTION
    open_platform_incident(text, text, text, text, jsonb), resolve_platform_incident(text, text, text),
    set_incident_priorities(jsonb), auto_resolve_incidents()
    TO patternalarm_control;
