"""The background envelope: bounds normal traffic stays inside so that it never fires a rule.

Every generator in ``background`` draws from distributions clipped to these bounds, so a rule's
pattern cannot appear in background traffic by chance, however long the run. The values follow
``docs/rules.md`` (each rule's "background envelope"); change them there and here together.
"""

from __future__ import annotations

# --- payments ---------------------------------------------------------------------------------------
#: background card amounts never go below this: card_testing's probes are auths < 2.00 (a draw below
#: is reflected above it, so no card ever makes a "small" auth)
PAY_MIN_AMOUNT = 2.0
#: nor above this: a single auth at most velocity's max_amount (2,500.00). A card comes back only
#: after minutes (PAY_CARD_GAP_S), so any 60 s of a card's auths is at most one auth: its sum never
#: exceeds 2,500 and its count never exceeds 4
PAY_MAX_AMOUNT = 2500.0
#: ATM withdrawals: multiples of 20 up to this
PAY_MAX_ATM_AMOUNT = 400.0
#: at most this share of a card's auths is declined (each card its own rate, up to this)
PAY_DECLINE_RATE = 0.06
#: seconds between two events of the same card / account at the base rate (the population is sized
#: from the peak rate so that each card comes back only after this long; at the busiest hour the
#: diurnal shape shortens it to ~0.37 x — still minutes, where velocity needs ≥ 15 s)
PAY_CARD_GAP_S = 900.0
#: an account may fail a login only on every third visit: never 3 login_failed in a row
PAY_LOGIN_FAILED_EVERY = 3
#: card-present and ATM use stay within this many degrees of the card's home city
PAY_HOME_JITTER_DEG = 0.15
#: structuring's band [reporting_threshold × (1 − band_pct/100), reporting_threshold): background
#: deposits never fall in it (a draw inside is moved PAY_BAND_SHIFT below it)
PAY_BAND_LOW = 9000.0
PAY_BAND_HIGH = 10_000.0
PAY_BAND_SHIFT = 1500.0
#: deposits and payouts: heavy-tailed, at most this
PAY_MAX_TRANSFER = 50_000.0

# --- gaming -------------------------------------------------------------------------------------------
#: background movement speed stays below this (game units per second); speed hacks go far above
GAME_MAX_SPEED = 6.0
#: background reaction times never go below this (ms); aimbots average < 150 over 10 kills
GAME_MIN_REACTION_MS = 180.0
#: background headshot probability on hits and kills never exceeds this
GAME_MAX_HEADSHOT_P = 0.35
#: a single background currency gain is at most this; a player's events are ≥ ~11 s apart at the
#: peak rate (GAME_PLAYER_GAP_S × the diurnal 0.37), so a 10 s window holds at most two: ≤ 500,
#: half of currency_farming's min_gain (1,000)
GAME_MAX_CURRENCY_GAIN = 250.0
#: seconds between two events of the same player at the peak rate (impossible_apm: actions < 200 ms
#: apart never run long; currency_farming: at most one trade per TRADE_EVERY visits, ≤ 2 a minute)
GAME_PLAYER_GAP_S = 12.0
GAME_TRADE_EVERY = 16

# --- iot ------------------------------------------------------------------------------------------------
#: seconds between two messages of the same device at the lowest rate of the run (a heartbeat every
#: IOT_HEARTBEAT_EVERY messages). A device may skip a cycle, never two in a row, so some event comes
#: at least every 2 × IOT_DEVICE_GAP_S plus the jitter of the domain mix (≤ IOT_MAX_SILENCE_S;
#: missing_heartbeat fires after 30 s of silence)
IOT_DEVICE_GAP_S = 5.0
IOT_MAX_SILENCE_S = 15.0
IOT_HEARTBEAT_EVERY = 6
#: readings = the device's level + its daily cycle + noise clipped to ± this many sigmas (spike's
#: z > 6 needs a reading ≥ 6 standard deviations of the last 30 away from their mean)
IOT_MAX_SIGMAS = 2.5
#: a device's daily cycle has an amplitude of at most this many of its own noise sigmas, so its level
#: moves by at most 2 × 0.12 = 0.24 sigma however long the run: drift compares the 10-reading moving
#: average with the first 20 readings' mean and fires beyond 4 of their standard deviations
IOT_MAX_DAILY_SIGMAS = 0.12
#: noise sigma never below this (flatline): values also carry the visit number in their last
#: decimal, so two consecutive readings of a device are never identical
IOT_MIN_SIGMA = 0.05
#: quantised devices (values on this grid) have a sigma of at least IOT_QUANTISED_MIN_SIGMAS grid
#: steps, and never send three identical values in a row (flatline)
IOT_GRID = 0.5
IOT_QUANTISED_MIN_SIGMAS = 1.5
#: battery never reported below this
IOT_MIN_BATTERY = 20.0
