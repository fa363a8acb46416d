"""Analysis before execution is linear (DESIGN §6): fragments are summarised once, the
expanded selections are bounded before validation, our field-merging rule gives
graphql-core's verdicts without its quadratic pairing, and the generated worst cases
stay far inside a generous time bound."""

import inspect
import time

import httpx
import pytest
from graphql import OverlappingFieldsCanBeMergedRule, parse, specified_rules, validate
from sqlmodel import func, select
from strawberry.schema.schema import validate_document as strawberry_validate_document

from bench.adversarial import DOCUMENTS, doubling_fragments, nested_abstract, repeated_field, tokens
from statusgraph.config import PlanLimits
from statusgraph.db.models import Service
from statusgraph.schema import field_merging, schema
from statusgraph.schema.field_merging import FieldMergingRule
from statusgraph.schema.fragments import expanded_selections
from statusgraph.schema.limits import (
    VALIDATION_RULES,
    QueryLimits,
    analyze,
    mutation_fields,
    parse_document,
    select_operation,
    validate_document,
)
from tests.helpers import gql

GENEROUS_SECONDS = 1.0


def refused(response: httpx.Response, code: str, message: str) -> None:
    assert response.status_code == 200, response.text  # a request error, under application/json
    body = response.json()
    assert "data" not in body
    assert body["errors"] == [{"message": message, "extensions": {"code": code}}]


class TestWorstCases:
    @pytest.mark.parametrize("name", list(DOCUMENTS))
    async def test_each_adversarial_document_is_answered_within_a_second_and_never_500(
        self, client, name
    ):
        query = DOCUMENTS[name]()
        assert tokens(query) <= 2000
        # Emptied, as a new alias would: documents differing only in a comment are equal.
        parse_document.cache_clear()
        validate_document.cache_clear()
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": query})
        elapsed = time.perf_counter() - started
        assert response.status_code < 500, response.text
        assert elapsed < GENEROUS_SECONDS, f"{name}: {elapsed:.2f} s"

    async def test_a_fragment_expanding_to_two_to_the_fortieth_fields_is_refused_before_validation(
        self, client
    ):
        response = await client.post("/graphql", json={"query": doubling_fragments(40)})
        refused(
            response,
            "MAX_SELECTIONS_EXCEEDED",
            "The document selects 2147483649 fields once fragments are expanded;"
            " at most 1000 are allowed",
        )


class TestSelectionBound:
    async def test_the_default_is_one_thousand(self, settings):
        assert settings.graphql_max_selections == 1000
        assert QueryLimits().max_selections == 1000

    async def test_at_the_bound_the_document_runs_and_one_more_field_is_refused(
        self, app_with, people
    ):
        _, client = await app_with(graphql_max_selections=10)
        at_bound = repeated_field(5)  # 5 x (viewer + name)
        response = await gql(client, at_bound, key=people.alice.secret)
        assert response.status_code == 200, response.text
        assert response.json()["data"] == {"viewer": {"name": "alice"}}
        over = "{ viewer { name } " + " ".join(["viewer { name }"] * 4) + " __typename }"
        refused(
            await gql(client, over, key=people.alice.secret),
            "MAX_SELECTIONS_EXCEEDED",
            "The document selects 11 fields once fragments are expanded; at most 10 are allowed",
        )

    def test_fragments_count_once_per_spread_and_each_is_walked_once(self):
        document = parse(
            "{ viewer { ...A ...A organization { ...B } } } "
            "fragment A on Viewer { name ...B2 } fragment B2 on Viewer { organization { id } } "
            "fragment B on Organization { id name }"
        )
        # viewer 1 + A (name 1 + B2 (organization 1 + id 1)) x 2 + organization 1 + B 2
        assert expanded_selections(document) == 1 + 2 * 3 + 1 + 2

    def test_a_fragment_cycle_counts_nothing_for_the_spread_that_closes_it(self):
        document = parse("{ viewer { ...A } } fragment A on Viewer { name ...A }")
        assert expanded_selections(document) == 2

    def test_a_chain_longer_than_the_recursion_limit_is_counted(self):
        length = 3000
        chain = " ".join(f"fragment C{i} on Viewer {{ name ...C{i + 1} }}" for i in range(length))
        document = parse(
            f"{{ viewer {{ ...C0 }} }} {chain} fragment C{length} on Viewer {{ name }}"
        )
        assert expanded_selections(document) == 1 + length + 1


