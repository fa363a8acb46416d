"""Credentials in a URL are refused (DESIGN §5): URLs end up in logs, proxies, browser
history and Referer headers. A key sent that way was never accepted; now it is
answered with a 400 that says where it belongs, before it is looked up or charged.
"""

import re
from urllib.parse import unquote_plus

from statusgraph.errors import StatusGraphError

MESSAGE = "Credentials must be sent in a header, not in the URL"
CREDENTIAL_NAMES = frozenset({"api_key", "key", "access_token", "token"})
# Routes that take a one-time token in the URL by design: exact paths. A status-page
# subscriber's confirmation and unsubscribe links (pages/subscriptions.py) are mailed,
# so the token must ride in the link; it is single-purpose (it can confirm or remove
# one subscription, nothing else), the access log prints query names only, and the
# pages send no Referer.
# An invitation's link (/invitation?token=sgi_…) is mailed or handed over the same way:
# one use, one invitation; the page posts the token in its form and redirects (303) to
# a page without it once accepted (oauth/account.py).
EXEMPT_PATHS: frozenset[str] = frozenset(
    {"/subscription/confirm", "/subscription/unsubscribe", "/invitation"}
)
# A private status page's viewer token is opened once as /status/{slug}?token=… (a link
# handed to the page's readers): that one path shape only, not the page's subpaths. The
# page moves the token into a cookie and redirects to the clean URL (pages/status_page.py).
STATUS_PAGE = re.compile(r"/status/[a-z0-9-]+")


class CredentialInURLError(StatusGraphError):
    code = "BAD_REQUEST"
    http_status = 400


def refuse_credential_in_url(path: str, query_string: bytes) -> None:
    """Raises when a parameter of the query string is named like a credential, in any
    case and percent-encoding, with or without a value. Callers skip this for an empty
    query string, the common case."""
    if path in EXEMPT_PATHS or STATUS_PAGE.fullmatch(path):
        return
    lowered = query_string.lower()
    if b"key" not in lowered and b"token" not in lowered and b"%" not in lowered:
        return  # no name can spell one: skip the split and the decoding
    for part in query_string.split(b"&"):
        name = part.partition(b"=")[0]
        if unquote_plus(name.decode("latin-1")).strip().lower() in CREDENTIAL_NAMES:
            raise CredentialInURLError(MESSAGE)
