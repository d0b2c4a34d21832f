-- iot: the readings every sensor rule looks at; the adaptive detectors (java: SeriesAnomalies, the
-- domain's series call `sensor`) run on them once for all the sensor rules of the job. A series is one sensor of one device; its
-- baseline adapts in event time and is invariant to the series' scale and offset; every length is
-- in readings of the series' own cadence (docs/detection.md). range_key picks the physical range:
-- the device's own entry (sensor_ranges in the rules directory), else its sensor type's.
CREATE TEMPORARY VIEW readings AS
SELECT device_id, sensor_type, event_id, `value`, `ts`, CONCAT(device_id, '/', sensor_type) AS range_key
FROM events
WHERE event_type = 'reading' AND sensor_type IS NOT NULL AND `value` IS NOT NULL
