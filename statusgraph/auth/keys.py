"""API key format, checksum and hashing (DESIGN §3).

A key is `sg_live_` or `sg_test_`, 32 random base62 characters, then a 6-character
base62 CRC32 of everything before it. The checksum lets us turn away typos and
random guesses without touching the database; it is not a secret. At rest we keep
only HMAC-SHA256(pepper, key).
"""

import hashlib
import hmac
import re
import zlib
from dataclasses import dataclass

from statusgraph.ids import base62, random_base62

LIVE_PREFIX = "sg_live_"
TEST_PREFIX = "sg_test_"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
DISPLAY_LENGTH = len(LIVE_PREFIX) + 4
KEY_PATTERN = re.compile(r"^sg_(live|test)_[0-9A-Za-z]{38}$")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    secret: str
    sandbox: bool

    @property
    def display_prefix(self) -> str:
        return self.secret[:DISPLAY_LENGTH]


def _checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate(*, sandbox: bool = False) -> ParsedKey:
    body = (TEST_PREFIX if sandbox else LIVE_PREFIX) + random_base62(RANDOM_LENGTH)
    return ParsedKey(secret=body + _checksum(body), sandbox=sandbox)


def parse(candidate: str) -> ParsedKey | None:
    """The key if its shape and checksum are right, else None (no I/O)."""
    if not KEY_PATTERN.match(candidate):
        return None
    body, checksum = candidate[:-CHECKSUM_LENGTH], candidate[-CHECKSUM_LENGTH:]
    if not hmac.compare_digest(_checksum(body), checksum):
        return None
    return ParsedKey(secret=candidate, sandbox=candidate.startswith(TEST_PREFIX))


def hash_secret(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
