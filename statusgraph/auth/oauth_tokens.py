"""Credential formats of the OAuth 2.0 provider (DESIGN §11).

Like API keys: a prefix, 32 random base62 characters and a 6-character checksum, so a
mistyped or made-up token is refused without a database lookup, and stored as an
HMAC-SHA256 with the pepper (keys.hash_secret). Prefixes say what a leaked string is:

- `sgc_` client id (public, not hashed)      - `sgs_` client secret (confidential apps)
- `sgo_` access token (1 hour)                 - `sgr_` refresh token (rotated on use)
- `sga_` authorization code (10 minutes, one use)
- `sgi_` invitation token (one use)
"""

from statusgraph.auth.keys import generate_token, parse_token

CLIENT_ID_PREFIX = "sgc_"
CLIENT_SECRET_PREFIX = "sgs_"  # noqa: S105
ACCESS_TOKEN_PREFIX = "sgo_"  # noqa: S105
REFRESH_TOKEN_PREFIX = "sgr_"  # noqa: S105
CODE_PREFIX = "sga_"
INVITATION_PREFIX = "sgi_"

PREFIXES = (
    CLIENT_ID_PREFIX,
    CLIENT_SECRET_PREFIX,
    ACCESS_TOKEN_PREFIX,
    REFRESH_TOKEN_PREFIX,
    CODE_PREFIX,
    INVITATION_PREFIX,
)


def generate(prefix: str) -> str:
    assert prefix in PREFIXES
    return generate_token(prefix)


def parse(prefix: str, candidate: str) -> str | None:
    """The token if it has this prefix, length and a valid checksum (no I/O)."""
    return parse_token(prefix, candidate)


def display(token: str) -> str:
    """What may be shown of a secret after it was issued: its prefix and 4 characters."""
    return token[: token.index("_") + 5]
