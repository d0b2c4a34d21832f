-- aimbot: a player's headshot ratio over the recent kills far above the population's (every
-- player's kills, learned) or the player's own long-run norm (java: RateOutliers; binomial z against
-- each, z_threshold, after min_kills). Needs only kills with `headshot`; reaction_ms is not used, so
-- telemetry without it is judged. One alert per episode, updated while its score grows.
CREATE TEMPORARY VIEW aimbot_kills AS
SELECT 'all' AS population, player_id AS entity, event_id, 1 AS trials, IF(headshot, 1, 0) AS successes, `ts`
FROM events
WHERE action = 'kill' AND headshot IS NOT NULL;

CREATE TEMPORARY VIEW aimbot_outliers AS
SELECT * FROM rate_outliers(
  input => TABLE aimbot_kills PARTITION BY population,
  on_time => DESCRIPTOR(`ts`),
  params => 'window_trials={{ window_kills }};min_trials={{ min_kills }};z_threshold={{ z_threshold }};norm_trials={{ norm_kills }};population_trials={{ population_kills }}');

SELECT
  entity,
  first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  score,
  seq,
  JSON_OBJECT(
    KEY 'event_ids' VALUE CASE WHEN first_event_id = event_id THEN ARRAY[event_id] ELSE ARRAY[first_event_id, event_id] END,
    KEY 'headshot_ratio' VALUE ROUND(rate, 3),
    KEY 'recent_kills' VALUE ROUND(recent_trials, 1),
    KEY 'population_ratio' VALUE ROUND(population_rate, 3),
    KEY 'own_ratio' VALUE ROUND(own_rate, 3),
    KEY 'z_population' VALUE ROUND(z_population, 2),
    KEY 'z_own' VALUE ROUND(z_own, 2)
  ) AS evidence
FROM aimbot_outliers
