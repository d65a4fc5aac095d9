"""What ``call --dry-run`` and ``--explain`` print instead of calling: the annotated request,
then (``--explain``) the same call from nginx, from Python inside a uWSGI worker, and from
uWSGI's own config (rpccli.output.wire, rpccli.output.uwsgi_forms)."""

from __future__ import annotations

from collections.abc import Sequence

from rpccli.options import Settings
from rpccli.output import Printer

__all__ = ["print_request"]


def print_request(
    printer: Printer,
    request: bytes,
    targets: Sequence[str],
    explain: bool,
    settings: Settings | None,
) -> None:
    from protocol.wire import HEADER_SIZE, decode_array
    from rpccli.output.nginx import nginx_location
    from rpccli.output.wire import annotate_request, uwsgi_rpc_call

    items = decode_array(request[HEADER_SIZE:])
    # built first: a node nginx cannot name is refused (exit 2) before anything is printed
    strategy, tls = (settings.strategy, settings.tls) if settings else ("first", None)
    block = (
        nginx_location(targets, items[0], items[1:], strategy=strategy, tls=tls) if explain else ""
    )
    if tls is not None and any(t.startswith("tls:") for t in targets):
        printer.text(f"# {tls.describe()}")
    printer.text(annotate_request(request))
    if not explain:
        return
    printer.text("")
    printer.text("# the same call from nginx:")
    printer.text(block)
    printer.text("")
    one = " (one node: uwsgi.rpc has no failover)" if len(targets) > 1 else ""
    printer.text(f"# the same call from Python inside a uWSGI worker{one}:")
    printer.text(uwsgi_rpc_call(targets[0], items[0], items[1:]))
    from rpccli.output.uwsgi_forms import uwsgi_forms

    printer.text("")
    printer.text(uwsgi_forms(targets[0], items[0], items[1:], one=one))
