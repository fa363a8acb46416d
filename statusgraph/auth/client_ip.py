"""The client's address: the peer, unless the peer is a trusted proxy."""

import ipaddress
from collections.abc import Sequence

from statusgraph.config import IPNetwork


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in trusted)


def client_ip(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str | None:
    """Walk X-Forwarded-For from the right, past trusted proxies, to the first other hop.

    Only the hops our own proxies appended can be believed; anything further left
    may have been written by the client.
    """
    if peer is None or not forwarded_for or not is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if _parse(hop) is None:
            return peer  # a garbled header is not worth more than the peer address
        if not is_trusted(hop, trusted):
            return hop
    return hops[0]
