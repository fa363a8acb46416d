"""The spec's "field selection merging" rule in time linear in the expanded document.

graphql-core's OverlappingFieldsCanBeMergedRule compares every pair of fields that share
a response name, and again for every pair of their sub-selections: quadratic. A ~5 KB
document repeating `viewer { name }` a few hundred times passes every other limit and
took it 0.5 to 2 s (DESIGN §6). This rule gives the same verdict by grouping instead of
pairing, after "Overlapping fields can be merged fast" (Adameit), as graphql-java and
Sangria do:

- SameResponseShape is an equivalence (lists, non-null wrappers and leaf types must
  match; any two composite types are alike), so every field of a group is compared with
  the first only, and the sub-fields of the whole group are checked as one set.
- Fields whose parents may be the same object (the same object type, or an interface
  or union) must have the same name and arguments. Fields are split by parent object
  type, each part joined by the fields of abstract parents; within a part, equality
  with the first field is equality with all. Parts are checked, and their sub-fields
  merged, separately: fields under different object types never meet.

A group with one field is still descended into, so conflicts deeper in one field's
selection are found too. Each operation is checked from its root with fragments
expanded once per place they are spread; the expanded size is bounded before validation
(`max_selections`). The fields of abstract parents join every part, so a document can
make the same sub-fields meet again and again (one nested under an interface next to k
object types, d levels deep, is k^d parts): a set of fields already checked is not
checked twice, and a work budget proportional to the document refuses what is left.
Messages follow graphql-core's, and so does what it compares: the meta field
`__typename` has no type to conflict, and input objects compare whatever the order of
their fields.
"""

from collections.abc import Hashable
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    ValueNode,
    get_named_type,
    is_composite_type,
    is_interface_type,
    is_leaf_type,
    is_object_type,
    print_ast,
)
from graphql.language import VisitorAction
from graphql.language.visitor import SKIP

from statusgraph.schema.fragments import (
    expanded_size,
    fragment_definitions,
    fragment_sizes,
    has_cycle,
)

ADVICE = "Use different aliases on the fields to fetch both if this was intentional."
TOO_COMPLEX = "The document is too complex to check that its fields can be merged."
# Fields checked allowed per field the operation selects once expanded: a document
# without abstract parents needs one per check (each field is checked once for names
# and once for shapes); only fields under interfaces next to many object types, nested
# deep, come near it.
WORK_PER_FIELD = 8
MIN_WORK = 2000


class FieldRef(NamedTuple):
    parent: GraphQLNamedType | None
    node: FieldNode
    definition: GraphQLField | None


class Conflict(Exception):
    """The first conflict of a group: where to report it, why, and the fields involved."""

    def __init__(self, response_name: str, reason: str, nodes: list[FieldNode]) -> None:
        super().__init__(reason)
        self.response_name = response_name
        self.reason = reason
        self.nodes = nodes


class FieldMergingRule(ValidationRule):
    """Drop-in replacement for graphql-core's OverlappingFieldsCanBeMergedRule."""

    def enter_document(self, node: DocumentNode, *_args: Any) -> None:
        # Once per document, not per operation: a document of many operations would
        # otherwise walk every fragment once for each of them.
        self.fragments = fragment_definitions(node)
        self.cyclic = has_cycle(self.fragments)
        self.fragment_sizes = fragment_sizes(self.fragments)

    def enter_operation_definition(
        self, node: OperationDefinitionNode, *_args: Any
    ) -> VisitorAction:
        schema = self.context.schema
        root = schema.get_root_type(node.operation)
        if root is None:
            return SKIP
        if self.cyclic:
            return SKIP  # NoFragmentCyclesRule refuses it; expanding it would not end
        size = expanded_size(node.selection_set, self.fragment_sizes)
        merger = _Merger(schema, self.fragments, max(MIN_WORK, WORK_PER_FIELD * size))
        for response_name, group in merger.collect([(root, node.selection_set)]).items():
            try:
                merger.check(response_name, group)
            except OutOfWork:
                self.report_error(GraphQLError(TOO_COMPLEX, node))
                return SKIP
            except Conflict as conflict:
                self.report_error(
                    GraphQLError(
                        f"Fields '{conflict.response_name}' conflict because {conflict.reason}."
                        f" {ADVICE}",
                        conflict.nodes,
                    )
                )
        # Unused fragments are not checked on their own: NoUnusedFragmentsRule already
        # refuses the document, and checking each fragment as a root would re-expand
        # every fragment it spreads (quadratic in a chain).
        return SKIP


class OutOfWork(Exception):
    pass


