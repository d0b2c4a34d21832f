-- impossible_travel: two consecutive physical transactions of a card (card_present or atm, with a
-- location) too far apart for the time between them.
CREATE TEMPORARY VIEW impossible_travel_physical AS
SELECT card_id, event_id, lat, lon, `ts`,
       EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
FROM events
WHERE event_type = 'auth' AND channel IN ('card_present', 'atm') AND card_id IS NOT NULL
  AND lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180;

SELECT
  card_id AS entity,
  a_id AS first_event_id,
  a_ts AS first_event_time,
  b_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[a_id, b_id],
    KEY 'distance_km' VALUE ROUND(distance_km, 1),
    KEY 'speed_kmh' VALUE ROUND(distance_km * 3600000.0 / GREATEST(dt_ms, 1000), 1),
    KEY 'from' VALUE JSON_OBJECT(KEY 'lat' VALUE a_lat, KEY 'lon' VALUE a_lon),
    KEY 'to' VALUE JSON_OBJECT(KEY 'lat' VALUE b_lat, KEY 'lon' VALUE b_lon)
  ) AS evidence
FROM impossible_travel_physical
MATCH_RECOGNIZE (
  PARTITION BY card_id
  ORDER BY `ts`
  MEASURES
    A.event_id AS a_id, A.`ts` AS a_ts, A.lat AS a_lat, A.lon AS a_lon,
    B.event_id AS b_id, B.`ts` AS b_ts, B.lat AS b_lat, B.lon AS b_lon,
    B.epoch_ms - A.epoch_ms AS dt_ms,
    -- great-circle distance (haversine, earth radius 6371 km)
    2 * 6371.0 * ASIN(SQRT(
      POWER(SIN(RADIANS(B.lat - A.lat) / 2), 2)
      + COS(RADIANS(A.lat)) * COS(RADIANS(B.lat)) * POWER(SIN(RADIANS(B.lon - A.lon) / 2), 2))) AS distance_km
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  -- every pair of consecutive physical transactions of the card
  PATTERN (A B)
  DEFINE
    -- B: at least min_distance_km from A, and further than max_speed_kmh allows in the time
    -- between them (time differences under 1 s count as 1 s)
    B AS 2 * 6371.0 * ASIN(SQRT(
           POWER(SIN(RADIANS(B.lat - A.lat) / 2), 2)
           + COS(RADIANS(A.lat)) * COS(RADIANS(B.lat)) * POWER(SIN(RADIANS(B.lon - A.lon) / 2), 2)))
         >= {{ min_distance_km }}
     AND 2 * 6371.0 * ASIN(SQRT(
           POWER(SIN(RADIANS(B.lat - A.lat) / 2), 2)
           + COS(RADIANS(A.lat)) * COS(RADIANS(B.lat)) * POWER(SIN(RADIANS(B.lon - A.lon) / 2), 2)))
         > {{ max_speed_kmh }} * GREATEST(B.epoch_ms - A.epoch_ms, 1000) / 3600000.0
)
