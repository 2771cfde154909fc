"""FHIR R4 date, dateTime and instant values (datatypes.html#dateTime) as time ranges for the
history parameters ``_since`` and ``_at`` (http.html#history).

One parser serves search and history: fhir_server.core.search.values.date_range (a value stands
for the whole period of its precision; values without a zone are UTC). History wants the
half-open form [start, end).
"""

from __future__ import annotations

from common.errors import InvalidInput
from fhir_server.core.errors import InvalidRequest
from fhir_server.core.search.values import date_range


def parse_range(value: str, name: str = "date") -> tuple[int, int]:
    """[start, end) in microseconds since the epoch for a FHIR date/dateTime/instant."""
    try:
        low, high = date_range(value)
    except InvalidInput:
        raise InvalidRequest(f"{name}: {value!r} is not a valid FHIR date or dateTime") from None
    return low, high + 1


def parse_instant(value: str, name: str = "_since") -> int:
    """Start of a FHIR instant (or any dateTime) in microseconds since the epoch."""
    return parse_range(value, name)[0]
