"""GraphiQL on `/graphql`, from files the package ships: no CDN, so the explorer works on
an offline machine, and under a CSP that allows this origin's scripts and styles only
(DESIGN §13; docs/graphql-over-http.md, "GraphiQL").

The built graphiql, react and react-dom are vendored in static/graphiql/ by
scripts/vendor-graphiql.sh at the versions its VERSIONS file names; start.js (ours)
starts the explorer, as a file rather than an inline script. Each file is served under a
fingerprinted name, `/assets/graphiql/<stem>.<sha256 prefix>.<ext>`, cached for a year
(immutable) as the status page's stylesheet is: a new build is a new URL.
"""

import functools
import gzip
import hashlib
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from statusgraph.content_coding import accepts_gzip

STATIC = Path(__file__).parent / "static" / "graphiql"
PREFIX = "/assets/graphiql/"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# In the order the page loads them: react before react-dom before graphiql, which
# start.js needs all three of.
STYLES = ("graphiql.min.css", "graphiql-page.css")
SCRIPTS = ("react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "start.js")

# What GraphiQL needs, and nothing else. Scripts and styles from this origin only (no
# inline script, no eval; GraphiQL's runtime styling goes through the CSSOM, which
# style-src does not govern, so no 'unsafe-inline' either); its stylesheet embeds its
# fonts and icons as data: URLs; fetch and the subscriptions' websocket to this origin
# ('self' covers ws: and wss: to the same host in CSP 3); never framed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(slots=True)
class Asset:
    body: bytes
    media_type: str
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def gzipped(self) -> bytes:
        # Made on first use: graphiql's 1.5 MB shrinks to ~0.4 MB.
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=9, mtime=0)
        return self._gzipped


def fingerprinted(name: str, body: bytes) -> str:
    stem, dot, extension = name.rpartition(".")
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:16]}{dot}{extension}"


class GraphiQL:
    """The explorer's page and its files."""

    def __init__(self, directory: Path = STATIC) -> None:
        self.assets: dict[str, Asset] = {}
        self.urls: dict[str, str] = {}
        for name in (*STYLES, *SCRIPTS):
            body = (directory / name).read_bytes()
            served = fingerprinted(name, body)
            self.assets[served] = Asset(body, MEDIA_TYPES[Path(name).suffix])
            self.urls[name] = PREFIX + served
        links = "\n".join(
            f'    <link rel="stylesheet" href="{escape(self.urls[name])}">' for name in STYLES
        )
        scripts = "\n".join(
            f'    <script src="{escape(self.urls[name])}" defer></script>' for name in SCRIPTS
        )
        self.html = (
            "<!doctype html>\n"
            '<html lang="en">\n'
            "  <head>\n"
            '    <meta charset="utf-8">\n'
            '    <meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "    <title>StatusGraph GraphQL explorer</title>\n"
            '    <link rel="icon" href="data:,">\n'
            f"{links}\n{scripts}\n"
            "  </head>\n"
            "  <body>\n"
            '    <div id="graphiql">Loading the explorer…</div>\n'
            "    <noscript>The GraphQL explorer needs JavaScript; "
            "POST queries to this URL instead.</noscript>\n"
            "  </body>\n"
            "</html>\n"
        )

    def page(self) -> HTMLResponse:
        return HTMLResponse(self.html, headers=PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["name"])
        if asset is None:
            return Response("Not Found", 404, media_type="text/plain")
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }
        body = asset.body
        if accepts_gzip(request.headers.get("accept-encoding")):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)


@functools.cache
def shipped_graphiql() -> GraphiQL:
    """The package's files, read and hashed once per process (~2 MB)."""
    return GraphiQL()


async def not_found(request: Request) -> Response:
    return Response("Not Found", 404, media_type="text/plain")
