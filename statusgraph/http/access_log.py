"""Our access log, in place of uvicorn's, which prints the whole URL: a credential sent in
a query string (refused, but sent) would land in the log.

One line per HTTP request on the `statusgraph.access` logger, at INFO, once the response
is complete:

    GET /graphql?query&variables 200 3.14ms request_id=6f1c…

The query string appears as its parameter names only, never a value. A part without
`=` is printed as `-`: on its own it may be a value (`?sg_live_…`), not a name.
"""

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statusgraph.config import Settings

logger = logging.getLogger("statusgraph.access")

# What a logged name may hold: no spaces or control characters (no forged log lines),
# short enough that a value glued to a name cannot ride along whole.
PRINTABLE_NAME = re.compile(rb"[A-Za-z0-9._~%\[\]-]{1,40}")


def query_names(query_string: bytes) -> str:
    """`a=1&b=&c` -> `?a&b&-`: the names, never the values."""
    shown = []
    for part in query_string.split(b"&"):
        if not part:
            continue
        name, equals, _value = part.partition(b"=")
        if equals and PRINTABLE_NAME.fullmatch(name):
            shown.append(name.decode("ascii"))
        else:
            shown.append("-")
    return "?" + "&".join(shown) if shown else ""


def _path(scope: Scope) -> str:
    # raw_path is the path as sent, still percent-encoded: nothing in it can break the
    # line. The decoded path could hold a newline (%0A).
    raw = scope.get("raw_path")
    if raw:
        return str(raw.decode("latin-1"))
    return str(scope["path"]).encode("unicode_escape").decode("ascii")


def wanted(settings: Settings) -> bool:
    """Whether the app gets the middleware: STATUSGRAPH_ACCESS_LOG, and a logger that
    would print at INFO. Decided when the app is built, after the logging configuration
    (create_app_from_environment): even an idle layer costs ~0.5 µs a request, ~1 % of
    the heartbeat ping's CPU, which the benchmark (log level warning) would count."""
    return settings.access_log and logger.isEnabledFor(logging.INFO)


class AccessLogMiddleware:
    """Outermost, so that it sees every answer, preflights included, and times them all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        request_id = "-"

        async def noting_status(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                # Every answer carries the id (RequestGuardMiddleware, cors); it is last.
                for name, value in reversed(message.get("headers", ())):
                    if name.lower() == b"x-request-id":
                        request_id = value.decode("latin-1")
                        break
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            logger.info(
                "%s %s%s %d %.2fms request_id=%s",
                scope["method"],
                _path(scope),
                query_names(scope["query_string"]) if scope["query_string"] else "",
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
                # For the JSON format's field; the text one prints the message as it is.
                extra={"request_id": request_id},
            )
