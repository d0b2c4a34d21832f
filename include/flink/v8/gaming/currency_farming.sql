-- currency_farming, two signals: (1) gain_spike: currency gained in a tumbling window far above the
-- player's own norm (mean of previous windows with gains); (2) repeated_trades: many trades from
-- the player to one counterparty in a short time. Catalog v8: a keyed function (java: GainSpikes) makes
-- the gain spike's decision at the gain that crosses the limits (the gains are positive, so the window's
-- verdict cannot change afterwards) instead of v7's TUMBLE window deciding when the window closed; same
-- alerts, same ids (the window's first gain by time, then id). It keeps the sums of the player's previous
-- windows and the current window, forgotten state_ttl_min of event time after the player's last gain.
CREATE TEMPORARY VIEW currency_farming_gains AS
SELECT player_id, event_id, amount AS `value`, `ts`
FROM events
WHERE action = 'currency_gain' AND amount > 0;

CREATE TEMPORARY VIEW currency_farming_spikes AS
SELECT * FROM gain_spikes(
  input => TABLE currency_farming_gains PARTITION BY player_id,
  on_time => DESCRIPTOR(`ts`),
  params => 'window_s={{ gain_window_s }};history_windows={{ history_windows }};min_history_windows={{ min_history_windows }};spike_factor={{ spike_factor }};min_gain={{ min_gain }};memory_min={{ job.state_ttl_min }}',
  uid => 'currency-farming-gains');

CREATE TEMPORARY VIEW currency_farming_trades AS
SELECT player_id, counterparty_id, event_id, amount, `ts`
FROM events
WHERE action = 'trade' AND counterparty_id IS NOT NULL;

SELECT
  player_id AS entity,
  first_id AS first_event_id,
  TO_TIMESTAMP_LTZ(first_ms, 3) AS first_event_time,
  TO_TIMESTAMP_LTZ(epoch_ms, 3) AS last_event_time,
  JSON_OBJECT(
    KEY 'event_ids' VALUE SPLIT(ids, ','),
    KEY 'signal' VALUE 'gain_spike',
    KEY 'window_gain' VALUE ROUND(gain, 2),
    KEY 'norm' VALUE ROUND(norm, 2),
    KEY 'history_windows' VALUE history
  ) AS evidence
FROM currency_farming_spikes
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
