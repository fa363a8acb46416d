"""API key format (auth/keys.py): prefix, random part and checksum, and the peppered hash."""

import pytest

from statusgraph.auth import keys


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
        parsed = keys.parse(key.secret)
        assert parsed is not None
        assert parsed.sandbox is True

    def test_every_single_character_typo_fails_the_checksum(self):
        secret = keys.generate().secret
        for position in range(8, len(secret)):
            replacement = "a" if secret[position] != "a" else "b"
            assert keys.parse(secret[:position] + replacement + secret[position + 1 :]) is None

    @pytest.mark.parametrize(
        "candidate", ["", "sg_live_", "sg_prod_" + "a" * 38, "sg_live_" + "a" * 37 + "!"]
    )
    def test_a_string_of_any_other_shape_does_not_parse_as_a_key(self, candidate):
        assert keys.parse(candidate) is None

    def test_two_hundred_generated_keys_are_all_different(self):
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
