-- payments: auth amounts against the card's own norm and the merchant's own norm (java:
-- SeriesAnomalies on log(amount), upward only: a multiplicative jump is a shift in the log, so the
-- judgement does not depend on the card's or the merchant's scale). Amounts are heavy-tailed; the
-- log makes them close to symmetric. The merchant of each auth rides along as `tag`.
CREATE TEMPORARY VIEW card_amounts AS
SELECT card_id, event_id, LN(amount) AS `value`, merchant_id AS tag, `ts`
FROM events
WHERE event_type = 'auth' AND card_id IS NOT NULL AND amount > 0;

CREATE TEMPORARY VIEW merchant_amounts AS
SELECT merchant_id, event_id, LN(amount) AS `value`, card_id AS tag, `ts`
FROM events
WHERE event_type = 'auth' AND merchant_id IS NOT NULL AND amount > 0

