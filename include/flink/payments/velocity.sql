-- velocity: too many authorisations, or too much money, on one card in a short time. A range
-- over-window gives each auth the count and sum of the card's auths in the window_s before it
-- (itself included); the alert is the rising edge: the limits are broken now and were not at the
-- card's previous auth. (MATCH_RECOGNIZE would keep a partial match open for every card with an
-- auth in the last window_s and revisit it at every watermark.)
CREATE TEMPORARY VIEW velocity_windows AS
SELECT card_id, event_id, `ts`,
  COUNT(*) OVER w AS auth_count,
  SUM(amount) OVER w AS total_amount,
  FIRST_VALUE(event_id) OVER w AS first_id,
  FIRST_VALUE(epoch_ms) OVER w AS first_ms
FROM (
  SELECT card_id, event_id, COALESCE(amount, 0.0) AS amount, `ts`,
         EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
  FROM events
  WHERE event_type = 'auth' AND card_id IS NOT NULL
)
WINDOW w AS (PARTITION BY card_id ORDER BY `ts` RANGE BETWEEN {{ window_s_interval }} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW velocity_edges AS
SELECT *,
  SUM(hot) OVER (PARTITION BY card_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hot_pair
FROM (
  SELECT *, IF(auth_count > {{ max_auths }} OR total_amount > {{ max_amount }}, 1, 0) AS hot
  FROM velocity_windows
);

SELECT
  card_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, event_id],
    KEY 'auth_count' VALUE auth_count,
    KEY 'total_amount' VALUE ROUND(total_amount, 2)
  ) AS evidence
FROM velocity_edges
-- more than max_auths auths or more than max_amount in the window, and not so at the previous auth
WHERE hot = 1 AND hot_pair = 1
