-- drift: the mean of the last window_readings readings wandered more than z_threshold of the series'
-- scale from its baseline (a gradual trend the baseline does not follow). One alert per drift, updated
-- while it grows.
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
    KEY 'sigma' VALUE ROUND(statistic, 2),
    KEY 'readings' VALUE readings
  ) AS evidence
FROM {{ series.sensor }}
WHERE kind = 'drift'
