-- spike: a reading far from the mean of the device's previous window_readings in-range readings
-- (rolling z-score). The over-window includes the current row; the previous readings' mean and
-- population variance are derived from the sums without it.
CREATE TEMPORARY VIEW spike_stats AS
SELECT device_id, sensor_type, event_id, reading, `ts`,
  COUNT(*) OVER w - 1 AS n_prev,
  (SUM(reading) OVER w - reading) / GREATEST(COUNT(*) OVER w - 1, 1) AS mean_prev,
  (SUM(reading * reading) OVER w - reading * reading) / GREATEST(COUNT(*) OVER w - 1, 1) AS sq_prev
FROM in_range_readings
WINDOW w AS (PARTITION BY device_id, sensor_type ORDER BY `ts`
             ROWS BETWEEN {{ window_readings }} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW spike_scores AS
SELECT *,
  SQRT(GREATEST(sq_prev - mean_prev * mean_prev, 0.0)) AS std_prev,
  ABS(reading - mean_prev) / GREATEST(SQRT(GREATEST(sq_prev - mean_prev * mean_prev, 0.0)), {{ min_std }}) AS z
FROM spike_stats;

SELECT
  device_id AS entity,
  event_id AS first_event_id,
  `ts` AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[event_id],
    KEY 'sensor_type' VALUE sensor_type,
    KEY 'value' VALUE reading,
    KEY 'mean' VALUE ROUND(mean_prev, 4),
    KEY 'std' VALUE ROUND(std_prev, 4),
    KEY 'z' VALUE ROUND(z, 2)
  ) AS evidence
FROM spike_scores
-- a full window of history, and the z-score above the threshold
WHERE n_prev = {{ window_readings }} AND z > {{ z_threshold }}
