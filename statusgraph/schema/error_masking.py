"""Unexpected exceptions are masked by the schema itself, whichever transport runs it.

Our expected errors (`StatusGraphError` subclasses) reach the client with their message,
`extensions.code` and extra extensions. Anything else that fails while an operation runs
(a resolver bug, a lost database connection, an extension hook that raises) reaches the
client as "Unexpected error." with `INTERNAL_SERVER_ERROR`, and its details go to our log,
tied to the request id. Doing this in a schema extension rather than in the HTTP view
means `schema.execute` answers the same over HTTP, over a websocket and in tests.
"""

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from statusgraph.errors import StatusGraphError
from statusgraph.schema.context import Context

logger = logging.getLogger("statusgraph.graphql")

UNEXPECTED = "Unexpected error."
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

# Strawberry raises these out of `execute` for the transport to answer (HTTP: 400, 405);
# they say what is wrong with the request and reveal nothing of ours.
REQUEST_REFUSALS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


def is_unexpected(error: GraphQLError) -> bool:
    """An exception that is not a GraphQLError (nor ours), or an error at a field's path
    without a code (graphql-core's own, such as a non-null field that resolved to null):
    both are bugs of ours. Errors without a path are the request's: parse and validation
    errors, which must stay readable."""
    original = error.original_error
    if isinstance(original, StatusGraphError):
        return False
    if original is not None and not isinstance(original, GraphQLError):
        return True
    return error.path is not None and not (error.extensions or {}).get("code")


class MaskUnexpectedErrors(SchemaExtension):
    """Registered first, so its `on_operation` ends last and sees every other
    extension's errors too."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except REQUEST_REFUSALS:
            raise
        except Exception as exc:
            # A hook of another extension raised: strawberry would answer with the
            # exception's own text, so what it receives instead is the public error.
            error = (
                exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            )
            public = self.public(error)
            if public is exc:
                raise
            raise public from exc
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [self.public(error) for error in result.errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each message of a subscription, masked like an HTTP answer (on_operation
        sees only the end of a stream)."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [self.public(error) for error in errors]
        yield

    def public(self, error: GraphQLError) -> GraphQLError:
        """What the client may see of `error`."""
        original = error.original_error
        if isinstance(original, StatusGraphError):
            return GraphQLError(
                original.message,
                error.nodes,
                error.source,
                error.positions,
                error.path,
                original,
                extensions={"code": original.code, **original.extensions},
            )
        if not is_unexpected(error):
            return error
        cause = original or error
        logger.error(
            "unexpected error (request id %s): %s",
            self._request_id(),
            error.message,
            exc_info=(type(cause), cause, cause.__traceback__),
        )
        # No original_error: nothing downstream can reveal it by accident.
        return GraphQLError(
            UNEXPECTED,
            error.nodes,
            error.source,
            error.positions,
            error.path,
            extensions={"code": INTERNAL_SERVER_ERROR},
        )

    def _request_id(self) -> str | None:
        context = self.execution_context.context
        return context.request_info.request_id if isinstance(context, Context) else None
