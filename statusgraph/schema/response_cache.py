"""A short-lived cache of whole responses to anonymous GraphQL requests.

Anonymous callers can only reach @public fields, so what they get depends on the
document, its variables and the status-page viewer token alone, never on who asks.
Public status pages are by far the hottest read; serving a repeat from memory skips
parsing, the database and execution entirely (bench/status_page.py).

An entry keeps the page versions (db/page_versions.py) of the organizations whose pages
it read, taken before their content was read, and is served only while every one still
reads the same: a write in any process invalidates it within the processes' version
check interval. It dies after `ttl` seconds regardless, which bounds the changes no
write announces, such as a maintenance window starting on the clock.
"""

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

Key = tuple[str, str, str | None, str | None, str]
Versions = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    versions: Versions
    expires_at: datetime


class ResponseCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 1024) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_entries = max_entries
        self.entries: OrderedDict[Key, Entry] = OrderedDict()

    def get(self, key: Key, *, now: datetime) -> Entry | None:
        """The entry, unless expired; the caller checks its versions."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if now >= entry.expires_at:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry

    def drop(self, key: Key) -> None:
        self.entries.pop(key, None)

    def put(self, key: Key, body: bytes, *, versions: Versions, now: datetime) -> None:
        self.entries[key] = Entry(body=body, versions=versions, expires_at=now + self.ttl)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
