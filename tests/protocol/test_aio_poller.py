"""The AsyncClient's epoll path (protocol.aiopoll): no transport per call, one epoll per loop
that goes with its loop, deadlines on one shared timer, and nothing left behind by a call
however it ends. test_client_cases.py holds the cases every client shares."""

from __future__ import annotations

import asyncio
import gc
import os
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

import protocol.aio
from protocol.aio import AsyncClient, new_event_loop
from protocol.aiopoll import poller_for
from protocol.errors import CallTimeout
from tests.protocol.apis import Async
from tests.protocol.scripted import Peer, answer, peer, silent
from tests.protocol.test_client import _SmallSendBuffer
from tests.protocol.test_client_cases import (
    big_request_nobody_reads_times_out,
    big_request_reaches_a_slow_reader,
    connect_times_out_against_a_full_backlog,
)
from tests.protocol.wirehelp import packet

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": new_event_loop,
}


def in_loop(name: str, main: Coroutine[Any, Any, Any]) -> Any:
    loop = LOOPS[name]()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


@contextmanager
def nothing_left_open() -> Iterator[None]:
    """No socket or epoll of this process is left open, nor left to the garbage collector."""
    gc.collect()
    before = open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
    # a server thread of this process (a session-scoped fixture) may still be closing its end of
    # an earlier connection, or close one now: wait for the count to come down, which a leak's
    # never does
    deadline = time.monotonic() + 2
    while open_fds() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert open_fds() <= before


def open_fds() -> int:
    """This process's sockets and epolls (what a call and a poller open; a loop's own pipes
    are the loop's business)."""
    mine = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:  # the listing's own descriptor
            continue
        mine += target.startswith(("socket:", "anon_inode:[eventpoll]"))
    return mine


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_plain_call_makes_no_transport(loop_name: str) -> None:
    async def main(node: str) -> tuple[bytes, list[str]]:
        loop = asyncio.get_running_loop()
        made: list[str] = []
        original = loop.create_connection

        async def counted(*args: Any, **kw: Any) -> Any:
            made.append("transport")
            return await original(*args, **kw)

        loop.create_connection = counted  # type: ignore[method-assign]
        return await AsyncClient(node).call("hello"), made

    with peer(answer(packet(b"pong"))) as server:
        assert in_loop(loop_name, main(server.node)) == (b"pong", [])


@pytest.mark.parametrize("loop_name", LOOPS)
def test_one_epoll_per_loop_and_it_goes_with_the_loop(loop_name: str) -> None:
    async def main(node: str) -> None:
        client = AsyncClient(node)
        assert await asyncio.gather(*(client.call("hello") for _ in range(10))) == [b"pong"] * 10
        assert await client.call("hello") == b"pong"
        poller = poller_for(asyncio.get_running_loop())
        assert not poller.readings  # every call's socket is out of it

    with peer(answer(packet(b"pong"))) as server:
        in_loop(loop_name, main(server.node))  # first-use caches
    with nothing_left_open(), peer(answer(packet(b"pong"))) as server:
        for _ in range(5):
            in_loop(loop_name, main(server.node))


@pytest.mark.parametrize("loop_name", LOOPS)
def test_an_earlier_deadline_that_comes_later_is_kept(loop_name: str) -> None:
    """Deadlines share one timer: a short call made while a long one waits still ends on time."""

    async def main(node: str) -> tuple[type, float]:
        patient = asyncio.ensure_future(AsyncClient(node, timeout=30).call("hello"))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        try:
            with pytest.raises(CallTimeout) as info:
                await AsyncClient(node, timeout=0.3).call("hello")
            return type(info.value), time.monotonic() - start
        finally:
            patient.cancel()
            with pytest.raises(asyncio.CancelledError):
                await patient

    with peer(silent) as server:
        kind, elapsed = in_loop(loop_name, main(server.node))
    assert kind is CallTimeout and elapsed < 10  # the 0.3 s deadline, not the other's 30 s


def test_finished_calls_do_not_pile_up_in_the_deadlines() -> None:
    async def main(node: str) -> int:
        client = AsyncClient(node, timeout=60)
        for _ in range(300):
            await client.call("hello")
        return len(poller_for(asyncio.get_running_loop()).deadlines)

    with peer(answer(packet(b"pong"))) as server:
        assert in_loop("uvloop", main(server.node)) <= 2 * 0 + 64 + 1


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_cancelled_call_leaves_nothing_behind(loop_name: str) -> None:
    async def main(server: Peer) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(AsyncClient(server.node, timeout=30).call("hello"))
        deadline = time.monotonic() + 10
        while not server.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(poller_for(loop).readings) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not poller_for(loop).readings
        # the epoll still serves the next call
        assert await AsyncClient(server.node).call("hello") in (b"pong", b"")

    def first_silent(conn: Any, server: Peer) -> None:
        if not server.requests:
            silent(conn, server)
        else:
            answer(packet(b"pong"))(conn, server)

    with nothing_left_open(), peer(first_silent) as server:
        in_loop(loop_name, main(server))


@pytest.fixture(params=["asyncio", "uvloop"])
def api(request: pytest.FixtureRequest) -> Async:
    return Async(use_uvloop=request.param == "uvloop")


@pytest.fixture
def small_send_buffer(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Sockets whose kernel takes a big request in parts (as test_client.py's), and the sizes
    of what was left to send after the first part."""
    parts: list[int] = []
    send_rest = protocol.aio.send_rest

    async def spy(loop: Any, sock: Any, rest: memoryview, deadline: float) -> None:
        parts.append(len(rest))
        await send_rest(loop, sock, rest, deadline)

    monkeypatch.setattr(protocol.aio, "_Socket", _SmallSendBuffer)
    monkeypatch.setattr(protocol.aio, "send_rest", spy)
    yield parts


def test_a_request_sent_in_parts_reaches_a_slow_reader(
    api: Async, small_send_buffer: list[int]
) -> None:
    big_request_reaches_a_slow_reader(api)
    assert small_send_buffer and 0 < small_send_buffer[0] < 60012


def test_a_request_sent_in_parts_to_nobody_times_out_on_time(
    api: Async, small_send_buffer: list[int]
) -> None:
    big_request_nobody_reads_times_out(api)
    assert small_send_buffer


def test_without_sock_nonblock_the_socket_is_made_non_blocking_by_hand(
    api: Async, monkeypatch: pytest.MonkeyPatch
) -> None:
    # macOS has no SOCK_NONBLOCK: a connect left blocking would block the loop on a full
    # backlog instead of timing out after the connect timeout
    monkeypatch.setattr(protocol.aio, "_NONBLOCK", 0)
    connect_times_out_against_a_full_backlog(api)


def test_loops_in_several_threads_share_one_client() -> None:
    async def main(client: AsyncClient) -> list[bytes]:
        return list(await asyncio.gather(*(client.call("hello") for _ in range(10))))

    with peer(answer(packet(b"pong"))) as server:
        client = AsyncClient(server.node)
        with ThreadPoolExecutor(4) as pool:
            runs = list(pool.map(lambda name: in_loop(name, main(client)), [*LOOPS, *LOOPS]))
    assert runs == [[b"pong"] * 10] * 4
