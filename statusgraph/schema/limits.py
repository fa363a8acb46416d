"""GraphQL documents are bounded before anything executes (DESIGN §6).

Tokens are capped while parsing; the number of fields selected once fragments are
expanded is capped before validation (graphql-core's validation costs ~80 µs a field,
and its field-merging rule, replaced by ours, was quadratic); depth, aliases, page
sizes and cost are measured in one walk of the operation just before execution, when
variables are known (a validation rule could not see `first: $n`). Every fragment is
summarised once, wherever and however often it is spread, so analysis is linear in the
document. Introspection fields are free and not counted, so GraphiQL's deeply nested
introspection query keeps working.

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
    specified_rules,
)
from graphql.execution import ExecutionResult
from graphql.validation import OverlappingFieldsCanBeMergedRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document as validate_with_strawberry_rules

from statusgraph.resolvers.pagination import DEFAULT_PAGE_SIZE
from statusgraph.schema.field_merging import FieldMergingRule
from statusgraph.schema.fragments import (
    dependency_order,
    expanded_selections,
    fragment_definitions,
)

PARSE_CACHE_SIZE = 1024
VALIDATION_CACHE_SIZE = 1024
MUTATION_COST = 10


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_page_size: int = 100
    max_cost: int = 1000
    max_selections: int = 1000


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_document(query: str, max_tokens: int) -> DocumentNode:
    """Shared by the rate limiter (which must tell queries from mutations) and execution."""
    return parse(query, max_tokens=max_tokens)


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == name), None)


def mutation_fields(query: str, operation_name: str | None, max_tokens: int) -> int:
    """How many mutations a request runs: its operation's root fields when that is a
    mutation (fragments and inline fragments at the root included), else 0. Each one is
    charged to the write bucket (DESIGN §6), so 15 aliased mutations cost 15. Documents
    that do not parse count as reads; they are refused later with a proper error."""
    try:
        document = parse_document(query, max_tokens)
    except GraphQLError:
        return 0
    operation = select_operation(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return 0
    fragments = fragment_definitions(document)
    count = 0
    seen: set[str] = set()  # a fragment spread twice at the root runs its fields once
    pending = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                count += not selection.name.value.startswith("__")
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)
    return count


@dataclass
class Analysis:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    largest_page: int = 0
    errors: list[GraphQLError] = field(default_factory=list)


@dataclass(slots=True)
class Summary:
    """What one selection set adds up to, relative to where it sits: `depth` counts the
    levels of fields below (1 for a set of leaves). A fragment's summary is made once and
    added wherever it is spread, so nothing is walked twice."""

    cost: int = 0
    depth: int = 0
    aliases: int = 0
    largest_page: int = 0

    def add(self, other: "Summary", *, below: int = 0, times: int = 1) -> None:
        self.cost += other.cost * times
        self.depth = max(self.depth, other.depth + below)
        self.aliases += other.aliases
        self.largest_page = max(self.largest_page, other.largest_page)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = fragment_definitions(document)
        # (fragment name, spread at the mutation root) -> its summary
        self.summaries: dict[tuple[str, bool], Summary] = {}
        for name in dependency_order(self.fragments):
            fragment = self.fragments[name]
            target = self.schema.get_type(fragment.type_condition.name.value)
            for root in (False, True):
                self.summaries[name, root] = self.walk(fragment.selection_set, target, root)

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
        return size

    def walk(self, selections: SelectionSetNode, parent: Any, root: bool) -> Summary:
        summary = Summary()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, root, summary)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                summary.add(self.walk(selection.selection_set, target, root))
            elif isinstance(selection, FragmentSpreadNode):
                # Missing only for an undefined fragment or one closing a cycle, both
                # refused by validation before this runs.
                spread = self.summaries.get((selection.name.value, root))
                if spread is not None:
                    summary.add(spread)
        return summary

    def field(self, node: FieldNode, parent: Any, root: bool, summary: Summary) -> None:
        name = node.name.value
        if name.startswith("__"):
            return  # introspection is free, and GraphiQL's own query is deep
        if node.alias is not None:
            summary.aliases += 1
        summary.depth = max(summary.depth, 1)
        if node.selection_set is None or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return
        definition = parent.fields.get(name)
        if definition is None:
            return
        named = get_named_type(definition.type)
        multiplier = 1
        if named.name.endswith("Connection"):
            size = self.page_size(node)
            summary.largest_page = max(summary.largest_page, size)
            multiplier = max(size, 0)
        summary.cost += MUTATION_COST if root and parent is self.schema.mutation_type else 1
        summary.add(self.walk(node.selection_set, named, False), below=1, times=multiplier)


def analyze(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    document: DocumentNode,
    variables: dict[str, Any],
    limits: QueryLimits,
) -> Analysis:
    walker = _Walker(schema, document, variables)
    root = schema.get_root_type(operation.operation)
    summary = walker.walk(operation.selection_set, root, True)
    found = Analysis(
        depth=summary.depth,
        aliases=summary.aliases,
        cost=summary.cost,
        largest_page=summary.largest_page,
    )
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


# graphql-core's rules, with its quadratic field-merging rule swapped for ours.
VALIDATION_RULES = tuple(
    FieldMergingRule if rule is OverlappingFieldsCanBeMergedRule else rule
    for rule in specified_rules
)


@lru_cache(maxsize=VALIDATION_CACHE_SIZE)
def validate_document(
    schema: GraphQLSchema, document: DocumentNode, max_selections: int
) -> list[GraphQLError]:
    """Counts the expanded selections first (linear, with each fragment counted once):
    a document over the bound is refused before graphql-core's rules visit it."""
    selections = expanded_selections(document)
    if selections > max_selections:
        return [
            _error(
                f"The document selects {selections} fields once fragments are expanded;"
                f" at most {max_selections} are allowed",
                "MAX_SELECTIONS_EXCEEDED",
            )
        ]
    return validate_with_strawberry_rules(schema, document, VALIDATION_RULES)


class BoundedValidation(SchemaExtension):
    """Replaces strawberry's ValidationCache: the same cache, behind the selection bound,
    with our linear field-merging rule (strawberry adds its own two rules, as before).
    Setting `pre_execution_errors` is how strawberry's extensions say validation ran."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        limits: QueryLimits = context.context.query_limits
        if context.graphql_document is not None:
            context.pre_execution_errors = validate_document(
                context.schema._schema, context.graphql_document, limits.max_selections
            )
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
