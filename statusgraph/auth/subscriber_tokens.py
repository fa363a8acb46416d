"""The signed, single-purpose tokens in a subscriber's links (DESIGN §12): one confirms
the address, the other unsubscribes it. Each is signed for its purpose with a key
derived from the server's secret (itsdangerous: HMAC-SHA1 over the payload, salted with
the purpose), so a confirmation token never unsubscribes, nor the reverse, and neither
can be made without the server's secret. A confirmation link expires after a week; an
unsubscribe link works for as long as the subscription does.
"""

from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CONFIRM_MAX_AGE = 7 * 24 * 3600


class Purpose(StrEnum):
    CONFIRM = "subscriber-confirm"
    UNSUBSCRIBE = "subscriber-unsubscribe"


class InvalidToken(Exception):
    """Not a token of this purpose signed by this server, or an expired one."""


class SubscriberTokens:
    def __init__(self, server_key: bytes) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(server_key, salt=purpose.value) for purpose in Purpose
        }

    def make(self, purpose: Purpose, subscriber_id: str) -> str:
        return self._serializers[purpose].dumps(subscriber_id)

    def read(self, purpose: Purpose, token: str, *, now: float | None = None) -> str:
        """The subscriber's id the token was made for; raises InvalidToken."""
        serializer = self._serializers[purpose]
        max_age = CONFIRM_MAX_AGE if purpose is Purpose.CONFIRM else None
        try:
            value = serializer.loads(token, max_age=max_age)
        except SignatureExpired as error:
            raise InvalidToken("This link has expired") from error
        except (BadSignature, UnicodeDecodeError) as error:
            raise InvalidToken("This link is not valid") from error
        if not isinstance(value, str):
            raise InvalidToken("This link is not valid")
        return value
