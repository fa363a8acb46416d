"""The schema masks unexpected errors itself (schema/error_masking.py), so executing it
directly answers as /graphql does: the same message, code and log line with the request
id. These tests call `schema.execute` with no HTTP in between."""

import logging

import pytest
from graphql import GraphQLError, GraphQLFormattedError
from starlette.requests import Request

from statusgraph import errors
from statusgraph.auth.principal import RequestInfo
from statusgraph.clock import FrozenClock
from statusgraph.db.engine import SessionFactory
from statusgraph.resolvers import status_pages
from statusgraph.schema import limits, schema
from statusgraph.schema.context import Context
from statusgraph.schema.error_masking import is_unexpected
from statusgraph.schema.limits import QueryLimits
from tests.helpers import PEPPER

PAGE_QUERY = '{ publicStatusPage(slug: "status") { name } }'
REQUEST_ID = "trace-direct"


def direct_context(db: SessionFactory, clock: FrozenClock) -> Context:
    """A context built without the HTTP view, as a test or another transport would."""
    request = Request({"type": "http", "path": "/graphql", "headers": [], "query_string": b""})
    return Context(
        request=request,
        principal=None,
        request_info=RequestInfo(request_id=REQUEST_ID),
        db=db,
        pepper=PEPPER.encode(),
        now=clock(),
        query_limits=QueryLimits(),
    )


async def execute(
    db: SessionFactory, clock: FrozenClock, query: str
) -> list[GraphQLFormattedError]:
    context = direct_context(db, clock)
    try:
        result = await schema.execute(query, context_value=context)
    finally:
        await context.end_read()
    assert all(
        error.original_error is None or isinstance(error.original_error, errors.StatusGraphError)
        for error in result.errors or []
    )
    return [error.formatted for error in result.errors or []]


async def test_a_resolver_that_raises_is_masked_and_logged_with_the_request_id(
    db, clock, monkeypatch, caplog
):
    async def broken(*args, **kwargs):
        raise RuntimeError("connection string postgres://admin:hunter2@db")

    monkeypatch.setattr(status_pages, "readable_page", broken)
    with caplog.at_level(logging.ERROR, logger="statusgraph.graphql"):
        formatted = await execute(db, clock, PAGE_QUERY)
    assert formatted == [
        {
            "message": "Unexpected error.",
            "locations": [{"line": 1, "column": 3}],
            "path": ["publicStatusPage"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert "hunter2" not in str(formatted)
    assert f"unexpected error (request id {REQUEST_ID})" in caplog.text
    assert "hunter2" in caplog.text  # the operator sees the real cause


async def test_an_extension_hook_that_raises_is_masked_too(db, clock, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ValueError("cost table missing: /srv/secret/path")

    monkeypatch.setattr(limits, "analyze", broken)
    with caplog.at_level(logging.ERROR, logger="statusgraph.graphql"):
        formatted = await execute(db, clock, PAGE_QUERY)
    assert formatted == [
        {"message": "Unexpected error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    ]
    assert REQUEST_ID in caplog.text
    assert "/srv/secret/path" in caplog.text


async def test_a_missing_page_is_our_not_found_error_unmasked(db, clock, caplog):
    with caplog.at_level(logging.ERROR, logger="statusgraph.graphql"):
        formatted = await execute(db, clock, PAGE_QUERY)
    assert formatted == [
        {
            "message": "StatusPage not found",
            "locations": [{"line": 1, "column": 3}],
            "path": ["publicStatusPage"],
            "extensions": {"code": "NOT_FOUND"},
        }
    ]
    assert caplog.text == ""


@pytest.mark.parametrize(
    "error_class",
    [
        errors.StatusGraphError,
        *(
            cls
            for cls in vars(errors).values()
            if isinstance(cls, type)
            and issubclass(cls, errors.StatusGraphError)
            and cls is not errors.StatusGraphError
        ),
    ],
    ids=lambda cls: cls.__name__,
)
async def test_each_of_our_error_classes_keeps_its_message_code_and_extensions(
    db, clock, monkeypatch, caplog, error_class
):
    async def refuses(*args, **kwargs):
        raise error_class("A message of ours", limit=3)

    monkeypatch.setattr(status_pages, "readable_page", refuses)
    with caplog.at_level(logging.ERROR, logger="statusgraph.graphql"):
        formatted = await execute(db, clock, PAGE_QUERY)
    assert formatted == [
        {
            "message": "A message of ours",
            "locations": [{"line": 1, "column": 3}],
            "path": ["publicStatusPage"],
            "extensions": {"code": error_class.code, "limit": 3},
        }
    ]
    assert caplog.text == ""


async def test_a_request_error_stays_readable_and_is_not_logged(db, clock, caplog):
    with caplog.at_level(logging.ERROR, logger="statusgraph.graphql"):
        formatted = await execute(db, clock, "{ publicStatusPage(slug: 1) { name } }")
    assert formatted == [
        {
            "message": "String cannot represent a non string value: 1",
            "locations": [{"line": 1, "column": 26}],
        }
    ]
    assert caplog.text == ""


async def test_an_anonymous_context_requires_a_principal_with_unauthenticated(db, clock):
    """Scoped fields narrow `principal` through require_principal (HasScope refuses an
    anonymous caller first); the error is the same one, so it is never masked."""
    context = direct_context(db, clock)
    with pytest.raises(GraphQLError) as raised:
        context.require_principal()
    assert raised.value.message == "Authentication required"
    assert raised.value.extensions == {"code": "UNAUTHENTICATED"}
    assert not is_unexpected(raised.value)
