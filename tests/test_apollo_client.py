"""Apollo Client's automatic persisted queries against the real server (issue #14).

tests/node/apollo_apq.mjs runs the real `@apollo/client` (pinned in tests/node, installed by
`npm ci --prefix tests/node`) with its PersistedQueryLink, hashed queries over GET, against
`statusgraph serve`. The negotiation must go as Apollo's protocol says: a hash alone, the
server's PersistedQueryNotFound, the hash with the document, and from then on the hash
alone, answered. In CI (CI=true) a missing node or package fails the test.
"""

import asyncio
import json
import os
from pathlib import Path

from tests.helpers import node_or_skip
from tests.servers import Server

HERE = Path(__file__).parent
SCRIPT = HERE / "node" / "apollo_apq.mjs"


async def test_apollo_clients_persisted_query_link_works(tmp_path: Path) -> None:
    node = node_or_skip("@apollo/client", "the Apollo Client test")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATUSGRAPH_")}
    env["STATUSGRAPH_DATA_DIR"] = str(tmp_path / "data")
    async with Server(env) as server:
        [key] = server.printed_keys()
        process = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            server.url + "/graphql",
            key,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    outcome = json.loads(stdout)
    assert outcome["created"] == ["first", "second"]
    assert outcome["reads"] == [["first", "second"], ["first", "second"]]
    seen = [(r["method"], r["sentDocument"], r["status"]) for r in outcome["requests"]]
    assert seen == [
        # The mutation: its hash alone (POST: never GET for a mutation), not found here
        # (400: Apollo asks for application/graphql-response+json, under which a request
        # error is a 400), then with its document; the second time the hash alone is enough.
        ("POST", False, 400),
        ("POST", True, 200),
        ("POST", False, 200),
        # The query, by GET: the hash, not found, the document (by POST, Apollo's
        # default for a document), then the hash alone by GET, answered.
        ("GET", False, 400),
        ("POST", True, 200),
        ("GET", False, 200),
    ], seen
