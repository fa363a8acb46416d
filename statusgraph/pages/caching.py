"""HTTP caching for every GET under /status/ (DESIGN §13): the HTML pages, feeds,
badges and Statuspage JSON.

- `Cache-Control`: a PUBLIC page read anonymously is `public, max-age=5`; anything read
  with a viewer token or an organization's credential, or any page that is not PUBLIC,
  is `private, no-store`: what a token or a key unlocked is kept by no cache, the
  reader's own browser included (a shared computer), as the HTML page decided first.
- A strong `ETag` (a hash of the body) on every 200; `If-None-Match` → 304.
- gzip when the client accepts it (every browser does), compressed once per rendering
  and kept with the copy (content_coding.py), with its own strong tag (`"…-gzip"`);
  `Vary: Accept-Encoding`.
- An in-memory copy of each rendered document, per process, served only while the
  page's organization's version (db/page_versions.py) reads as it did before the
  document was rendered, and for at most STATUSGRAPH_PUBLIC_CACHE_SECONDS: a write
  through any process shows within STATUSGRAPH_PAGE_VERSION_CHECK_SECONDS. Requests
  carrying an organization's credential are never served from it; a viewer token's
  copies are kept apart from everyone else's (by the token's hash).
"""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response

from statusgraph.content_coding import accepts_gzip, compress, gzip_tag
from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import StatusPage
from statusgraph.db.page_versions import PageVersions
from statusgraph.etags import entity_tag, still_fresh
from statusgraph.pages.reading import viewer_token
from statusgraph.resolvers import vocabulary as v

Handler = Callable[[Request], Awaitable[Response]]
PUBLIC = "public, max-age=5"
PRIVATE = "private, no-store"
VARY = "Cookie, Authorization, X-Status-Page-Token, Accept-Encoding"
# Headers the cache sets itself or Starlette computes again.
OWN = frozenset({"content-length", "etag", "cache-control", "vary", "content-encoding"})

Key = tuple[str, str, str | None]


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    gzipped: bytes | None  # None: too small to be worth it
    media_type: str | None
    headers: tuple[tuple[str, str], ...]
    tag: str
    cache_control: str
    organization_id: str
    version: int
    expires_at: float


class PageCache:
    def __init__(
        self,
        db: SessionFactory,
        versions: PageVersions,
        ttl_seconds: float,
        max_entries: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.versions = versions
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.monotonic = monotonic
        self.entries: OrderedDict[Key, Entry] = OrderedDict()

    def wrap(self, handler: Handler) -> Handler:
        async def cached(request: Request) -> Response:
            return await self.answer(request, handler)

        return cached

    async def answer(self, request: Request, handler: Handler) -> Response:
        if request.method not in ("GET", "HEAD"):
            return await handler(request)
        principal = request.scope.get("state", {}).get("principal")
        token = viewer_token(request)
        key: Key | None = None
        if principal is None and self.ttl > 0:
            digest = hashlib.sha256(token.encode()).hexdigest() if token else None
            key = (request.url.path, request.url.query, digest)
            entry = self.entries.get(key)
            if entry is not None:
                if self.monotonic() < entry.expires_at and (
                    await self.versions.current(entry.organization_id) == entry.version
                ):
                    self.entries.move_to_end(key)
                    return self._send(entry, request)
                del self.entries[key]
        # Before the document is rendered: a version read now is never newer than what
        # the rendering sees, so a copy is at worst dropped once too often.
        found = await self._page(request.path_params["slug"])
        version = await self.versions.current(found[0]) if found and key else None
        response = await handler(request)
        if response.status_code != 200 or not hasattr(response, "body"):
            return response
        public = found is not None and found[1] == v.Visibility.PUBLIC
        anonymous = principal is None and token is None
        cache_control = PUBLIC if public and anonymous else PRIVATE
        body = bytes(response.body)
        entry = Entry(
            body=body,
            gzipped=compress(body),
            media_type=response.media_type,
            headers=tuple(
                (name, value) for name, value in response.headers.items() if name not in OWN
            ),
            tag=entity_tag(body),
            cache_control=cache_control,
            organization_id=found[0] if found else "",
            version=version or 0,
            expires_at=self.monotonic() + self.ttl,
        )
        if key is not None and found is not None and version is not None:
            self.entries[key] = entry
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return self._send(entry, request)

    async def _page(self, slug: str) -> tuple[str, str] | None:
        async with self.db() as session:
            row = (
                await session.exec(
                    select(StatusPage.organization_id, StatusPage.visibility).where(
                        StatusPage.slug == slug
                    )
                )
            ).first()
        return (row[0], row[1]) if row else None

    @staticmethod
    def _send(entry: Entry, request: Request) -> Response:
        headers = dict(entry.headers)
        body, tag = entry.body, entry.tag
        if entry.gzipped is not None and accepts_gzip(request.headers.get("accept-encoding")):
            body, tag = entry.gzipped, gzip_tag(entry.tag)
            headers["Content-Encoding"] = "gzip"
        headers.update({"ETag": tag, "Cache-Control": entry.cache_control, "Vary": VARY})
        if still_fresh(request.headers.get("if-none-match"), tag):
            headers.pop("content-type", None)
            headers.pop("Content-Encoding", None)
            return Response(status_code=304, headers=headers)
        return Response(body, headers=headers, media_type=entry.media_type)
