"""rpccli as a user's ``pip install`` leaves it, for start-up benchmarks run from a checkout.

A checkout's ``.venv`` holds rpccli as an *editable* install: setuptools puts an import hook in
site-packages (``__editable___rpccli_*_finder``) that every interpreter of that venv imports at
start-up, rpccli or not. The hook imports ``pathlib``, ``importlib.util``, ``urllib.parse`` and
more: about 49M instructions, more than a bare ``python -c pass`` costs without it (38.6M against
87.6M, callgrind). rpccli imports those modules itself, so its own start barely changes, but a
baseline such as ``python -c pass`` or a raw-socket script pays the hook too, and a ratio
against it comes out lower than a user would see.

:func:`installed_python` builds what a non-editable install gives, in a temporary directory: a
venv without pip (the same base interpreter), the ``rpccli`` and ``protocol`` packages copied
into a directory of their own and compiled, the checkout venv's site-packages after it for the
third-party packages (a path, not a site directory: its ``.pth`` files, the hook's among them,
are not run), and the console script as pip writes it. Commands run with the Python it returns,
from a directory outside the checkout, start as an installed rpccli does.
"""

from __future__ import annotations

import compileall
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rpccli", "protocol")

CONSOLE_SCRIPT = """\
#!{python}
import sys
from rpccli.cli import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""


def installed_python(where: Path) -> Path:
    """A Python under ``where`` that imports rpccli as installed (see the module's docstring);
    its ``bin/`` holds the ``rpccli`` console script too."""
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = where / "site"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    if not compileall.compile_dir(site, quiet=1):  # pip compiles at install time
        raise SystemExit(f"could not compile the copy of rpccli in {site}")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    third_party = sysconfig.get_paths()["purelib"]  # this (the checkout's) venv's
    Path(purelib, "rpccli-installed.pth").write_text(f"{site}\n{third_party}\n")
    script = venv / "bin" / "rpccli"
    script.write_text(CONSOLE_SCRIPT.format(python=python))
    script.chmod(0o755)
    return python
