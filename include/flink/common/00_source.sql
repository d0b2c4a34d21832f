-- The domain's event topic, read once by the job. The value is read as ONE raw STRING and parsed in
-- SQL (JSON_VALUE), so that malformed input is routed to the dead-letter topic instead of failing
-- the job ('json' format would fail on poison messages or silently drop them).
-- Event time: the event's own event_time (ISO-8601 UTC or epoch ms) when it parses and is not too
-- far ahead of the Kafka timestamp; otherwise epoch 0 (such rows are dead-lettered as
-- bad_event_time and never reach a rule; they must not push the watermark forward).
CREATE TEMPORARY TABLE events_raw (
  `raw` STRING,
  `kafka_key` STRING,
  `kafka_ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  `kafka_partition` INT METADATA FROM 'partition' VIRTUAL,
  `kafka_offset` BIGINT METADATA FROM 'offset' VIRTUAL,
  `parsed_ts` AS CASE
      WHEN REGEXP(JSON_VALUE(`raw`, '$.event_time'), '^[0-9]{10,16}$')
        THEN TO_TIMESTAMP_LTZ(CAST(JSON_VALUE(`raw`, '$.event_time') AS BIGINT), 3)
      ELSE TO_TIMESTAMP_LTZ(REGEXP_REPLACE(JSON_VALUE(`raw`, '$.event_time'), 'Z$|[+]00:?00$', ''),
                            'yyyy-MM-dd''T''HH:mm:ss[.SSS]')
    END,
  -- (a computed column cannot use another one, so the parse expression is repeated)
  `ts` AS CASE
      WHEN CASE
          WHEN REGEXP(JSON_VALUE(`raw`, '$.event_time'), '^[0-9]{10,16}$')
            THEN TO_TIMESTAMP_LTZ(CAST(JSON_VALUE(`raw`, '$.event_time') AS BIGINT), 3)
          ELSE TO_TIMESTAMP_LTZ(REGEXP_REPLACE(JSON_VALUE(`raw`, '$.event_time'), 'Z$|[+]00:?00$', ''),
                                'yyyy-MM-dd''T''HH:mm:ss[.SSS]')
        END
        <= TIMESTAMPADD(SECOND, {{ job.max_future_skew_s }}, `kafka_ts`)
      THEN CASE
          WHEN REGEXP(JSON_VALUE(`raw`, '$.event_time'), '^[0-9]{10,16}$')
            THEN TO_TIMESTAMP_LTZ(CAST(JSON_VALUE(`raw`, '$.event_time') AS BIGINT), 3)
          ELSE TO_TIMESTAMP_LTZ(REGEXP_REPLACE(JSON_VALUE(`raw`, '$.event_time'), 'Z$|[+]00:?00$', ''),
                                'yyyy-MM-dd''T''HH:mm:ss[.SSS]')
        END
      -- no usable event_time: such a row is dead-lettered, and epoch 0 never moves the watermark
      -- (the Kafka timestamp would push it to "now", making a replay of older events late)
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
  -- backlog. With the 1 MiB default one partition's ~3,000 records are emitted before the next
  -- partition's; at a few hundred events/s the others then emit nothing for longer than the idle
  -- timeout, count as idle, the watermark moves on without them and their records turn late
  -- (measured: 104,673 of 180,000 backlog records late with a 2 s idle timeout; 0 with 64 KiB).
  'properties.max.partition.fetch.bytes' = '65536',
  'key.format' = 'raw',
  'key.fields' = 'kafka_key',
  'value.format' = 'raw',
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
  -- low-volume sinks: a small producer buffer (the Kafka default, 32 MiB per writer, adds up on a
  -- shared TaskManager heap)
  'properties.buffer.memory' = '4194304',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
);

-- Dead letters (events.dlq) and late events (events.late): the contract's JSON, key = original key.
CREATE TEMPORARY TABLE dlq_sink (
  `k` STRING,
  `v` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = {{ topic.dlq }},
  'properties.bootstrap.servers' = {{ kafka.bootstrap }},
  'sink.delivery-guarantee' = 'at-least-once',
  -- low-volume sinks: a small producer buffer (the Kafka default, 32 MiB per writer, adds up on a
  -- shared TaskManager heap)
  'properties.buffer.memory' = '4194304',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
);

CREATE TEMPORARY TABLE late_sink (
  `k` STRING,
  `v` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = {{ topic.late }},
  'properties.bootstrap.servers' = {{ kafka.bootstrap }},
  'sink.delivery-guarantee' = 'at-least-once',
  -- low-volume sinks: a small producer buffer (the Kafka default, 32 MiB per writer, adds up on a
  -- shared TaskManager heap)
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
  -- low-volume sinks: a small producer buffer (the Kafka default, 32 MiB per writer, adds up on a
  -- shared TaskManager heap)
  'properties.buffer.memory' = '4194304',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY'
)
