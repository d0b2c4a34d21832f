-- gaming: parse and validate every record once. `reason` is NULL for a valid event, otherwise the
-- dead-letter reason code of docs/contracts.md (the first check that fails, in this order).
CREATE TEMPORARY VIEW parsed AS
SELECT
  `raw`, `kafka_key`, `kafka_ts`, `kafka_partition`, `kafka_offset`, `parsed_ts`, `ts`, `pt`,
  JSON_VALUE(`raw`, '$.event_id') AS event_id,
  JSON_VALUE(`raw`, '$.player_id') AS player_id,
  JSON_VALUE(`raw`, '$.match_id') AS match_id,
  JSON_VALUE(`raw`, '$.action') AS action,
  TRY_CAST(JSON_VALUE(`raw`, '$.x') AS DOUBLE) AS x,
  TRY_CAST(JSON_VALUE(`raw`, '$.y') AS DOUBLE) AS y,
  TRY_CAST(JSON_VALUE(`raw`, '$.z') AS DOUBLE) AS z,
  JSON_VALUE(`raw`, '$.headshot') AS headshot,
  TRY_CAST(JSON_VALUE(`raw`, '$.reaction_ms') AS DOUBLE) AS reaction_ms,
  TRY_CAST(JSON_VALUE(`raw`, '$.amount') AS DOUBLE) AS amount,
  JSON_VALUE(`raw`, '$.counterparty_id') AS counterparty_id,
  CASE
    WHEN `raw` IS NULL THEN 'malformed_json'
    WHEN CHAR_LENGTH(`raw`) > {{ job.max_event_bytes }} THEN 'oversized'
    WHEN NOT (`raw` IS JSON OBJECT) THEN 'malformed_json'
    WHEN JSON_VALUE(`raw`, '$.event_id') IS NULL THEN 'missing_field:event_id'
    WHEN JSON_VALUE(`raw`, '$.event_time') IS NULL THEN 'missing_field:event_time'
    WHEN JSON_VALUE(`raw`, '$.domain') IS NULL THEN 'missing_field:domain'
    WHEN JSON_VALUE(`raw`, '$.domain') <> 'gaming' THEN 'unknown_domain'
    WHEN JSON_VALUE(`raw`, '$.player_id') IS NULL THEN 'missing_field:player_id'
    WHEN JSON_VALUE(`raw`, '$.match_id') IS NULL THEN 'missing_field:match_id'
    WHEN JSON_VALUE(`raw`, '$.action') IS NULL THEN 'missing_field:action'
    WHEN JSON_VALUE(`raw`, '$.action') NOT IN ('move', 'shot', 'hit', 'kill', 'trade', 'currency_gain')
      THEN 'wrong_type:action'
    WHEN JSON_VALUE(`raw`, '$.x') IS NOT NULL AND TRY_CAST(JSON_VALUE(`raw`, '$.x') AS DOUBLE) IS NULL
      THEN 'wrong_type:x'
    WHEN JSON_VALUE(`raw`, '$.y') IS NOT NULL AND TRY_CAST(JSON_VALUE(`raw`, '$.y') AS DOUBLE) IS NULL
      THEN 'wrong_type:y'
    WHEN JSON_VALUE(`raw`, '$.z') IS NOT NULL AND TRY_CAST(JSON_VALUE(`raw`, '$.z') AS DOUBLE) IS NULL
      THEN 'wrong_type:z'
    WHEN JSON_VALUE(`raw`, '$.reaction_ms') IS NOT NULL
     AND TRY_CAST(JSON_VALUE(`raw`, '$.reaction_ms') AS DOUBLE) IS NULL THEN 'wrong_type:reaction_ms'
    WHEN JSON_VALUE(`raw`, '$.amount') IS NOT NULL
     AND TRY_CAST(JSON_VALUE(`raw`, '$.amount') AS DOUBLE) IS NULL THEN 'wrong_type:amount'
    WHEN JSON_VALUE(`raw`, '$.headshot') IS NOT NULL
     AND JSON_VALUE(`raw`, '$.headshot') NOT IN ('true', 'false') THEN 'wrong_type:headshot'
    WHEN `parsed_ts` IS NULL THEN 'bad_event_time'
    WHEN `parsed_ts` > TIMESTAMPADD(SECOND, {{ job.max_future_skew_s }}, `kafka_ts`) THEN 'bad_event_time'
  END AS reason
FROM events_raw
