-- drift: the moving average of a device's readings leaves its own baseline (the mean/std of its
-- first baseline_readings in-range readings). Chained over-windows: running count, baseline sums
-- frozen after baseline_readings, moving average, then the rising edge (one alert per excursion).
CREATE TEMPORARY VIEW drift_numbered AS
SELECT device_id, sensor_type, event_id, reading, `ts`,
  COUNT(*) OVER (PARTITION BY device_id, sensor_type ORDER BY `ts`
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n
FROM in_range_readings;

CREATE TEMPORARY VIEW drift_baseline AS
SELECT *,
  SUM(IF(n <= {{ baseline_readings }}, reading, 0.0)) OVER b / {{ baseline_readings }} AS base_mean,
  SUM(IF(n <= {{ baseline_readings }}, reading * reading, 0.0)) OVER b / {{ baseline_readings }} AS base_sq
FROM drift_numbered
WINDOW b AS (PARTITION BY device_id, sensor_type ORDER BY `ts` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW drift_moving AS
SELECT *,
  AVG(reading) OVER m AS moving_avg,
  FIRST_VALUE(event_id) OVER m AS first_id,
  FIRST_VALUE(`ts`) OVER m AS first_ts,
  SQRT(GREATEST(base_sq - base_mean * base_mean, 0.0)) AS base_std
FROM drift_baseline
WINDOW m AS (PARTITION BY device_id, sensor_type ORDER BY `ts` ROWS BETWEEN {{ ma_readings_minus_1 }} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW drift_flagged AS
SELECT *,
  IF(n >= {{ baseline_readings }} + {{ ma_readings }}
     AND ABS(moving_avg - base_mean) > {{ drift_sigma }} * GREATEST(base_std, {{ min_std }}), 1, 0) AS hot
FROM drift_moving;

-- rising edge: drifted now, not at the previous reading
CREATE TEMPORARY VIEW drift_edges AS
SELECT *, SUM(hot) OVER (PARTITION BY device_id, sensor_type ORDER BY `ts`
                         ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hot_pair
FROM drift_flagged;

SELECT
  device_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, event_id],
    KEY 'sensor_type' VALUE sensor_type,
    KEY 'baseline_mean' VALUE ROUND(base_mean, 4),
    KEY 'baseline_std' VALUE ROUND(base_std, 4),
    KEY 'moving_avg' VALUE ROUND(moving_avg, 4),
    KEY 'sigma' VALUE ROUND(ABS(moving_avg - base_mean) / GREATEST(base_std, {{ min_std }}), 2)
  ) AS evidence
FROM drift_edges
WHERE hot = 1 AND hot_pair = 1
