-- amount_anomaly: a card's auth far above the card's own norm (spike: one auth z_threshold of the
-- card's log-amount scales above its norm), or a run of high auths (level_shift: a CUSUM with
-- allowance and decision_interval) — e.g. a compromised card whose amounts jump to several times its
-- usual. One alert per episode, updated while its score grows; `kind` in the evidence says which.
SELECT
  card_id AS entity,
  first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  score,
  seq,
  JSON_OBJECT(
    KEY 'event_ids' VALUE CASE WHEN first_event_id = event_id THEN ARRAY[event_id] ELSE ARRAY[first_event_id, event_id] END,
    KEY 'kind' VALUE kind,
    KEY 'amount' VALUE ROUND(EXP(`value`), 2),
    KEY 'norm_amount' VALUE ROUND(EXP(expected), 2),
    KEY 'times_norm' VALUE ROUND(EXP(`value` - expected), 2),
    KEY 'statistic' VALUE ROUND(statistic, 2),
    KEY 'merchant_id' VALUE tag,
    KEY 'auths' VALUE readings
  ) AS evidence
FROM {{ series.card_amount }}
