"""The background envelope: bounds normal traffic stays inside so that it never fires a rule.

Every generator in ``background`` draws from distributions clipped to these bounds, so a rule's
pattern cannot appear in background traffic by chance, however long the run. The values follow
``docs/rules.md`` (each rule's "background envelope"); change them there and here together.
"""

from __future__ import annotations

# --- payments ---------------------------------------------------------------------------------------
#: background card amounts never go below this (card testing probes with tiny amounts)
PAY_MIN_AMOUNT = 5.0
#: nor above this (card_testing's large auth is > 500; velocity: 4 auths/min × 500 ≤ 2,500)
PAY_MAX_AMOUNT = 500.0
#: at most this share of auths is declined, and a card is never declined twice in a row by design
#: (a card is seen at most once per visit cycle, see PAY_CARD_GAP_S)
PAY_DECLINE_RATE = 0.02
#: seconds between two events of the same card / account at the base rate (the population is sized
#: from the peak rate so that each card comes back only after this long; velocity needs ≥ 15 s)
PAY_CARD_GAP_S = 900.0
#: an account may fail a login only on every third visit: never 3 login_failed in a row
PAY_LOGIN_FAILED_EVERY = 3
#: card-present and ATM use stay within this many degrees of the card's home city
PAY_HOME_JITTER_DEG = 0.15

# --- gaming -------------------------------------------------------------------------------------------
#: background movement speed stays below this (game units per second); speed hacks go far above
GAME_MAX_SPEED = 6.0
#: background reaction times never go below this (ms); aimbots average < 150 over 10 kills
GAME_MIN_REACTION_MS = 180.0
#: background headshot probability on hits and kills never exceeds this
GAME_MAX_HEADSHOT_P = 0.35
#: background currency gains per event (game currency; ≤ 500 in any 10 s)
GAME_MAX_CURRENCY_GAIN = 40.0
#: seconds between two events of the same player at the peak rate (impossible_apm: actions < 200 ms
#: apart never run long; currency_farming: at most one trade per TRADE_EVERY visits, ≤ 2 a minute)
GAME_PLAYER_GAP_S = 12.0
GAME_TRADE_EVERY = 16

# --- iot ------------------------------------------------------------------------------------------------
#: seconds between two messages of the same device at the lowest rate of the run (a heartbeat every
#: IOT_HEARTBEAT_EVERY messages); missing_heartbeat needs some event at least every 10 s
IOT_DEVICE_GAP_S = 5.0
IOT_HEARTBEAT_EVERY = 6
#: readings = constant baseline + noise clipped to ± this many sigmas (spike's z > 6 never happens,
#: drift's moving average never leaves 4 sigmas); no diurnal swing, no trend
IOT_MAX_SIGMAS = 3.0
#: noise sigma never below this (flatline): values also carry the visit number in their last
#: decimal, so two consecutive readings of a device are never identical
IOT_MIN_SIGMA = 0.05
#: battery never reported below this
IOT_MIN_BATTERY = 20.0
