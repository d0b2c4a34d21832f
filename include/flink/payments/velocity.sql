-- velocity: too many authorisations, or too much money, on one card in a short time.
CREATE TEMPORARY VIEW velocity_auths AS
SELECT card_id, event_id, COALESCE(amount, 0.0) AS amount, `ts`
FROM events
WHERE event_type = 'auth' AND card_id IS NOT NULL;

SELECT
  card_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'auth_count' VALUE auth_count,
    KEY 'total_amount' VALUE ROUND(total_amount, 2)
  ) AS evidence
FROM velocity_auths
MATCH_RECOGNIZE (
  PARTITION BY card_id
  ORDER BY `ts`
  MEASURES
    COALESCE(FIRST(A.event_id), B.event_id) AS first_id,
    COALESCE(FIRST(A.`ts`), B.`ts`) AS first_ts,
    B.`ts` AS last_ts,
    IF(COUNT(A.event_id) > 0, CONCAT(LISTAGG(A.event_id, ','), ',', B.event_id), B.event_id) AS ids,
    COUNT(A.event_id) + 1 AS auth_count,
    COALESCE(SUM(A.amount), 0.0) + B.amount AS total_amount
  ONE ROW PER MATCH
  -- the alert ends the run: the next auth starts a new count
  AFTER MATCH SKIP PAST LAST ROW
  -- any auths (as few as possible), then the auth that breaks a limit; all within window_s
  PATTERN (A*? B) WITHIN {{ window_s_interval }}
  -- A and B exclude each other: a completed match leaves no open branch behind it, so the NFA
  -- emits it at once (an open branch that started with the match would hold it back until WITHIN)
  DEFINE
    -- A: the auths so far (this one included) are still within both limits
    A AS COUNT(A.event_id) <= {{ max_auths }} AND SUM(A.amount) <= {{ max_amount }},
    -- B: with the auths before it in the window, more than max_auths or more than max_amount
    B AS COUNT(A.event_id) + 1 > {{ max_auths }}
      OR COALESCE(SUM(A.amount), 0.0) + B.amount > {{ max_amount }}
)
