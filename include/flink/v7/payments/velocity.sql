-- velocity: too many authorisations, or too much money, on one card in a short time. Each auth sees
-- the count and sum of the card's auths in the window_s before it (itself and every auth of the same
-- time included); the alert is the rising edge: the limits are broken now and were not at the card's
-- previous auth (remembered for state_ttl_min of event time after a hot auth). Catalog v7: one keyed
-- function (java: WindowEdges) keeps the card's auths in the window and one flag, where v6's two SQL
-- over-windows kept whole rows of every card until a processing-time TTL; same alerts, same ids.
CREATE TEMPORARY VIEW velocity_auths AS
SELECT card_id, event_id, COALESCE(amount, 0.0) AS `value`, `ts`
FROM events
WHERE event_type = 'auth' AND card_id IS NOT NULL;

CREATE TEMPORARY VIEW velocity_edges AS
SELECT * FROM window_edges(
  input => TABLE velocity_auths PARTITION BY card_id,
  on_time => DESCRIPTOR(`ts`),
  params => 'window_s={{ window_s }};max_count={{ max_auths }};max_sum={{ max_amount }};memory_min={{ job.state_ttl_min }}',
  uid => 'velocity-window');

-- more than max_auths auths or more than max_amount in the window, and not so at the previous auth
SELECT
  card_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  TO_TIMESTAMP_LTZ(epoch_ms, 3) AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE ARRAY[first_id, event_id],
    KEY 'auth_count' VALUE row_count,
    KEY 'total_amount' VALUE ROUND(total, 2)
  ) AS evidence
FROM velocity_edges
