"""A long line pasted into ``rpccli shell``: time from the paste to the answer on the screen, for a
64 KiB line against a 1 KiB line in the same run. Goal: 64 KiB answered within 0.5 s.

    python bench/bench_shell_paste.py                # 5 rounds
    python bench/bench_shell_paste.py --rounds 10 --big 65528

The shell runs in a tmux server of its own (a private socket, 120x40) against the bundled server
(in this process, --buffer-size 65535 so one request may carry 64 KiB), whose function answers
with the size it got. Each round pastes both lines in both ways a terminal pastes:

- **bracketed**: ``tmux paste-buffer -p``, the paste marks around the text (every modern terminal),
  then Enter;
- **plain**: ``tmux paste-buffer``, the text as if typed, its newline an Enter (a terminal without
  bracketed paste, ``tmux send-keys``, a serial console).

The clock starts before the paste and stops when the answer appears in the pane's output
(``tmux pipe-pane`` into a file, polled every 2 ms); the time the call reached the server is
printed beside it. Medians over rounds.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from protocol.server import serve_in_thread  # noqa: E402
from protocol.server.functions import FunctionTable  # noqa: E402

#: the largest argument of one request to a function named "size" (65535-byte body)
LARGEST = 65535 - 2 - len("size") - 2


class Pane:
    """``rpccli shell NODE`` in a private tmux server; its output copied to a file."""

    def __init__(self, tmp: Path, node: str) -> None:
        self.socket = f"rpccli-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.log = tmp / "pane.log"
        self.log.touch()
        env = f"XDG_STATE_HOME={tmp}/state XDG_CONFIG_HOME={tmp}/config NO_COLOR=1"
        shell = f"{shlex.quote(sys.executable)} -m rpccli shell --timeout 30 {node}"
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", f"env -u RPCCLI_NODE {env} {shell}")
        self.tmux("pipe-pane", "-o", f"cat >> {shlex.quote(str(self.log))}")

    def tmux(self, *args: str) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args], check=True, cwd=ROOT, timeout=60
        )

    def wait_for(self, marker: bytes, since: int, timeout: float = 120.0) -> float:
        end = time.monotonic() + timeout
        with self.log.open("rb") as log:
            log.seek(since)
            seen = b""
            while time.monotonic() < end:
                chunk = log.read()
                if chunk:
                    seen = seen[-len(marker) :] + chunk
                    if marker in seen:
                        return time.monotonic()
                else:
                    time.sleep(0.002)
        raise SystemExit(f"no {marker!r} after {timeout} s: see {self.log}")

    def paste(self, text: str, bracketed: bool) -> None:
        buffer = self.tmp / "paste"
        buffer.write_text(text)
        self.tmux("load-buffer", "-b", "bench", str(buffer))
        self.tmux("paste-buffer", "-b", "bench", *(["-p"] if bracketed else []))
        if bracketed:
            self.tmux("send-keys", "Enter")  # a bracketed paste waits for Enter

    def close(self) -> None:
        self.tmux("kill-server")  # this benchmark's own server only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", type=int, default=1024, help="the baseline line (bytes)")
    parser.add_argument("--big", type=int, default=LARGEST, help=f"the long line (max {LARGEST})")
    options = parser.parse_args()
    if not 1 <= options.small <= options.big <= LARGEST:
        parser.error(f"need 1 <= --small <= --big <= {LARGEST}")
    arrivals: dict[int, float] = {}
    lock = threading.Lock()

    def size(*args: bytes) -> bytes:
        with lock:
            count = len(arrivals) + 1
            arrivals[count] = time.monotonic()
        return b"answer-%d-%d" % (count, sum(len(a) for a in args))

    table = FunctionTable()
    table.register("size", size)
    table.register("rpc_list", lambda *args: b"size")
    cases = [(bracketed, n) for bracketed in (True, False) for n in (options.small, options.big)]
    shown: dict[tuple[bool, int], list[float]] = {case: [] for case in cases}
    called: dict[tuple[bool, int], list[float]] = {case: [] for case in cases}
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve_in_thread(table, ("127.0.0.1:0",), buffer_size=65535) as server,
    ):
        pane = Pane(Path(tmp), str(server.node))
        try:
            pane.wait_for(b"Ctrl-D quits", 0)
            count = 0
            for _ in range(options.rounds):
                for bracketed, n in cases:
                    count += 1
                    since = pane.log.stat().st_size
                    start = time.monotonic()
                    pane.paste("size " + "x" * n + "\n", bracketed)
                    answered = pane.wait_for(b"answer-%d-%d" % (count, n), since)
                    shown[bracketed, n].append(answered - start)
                    called[bracketed, n].append(arrivals[count] - start)
                    time.sleep(0.2)  # the prompt comes back before the next paste
        finally:
            pane.close()
    print(f"rpccli shell in tmux, {options.rounds} rounds (median seconds from paste to answer)")
    for bracketed in (True, False):
        how = "bracketed paste" if bracketed else "plain paste    "
        small = statistics.median(shown[bracketed, options.small])
        big = statistics.median(shown[bracketed, options.big])
        sent = statistics.median(called[bracketed, options.big])
        per_kib = (big - small) / (options.big - options.small) * 1024 * 1000
        print(
            f"  {how}  {options.small:>6} B {small:6.3f} s   {options.big:>6} B {big:6.3f} s"
            f" (call sent after {sent:5.3f} s)   ratio {big / small:5.2f}"
            f"   {per_kib:6.2f} ms per extra KiB"
        )


if __name__ == "__main__":
    main()
