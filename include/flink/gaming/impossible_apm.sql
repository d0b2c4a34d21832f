-- impossible_apm: a long run of actions, each closer to the previous one than a human can keep up
-- (60000 / max_apm ms). An over-window gives each action its gap to the previous action, so that
-- the pattern can start only at the first action of a run (one partial match, one alert, per run).
CREATE TEMPORARY VIEW impossible_apm_gaps AS
SELECT player_id, event_id, `ts`, epoch_ms,
  IF(COUNT(*) OVER w = 1, CAST(NULL AS BIGINT), epoch_ms - FIRST_VALUE(epoch_ms) OVER w) AS gap_ms
FROM (
  SELECT player_id, event_id, `ts`, EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
  FROM events
)
WINDOW w AS (PARTITION BY player_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

SELECT
  player_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, last_id],
    KEY 'actions' VALUE actions,
    KEY 'apm' VALUE ROUND(60000.0 * (actions - 1) / GREATEST(span_ms, 1), 1)
  ) AS evidence
FROM impossible_apm_gaps
MATCH_RECOGNIZE (
  PARTITION BY player_id
  ORDER BY `ts`
  MEASURES
    S.event_id AS first_id, S.`ts` AS first_ts,
    LAST(F.event_id) AS last_id, LAST(F.`ts`) AS last_ts,
    COUNT(F.event_id) + 1 AS actions,
    LAST(F.epoch_ms) - S.epoch_ms AS span_ms
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  -- the start of a run, then min_run_actions - 1 actions that each follow too fast
  PATTERN (S F{{{ min_run_actions_minus_1 }}})
  DEFINE
    -- S: the first action of a run (the player's first, or after a human-sized gap)
    S AS S.gap_ms IS NULL OR S.gap_ms >= 60000 / {{ max_apm }},
    -- F: an action less than 60000 / max_apm ms after the previous one
    F AS F.gap_ms < 60000 / {{ max_apm }}
)
