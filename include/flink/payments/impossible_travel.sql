-- impossible_travel: two consecutive physical transactions of a card (card_present or atm, with a
-- location) too far apart for the time between them. An over-window of two rows pairs each
-- transaction with the card's previous one (MATCH_RECOGNIZE would keep an open partial match per
-- card, revisited at every watermark: far more CPU and state for the same answer).
CREATE TEMPORARY VIEW impossible_travel_physical AS
SELECT card_id, event_id, lat, lon, `ts`,
       EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
FROM events
WHERE event_type = 'auth' AND channel IN ('card_present', 'atm') AND card_id IS NOT NULL
  AND lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180;

-- each physical transaction with the card's previous one (n = 2 when there is one)
CREATE TEMPORARY VIEW impossible_travel_pairs AS
SELECT card_id, event_id, lat, lon, `ts`, epoch_ms,
  COUNT(*) OVER w AS n,
  FIRST_VALUE(event_id) OVER w AS prev_id,
  FIRST_VALUE(lat) OVER w AS prev_lat,
  FIRST_VALUE(lon) OVER w AS prev_lon,
  FIRST_VALUE(epoch_ms) OVER w AS prev_ms
FROM impossible_travel_physical
WINDOW w AS (PARTITION BY card_id ORDER BY `ts` ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

-- great-circle distance (haversine, earth radius 6371 km) of each hop
CREATE TEMPORARY VIEW impossible_travel_hops AS
SELECT *,
  2 * 6371.0 * ASIN(SQRT(
    POWER(SIN(RADIANS(lat - prev_lat) / 2), 2)
    + COS(RADIANS(prev_lat)) * COS(RADIANS(lat)) * POWER(SIN(RADIANS(lon - prev_lon) / 2), 2))) AS distance_km,
  epoch_ms - prev_ms AS dt_ms
FROM impossible_travel_pairs
WHERE n = 2;

SELECT
  card_id AS entity,
  prev_id AS first_event_id,
  TO_TIMESTAMP_LTZ(prev_ms, 3) AS first_event_time,
  `ts` AS last_event_time,
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
