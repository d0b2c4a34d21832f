-- flatline: a stuck sensor repeating exactly the same value: at least min_identical readings, and at
-- least run_factor times the series' own typical run of repeated values (quantised sensors repeat).
-- One alert per stuck run, updated as the run grows.
SELECT
  device_id AS entity,
  first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  score,
  seq,
  JSON_OBJECT(
    KEY 'event_ids' VALUE CASE WHEN first_event_id = event_id THEN ARRAY[event_id] ELSE ARRAY[first_event_id, event_id] END,
    KEY 'sensor_type' VALUE sensor_type,
    KEY 'value' VALUE `value`,
    KEY 'expected' VALUE ROUND(expected, 6),
    KEY 'scale' VALUE ROUND(scale, 6),
    KEY 'identical_readings' VALUE CAST(statistic AS BIGINT),
    KEY 'readings' VALUE readings
  ) AS evidence
FROM {{ series.sensor }}
WHERE kind = 'stuck'
