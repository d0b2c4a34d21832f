-- payments: parse and validate every record once. `reason` is NULL for a valid event, otherwise the
-- dead-letter reason code of docs/contracts.md (the first check that fails, in this order).
CREATE TEMPORARY VIEW parsed AS
SELECT
  `raw`, `kafka_key`, `kafka_ts`, `kafka_partition`, `kafka_offset`, `parsed_ts`, `ts`, `pt`,
  JSON_VALUE(`raw`, '$.event_id') AS event_id,
  JSON_VALUE(`raw`, '$.event_type') AS event_type,
  JSON_VALUE(`raw`, '$.card_id') AS card_id,
  JSON_VALUE(`raw`, '$.account_id') AS account_id,
  TRY_CAST(JSON_VALUE(`raw`, '$.amount') AS DOUBLE) AS amount,
  JSON_VALUE(`raw`, '$.channel') AS channel,
  TRY_CAST(JSON_VALUE(`raw`, '$.lat') AS DOUBLE) AS lat,
  TRY_CAST(JSON_VALUE(`raw`, '$.lon') AS DOUBLE) AS lon,
  CASE
    WHEN `raw` IS NULL THEN 'malformed_json'
    WHEN CHAR_LENGTH(`raw`) > {{ job.max_event_bytes }} THEN 'oversized'
    WHEN NOT (`raw` IS JSON OBJECT) THEN 'malformed_json'
    WHEN JSON_VALUE(`raw`, '$.event_id') IS NULL THEN 'missing_field:event_id'
    WHEN JSON_VALUE(`raw`, '$.event_time') IS NULL THEN 'missing_field:event_time'
    WHEN JSON_VALUE(`raw`, '$.domain') IS NULL THEN 'missing_field:domain'
    WHEN JSON_VALUE(`raw`, '$.domain') <> 'payments' THEN 'unknown_domain'
    WHEN JSON_VALUE(`raw`, '$.event_type') IS NULL THEN 'missing_field:event_type'
    WHEN JSON_VALUE(`raw`, '$.event_type') NOT IN ('auth', 'capture', 'refund', 'login', 'login_failed',
      'password_reset', 'payout_change', 'payout', 'deposit') THEN 'wrong_type:event_type'
    WHEN JSON_VALUE(`raw`, '$.account_id') IS NULL THEN 'missing_field:account_id'
    WHEN JSON_VALUE(`raw`, '$.card_id') IS NULL
     AND JSON_VALUE(`raw`, '$.event_type') IN ('auth', 'capture', 'refund') THEN 'missing_field:card_id'
    WHEN JSON_VALUE(`raw`, '$.amount') IS NOT NULL
     AND TRY_CAST(JSON_VALUE(`raw`, '$.amount') AS DOUBLE) IS NULL THEN 'wrong_type:amount'
    WHEN JSON_VALUE(`raw`, '$.lat') IS NOT NULL
     AND TRY_CAST(JSON_VALUE(`raw`, '$.lat') AS DOUBLE) IS NULL THEN 'wrong_type:lat'
    WHEN JSON_VALUE(`raw`, '$.lon') IS NOT NULL
     AND TRY_CAST(JSON_VALUE(`raw`, '$.lon') AS DOUBLE) IS NULL THEN 'wrong_type:lon'
    WHEN `parsed_ts` IS NULL THEN 'bad_event_time'
    WHEN `parsed_ts` > TIMESTAMPADD(SECOND, {{ job.max_future_skew_s }}, `kafka_ts`) THEN 'bad_event_time'
  END AS reason
FROM events_raw
