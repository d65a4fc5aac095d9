"""TAB latency: one completion process, as bash, zsh and fish run it on TAB, against
``python -c pass`` with the same interpreter, in the same run.

    python bench/bench_completion.py              # 30 rounds
    python bench/bench_completion.py --runs 60 --names 2000

A node's listing of ``--names`` names is stored in a temporary state directory; each round runs,
in turn (so that machine noise hits them alike; after 2 warm-up rounds, ``--warmups``): ``python
-c pass``; the TAB process for ``rpccli call NODE hel`` in bash, zsh and fish
(rpccli.completion.quick answers it without click); and the same line with an option before
NODE, ``rpccli call -t 3 NODE hel``, which click's path answers (the path every TAB took before
the quick one). Median wall and CPU (user + system) per process. The last line, ``RATIO``, is the
figure: the quick TAB process's median wall over ``python -c pass``'s, and click's path's for
comparison; then the same for CPU, which a busy machine moves less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.installed import installed_python  # noqa: E402

NODE = "127.0.0.1:3031"
BREAKS = " \t\n\"'><=;|&(:"


def commands(python: str, rpccli: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """label -> (argv, environment added): what each completion script runs on TAB."""
    quick = f"rpccli call {NODE} hel"
    slow = f"rpccli call -t 3 {NODE} hel"
    return {
        "python -c pass": ([python, "-c", "pass"], {}),
        "TAB bash (quick)": (
            [rpccli],
            {"_RPCCLI_COMPLETE": "bash_complete", "COMP_LINE": quick, "COMP_WORDBREAKS": BREAKS},
        ),
        "TAB zsh (quick)": (
            [rpccli],
            {"_RPCCLI_COMPLETE": "zsh_complete", "COMP_WORDS": quick, "COMP_CWORD": "3"},
        ),
        "TAB fish (quick)": (
            [rpccli],
            {"_RPCCLI_COMPLETE": "fish_complete", "COMP_WORDS": quick, "COMP_CWORD": "hel"},
        ),
        "TAB bash (click)": (
            [rpccli],
            {"_RPCCLI_COMPLETE": "bash_complete", "COMP_LINE": slow, "COMP_WORDBREAKS": BREAKS},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--names", type=int, default=200, help="names in the node's listing")
    parser.add_argument(
        "--warmups", type=int, default=2, help="rounds first, not counted (page cache, bytecode)"
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="run this checkout's venv as it is (an editable install) instead of an installed copy",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-completion-") as tmp:
        # as a user's pip install leaves rpccli: a checkout's editable install slows every
        # interpreter of its venv, python -c pass too (bench/installed.py)
        python = sys.executable if options.in_place else str(installed_python(Path(tmp)))
        rpccli = str(Path(python).parent / "rpccli")
        env = {
            **os.environ,
            "XDG_STATE_HOME": f"{tmp}/state",
            "XDG_CONFIG_HOME": f"{tmp}/config",
            "HOME": tmp,
        }
        for name in ("RPCCLI_CONFIG", "RPCCLI_NODE"):
            env.pop(name, None)
        os.environ.update(XDG_STATE_HOME=env["XDG_STATE_HOME"])
        from rpccli import names

        listing = ["hello", "hellolua"] + [f"hel{n:05d}" for n in range(options.names - 2)]
        names.store_listing(NODE, listing)
        names.remember(NODE, "hello")
        table = commands(python, rpccli)
        wall: dict[str, list[float]] = {label: [] for label in table}
        cpu: dict[str, list[float]] = {label: [] for label in table}
        for round_ in range(options.warmups + options.runs):
            for label, (argv, extra) in table.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                done = subprocess.run(
                    argv, env={**env, **extra}, capture_output=True, check=True, cwd=tmp
                )
                elapsed = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if label != "python -c pass" and b"hellolua" not in done.stdout:
                    raise SystemExit(f"{label}: no answer: {done.stdout[:200]!r}")
                if round_ >= options.warmups:
                    wall[label].append(elapsed)
                    cpu[label].append(
                        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    )
    base = statistics.median(wall["python -c pass"])
    base_cpu = statistics.median(cpu["python -c pass"])
    where = "this venv as it is (editable)" if options.in_place else "rpccli as installed"
    print(f"{options.runs} rounds, a listing of {options.names} names, {where}")
    print(f"{'process':<20} {'wall ms':>8} {'cpu ms':>8} {'/ pass':>7}")
    for label in table:
        median = statistics.median(wall[label])
        used = statistics.median(cpu[label])
        print(f"{label:<20} {median * 1000:8.1f} {used * 1000:8.1f} {median / base:7.2f}")
    quick = statistics.median(wall["TAB bash (quick)"]) / base
    slow = statistics.median(wall["TAB bash (click)"]) / base
    quick_cpu = statistics.median(cpu["TAB bash (quick)"]) / base_cpu
    slow_cpu = statistics.median(cpu["TAB bash (click)"]) / base_cpu
    print(
        f"RATIO TAB process / python -c pass: quick {quick:.2f}, click's path {slow:.2f}"
        f" (CPU: quick {quick_cpu:.2f}, click's path {slow_cpu:.2f})"
    )


if __name__ == "__main__":
    main()
