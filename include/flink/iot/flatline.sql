-- flatline: a sensor repeating exactly the same value (stuck). Over-windows only (no open partial
-- match per device): each reading gets the previous value and time, flat runs are numbered by
-- counting run starts, and the first reading at which the run is long enough (min_identical
-- readings, or >= 3 readings spanning min_duration_s) fires: exactly one alert per flat run.
CREATE TEMPORARY VIEW flatline_prev AS
SELECT device_id, sensor_type, event_id, reading, `ts`, epoch_ms,
  COUNT(*) OVER w = 1 OR FIRST_VALUE(reading) OVER w <> reading AS run_start,
  FIRST_VALUE(epoch_ms) OVER w AS prev_ms
FROM in_range_readings
WINDOW w AS (PARTITION BY device_id, sensor_type ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW flatline_runs AS
SELECT *,
  SUM(IF(run_start, 1, 0)) OVER (PARTITION BY device_id, sensor_type ORDER BY `ts`
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run_no
FROM flatline_prev;

CREATE TEMPORARY VIEW flatline_positions AS
SELECT device_id, sensor_type, event_id, reading, `ts`, epoch_ms, prev_ms,
  COUNT(*) OVER r AS pos,
  FIRST_VALUE(event_id) OVER r AS first_id,
  FIRST_VALUE(epoch_ms) OVER r AS first_ms
FROM flatline_runs
WINDOW r AS (PARTITION BY device_id, sensor_type, run_no ORDER BY `ts`
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

SELECT
  device_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, event_id],
    KEY 'sensor_type' VALUE sensor_type,
    KEY 'value' VALUE reading,
    KEY 'readings' VALUE pos,
    KEY 'duration_s' VALUE (epoch_ms - first_ms) / 1000.0
  ) AS evidence
FROM flatline_positions
-- the run is long enough now (min_identical readings, or >= 3 spanning min_duration_s) and was
-- not at the previous reading: the first reading where it completes
WHERE (pos >= {{ min_identical }}
       OR (pos >= 3 AND epoch_ms - first_ms >= {{ min_duration_s }} * 1000))
  AND NOT (pos - 1 >= {{ min_identical }}
           OR (pos - 1 >= 3 AND prev_ms - first_ms >= {{ min_duration_s }} * 1000))
