-- account_takeover: brute-forced login, then the attacker changes credentials or the payout
-- destination, then drains the account. Looks only at an account's security events.
CREATE TEMPORARY VIEW account_takeover_security AS
SELECT account_id, event_id, event_type, amount, `ts`
FROM events
WHERE account_id IS NOT NULL
  AND event_type IN ('login_failed', 'login', 'password_reset', 'payout_change', 'payout');

SELECT
  account_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY_CONCAT(SPLIT(f_ids, ','), ARRAY[l_id, c_id, p_id]),
    KEY 'failed_logins' VALUE failed_logins,
    KEY 'change_type' VALUE change_type,
    KEY 'payout_amount' VALUE payout_amount
  ) AS evidence
FROM account_takeover_security
MATCH_RECOGNIZE (
  PARTITION BY account_id
  ORDER BY `ts`
  MEASURES
    FIRST(F.event_id) AS first_id,
    FIRST(F.`ts`) AS first_ts,
    P.`ts` AS last_ts,
    LISTAGG(F.event_id, ',') AS f_ids,
    L.event_id AS l_id, C.event_id AS c_id, P.event_id AS p_id,
    COUNT(F.event_id) AS failed_logins,
    C.event_type AS change_type,
    P.amount AS payout_amount
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  -- >= min_failed_logins consecutive failures, the successful login right after them, then
  -- (other security events allowed in between: G1, G2) a credential/payout change, then a payout,
  -- first failure to payout within window_s
  PATTERN (F{{{ min_failed_logins }},} L G1*? C G2*? P) WITHIN {{ window_s_interval }}
  -- every variable excludes the next one, so a completed match leaves no open branch (the NFA
  -- would otherwise hold the alert back until the WITHIN interval ends)
  DEFINE
    F AS F.event_type = 'login_failed',
    L AS L.event_type = 'login',
    G1 AS G1.event_type NOT IN ('password_reset', 'payout_change'),
    C AS C.event_type IN ('password_reset', 'payout_change'),
    G2 AS G2.event_type <> 'payout',
    P AS P.event_type = 'payout'
)
