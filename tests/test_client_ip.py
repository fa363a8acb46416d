"""The client IP (auth/client_ip.py): the peer, or the last untrusted hop of
X-Forwarded-For when the peer is a trusted proxy."""

import ipaddress

from statusgraph.auth.client_ip import client_ip

TRUSTED = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


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
