"""GraphQL documents are bounded before anything executes (DESIGN §6).

Tokens are capped while parsing; depth, aliases, page sizes and cost are measured in
one walk of the operation just before execution, when variables are known (a
validation rule could not see `first: $n`). Introspection fields are free and not
counted, so GraphiQL's deeply nested introspection query keeps working.

Cost: every object field 1, a mutation root field 10, and a connection multiplies
the cost of what it selects by its page size (`first`/`last`, default 20).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    parse,
)
from graphql.execution import ExecutionResult
from strawberry.extensions import SchemaExtension

from statusgraph.resolvers.pagination import DEFAULT_PAGE_SIZE

PARSE_CACHE_SIZE = 1024
MUTATION_COST = 10


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_page_size: int = 100
    max_cost: int = 1000


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_document(query: str, max_tokens: int) -> DocumentNode:
    """Shared by the rate limiter (which must tell queries from mutations) and execution."""
    return parse(query, max_tokens=max_tokens)


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


def is_mutation(query: str, operation_name: str | None, max_tokens: int) -> bool:
    """For the read/write rate-limit split. Unparseable documents count as reads; they
    are rejected later with a proper error."""
    try:
        operation = select_operation(parse_document(query, max_tokens), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation is OperationType.MUTATION


@dataclass
class Analysis:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    largest_page: int = 0
    errors: list[GraphQLError] = field(default_factory=list)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any],
        limits: QueryLimits,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.analysis = Analysis()

    def page_size(self, node: FieldNode) -> int:
        size = DEFAULT_PAGE_SIZE
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int):
                size = value
        self.analysis.largest_page = max(self.analysis.largest_page, size)
        return max(size, 0)

    def walk(self, selections: SelectionSetNode, parent: Any, depth: int, root: bool) -> int:
        cost = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                cost += self.field(selection, parent, depth, root)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                cost += self.walk(selection.selection_set, target, depth, root)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    cost += self.walk(fragment.selection_set, target, depth, root)
        return cost

    def field(self, node: FieldNode, parent: Any, depth: int, root: bool) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        if node.alias is not None:
            self.analysis.aliases += 1
        self.analysis.depth = max(self.analysis.depth, depth)
        if node.selection_set is None or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        multiplier = self.page_size(node) if named.name.endswith("Connection") else 1
        base = MUTATION_COST if root and parent is self.schema.mutation_type else 1
        return base + multiplier * self.walk(node.selection_set, named, depth + 1, False)


def analyze(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    document: DocumentNode,
    variables: dict[str, Any],
    limits: QueryLimits,
) -> Analysis:
    walker = _Walker(schema, document, variables, limits)
    root = schema.get_root_type(operation.operation)
    walker.analysis.cost = walker.walk(operation.selection_set, root, 1, True)
    found = walker.analysis
    if found.depth > limits.max_depth:
        found.errors.append(
            _error(
                f"Query depth {found.depth} exceeds the maximum of {limits.max_depth}",
                "MAX_DEPTH_EXCEEDED",
            )
        )
    if found.aliases > limits.max_aliases:
        found.errors.append(
            _error(
                f"{found.aliases} aliases found; at most {limits.max_aliases} are allowed",
                "MAX_ALIASES_EXCEEDED",
            )
        )
    if found.largest_page > limits.max_page_size:
        found.errors.append(
            _error(
                f"Requesting {found.largest_page} records exceeds the limit of "
                f"{limits.max_page_size}",
                "EXCESSIVE_PAGINATION",
                maxPageSize=limits.max_page_size,
            )
        )
    if found.cost > limits.max_cost:
        found.errors.append(
            _error(
                f"Query cost {found.cost} exceeds the maximum of {limits.max_cost}",
                "MAX_COST_EXCEEDED",
            )
        )
    return found


def _error(message: str, code: str, **extensions: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


class CachedParser(SchemaExtension):
    """Parses through `parse_document`, capping tokens; replaces strawberry's ParserCache
    so the rate limiter's parse of the same document is a cache hit."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        limits: QueryLimits = context.context.query_limits
        if context.query is not None:
            context.graphql_document = parse_document(context.query, limits.max_tokens)
        yield


class QueryLimitsGuard(SchemaExtension):
    """Rejects an over-limit operation before it executes; reports `extensions.cost`."""

    def __init__(self) -> None:
        self.analysis: Analysis | None = None
        self.limits: QueryLimits | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = (
            select_operation(document, context.operation_name) if document is not None else None
        )
        if document is not None and operation is not None and context.result is None:
            self.limits = context.context.query_limits
            self.analysis = analyze(
                context.schema._schema, operation, document, context.variables or {}, self.limits
            )
            if self.analysis.errors:
                context.result = ExecutionResult(data=None, errors=self.analysis.errors)
        yield

    def get_results(self) -> dict[str, Any]:
        if self.analysis is None or self.limits is None:
            return {}
        return {"cost": {"requested": self.analysis.cost, "maximum": self.limits.max_cost}}
