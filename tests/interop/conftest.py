"""Fixtures that run real uWSGI (Python and Lua functions) on loopback for the interop tests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.peers import Uwsgi, start_uwsgi, uwsgi


@pytest.fixture(scope="session")
def uwsgi_tcp() -> Iterator[Uwsgi]:
    """One shared real uWSGI on 127.0.0.1:<ephemeral> with the example functions."""
    with uwsgi() as server:
        yield server


@pytest.fixture
def uwsgi_factory() -> Iterator[object]:
    """Start more real uWSGI servers in a test (``uwsgi_factory(buffer_size=65535)``)."""
    started: list[Uwsgi] = []

    def start(**kw: object) -> Uwsgi:
        server = start_uwsgi(**kw)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    # at once: a uWSGI master buries its workers on its one-second tick, so each stop takes ~1 s
    with ThreadPoolExecutor(max(1, len(started))) as pool:
        list(pool.map(Uwsgi.stop, started))
