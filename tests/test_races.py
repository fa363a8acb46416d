"""Concurrent mutations on one object resolve as if they ran one after another:
credentials (API keys, beacon keys, viewer tokens), services and service groups.

The other mutations' races are in test_races_status.py and test_races_monitors.py.
"""

from typing import TypeVar

from sqlmodel import col, select

from statusgraph.db.engine import SessionFactory
from statusgraph.db.models import ApiKey, BeaconKey, Service, ServiceGroup, StatusPageViewerToken
from tests.races import (
    N,
    audit_entries,
    burst,
    burst_mixed,
    not_found,
    one_wins,
    outcomes,
    user_error,
)
from tests.status_api import create_page, create_service, mutate

REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id status } userErrors { field code message } } }"
ROTATE = "mutation($id: ID!) { rotateApiKey(id: $id, overlapSeconds: 60) { secret apiKey { id } previousApiKey { replacedById } userErrors { field code message } } }"
REVOKE_BEACON = "mutation($id: ID!) { revokeBeaconKey(id: $id) { beaconKey { id } userErrors { field code message } } }"
UPDATE_BEACON = "mutation($id: ID!, $name: String!) { updateBeaconKey(id: $id, input: {name: $name}) { beaconKey { name } userErrors { field code message } } }"
CREATE_BEACON = 'mutation { createBeaconKey(name: "web", allowedOrigins: []) { beaconKey { id } userErrors { field code message } } }'
TOKEN = 'mutation($p: ID!) { createStatusPageViewerToken(pageId: $p, name: "partners") { viewerToken { id } userErrors { field code message } } }'
REVOKE_TOKEN = "mutation($id: ID!) { revokeStatusPageViewerToken(id: $id) { viewerToken { id } userErrors { field code message } } }"
DELETE_SERVICE = (
    "mutation($id: ID!) { deleteService(id: $id) { deletedId userErrors { field code message } } }"
)
CREATE_SERVICE = "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id } userErrors { field code message } } }"
CREATE_GROUP = "mutation($name: String!) { createServiceGroup(name: $name) { serviceGroup { id position } userErrors { field code message } } }"
DELETE_GROUP = "mutation($id: ID!) { deleteServiceGroup(id: $id) { deletedId userErrors { field code message } } }"
UPDATE_SERVICE = "mutation($id: ID!, $name: String!) { updateService(id: $id, input: {name: $name}) { service { id } userErrors { field code message } } }"
MOVE_SERVICE = "mutation($id: ID!, $group: ID) { updateService(id: $id, input: {groupId: $group}) { service { id } userErrors { field code message } } }"
UPDATE_GROUP = "mutation($id: ID!, $name: String!) { updateServiceGroup(id: $id, name: $name) { serviceGroup { id } userErrors { field code message } } }"
REORDER = "mutation($ids: [ID!]!) { reorderServices(serviceIds: $ids) { services { id } userErrors { field code message } } }"


Positioned = TypeVar("Positioned", Service, ServiceGroup)


async def positions(db: SessionFactory, model: type[Positioned]) -> list[tuple[int, str]]:
    async with db() as session:
        rows = (await session.exec(select(model).order_by(col(model.position)))).all()
    return [(row.position, row.id) for row in rows]


