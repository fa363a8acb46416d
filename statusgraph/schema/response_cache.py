"""A short-lived cache of whole responses to anonymous GraphQL requests.

Anonymous callers can only reach @public fields, so what they get depends on the
document, its variables and the status-page viewer token alone, never on who asks.
Public status pages are by far the hottest read; serving a repeat from memory skips
parsing, the database and execution entirely (bench/status_page.py).

An entry dies after `ttl` seconds, or at once when this process commits any write
(SessionFactory.generation). Writes made by other processes, and clock-driven changes
such as a maintenance window starting, show up within `ttl`.
"""

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

Key = tuple[str, str, str | None, str | None, str]


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    generation: int
    expires_at: datetime


class ResponseCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 1024) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_entries = max_entries
        self.entries: OrderedDict[Key, Entry] = OrderedDict()

    def get(self, key: Key, *, generation: int, now: datetime) -> bytes | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation or now >= entry.expires_at:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry.body

    def put(self, key: Key, body: bytes, *, generation: int, now: datetime) -> None:
        self.entries[key] = Entry(body=body, generation=generation, expires_at=now + self.ttl)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
