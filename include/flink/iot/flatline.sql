-- flatline: a sensor repeating exactly the same value (stuck). An over-window gives each reading
-- the previous value, so a pattern starts only at the first reading of a flat run (one alert/run).
CREATE TEMPORARY VIEW flatline_runs AS
SELECT device_id, sensor_type, event_id, reading, `ts`, epoch_ms,
  COUNT(*) OVER w = 1 OR FIRST_VALUE(reading) OVER w <> reading AS run_start
FROM in_range_readings
WINDOW w AS (PARTITION BY device_id, sensor_type ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

SELECT
  device_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, last_id],
    KEY 'sensor_type' VALUE sensor_type,
    KEY 'value' VALUE flat_value,
    KEY 'readings' VALUE readings,
    KEY 'duration_s' VALUE (last_ms - first_ms) / 1000.0
  ) AS evidence
FROM flatline_runs
MATCH_RECOGNIZE (
  PARTITION BY device_id, sensor_type
  ORDER BY `ts`
  MEASURES
    A.event_id AS first_id, A.`ts` AS first_ts, A.epoch_ms AS first_ms, A.reading AS flat_value,
    C.event_id AS last_id, C.`ts` AS last_ts, C.epoch_ms AS last_ms,
    COUNT(B.event_id) + 2 AS readings
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  -- the first reading of a run, identical readings, and the reading that completes the run
  PATTERN (A B*? C)
  DEFINE
    A AS A.run_start,
    -- B: identical, and not yet complete (B and C exclude each other: no open branch is left
    -- behind a completed match, which would hold the alert back until the run ends)
    B AS B.reading = A.reading AND NOT (
      COUNT(B.event_id) + 1 >= {{ min_identical }}
      OR (COUNT(B.event_id) + 1 >= 3 AND B.epoch_ms - A.epoch_ms >= {{ min_duration_s }} * 1000)),
    -- C: identical, and either min_identical readings or (>= 3 readings over min_duration_s)
    C AS C.reading = A.reading AND (
      COUNT(B.event_id) + 2 >= {{ min_identical }}
      OR (COUNT(B.event_id) + 2 >= 3 AND C.epoch_ms - A.epoch_ms >= {{ min_duration_s }} * 1000))
)
