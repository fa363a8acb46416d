"""What our code relies on of its libraries beyond their public APIs, each checked here.

A workaround that leans on a library's internals breaks silently when the library
changes: these tests break loudly instead, each naming the upstream behaviour and the
code of ours that relies on it. pyproject.toml pins the versions they pass on (strawberry
only below 0.400: it releases a minor most weeks, and CI runs these tests on the version it
installs).

| upstream (pin) | what we rely on | our code |
|---|---|---|
| Starlette (<1.11) | `Starlette.__call__` builds its stack with `build_middleware_stack()`; `__init__` takes nothing else that stack would use than `debug`, `exception_handlers` and `max_body_size` | http/routing.py GuardedStarlette: our middleware alone around the router, refusing those three |
| Starlette (<1.11) | a matched `Route` is run as `route.app(scope, …)` with the scope keys `Router.app` and `Route.matches` set | http/routing.py DirectRoute: the ping route matched ahead of the router |
| limits (<5.9) | `MemoryStorage` calls its private `__schedule_expiry()` on every hit, and keeps fixed windows in `storage` and `expirations` | ratelimit.py SweepingMemoryStorage: sweeps every few seconds; `hit_fixed_window` counts on those dicts |
| SQLAlchemy (<2.2) | `SQLCompiler.string`, `positiontup`, `params` and `binds[…].required/.type` describe what SQLAlchemy sends | ingest/driver.py DriverStatement: compiles once, binds rows itself |
| graphql-core (<3.4) | the text of its messages: " Did you mean …?", enum-value, "Syntax Error", token-limit and variable-coercion messages | http/graphql_view.py SUGGESTION and `_request_error_code`: strip suggestions, pick `extensions.code` |
| strawberry (<0.400) | `Schema._schema`; `strawberry.schema.schema.validate_document(schema, document, rules)`; an extension that sets `pre_execution_errors` in `on_validate` replaces strawberry's validation (even with `[]`) | schema/limits.py BoundedValidation: our cached, bounded validation with the linear field-merging rule |
"""

import asyncio
import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import limits.storage.memory
import pytest
import strawberry
from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_schema,
    graphql_sync,
    parse,
    validate,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel import SQLModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document as strawberry_validate_document

from statusgraph.http.graphql_view import SUGGESTION, _request_error_code
from statusgraph.http.routing import DirectRoute, GuardedStarlette
from statusgraph.ingest.driver import DriverStatement
from statusgraph.ingest.writers import INSERT_PINGS, MONITORS_BY_IDS, UPDATE_MONITORS, UPDATED
from statusgraph.ratelimit import SweepingMemoryStorage
from statusgraph.schema import schema as statusgraph_schema

# --- Starlette: GuardedStarlette ---------------------------------------------------------


def test_starlette_builds_its_stack_with_build_middleware_stack_as_guarded_starlette_overrides():
    class Outermost:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await self.app(scope, receive, send)

    from starlette.middleware import Middleware

    async def endpoint(_request: Request) -> Response:
        return PlainTextResponse("ok")

    app = GuardedStarlette(routes=[Route("/", endpoint)], middleware=[Middleware(Outermost)])
    assert app.middleware_stack is None
    run(app, _http_scope("GET", "/"))
    assert isinstance(app.middleware_stack, Outermost), (
        "Starlette.__call__ no longer installs build_middleware_stack()'s result as"
        " middleware_stack: http/routing.py GuardedStarlette's override is not what runs"
    )
    assert isinstance(app.middleware_stack.app, Router)


def test_starlette_takes_no_setting_its_stack_uses_that_guarded_starlette_does_not_refuse():
    known = {"self", "debug", "routes", "middleware", "exception_handlers", "lifespan"}
    refused = {"max_body_size"}
    parameters = set(inspect.signature(Starlette.__init__).parameters)
    assert parameters <= known | refused, (
        f"Starlette.__init__ has new parameters {sorted(parameters - known - refused)}: if"
        " Starlette's own build_middleware_stack uses them, http/routing.py GuardedStarlette"
        " (which replaces that stack) drops them silently; refuse them there"
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            {"exception_handlers": {404: lambda request, exc: PlainTextResponse("")}},
            "exception_handlers",
        ),
        ({"debug": True}, "debug"),
        ({"max_body_size": 1024}, "max_body_size"),
    ],
)
def test_guarded_starlette_refuses_what_its_stack_would_drop(settings, named):
    with pytest.raises(TypeError, match=f"GuardedStarlette does not support {named}"):
        GuardedStarlette(routes=[], **settings)