class _Merger:
    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], budget: int
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.budget = budget
        # Sets of fields already checked, by check: the same set met again (through
        # another part) has the same answer.
        self.shapes_checked: set[frozenset[int]] = set()
        self.parents_checked: set[frozenset[int]] = set()

    def spend(self, group: list[FieldRef], checked: set[frozenset[int]]) -> bool:
        """False when this set of fields was checked already; charges the budget."""
        key = frozenset(id(ref.node) for ref in group)
        if key in checked:
            return False
        checked.add(key)
        self.budget -= len(group)
        if self.budget < 0:
            raise OutOfWork
        return True

    def collect(
        self, sets: list[tuple[GraphQLNamedType | None, SelectionSetNode]]
    ) -> dict[str, list[FieldRef]]:
        """The fields the given selection sets contribute at one response level, by
        response name; inline fragments and spreads are flattened (each fragment once
        per call, as graphql-core does)."""
        grouped: dict[str, list[FieldRef]] = {}
        seen: set[str] = set()
        pending = list(reversed(sets))
        while pending:
            parent, selection_set = pending.pop()
            later: list[tuple[GraphQLNamedType | None, SelectionSetNode]] = []
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    name = (selection.alias or selection.name).value
                    ref = FieldRef(parent, selection, self._definition(parent, selection))
                    grouped.setdefault(name, []).append(ref)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    target = self._type(condition.name.value) if condition else parent
                    later.append((target, selection.selection_set))
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is not None and fragment.name.value not in seen:
                        seen.add(fragment.name.value)
                        target = self._type(fragment.type_condition.name.value)
                        later.append((target, fragment.selection_set))
            pending.extend(reversed(later))
        return grouped

    def check(self, name: str, group: list[FieldRef]) -> None:
        # Names and arguments first, then shapes: graphql-core's order, and so its message
        # when a pair breaks both rules.
        self._same_for_common_parents(name, group)
        self._same_shape(name, group)

    def _same_shape(self, name: str, group: list[FieldRef]) -> None:
        """Across the whole group, whatever the parents: the response must have one shape."""
        if not self.spend(group, self.shapes_checked):
            return
        self._same_shape_here(name, group)
        for sub_name, subgroup in self._sub_fields(group).items():
            try:
                self._same_shape(sub_name, subgroup)
            except Conflict as conflict:
                raise _nested(name, conflict, group) from None

    def _same_for_common_parents(self, name: str, group: list[FieldRef]) -> None:
        if not self.spend(group, self.parents_checked):
            return
        abstract = [ref for ref in group if not is_object_type(ref.parent)]
        by_object: dict[str, list[FieldRef]] = {}
        for ref in group:
            if is_object_type(ref.parent):
                assert isinstance(ref.parent, GraphQLObjectType)
                by_object.setdefault(ref.parent.name, []).append(ref)
        parts = [abstract + fields for fields in by_object.values()] or [abstract]
        for part in parts:
            first = part[0]
            for other in part[1:]:
                if other.node.name.value != first.node.name.value:
                    raise Conflict(
                        name,
                        f"'{first.node.name.value}' and '{other.node.name.value}'"
                        " are different fields",
                        [first.node, other.node],
                    )
                if _arguments(other.node) != _arguments(first.node):
                    raise Conflict(name, "they have differing arguments", [first.node, other.node])
            self._same_shape_here(name, part)
            for sub_name, subgroup in self._sub_fields(part).items():
                try:
                    self._same_for_common_parents(sub_name, subgroup)
                except Conflict as conflict:
                    raise _nested(name, conflict, part) from None

    def _same_shape_here(self, name: str, group: list[FieldRef]) -> None:
        """Only this level's types (the sub-fields' are checked by _same_shape)."""
        first = group[0]
        for other in group[1:]:
            if first.definition is None or other.definition is None:
                continue  # unknown fields are reported by FieldsOnCorrectTypeRule
            if _types_conflict(first.definition.type, other.definition.type):
                raise Conflict(
                    name,
                    f"they return conflicting types '{first.definition.type}'"
                    f" and '{other.definition.type}'",
                    [first.node, other.node],
                )

    def _sub_fields(self, group: list[FieldRef]) -> dict[str, list[FieldRef]]:
        sets = [
            (_named(ref), ref.node.selection_set)
            for ref in group
            if ref.node.selection_set is not None
        ]
        return self.collect(sets) if sets else {}

    def _definition(self, parent: GraphQLNamedType | None, node: FieldNode) -> GraphQLField | None:
        """As graphql-core's rule: none for meta fields (`__typename` conflicts with no
        type) and for fields the parent does not have."""
        name = node.name.value
        if is_object_type(parent) or is_interface_type(parent):
            fields: dict[str, GraphQLField] = parent.fields
            return fields.get(name)
        return None

    def _type(self, name: str) -> GraphQLNamedType | None:
        found = self.schema.get_type(name)
        return found if is_composite_type(found) else None


def _named(ref: FieldRef) -> GraphQLNamedType | None:
    return get_named_type(ref.definition.type) if ref.definition is not None else None


def _nested(name: str, conflict: Conflict, group: list[FieldRef]) -> Conflict:
    """A conflict among sub-fields, as seen from their parents: reported at the parents'
    response name when the parents are several fields merged, as graphql-core does, and
    unchanged when they are one field (the conflict is inside that field's selection)."""
    if len({id(ref.node) for ref in group}) < 2:
        return conflict
    reason = f"subfields '{conflict.response_name}' conflict because {conflict.reason}"
    return Conflict(name, reason, [ref.node for ref in group[:2]] + conflict.nodes)


def _arguments(node: FieldNode) -> frozenset[tuple[str, Hashable]]:
    return frozenset(
        (argument.name.value, _value(argument.value)) for argument in node.arguments or ()
    )


def _value(node: ValueNode) -> Hashable:
    """A value to compare: input objects are equal whatever the order of their fields."""
    if isinstance(node, ObjectValueNode):
        return frozenset((field.name.value, _value(field.value)) for field in node.fields)
    if isinstance(node, ListValueNode):
        return tuple(_value(item) for item in node.values)
    return print_ast(node)


def _types_conflict(first: GraphQLOutputType, second: GraphQLOutputType) -> bool:
    """graphql-core's do_types_conflict: wrappers must match, leaf types must be equal."""
    while True:
        if isinstance(first, GraphQLList) or isinstance(second, GraphQLList):
            if not (isinstance(first, GraphQLList) and isinstance(second, GraphQLList)):
                return True
        elif isinstance(first, GraphQLNonNull) or isinstance(second, GraphQLNonNull):
            if not (isinstance(first, GraphQLNonNull) and isinstance(second, GraphQLNonNull)):
                return True
        else:
            if is_leaf_type(first) or is_leaf_type(second):
                return first is not second
            return False
        first, second = first.of_type, second.of_type
