-- impossible_apm: sustained input actions per minute above a human limit (weapon fire — shots, and the
-- hits and kills they cause — is not an input action: an automatic weapon fires ten times a second).
-- The player's last min_run_actions input actions took less than (min_run_actions - 1) x 60000 /
-- max_apm ms, i.e. their average pace beat max_apm. An average over a count window (not a gap between every two actions)
-- tolerates the timing jitter of live producers. The alert is the rising edge: fast now, not at
-- the player's previous action; one alert per sustained burst.
CREATE TEMPORARY VIEW impossible_apm_windows AS
SELECT player_id, event_id, `ts`, epoch_ms,
  COUNT(*) OVER w AS actions,
  FIRST_VALUE(event_id) OVER w AS first_id,
  FIRST_VALUE(epoch_ms) OVER w AS first_ms
FROM (
  SELECT player_id, event_id, `ts`, EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
  FROM events
  WHERE action NOT IN ('shot', 'hit', 'kill')
)
WINDOW w AS (PARTITION BY player_id ORDER BY `ts` ROWS BETWEEN {{ min_run_actions_minus_1 }} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW impossible_apm_edges AS
SELECT *,
  SUM(hot) OVER (PARTITION BY player_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hot_pair
FROM (
  SELECT *,
    IF(actions = {{ min_run_actions }}
       AND epoch_ms - first_ms < {{ min_run_actions_minus_1 }} * 60000.0 / {{ max_apm }}, 1, 0) AS hot
  FROM impossible_apm_windows
);

SELECT
  player_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, event_id],
    KEY 'actions' VALUE actions,
    KEY 'apm' VALUE ROUND(60000.0 * (actions - 1) / GREATEST(epoch_ms - first_ms, 1), 1)
  ) AS evidence
FROM impossible_apm_edges
-- the last min_run_actions actions beat max_apm on average, and did not at the previous action
WHERE hot = 1 AND hot_pair = 1
