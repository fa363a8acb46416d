"""The schema's own contract: scopes declared on every root field, schema.graphql in
sync, and an audit entry for every mutation."""

from pathlib import Path

import pytest
from sqlmodel import select

from statusgraph.db.models import AuditEvent
from statusgraph.schema import schema
from statusgraph.schema.permissions import Public, RequiresScope
from tests.helpers import gql

ROOT = Path(__file__).resolve().parents[1]


def root_fields(name):
    definition = schema.get_type_by_name(name)
    return {
        schema.config.name_converter.get_graphql_name(field): field for field in definition.fields
    }


def declared(field):
    directives = list(field.directives)
    for extension in field.extensions:
        for permission in getattr(extension, "permissions", []):
            directives.append(permission.schema_directive)
    return directives


@pytest.mark.parametrize("root", ["Query", "Mutation"])
def test_every_root_field_declares_a_scope_or_public(root):
    for name, field in root_fields(root).items():
        marks = [d for d in declared(field) if isinstance(d, RequiresScope | Public)]
        assert marks, f"{root}.{name} has neither @requiresScope nor @public"


def test_the_sdl_prints_the_scope_of_each_guarded_field():
    sdl = str(schema)
    assert (
        'createApiKey(input: CreateApiKeyInput!): CreateApiKeyPayload! @requiresScope(scope: "api_keys:write")'
        in sdl
    )
    assert "viewer: Viewer @public" in sdl


def test_schema_graphql_is_up_to_date():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == str(schema) + "\n", "run `make schema` and commit schema.graphql"


def test_field_suggestions_are_off():
    assert schema.config.disable_field_suggestions is True


# One sample call per mutation, run by alice; a new mutation without a sample fails below.
def _samples(people):
    return {
        "createApiKey": (
            'mutation { createApiKey(input: {name: "n", scopes: ["incidents:read"]}) { userErrors { code } } }',
            {},
            "api_key.created",
        ),
        "rotateApiKey": (
            "mutation($id: ID!) { rotateApiKey(id: $id) { userErrors { code } } }",
            {"id": people.bob.key_id},
            "api_key.rotated",
        ),
        "revokeApiKey": (
            "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
            {"id": people.bob.key_id},
            "api_key.revoked",
        ),
    }


async def test_every_mutation_writes_an_audit_entry(client, db, people):
    samples = _samples(people)
    assert set(samples) == set(root_fields("Mutation")), "add a sample for the new mutation"
    for name, (operation, variables, action) in samples.items():
        async with db() as session:
            before = {event.id for event in (await session.exec(select(AuditEvent))).all()}
        response = await gql(
            client, operation, variables, key=people.alice.secret, headers={"X-Request-ID": name}
        )
        assert response.json()["data"][name]["userErrors"] == [], name
        async with db() as session:
            added = [
                e for e in (await session.exec(select(AuditEvent))).all() if e.id not in before
            ]
        assert [(e.action, e.actor_id, e.request_id) for e in added] == [
            (action, people.alice.key_id, name)
        ]
