"""Shared test set-up: the environment every notebook and test runs under.

Set at import time, so kernels started by nbval inherit it too. It lives at the
repository root so that it applies to the notebooks in chapters/ and solutions/ as
well as to tests/, however pytest is invoked.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests")]

import notebooks  # noqa: E402  (tools/notebooks.py)

# nbval compares printed numbers at the precision the computation supports.
pytest_plugins = ["nbval_numbers"]

os.environ.update(notebooks.EXECUTION_ENV)
# `make test-portable` re-checks the notebooks as if on another machine (tests/nbval_numbers.py).
if os.environ.get("DLCOURSE_OTHER_MACHINE") == "1":
    os.environ.update(notebooks.OTHER_MACHINE_ENV)
# Progress records written by self-checks go to a throw-away folder, never the user's home.
# Each pytest process (xdist workers too) makes its own and removes it when it exits.
_HOME = tempfile.mkdtemp(prefix="dlcourse-home-")
os.environ["DLCOURSE_HOME"] = _HOME
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
