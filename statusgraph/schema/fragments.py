"""Fragments walked once each: the order to summarise them in, and the expanded size.

A document can spread a fragment many times, and fragments can spread each other, so
anything that re-walks a fragment at every spread grows exponentially with nesting (an
871-character document once kept the event loop busy 1.4 s). Everything here visits each
definition once and combines per-fragment summaries instead (DESIGN §6, "Analysis is
linear"). Loops are explicit rather than recursive across spreads: a chain of a few
hundred fragments fits in 2,000 tokens and would exhaust Python's recursion limit.
"""

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

SIZE_CAP = 1 << 31


def fragment_definitions(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """By name; of two definitions with one name (invalid), the first wins."""
    found: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            found.setdefault(definition.name.value, definition)
    return found


def spreads_in(selection_set: SelectionSetNode) -> Iterator[str]:
    """Names of the fragments spread anywhere inside, at any depth, with repeats."""
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                pending.append(selection.selection_set)


def dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Every fragment after the fragments it spreads (a spread of an undefined fragment,
    and the edge that closes a cycle, are left out: validation reports both)."""
    return _visit(fragments)[0]


def has_cycle(fragments: dict[str, FragmentDefinitionNode]) -> bool:
    return _visit(fragments)[1]


def _visit(fragments: dict[str, FragmentDefinitionNode]) -> tuple[list[str], bool]:
    cyclic = False
    order: list[str] = []
    state: dict[str, bool] = {}  # False while being visited, True once placed
    for start in fragments:
        if start in state:
            continue
        state[start] = False
        stack = [(start, iter(list(spreads_in(fragments[start].selection_set))))]
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[name] = True
                order.append(name)
            elif child in fragments and child not in state:
                state[child] = False
                stack.append((child, iter(list(spreads_in(fragments[child].selection_set)))))
            elif state.get(child) is False:
                cyclic = True  # a spread of a fragment still being visited: a cycle
    return order, cyclic


def expanded_selections(document: DocumentNode) -> int:
    """How many fields the document's operations select once every fragment spread is
    replaced by its fragment: what validation and execution would walk."""
    fragments = fragment_definitions(document)
    sizes = fragment_sizes(fragments)
    return sum(
        _size(definition.selection_set, sizes)
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    )


def expanded_size(selection_set: SelectionSetNode, fragment_sizes: dict[str, int]) -> int:
    """The fields of one selection set, fragments expanded (their sizes from
    `fragment_sizes`)."""
    return _size(selection_set, fragment_sizes)


def fragment_sizes(fragments: dict[str, FragmentDefinitionNode]) -> dict[str, int]:
    """The expanded size of every fragment, each counted once."""
    sizes: dict[str, int] = {}
    for name in dependency_order(fragments):
        # Capped: nested spreads multiply, and only "over the limit" matters.
        sizes[name] = min(_size(fragments[name].selection_set, sizes), SIZE_CAP)
    return sizes


def _size(selection_set: SelectionSetNode, sizes: dict[str, int]) -> int:
    total = 0
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                total += 1
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += sizes.get(selection.name.value, 0)
    return total
