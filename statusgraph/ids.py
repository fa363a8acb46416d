"""Opaque, random, type-prefixed identifiers (`key_…`, `org_…`), never sequential."""

import functools
import secrets
import time

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# A random byte below 248 (= 4 x 62) taken modulo 62 is uniform over BASE62; bytes from
# 248 up are dropped. One translate() call does both for a whole buffer of bytes.
_BYTE_TO_BASE62 = bytes(ord(BASE62[byte % 62]) for byte in range(248)) + bytes(8)
_REJECTED = bytes(range(248, 256))
ID_LENGTH = 22
TIME_LENGTH = 8  # milliseconds since the epoch in 8 base62 characters last ~6,900 years


def base62(number: int, width: int) -> str:
    """`number` in base 62, left-padded with zeros to `width` characters."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def random_base62(length: int) -> str:
    """`length` characters, each uniform over BASE62, from the OS's secure generator."""
    drawn = b""
    while len(drawn) < length:
        # 1 in 32 bytes is dropped; with twice that spare, plus 10, a second draw is rare
        # (about once in 10^8 draws for a 22-character id).
        spare = length // 16 + 10
        drawn += secrets.token_bytes(length + spare).translate(_BYTE_TO_BASE62, _REJECTED)
    return drawn[:length].decode("ascii")


def new_id(prefix: str) -> str:
    # 22 base62 characters carry ~131 bits, as much as a UUID4 and never guessable.
    return f"{prefix}_{random_base62(ID_LENGTH)}"


def new_ordered_ids(prefix: str, count: int) -> list[str]:
    """`count` ids that sort by creation time: 8 characters of milliseconds, 14 random
    ones, from one draw of OS randomness (for a group of heartbeat pings, one system call
    instead of one per ping).

    For append-heavy tables (heartbeat pings): a random key puts every insert on another
    page of the primary-key index, so a group commit of 16 pings wrote ~30 pages; ordered
    keys append to the same few. Still ~83 random bits: not guessable, not enumerable.
    """
    stamped = f"{prefix}_{_stamp(time.time_ns() // 1_000_000)}"
    length = ID_LENGTH - TIME_LENGTH
    drawn = random_base62(length * count)
    return [stamped + drawn[start : start + length] for start in range(0, len(drawn), length)]


@functools.lru_cache(maxsize=1)  # a busy millisecond makes many ids
def _stamp(milliseconds: int) -> str:
    return base62(milliseconds, TIME_LENGTH)


def id_prefix(value: str) -> str:
    return value.split("_", 1)[0]
