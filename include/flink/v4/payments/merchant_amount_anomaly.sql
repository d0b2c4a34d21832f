-- merchant_amount_anomaly: the auths at a merchant / terminal run far above its own norm (a CUSUM of
-- its log-amount residuals, upward). One alert per episode, updated while its score grows.
SELECT
  merchant_id AS entity,
  first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  score,
  seq,
  JSON_OBJECT(
    KEY 'event_ids' VALUE CASE WHEN first_event_id = event_id THEN ARRAY[event_id] ELSE ARRAY[first_event_id, event_id] END,
    KEY 'amount' VALUE ROUND(EXP(`value`), 2),
    KEY 'norm_amount' VALUE ROUND(EXP(expected), 2),
    KEY 'cusum' VALUE ROUND(statistic, 2),
    KEY 'card_id' VALUE tag,
    KEY 'auths' VALUE readings
  ) AS evidence
FROM {{ series.merchant_amount }}