class TestCost:
    def test_a_fragment_spread_inside_a_connection_is_multiplied_by_the_page_size(self):
        document = parse(
            "{ apiKeys(first: 7) { ...Page } } "
            "fragment Page on ApiKeyConnection { edges { node { id createdBy { label } } } }"
        )
        operation = select_operation(document, None)
        assert operation is not None
        found = analyze(schema._schema, operation, document, {}, QueryLimits())
        # apiKeys 1 + 7 x (edges 1 + node 1 + createdBy 1)
        assert (found.cost, found.depth, found.largest_page) == (1 + 7 * 3, 5, 7)

    def test_doubling_fragments_cost_what_their_expansion_costs(self):
        # F_k = F_(k-1) twice + two organization fields: cost(F_k) = 2 cost(F_(k-1)) + 2.
        document = parse(doubling_fragments(30))
        operation = select_operation(document, None)
        assert operation is not None
        started = time.perf_counter()
        found = analyze(schema._schema, operation, document, {}, QueryLimits())
        assert time.perf_counter() - started < 0.1
        assert found.cost == 1 + (2**31 - 2)
        assert found.aliases == 2**30 - 1
        assert {(error.extensions or {}).get("code") for error in found.errors} == {
            "MAX_ALIASES_EXCEEDED",
            "MAX_COST_EXCEEDED",
        }

    def test_root_mutation_fields_in_a_fragment_cost_ten_each(self):
        document = parse(
            "mutation { ...M } fragment M on Mutation { "
            'a: revokeApiKey(id: "k") { userErrors { code } } '
            'b: revokeApiKey(id: "l") { userErrors { code } } }'
        )
        operation = select_operation(document, None)
        assert operation is not None
        found = analyze(schema._schema, operation, document, {}, QueryLimits())
        assert found.cost == 2 * (10 + 1)


CORPUS = [
    "{ viewer { name } viewer { name } }",
    "{ viewer { name } viewer { n: name } }",
    "{ viewer { a: name a: organization { id } } }",
    '{ a: viewer { name } a: publicStatusPage(slug: "x") { name } }',
    '{ publicStatusPage(slug: "x") { name } publicStatusPage(slug: "y") { name } }',
    "query($s: String!) { publicStatusPage(slug: $s) { name } publicStatusPage(slug: $s) { name } }",
    "query($s: String!, $t: String!) { publicStatusPage(slug: $s) { name } publicStatusPage(slug: $t) { name } }",
    '{ node(id: "a") { ... on Service { x: name } ... on Incident { x: title } } }',
    '{ node(id: "a") { ... on Service { x: name } ... on Incident { x: id } } }',
    '{ node(id: "a") { id ... on Service { id: name } } }',
    '{ node(id: "a") { ... on Service { id } ... on Service { id: name } } }',
    "{ viewer { ...A } viewer { ...B } } fragment A on Viewer { name } fragment B on Viewer { name: id }",
    "{ viewer { ...A ...A } } fragment A on Viewer { name }",
    "{ viewer { organization { name } } viewer { organization { name: id } } }",
    '{ node(id: "a") { ... on Service { status } ... on Incident { status } } }',
    '{ node(id: "a") { ... on Service { s: status } ... on Incident { s: impact } } }',
    "{ services { edges { node { id } } } services(first: 2) { edges { node { id } } } }",
    "{ services(first: 2) { edges { node { id } } } services(first: 2) { edges { node { name } } } }",
    "{ __typename __typename viewer { __typename t: __typename } }",
    "{ viewer { name } ... on Query { viewer { name: id } } }",
    "{ x: __typename x: viewer { name } }",
    '{ node(id: "a") { ... on Service { n: name } } node(id: "a") { ... on Incident { n: title } } }',
    '{ node(id: "a") { ... on Service { n: name } } node(id: "b") { ... on Incident { n: title } } }',
    "{ viewer { organization { ...O } } viewer { organization { ...P } } } "
    "fragment O on Organization { x: name } fragment P on Organization { x: slug }",
    'mutation { a: revokeApiKey(id: "k") { userErrors { code } } a: revokeApiKey(id: "k") { userErrors { code } } }',
    'mutation { a: revokeApiKey(id: "k") { userErrors { code } } a: revokeApiKey(id: "l") { userErrors { code } } }',
    # __typename has no type to conflict with, in graphql-core's rule as in ours.
    '{ node(id: "x") { ... on Service { x: __typename } ... on Monitor { x: id } } }',
    '{ node(id: "x") { ... on Service { x: __typename } ... on Monitor { x: paused } } }',
    # Input objects are equal whatever the order of their fields.
    'mutation { a: createService(input: {name: "x", description: "y"}) { __typename } a: createService(input: {description: "y", name: "x"}) { __typename } }',
    'mutation { a: createService(input: {name: "x", description: "y"}) { __typename } a: createService(input: {description: "z", name: "x"}) { __typename } }',
    # A cycle is NoFragmentCyclesRule's to report; the merging check must not loop.
    "{ ...F } fragment F on Query { viewer { ...G } } fragment G on Viewer { organization { id } }",
]


