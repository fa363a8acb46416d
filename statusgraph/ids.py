"""Opaque, random, type-prefixed identifiers (`key_…`, `org_…`), never sequential."""

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(number: int, width: int) -> str:
    """`number` in base 62, left-padded with zeros to `width` characters."""
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_id(prefix: str) -> str:
    # 22 base62 characters carry ~131 bits, as much as a UUID4 and never guessable.
    return f"{prefix}_{random_base62(22)}"


def id_prefix(value: str) -> str:
    return value.split("_", 1)[0]
