"""`rpccli bench` against servers whose latency is known (tests/bench/known_latency.py).

The tolerances are wide on purpose (a shared 2-core machine): they check what the arithmetic
predicts -- where the slow calls land in the percentiles -- not speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.bench.conftest import ROOT, Known, served, wait_served
from tests.forkrun import rpccli_forks


def bench(*args: str, timeout: float = 30) -> tuple[int, dict[str, Any], str]:
    # a process of its own, forked by tests/forkrun.py; the test that signals a bench starts it
    done = rpccli_forks().run(["bench", "--json", *args], os.environ, cwd=ROOT, timeout=timeout)
    figures = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, figures, done.stderr.decode()


def test_closed_loop_puts_every_100th_slow_call_above_p99(known: Known) -> None:
    node = known()
    code, figures, _ = bench("-c", "1", "-n", "300", node, "spiked")
    assert code == 0
    assert (figures["calls"], figures["ok"], figures["failed"]) == (300, 300, 0)
    latency = figures["latency_ms"]
    # The 3 slow calls of 300 take 500 ms or more; a 1 ms call on a busy machine takes up to
    # some 100 ms (97 ms seen at load 12), so the bounds between them are at 500 ms.
    assert latency["p50"] < 500  # 1 ms calls
    assert latency["p99"] < 500  # 3 slow calls of 300: all above p99 (rank 297)
    assert 500 <= latency["p99.9"] < 2500  # ... and at p99.9
    assert 500 <= latency["max"] < 2500
    assert served(node) == 300


def test_open_loop_shows_the_stall_that_closed_loop_hides(known: Known) -> None:
    closed = known()
    code, figures, _ = bench("-c", "1", "-d", "2", closed, "stall")
    assert code == 0
    # one slow call (1 s) among hundreds: p99 is a fast call's, not the stall's; a busy machine
    # stretches fast calls (past 100 ms at load 13, 572 ms at p99 in a full run at load 8)
    assert figures["latency_ms"]["p99"] < 1000
    assert figures["latency_ms"]["max"] >= 1000
    opened = known()
    code, figures, _ = bench("-R", "200", "-d", "2", opened, "stall")
    assert code == 0
    # the calls due during the 1 s stall (a third to a half of them) waited up to 1 s each
    assert figures["latency_ms"]["p90"] >= 300
    assert figures["latency_ms"]["max"] >= 900
    assert figures["calls"] == 400 and figures["ok"] == 400
    assert 180 <= figures["rate"] <= 201


def test_lanes_count_every_call_exactly_once(known: Known) -> None:
    node = known()
    code, figures, _ = bench("--lanes", "2", "-c", "4", "-n", "1001", node, "served")
    assert code == 0
    assert (figures["calls"], figures["ok"], figures["lanes"]) == (1001, 1001, 2)


def test_ctrl_c_reports_what_was_done_and_exits_130(known: Known) -> None:
    node = known()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rpccli", "bench", "--json", "-c", "8", "-d", "30", node, "paced"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_served(node, 10)  # calls are under way (not still starting up)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    figures = json.loads(out)
    assert figures["interrupted"] is True
    assert figures["calls"] == figures["ok"] + sum(figures["errors"].values()) > 0
    # every call the server ran was counted: ok, or cut off while waiting (interrupted)
    ran = served(node)
    assert figures["ok"] <= ran <= figures["ok"] + figures["errors"].get("interrupted", 0)


def test_a_node_that_dies_mid_run_is_counted_per_node(known: Known) -> None:
    alive, dying = known(), known()
    # forked (tests/forkrun.py): a process of its own, signalled by nobody; 1 s is some 20 times
    # the time it takes to the kill below (10 calls, a poll every 20 ms)
    argv = ["bench", "--json", "-s", "round-robin", "-c", "4", "-d", "1", f"{alive},{dying}"]
    proc = rpccli_forks().popen([*argv, "paced"], os.environ, cwd=ROOT)
    # 10 calls started there, at most 4 in flight: the bench has counted answers of the node
    wait_served(dying, 10)
    known.kill(dying)
    out, _ = proc.communicate(timeout=20)
    figures = json.loads(out)
    rows = {row["node"]: row for row in figures["nodes"]}
    assert set(rows) == {alive, dying}
    assert rows[dying]["ok"] > 0
    assert sum(row["ok"] + row["errors"] for row in rows.values()) == figures["calls"]
    assert figures["calls"] == figures["ok"] + figures["failed"]
    assert figures["ok"] == served(alive) + rows[dying]["ok"]


def test_fail_if_exits_1_and_says_which(known: Known) -> None:
    node = known()
    code, figures, err = bench(
        "-n", "50", "--fail-if", "p50>1us", "--fail-if", "errors>0.1%", node, "served"
    )
    assert code == 1
    assert [c["crossed"] for c in figures["thresholds"]] == [True, False]
    assert "--fail-if p50>1us: crossed" in err


def test_a_bad_check_is_exit_2_one_line_nothing_sent(known: Known) -> None:
    node = known()
    code, figures, err = bench("--fail-if", "p99>>3", node, "served")
    assert code == 2 and not figures
    assert len(err.strip().splitlines()) == 1 and "--fail-if" in err
    assert served(node) == 0


def test_piped_output_is_plain_text(known: Known) -> None:
    node = known()
    done = rpccli_forks().run(["bench", "-n", "20", node, "served"], os.environ, cwd=ROOT)
    assert done.returncode == 0 and done.stderr == b""
    assert b"\x1b" not in done.stdout
    assert done.stdout.decode().splitlines()[1].startswith("calls     20 in ")


def test_hgrm_and_csv_files(known: Known, tmp_path: Path) -> None:
    node = known()
    hgrm, csv = tmp_path / "out.hgrm", tmp_path / "out.csv"
    code, figures, _ = bench(
        "--lanes", "1", "-c", "2", "-d", "1.5", "--hgrm", str(hgrm), "--csv", str(csv),
        node, "paced",
    )  # fmt: skip
    assert code == 0
    lines = hgrm.read_text().splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    rows = [line.split() for line in lines[2:] if line and not line.startswith("#")]
    assert [float(r[1]) for r in rows] == sorted(float(r[1]) for r in rows)  # percentiles rise
    assert float(rows[-1][1]) == 1.0 and int(rows[-1][2]) == figures["ok"]
    assert (
        lines[-3].startswith("#[Mean    =") and f"Total count    = {figures['ok']:12d}" in lines[-2]
    )
    table = csv.read_text().splitlines()
    assert table[0] == "second,calls,errors,p50_ms,p99_ms"
    assert sum(int(row.split(",")[1]) for row in table[1:]) == figures["calls"]


def test_args_file_cycles_through_its_lines_and_warmup_is_not_counted(
    known: Known, tmp_path: Path
) -> None:
    node = known()
    lines = tmp_path / "args.txt"
    lines.write_text("# a comment\none\n'two words'\n\n@" + str(lines) + "\n")
    code, figures, _ = bench(
        "--lanes", "1", "-c", "1", "--warmup", "0.3", "-n", "30", "--args-file", str(lines),
        node, "paced",
    )  # fmt: skip
    assert code == 0 and figures["calls"] == figures["ok"] == 30
    assert served(node) > 30  # the warm-up's calls ran but are not counted


def test_every_call_failing_is_the_error_s_exit_code(known: Known) -> None:
    node = known()
    known.kill(node)
    code, figures, _ = bench("-n", "20", node, "paced")
    assert code == 3
    assert figures["errors"] == {"connect": 20}
    assert "cannot connect" in figures["first_errors"]["connect"]


def test_an_option_after_function_is_refused_not_sent(known: Known) -> None:
    node = known()
    code, figures, err = bench(node, "paced", "-c", "4")
    assert code == 2 and not figures
    assert err == (
        "rpccli: -c after FUNCTION would be an ARG: options go before NODE FUNCTION "
        "(to send it as an argument, use --args-file)\n"
    )
    assert served(node) == 0
