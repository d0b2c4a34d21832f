-- compromised_terminal: many distinct cards whose amounts turned anomalous (amount_anomaly episodes
-- opening) at one merchant / terminal within window_s. A RANGE over-window counts the distinct
-- cards behind each opening at the merchant; the alert is the rising edge (min_cards reached now,
-- not at the previous opening), anchored on the first of those openings.
CREATE TEMPORARY VIEW compromised_terminal_openings AS
SELECT tag AS merchant_id, card_id, first_event_id, `rowtime` AS `ts`,
       EXTRACT(EPOCH FROM `rowtime`) * 1000 + EXTRACT(MILLISECOND FROM `rowtime`) AS epoch_ms
FROM {{ series.card_amount }}
WHERE seq = 1 AND tag IS NOT NULL;

CREATE TEMPORARY VIEW compromised_terminal_windows AS
SELECT merchant_id, card_id, first_event_id, `ts`,
  COUNT(DISTINCT card_id) OVER w AS cards,
  FIRST_VALUE(first_event_id) OVER w AS first_id,
  FIRST_VALUE(epoch_ms) OVER w AS first_ms,
  LISTAGG(first_event_id, ',') OVER w AS ids
FROM compromised_terminal_openings
WINDOW w AS (PARTITION BY merchant_id ORDER BY `ts` RANGE BETWEEN {{ window_s_interval }} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW compromised_terminal_edges AS
SELECT *,
  SUM(hot) OVER (PARTITION BY merchant_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hot_pair
FROM (SELECT *, IF(cards >= {{ min_cards }}, 1, 0) AS hot FROM compromised_terminal_windows);

SELECT
  merchant_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
  1.0 - POWER(0.5, CAST(cards AS DOUBLE) / {{ min_cards }}) AS score,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'cards' VALUE cards,
    KEY 'window_s' VALUE {{ window_s }}
  ) AS evidence
FROM compromised_terminal_edges
WHERE hot = 1 AND hot_pair = 1
