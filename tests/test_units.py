"""Pure functions: key format and checksum, client IP through trusted proxies, ids,
the SQLite datetime binder, the bounded body reader."""

import ipaddress
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from statusgraph import ids
from statusgraph.auth import keys
from statusgraph.auth.client_ip import client_ip
from statusgraph.db.types import UtcDateTime
from statusgraph.rest.common import read_body

TRUSTED = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


class TestKeyFormat:
    def test_a_generated_key_has_prefix_random_part_and_checksum(self):
        key = keys.generate()
        assert key.secret.startswith("sg_live_")
        assert len(key.secret) == len("sg_live_") + 32 + 6
        assert keys.parse(key.secret) == key
        assert key.display_prefix == key.secret[:12]

    def test_sandbox_keys_use_the_test_prefix(self):
        key = keys.generate(sandbox=True)
        assert key.secret.startswith("sg_test_")
        assert keys.parse(key.secret).sandbox is True

    def test_every_single_character_typo_fails_the_checksum(self):
        secret = keys.generate().secret
        for position in range(8, len(secret)):
            replacement = "a" if secret[position] != "a" else "b"
            assert keys.parse(secret[:position] + replacement + secret[position + 1 :]) is None

    @pytest.mark.parametrize(
        "candidate", ["", "sg_live_", "sg_prod_" + "a" * 38, "sg_live_" + "a" * 37 + "!"]
    )
    def test_it_rejects_other_shapes(self, candidate):
        assert keys.parse(candidate) is None

    def test_keys_are_random(self):
        assert len({keys.generate().secret for _ in range(200)}) == 200

    def test_the_hash_depends_on_the_pepper(self):
        secret = keys.generate().secret
        assert keys.hash_secret(b"a", secret) != keys.hash_secret(b"b", secret)
        assert len(keys.hash_secret(b"a", secret)) == 64

    def test_the_hash_is_hmac_sha256_of_the_pepper_every_time(self):
        # RFC 4231, test case 2; twice, so copying the keyed HMAC never changes it.
        expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        assert keys.hash_secret(b"Jefe", "what do ya want for nothing?") == expected
        assert keys.hash_secret(b"Jefe", "what do ya want for nothing?") == expected


class TestClientIp:
    def test_an_untrusted_peer_is_the_client(self):
        assert client_ip("203.0.113.5", "198.51.100.1", TRUSTED) == "203.0.113.5"

    def test_a_trusted_proxy_hands_over_the_last_untrusted_hop(self):
        assert (
            client_ip("127.0.0.1", "198.51.100.1, 203.0.113.9, 10.1.2.3", TRUSTED) == "203.0.113.9"
        )

    def test_only_trusted_hops_means_the_leftmost(self):
        assert client_ip("127.0.0.1", "10.0.0.5, 10.0.0.6", TRUSTED) == "10.0.0.5"

    def test_a_garbled_header_falls_back_to_the_peer(self):
        assert client_ip("127.0.0.1", "not-an-ip", TRUSTED) == "127.0.0.1"

    def test_no_header_means_the_peer(self):
        assert client_ip("127.0.0.1", None, TRUSTED) == "127.0.0.1"
        assert client_ip(None, "198.51.100.1", TRUSTED) is None


class TestIds:
    def test_random_ids_use_base62_and_do_not_repeat(self):
        made = {ids.new_id("png") for _ in range(2000)}
        assert len(made) == 2000
        for made_id in made:
            prefix, rest = made_id.split("_")
            assert prefix == "png"
            assert len(rest) == 22
            assert set(rest) <= set(ids.BASE62)

    def test_every_base62_character_turns_up(self):
        assert set(ids.random_base62(5000)) == set(ids.BASE62)

    def test_ordered_ids_sort_by_creation_time(self, monkeypatch):
        now = [1_800_000_000_000_000_000]
        monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
        earlier = ids.new_ordered_ids("png", 1)[0]
        now[0] += 1_000_000  # one millisecond later
        later = ids.new_ordered_ids("png", 1)[0]
        assert earlier < later
        assert earlier[:12] != later[:12]
        assert earlier[12:] != later[12:]
        assert len(later) == len("png_") + 22


