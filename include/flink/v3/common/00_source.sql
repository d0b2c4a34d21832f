-- The domain's event topic, read once by the job and parsed ONCE per record by the
-- 'patternalarm-event' format (java/: io.patternalarm.flink.format): the record is validated against
-- the domain's JSON Schema (the same checks and reason codes as the edge validator) and its fields
-- become typed columns; an invalid record becomes a row with `reason`/`detail` set and `raw` kept for
-- the dead-letter record, so poison input never fails the job.
-- Event time: the parsed event_time when it is not too far ahead of the Kafka timestamp; otherwise
-- epoch 0 (such rows are dead-lettered as bad_event_time and must not push the watermark forward).
CREATE TEMPORARY TABLE events_raw (
{{ domain.columns }},
  `reason` STRING,
  `detail` STRING,
  `event_ts` TIMESTAMP_LTZ(3),
  `raw` STRING,
  `raw_bytes` INT,
  `kafka_key` STRING,
  `kafka_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  `kafka_partition` INT METADATA FROM 'partition' VIRTUAL,
  `kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `ts` AS CASE
      WHEN `event_ts` IS NOT NULL AND `event_ts` <= TIMESTAMPADD(SECOND, {{ job.max_future_skew_s }}, `kafka_ts`)
        THEN `event_ts`
      ELSE TO_TIMESTAMP_LTZ(0, 3)
    END,
  `pt` AS PROCTIME(),
  -- bounded out-of-orderness; per partition (the Kafka source tracks each split's watermark)
  WATERMARK FOR `ts` AS `ts` - INTERVAL '{{ job.watermark_delay_s }}' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = {{ topic.source }},
  'properties.bootstrap.servers' = {{ kafka.bootstrap }},
  'properties.group.id' = {{ kafka.group_id }},
  'properties.auto.offset.reset' = {{ kafka.auto_offset_reset }},
  'scan.startup.mode' = {{ kafka.startup_mode }},
  'scan.watermark.idle-timeout' = '{{ job.idle_timeout_ms }} ms',
  -- Small fetches per partition keep the partitions of a subtask interleaved while it works off a
  -- backlog (with 1 MiB one partition's ~3,000 records come before the next partition's, the others
  -- look idle for longer than the idle timeout and their records turn late).
  'properties.max.partition.fetch.bytes' = '65536',
  'key.format' = 'raw',
  'key.fields' = 'kafka_key',
  'value.format' = 'patternalarm-event',
  'value.patternalarm-event.domain' = '{{ domain.name }}',
  'value.patternalarm-event.schema' = {{ domain.schema }},
  'value.patternalarm-event.max-bytes' = '{{ job.max_event_bytes }}',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Alerts: key = entity, value = the alert JSON (docs/contracts.md). At-least-once, immediately.
CREATE TEMPORARY TABLE alerts_sink (
  `k` STRING,
  `v` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = {{ topic.alerts }},
  'properties.bootstrap.servers' = {{ kafka.bootstrap }},
  'sink.delivery-guarantee' = 'at-least-once',
  -- an alert leaves at once (the producer does not wait to fill a batch)
  'properties.linger.ms' = '0',
  'properties.buffer.memory' = '4194304',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Dead letters (events.dlq) and late events (events.late): the contract's JSON, key = original key.
-- One table: the topic of each record comes from its `topic` column (writable metadata).
CREATE TEMPORARY TABLE routed_sink (
  `k` STRING,
  `v` STRING,
  `topic` STRING METADATA
) WITH (
  'connector' = 'kafka',
  'topic' = {{ topic.dlq_and_late }},
  'properties.bootstrap.servers' = {{ kafka.bootstrap }},
  'sink.delivery-guarantee' = 'at-least-once',
  'properties.buffer.memory' = '4194304',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Per-minute counts (detection.metrics), key = domain.
CREATE TEMPORARY TABLE metrics_sink (
  `k` STRING,
  `v` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = {{ topic.metrics }},
  'properties.bootstrap.servers' = {{ kafka.bootstrap }},
  'sink.delivery-guarantee' = 'at-least-once',
  'properties.buffer.memory' = '1048576',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
)
