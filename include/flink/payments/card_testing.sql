-- card_testing: a fraudster checks a stolen card with tiny authorisations, then cashes out with a
-- large one. Looks only at a card's `auth` events (captures/refunds in between do not break the run).
CREATE TEMPORARY VIEW card_testing_auths AS
SELECT card_id, event_id, amount, `ts`
FROM events
WHERE event_type = 'auth' AND card_id IS NOT NULL AND amount IS NOT NULL;

SELECT
  card_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'small_count' VALUE small_count,
    KEY 'small_total' VALUE ROUND(small_total, 2),
    KEY 'large_amount' VALUE large_amount
  ) AS evidence
FROM card_testing_auths
MATCH_RECOGNIZE (
  PARTITION BY card_id
  ORDER BY `ts`
  MEASURES
    FIRST(S.event_id) AS first_id,
    FIRST(S.`ts`) AS first_ts,
    L.`ts` AS last_ts,
    CONCAT(LISTAGG(S.event_id, ','), ',', L.event_id) AS ids,
    COUNT(S.event_id) AS small_count,
    SUM(S.amount) AS small_total,
    L.amount AS large_amount
  ONE ROW PER MATCH
  -- one alert per run: the next match starts after the large auth
  AFTER MATCH SKIP PAST LAST ROW
  -- at least min_small_auths small auths in a row (strict contiguity over the card's auths),
  -- immediately followed by the large one, first to last within window_s
  PATTERN (S{{{ min_small_auths }},} L) WITHIN {{ window_s_interval }}
  DEFINE
    -- S: a "test" authorisation, below small_amount_max
    S AS S.amount < {{ small_amount_max }},
    -- L: the cash-out, above large_amount_min
    L AS L.amount > {{ large_amount_min }}
)