def test_guarded_starlette_refuses_them_when_set_after_construction_too():
    app = GuardedStarlette(routes=[])
    app.add_exception_handler(500, lambda request, exc: PlainTextResponse(""))
    app.debug = True
    with pytest.raises(TypeError, match="does not support exception_handlers, debug"):
        run(app, _http_scope("GET", "/"))


# --- Starlette: DirectRoute --------------------------------------------------------------


def test_direct_route_gives_the_route_the_scope_starlettes_router_gives_it():
    seen: list[dict[str, Any]] = []

    async def endpoint(request: Request) -> Response:
        seen.append(dict(request.scope))
        return PlainTextResponse("ok")

    route = Route("/api/heartbeat/{monitor_id}", endpoint, methods=["POST"])
    router = Router(routes=[route])
    direct = DirectRoute(router, route)
    run(router, _http_scope("POST", "/api/heartbeat/mon_1"))
    run(direct, _http_scope("POST", "/api/heartbeat/mon_1"))
    by_router, by_direct = seen
    # By key: scope values include dicts and lists, which a set of items cannot hold.
    differ = sorted(
        key
        for key in by_router.keys() | by_direct.keys()
        if by_router.get(key) != by_direct.get(key)
    )
    assert by_router == by_direct, (
        "Starlette's Router/Route now give a matched route another scope than"
        " http/routing.py DirectRoute builds by hand (path_params, route, endpoint, router):"
        f" {', '.join(f'{key}: {by_router.get(key)!r} != {by_direct.get(key)!r}' for key in differ)}"
    )


# --- limits: SweepingMemoryStorage -------------------------------------------------------


def test_limits_memory_storage_has_the_private_sweep_hook_we_override():
    hook = getattr(limits.storage.memory.MemoryStorage, "_MemoryStorage__schedule_expiry", None)
    gone = (
        "limits' MemoryStorage no longer has __schedule_expiry(self): ratelimit.py"
        " SweepingMemoryStorage overrides it (by its mangled name) to sweep every few seconds"
        " instead of starting a thread per hit"
    )
    assert hook is not None, gone
    assert list(inspect.signature(hook).parameters) == ["self"], gone


@pytest.mark.parametrize(
    "hit",
    [
        lambda storage: storage.incr("k", 60),
        lambda storage: storage.acquire_entry("k", 10, 60),  # the moving window's hit
    ],
    ids=["incr", "acquire_entry"],
)
def test_limits_memory_storage_calls_the_sweep_hook_on_every_hit(hit):
    class Counting(SweepingMemoryStorage):
        calls = 0

        def _MemoryStorage__schedule_expiry(self) -> None:
            Counting.calls += 1

    hit(Counting())
    assert Counting.calls == 1, (
        "limits' MemoryStorage no longer calls __schedule_expiry() on a hit: ratelimit.py"
        " SweepingMemoryStorage's override does nothing, and the stock sweeping is back"
    )


def test_limits_memory_storage_keeps_fixed_windows_where_hit_fixed_window_counts_them():
    stock = limits.storage.memory.MemoryStorage()
    stock.incr("k", 60, 3)
    moved = (
        "limits' MemoryStorage no longer keeps a fixed window's count in .storage and its end"
        " in .expirations: ratelimit.py SweepingMemoryStorage.hit_fixed_window counts there"
    )
    assert stock.storage.get("k") == 3, moved
    assert isinstance(stock.expirations.get("k"), float), moved
    ours = SweepingMemoryStorage()
    ours.hit_fixed_window("k", 60, 2)
    assert (ours.get("k"), ours.get_expiry("k")) == (2, ours.expirations["k"])


# --- SQLAlchemy: DriverStatement ---------------------------------------------------------

