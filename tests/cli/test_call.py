"""rpccli call against the bundled server: exact stdout bytes and exit codes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from protocol.failures import NO_RESULT_CAUSES
from tests.cli.conftest import run_cli

NO_RESULT = f"is not registered there, raised, or returned nothing ({NO_RESULT_CAUSES})"


def big_bytes(n: int) -> bytes:
    pattern = bytes(range(256))
    return (pattern * (n // 256 + 1))[:n]


def test_hello_exact_bytes(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "hello", "a", "bb")
    assert (result.code, result.out, result.err) == (0, b"Hello, a bb", "")


def test_no_args(bundled_node: str) -> None:
    assert run_cli("call", bundled_node, "hello").out == b"Hello, world"


def test_binary_result_is_byte_exact(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "big", "100000")
    assert result.code == 0
    assert result.out == big_bytes(100000)  # the large (modifier2 5) form, nothing added


def test_raw_mode(bundled_node: str) -> None:
    result = run_cli("call", "--raw", bundled_node, "echo", "x", "y")
    assert (result.code, result.out) == (0, b"x y")
    result = run_cli("call", "--modifier2", "7", bundled_node, "echo", "z")
    assert (result.code, result.out) == (0, b"z")


@pytest.mark.parametrize("value", ["2", "3"])
def test_modifier2_2_and_3_refused(bundled_node: str, value: str) -> None:
    result = run_cli("call", "--modifier2", value, bundled_node, "hello")
    assert result.code == 2 and result.out == b""
    assert result.err.startswith(f"rpccli: --modifier2 {value}")


def test_json_success(bundled_node: str) -> None:
    result = run_cli("call", "--json", bundled_node, "echo", "a", "b")
    assert result.code == 0 and result.out.endswith(b"\n") and result.out.count(b"\n") == 1
    rec = json.loads(result.out)
    assert set(rec) == {
        "node",
        "function",
        "args",
        "ok",
        "response",
        "response_base64",
        "bytes",
        "elapsed_ms",
        "error",
    }
    assert rec["node"] == bundled_node
    assert (rec["function"], rec["args"], rec["ok"]) == ("echo", ["a", "b"], True)
    assert (rec["response"], rec["response_base64"], rec["bytes"]) == ("a b", "YSBi", 3)
    assert rec["error"] is None and rec["elapsed_ms"] >= 0


def test_json_binary_response_and_arg(bundled_node: str, tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"\xff\x00\x01")
    rec = json.loads(run_cli("call", "-o", "json", bundled_node, "echo", f"@{blob}").out)
    assert rec["response"] is None
    assert base64.b64decode(rec["response_base64"]) == b"\xff\x00\x01"
    assert rec["args"] == [{"base64": "/wAB"}]


def test_json_failure_record_and_exit(bundled_node: str) -> None:
    result = run_cli("call", "--json", bundled_node, "fail")
    assert result.code == 1
    rec = json.loads(result.out)
    assert rec["ok"] is False and rec["response"] is None and rec["bytes"] is None
    assert rec["error"]["type"] == "no_result"
    assert result.err == f"rpccli: {rec['error']['message']}\n"


@pytest.mark.parametrize("function", ["fail", "empty", "text", "no_such_function"])
def test_no_result_explains_itself(bundled_node: str, function: str) -> None:
    result = run_cli("call", bundled_node, function)
    assert (result.code, result.out) == (1, b"")
    assert result.err == f"rpccli: no result from {bundled_node}: {function} {NO_RESULT}\n"


def test_refused(refused_node: str) -> None:
    result = run_cli("call", refused_node, "hello")
    assert (result.code, result.out) == (3, b"")
    assert result.err == f"rpccli: cannot connect to {refused_node}: refused\n"


def test_no_such_socket(tmp_path: Path) -> None:
    result = run_cli("call", str(tmp_path / "none.sock"), "hello")
    assert result.code == 3
    assert result.err == f"rpccli: cannot connect to {tmp_path / 'none.sock'}: no such socket\n"


def test_timeout(bundled_node: str) -> None:
    result = run_cli("call", "--timeout", "0.3", bundled_node, "sleep", "2")
    assert (result.code, result.out) == (4, b"")
    assert result.err == f"rpccli: no complete answer from {bundled_node} within 0.3s\n"


def test_rpccli_timeout_env(bundled_node: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPCCLI_TIMEOUT", "0.3")
    result = run_cli("call", bundled_node, "sleep", "2")
    assert result.code == 4 and "within 0.3s" in result.err


def test_max_response(bundled_node: str) -> None:
    result = run_cli("call", "--max-response", "1k", bundled_node, "big", "2000")
    assert (result.code, result.out) == (5, b"")
    assert result.err == (
        f"rpccli: response from {bundled_node} is 2000 bytes, over the limit of 1024 bytes "
        "(raise it with --max-response)\n"
    )


def test_verbose_on_stderr_only(bundled_node: str) -> None:
    result = run_cli("call", "-v", bundled_node, "hello", "a")
    assert (result.code, result.out) == (0, b"Hello, a")
    lines = result.err.splitlines()
    assert lines[0] == f"> {bundled_node}"
    assert lines[1] == "> request: modifier1 173, size 10, modifier2 0 (packet: a framed answer)"
    assert lines[2] == '> items: function "hello", 1 arg (at most 254)'
    assert lines[3] == "< response: modifier1 173, size 8, modifier2 0"
    assert lines[4] == "< body: 8 bytes"
    assert lines[5].startswith("* timing: connect ") and "first byte" in lines[5]


def test_verbose_large_and_raw_forms(bundled_node: str) -> None:
    err = run_cli("call", "-v", bundled_node, "big", "70000").err
    assert "modifier2 5 (large form: vars block CONTENT_LENGTH=70000, then the body)" in err
    err = run_cli("call", "-v", "--raw", bundled_node, "hello").err
    assert "< response: raw, no header; 12 bytes until close" in err


GOLDEN = (
    "# 18 bytes: 4-byte header + 14-byte body, 3 items\n"
    "0000  ad 0e 00 00                                      header: modifier1 173 (RPC), "
    "size 14 (u16 little endian), modifier2 0 (packet: a framed answer)\n"
    "0004  05 00                                            function length 5\n"
    '0006  68 65 6c 6c 6f                                   function "hello"\n'
    "000b  01 00                                            arg 1 length 1\n"
    '000d  61                                               arg 1 "a"\n'
    "000e  02 00                                            arg 2 length 2\n"
    '0010  62 62                                            arg 2 "bb"\n'
)


def test_dry_run_sends_nothing(refused_node: str) -> None:
    # a refused node proves nothing is sent: the dry run still succeeds
    result = run_cli("call", "--dry-run", refused_node, "hello", "a", "bb")
    assert (result.code, result.text, result.err) == (0, GOLDEN, "")


def test_explain_nginx_padding_and_uwsgi_rpc() -> None:
    result = run_cli("call", "--explain", ":3031", "hellolua", "foo", "bar")
    assert result.code == 0
    text = result.text
    assert text.startswith("# ")
    assert '    uwsgi_param hellolua "";\n    uwsgi_param foo bar;\n' in text
    assert "    uwsgi_modifier1 173;\n    uwsgi_modifier2 1;\n" in text
    assert "    uwsgi_pass 127.0.0.1:3031;\n" in text
    assert "\nuwsgi.rpc('127.0.0.1:3031', b'hellolua', b'foo', b'bar')\n" in text
    # then uWSGI's own forms (tests/interop/test_explain_uwsgi.py pastes them into uWSGI)
    assert text.endswith("route-run = rpc:hellolua@127.0.0.1:3031 foo bar\n")


@pytest.mark.parametrize(
    ("args", "params"),
    [
        ((), ['uwsgi_param "" hello;']),
        (("a",), ["uwsgi_param hello a;"]),
        (("a", "b"), ['uwsgi_param hello "";', "uwsgi_param a b;"]),
    ],
)
def test_explain_never_ends_with_an_empty_item(args: tuple[str, ...], params: list[str]) -> None:
    text = run_cli("call", "--explain", ":3031", "hello", *args).text
    found = [line.strip() for line in text.splitlines() if "uwsgi_param " in line]
    assert found == params


# ---- usage errors: exit 2, nothing sent ----


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["call", "nonode", "hello"], "rpccli: unknown node 'nonode'"),
        (["call", "1.2.3.4:99999", "hello"], "rpccli: bad port in node '1.2.3.4:99999'"),
        (["call", "@", "hello"], "rpccli: abstract socket name is empty after '@'"),
    ],
)
def test_bad_node(argv: list[str], message: str) -> None:
    result = run_cli(*argv)
    assert (result.code, result.out) == (2, b"")
    assert result.err.startswith(message) and result.err.count("\n") == 1


def test_missing_function(refused_node: str) -> None:
    result = run_cli("call", refused_node)
    assert result.code == 2 and "missing FUNCTION" in result.err


def test_bad_option() -> None:
    result = run_cli("call", "--no-such-option", ":1", "hello")
    assert result.code == 2 and "No such option" in result.err


def test_empty_argument_refused(refused_node: str) -> None:
    result = run_cli("call", refused_node, "echo", "a", "")
    assert result.code == 2
    assert result.err == "rpccli: argument 2 is empty; uWSGI skips or rejects empty arguments\n"


def test_too_many_arguments(refused_node: str) -> None:
    result = run_cli("call", refused_node, "echo", *["x"] * 255)
    assert result.code == 2
    assert result.err == (
        "rpccli: 255 arguments; uWSGI reads at most 254 and drops the rest silently\n"
    )


def test_name_too_long(refused_node: str) -> None:
    result = run_cli("call", refused_node, "f" * 256)
    assert result.code == 2
    assert result.err == "rpccli: the function name is 256 bytes; uWSGI allows at most 255\n"


def test_no_such_file(refused_node: str, tmp_path: Path) -> None:
    result = run_cli("call", refused_node, "echo", f"@{tmp_path}/missing")
    assert result.code == 2
    assert result.err == f"rpccli: cannot read @{tmp_path}/missing: no such file\n"


def test_body_over_protocol_limit(refused_node: str, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a" * 40000)
    result = run_cli("call", refused_node, "echo", f"@{tmp_path}/a", f"@{tmp_path}/a")
    assert result.code == 2 and "the protocol allows at most 65535" in result.err


def test_warning_over_4096_but_sent(bundled_node: str, tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a" * 5000)
    result = run_cli("call", "--dry-run", bundled_node, "echo", f"@{tmp_path}/a")
    assert result.code == 0
    assert result.err == (
        "rpccli: warning: the request body is 5008 bytes: a uWSGI server with the default "
        "--buffer-size (4096) rejects it (--buffer-size N, or buffer_size in the config, tells "
        "rpccli the server's)\n"
    )


# ---- arguments from files and stdin ----


def test_file_and_stdin_arguments(bundled_node: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"from\x00file")
    result = run_cli("call", bundled_node, "echo", f"@{tmp_path}/f", "@-", "@@lit", input=b"in\n")
    assert (result.code, result.out) == (0, b"from\x00file in\n @lit")


def test_stdin_only_once(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "echo", "@-", "@-", input=b"x")
    assert result.code == 2
    assert result.err == "rpccli: @- (standard input) can be used only once per command\n"


def test_stdin_not_read_unless_asked(bundled_node: str) -> None:
    # the input is there, but without @- it is not an argument
    result = run_cli("call", bundled_node, "argc", input=b"ignored")
    assert result.out == b"0"


# ---- the default node ----


def test_default_node_from_env(bundled_node: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RPCCLI_NODE", bundled_node)
    assert run_cli("call", ".", "hello").out == b"Hello, world"


def test_default_node_missing() -> None:
    result = run_cli("call", ".", "hello")
    assert result.code == 2 and result.err.startswith("rpccli: no node given")


def test_pretty_forced_text_json_binary(bundled_node: str) -> None:
    assert run_cli("call", "-o", "pretty", bundled_node, "hello").out == b"Hello, world\n"
    out = run_cli("call", "-o", "pretty", bundled_node, "big", "20").text
    assert out.startswith("00000000  00 01 02 03")
    assert "(binary response, 20 bytes, shown as a hexdump" in out
    out = run_cli("call", "-o", "pretty", bundled_node, "echo", '{"a": [1, 2]}').text
    assert out == '{\n  "a": [\n    1,\n    2\n  ]\n}\n'


def test_successful_calls_are_remembered_for_completion(bundled_node: str) -> None:
    from rpccli import names

    run_cli("call", bundled_node, "upper", "x")
    run_cli("call", bundled_node, "fail")
    known = names.known_names(bundled_node)
    assert known.get("upper") == "learned"
    assert "fail" not in known


def test_control_characters_in_a_function_name_are_escaped(bundled_node: str) -> None:
    result = run_cli("call", bundled_node, "hel\x01lo\x1b[2J")
    assert result.code == 1 and result.out == b""
    assert result.err.startswith(
        f"rpccli: no result from {bundled_node}: 'hel\\x01lo\\x1b[2J' is not registered there"
    )
    assert "\x1b" not in result.err and "\x01" not in result.err


def test_control_characters_in_a_file_name_are_escaped() -> None:
    result = run_cli("call", ":1", "echo", "@no\x1bsuch")
    assert (result.code, result.err) == (2, "rpccli: cannot read '@no\\x1bsuch': no such file\n")


def test_empty_file_argument_names_its_source(tmp_path: Path) -> None:
    (tmp_path / "e.bin").write_bytes(b"")
    result = run_cli("call", ":1", "echo", "a", f"@{tmp_path / 'e.bin'}")
    assert (result.code, result.out) == (2, b"")
    assert f"argument 2 (@{tmp_path / 'e.bin'}, 0 bytes) is empty" in result.err
    result = run_cli("call", ":1", "echo", "@-", input=b"")
    assert "argument 1 (@-, standard input) is empty" in result.err


def test_counts_of_one_are_singular(bundled_node: str) -> None:
    result = run_cli("call", "--dry-run", bundled_node, "hello")
    assert result.text.startswith("# 11 bytes: 4-byte header + 7-byte body, 1 item\n")
    result = run_cli("call", "-v", bundled_node, "hello", "a")
    assert '> items: function "hello", 1 arg (at most 254)\n' in result.err


def test_dry_run_with_json_is_a_usage_error(bundled_node: str) -> None:
    result = run_cli("call", "--dry-run", "--json", bundled_node, "hello")
    assert (result.code, result.out) == (2, b"")
    assert result.err == (
        "rpccli: --dry-run and --explain print text; they have no JSON form (drop --json)\n"
    )
