-- iot: the readings every sensor rule looks at, with the sensor type's physical range (domain
-- parameters) applied: out_of_range alerts on values outside it; spike, flatline and drift only
-- look at in-range values, so a broken value does not pollute their statistics.
CREATE TEMPORARY VIEW readings AS
SELECT device_id, sensor_type, event_id, reading, `ts`,
  EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms,
  CASE sensor_type
    WHEN 'temperature' THEN reading < {{ domain.temperature_min }} OR reading > {{ domain.temperature_max }}
    WHEN 'humidity' THEN reading < {{ domain.humidity_min }} OR reading > {{ domain.humidity_max }}
    WHEN 'pressure' THEN reading < {{ domain.pressure_min }} OR reading > {{ domain.pressure_max }}
    WHEN 'vibration' THEN reading < {{ domain.vibration_min }} OR reading > {{ domain.vibration_max }}
    WHEN 'power' THEN reading < {{ domain.power_min }} OR reading > {{ domain.power_max }}
    ELSE FALSE
  END AS out_of_range
FROM events
WHERE event_type = 'reading' AND sensor_type IS NOT NULL AND reading IS NOT NULL;

CREATE TEMPORARY VIEW in_range_readings AS
SELECT device_id, sensor_type, event_id, reading, `ts`, epoch_ms FROM readings WHERE NOT out_of_range
