"""Starlette, customised for speed: the heartbeat ping's route matched ahead of the
router (DirectRoute), and our middleware alone around the router (GuardedStarlette).

Both lean on Starlette's internals (Starlette.build_middleware_stack, Route.app and the
scope keys the router sets); tests/test_upstream_contracts.py fails loudly when those
change, and pyproject.toml pins the Starlette minor they were checked against.
"""

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send


class DirectRoute:
    """The router, with one route matched first and by hand: the heartbeat ping, by far
    the busiest. The router tries each route's regular expression and builds the
    route's scope in several calls, ~1.2 µs of our ~10 µs of Python a ping (~2.5 % of
    pings a second). This matches exactly what the route does: its methods, and its one
    parameter as one non-empty path segment. Everything else goes to the router as
    before: other paths and methods (404, 405), and any request under a root path."""

    def __init__(self, router: Router, route: Route) -> None:
        prefix, _, parameter = route.path.partition("{")
        if not parameter.endswith("}") or ":" in parameter or "/" in parameter:
            raise ValueError(f"{route.path}: one plain parameter at the end is needed")
        self.router = router
        self.route = route
        self.prefix = prefix
        self.parameter = parameter[:-1]
        self.methods = route.methods or set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in self.methods
            and not scope.get("root_path")
            and scope["path"].startswith(self.prefix)
        ):
            value = scope["path"][len(self.prefix) :]
            if value and "/" not in value:
                # The keys Starlette's Router.app and Route.matches set, with their values.
                scope.setdefault("router", self.router)
                scope["route"] = self.route
                scope["endpoint"] = self.route.endpoint
                scope["path_params"] = {self.parameter: value}
                await self.route.app(scope, receive, send)
                return
        await self.router(scope, receive, send)


class GuardedStarlette(Starlette):
    """Starlette with the user middleware alone around the router (and `direct`, the
    route it takes first: DirectRoute).

    Starlette wraps user middleware in its ServerErrorMiddleware and ExceptionMiddleware.
    RequestGuardMiddleware already answers every error of an HTTP request: our own, the
    router's 404 and 405 (as Starlette's default handler would), and anything unexpected
    as a masked 500. The two only added ~2.5 µs to each request: a Request object and
    two send wrappers. (FastAPI overrides this method too.)

    What Starlette's own stack would have done with `exception_handlers`, `debug` and
    `max_body_size` is therefore not done: rather than ignore them, it refuses them, when
    built and again when the stack is (they can be set after construction).
    """

    def __init__(self, *args: Any, direct: Route | None = None, **kwargs: Any) -> None:
        self.direct = direct
        super().__init__(*args, **kwargs)
        self._refuse_what_the_stack_drops()

    def _refuse_what_the_stack_drops(self) -> None:
        dropped = [
            name
            for name, given in (
                ("exception_handlers", bool(self.exception_handlers)),
                ("debug", bool(self.debug)),
                ("max_body_size", getattr(self, "max_body_size", None) is not None),
            )
            if given
        ]
        if dropped:
            raise TypeError(
                f"GuardedStarlette does not support {', '.join(dropped)}: its middleware stack"
                " has no ServerErrorMiddleware, ExceptionMiddleware or RequestBodyLimitMiddleware;"
                " RequestGuardMiddleware answers every error"
            )

    def build_middleware_stack(self) -> ASGIApp:
        self._refuse_what_the_stack_drops()
        app: ASGIApp = self.router if self.direct is None else DirectRoute(self.router, self.direct)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app
