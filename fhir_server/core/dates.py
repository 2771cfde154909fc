"""FHIR R4 date, dateTime and instant values (datatypes.html#dateTime) as time ranges.

A value stands for the whole period of its precision: ``2020`` is [2020-01-01, 2021-01-01).
Values without a time zone are taken as UTC (the server's time zone).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from fhir_server.core.errors import InvalidRequest

_DATETIME = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _us(dt: datetime) -> int:
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


def parse_range(value: str, name: str = "date") -> tuple[int, int]:
    """[start, end) in microseconds since the epoch for a FHIR date/dateTime/instant."""
    m = _DATETIME.match(value.strip())
    if not m:
        raise InvalidRequest(f"{name}: {value!r} is not a FHIR date or dateTime")
    g = m.groupdict()
    tz = UTC
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hh, mm = int(g["tz"][1:3]), int(g["tz"][4:6])
        tz = timezone(sign * timedelta(hours=hh, minutes=mm))
    try:
        year = int(g["y"])
        if g["m"] is None:
            start = datetime(year, 1, 1, tzinfo=UTC)
            end = datetime(year + 1, 1, 1, tzinfo=UTC)
        elif g["d"] is None:
            month = int(g["m"])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        elif g["H"] is None:
            start = datetime(year, int(g["m"]), int(g["d"]), tzinfo=UTC)
            end = start + timedelta(days=1)
        else:
            frac = g["f"] or ""
            micro = int((frac + "000000")[:6]) if frac else 0
            start = datetime(
                year,
                int(g["m"]),
                int(g["d"]),
                int(g["H"]),
                int(g["M"]),
                int(g["S"] or 0),
                micro,
                tzinfo=tz,
            )
            if g["S"] is None:
                step = timedelta(minutes=1)
            elif not frac:
                step = timedelta(seconds=1)
            else:
                step = timedelta(microseconds=max(1, 10 ** (6 - min(len(frac), 6))))
            end = start + step
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {value!r} is not a valid date ({exc})") from None
    return _us(start), _us(end)


def parse_instant(value: str, name: str = "_since") -> int:
    """Start of a FHIR instant (or any dateTime) in microseconds since the epoch."""
    return parse_range(value, name)[0]
