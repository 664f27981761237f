"""Helpers for the dlcourse deep-learning book.

Importing this package is cheap and has no side effects: every submodule is
loaded on first use (PEP 562), and neither TensorFlow nor PyTorch is imported
until you ask for a framework-specific module such as
:mod:`dlcourse_utils.torch_utils`.

>>> import dlcourse_utils as dl
>>> dl.setup_notebook(seed=0)      # seeds, quiet logs, plot defaults
>>> dl.gradcheck.check_gradient    # submodules load on first access
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBMODULES = (
    "checks",
    "data",
    "env",
    "gradcheck",
    "plotting",
    "tf_utils",
    "torch_utils",
)
# Functions re-exported at the top level, mapped to the submodule that defines them.
_FUNCTIONS = {
    "setup_notebook": "env",
    "doctor": "env",
    "check": "checks",
    "hint": "checks",
    "progress": "checks",
    "solution": "checks",
}

__all__ = [*_SUBMODULES, *_FUNCTIONS]

if TYPE_CHECKING:  # pragma: no cover - for static type checkers only
    from . import checks, data, env, gradcheck, plotting, torch_utils
    from .checks import check, hint, progress, solution
    from .env import doctor, setup_notebook


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FUNCTIONS:
        module = importlib.import_module(f".{_FUNCTIONS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'dlcourse_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
