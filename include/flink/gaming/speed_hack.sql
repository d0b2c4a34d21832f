-- speed_hack: a player covers more distance between two consecutive positions than the game's
-- top speed allows. Positions of different matches are not compared. An over-window of two rows
-- pairs each move with the previous one (no open partial match per player and match).
CREATE TEMPORARY VIEW speed_hack_moves AS
SELECT player_id, match_id, event_id, x, y, COALESCE(z, 0.0) AS z, `ts`,
       EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
FROM events
WHERE action = 'move' AND x IS NOT NULL AND y IS NOT NULL;

-- each move with the previous move of the player in the match (n = 2 when there is one)
CREATE TEMPORARY VIEW speed_hack_pairs AS
SELECT player_id, match_id, event_id, x, y, z, `ts`, epoch_ms,
  COUNT(*) OVER w AS n,
  FIRST_VALUE(event_id) OVER w AS prev_id,
  FIRST_VALUE(x) OVER w AS prev_x,
  FIRST_VALUE(y) OVER w AS prev_y,
  FIRST_VALUE(z) OVER w AS prev_z,
  FIRST_VALUE(epoch_ms) OVER w AS prev_ms
FROM speed_hack_moves
WINDOW w AS (PARTITION BY player_id, match_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW speed_hack_steps AS
SELECT *,
  SQRT(POWER(x - prev_x, 2) + POWER(y - prev_y, 2) + POWER(z - prev_z, 2)) AS distance,
  epoch_ms - prev_ms AS dt_ms
FROM speed_hack_pairs
WHERE n = 2;

SELECT
  player_id AS entity,
  prev_id AS first_event_id,
  TO_TIMESTAMP_LTZ(prev_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[prev_id, event_id],
    KEY 'match_id' VALUE match_id,
    KEY 'distance' VALUE ROUND(distance, 2),
    KEY 'speed_ups' VALUE ROUND(distance * 1000.0 / GREATEST(dt_ms, {{ min_dt_ms }}), 2)
  ) AS evidence
FROM speed_hack_steps
-- at least min_distance, and faster than max_speed_ups (time differences below min_dt_ms count
-- as min_dt_ms)
WHERE distance >= {{ min_distance }}
  AND distance > {{ max_speed_ups }} * GREATEST(dt_ms, {{ min_dt_ms }}) / 1000.0
