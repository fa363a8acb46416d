"""`/graphql` over HTTP, following the GraphQL-over-HTTP spec and DESIGN §5.

A small endpoint of our own rather than `strawberry.asgi.GraphQL`: we need JSON (not
plain-text) errors for malformed requests, `application/graphql-response+json`, and
the status mapping of DESIGN §5, none of which that view offers.
"""

import json
import re
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from statusgraph.auth.sealed import Sealer
from statusgraph.auth.subscriber_tokens import SubscriberTokens
from statusgraph.checks.manual import Checking
from statusgraph.clock import Clock
from statusgraph.db.engine import SessionFactory
from statusgraph.db.page_versions import PageVersions
from statusgraph.http import json_input, persisted_queries
from statusgraph.http.conditional import conditional
from statusgraph.http.graphiql import GraphiQL
from statusgraph.http.middleware import GRAPHQL_JSON, PERSISTED_RESOLUTION
from statusgraph.http.persisted_queries import PersistedQueries
from statusgraph.http.responses import (
    GRAPHQL_RESPONSE,
    JSON,
    graphql_errors,
    negotiate,
    www_authenticate,
)
from statusgraph.notifications.testing import Notifying
from statusgraph.resolvers.credentials import CredentialCache
from statusgraph.resolvers.scope_usage import ScopeUsageRecorder
from statusgraph.resolvers.usage import RateLimits
from statusgraph.schema import StatusGraphSchema
from statusgraph.schema.context import Context
from statusgraph.schema.limits import QueryLimits, parse_document
from statusgraph.schema.public import VIEWER_TOKEN_HEADER
from statusgraph.schema.response_cache import ResponseCache

# graphql-core's " Did you mean 'x'?" (or "… 'x', 'y', or 'z'?"): disable_field_suggestions
# only silences fields; enum values, arguments, types, input fields and leaf selections
# still suggest. Every graphql-core error passes through _format, so they all go there.
SUGGESTION = re.compile(r" Did you mean [^?]*\?")
ENUM_VALUE_ERROR = re.compile(
    r"Value '.*' does not exist in '\w+' enum\.|Enum '\w+' cannot represent non-", re.DOTALL
)
# SUGGESTION and _request_error_code read graphql-core's message text:
# tests/test_upstream_contracts.py produces each message from graphql-core and checks them.
# Errors raised before execution starts: the request itself is wrong (request_failed_status).
REQUEST_ERROR_CODES = frozenset(
    {
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
        "MAX_TOKENS_EXCEEDED",
        "MAX_DEPTH_EXCEEDED",
        "MAX_ALIASES_EXCEEDED",
        "MAX_COST_EXCEEDED",
        "MAX_SELECTIONS_EXCEEDED",
        "EXCESSIVE_PAGINATION",
    }
)


