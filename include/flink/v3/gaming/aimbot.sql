-- aimbot: over a player's last kills_window kills, too many headshots with inhuman reaction times.
-- Over-window aggregates (not MATCH_RECOGNIZE): the condition is a property of a sliding window of
-- kills; a second over-window detects its rising edge, so an episode alerts once.
CREATE TEMPORARY VIEW aimbot_windows AS
SELECT player_id, event_id, `ts`,
  COUNT(*) OVER w AS kills,
  SUM(IF(headshot IS TRUE, 1, 0)) OVER w AS headshots,
  AVG(reaction_ms) OVER w AS avg_reaction_ms,
  FIRST_VALUE(event_id) OVER w AS first_id,
  FIRST_VALUE(`ts`) OVER w AS first_ts,
  LISTAGG(event_id, ',') OVER w AS ids
FROM events
WHERE action = 'kill'
WINDOW w AS (PARTITION BY player_id ORDER BY `ts` ROWS BETWEEN {{ kills_window_minus_1 }} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW aimbot_flagged AS
SELECT *,
  IF(kills = {{ kills_window }}
     AND CAST(headshots AS DOUBLE) / kills >= {{ min_headshot_ratio }}
     AND avg_reaction_ms < {{ max_avg_reaction_ms }}, 1, 0) AS hot
FROM aimbot_windows;

-- rising edge: hot now, not hot at the player's previous kill (or no previous kill)
CREATE TEMPORARY VIEW aimbot_edges AS
SELECT *, SUM(hot) OVER (PARTITION BY player_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hot_pair
FROM aimbot_flagged;

SELECT
  player_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'kills' VALUE kills,
    KEY 'headshot_ratio' VALUE ROUND(CAST(headshots AS DOUBLE) / kills, 3),
    KEY 'avg_reaction_ms' VALUE ROUND(avg_reaction_ms, 1)
  ) AS evidence
FROM aimbot_edges
WHERE hot = 1 AND hot_pair = 1
