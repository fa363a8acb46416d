"""rest.common.read_body: a body in one message or many, bounded, cut short by a
disconnect."""

import pytest
from starlette.types import Message, Receive

from statusgraph.rest.common import read_body


def channel(*messages: Message) -> Receive:
    """An ASGI receive channel that hands out `messages` in order."""
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


def part(body: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_body_in_one_message_is_read_whole():
    assert await read_body(channel(part(b"abc")), max_bytes=3) == b"abc"


async def test_a_body_in_several_messages_is_joined():
    receive = channel(part(b"ab", True), part(b"", True), part(b"c"))
    assert await read_body(receive, max_bytes=3) == b"abc"


@pytest.mark.parametrize(
    "messages",
    [[(b"abcd", False)], [(b"ab", True), (b"cd", False)], [(b"abcd", True)]],
)
async def test_a_body_over_the_limit_is_none_whether_whole_or_in_parts(messages):
    receive = channel(*(part(body, more) for body, more in messages))
    assert await read_body(receive, max_bytes=3) is None


async def test_a_disconnect_ends_the_body():
    disconnect = {"type": "http.disconnect"}
    assert await read_body(channel(disconnect), max_bytes=3) == b""
    receive = channel(part(b"ab", True), disconnect)
    assert await read_body(receive, max_bytes=3) == b"ab"


async def test_a_missing_body_key_is_an_empty_body():
    assert await read_body(channel({"type": "http.request"}), max_bytes=3) == b""
