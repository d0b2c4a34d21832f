-- out_of_range: a reading outside its sensor type's physical range (domain parameters). One alert
-- per excursion: an over-window gives the previous reading's state (rising edge).
CREATE TEMPORARY VIEW out_of_range_edges AS
SELECT device_id, sensor_type, event_id, reading, `ts`, out_of_range,
  SUM(IF(out_of_range, 1, 0)) OVER (PARTITION BY device_id, sensor_type ORDER BY `ts`
                                    ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS oor_pair
FROM readings;

SELECT
  device_id AS entity,
  event_id AS first_event_id,
  `ts` AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[event_id],
    KEY 'sensor_type' VALUE sensor_type,
    KEY 'value' VALUE reading,
    KEY 'min' VALUE CASE sensor_type
      WHEN 'temperature' THEN {{ domain.temperature_min }} WHEN 'humidity' THEN {{ domain.humidity_min }}
      WHEN 'pressure' THEN {{ domain.pressure_min }} WHEN 'vibration' THEN {{ domain.vibration_min }}
      ELSE {{ domain.power_min }} END,
    KEY 'max' VALUE CASE sensor_type
      WHEN 'temperature' THEN {{ domain.temperature_max }} WHEN 'humidity' THEN {{ domain.humidity_max }}
      WHEN 'pressure' THEN {{ domain.pressure_max }} WHEN 'vibration' THEN {{ domain.vibration_max }}
      ELSE {{ domain.power_max }} END
  ) AS evidence
FROM out_of_range_edges
-- out of range now, and the previous reading of this sensor was in range (or there was none)
WHERE out_of_range AND oor_pair = 1
