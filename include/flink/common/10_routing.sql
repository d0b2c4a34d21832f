-- Routing before the rules: dead letters, late events, duplicates, per-minute counts.
-- Views first, then the INSERTs (they join the domain's STATEMENT SET).

-- valid events at or ahead of the watermark (on time). Rows seen before the first watermark count
-- as on time. `ts > watermark` (strict) matches what the CEP/over operators accept downstream.
CREATE TEMPORARY VIEW on_time AS
SELECT * FROM parsed
WHERE reason IS NULL AND (CURRENT_WATERMARK(`ts`) IS NULL OR `ts` > CURRENT_WATERMARK(`ts`));

-- valid events behind the watermark: not silently dropped, written to events.late and counted
CREATE TEMPORARY VIEW late_events AS
SELECT *, CURRENT_WATERMARK(`ts`) AS wm FROM parsed
WHERE reason IS NULL AND CURRENT_WATERMARK(`ts`) IS NOT NULL AND `ts` <= CURRENT_WATERMARK(`ts`);

-- copy_no numbers the copies of one event_id in event-time order (state kept for state_ttl_min)
CREATE TEMPORARY VIEW counted AS
SELECT *, COUNT(*) OVER (PARTITION BY event_id ORDER BY `ts`
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS copy_no
FROM on_time;

-- what every rule reads: each valid, on-time event exactly once
CREATE TEMPORARY VIEW events AS
SELECT * FROM counted WHERE copy_no = 1;

-- the three kinds of rows the per-minute counts are made of
CREATE TEMPORARY VIEW metric_rows AS
SELECT `pt`, DATE_FORMAT(`kafka_ts`, 'yyyy-MM-dd''T''HH:mm'':00Z''') AS `minute`,
       IF(copy_no = 1, 1, 0) AS processed, 0 AS dead_lettered, 0 AS late, IF(copy_no > 1, 1, 0) AS duplicates
FROM counted
UNION ALL
SELECT `pt`, DATE_FORMAT(`kafka_ts`, 'yyyy-MM-dd''T''HH:mm'':00Z'''), 0, 1, 0, 0 FROM parsed WHERE reason IS NOT NULL
UNION ALL
SELECT `pt`, DATE_FORMAT(`kafka_ts`, 'yyyy-MM-dd''T''HH:mm'':00Z'''), 0, 0, 1, 0 FROM late_events;

INSERT INTO dlq_sink
SELECT `kafka_key`, CONCAT(SUBSTR(j, 1, CHAR_LENGTH(j) - 1), ',"raw":', JSON_STRING(SUBSTR(`raw`, 1, 4096)), '}')
FROM (
  SELECT `kafka_key`, `raw`, JSON_OBJECT(
    KEY 'reason' VALUE reason,
    KEY 'detail' VALUE CASE
      WHEN reason = 'malformed_json' THEN 'value is not a JSON object'
      WHEN reason = 'oversized' THEN 'value longer than {{ job.max_event_bytes }} characters'
      WHEN reason = 'unknown_domain' THEN 'domain is not {{ domain.name }}'
      WHEN reason = 'bad_event_time' THEN 'event_time is not ISO-8601 UTC / epoch ms, or more than {{ job.max_future_skew_s }} s ahead of the Kafka timestamp'
      WHEN reason = 'duplicate' THEN 'event_id already processed'
      WHEN reason LIKE 'missing_field:%' THEN CONCAT('required field ', SUBSTR(reason, 15), ' is missing or null')
      WHEN reason LIKE 'wrong_type:%' THEN CONCAT('field ', SUBSTR(reason, 12), ' has the wrong type or an unknown value')
      ELSE reason END,
    KEY 'source' VALUE 'flink:{{ domain.name }}',
    KEY 'domain' VALUE '{{ domain.name }}',
    KEY 'topic' VALUE {{ topic.source }},
    KEY 'partition' VALUE `kafka_partition`,
    KEY 'offset' VALUE `kafka_offset`,
    KEY 'key' VALUE `kafka_key`,
    KEY 'event_id' VALUE event_id,
    KEY 'raw_bytes' VALUE CHAR_LENGTH(`raw`),
    KEY 'dead_lettered_at' VALUE DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')
  ) AS j
  FROM (
    SELECT `kafka_key`, `raw`, reason, `kafka_partition`, `kafka_offset`,
           IF(reason IN ('malformed_json', 'oversized'), CAST(NULL AS STRING), event_id) AS event_id
    FROM parsed WHERE reason IS NOT NULL
    UNION ALL
    SELECT `kafka_key`, `raw`, 'duplicate' AS reason, `kafka_partition`, `kafka_offset`, event_id
    FROM counted WHERE copy_no > 1
  )
);

INSERT INTO late_sink
SELECT `kafka_key`, CONCAT(SUBSTR(j, 1, CHAR_LENGTH(j) - 1), ',"raw":', JSON_STRING(SUBSTR(`raw`, 1, 4096)), '}')
FROM (
  SELECT `kafka_key`, `raw`, JSON_OBJECT(
    KEY 'reason' VALUE 'late',
    KEY 'detail' VALUE 'event_time at or behind the watermark',
    KEY 'source' VALUE 'flink:{{ domain.name }}',
    KEY 'domain' VALUE '{{ domain.name }}',
    KEY 'topic' VALUE {{ topic.source }},
    KEY 'partition' VALUE `kafka_partition`,
    KEY 'offset' VALUE `kafka_offset`,
    KEY 'key' VALUE `kafka_key`,
    KEY 'event_id' VALUE event_id,
    KEY 'event_time' VALUE DATE_FORMAT(`ts`, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
    KEY 'watermark' VALUE DATE_FORMAT(wm, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
    KEY 'raw_bytes' VALUE CHAR_LENGTH(`raw`),
    KEY 'dead_lettered_at' VALUE DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')
  ) AS j
  FROM late_events
);

-- per-minute counts: one record per processing-time minute (window) and Kafka record-timestamp
-- minute (`minute`, what batch reconciliation groups by; several records per minute are summed).
-- processed = events the rules saw, dead_lettered = validation failures, late, duplicates;
-- processed + dead_lettered + late + duplicates = records read.
INSERT INTO metrics_sink
SELECT '{{ domain.name }}', JSON_OBJECT(
  KEY 'domain' VALUE '{{ domain.name }}',
  KEY 'source' VALUE 'flink:{{ domain.name }}',
  KEY 'minute' VALUE `minute`,
  KEY 'window_start' VALUE DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
  KEY 'window_end' VALUE DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z'''),
  KEY 'processed' VALUE SUM(processed),
  KEY 'dead_lettered' VALUE SUM(dead_lettered),
  KEY 'late' VALUE SUM(late),
  KEY 'duplicates' VALUE SUM(duplicates)
)
FROM TABLE(TUMBLE(TABLE metric_rows, DESCRIPTOR(`pt`), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, `minute`