class TestOrderedIdBatches:
    def test_a_batch_shares_the_millisecond_and_nothing_else(self):
        batch = ids.new_ordered_ids("png", 40)
        assert len(batch) == 40
        assert len({pid[:12] for pid in batch}) == 1
        assert len(set(batch)) == 40
        assert all(
            len(pid) == len("png_") + 22 and set(pid[4:]) <= set(ids.BASE62) for pid in batch
        )


class TestUtcDateTimeOnSqlite:
    """The fused binder of the ping path writes exactly what SQLAlchemy's own would."""

    @pytest.mark.parametrize(
        "value",
        [
            datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
            datetime(2026, 11, 25, 10, 0, 1, 5, tzinfo=UTC),
            datetime(999, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Berlin")),
            datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-7))),
            None,
        ],
    )
    def test_it_matches_the_generic_processors(self, value):
        dialect = sqlite.dialect()
        column = UtcDateTime()
        generic = column.dialect_impl(dialect).bind_processor(dialect)
        fused = column.driver_bind_processor(dialect)
        assert generic is not None
        assert fused is not None
        assert fused(value) == generic(value)

    def test_it_refuses_naive_values_like_the_generic_one(self):
        fused = UtcDateTime().driver_bind_processor(sqlite.dialect())
        assert fused is not None
        with pytest.raises(ValueError, match="naive datetime"):
            fused(datetime(2026, 1, 1))

    def test_other_dialects_keep_the_generic_processors(self):
        assert UtcDateTime().driver_bind_processor(postgresql.dialect()) is None


class TestDriverStatement:
    """ingest/driver.py binds what the statement names, in its order, through the column types."""

    def test_literal_values_come_from_the_statement_and_the_rest_from_the_row(self):
        from statusgraph.ingest.driver import DriverStatement
        from statusgraph.ingest.writers import MONITOR_BY_ID

        statement = DriverStatement(MONITOR_BY_ID, sqlite.dialect())
        assert list(statement.parameters({"id": "mon_1"})) == ["mon_1", "heartbeat"]

    def test_a_missing_value_is_an_error_not_a_null(self):
        from statusgraph.ingest.driver import DriverStatement
        from statusgraph.ingest.writers import INSERT_PINGS

        statement = DriverStatement(INSERT_PINGS, sqlite.dialect())
        row = {
            "id": "png_1",
            "monitor_id": "mon_1",
            "kind": "success",
            "message": None,
            "duration_ms": None,
            "ip": None,
            "created_at": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        }
        assert list(statement.parameters(row))[-1] == "2026-11-25 10:00:00.000000"
        del row["kind"]
        with pytest.raises(KeyError, match="kind"):
            statement.parameters(row)


class TestReadBody:
    """rest.common.read_body: a body in one message or many, bounded, cut short by a
    disconnect."""

    @staticmethod
    def channel(*messages):
        queue = list(messages)

        async def receive():
            return queue.pop(0)

        return receive

    @staticmethod
    def part(body, more=False):
        return {"type": "http.request", "body": body, "more_body": more}

    async def test_a_body_in_one_message(self):
        assert await read_body(self.channel(self.part(b"abc")), max_bytes=3) == b"abc"

    async def test_a_body_in_several_messages_is_joined(self):
        receive = self.channel(self.part(b"ab", True), self.part(b"", True), self.part(b"c"))
        assert await read_body(receive, max_bytes=3) == b"abc"

    @pytest.mark.parametrize(
        "messages",
        [[(b"abcd", False)], [(b"ab", True), (b"cd", False)], [(b"abcd", True)]],
    )
    async def test_a_body_over_the_limit_is_none_whether_whole_or_in_parts(self, messages):
        receive = self.channel(*(self.part(body, more) for body, more in messages))
        assert await read_body(receive, max_bytes=3) is None

    async def test_a_disconnect_ends_the_body(self):
        disconnect = {"type": "http.disconnect"}
        assert await read_body(self.channel(disconnect), max_bytes=3) == b""
        receive = self.channel(self.part(b"ab", True), disconnect)
        assert await read_body(receive, max_bytes=3) == b"ab"

    async def test_a_missing_body_key_is_an_empty_body(self):
        assert await read_body(self.channel({"type": "http.request"}), max_bytes=3) == b""
