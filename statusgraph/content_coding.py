"""gzip for the documents we keep in memory, shared by GraphiQL's files
(http/graphiql.py) and the status pages' cache (pages/caching.py).

A cached status page of 20 services is ~240 KB of HTML (90 bars each, a tooltip and a
screen reader's text per bar) and ~9 KB gzipped: compressed once when it is kept, it
is sent to every browser (they all ask for gzip) at a fraction of the cost of the
identity body, which uvicorn and the kernel copy in full on every request.
"""

import gzip

# Below this a body is sent as it is: gzip's header and a round of compression for less
# than a packet is not worth it.
MINIMUM = 1024


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether Accept-Encoding allows gzip (listed, or `*`, without q=0)."""
    if not accept_encoding:
        return False
    allowed = False
    for part in accept_encoding.lower().split(","):
        coding, _, parameters = part.partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        refused = parameters.replace(" ", "") in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
        if coding == "*":
            allowed = allowed or not refused
        else:
            return not refused  # an explicit gzip entry decides
    return allowed


def compress(body: bytes) -> bytes | None:
    """`body` gzipped (deterministically: no timestamp), or None when not worth it."""
    if len(body) < MINIMUM:
        return None
    packed = gzip.compress(body, compresslevel=6, mtime=0)
    return packed if len(packed) < len(body) else None


def gzip_tag(tag: str) -> str:
    """The strong entity tag of the gzip representation of the body tagged `tag`: a
    different representation needs a different strong tag (RFC 9110 §8.8.3)."""
    return tag[:-1] + '-gzip"' if tag.endswith('"') else tag + "-gzip"
