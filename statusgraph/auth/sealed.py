"""Secrets the server must use again, sealed at rest: webhook signing secrets.

An API key is stored as a hash because the server only ever compares it. A webhook's
signing secret is different: every delivery is signed with it (HMAC), so the server
needs the secret itself. It is shown once, like a key, and stored encrypted with a key
derived from the server's secret (the pepper, config.Settings.pepper), with Fernet
(AES-128-CBC + HMAC-SHA256, from `cryptography`). A copy of the database alone does not
give the secrets away.
"""

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SIGNING_PREFIX = "whsec_"
SIGNING_BYTES = 24  # Standard Webhooks: 24 to 64 random bytes, base64 after the prefix
_INFO = b"statusgraph sealed secrets v1"


def new_signing_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and the base64 of random bytes."""
    return SIGNING_PREFIX + base64.b64encode(secrets.token_bytes(SIGNING_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for."""
    return base64.b64decode(secret.removeprefix(SIGNING_PREFIX))


class SealError(Exception):
    """A sealed value that this server's key does not open (the key was changed)."""


class Sealer:
    def __init__(self, server_key: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            server_key
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as error:
            raise SealError("a sealed secret does not open with this server's key") from error
