"""What counts as an email address statusgraph will mail: one rule for the API that
accepts addresses (channels, subscribers) and for the mail it composes
(notifications/mail.py), so that an address accepted is one a mail can be sent to."""

import re
from email import errors
from email.headerregistry import Address

HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")  # RFC 1123
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3, a path less its angle brackets
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1


def valid_address(text: str) -> bool:
    """A bare address such as ``ops@example.com``: no display name, no comment, ASCII,
    one @, a domain name with a dot in it; at most 254 characters."""
    if len(text) > MAX_ADDRESS or text.count("@") != 1 or not text.isascii():
        return False
    try:
        address = Address(addr_spec=text)
    except (ValueError, IndexError, errors.HeaderParseError):
        return False
    domain = address.domain
    return (
        address.addr_spec == text
        and 0 < len(address.username) <= MAX_LOCAL_PART
        and "." in domain
        and all(HOST_LABEL.fullmatch(label) for label in domain.split("."))
    )
