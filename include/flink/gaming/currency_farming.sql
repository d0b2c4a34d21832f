-- currency_farming, two signals: (1) gain_spike: currency gained in a tumbling window far above the
-- player's own norm (mean of previous windows with gains); (2) repeated_trades: many trades from
-- the player to one counterparty in a short time.
CREATE TEMPORARY VIEW currency_farming_gains AS
SELECT player_id, event_id, amount, `ts`,
       EXTRACT(EPOCH FROM `ts`) * 1000 + EXTRACT(MILLISECOND FROM `ts`) AS epoch_ms
FROM events
WHERE action = 'currency_gain' AND amount > 0;

-- gains per player and window; the first event (by time, then id) anchors the alert id
CREATE TEMPORARY VIEW currency_farming_windows AS
SELECT player_id, window_start, window_end, window_time,
  SUM(amount) AS gain,
  COUNT(*) AS gains,
  MIN(CONCAT(LPAD(CAST(epoch_ms AS STRING), 15, '0'), '|', event_id)) AS first_key,
  MIN(`ts`) AS first_ts,
  MAX(`ts`) AS last_ts,
  LISTAGG(event_id, ',') AS ids
FROM TABLE(TUMBLE(TABLE currency_farming_gains, DESCRIPTOR(`ts`), {{ gain_window_s_interval }}))
GROUP BY player_id, window_start, window_end, window_time;

-- the player's norm: mean gain of up to history_windows previous windows with gains
CREATE TEMPORARY VIEW currency_farming_norms AS
SELECT *,
  COUNT(*) OVER w - 1 AS history,
  (SUM(gain) OVER w - gain) / GREATEST(COUNT(*) OVER w - 1, 1) AS norm
FROM currency_farming_windows
WINDOW w AS (PARTITION BY player_id ORDER BY window_time ROWS BETWEEN {{ history_windows }} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW currency_farming_flagged AS
SELECT *,
  IF(history >= {{ min_history_windows }} AND gain > {{ spike_factor }} * norm AND gain >= {{ min_gain }}, 1, 0) AS hot
FROM currency_farming_norms;

-- rising edge: a spike window whose previous window (with gains) was not one
CREATE TEMPORARY VIEW currency_farming_edges AS
SELECT *, SUM(hot) OVER (PARTITION BY player_id ORDER BY window_time ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS hot_pair
FROM currency_farming_flagged;

CREATE TEMPORARY VIEW currency_farming_trades AS
SELECT player_id, counterparty_id, event_id, amount, `ts`
FROM events
WHERE action = 'trade' AND counterparty_id IS NOT NULL;

SELECT
  player_id AS entity,
  SUBSTR(first_key, 17) AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'signal' VALUE 'gain_spike',
    KEY 'window_gain' VALUE ROUND(gain, 2),
    KEY 'norm' VALUE ROUND(norm, 2),
    KEY 'history_windows' VALUE history
  ) AS evidence
FROM currency_farming_edges
WHERE hot = 1 AND hot_pair = 1
UNION ALL
SELECT
  player_id AS entity,
  first_id AS first_event_id,
  first_ts AS first_event_time,
  last_ts AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'signal' VALUE 'repeated_trades',
    KEY 'counterparty_id' VALUE counterparty_id,
    KEY 'trades' VALUE trades
  ) AS evidence
FROM currency_farming_trades
MATCH_RECOGNIZE (
  PARTITION BY player_id, counterparty_id
  ORDER BY `ts`
  MEASURES
    FIRST(T.event_id) AS first_id, FIRST(T.`ts`) AS first_ts, LAST(T.`ts`) AS last_ts,
    LISTAGG(T.event_id, ',') AS ids, COUNT(T.event_id) AS trades
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  -- min_trades trades from the player to the same counterparty within trade_window_s
  PATTERN (T{{{ min_trades }}}) WITHIN {{ trade_window_s_interval }}
  DEFINE
    -- every row of the view is a trade to this counterparty
    T AS TRUE
)
