"""Shared test set-up: the environment every notebook and test runs under.

Set at import time, so kernels started by nbval inherit it too.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import notebooks  # noqa: E402  (tools/notebooks.py)

os.environ.update(notebooks.EXECUTION_ENV)
# Progress records written by self-checks go to a throw-away folder, never the user's home.
# Each pytest process (xdist workers too) makes its own and removes it when it exits.
_HOME = tempfile.mkdtemp(prefix="dlcourse-home-")
os.environ["DLCOURSE_HOME"] = _HOME
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
