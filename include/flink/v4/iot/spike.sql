-- spike: one reading far from its series' own adaptive baseline (more than z_threshold of the
-- series' scale from the level expected at that time, seasonal offset included). One alert per
-- episode of consecutive spiky readings; it is updated while the episode's score grows.
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
    KEY 'z' VALUE ROUND(statistic, 2),
    KEY 'readings' VALUE readings
  ) AS evidence
FROM {{ series.sensor }}
WHERE kind = 'spike'
