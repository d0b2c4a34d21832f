-- aimbot v3: a player's long-run headshot ratio far out in the population's learned spread of players'
-- ratios (spread_z) AND beyond z_threshold binomial standard errors above the population's ratio (not the
-- luck of a short history), or the recent kills far above the player's own long-run norm (java:
-- RateOutliers, spread_z > 0). Needs only kills with `headshot`; reaction_ms is not used, so telemetry
-- without it is judged. One alert per episode, updated while its score grows.
CREATE TEMPORARY VIEW aimbot_kills AS
SELECT 'all' AS population, player_id AS entity, event_id, 1 AS trials, IF(headshot, 1, 0) AS successes, `ts`
FROM events
WHERE action = 'kill' AND headshot IS NOT NULL;

CREATE TEMPORARY VIEW aimbot_outliers AS
SELECT * FROM rate_outliers(
  input => TABLE aimbot_kills PARTITION BY population,
  on_time => DESCRIPTOR(`ts`),
  params => 'window_trials={{ window_kills }};min_trials={{ min_kills }};z_threshold={{ z_threshold }};norm_trials={{ norm_kills }};population_trials={{ population_kills }};spread_z={{ spread_z }}');

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
    KEY 'long_run_ratio' VALUE ROUND(own_rate, 3),
    KEY 'recent_kills' VALUE ROUND(recent_trials, 1),
    KEY 'population_ratio' VALUE ROUND(population_rate, 3),
    KEY 'population_spread' VALUE ROUND(spread, 3),
    KEY 'z_spread' VALUE ROUND(z_spread, 2),
    KEY 'z_population' VALUE ROUND(z_population, 2),
    KEY 'z_own' VALUE ROUND(z_own, 2)
  ) AS evidence
FROM aimbot_outliers
