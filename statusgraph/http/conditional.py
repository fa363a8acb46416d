"""Conditional GET for GraphQL queries: an ETag on every 200, a 304 when it still holds.

The tag is a hash of the response body as it would be sent, so a 304 means exactly
"the bytes you hold are what this request would return now, for this credential":
nothing the caller can see changed. It saves the transfer and the client's parse, not
the server's work: knowing without executing would need a change signal from every
write (docs/graphql-over-http.md, "Caching: ETag and 304").
"""

from starlette.datastructures import Headers
from starlette.responses import Response

from statusgraph.etags import entity_tag, still_fresh

# Who asks changes the answer: the credential (key or bearer token), a status page's
# viewer token, and the media type.
VARY = "Accept, Authorization, X-API-Key, X-Status-Page-Token"


def conditional(response: Response, request_headers: Headers, *, private: bool) -> Response:
    """`response` (a 200 to a GET) with its validators, or a 304 if the client's copy
    is current. Caches revalidate every time (no-cache); an authenticated answer is
    for the caller's cache only (private)."""
    tag = entity_tag(bytes(response.body))
    headers = {
        "ETag": tag,
        "Cache-Control": "private, no-cache" if private else "no-cache",
        "Vary": VARY,
    }
    if still_fresh(request_headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response
