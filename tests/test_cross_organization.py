"""Charlie (org B) tries every ID-taking field on org A's objects: always NOT_FOUND,
exactly like an ID that does not exist, and nothing changes."""

import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLObjectType

from statusgraph.schema import schema
from tests.helpers import gql

# Every root field that takes an ID, with an operation that uses org A's object.
ID_FIELDS = {
    "Query.apiKey": ("query($id: ID!) { apiKey(id: $id) { id } }", "ApiKey not found"),
    "Query.node": ("query($id: ID!) { node(id: $id) { id } }", "Node not found"),
    "Mutation.revokeApiKey": (
        "mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
        "ApiKey not found",
    ),
    "Mutation.rotateApiKey": (
        "mutation($id: ID!) { rotateApiKey(id: $id) { userErrors { code } } }",
        "ApiKey not found",
    ),
}
# ID arguments that filter a list rather than fetch one object: a foreign ID matches nothing.
ID_FILTERS = {"Query.auditLog"}


def _unwrap(type_):
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _takes_an_id(type_, seen=None) -> bool:
    type_ = _unwrap(type_)
    if getattr(type_, "name", None) == "ID":
        return True
    if isinstance(type_, GraphQLInputObjectType):
        return any(_takes_an_id(field.type) for field in type_.fields.values())
    return False


def test_every_id_taking_root_field_is_tried_across_organizations():
    found = set()
    for root in ("Query", "Mutation"):
        graphql_type = schema._schema.get_type(root)
        assert isinstance(graphql_type, GraphQLObjectType)
        for name, field in graphql_type.fields.items():
            if any(_takes_an_id(argument.type) for argument in field.args.values()):
                found.add(f"{root}.{name}")
    assert found == set(ID_FIELDS) | ID_FILTERS


@pytest.mark.parametrize("field", sorted(ID_FIELDS))
async def test_a_foreign_id_is_not_found(client, people, field):
    operation, message = ID_FIELDS[field]
    foreign = await gql(client, operation, {"id": people.bob.key_id}, key=people.charlie.secret)
    missing = await gql(
        client, operation, {"id": "key_doesnotexist000000000"}, key=people.charlie.secret
    )
    for response in (foreign, missing):
        assert response.status_code == 200
        assert response.json()["errors"][0]["message"] == message
        assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    # bob's key is untouched: still active and not rotated.
    check = await gql(
        client,
        "query($id: ID!) { apiKey(id: $id) { status replacedById } }",
        {"id": people.bob.key_id},
        key=people.alice.secret,
    )
    assert check.json()["data"]["apiKey"] == {"status": "ACTIVE", "replacedById": None}


@pytest.mark.parametrize("foreign", ["org", "audit"])
async def test_node_hides_other_organizations_objects(client, people, foreign):
    if foreign == "org":
        target = people.alice.organization.id
    else:
        events = await gql(
            client, "{ auditLog(first: 1) { edges { node { id } } } }", key=people.alice.secret
        )
        target = events.json()["data"]["auditLog"]["edges"][0]["node"]["id"]
    response = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": target},
        key=people.charlie.secret,
    )
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}
    own = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": target}, key=people.alice.secret
    )
    assert own.json()["data"]["node"] == {"id": target}


async def test_audit_log_filtered_by_a_foreign_actor_is_empty(client, people):
    query = "query($a: ID!) { auditLog(filter: {actorId: $a}) { totalCount } }"
    await gql(client, "{ viewer { name } }", key=people.alice.secret)
    response = await gql(client, query, {"a": "key_system"}, key=people.charlie.secret)
    assert response.json()["data"]["auditLog"]["totalCount"] == 0


async def test_lists_never_show_another_organizations_rows(client, people):
    keys = await gql(client, "{ apiKeys { edges { node { name } } } }", key=people.charlie.secret)
    assert [edge["node"]["name"] for edge in keys.json()["data"]["apiKeys"]["edges"]] == ["charlie"]
    events = await gql(
        client, "{ auditLog { edges { node { targetId } } } }", key=people.charlie.secret
    )
    targets = {edge["node"]["targetId"] for edge in events.json()["data"]["auditLog"]["edges"]}
    assert people.alice.key_id not in targets
    assert people.bob.key_id not in targets


async def test_node_answers_anonymous_callers_with_not_found(client, people):
    response = await gql(
        client, "query($id: ID!) { node(id: $id) { id } }", {"id": people.bob.key_id}
    )
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_node_needs_the_scope_of_its_type(client, db, clock, people):
    from tests.helpers import create_key

    narrow = await create_key(db, clock, people.alice.organization, scopes=["incidents:read"])
    response = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": people.bob.key_id},
        key=narrow.secret,
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == "Insufficient scope: api_keys:read required"
    assert response.json()["errors"][0]["extensions"] == {
        "code": "FORBIDDEN",
        "requiredScope": "api_keys:read",
    }
