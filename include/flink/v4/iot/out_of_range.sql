-- out_of_range: a reading outside its physical range: the device's own entry in sensor_ranges, else its
-- sensor type's (domain parameters); sensor types without a range are not judged. One alert per
-- excursion.
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
    KEY 'range_widths_out' VALUE ROUND(statistic - 1, 4),
    KEY 'readings' VALUE readings
  ) AS evidence
FROM {{ series.sensor }}
WHERE kind = 'out_of_range'