AT = datetime(2026, 11, 25, 10, 0, 1, 5, tzinfo=UTC)
STATEMENTS: dict[str, tuple[Any, list[str] | None, dict[str, Any]]] = {
    "insert": (
        INSERT_PINGS,
        None,
        {
            "id": "png_1",
            "monitor_id": "mon_1",
            "kind": "success",
            "message": None,
            "duration_ms": 12,
            "ip": "127.0.0.1",
            "created_at": AT,
        },
    ),
    "update by a named parameter": (
        UPDATE_MONITORS,
        [*UPDATED, "updated_at"],
        {
            "monitor_id": "mon_1",
            "last_ping_at": AT,
            "last_ping_kind": "success",
            "last_start_at": None,
            "recorded_status": "UP",
            "next_deadline_at": AT,
            "updated_at": AT,
        },
    ),
    "select with a literal": (MONITORS_BY_IDS, None, {"ids": '["mon_1"]'}),
}


@pytest.mark.parametrize("case", sorted(STATEMENTS))
def test_driver_statement_sends_what_sqlalchemy_sends(case):
    statement, column_keys, values = STATEMENTS[case]
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    sent: list[tuple[str, tuple[Any, ...]]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn: Connection, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        sent.append((sql, tuple(parameters)))

    with engine.begin() as connection:
        connection.execute(statement, values)
    engine.dispose()
    ours = DriverStatement(statement, engine.dialect, column_keys)
    assert sent == [(ours.sql, tuple(ours.parameters(values)))], (
        "SQLAlchemy now sends other SQL or parameters than ingest/driver.py DriverStatement"
        " builds from its compiler (SQLCompiler.string, positiontup, params, binds)"
    )


def test_sqlalchemy_compiler_still_describes_positional_parameters():
    compiled = MONITORS_BY_IDS.compile(dialect=create_engine("sqlite://").dialect)
    assert isinstance(compiled, SQLCompiler)
    assert compiled.positiontup is not None, (
        "SQLAlchemy's SQLCompiler no longer lists a positional statement's parameters in"
        " positiontup: ingest/driver.py DriverStatement binds rows in that order"
    )
    assert len(compiled.positiontup) == 2  # the ids (a JSON array), and the literal 'heartbeat'
    lost = (
        "SQLAlchemy's BindParameter lost .required or .type: ingest/driver.py"
        " DriverStatement reads them to tell literals from row values and to bind them"
    )
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        assert hasattr(bind, "required"), lost
        assert hasattr(bind, "type"), lost
    assert compiled.params[compiled.positiontup[1]] == "heartbeat"


# --- strawberry: validation done by our extension -------------------------------------


@strawberry.type
class _Query:
    @strawberry.field
    def answer(self) -> int:
        return 42


def _schema_validated_by(errors: list[GraphQLError]) -> strawberry.Schema:
    class Validation(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            self.execution_context.pre_execution_errors = errors
            yield

    return strawberry.Schema(_Query, extensions=[Validation])


def test_strawberry_skips_its_own_validation_when_an_extension_has_validated():
    result = _schema_validated_by([]).execute_sync("{ answer unknown }")
    assert result.errors is None, (
        "strawberry validated a document an extension had already validated (set"
        " pre_execution_errors to []): schema/limits.py BoundedValidation's bounded, cached"
        f" validation no longer replaces strawberry's quadratic one ({result.errors})"
    )
    assert result.data == {"answer": 42}


def test_strawberry_answers_an_extensions_validation_errors_without_executing():
    refused = GraphQLError("refused by our validation")
    result = _schema_validated_by([refused]).execute_sync("{ answer }")
    assert result.data is None, (
        "strawberry executed a document an extension's validation refused (its"
        " pre_execution_errors): schema/limits.py BoundedValidation no longer refuses anything"
    )
    assert [error.message for error in result.errors or []] == [refused.message]


def test_strawberry_keeps_the_internals_bounded_validation_calls():
    assert isinstance(statusgraph_schema._schema, GraphQLSchema), (
        "strawberry's Schema no longer keeps graphql-core's schema in ._schema: schema/limits.py"
        " BoundedValidation and QueryLimitsGuard read it"
    )
    parameters = list(inspect.signature(strawberry_validate_document).parameters)
    assert parameters == ["schema", "document", "validation_rules"], (
        "strawberry.schema.schema.validate_document takes other parameters: schema/limits.py"
        " validate_document calls it with (schema, document, rules)"
    )
    errors = strawberry_validate_document(statusgraph_schema._schema, parse("{ nothing }"), ())
    assert errors == [], "validate_document no longer validates with only the rules it is given"


# --- graphql-core: the text of its messages ----------------------------------------------

SDL = """
enum Color { RED GREEN }
input Paint { color: Color! shade: Int }
type Query {
  paint(color: Color, input: Paint, count: Int): String
  colour: String
}
"""
SCHEMA = build_schema(SDL)


def _validation_errors(document: str) -> list[GraphQLError]:
    return validate(SCHEMA, parse(document))


def _execution_errors(document: str, variables: dict[str, Any]) -> list[GraphQLError]:
    errors = graphql_sync(SCHEMA, document, variable_values=variables).errors
    assert errors, "graphql-core accepted what it used to refuse"
    return list(errors)


NEAR_MISSES = {
    "enum value": "{ paint(color: REDD) }",
    "argument": "{ paint(colr: RED) }",
    "input field": "{ paint(input: {color: RED, shad: 1}) }",
    "type": "query($p: Pain) { paint(input: $p) }",
    "field": "{ colr }",
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_graphql_core_suggestions_are_what_the_view_strips(case):
    [error] = _validation_errors(NEAR_MISSES[case])
    assert "Did you mean" in error.message
    stripped = SUGGESTION.sub("", error.message)
    reworded = (
        "graphql-core words its suggestions otherwise: http/graphql_view.py SUGGESTION no"
        f" longer strips them ({error.message!r} -> {stripped!r})"
    )
    assert "Did you mean" not in stripped, reworded
    assert stripped.endswith("."), reworded


REQUEST_ERRORS: dict[str, tuple[Callable[[], list[GraphQLError]], str]] = {
    "enum literal not in the enum": (
        lambda: _validation_errors("{ paint(color: BLUE) }"),
        "BAD_USER_INPUT",
    ),
    "enum literal written as a string": (
        lambda: _validation_errors('{ paint(color: "RED") }'),
        "BAD_USER_INPUT",
    ),
    "enum variable not in the enum": (
        lambda: _execution_errors("query($c: Color) { paint(color: $c) }", {"c": "BLUE"}),
        "BAD_USER_INPUT",
    ),
    "variable of the wrong type": (
        lambda: _execution_errors("query($n: Int) { paint(count: $n) }", {"n": "many"}),
        "BAD_USER_INPUT",
    ),
    "non-null variable not provided": (
        lambda: _execution_errors("query($n: Int!) { paint(count: $n) }", {}),
        "BAD_USER_INPUT",
    ),
    "non-null variable null": (
        lambda: _execution_errors("query($n: Int!) { paint(count: $n) }", {"n": None}),
        "BAD_USER_INPUT",
    ),
    "input field missing in a variable": (
        lambda: _execution_errors("query($p: Paint) { paint(input: $p) }", {"p": {"shade": 1}}),
        "BAD_USER_INPUT",
    ),
    "undefined variable": (
        lambda: _validation_errors("{ paint(count: $n) }"),
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "non-enum literal of the wrong type": (
        lambda: _validation_errors('{ paint(count: "many") }'),
        "GRAPHQL_VALIDATION_FAILED",
    ),
}


def _parse_error(document: str, **options: Any) -> list[GraphQLError]:
    try:
        parse(document, **options)
    except GraphQLError as error:
        return [error]
    raise AssertionError("graphql-core parsed what it used to refuse")


REQUEST_ERRORS["syntax error"] = (lambda: _parse_error("{ paint("), "GRAPHQL_PARSE_FAILED")
REQUEST_ERRORS["too many tokens"] = (
    lambda: _parse_error("{ a b c d }", max_tokens=3),
    "MAX_TOKENS_EXCEEDED",
)


@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
def test_graphql_core_messages_map_to_the_codes_the_view_gives(case):
    produce, code = REQUEST_ERRORS[case]
    [error] = produce()
    assert _request_error_code(error) == code, (
        f"graphql-core's message for a {case} changed ({error.message!r}): http/graphql_view.py"
        f" _request_error_code, which reads it, no longer answers {code}"
    )


# --- helpers ----------------------------------------------------------------------------


def _http_scope(method: str, path: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


def run(app: ASGIApp, scope: Scope) -> list[Message]:
    """One request through an ASGI app, on a loop of its own; the messages it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def request() -> None:
        await app(scope, receive, send)

    asyncio.run(request())
    return sent
