"""Dates and times as people read them, in an organization's time zone (its `timeZone`
setting, DESIGN §15): the HTML status page, the feeds' text and the notification
messages. Machine-readable forms (a <time datetime>, Atom and RSS dates, JSON, webhook
payloads) stay in UTC.

"29 Nov 2026, 14:05 CET": the day without a leading zero, English month names whatever
the host's locale, the 24-hour clock, and the zone's abbreviation as the IANA database
has it. Zones whose database entry has no abbreviation (it gives a bare offset, "-03")
are shown by their offset: "UTC-03", "UTC+05:45".
"""

import functools
import zoneinfo
from datetime import UTC, datetime, tzinfo

DEFAULT_ZONE = "UTC"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.cache
def zone(name: str | None) -> tzinfo:
    """The zone of that name; UTC for None or a name this host cannot open (the setting
    is validated when saved, but a host's tzdata may lag the one that saved it)."""
    if not name or name == DEFAULT_ZONE:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def abbreviation(local: datetime) -> str:
    name = local.tzname() or "UTC"
    if name[0] not in "+-":
        return name
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign, minutes = ("-" if minutes < 0 else "+"), abs(minutes)
    hours, minutes = divmod(minutes, 60)
    return f"UTC{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")


def when(moment: datetime, zone_name: str | None = DEFAULT_ZONE) -> str:
    """ "29 Nov 2026, 14:05 CET"."""
    local = moment.astimezone(zone(zone_name))
    return (
        f"{local.day} {MONTHS[local.month - 1]} {local.year}, "
        f"{local.hour:02d}:{local.minute:02d} {abbreviation(local)}"
    )


def parse(value: object) -> datetime | None:
    """An ISO 8601 moment as stored in an event's data, or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def when_text(value: object, zone_name: str | None) -> str:
    """An event's ISO 8601 moment in words; anything else as it came (or empty)."""
    moment = parse(value)
    if moment is None:
        return "" if value is None else str(value)
    return when(moment, zone_name)


def utc_iso(moment: datetime) -> str:
    """The machine-readable form: `2026-11-29T13:05:00Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
