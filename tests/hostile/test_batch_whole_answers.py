"""batch's engine takes a plain packet that arrives whole in one read without a ResponseReader
(rpccli/batch/engine.py): every answer, whole or not, well-formed or not, gets the verdict that
``rpccli call`` (the blocking client and its reader) gives (docs/protocol.md#responses)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from protocol.wire import encode_vars
from rpccli.cli import main
from tests.protocol.scripted import Peer, answer, peer, read_request

_BLOCK = encode_vars({b"CONTENT_LENGTH": b"5"})


def _split(data: bytes) -> Callable[..., None]:
    """Header and body in two writes, a moment apart, as uWSGI writes them."""

    def script(conn, server: Peer) -> None:  # type: ignore[no-untyped-def]
        read_request(conn, server)
        conn.sendall(data[:4])
        time.sleep(0.05)
        conn.sendall(data[4:])

    return script


ANSWERS = {
    "whole": answer(b"\xad\x05\x00\x00hello"),
    "split": _split(b"\xad\x05\x00\x00hello"),
    "trailing": answer(b"\xad\x05\x00\x00hello!!"),
    "short": answer(b"\xad\x05\x00\x00hel"),
    "empty": answer(b"\xad\x00\x00\x00"),
    "large-form": answer(bytes([0xAD, len(_BLOCK), 0, 5]) + _BLOCK + b"hello"),
    "other-modifier1": answer(b"\x00\x05\x00\x00hello"),
    "header-only": answer(b"\xad\x05\x00\x00"),
    "three-bytes": answer(b"\xad\x05\x00"),
    "nothing": answer(b""),
}


@pytest.fixture(autouse=True)
def _isolated(xdg_dirs: dict[str, Path]) -> None:
    """Empty XDG dirs and no RPCCLI_ variables (tests/conftest.py), for every run here."""


def cli(*args: str, stdin: bytes = b"") -> tuple[int, bytes]:
    with CliRunner().isolation(input=stdin) as (out, _err, _):
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
    return code, out.getvalue()


def verdict(record: dict[str, object]) -> tuple[object, ...]:
    error = record["error"]
    if error is None:
        return (True, record["response"])
    assert isinstance(error, dict)
    return (False, error["type"], error["message"])


@pytest.mark.parametrize("raw", [False, True], ids=["packet", "raw"])
@pytest.mark.parametrize("cap", [None, "4"], ids=["no-cap", "max-response-4"])
@pytest.mark.parametrize("name", list(ANSWERS))
def test_batch_gives_every_answer_the_verdict_call_gives(
    name: str, cap: str | None, raw: bool
) -> None:
    options = ["-t", "5"] + (["--max-response", cap] if cap else []) + (["--raw"] if raw else [])
    with peer(ANSWERS[name]) as server:
        _, out = cli("call", "--json", *options, server.node, "hello", "a")
        expected = verdict(json.loads(out))
        code, out = cli(
            "batch",
            "--json",
            "--lanes",
            "1",
            "-c",
            "4",
            *options,
            server.node,
            stdin=b"hello a\n" * 6,
        )
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 6
    assert {verdict(record) for record in records} == {expected}
    assert code == (0 if expected[0] else 6)
