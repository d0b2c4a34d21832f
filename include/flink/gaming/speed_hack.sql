-- speed_hack: a player covers more distance between two consecutive positions than the game's
-- top speed allows. Positions of different matches are not compared.
CREATE TEMPORARY VIEW speed_hack_moves AS
SELECT player_id, match_id, event_id, x, y, COALESCE(z, 0.0) AS z, `ts`,
       EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
FROM events
WHERE action = 'move' AND x IS NOT NULL AND y IS NOT NULL;

SELECT
  player_id AS entity,
  a_id AS first_event_id,
  a_ts AS first_event_time,
  b_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[a_id, b_id],
    KEY 'match_id' VALUE match_id,
    KEY 'distance' VALUE ROUND(distance, 2),
    KEY 'speed_ups' VALUE ROUND(distance * 1000.0 / GREATEST(dt_ms, {{ min_dt_ms }}), 2)
  ) AS evidence
FROM speed_hack_moves
MATCH_RECOGNIZE (
  PARTITION BY player_id, match_id
  ORDER BY `ts`
  MEASURES
    A.event_id AS a_id, A.`ts` AS a_ts, B.event_id AS b_id, B.`ts` AS b_ts,
    B.epoch_ms - A.epoch_ms AS dt_ms,
    SQRT(POWER(B.x - A.x, 2) + POWER(B.y - A.y, 2) + POWER(B.z - A.z, 2)) AS distance
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  -- every pair of consecutive moves of the player in the match
  PATTERN (A B)
  DEFINE
    -- B: at least min_distance from A and faster than max_speed_ups (dt below min_dt_ms = min_dt_ms)
    B AS SQRT(POWER(B.x - A.x, 2) + POWER(B.y - A.y, 2) + POWER(B.z - A.z, 2)) >= {{ min_distance }}
     AND SQRT(POWER(B.x - A.x, 2) + POWER(B.y - A.y, 2) + POWER(B.z - A.z, 2))
         > {{ max_speed_ups }} * GREATEST(B.epoch_ms - A.epoch_ms, {{ min_dt_ms }}) / 1000.0
)
