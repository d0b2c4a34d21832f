-- impossible_apm: a long run of actions, each closer to the previous one than a human can keep up
-- (60000 / max_apm ms). Over-windows only (no open partial match per player): each action gets its
-- gap to the previous one, runs are numbered by counting run starts, and the action at position
-- min_run_actions of its run fires: exactly one alert per run.
CREATE TEMPORARY VIEW impossible_apm_gaps AS
SELECT player_id, event_id, `ts`, epoch_ms,
  IF(COUNT(*) OVER w = 1, CAST(NULL AS BIGINT), epoch_ms - FIRST_VALUE(epoch_ms) OVER w) AS gap_ms
FROM (
  SELECT player_id, event_id, `ts`, EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
  FROM events
)
WINDOW w AS (PARTITION BY player_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

-- run_no: how many runs the player started so far (a run starts at the player's first action or
-- after a gap of at least 60000 / max_apm ms)
CREATE TEMPORARY VIEW impossible_apm_runs AS
SELECT *,
  SUM(IF(gap_ms IS NULL OR gap_ms >= 60000 / {{ max_apm }}, 1, 0))
    OVER (PARTITION BY player_id ORDER BY `ts` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run_no
FROM impossible_apm_gaps;

-- the position (pos) of each action in its run, and the run's first action
CREATE TEMPORARY VIEW impossible_apm_positions AS
SELECT player_id, event_id, `ts`, epoch_ms,
  COUNT(*) OVER r AS pos,
  FIRST_VALUE(event_id) OVER r AS first_id,
  FIRST_VALUE(epoch_ms) OVER r AS first_ms
FROM impossible_apm_runs
WINDOW r AS (PARTITION BY player_id, run_no ORDER BY `ts` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

SELECT
  player_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, event_id],
    KEY 'actions' VALUE pos,
    KEY 'apm' VALUE ROUND(60000.0 * (pos - 1) / GREATEST(epoch_ms - first_ms, 1), 1)
  ) AS evidence
FROM impossible_apm_positions
-- the min_run_actions-th action of a too-fast run
WHERE pos = {{ min_run_actions }}
