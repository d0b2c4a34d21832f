-- speed_hack: a player covers more distance between two consecutive positions than the game's
-- top speed allows. Positions of different matches are not compared. Catalog v7: a keyed function
-- (java: PreviousPoint) pairs each move with the player's previous move in the match, kept for
-- state_ttl_min of event time (v6's two-row over-window kept whole rows until a processing-time TTL).
CREATE TEMPORARY VIEW speed_hack_moves AS
SELECT player_id, match_id, event_id, x, y, COALESCE(z, 0.0) AS z, `ts`
FROM events
WHERE action = 'move' AND x IS NOT NULL AND y IS NOT NULL;

-- each move with the previous one (a subquery, not a view: Flink 2.2 cannot expand a view over a process
-- table function partitioned by two columns)
SELECT
  player_id AS entity,
  prev_id AS first_event_id,
  TO_TIMESTAMP_LTZ(prev_ms, 3) AS first_event_time,
  TO_TIMESTAMP_LTZ(epoch_ms, 3) AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[prev_id, event_id],
    KEY 'match_id' VALUE match_id,
    KEY 'distance' VALUE ROUND(distance, 2),
    KEY 'speed_ups' VALUE ROUND(distance * 1000.0 / GREATEST(dt_ms, {{ min_dt_ms }}), 2)
  ) AS evidence
FROM (
  SELECT player_id, match_id, event_id, epoch_ms, prev_id, prev_ms,
    SQRT(POWER(x - prev_x, 2) + POWER(y - prev_y, 2) + POWER(z - prev_z, 2)) AS distance,
    epoch_ms - prev_ms AS dt_ms
  FROM previous_point(
    input => TABLE speed_hack_moves PARTITION BY (`player_id`, `match_id`),
    on_time => DESCRIPTOR(`ts`),
    params => 'horizon_min={{ job.state_ttl_min }}',
    uid => 'speed-hack-previous')
)
-- at least min_distance, and faster than max_speed_ups (time differences below min_dt_ms count
-- as min_dt_ms)
WHERE distance >= {{ min_distance }}
  AND distance > {{ max_speed_ups }} * GREATEST(dt_ms, {{ min_dt_ms }}) / 1000.0
