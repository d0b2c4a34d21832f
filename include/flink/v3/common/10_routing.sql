-- Routing before the rules: dead letters, late events, duplicates, per-minute counts.
-- Views first, then the INSERTs (they join the domain's STATEMENT SET).

-- every record once, with its final verdict: the format's reason, or bad_event_time when the event
-- claims to happen further ahead of its Kafka timestamp than max_future_skew_s
CREATE TEMPORARY VIEW parsed AS
SELECT {{ domain.fields }}, `ts`, `pt`, `kafka_key`, `kafka_ts`, `kafka_partition`, `kafka_offset`, `raw`,
  `raw_bytes`,
  CASE WHEN `reason` IS NOT NULL THEN `reason`
       WHEN `event_ts` > TIMESTAMPADD(SECOND, {{ job.max_future_skew_s }}, `kafka_ts`) THEN 'bad_event_time'
  END AS reason,
  CASE WHEN `reason` IS NOT NULL THEN `detail`
       WHEN `event_ts` > TIMESTAMPADD(SECOND, {{ job.max_future_skew_s }}, `kafka_ts`)
         THEN 'event_time is more than {{ job.max_future_skew_s }} s ahead of the Kafka timestamp'
  END AS detail
FROM events_raw;

-- valid events ahead of the watermark (on time). Rows seen before the first watermark count as on
-- time. `ts > watermark` (strict) matches what the CEP/over operators accept downstream.
CREATE TEMPORARY VIEW on_time AS
SELECT {{ domain.fields }}, `ts`, `kafka_key`, `kafka_ts`, `kafka_partition`, `kafka_offset`, `raw` FROM parsed
WHERE reason IS NULL AND (CURRENT_WATERMARK(`ts`) IS NULL OR `ts` > CURRENT_WATERMARK(`ts`));

-- valid events at or behind the watermark: not silently dropped, written to events.late and counted
CREATE TEMPORARY VIEW late_events AS
SELECT *, CURRENT_WATERMARK(`ts`) AS wm FROM parsed
WHERE reason IS NULL AND CURRENT_WATERMARK(`ts`) IS NOT NULL AND `ts` <= CURRENT_WATERMARK(`ts`);

-- copy_no numbers the copies of one event_id (java: FirstCopy). Its state of an id lives only until
-- the watermark passes the event's time: a later copy is behind the watermark and routed as late.
CREATE TEMPORARY VIEW counted AS
SELECT * FROM first_copy(input => TABLE on_time PARTITION BY event_id, on_time => DESCRIPTOR(`ts`));

-- what every rule reads: each valid, on-time event exactly once, `ts` its event time
CREATE TEMPORARY VIEW events AS
SELECT {{ domain.fields }}, `rowtime` AS `ts`, `kafka_key` FROM counted WHERE copy_no = 1;

-- the per-minute counts are made of these rows (one per record read), timed by processing time
CREATE TEMPORARY VIEW metric_rows AS
SELECT PROCTIME() AS pt, DATE_FORMAT(`kafka_ts`, 'yyyy-MM-dd''T''HH:mm'':00Z''') AS `minute`, processed,
       dead_lettered, late, duplicates
FROM (
  SELECT `kafka_ts`, IF(copy_no = 1, 1, 0) AS processed, 0 AS dead_lettered, 0 AS late,
         IF(copy_no > 1, 1, 0) AS duplicates
  FROM counted
  UNION ALL
  SELECT `kafka_ts`, 0, IF(reason IS NOT NULL, 1, 0), IF(reason IS NULL, 1, 0), 0 FROM parsed
  WHERE reason IS NOT NULL OR (CURRENT_WATERMARK(`ts`) IS NOT NULL AND `ts` <= CURRENT_WATERMARK(`ts`))
);

INSERT INTO routed_sink
SELECT `kafka_key`, CONCAT(SUBSTR(j, 1, CHAR_LENGTH(j) - 1), ',"raw":', JSON_STRING(SUBSTR(`raw`, 1, 4096)), '}'),
       {{ topic.dlq }}
FROM (
  SELECT `kafka_key`, `raw`, JSON_OBJECT(
    KEY 'reason' VALUE reason,
    KEY 'detail' VALUE detail,
    KEY 'source' VALUE 'flink:{{ domain.name }}',
    KEY 'domain' VALUE '{{ domain.name }}',
    KEY 'topic' VALUE {{ topic.source }},
    KEY 'partition' VALUE `kafka_partition`,
    KEY 'offset' VALUE `kafka_offset`,
    KEY 'key' VALUE `kafka_key`,
    KEY 'event_id' VALUE event_id,
    KEY 'raw_bytes' VALUE raw_bytes,
    KEY 'dead_lettered_at' VALUE DATE_FORMAT(CURRENT_TIMESTAMP, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')
  ) AS j
  FROM (
    SELECT `kafka_key`, `raw`, reason, detail, `kafka_partition`, `kafka_offset`, event_id, raw_bytes
    FROM parsed WHERE reason IS NOT NULL
    UNION ALL
    SELECT `kafka_key`, `raw`, 'duplicate' AS reason, 'event_id already processed' AS detail, `kafka_partition`,
           `kafka_offset`, event_id, CAST(CHAR_LENGTH(`raw`) AS INT) AS raw_bytes
    FROM counted WHERE copy_no > 1
  )
)
UNION ALL
SELECT `kafka_key`, CONCAT(SUBSTR(j, 1, CHAR_LENGTH(j) - 1), ',"raw":', JSON_STRING(SUBSTR(`raw`, 1, 4096)), '}'),
       {{ topic.late }}
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
    KEY 'raw_bytes' VALUE raw_bytes,
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
