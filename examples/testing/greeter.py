"""An application that greets through the ``hello`` RPC function of another uWSGI node."""

from __future__ import annotations

from protocol import Client, NoResult


def greeting(node: str, name: str) -> str:
    """Through protocol.Client, from anywhere."""
    try:
        return Client(node, timeout=1).call("hello", name).decode()
    except NoResult:
        return f"Hi, {name} (hello is not answering)"


def greeting_in_uwsgi(node: str, name: str) -> str:
    """Through uWSGI's own uwsgi.rpc, for code that runs inside uWSGI."""
    import uwsgi  # the embedded module: present only inside uWSGI (and a test's RPCServer)

    result = uwsgi.rpc(node.encode(), b"hello", name.encode())
    return result.decode() if result else f"Hi, {name} (hello is not answering)"
