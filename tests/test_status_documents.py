"""A status page's feeds, badges and Statuspage-compatible JSON (pages/documents.py),
their visibility, and HTTP caching of everything under /status/ (pages/caching.py)."""

import asyncio
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.helpers import StatementCounter, gql
from tests.status_api import create_incident, create_page, create_service, create_window, mutate

ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"
NASTY = "<script>alert(1)</script> & \"onmouseover='x'"
TOKEN = 'mutation($p: ID!) { createStatusPageViewerToken(pageId: $p, name: "partners") { token userErrors { code } } }'
UPDATE = 'mutation($id: ID!) { postIncidentUpdate(id: $id, input: {status: MONITORING, message: "fix <b>deployed</b>"}) { userErrors { code } } }'


def parse(body: bytes) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314  (the app's own output, in a test)


RESOLVE = "mutation($id: ID!) { resolveIncident(id: $id) { userErrors { code } } }"
DOCUMENTS = [
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
]


async def a_page(
    client: httpx.AsyncClient, key: str, clock: Any, slug: str = "acme", **fields: Any
) -> dict[str, str]:
    group = await mutate(
        client,
        key,
        'mutation { createServiceGroup(name: "Core") { serviceGroup { id } userErrors { code } } }',
        {},
        "createServiceGroup",
    )
    api = await create_service(client, key, NASTY, groupId=group["serviceGroup"]["id"])
    web = await create_service(client, key, "Web")
    page = await create_page(client, key, slug, serviceIds=[api, web], **fields)
    open_one = await create_incident(
        client, key, f"API down {NASTY}", [(api, "MAJOR_OUTAGE")], impact="MAJOR"
    )
    clock.advance(minutes=5)
    await gql(client, UPDATE, {"id": open_one}, key=key)
    old = await create_incident(client, key, "Web slow", [(web, "DEGRADED_PERFORMANCE")])
    await gql(client, RESOLVE, {"id": old}, key=key)
    now = clock()
    window = await create_window(
        client,
        key,
        "Upgrade",
        (now + timedelta(days=1)).isoformat(),
        (now + timedelta(days=1, hours=1)).isoformat(),
        [web],
    )
    return {
        "api": api,
        "web": web,
        "page": page,
        "open": open_one,
        "old": old,
        "window": window,
        "group": group["serviceGroup"]["id"],
    }


class TestFeeds:
    async def test_the_atom_feed_lists_incidents_and_maintenance_escaped(
        self, client, clock, people
    ):
        made = await a_page(client, people.alice.secret, clock)
        response = await client.get("/status/acme/feed.atom")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
        feed = parse(response.content)
        assert feed.tag == f"{ATOM}feed"
        assert feed.findtext(f"{ATOM}title") == "Acme status"
        entries = feed.findall(f"{ATOM}entry")
        ids = [entry.findtext(f"{ATOM}id") for entry in entries]
        base = "http://127.0.0.1:8000/status/acme"
        assert f"{base}/incidents/{made['open']}" in ids
        assert f"{base}/incidents/{made['old']}" in ids
        assert f"{base}#maintenance-{made['window']}" in ids
        assert len(ids) == len(set(ids)) == 3
        [open_entry] = [
            e for e in entries if (e.findtext(f"{ATOM}id") or "").endswith(made["open"])
        ]
        assert open_entry.findtext(f"{ATOM}title") == f"API down {NASTY} (monitoring, major impact)"
        content = open_entry.findtext(f"{ATOM}content") or ""
        assert "Monitoring: fix <b>deployed</b>" in content  # text, escaped on the wire
        assert b"<b>deployed" not in response.content
        assert b"<script>" not in response.content
        for entry in entries:
            assert (entry.findtext(f"{ATOM}updated") or "").endswith("Z")

    async def test_the_rss_feed_carries_the_same_items(self, client, clock, people):
        made = await a_page(client, people.alice.secret, clock)
        response = await client.get("/status/acme/feed.rss")
        assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
        rss = parse(response.content)
        assert rss.tag == "rss"
        assert rss.get("version") == "2.0"
        items = rss.findall("channel/item")
        guids = {item.findtext("guid") for item in items}
        assert len(items) == 3
        assert any((guid or "").endswith(made["open"]) for guid in guids)
        for item in items:
            assert (item.findtext("pubDate") or "").endswith("GMT")


class TestBadges:
    async def test_the_overall_badge_is_valid_svg_with_the_status(self, client, clock, people):
        await a_page(client, people.alice.secret, clock, name=NASTY)
        response = await client.get("/status/acme/badge.svg")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/svg+xml; charset=utf-8"
        svg = parse(response.content)
        assert svg.tag == f"{SVG}svg"
        texts = [t.text for t in svg.iter(f"{SVG}text")]
        assert NASTY in texts
        assert "major outage" in texts
        assert b"<script>" not in response.content

    async def test_a_service_badge_and_its_shields_endpoint(self, client, clock, people):
        made = await a_page(client, people.alice.secret, clock)
        svg = await client.get(f"/status/acme/services/{made['web']}/badge.svg")
        assert "operational" in [t.text for t in parse(svg.content).iter(f"{SVG}text")]
        endpoint = await client.get(f"/status/acme/services/{made['api']}/badge.json")
        assert endpoint.json() == {
            "schemaVersion": 1,
            "label": NASTY,
            "message": "major outage",
            "color": "red",
        }
        overall = await client.get("/status/acme/badge.json")
        assert overall.json()["label"] == "Acme"

    async def test_a_service_not_on_the_page_has_no_badge(self, client, clock, people):
        await a_page(client, people.alice.secret, clock)
        elsewhere = await create_service(client, people.alice.secret, "Elsewhere")
        theirs = await create_service(client, people.charlie.secret, "Theirs")
        for service in (elsewhere, theirs, "svc_nope"):
            response = await client.get(f"/status/acme/services/{service}/badge.svg")
            assert response.status_code == 404
            assert response.text == "Not Found"


def shape(value: Any) -> Any:
    """Keys and value types: what the documented shapes are compared by."""
    if isinstance(value, dict):
        return {key: shape(each) for key, each in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


STAMP = "str"
PAGE = {"id": "str", "name": "str", "url": "str", "time_zone": "str", "updated_at": STAMP}
COMPONENT = {
    "id": "str", "name": "str", "status": "str", "created_at": STAMP, "updated_at": STAMP,
    "position": "int", "description": "NoneType", "showcase": "bool", "start_date": "NoneType",
    "group_id": "str", "page_id": "str", "group": "bool", "only_show_if_degraded": "bool",
}  # fmt: skip
UPDATE_SHAPE = {
    "id": "str", "status": "str", "body": "str", "incident_id": "str", "created_at": STAMP,
    "updated_at": STAMP, "display_at": STAMP, "affected_components": "NoneType",
}  # fmt: skip
INCIDENT_KEYS = {
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
    "shortlink", "started_at", "page_id", "incident_updates", "components",
}  # fmt: skip
MAINTENANCE_KEYS = INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}


class TestStatuspageJSON:
    async def test_every_document_has_statuspage_s_shape(self, client, clock, people):
        made = await a_page(client, people.alice.secret, clock)
        docs = {}
        for name in DOCUMENTS:
            response = await client.get(f"/status/acme/api/v2/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == "application/json"
            assert response.headers["access-control-allow-origin"] == "*"
            docs[name] = response.json()
            assert shape(docs[name]["page"]) == PAGE
            assert docs[name]["page"]["time_zone"] == "Etc/UTC"
        assert docs["status.json"]["status"] == {
            "indicator": "critical",
            "description": "Major Service Outage",
        }
        summary = docs["summary.json"]
        assert set(summary) == {
            "page",
            "status",
            "components",
            "incidents",
            "scheduled_maintenances",
        }
        components = {c["id"]: c for c in docs["components.json"]["components"]}
        assert shape(components[made["api"]]) == COMPONENT
        assert components[made["api"]]["status"] == "major_outage"
        assert components[made["web"]]["status"] == "operational"
        assert components[made["web"]]["group_id"] is None
        group = components[made["group"]]
        assert group["group"] is True
        assert group["components"] == [made["api"]]
        assert group["status"] == "major_outage"
        incidents = {i["id"]: i for i in docs["incidents.json"]["incidents"]}
        assert set(incidents) == {made["open"], made["old"]}
        for each in incidents.values():
            assert set(each) == INCIDENT_KEYS
            assert each["impact"] in {"none", "minor", "major", "critical"}
            assert each["status"] in {
                "investigating",
                "identified",
                "monitoring",
                "resolved",
                "postmortem",
            }
            for update in each["incident_updates"]:
                assert shape(update) == UPDATE_SHAPE
        now_open = incidents[made["open"]]
        assert now_open["status"] == "monitoring"
        assert now_open["impact"] == "major"
        assert isinstance(now_open["monitoring_at"], str)
        assert now_open["resolved_at"] is None
        assert [u["status"] for u in now_open["incident_updates"]] == [
            "monitoring",
            "investigating",
        ]
        assert now_open["components"][0]["id"] == made["api"]
        assert incidents[made["old"]]["status"] == "resolved"
        assert isinstance(incidents[made["old"]]["resolved_at"], str)
        unresolved = docs["incidents/unresolved.json"]["incidents"]
        assert [i["id"] for i in unresolved] == [made["open"]]
        assert summary["incidents"] == unresolved
        [window] = docs["scheduled-maintenances.json"]["scheduled_maintenances"]
        assert set(window) == MAINTENANCE_KEYS
        assert window["status"] == "scheduled"
        assert window["impact"] == "maintenance"
        assert window["scheduled_for"] < window["scheduled_until"]
        assert docs["scheduled-maintenances/upcoming.json"]["scheduled_maintenances"] == [window]
        assert docs["scheduled-maintenances/active.json"]["scheduled_maintenances"] == []

    async def test_an_unknown_document_is_a_json_404(self, client, clock, people):
        await a_page(client, people.alice.secret, clock)
        for path in ("nope.json", "../status.json", "incidents/zzz.json", ""):
            response = await client.get(f"/status/acme/api/v2/{path}")
            assert response.status_code == 404

    async def test_an_empty_page_is_operational(self, client, people):
        await create_page(client, people.alice.secret, "empty")
        status = (await client.get("/status/empty/api/v2/status.json")).json()["status"]
        assert status == {"indicator": "none", "description": "All Systems Operational"}


PATHS = ["feed.atom", "feed.rss", "badge.svg", "badge.json", "api/v2/summary.json"]


class TestVisibility:
    async def test_an_internal_page_answers_exactly_like_a_missing_one(self, client, people):
        await create_page(client, people.alice.secret, "inside", statusPageVisibility="INTERNAL")
        for path in PATHS:
            inside = await client.get(f"/status/inside/{path}")
            missing = await client.get(f"/status/nowhere/{path}")
            assert inside.status_code == missing.status_code == 404
            assert inside.content == missing.content
            assert inside.headers["content-type"] == missing.headers["content-type"]
        # The organization's own key reads it.
        mine = await client.get(
            "/status/inside/api/v2/status.json", headers={"X-API-Key": people.alice.secret}
        )
        assert mine.status_code == 200
        theirs = await client.get(
            "/status/inside/api/v2/status.json", headers={"X-API-Key": people.charlie.secret}
        )
        assert theirs.status_code == 404

    async def test_a_private_page_needs_its_viewer_token(self, client, people):
        key = people.alice.secret
        page = await create_page(client, key, "partners", statusPageVisibility="PRIVATE")
        other = await create_page(client, key, "other", statusPageVisibility="PRIVATE")
        token = (await mutate(client, key, TOKEN, {"p": page}, "createStatusPageViewerToken"))[
            "token"
        ]
        foreign = (await mutate(client, key, TOKEN, {"p": other}, "createStatusPageViewerToken"))[
            "token"
        ]
        for path in PATHS:
            assert (await client.get(f"/status/partners/{path}")).status_code == 404
            for headers in (
                {"Authorization": f"Bearer {token}"},
                {"X-Status-Page-Token": token},
                {"Cookie": f"statusgraph_viewer={token}"},
            ):
                response = await client.get(f"/status/partners/{path}", headers=headers)
                assert response.status_code == 200, (path, headers)
                assert response.headers["cache-control"] == "private, no-store"
                assert "access-control-allow-origin" not in response.headers
            for wrong in (foreign, token[:-1] + "x"):
                refused = await client.get(
                    f"/status/partners/{path}", headers={"Authorization": f"Bearer {wrong}"}
                )
                assert refused.status_code == 404

    async def test_a_viewer_token_as_bearer_elsewhere_is_still_an_invalid_key(self, client, people):
        key = people.alice.secret
        page = await create_page(client, key, "partners", statusPageVisibility="PRIVATE")
        token = (await mutate(client, key, TOKEN, {"p": page}, "createStatusPageViewerToken"))[
            "token"
        ]
        response = await gql(client, "{ __typename }", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401

    async def test_a_revoked_token_closes_the_cached_page(self, client, people):
        key = people.alice.secret
        page = await create_page(client, key, "partners", statusPageVisibility="PRIVATE")
        minted = await gql(
            client,
            'mutation($p: ID!) { createStatusPageViewerToken(pageId: $p, name: "x") { token viewerToken { id } } }',
            {"p": page},
            key=key,
        )
        created = minted.json()["data"]["createStatusPageViewerToken"]
        headers = {"Authorization": f"Bearer {created['token']}"}
        assert (await client.get("/status/partners/badge.json", headers=headers)).status_code == 200
        revoked = await gql(
            client,
            "mutation($id: ID!) { revokeStatusPageViewerToken(id: $id) { userErrors { code } } }",
            {"id": created["viewerToken"]["id"]},
            key=key,
        )
        assert "errors" not in revoked.json(), revoked.json()
        assert (await client.get("/status/partners/badge.json", headers=headers)).status_code == 404


class TestCaching:
    @pytest.mark.parametrize(
        "path", ["", "/history", "/feed.atom", "/badge.svg", "/api/v2/summary.json"]
    )
    async def test_etag_and_304_with_public_cache_control(self, client, clock, people, path):
        made = await a_page(client, people.alice.secret, clock, showIncidentHistory=True)
        first = await client.get(f"/status/acme{path}")
        assert first.status_code == 200
        assert first.headers["cache-control"] == "public, max-age=5"
        tag = first.headers["etag"]
        assert tag.startswith('"')
        again = await client.get(f"/status/acme{path}", headers={"If-None-Match": tag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == tag
        await gql(client, RESOLVE, {"id": made["open"]}, key=people.alice.secret)
        changed = await client.get(f"/status/acme{path}", headers={"If-None-Match": tag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != tag

    async def test_gzip_when_accepted_with_its_own_tag(self, client, clock, people):
        await a_page(client, people.alice.secret, clock)
        plain = await client.get("/status/acme", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.headers["vary"].endswith(", Accept-Encoding")
        for asked in ("gzip", "gzip, deflate, br", "br;q=1, *;q=0.5"):
            zipped = await client.get("/status/acme", headers={"Accept-Encoding": asked})
            assert zipped.headers["content-encoding"] == "gzip"
            assert zipped.content == plain.content  # httpx decoded it
            assert int(zipped.headers["content-length"]) < len(plain.content) / 3
            assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
            assert (
                zipped.headers["content-security-policy"]
                == (plain.headers["content-security-policy"])
            )
        refused = await client.get("/status/acme", headers={"Accept-Encoding": "gzip;q=0, *"})
        assert "content-encoding" not in refused.headers
        gzip_tag = zipped.headers["etag"]
        again = await client.get(
            "/status/acme", headers={"Accept-Encoding": "gzip", "If-None-Match": gzip_tag}
        )
        assert again.status_code == 304
        assert "content-encoding" not in again.headers
        # A small document (under 1 KB) is sent as it is.
        badge = await client.get("/status/acme/badge.json", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in badge.headers

    async def test_an_incident_page_is_cached_too(self, client, clock, people):
        made = await a_page(client, people.alice.secret, clock)
        first = await client.get(f"/status/acme/incidents/{made['open']}")
        assert first.status_code == 200
        again = await client.get(
            f"/status/acme/incidents/{made['open']}",
            headers={"If-None-Match": first.headers["etag"]},
        )
        assert again.status_code == 304

    async def test_a_repeat_read_touches_no_database(self, client, app, clock, people):
        await a_page(client, people.alice.secret, clock)
        for path in ("", "/feed.rss", "/api/v2/components.json"):
            first = await client.get(f"/status/acme{path}")
            with StatementCounter(app.state.engine) as counter:
                again = await client.get(f"/status/acme{path}")
            assert counter.statements == []
            assert again.content == first.content
            assert again.headers["content-type"] == first.headers["content-type"]
            assert again.headers.get("content-security-policy") == first.headers.get(
                "content-security-policy"
            )

    async def test_a_write_through_another_app_shows_within_the_interval(
        self, app_with, clock, people
    ):
        _, writer = await app_with()
        _, reader = await app_with(page_version_check_seconds=0.2, public_cache_seconds=60)
        made = await a_page(writer, people.alice.secret, clock)
        before = (await reader.get("/status/acme/api/v2/status.json")).json()
        assert before["status"]["indicator"] == "critical"
        await gql(writer, RESOLVE, {"id": made["open"]}, key=people.alice.secret)
        await asyncio.sleep(0.25)
        after = (await reader.get("/status/acme/api/v2/status.json")).json()
        assert after["status"]["indicator"] == "none"
        html = await reader.get("/status/acme")
        assert "All systems operational" in html.text
