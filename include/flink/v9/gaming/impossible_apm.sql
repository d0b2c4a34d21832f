-- impossible_apm: sustained input actions per minute above a human limit (weapon fire — shots, and the
-- hits and kills they cause — is not an input action: an automatic weapon fires ten times a second).
-- The player's last min_run_actions input actions took less than (min_run_actions - 1) x 60000 /
-- max_apm ms, i.e. their average pace beat max_apm. An average over a count window (not a gap between
-- every two actions) tolerates the timing jitter of live producers. The alert is the rising edge: fast
-- now, not at the player's previous action; one alert per sustained burst. Catalog v9: one keyed
-- function (java: WindowEdges, its pace form) keeps the player's input actions of the last
-- (min_run_actions - 1) x 60000 / max_apm ms (at most min_run_actions of them) and one flag, forgotten
-- on event time, where v8's two SQL over-windows kept whole rows of every player until a processing-time
-- TTL (most of the gaming job's state). Same alerts and ids, except among actions of one player at the
-- same millisecond, which all see each other (the SQL windows ordered them by arrival).
CREATE TEMPORARY VIEW impossible_apm_actions AS
SELECT player_id, event_id, CAST(0.0 AS DOUBLE) AS `value`, `ts`
FROM events
WHERE action NOT IN ('shot', 'hit', 'kill') AND player_id IS NOT NULL;

CREATE TEMPORARY VIEW impossible_apm_edges AS
SELECT * FROM window_edges(
  input => TABLE impossible_apm_actions PARTITION BY player_id,
  on_time => DESCRIPTOR(`ts`),
  params => 'pace_rows={{ min_run_actions }};pace_per_min={{ max_apm }};memory_min={{ job.state_ttl_min }}',
  uid => 'impossible-apm-pace');

SELECT
  player_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  TO_TIMESTAMP_LTZ(epoch_ms, 3) AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, event_id],
    KEY 'actions' VALUE row_count,
    KEY 'apm' VALUE ROUND(60000.0 * (row_count - 1) / GREATEST(epoch_ms - first_ms, 1), 1)
  ) AS evidence
FROM impossible_apm_edges
