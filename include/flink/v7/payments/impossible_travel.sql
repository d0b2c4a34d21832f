-- impossible_travel: two consecutive physical transactions of a card (card_present or atm, with a
-- location) too far apart for the time between them. Catalog v7: a keyed function (java: PreviousPoint)
-- pairs each transaction with the card's previous one, kept for state_ttl_min of event time (its id,
-- time and position only; v6's two-row over-window kept whole rows until a processing-time TTL).
CREATE TEMPORARY VIEW impossible_travel_physical AS
SELECT card_id, event_id, lat AS x, lon AS y, CAST(0.0 AS DOUBLE) AS z, `ts`
FROM events
WHERE event_type = 'auth' AND channel IN ('card_present', 'atm') AND card_id IS NOT NULL
  AND lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180;

-- each physical transaction with the card's previous one, and the great-circle distance (haversine,
-- earth radius 6371 km) of the hop
CREATE TEMPORARY VIEW impossible_travel_hops AS
SELECT card_id, event_id, x AS lat, y AS lon, epoch_ms, prev_id, prev_x AS prev_lat, prev_y AS prev_lon, prev_ms,
  2 * 6371.0 * ASIN(SQRT(
    POWER(SIN(RADIANS(x - prev_x) / 2), 2)
    + COS(RADIANS(prev_x)) * COS(RADIANS(x)) * POWER(SIN(RADIANS(y - prev_y) / 2), 2))) AS distance_km,
  epoch_ms - prev_ms AS dt_ms
FROM previous_point(
  input => TABLE impossible_travel_physical PARTITION BY card_id,
  on_time => DESCRIPTOR(`ts`),
  params => 'horizon_min={{ job.state_ttl_min }}',
  uid => 'impossible-travel-previous');

SELECT
  card_id AS entity,
  prev_id AS first_event_id,
  TO_TIMESTAMP_LTZ(prev_ms, 3) AS first_event_time,
  TO_TIMESTAMP_LTZ(epoch_ms, 3) AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[prev_id, event_id],
    KEY 'distance_km' VALUE ROUND(distance_km, 1),
    KEY 'speed_kmh' VALUE ROUND(distance_km * 3600000.0 / GREATEST(dt_ms, 1000), 1),
    KEY 'from' VALUE JSON_OBJECT(KEY 'lat' VALUE prev_lat, KEY 'lon' VALUE prev_lon),
    KEY 'to' VALUE JSON_OBJECT(KEY 'lat' VALUE lat, KEY 'lon' VALUE lon)
  ) AS evidence
FROM impossible_travel_hops
-- at least min_distance_km, and further than max_speed_kmh allows in the time between the two
-- transactions (time differences under 1 s count as 1 s)
WHERE distance_km >= {{ min_distance_km }}
  AND distance_km > {{ max_speed_kmh }} * GREATEST(dt_ms, 1000) / 3600000.0
