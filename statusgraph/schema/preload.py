"""Reads whose cost is their data: the root loads, nested fields only hand it out.

A root field (`services`, `incidents`, `publicStatusPage`, ...) looks at what its
selection asks for (`selection_paths`), runs those SELECTs one after the other in the
request's read session, and gives every object its share. Nested fields are then plain
synchronous functions over that, so graphql-core completes a list of fifty objects
without fifty tasks, DataLoader batches scheduled through the event loop, or awaits.
The pattern, with a worked example, is in docs/development.md ("Reads: load at the root,
hand out below").

An object can also be made where nothing was preloaded: a mutation's payload, `node(id)`.
Its nested fields then fall back to the request's DataLoaders (`preloaded_or`), which are
as correct and cost one batch per kind of object; that is where DataLoaders still pay.
"""

import enum
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from statusgraph.schema.context import Info

Value = TypeVar("Value")


class NotLoaded(enum.Enum):
    """What a preloaded slot holds when the root did not load it (None may be a value)."""

    NOT_LOADED = "not loaded"


NOT_LOADED = NotLoaded.NOT_LOADED


def preloaded_or(
    value: Value | NotLoaded, fallback: Callable[[], Awaitable[Value]]
) -> Value | Awaitable[Value]:
    """The preloaded value, or an awaitable that loads it. A synchronous resolver may
    return either: graphql-core awaits what is awaitable and completes the rest at once."""
    if value is NOT_LOADED:
        return fallback()
    return value


Selection = SelectedField | FragmentSpread | InlineFragment


def selection_paths(info: Info) -> frozenset[str]:
    """Every field selected under the current one, as dotted paths of schema names
    (aliases and fragments resolved): `{ edges { node { id } } }` gives
    {"edges", "edges.node", "edges.node.id"}."""
    paths: set[str] = set()

    def walk(selections: Iterable[Selection], prefix: str) -> None:
        for selection in selections:
            if isinstance(selection, SelectedField):
                path = f"{prefix}{selection.name}"
                paths.add(path)
                walk(selection.selections, path + ".")
            else:
                walk(selection.selections, prefix)

    for field in info.selected_fields:
        walk(field.selections, "")
    return frozenset(paths)


def under(paths: frozenset[str], prefix: str) -> frozenset[str]:
    """The paths below `prefix`, relative to it; empty when `prefix` is not selected."""
    start = prefix + "."
    return frozenset(path[len(start) :] for path in paths if path.startswith(start))
