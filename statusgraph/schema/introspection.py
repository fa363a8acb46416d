"""Introspection is for authenticated callers only (DESIGN §6)."""

from collections.abc import Iterator

from graphql import ExecutionResult, FieldNode, OperationDefinitionNode, SelectionSetNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from statusgraph.schema.permissions import authentication_required

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


class _FindIntrospection(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        if node.name.value in INTROSPECTION_FIELDS:
            self.found = True


def asks_for_introspection(selection_set: SelectionSetNode | OperationDefinitionNode) -> bool:
    finder = _FindIntrospection()
    visit(selection_set, finder)
    return finder.found


class AnonymousIntrospectionGuard(SchemaExtension):
    """Refuses `__schema` / `__type` without a credential, before anything executes.

    A validation rule cannot do this: the validation cache is shared by every caller,
    and this decision depends on who is asking.
    """

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        anonymous = getattr(context.context, "principal", None) is None
        if (
            anonymous
            and document is not None
            and any(asks_for_introspection(node) for node in document.definitions)  # type: ignore[arg-type]
        ):
            context.result = ExecutionResult(data=None, errors=[authentication_required()])
        yield