class TestFieldMerging:
    @pytest.mark.parametrize("query", CORPUS)
    def test_it_gives_graphql_cores_verdict_and_message(self, query):
        document = parse(query)
        theirs = validate(schema._schema, document, [OverlappingFieldsCanBeMergedRule])
        ours = validate(schema._schema, document, [FieldMergingRule])
        assert bool(ours) == bool(theirs)
        if len(theirs) == 1:
            assert [error.message for error in ours] == [theirs[0].message]

    def test_a_fragment_cycle_through_a_field_is_left_to_the_cycle_rule(self):
        document = parse("{ ...F } fragment F on Query { viewer { ...F } }")
        assert validate(schema._schema, document, [FieldMergingRule]) == []

    def test_fields_meeting_again_through_many_object_types_are_checked_once(self):
        # 12 object types next to an interface, 9 levels deep: 12^9 parts for a naive
        # grouping; each set of fields is checked once, within a budget.
        document = parse(nested_abstract(9))
        started = time.perf_counter()
        errors = validate(schema._schema, document, [FieldMergingRule])
        assert time.perf_counter() - started < 0.5
        assert [error.message for error in errors] == []

    def test_work_past_the_budget_is_refused_with_a_clear_message(self, monkeypatch):
        monkeypatch.setattr(field_merging, "MIN_WORK", 10)
        monkeypatch.setattr(field_merging, "WORK_PER_FIELD", 1)
        document = parse(nested_abstract(3))
        errors = validate(schema._schema, document, [FieldMergingRule])
        assert [error.message for error in errors] == [field_merging.TOO_COMPLEX]

    def test_it_replaces_graphql_cores_rule_and_keeps_every_other(self):
        assert OverlappingFieldsCanBeMergedRule not in VALIDATION_RULES
        assert FieldMergingRule in VALIDATION_RULES
        assert len(VALIDATION_RULES) == len(specified_rules)

    def test_strawberrys_validation_entry_point_is_what_we_call(self):
        # BoundedValidation calls strawberry's own validate_document (which adds its
        # rules for @oneOf and Maybe) in place of its ValidationCache: fail loudly if
        # that function's shape changes.
        assert list(inspect.signature(strawberry_validate_document).parameters) == [
            "schema",
            "document",
            "validation_rules",
        ]

    def test_merging_time_grows_linearly_with_repeated_fields(self):
        def seconds(count: int) -> float:
            document = parse(repeated_field(count))
            started = time.perf_counter()
            assert validate(schema._schema, document, [FieldMergingRule]) == []
            return time.perf_counter() - started

        seconds(50)  # warm up
        small, large = min(seconds(100) for _ in range(3)), min(seconds(800) for _ in range(3))
        # 8x the fields: ~8x the time when linear, ~64x when quadratic.
        assert large < small * 24, (small, large)


class TestMutationsAreChargedPerRootField:
    def test_root_fields_are_counted_through_fragments_and_inline_fragments(self):
        query = (
            'mutation { a: revokeApiKey(id: "1") { userErrors { code } } ...M '
            '... on Mutation { c: revokeApiKey(id: "3") { userErrors { code } } } __typename } '
            'fragment M on Mutation { b: revokeApiKey(id: "2") { userErrors { code } } }'
        )
        assert mutation_fields(query, None, 2000) == 3
        assert mutation_fields("{ viewer { name } }", None, 2000) == 0
        assert mutation_fields("mutation {", None, 2000) == 0

    async def test_fifteen_aliased_mutations_cost_fifteen_and_are_refused_whole_when_unpaid(
        self, app_with, people, db
    ):
        _, client = await app_with(
            rate_limit_plans={"enterprise": PlanLimits(read="100/minute", write="20/minute")}
        )
        creations = " ".join(
            f'c{i}: createService(input: {{name: "s{i}"}}) {{ service {{ id }} }}'
            for i in range(15)
        )
        first = await gql(client, f"mutation {{ {creations} }}", key=people.alice.secret)
        assert first.status_code == 200, first.text
        assert first.headers["x-ratelimit-limit"] == "20"
        assert first.headers["x-ratelimit-remaining"] == "5"
        second = await gql(client, f"mutation {{ {creations} }}", key=people.alice.secret)
        assert second.status_code == 429
        assert second.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        async with db() as session:
            count = (await session.exec(select(func.count()).select_from(Service))).one()
        assert count == 15