class GraphQLEndpoint:
    def __init__(
        self,
        schema: StatusGraphSchema,
        *,
        db: SessionFactory,
        pepper: bytes,
        clock: Clock,
        graphiql: GraphiQL | None,
        query_limits: QueryLimits,
        cache: ResponseCache | None = None,
        versions: PageVersions | None = None,
        credential_cache: CredentialCache | None = None,
        persisted: PersistedQueries | None = None,
        checking: Checking | None = None,
        notifying: Notifying | None = None,
        scope_usage: ScopeUsageRecorder | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.rate_limits = rate_limits
        self.credential_cache = credential_cache
        self.checking = checking or Checking()
        self.notifying = notifying or Notifying(Sealer(pepper), SubscriberTokens(pepper))
        self.scope_usage = scope_usage
        self.persisted = persisted
        self.query_limits = query_limits
        self.cache = cache
        self.versions = versions or PageVersions(db, interval=1.0)
        self.schema = schema
        self.db = db
        self.pepper = pepper
        self.clock = clock
        self.graphiql = graphiql  # None: turned off (settings.graphiql)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        response = await self._answer(request)
        if request.method == "GET" and response.status_code == 200:
            private = (
                request.scope["state"].get("principal") is not None
                or VIEWER_TOKEN_HEADER in request.headers
            )
            return conditional(response, request.headers, private=private)
        return response

    async def _answer(self, request: Request) -> Response:
        accept = request.headers.get("accept")
        if (
            request.method == "GET"
            and "text/html" in (accept or "")
            and "query" not in request.query_params
        ):
            if self.graphiql is None:
                return graphql_errors(404, "GraphiQL is disabled", "NOT_FOUND")
            return self.graphiql.page()
        media_type = negotiate(accept)
        if media_type is None:
            return graphql_errors(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}", "NOT_ACCEPTABLE")
        params = await self._read_params(request)
        if isinstance(params, Response):
            return params
        sent_query, variables, operation_name, extensions = params
        # A POST's persisted query was looked up by the middleware, which charged the
        # rate limit for that document: the same one runs (http/middleware.py).
        resolution = request.scope["state"].get(PERSISTED_RESOLUTION)
        if request.method != "POST" or resolution is None:
            resolution = persisted_queries.resolution(self.persisted, sent_query, extensions)
        if isinstance(resolution, persisted_queries.PersistedQueryError):
            status = request_failed_status(media_type) if resolution.request_error else 400
            return graphql_errors(status, resolution.message, resolution.code, accept=accept)
        query, remember = resolution
        if query is None or not query.strip():
            return graphql_errors(400, "Must provide a query string", "BAD_REQUEST", accept=accept)
        if operation_name is None and self._operations(query) > 1:
            # GraphQL's GetOperation refuses this; strawberry would run the first
            # operation, which the rate limiter (schema.limits.select_operation, as the
            # spec) does not count: a mutation placed first ran charged as a read.
            return graphql_errors(
                request_failed_status(media_type),
                "Must provide operation name if query contains multiple operations.",
                "BAD_REQUEST",
                accept=accept,
            )

        state = request.scope["state"]
        principal = state.get("principal")
        now = self.clock()
        generation = self.db.generation
        cache_key = None
        if self.cache is not None and principal is None:
            cache_key = (
                query,
                json.dumps(variables, sort_keys=True) if variables else "",
                operation_name,
                request.headers.get(VIEWER_TOKEN_HEADER),
                media_type,
            )
            cached = self.cache.get(cache_key, now=now)
            if cached is not None and not await self.versions.unchanged(cached.versions):
                self.cache.drop(cache_key)
                cached = None
            if cached is not None:
                if remember is not None and self.persisted is not None:
                    # Only answers that executed are cached: the document validated.
                    self.persisted.remember(remember, query)
                return Response(cached.body, media_type=media_type)
        context = Context(
            request=request,
            principal=principal,
            request_info=state["request_info"],
            db=self.db,
            pepper=self.pepper,
            now=now,
            query_limits=self.query_limits,
            credential_cache=self.credential_cache,
            checking=self.checking,
            notifying=self.notifying,
            scope_usage=self.scope_usage,
            rate_limits=self.rate_limits,
        )
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                # Strawberry checks the operation type before validating, so a document
                # graphql-core would refuse (the schema has no subscription root) lands
                # here; it is answered as that validation error, not as a wrong method.
                return graphql_errors(
                    request_failed_status(media_type),
                    "The subscription operation is not supported by the schema.",
                    "GRAPHQL_VALIDATION_FAILED",
                    accept=accept,
                )
            return graphql_errors(
                405,
                "Mutations must be sent with POST",
                "METHOD_NOT_ALLOWED",
                accept=accept,
                headers={"Allow": "POST"},
            )
        except CannotGetOperationTypeError as error:
            # No operation of that name: a request error like a validation failure, so
            # 200 under application/json (GraphQL over HTTP), 400 under its own type.
            return graphql_errors(
                request_failed_status(media_type),
                error.as_http_error_reason(),
                "BAD_REQUEST",
                accept=accept,
            )
        finally:
            await context.end_read()
        response = self._respond(result, media_type)
        if remember is not None and self.persisted is not None and result.data is not None:
            # Executed, so it parsed and validated: worth remembering.
            self.persisted.remember(remember, query)
        if (
            cache_key is not None
            and self.cache is not None
            and response.status_code == 200
            and result.data is not None  # executed: a request error is not worth keeping
        ):
            versions = tuple(sorted(context.page_versions.items()))
            for organization_id, version in versions:
                self.versions.remember(organization_id, version, generation)
            self.cache.put(cache_key, bytes(response.body), versions=versions, now=now)
        return response

    def _operations(self, query: str) -> int:
        """How many operations the document defines (the parse is cached and shared with
        execution); 0 when it does not parse, which execution then reports."""
        try:
            document = parse_document(query, self.query_limits.max_tokens)
        except GraphQLError:
            return 0
        return sum(isinstance(each, OperationDefinitionNode) for each in document.definitions)

    async def _read_params(
        self, request: Request
    ) -> tuple[str | None, dict[str, Any] | None, str | None, Any] | Response:
        accept = request.headers.get("accept")

        def bad(message: str, status: int = 400) -> Response:
            return graphql_errors(status, message, "BAD_REQUEST", accept=accept)

        if request.method == "GET":
            data: Any = dict(request.query_params)
            if "variables" in data:
                try:
                    data["variables"] = json_input.loads(data["variables"])
                except json_input.JSONInputError as error:
                    if error.problem == json_input.NOT_JSON:
                        return bad("variables must be a JSON object")
                    return _bad_json(error, ("variables", *error.path), accept)
            if "extensions" in data:
                try:
                    data["extensions"] = json_input.loads(data["extensions"])
                except json_input.JSONInputError:
                    return bad("extensions must be a JSON object")
        elif request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                return bad("Content-Type must be application/json", 415)
            data = request.scope["state"].get(GRAPHQL_JSON)
            if data is None:  # not decoded by the middleware: it did not parse
                try:
                    data = json_input.loads(await request.body())
                except json_input.JSONInputError as error:
                    return _bad_json(error, error.path, accept)
            if not isinstance(data, dict):
                return bad("Request body must be a JSON object (batching is not supported)")
        else:
            return graphql_errors(
                405, "Use GET or POST", "METHOD_NOT_ALLOWED", headers={"Allow": "GET, POST"}
            )

        query, variables, operation_name = (
            data.get("query"),
            data.get("variables"),
            data.get("operationName"),
        )
        extensions = data.get("extensions")
        if query is None and isinstance(extensions, dict) and "persistedQuery" in extensions:
            pass  # the document is named by its hash (http/persisted_queries.py)
        elif not isinstance(query, str) or not query.strip():
            return bad("Must provide a query string")
        if variables is not None and not isinstance(variables, dict):
            return bad("variables must be a JSON object")
        if operation_name is not None and not isinstance(operation_name, str):
            return bad("operationName must be a string")
        if extensions is not None and not isinstance(extensions, dict):
            return bad("extensions must be a JSON object")
        return query, variables, operation_name, extensions

    def _respond(self, result: ExecutionResult, media_type: str) -> Response:
        errors = [self._format(error) for error in result.errors or []]
        codes = {error["extensions"]["code"] for error in errors}
        body: dict[str, Any] = {}
        request_failed = result.data is None and bool(codes) and codes <= REQUEST_ERROR_CODES
        if not request_failed:
            body["data"] = result.data
        if errors:
            body["errors"] = errors
        if result.extensions:
            body["extensions"] = result.extensions

        headers: dict[str, str] = {}
        no_data = result.data is None or all(value is None for value in result.data.values())
        status = 200
        if "UNAUTHENTICATED" in codes:
            status = 401
            headers = www_authenticate()
        elif request_failed:
            status = request_failed_status(media_type)
        elif no_data and "FORBIDDEN" in codes:
            status = 403
        elif no_data and "INTERNAL_SERVER_ERROR" in codes:
            status = 500
        return JSONResponse(body, status_code=status, headers=headers, media_type=media_type)

    def _format(self, error: GraphQLError) -> dict[str, Any]:
        return format_error(error)


def format_error(error: GraphQLError) -> dict[str, Any]:
    """An error as the client sees it, over HTTP and websockets alike. The schema has
    already masked unexpected errors and given ours their codes
    (schema/error_masking.py); what is left without a code is a request error."""
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    extensions.setdefault("code", _request_error_code(error))
    formatted["extensions"] = extensions
    formatted["message"] = SUGGESTION.sub("", error.message)
    return formatted


def request_failed_status(media_type: str) -> int:
    """A well-formed request whose document does not parse or validate, or whose
    variables do not coerce: 400 with application/graphql-response+json, 200 with
    application/json, as GraphQL over HTTP says (DESIGN §5). Malformed HTTP requests
    (bad JSON, no query) are 400 with either."""
    return 400 if media_type == GRAPHQL_RESPONSE else 200


def _bad_json(
    error: json_input.JSONInputError, path: json_input.Path, accept: str | None
) -> Response:
    """A body or `variables` json_input refused: a string inside a variable is the
    caller's input (BAD_USER_INPUT, naming the variable like graphql-core does), the
    rest is a malformed request (BAD_REQUEST)."""
    if len(path) >= 2 and path[0] == "variables":
        name = json_input.format_path(path[1:])
        message = f"Variable '${name}' {error.problem}"
        status = request_failed_status(negotiate(accept) or JSON)
        return graphql_errors(status, message, "BAD_USER_INPUT", accept=accept)
    message = f"{json_input.format_path(path) or 'Request body'} {error.problem}"
    return graphql_errors(400, message, "BAD_REQUEST", accept=accept)


def _request_error_code(error: GraphQLError) -> str:
    if ENUM_VALUE_ERROR.match(error.message):
        return "BAD_USER_INPUT"  # a literal enum value the type does not have
    if error.message.startswith("Syntax Error: Document contains more than"):
        return "MAX_TOKENS_EXCEEDED"
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$") and (
        "invalid value" in error.message or "was not provided" in error.message
    ):
        return "BAD_USER_INPUT"  # variables that do not coerce to their declared types
    return "GRAPHQL_VALIDATION_FAILED"
