"""JoinedWrites: what uvicorn writes in one step of the loop leaves in one send, in order."""

from __future__ import annotations

import asyncio

from conftest import Scripted, exchange

from gateway_service.worker import JoinedWrites


class Socket:
    """A transport that records each send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"{name} of the socket"


def test_a_head_and_body_written_in_one_step_leave_in_one_send() -> None:
    async def exchange() -> list[bytes]:
        socket = Socket()
        joined = JoinedWrites(socket)  # type: ignore[arg-type]
        joined.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
        joined.write(b"{}")
        assert socket.sent == []  # nothing yet: the step has not ended
        await asyncio.sleep(0)
        joined.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # the next answer, a later step
        await asyncio.sleep(0)
        return socket.sent

    assert asyncio.run(exchange()) == [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ]


def test_close_sends_what_waits_first_and_nothing_is_written_after() -> None:
    async def exchange() -> Socket:
        socket = Socket()
        joined = JoinedWrites(socket)  # type: ignore[arg-type]
        joined.write(b"last words")
        joined.close()
        await asyncio.sleep(0)  # the scheduled send finds nothing left
        return socket

    socket = asyncio.run(exchange())
    assert socket.sent == [b"last words"] and socket.closed


def test_the_rest_of_the_transport_is_the_sockets() -> None:
    joined = JoinedWrites(Socket())  # type: ignore[arg-type]
    assert joined.get_extra_info("peername") == "peername of the socket"
    assert joined.is_closing() is False


def test_a_large_piece_is_sent_at_once_not_held() -> None:
    async def exchange() -> list[bytes]:
        socket = Socket()
        joined = JoinedWrites(socket)  # type: ignore[arg-type]
        joined.write(b"head\r\n\r\n")
        joined.write(b"x" * JoinedWrites.FLUSH_AT)
        sent_now = list(socket.sent)
        await asyncio.sleep(0)
        assert socket.sent == sent_now  # nothing sent twice
        return sent_now

    assert asyncio.run(exchange()) == [b"head\r\n\r\n" + b"x" * JoinedWrites.FLUSH_AT]


def test_pipelined_requests_are_answered_in_order_each_whole(app, upstream) -> None:
    """A client pipelining three requests in one packet, the first answer slowest: over a
    real socket every answer arrives whole and in request order, and the service saw the
    three requests in that order."""
    upstream.paths = {
        f"/api/items/{n}": Scripted(200, b'{"id": %d}' % n, delay=0.2 if n == 1 else 0.0)
        for n in (1, 2, 3)
    }
    pipelined = b"".join(
        b"GET /api/items/%d HTTP/1.1\r\nHost: g\r\nX-Request-ID: %s\r\n%s\r\n"
        % (n, b"pipelined-request-%d" % n, b"Connection: close\r\n" if n == 3 else b"")
        for n in (1, 2, 3)
    )
    with app.connect() as sock:
        received = exchange(sock, pipelined)

    answers = received.split(b"HTTP/1.1 ")[1:]
    assert [answer.split(b" ", 1)[0] for answer in answers] == [b"200"] * 3
    for n, answer in enumerate(answers, start=1):
        assert b"\r\nx-request-id: pipelined-request-%d\r\n" % n in answer.lower()
        assert answer.endswith(b'{"id": %d}' % n)
    assert [seen["path"] for seen in upstream.seen] == [
        "/api/items/1",
        "/api/items/2",
        "/api/items/3",
    ]
