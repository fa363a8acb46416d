"""The routes of a status page's machine-readable documents: feeds, badges and the
Statuspage-compatible JSON (DESIGN §13). Each reads the page as the HTML page does
(pages/reading.py) and answers a page that may not be seen exactly like a missing one.

Per-service badges are addressed by the service's ID
(`/status/{slug}/services/{id}/badge.svg`): names change, IDs do not. A service that is
not on the page is a 404 like a missing page.
"""

import json
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from statusgraph.errors import NotFoundError
from statusgraph.pages import badges, feeds, statuspage_api
from statusgraph.pages.reading import PageReader, Read
from statusgraph.resolvers import vocabulary as v

JSON = "application/json"
NOSNIFF = {"X-Content-Type-Options": "nosniff"}


def _json(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, media_type=JSON, headers={**NOSNIFF, **(headers or {})})


def _not_found_text() -> Response:
    return Response("Not Found", 404, media_type="text/plain", headers=NOSNIFF)


def _open(read: Read) -> dict[str, str]:
    """Anyone's browser may read a PUBLIC page's JSON and badges from any site (as from
    Statuspage's); a private page's never leave its own origin."""
    if read.page.visibility == v.Visibility.PUBLIC:
        return {"Access-Control-Allow-Origin": "*"}
    return {}


class PageDocuments:
    def __init__(self, reader: PageReader, base_url: str) -> None:
        self.reader = reader
        self.base_url = base_url

    async def _read(self, request: Request) -> Read | None:
        try:
            return await self.reader.read(request, request.path_params["slug"])
        except NotFoundError:
            return None

    async def statuspage(self, request: Request) -> Response:
        build = statuspage_api.DOCUMENTS.get(request.path_params["document"])
        read = await self._read(request) if build is not None else None
        if build is None or read is None:
            return _json({"error": "Not found"}, 404)
        return _json(build(read, self.base_url), headers=_open(read))

    async def atom(self, request: Request) -> Response:
        return await self._feed(request, feeds.atom, feeds.ATOM)

    async def rss(self, request: Request) -> Response:
        return await self._feed(request, feeds.rss, feeds.RSS)

    async def _feed(
        self, request: Request, write: Callable[[Read, str], bytes], media_type: str
    ) -> Response:
        read = await self._read(request)
        if read is None:
            return _not_found_text()
        return Response(write(read, self.base_url), media_type=media_type, headers=NOSNIFF)

    async def badge_svg(self, request: Request) -> Response:
        found = await self._badge(request)
        if found is None:
            return _not_found_text()
        read, label, status = found
        return Response(
            badges.svg(label, status),
            media_type=badges.SVG,
            headers={
                **NOSNIFF,
                **_open(read),
                # An SVG opened on its own is a document: it may run nothing, load nothing.
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            },
        )

    async def badge_json(self, request: Request) -> Response:
        found = await self._badge(request)
        if found is None:
            return _json({"error": "Not found"}, 404)
        read, label, status = found
        return _json(badges.endpoint(label, status), headers=_open(read))

    async def _badge(self, request: Request) -> tuple[Read, str, v.ServiceStatus] | None:
        read = await self._read(request)
        if read is None:
            return None
        wanted = request.path_params.get("service_id")
        if wanted is None:
            return read, read.page.name, read.shown.overall_status
        for service in read.shown.services:
            if str(service.id) == wanted:
                return read, service.name, service.status
        return None
