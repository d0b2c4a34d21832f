"""Event contracts: one JSON Schema per domain, validation at the edge, time helpers, dead letters.

>>> from include.patternalarm.events import decode_event
>>> event, problem = decode_event(b'{"domain": "iot"}', "iot")
>>> problem.reason
'missing_field:event_id'
"""

from __future__ import annotations

from include.patternalarm.events.dlq import RAW_LIMIT, dead_letter, encode_dead_letter
from include.patternalarm.events.edge import MAX_EVENT_BYTES, check_event, decode_event, encode, entity_key
from include.patternalarm.events.schema import (
    ENTITY_FIELD,
    EventValidator,
    Problem,
    field_names,
    field_types,
    jsonschema_validator,
    load_schema,
    schemas,
    validator,
)
from include.patternalarm.events.timefmt import (
    EventTimeError,
    IsoFormatter,
    iso_ms,
    now_ms,
    parse_event_time,
)

__all__ = [
    "ENTITY_FIELD",
    "MAX_EVENT_BYTES",
    "RAW_LIMIT",
    "EventTimeError",
    "EventValidator",
    "IsoFormatter",
    "Problem",
    "check_event",
    "dead_letter",
    "decode_event",
    "encode",
    "encode_dead_letter",
    "entity_key",
    "field_names",
    "field_types",
    "iso_ms",
    "jsonschema_validator",
    "load_schema",
    "now_ms",
    "parse_event_time",
    "schemas",
    "validator",
]
