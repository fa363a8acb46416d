"""What every input string and date-time goes through before a resolver sees it.

`DateTime` replaces Strawberry's scalar of the same name (schema.graphql is unchanged):
Strawberry's keeps a date-time without a zone, which then meets our timezone-aware
values and columns as a TypeError, a 500. Ours refuses it with BAD_USER_INPUT (in a
variable, graphql-core's message names the variable and the path to the field) and
turns an aware one into UTC, the zone every column stores.

String literals in a document are the one way text reaches a resolver without
passing json_input (variables do): StringLiteralsGuard refuses NUL there too.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    StringValueNode,
    ValueNode,
    Visitor,
    print_ast,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.scalar import ScalarDefinition

BAD_USER_INPUT = {"code": "BAD_USER_INPUT"}
NOT_ISO = "DateTime must be an ISO 8601 string, e.g. 2026-03-02T09:00:00Z"
ZONE_REQUIRED = "DateTime must include a time zone (Z or ±hh:mm)"
OUT_OF_RANGE = "DateTime is out of range"
NUL_LITERAL = "String literals must not contain NUL characters"


def _refuse(reason: str) -> GraphQLError:
    # No value in the message: graphql-core's prefix for a variable quotes it already.
    return GraphQLError(reason, extensions=BAD_USER_INPUT)


def parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise _refuse(NOT_ISO)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse(NOT_ISO) from None
    if parsed.utcoffset() is None:
        raise _refuse(ZONE_REQUIRED)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise _refuse(OUT_OF_RANGE) from None


def parse_datetime_literal(node: ValueNode, _variables: Any = None) -> datetime:
    """A literal in the document: the same rules, with the literal's location (a
    variable's errors get graphql-core's prefix naming the variable and the path)."""
    try:
        if not isinstance(node, StringValueNode):
            raise _refuse(NOT_ISO)
        return parse_datetime(node.value)
    except GraphQLError as error:
        message = f"{error.message}, found {print_ast(node)}"
        raise GraphQLError(message, node, extensions=BAD_USER_INPUT) from None


DateTime = ScalarDefinition(
    name="DateTime",
    description="Date with time (isoformat)",
    specified_by_url=None,
    serialize=datetime.isoformat,
    parse_value=parse_datetime,
    parse_literal=parse_datetime_literal,
    origin=datetime,
)
SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DateTime}


class StringLiteralsGuard(SchemaExtension):
    """Refuses `"\\u0000"` in a document's string literals before it executes
    (PostgreSQL text cannot hold it; graphql-core's lexer already refuses lone
    surrogates). Only a document with a `\\u` escape is walked."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.result is None and document is not None and "\\u" in (context.query or ""):
            nodes: list[StringValueNode] = []
            visit(document, _NulStrings(nodes))
            if nodes:
                error = GraphQLError(NUL_LITERAL, nodes, extensions=BAD_USER_INPUT)
                context.result = ExecutionResult(data=None, errors=[error])
        yield


class _NulStrings(Visitor):
    def __init__(self, found: list[StringValueNode]) -> None:
        super().__init__()
        self.found = found

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if "\x00" in node.value:
            self.found.append(node)
