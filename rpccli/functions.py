"""``rpccli functions [NODE]`` (alias ``ls``): the function names known for a node, each with its
source.

uWSGI has no remote listing (docs/protocol.md#server-side), so the names come from where the
shell's completer takes them (rpccli.names): the node's own listing function (``rpc_list``, or the
profile's ``list_function``), the names that answered calls (learned) and the profile's
``functions``. The listing is fetched live when none is stored for the node, or with
``--refresh``; otherwise the stored one is shown with its age. The fetch and the store are the
shell's own (rpccli.shell.listing.NameIndex); every name passed rpccli.name_rule on the way in.

Exit codes: 0 when the names could be told (also when a node exports no listing: then a line
says so and shows how to export one); when nodes could not be asked, the code of their error
(3, 4, 5), or 6 when only some of them failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from protocol import Outcome
from protocol.wire import rpc_request
from rpccli import exitcodes, names
from rpccli.options import (
    Settings,
    command_settings,
    complete_node_lazily,
    timeout_options,
    tls_options,
)
from rpccli.output import Printer, error_record, json_line
from rpccli.shell.listing import DEFAULT_LIST_FUNCTION, NameIndex

__all__ = ["export_lines", "functions"]


def export_lines(list_function: str) -> list[str]:
    """How a node exports its listing: one line for a Python function file, one for Lua (whose
    uwsgi module has no rpc_list(): the names are written out). Each checked on real uWSGI
    (tests/interop/test_functions_uwsgi.py)."""
    name = list_function.replace("\\", "\\\\").replace('"', '\\"')
    return [
        f'  Python: uwsgi.register_rpc("{name}", lambda: b"\\n".join(uwsgi.rpc_list()))',
        f'  Lua:    uwsgi.register_rpc("{name}", function() return '
        'table.concat({"hellolua", "answer"}, "\\n") end)',
    ]


def _fetcher(settings: Settings, address: str) -> Callable[[str], bytes]:
    def fetch(function: str) -> bytes:
        client = settings.client(address)  # over TLS for a tls: node
        return client.exchange(rpc_request(function), function=function).body

    return fetch


def _status(index: NameIndex, fetched: bool) -> dict[str, Any]:
    """What one node's listing is: fetched now ("listed", "none", "failed") or "stored"."""
    age = names.listing_age(index.node)
    if not fetched:
        return {"node": index.node, "listing": "stored", "age_s": round(age or 0.0), "error": None}
    error = index.error
    return {
        "node": index.node,
        "listing": index.outcome,
        "age_s": 0 if index.outcome == "listed" else None,
        "error": None if error is None else error_record(error),
    }


def _merge(
    label: str, indexes: list[NameIndex], statuses: list[dict[str, Any]]
) -> dict[str, dict[str, list[str]]]:
    """name -> {"sources": [...], "nodes": [the nodes whose listing has it]}, sorted by name."""
    table: dict[str, dict[str, list[str]]] = {}

    def add(name: str, source: str, node: str | None = None) -> None:
        entry = table.setdefault(name, {"sources": [], "nodes": []})
        if source not in entry["sources"]:
            entry["sources"].append(source)
        if node is not None and node not in entry["nodes"]:
            entry["nodes"].append(node)

    for index, status in zip(indexes, statuses, strict=True):
        # a node that answered "no listing" now has none, whatever was stored before
        current = status["listing"] in ("listed", "stored", "failed")
        for name, sources in names.name_sources(index.node).items():
            for source in sources:
                if source != "listing":
                    add(name, source)
                elif current:
                    add(name, "listing", index.node)
    for name, sources in names.name_sources(label).items():
        for source in sources:
            if source != "listing":
                add(name, source)
    for entry in table.values():
        entry["sources"].sort(key=names.SOURCES.index)
    return dict(sorted(table.items()))


def _status_line(status: dict[str, Any], list_function: str) -> str:
    node, listing = status["node"], status["listing"]
    if listing == "listed":
        return f"listing: {list_function} on {node}, fetched now"
    if listing == "stored":
        return (
            f"listing: {list_function} on {node}, stored {status['age_s']} s ago "
            "(--refresh fetches it again)"
        )
    if listing == "none":
        return f"{node} exports no {list_function} (no result); export one from a function file:"
    return f"listing: could not ask {node}: {status['error']['message']} (showing what is stored)"


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Sources: listing (the node's rpc_list, or the profile's list_function), learned "
    "(answered a call), profile (its functions). Names go to stdout, status lines to stderr. "
    "Exit codes: 0 told (also when a node exports no listing), 3 cannot connect, 4 timeout, "
    "5 protocol error, 6 some nodes of a group could not be asked.",
)
@click.argument("node", metavar="[NODE]", required=False, shell_complete=complete_node_lazily)
@timeout_options
@tls_options
@click.option("--refresh", is_flag=True, help="Fetch the listing again even when one is stored.")
@click.option("--json", "json_flag", is_flag=True, help="One JSON object: names, sources, nodes.")
def functions(
    node: str | None,
    timeout: float | None,
    connect_timeout: float | None,
    refresh: bool,
    json_flag: bool,
) -> int:
    """List the function names known for NODE and where each came from.

    \b
      rpccli functions 127.0.0.1:3031
      rpccli ls --refresh --json prod
    """
    settings = command_settings(node)
    spec = settings.spec
    list_function = (spec.profile.list_function if spec.profile else None) or DEFAULT_LIST_FUNCTION
    indexes = [
        NameIndex(address, list_function=list_function, fetch=_fetcher(settings, address))
        for address in spec.addresses
    ]
    fetched = [refresh or names.listing_age(index.node) is None for index in indexes]
    threads = [index.refresh() for index, fetch in zip(indexes, fetched, strict=True) if fetch]
    for thread in threads:  # one thread per node: a group's nodes are asked at once
        thread.join()
    statuses = [_status(index, fetch) for index, fetch in zip(indexes, fetched, strict=True)]
    table = _merge(spec.label, indexes, statuses)
    printer = Printer("json" if json_flag else "bytes")
    if json_flag:
        rows = [{"name": name, **entry} for name, entry in table.items()]
        record = {"node": spec.label, "list_function": list_function, "functions": rows}
        printer.write(json_line({**record, "listings": statuses}))
    else:
        _print_text(printer, table, statuses, list_function, group=not spec.single)
    # the nodes asked now, as a fan-out's outcomes: the exit code is the fan-out's
    asked: list[Outcome[None]] = [
        Outcome(s["node"], None, index.error if s["listing"] == "failed" else None, 0.0)
        for s, index, fetch in zip(statuses, indexes, fetched, strict=True)
        if fetch
    ]
    from rpccli.call.fanout import fan_out_exit_code

    return fan_out_exit_code(asked) if asked else exitcodes.OK


def _print_text(
    printer: Printer,
    table: dict[str, dict[str, list[str]]],
    statuses: list[dict[str, Any]],
    list_function: str,
    *,
    group: bool,
) -> None:
    def shown(entry: dict[str, list[str]]) -> str:
        sources = entry["sources"]
        if group and entry["nodes"]:
            sources = [
                f"listing ({', '.join(entry['nodes'])})" if s == "listing" else s for s in sources
            ]
        return ", ".join(sources)

    if table:
        width = max(len(name) for name in table)
        for name, entry in table.items():
            printer.text(f"{name:<{width}}  {shown(entry)}")  # escaped on a terminal
    else:
        printer.info("no names known: call a function, or give the node a listing function")
    for status in statuses:
        printer.info(_status_line(status, list_function))
        if status["listing"] == "none":
            for line in export_lines(list_function):
                printer.info(line)
