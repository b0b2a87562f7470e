"""The fast path's HTTP layer: answers at once or later, always in request order per connection."""

from __future__ import annotations

import asyncio

import pytest

from lmgate import fastpath


def answer_now(gw, headers, body, args):
    return 200, {"X-Handler": "now"}, b"now:" + body


async def answer_later(gw, headers, body, args):
    await asyncio.sleep(float(args.get("sleep", "0")))
    return 200, {"X-Handler": "later"}, b"later:" + body


def broken(gw, headers, body, args):
    raise RuntimeError("boom")


SETTLED: list[tuple[bytes, bool]] = []


async def settled_later(gw, headers, body, args):
    await asyncio.sleep(float(args.get("sleep", "0")))
    return fastpath.Settled(200, {}, b"settled:" + body, lambda delivered: SETTLED.append((body, delivered)))


async def with_timeout(gw, headers, body, args):
    async with asyncio.timeout(1):  # needs a current task, as redis-py's calls do
        await asyncio.sleep(0)
    return 200, {}, b"in time"


async def bad_header(gw, headers, body, args):
    return 200, {"X-Bad": "a\r\nX-Smuggled: 1"}, b""


ROUTES = {
    b"/now": answer_now,
    b"/later": answer_later,
    b"/broken": broken,
    b"/settled": settled_later,
    b"/timeout": with_timeout,
    b"/bad-header": bad_header,
}


@pytest.fixture
async def server():
    srv = await fastpath.serve(None, "127.0.0.1", 0, ROUTES)  # type: ignore[arg-type]
    yield srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()


def request(path: str, body: bytes = b"") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


async def read_answers(reader: asyncio.StreamReader, n: int) -> list[tuple[int, bytes]]:
    out = []
    for _ in range(n):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(next(v for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n")) if k == b"Content-Length"))
        out.append((status, await reader.readexactly(length)))
    return out


async def test_pipelined_answers_keep_request_order(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    # a slow answer first: the ones after it, even those ready at once, must wait for it
    paths = [("/later?sleep=0.05", b"a"), ("/now", b"b"), ("/later", b"c"), ("/now", b"d")]
    writer.write(b"".join(request(path, body) for path, body in paths))
    answers = await asyncio.wait_for(read_answers(reader, 4), 5)
    assert answers == [(200, b"later:a"), (200, b"now:b"), (200, b"later:c"), (200, b"now:d")]
    writer.close()


async def test_unknown_path_and_a_failing_handler(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(request("/nope") + request("/broken") + request("/now", b"still here"))
    answers = await asyncio.wait_for(read_answers(reader, 3), 5)
    assert answers == [(404, b"not found"), (500, b"internal error"), (200, b"now:still here")]
    writer.close()


async def test_a_settled_reply_hears_whether_nginx_got_it(server):
    SETTLED.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(request("/settled", b"kept"))
    assert await asyncio.wait_for(read_answers(reader, 1), 5) == [(200, b"settled:kept")]
    # nginx gave up (timeout, client gone) and closed the connection before the answer was ready
    writer.write(request("/settled?sleep=0.2", b"lost"))
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.4)
    assert SETTLED == [(b"kept", True), (b"lost", False)]


async def test_answers_made_later_need_no_task_per_request(server):
    """One task per connection awaits its answers; a task per request cost ~5% of the sidecar."""
    loop = asyncio.get_running_loop()
    made = []
    default = loop.get_task_factory()

    def counting(loop, coro, **kw):
        if coro.__qualname__.startswith("_Protocol."):  # not the test's own wait_for tasks
            made.append(coro.__qualname__)
        return default(loop, coro, **kw) if default else asyncio.Task(coro, loop=loop, **kw)

    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    loop.set_task_factory(counting)
    try:
        for i in range(20):  # one at a time, as nginx sends them on a keep-alive link
            writer.write(request("/later", str(i).encode()) + request("/timeout"))
            answers = await asyncio.wait_for(read_answers(reader, 2), 5)
            assert answers == [(200, f"later:{i}".encode()), (200, b"in time")]
    finally:
        loop.set_task_factory(default)
    assert made == ["_Protocol._work"]  # the connection's worker, made at its first answer made later
    writer.close()


async def test_an_answer_that_cannot_be_written_is_a_500_and_the_link_goes_on(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(request("/bad-header") + request("/later", b"next"))
    answers = await asyncio.wait_for(read_answers(reader, 2), 5)
    assert answers == [(500, b"internal error"), (200, b"later:next")]
    writer.close()


async def test_a_cancelled_worker_closes_its_connection(server):
    """Its queued requests would never be answered: nginx must see the close (and retry or fail closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    writer.write(request("/later?sleep=5", b"slow") + request("/now", b"queued"))
    await writer.drain()
    await asyncio.sleep(0.1)
    workers = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "_Protocol._work"]
    assert len(workers) == 1
    workers[0].cancel()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing written
    writer.close()


async def test_unix_socket_serves_anyone_replaces_a_dead_ones_socket_and_removes_its_own(tmp_path):
    path = tmp_path / "sidecar.sock"
    dead = fastpath.bind_unix(path)
    dead.close()  # a killed sidecar leaves its socket file behind
    unix = await fastpath.serve_unix(None, path, ROUTES)  # type: ignore[arg-type]
    assert path.stat().st_mode & 0o777 == 0o666  # nginx's workers run as another user
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(request("/now", b"x"))
    assert await asyncio.wait_for(read_answers(reader, 1), 5) == [(200, b"now:x")]
    writer.close()
    with pytest.raises(OSError, match="another sidecar"):  # a live sidecar's socket is not taken from it
        fastpath.bind_unix(path)
    unix.close()
    await unix.server.wait_closed()
    assert not path.exists()


async def test_a_closing_unix_server_leaves_the_socket_of_the_one_that_took_over(tmp_path):
    path = tmp_path / "sidecar.sock"
    old = await fastpath.serve_unix(None, path, ROUTES)  # type: ignore[arg-type]
    old.server.close()
    await old.server.wait_closed()
    new = await fastpath.serve_unix(None, path, ROUTES)  # type: ignore[arg-type]
    old.close()
    assert path.exists()
    new.close()
    assert not path.exists()


def test_a_file_that_is_no_socket_is_not_removed(tmp_path):
    path = tmp_path / "sidecar.sock"
    path.write_text("mine")
    with pytest.raises(OSError, match="not a socket"):
        fastpath.bind_unix(path)
    assert path.read_text() == "mine"


async def test_the_watch_ends_once_the_socket_file_is_gone(tmp_path):
    path = tmp_path / "sidecar.sock"
    unix = await fastpath.serve_unix(None, path, ROUTES)  # type: ignore[arg-type]
    watch = asyncio.ensure_future(unix.watch(every=0.01))
    await asyncio.sleep(0.05)
    assert not watch.done()
    path.unlink()  # e.g. the spool directory deleted: nginx cannot reach this sidecar any more
    await asyncio.wait_for(watch, 1)
    unix.close()
