-- structuring: several deposits just under the reporting threshold, so none is reported.
-- Only in-band deposits are looked at: other deposits in between do not break the sequence.
CREATE TEMPORARY VIEW structuring_deposits AS
SELECT account_id, event_id, amount, `ts`
FROM events
WHERE event_type = 'deposit' AND account_id IS NOT NULL
  AND amount >= {{ reporting_threshold }} * (1 - {{ band_pct }} / 100.0)
  AND amount < {{ reporting_threshold }};

SELECT
  account_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'deposit_count' VALUE deposit_count,
    KEY 'total_amount' VALUE ROUND(total_amount, 2)
  ) AS evidence
FROM structuring_deposits
MATCH_RECOGNIZE (
  PARTITION BY account_id
  ORDER BY `ts`
  MEASURES
    FIRST(D.event_id) AS first_id,
    FIRST(D.`ts`) AS first_ts,
    LAST(D.`ts`) AS last_ts,
    LISTAGG(D.event_id, ',') AS ids,
    COUNT(D.event_id) AS deposit_count,
    SUM(D.amount) AS total_amount
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  -- min_deposits in-band deposits of the account within window_s
  PATTERN (D{{{ min_deposits }}}) WITHIN {{ window_s_interval }}
  DEFINE
    -- every row of the view is an in-band deposit
    D AS TRUE
)
