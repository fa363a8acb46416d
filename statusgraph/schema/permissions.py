"""The scope contract, enforced per field and printed in the SDL.

`@requiresScope(scope: "...")` marks a field that needs a scope; `@public` marks one
anonymous callers may use. Every Query and Mutation field carries one of the two
(tests/test_schema_contract.py fails otherwise).
"""

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from statusgraph.errors import AUTHENTICATION_REQUIRED


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="requiresScope",
    repeatable=True,
    description=(
        "The credential must hold this scope (X:write implies X:read; X:* and *:* are wildcards)."
    ),
)
class RequiresScope:
    scope: str


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    name="public",
    description="Anonymous callers may use this field; it returns only what the caller may see.",
)
class Public:
    pass


PUBLIC = Public()


def authentication_required() -> GraphQLError:
    return GraphQLError(AUTHENTICATION_REQUIRED, extensions={"code": "UNAUTHENTICATED"})


class HasScope(BasePermission):
    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.message = f"Insufficient scope: {scope} required"
        self.error_extensions = {"code": "FORBIDDEN", "requiredScope": scope}
        # Per instance, so the printed directive carries this field's scope.
        self._schema_directive = RequiresScope(scope=scope)  # type: ignore[misc]

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        principal = context.principal
        if principal is None:
            raise authentication_required()
        if not principal.can(self.scope):
            return False
        if context.scope_usage is not None:
            context.scope_usage.record(principal, self.scope, context.now)
        return True


def scope_sentence(scope: str) -> str:
    return f"Requires scope: `{scope}`."


class ScopePermissionExtension(PermissionExtension):
    """Also ends the field's description with one `Requires scope: `x:y`.` per scope:
    applied directives are not visible through introspection (only in the SDL), and
    GraphiQL and codegen users should see the contract too (DESIGN §5)."""

    def apply(self, field: StrawberryField) -> None:
        super().apply(field)
        scopes = [d.scope for d in field.directives if isinstance(d, RequiresScope)]
        sentences = [scope_sentence(scope) for scope in scopes]
        # Idempotent: a field shared by several schemas (tests build more than one)
        # gets the sentences once.
        text = field.description or ""
        for sentence in sentences:
            text = text.replace(sentence, "")
        field.description = " ".join([text.strip(), *sentences]).strip()


def requires(scope: str) -> list[FieldExtension]:
    return [ScopePermissionExtension(permissions=[HasScope(scope)])]
