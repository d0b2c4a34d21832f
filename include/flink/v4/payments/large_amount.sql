-- large_amount: an auth above min_amount — the plain threshold rule every fraud team starts with.
-- One alert per auth; score 0.5 at the threshold, towards 1 far above it.
SELECT
  card_id AS entity,
  event_id AS first_event_id,
  `ts` AS first_event_time,
  `ts` AS last_event_time,
  1.0 - POWER(0.5, amount / {{ min_amount }}) AS score,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[event_id],
    KEY 'amount' VALUE amount,
    KEY 'merchant_id' VALUE merchant_id,
    KEY 'min_amount' VALUE {{ min_amount }}
  ) AS evidence
FROM events
WHERE event_type = 'auth' AND card_id IS NOT NULL AND amount > {{ min_amount }}
