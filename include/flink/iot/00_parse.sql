-- iot: parse and validate every record once. `reason` is NULL for a valid event, otherwise the
-- dead-letter reason code of docs/contracts.md (the first check that fails, in this order).
CREATE TEMPORARY VIEW parsed AS
SELECT
  `raw`, `kafka_key`, `kafka_ts`, `kafka_partition`, `kafka_offset`, `parsed_ts`, `ts`, `pt`,
  JSON_VALUE(`raw`, '$.event_id') AS event_id,
  JSON_VALUE(`raw`, '$.device_id') AS device_id,
  JSON_VALUE(`raw`, '$.event_type') AS event_type,
  JSON_VALUE(`raw`, '$.sensor_type') AS sensor_type,
  TRY_CAST(JSON_VALUE(`raw`, '$.value') AS DOUBLE) AS reading,
  CASE
    WHEN `raw` IS NULL THEN 'malformed_json'
    WHEN CHAR_LENGTH(`raw`) > {{ job.max_event_bytes }} THEN 'oversized'
    WHEN NOT (`raw` IS JSON OBJECT) THEN 'malformed_json'
    WHEN JSON_VALUE(`raw`, '$.event_id') IS NULL THEN 'missing_field:event_id'
    WHEN JSON_VALUE(`raw`, '$.event_time') IS NULL THEN 'missing_field:event_time'
    WHEN JSON_VALUE(`raw`, '$.domain') IS NULL THEN 'missing_field:domain'
    WHEN JSON_VALUE(`raw`, '$.domain') <> 'iot' THEN 'unknown_domain'
    WHEN JSON_VALUE(`raw`, '$.device_id') IS NULL THEN 'missing_field:device_id'
    WHEN JSON_VALUE(`raw`, '$.event_type') IS NULL THEN 'missing_field:event_type'
    WHEN JSON_VALUE(`raw`, '$.event_type') NOT IN ('reading', 'heartbeat') THEN 'wrong_type:event_type'
    WHEN JSON_VALUE(`raw`, '$.sensor_type') IS NOT NULL AND JSON_VALUE(`raw`, '$.sensor_type')
      NOT IN ('temperature', 'humidity', 'pressure', 'vibration', 'power') THEN 'wrong_type:sensor_type'
    WHEN JSON_VALUE(`raw`, '$.event_type') = 'reading' AND JSON_VALUE(`raw`, '$.sensor_type') IS NULL
      THEN 'missing_field:sensor_type'
    WHEN JSON_VALUE(`raw`, '$.event_type') = 'reading' AND JSON_VALUE(`raw`, '$.value') IS NULL
      THEN 'missing_field:value'
    WHEN JSON_VALUE(`raw`, '$.value') IS NOT NULL
     AND TRY_CAST(JSON_VALUE(`raw`, '$.value') AS DOUBLE) IS NULL THEN 'wrong_type:value'
    WHEN JSON_VALUE(`raw`, '$.battery_pct') IS NOT NULL
     AND TRY_CAST(JSON_VALUE(`raw`, '$.battery_pct') AS DOUBLE) IS NULL THEN 'wrong_type:battery_pct'
    WHEN `parsed_ts` IS NULL THEN 'bad_event_time'
    WHEN `parsed_ts` > TIMESTAMPADD(SECOND, {{ job.max_future_skew_s }}, `kafka_ts`) THEN 'bad_event_time'
  END AS reason
FROM events_raw
