"""The pages a subscriber's mailed links open: confirm the subscription, unsubscribe.

A GET never changes anything (mail scanners and link previews open links on their
own): it shows a page with one button, and the button's POST does the work. A mail
client's one-click unsubscribe (RFC 8058) POSTs `List-Unsubscribe=One-Click` to the same
address. The token, signed for its one purpose (auth/subscriber_tokens.py), names the
subscription; the pages are plain HTML with every value escaped, no script, a strict
CSP, and no Referer, so the token never travels further.
"""

import html
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse

from statusgraph.auth.subscriber_tokens import InvalidToken, Purpose, SubscriberTokens
from statusgraph.clock import Clock
from statusgraph.db.engine import SessionFactory
from statusgraph.errors import NotFoundError
from statusgraph.resolvers import subscribers

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=HEADERS)


def _button(label: str, *, one_click: bool = False) -> str:
    field = '<input type="hidden" name="List-Unsubscribe" value="One-Click">' if one_click else ""
    return f'<form method="post">{field}<button type="submit">{html.escape(label)}</button></form>'


class SubscriptionPages:
    def __init__(self, db: SessionFactory, tokens: SubscriberTokens, clock: Clock) -> None:
        self.db = db
        self.tokens = tokens
        self.clock = clock

    def _subscriber_id(self, request: Request, purpose: Purpose) -> str | HTMLResponse:
        token = request.query_params.get("token", "")
        try:
            return self.tokens.read(purpose, token)
        except InvalidToken as error:
            return page("Link not valid", f"<p>{html.escape(str(error))}.</p>", 400)

    async def confirm(self, request: Request) -> HTMLResponse:
        found = self._subscriber_id(request, Purpose.CONFIRM)
        if isinstance(found, HTMLResponse):
            return found
        if request.method == "GET":
            return page(
                "Confirm your subscription",
                "<p>Confirm to receive this status page's incident and maintenance "
                "notices.</p>" + _button("Confirm subscription"),
            )
        return await self._act(found, self._confirmed)

    async def unsubscribe(self, request: Request) -> HTMLResponse:
        found = self._subscriber_id(request, Purpose.UNSUBSCRIBE)
        if isinstance(found, HTMLResponse):
            return found
        if request.method == "GET":
            return page(
                "Unsubscribe",
                "<p>Stop receiving this status page's notices?</p>"
                + _button("Unsubscribe", one_click=True),
            )
        async with self.db.begin() as session:
            await subscribers.unsubscribe(session, found)
        # Gone already or just now: the same answer, the same outcome.
        return page("Unsubscribed", "<p>You will receive no more notices from this page.</p>")

    async def _act(
        self, subscriber_id: str, action: Callable[[str], Awaitable[HTMLResponse]]
    ) -> HTMLResponse:
        try:
            return await action(subscriber_id)
        except NotFoundError:
            return page(
                "Subscription not found",
                "<p>This subscription no longer exists: subscribe again from the page.</p>",
                404,
            )

    async def _confirmed(self, subscriber_id: str) -> HTMLResponse:
        async with self.db.begin() as session:
            subscriber = await subscribers.confirm(session, subscriber_id, now=self.clock())
            status_page = await subscribers.page_of(session, subscriber)
        return page(
            "Subscription confirmed",
            f"<p>You will be told of incidents and maintenance on "
            f"{html.escape(status_page.name)}.</p>",
        )
