-- missing_heartbeat: a device that sends heartbeats falls silent for longer than silence_s.
-- MATCH_RECOGNIZE cannot emit on the absence of rows, so this is an event-time SESSION window per
-- device with gap silence_s: it closes (and emits) when the watermark passes last event + silence_s.
-- Devices that never sent a heartbeat are not monitored (HAVING). Planned silence is not missing: a
-- session whose last event announces the shutdown (shutdown = true) is not alerted. One alert per
-- silence; the alert id anchors on the last event before the silence.
CREATE TEMPORARY VIEW missing_heartbeat_sessions AS
SELECT device_id, window_start, window_end,
  COUNT(*) AS events_in_session,
  SUM(IF(event_type = 'heartbeat', 1, 0)) AS heartbeats,
  MAX(CONCAT(LPAD(CAST(EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS STRING), 15, '0'),
             '|', event_id)) AS last_key,
  MAX(IF(shutdown IS TRUE,
         CONCAT(LPAD(CAST(EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS STRING), 15, '0'),
                '|', event_id), CAST(NULL AS STRING))) AS shutdown_key,
  MAX(`ts`) AS last_ts
FROM TABLE(SESSION(TABLE events PARTITION BY device_id, DESCRIPTOR(`ts`), {{ silence_s_interval }}))
GROUP BY device_id, window_start, window_end;

SELECT
  device_id AS entity,
  SUBSTR(last_key, 17) AS first_event_id,
  window_start AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[SUBSTR(last_key, 17)],
    KEY 'silence_s' VALUE {{ silence_s }},
    KEY 'events_in_session' VALUE events_in_session,
    KEY 'heartbeats' VALUE heartbeats
  ) AS evidence
FROM missing_heartbeat_sessions
WHERE heartbeats > 0 AND (shutdown_key IS NULL OR shutdown_key <> last_key)
