"""Relay plumbing: the Node interface, keyset connections and page arguments."""

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry

from statusgraph.resolvers.pagination import Page, PageArgs
from statusgraph.schema.context import Info
from statusgraph.schema.preload import selection_paths

Item = TypeVar("Item")
Row = TypeVar("Row")


@strawberry.interface(description="An object with an opaque, type-prefixed ID.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Item]):
    cursor: str
    node: Item


@strawberry.type
class Connection(Generic[Item]):
    edges: list[Edge[Item]]
    page_info: PageInfo
    total_count: int = strawberry.field(
        description="Number of items across all pages (counted only when selected)."
    )

    @classmethod
    def of(cls, page: Page[Row], convert: Callable[[Row], Item]) -> "Connection[Item]":
        return cls.over(page, [convert(row) for row in page.rows])

    @classmethod
    def over(cls, page: Page[Row], nodes: list[Item]) -> "Connection[Item]":
        """The page with `nodes`, made from its rows in order (schema/preload.py)."""
        return cls(
            edges=[
                Edge(cursor=cursor, node=node)
                for cursor, node in zip(page.cursors, nodes, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            # Never read unless selected, and then counted (see selects()).
            total_count=page.total_count if page.total_count is not None else 0,
        )


def page_args(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageArgs:
    return PageArgs(first=first, after=after, last=last, before=before)


def selects(info: Info, name: str) -> bool:
    """Whether the current field's selection asks for `name` (through fragments too)."""
    return name in selection_paths(info)
