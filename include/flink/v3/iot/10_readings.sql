-- iot: the readings every sensor rule looks at, with the sensor type's physical range (domain
-- parameters) applied: out_of_range alerts on values outside it; spike, flatline and drift only
-- look at in-range values, so a broken value does not pollute their statistics.
CREATE TEMPORARY VIEW readings AS
SELECT device_id, sensor_type, event_id, `value` AS reading, `ts`,
  EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms,
  CASE sensor_type
    WHEN 'temperature' THEN `value` < {{ domain.temperature_min }} OR `value` > {{ domain.temperature_max }}
    WHEN 'humidity' THEN `value` < {{ domain.humidity_min }} OR `value` > {{ domain.humidity_max }}
    WHEN 'pressure' THEN `value` < {{ domain.pressure_min }} OR `value` > {{ domain.pressure_max }}
    WHEN 'vibration' THEN `value` < {{ domain.vibration_min }} OR `value` > {{ domain.vibration_max }}
    WHEN 'power' THEN `value` < {{ domain.power_min }} OR `value` > {{ domain.power_max }}
    ELSE FALSE
  END AS out_of_range
FROM events
WHERE event_type = 'reading' AND sensor_type IS NOT NULL AND `value` IS NOT NULL;

CREATE TEMPORARY VIEW in_range_readings AS
SELECT device_id, sensor_type, event_id, reading, `ts`, epoch_ms FROM readings WHERE NOT out_of_range