class TestApiKeys:
    async def test_concurrent_revocations_revoke_once_and_audit_once(self, client, db, people):
        bodies = await burst(
            client, db, people.alice.secret, REVOKE, [{"id": people.bob.key_id}] * N
        )
        won = one_wins(
            bodies,
            "revokeApiKey",
            user_error("id", "ALREADY_REVOKED", "API key is already revoked"),
        )
        assert won["apiKey"] == {"id": people.bob.key_id, "status": "REVOKED"}
        assert await audit_entries(db, "api_key.revoked", people.bob.key_id) == 1

    async def test_concurrent_rotations_make_one_successor(self, client, db, people):
        bodies = await burst(
            client, db, people.alice.secret, ROTATE, [{"id": people.bob.key_id}] * N
        )
        won = one_wins(
            bodies,
            "rotateApiKey",
            user_error("id", "ALREADY_ROTATED", "API key has already been rotated"),
        )
        assert won["previousApiKey"]["replacedById"] == won["apiKey"]["id"]
        async with db() as session:
            named_bob = (await session.exec(select(ApiKey.id).where(ApiKey.name == "bob"))).all()
        assert sorted(named_bob) == sorted([people.bob.key_id, won["apiKey"]["id"]])
        assert await audit_entries(db, "api_key.rotated", people.bob.key_id) == 1

    async def test_rotations_racing_revocations_answer_as_in_some_order(self, client, db, people):
        calls = [(ROTATE, {"id": people.bob.key_id}), (REVOKE, {"id": people.bob.key_id})] * (
            N // 2
        )
        bodies = await burst_mixed(client, db, people.alice.secret, calls)
        answers = [(document, body) for (document, _), body in zip(calls, bodies, strict=True)]
        rotated, not_rotated = outcomes([b for d, b in answers if d is ROTATE], "rotateApiKey")
        revoked, not_revoked = outcomes([b for d, b in answers if d is REVOKE], "revokeApiKey")
        assert len(revoked) == 1
        assert not_revoked == [
            user_error("id", "ALREADY_REVOKED", "API key is already revoked")
        ] * (N // 2 - 1)
        # At most one rotation, and only before the revocation; later ones find the key
        # rotated or revoked.
        assert len(rotated) <= 1
        for answer in not_rotated:
            assert answer in (
                user_error("id", "ALREADY_ROTATED", "API key has already been rotated"),
                user_error("id", "REVOKED", "A revoked API key cannot be rotated"),
            )
        assert await audit_entries(db, "api_key.rotated", people.bob.key_id) == len(rotated)
        assert await audit_entries(db, "api_key.revoked", people.bob.key_id) == 1


class TestBeaconKeys:
    async def test_concurrent_revocations_revoke_once(self, client, db, people):
        key = (await mutate(client, people.alice.secret, CREATE_BEACON, {}, "createBeaconKey"))[
            "beaconKey"
        ]["id"]
        bodies = await burst(client, db, people.alice.secret, REVOKE_BEACON, [{"id": key}] * N)
        one_wins(
            bodies,
            "revokeBeaconKey",
            user_error("id", "ALREADY_REVOKED", "Beacon key is already revoked"),
        )
        assert await audit_entries(db, "beacon_key.revoked", key) == 1

    async def test_concurrent_updates_all_apply_and_each_is_audited(self, client, db, people):
        key = (await mutate(client, people.alice.secret, CREATE_BEACON, {}, "createBeaconKey"))[
            "beaconKey"
        ]["id"]
        names = [{"id": key, "name": f"web {i}"} for i in range(N)]
        won, lost = outcomes(
            await burst(client, db, people.alice.secret, UPDATE_BEACON, names), "updateBeaconKey"
        )
        assert (len(won), lost) == (N, [])
        assert await audit_entries(db, "beacon_key.updated", key) == N
        async with db() as session:
            assert (await session.get(BeaconKey, key)).name in {each["name"] for each in names}


class TestViewerTokens:
    async def test_concurrent_revocations_revoke_once(self, client, db, people):
        page = await create_page(
            client, people.alice.secret, "partners", statusPageVisibility="PRIVATE"
        )
        minted = await mutate(
            client, people.alice.secret, TOKEN, {"p": page}, "createStatusPageViewerToken"
        )
        token = minted["viewerToken"]["id"]
        bodies = await burst(client, db, people.alice.secret, REVOKE_TOKEN, [{"id": token}] * N)
        one_wins(
            bodies,
            "revokeStatusPageViewerToken",
            user_error("id", "ALREADY_REVOKED", "Viewer token is already revoked"),
        )
        assert await audit_entries(db, "status_page.viewer_token_revoked", token) == 1
        async with db() as session:
            assert (await session.get(StatusPageViewerToken, token)).revoked_at is not None


class TestServices:
    async def test_concurrent_deletes_delete_once(self, client, db, people):
        service = await create_service(client, people.alice.secret, "API")
        bodies = await burst(client, db, people.alice.secret, DELETE_SERVICE, [{"id": service}] * N)
        assert one_wins(bodies, "deleteService", not_found("Service"))["deletedId"] == service
        assert await audit_entries(db, "service.deleted", service) == 1

    async def test_concurrent_updates_all_apply_and_each_is_audited(self, client, db, people):
        service = await create_service(client, people.alice.secret, "API")
        names = [{"id": service, "name": f"API {i}"} for i in range(N)]
        won, lost = outcomes(
            await burst(client, db, people.alice.secret, UPDATE_SERVICE, names), "updateService"
        )
        assert (len(won), lost) == (N, [])
        assert await audit_entries(db, "service.updated", service) == N

    async def test_concurrent_creates_take_distinct_positions(self, client, db, people):
        names = [{"i": {"name": f"svc {i}"}} for i in range(N)]
        won, lost = outcomes(
            await burst(client, db, people.alice.secret, CREATE_SERVICE, names), "createService"
        )
        assert (len(won), lost) == (N, [])
        assert [position for position, _ in await positions(db, Service)] == list(range(N))
        assert await audit_entries(db, "service.created") == N

    async def test_concurrent_reorders_leave_one_of_the_orders_asked_for(self, client, db, people):
        ids = [await create_service(client, people.alice.secret, f"svc {i}") for i in range(4)]
        orders = [ids[i:] + ids[:i] for i in range(4)] * (N // 4)
        won, lost = outcomes(
            await burst(client, db, people.alice.secret, REORDER, [{"ids": o} for o in orders]),
            "reorderServices",
        )
        assert (len(won), lost) == (N, [])
        final = await positions(db, Service)
        assert [position for position, _ in final] == [0, 1, 2, 3]
        assert [service_id for _, service_id in final] in orders

    async def test_creates_racing_reorders_still_take_distinct_positions(self, client, db, people):
        ids = [await create_service(client, people.alice.secret, f"svc {i}") for i in range(3)]
        creates = [(CREATE_SERVICE, {"i": {"name": f"new {i}"}}) for i in range(N // 2)]
        reorders = [(REORDER, {"ids": list(reversed(ids))})] * (N // 2)
        bodies = await burst_mixed(client, db, people.alice.secret, creates + reorders)
        assert all("errors" not in body for body in bodies)
        assert [position for position, _ in await positions(db, Service)] == list(range(3 + N // 2))


class TestServiceGroups:
    async def test_concurrent_creates_take_distinct_positions(self, client, db, people):
        names = [{"name": f"group {i}"} for i in range(N)]
        won, lost = outcomes(
            await burst(client, db, people.alice.secret, CREATE_GROUP, names), "createServiceGroup"
        )
        assert (len(won), lost) == (N, [])
        assert sorted(payload["serviceGroup"]["position"] for payload in won) == list(range(N))
        assert [position for position, _ in await positions(db, ServiceGroup)] == list(range(N))
        assert await audit_entries(db, "service_group.created") == N

    async def test_concurrent_deletes_delete_once(self, client, db, people):
        created = await mutate(
            client, people.alice.secret, CREATE_GROUP, {"name": "Core"}, "createServiceGroup"
        )
        group = created["serviceGroup"]["id"]
        bodies = await burst(client, db, people.alice.secret, DELETE_GROUP, [{"id": group}] * N)
        one_wins(bodies, "deleteServiceGroup", not_found("ServiceGroup"))
        assert await audit_entries(db, "service_group.deleted", group) == 1

    async def test_concurrent_updates_all_apply_and_each_is_audited(self, client, db, people):
        created = await mutate(
            client, people.alice.secret, CREATE_GROUP, {"name": "Core"}, "createServiceGroup"
        )
        group = created["serviceGroup"]["id"]
        names = [{"id": group, "name": f"Core {i}"} for i in range(N)]
        won, lost = outcomes(
            await burst(client, db, people.alice.secret, UPDATE_GROUP, names), "updateServiceGroup"
        )
        assert (len(won), lost) == (N, [])
        assert await audit_entries(db, "service_group.updated", group) == N

    async def test_reordering_services_while_their_group_is_deleted_never_deadlocks(
        self, client, db, people
    ):
        # reorderServices locks the organization, then every service by id; the group's
        # delete (ON DELETE SET NULL) updates its services in scan order. Both take the
        # organization's lock first, so they cannot hold one service each and wait.
        key = people.alice.secret
        group = (await mutate(client, key, CREATE_GROUP, {"name": "Core"}, "createServiceGroup"))[
            "serviceGroup"
        ]["id"]
        services = [await create_service(client, key, f"S{i}", groupId=group) for i in range(4)]
        calls = [(REORDER, {"ids": list(reversed(services))}), (DELETE_GROUP, {"id": group})]
        bodies = await burst_mixed(client, db, key, calls * (N // 2))
        answers = list(zip(calls * (N // 2), bodies, strict=True))
        reorders = [body for (document, _), body in answers if document is REORDER]
        won, lost = outcomes(reorders, "reorderServices")
        assert lost == []
        assert [payload["services"] for payload in won] == [
            [{"id": service} for service in reversed(services)]
        ] * (N // 2)
        one_wins(
            [body for (document, _), body in answers if document is DELETE_GROUP],
            "deleteServiceGroup",
            not_found("ServiceGroup"),
        )

    async def test_moving_a_service_into_a_group_being_deleted_never_deadlocks(
        self, client, db, people
    ):
        # deleteServiceGroup locks the group, then (ON DELETE SET NULL) its services;
        # updateService takes the same order, so neither waits for the other in a cycle.
        key = people.alice.secret
        group = (await mutate(client, key, CREATE_GROUP, {"name": "Core"}, "createServiceGroup"))[
            "serviceGroup"
        ]["id"]
        service = await create_service(client, key, "API", groupId=group)
        calls = [(MOVE_SERVICE, {"id": service, "group": group}), (DELETE_GROUP, {"id": group})]
        bodies = await burst_mixed(client, db, key, calls * (N // 2))
        answers = [
            (document, body) for (document, _), body in zip(calls * (N // 2), bodies, strict=True)
        ]
        moves = outcomes([b for d, b in answers if d is MOVE_SERVICE], "updateService")[1]
        assert all(
            lost == user_error("groupId", "NOT_FOUND", f"ServiceGroup not found: {group}")
            for lost in moves
        )
        one_wins(
            [b for d, b in answers if d is DELETE_GROUP],
            "deleteServiceGroup",
            not_found("ServiceGroup"),
        )
