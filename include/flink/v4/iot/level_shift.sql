-- level_shift: the series moved to another level (a two-sided CUSUM of its residuals, in units of its
-- own scale, passed decision_interval; allowance per reading: allowance). One alert per shift;
-- updated while the shift grows, closed once the baseline has adapted to the new level.
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
    KEY 'cusum' VALUE ROUND(statistic, 2),
    KEY 'readings' VALUE readings
  ) AS evidence
FROM {{ series.sensor }}
WHERE kind = 'level_shift'
