"""The background envelope: bounds normal traffic stays inside so that it never fires a rule.

Every generator in ``background`` draws from distributions clipped to these bounds, so a rule's
pattern cannot appear in background traffic by chance, however long the run. The values follow
``docs/rules.md`` (each rule's "background envelope"); change them there and here together.
"""

from __future__ import annotations

# --- payments ---------------------------------------------------------------------------------------
#: background card amounts never go below this (card testing probes with tiny amounts)
PAY_MIN_AMOUNT = 5.0
#: nor above this (large-amount rules)
PAY_MAX_AMOUNT = 900.0
#: at most this share of auths is declined, and a card is never declined twice in a row by design
#: (a card is seen at most once per visit cycle, see PAY_CARD_GAP_S)
PAY_DECLINE_RATE = 0.02
#: seconds between two events of the same card / account at the base rate (the population is sized
#: from the rate so that each card comes back only after this long)
PAY_CARD_GAP_S = 900.0
#: card-present and ATM use stay within this many degrees of the card's home city
PAY_HOME_JITTER_DEG = 0.15

# --- gaming -------------------------------------------------------------------------------------------
#: background movement speed stays below this (game units per second); speed hacks go far above
GAME_MAX_SPEED = 6.0
#: background reaction times never go below this (ms); aimbots react faster
GAME_MIN_REACTION_MS = 180.0
#: background headshot probability on hits and kills never exceeds this
GAME_MAX_HEADSHOT_P = 0.35
#: background currency gains per event (game currency)
GAME_MAX_CURRENCY_GAIN = 40.0
#: seconds between two events of the same player at the base rate
GAME_PLAYER_GAP_S = 8.0

# --- iot ------------------------------------------------------------------------------------------------
#: seconds between two messages of the same device at the base rate (a heartbeat every
#: IOT_HEARTBEAT_EVERY messages); silence rules wait far longer than this
IOT_DEVICE_GAP_S = 10.0
IOT_HEARTBEAT_EVERY = 6
#: readings stay within baseline ± this many noise sigmas (plus the diurnal swing)
IOT_MAX_SIGMAS = 3.5
#: battery never reported below this
IOT_MIN_BATTERY = 20.0
