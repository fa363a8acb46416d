"""PKCE (RFC 7636), S256 only (DESIGN §11): the verifier's syntax and its check against
the challenge the authorization request carried."""

import base64
import hashlib
import hmac
import re

# RFC 7636 §4.1: 43 to 128 of the unreserved characters [A-Z] [a-z] [0-9] - . _ ~
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
VERIFIER_RULE = "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"


def challenge_of(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding: the S256 code_challenge."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def well_formed(verifier: str) -> bool:
    return VERIFIER.fullmatch(verifier) is not None


def matches(verifier: str, challenge: str) -> bool:
    """Whether a well-formed verifier hashes to the challenge (a constant-time compare)."""
    return hmac.compare_digest(challenge_of(verifier).encode(), challenge.encode())
