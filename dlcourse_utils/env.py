"""Notebook set-up and the environment doctor.

``setup_notebook`` is the one call at the top of every notebook: it seeds every
random number generator in play, turns on deterministic kernels, quietens
TensorFlow's start-up log and sets the book's plot style, so that a fresh run
prints exactly what the book shows. ``doctor`` tells a learner what they have
and, for anything missing, the command that fixes it.
"""
from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import json
import os
import platform
import random
import shutil
import sys
import warnings
from typing import Iterable

import numpy as np

__all__ = ["setup_notebook", "doctor"]

_FRAMEWORKS = ("tensorflow", "torch")

#: The book's plot defaults: readable on a laptop screen and in the web book.
PLOT_STYLE = {
    "figure.figsize": (6.0, 3.8),
    "figure.dpi": 90,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
}


def setup_notebook(seed: int = 0, frameworks: Iterable[str] = ()) -> None:
    """Make a notebook reproducible and quiet.

    Parameters
    ----------
    seed : int
        Seed for Python's ``random``, NumPy's global generator and, when loaded,
        TensorFlow/Keras and PyTorch.
    frameworks : iterable of {"tensorflow", "torch"}
        Frameworks this notebook uses. They are imported *here*, after the
        environment variables that must precede their import (TensorFlow reads
        its log level once, at import) and seeded with deterministic kernels.
        A framework already imported is seeded too.
    """
    wanted = set(frameworks)
    unknown = wanted - set(_FRAMEWORKS)
    if unknown:
        raise ValueError(f"unknown framework(s) {sorted(unknown)}; choose from {list(_FRAMEWORKS)}")
    # Must be set before TensorFlow is imported: its C++ start-up log goes to stderr.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN kernels announce themselves on stderr at import and may reorder float sums
    # between runs; without them TensorFlow's CPU results reproduce exactly.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS on a GPU
    random.seed(seed)
    np.random.seed(seed)

    load_triton_before_tensorflow()
    if "torch" in wanted:
        import torch  # noqa: F401  (before TensorFlow: see load_triton_before_tensorflow)
    if "tensorflow" in wanted or "tensorflow" in sys.modules or "keras" in sys.modules:
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        tf.get_logger().setLevel("ERROR")
    if "torch" in wanted or "torch" in sys.modules:
        from .torch_utils import seed_everything

        seed_everything(seed)

    try:
        import matplotlib

        matplotlib.rcParams.update(PLOT_STYLE)
    except ImportError:  # plotting is optional for a headless run
        pass


_triton_tried = False


def load_triton_before_tensorflow() -> None:
    """Import triton, where it is installed, before TensorFlow is.

    TensorFlow >= 2.20 wheels load their native libraries with ``RTLD_GLOBAL``; importing
    triton (which CUDA builds of PyTorch bring and load) *after* TensorFlow then crashes the
    Python process with a segmentation fault (upstream: tensorflow/tensorflow#124205). Colab
    ships both. Loading triton first avoids it; where triton is absent (CPU builds of PyTorch)
    this does nothing. ``setup_notebook`` and ``dlcourse_utils.tf_utils`` call it before they
    import TensorFlow.
    """
    global _triton_tried
    if _triton_tried or "triton" in sys.modules or importlib.util.find_spec("triton") is None:
        return
    if "tensorflow" in sys.modules:
        # Too late: importing triton now would crash. Say so instead (torch may load it later).
        warnings.warn(
            "TensorFlow was imported before triton (which PyTorch's CUDA build loads): that crashes the "
            "kernel (tensorflow/tensorflow#124205). Restart the kernel and run the set-up cell first.",
            RuntimeWarning, stacklevel=3,
        )
        return
    _triton_tried = True
    try:
        import triton  # noqa: F401
    except Exception:  # unusable here (no GPU driver, say): then it cannot clash either
        pass


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _in_colab() -> bool:
    return "google.colab" in sys.modules


#: What each chapter needs, by distribution name. NumPy and Matplotlib are needed everywhere;
#: the frameworks come with Colab. Packages Colab does not ship are grouped as optional
#: dependencies of this package (``pyproject.toml``: ``[nlp]``, ``[tensorboard]``,
#: ``[transformers]``, ``[deploy]``); ``CHAPTER_EXTRAS`` names the groups a chapter needs, and
#: every notebook's Colab set-up cell installs exactly those (``make headers`` writes the cells).
CHAPTER_PACKAGES: dict[int, tuple[str, ...]] = {
    1: (), 2: (),
    3: ("tensorflow", "keras", "torch", "scikit-learn"),
    4: ("tensorflow", "keras", "torch", "scikit-learn"),
    5: ("tensorflow", "keras", "torch"),
    6: ("torch", "scikit-learn", "scipy"),
    7: ("tensorflow", "keras", "scikit-learn"),
    8: ("torch",),
    9: ("torch", "scikit-learn"),
    10: ("tensorflow", "keras", "torch"),
}
CHAPTER_EXTRAS: dict[int, tuple[str, ...]] = {4: ("tensorboard",), 6: ("nlp",), 9: ("transformers",),
                                              10: ("deploy", "tensorboard")}
_DISTRIBUTION = "dlcourse-utils"


def extra_requirements() -> dict[str, list[str]]:
    """The distributions of each optional-dependency group, read from this package's metadata."""
    from packaging.requirements import Requirement  # matplotlib depends on it

    try:
        meta = metadata.metadata(_DISTRIBUTION)
        requirements = [Requirement(r) for r in metadata.requires(_DISTRIBUTION) or []]
    except metadata.PackageNotFoundError:
        return {}
    return {
        extra: [r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": extra})]
        for extra in meta.get_all("Provides-Extra") or []
    }


def _helper_source() -> str:
    """Where this package was installed from: a git URL (Colab), or the checkout (editable)."""
    try:
        text = metadata.distribution(_DISTRIBUTION).read_text("direct_url.json") or ""
        url = json.loads(text).get("url", "") if text else ""
    except (metadata.PackageNotFoundError, ValueError):
        url = ""
    return url


def install_command(extras: Iterable[str], pip: str) -> str:
    """The command that installs this package's optional groups, the way it was installed."""
    names = ",".join(sorted(set(extras)))
    source = _helper_source()
    if source.startswith("file://"):
        return f"{pip} -e '{source[len('file://'):]}[{names}]'"
    if source:
        return f'{pip} "{_DISTRIBUTION}[{names}] @ git+{source}@main"'
    return f"{pip} '{_DISTRIBUTION}[{names}]'"


def _framework_fix(dist: str, pip: str) -> str:
    if dist == "torch" and platform.system() == "Linux" and not _in_colab():
        # PyPI's default torch for Linux is a CUDA build with several GB of NVIDIA packages.
        return f"{pip} torch --index-url https://download.pytorch.org/whl/cpu"
    if dist == "tensorflow" and platform.system() == "Linux" and not _in_colab():
        return f"{pip} tensorflow-cpu"
    return f"{pip} {dist}"


def doctor(chapter: int | None = None) -> list[str]:
    """Print versions, accelerator, data and, per chapter, what is missing with the command that fixes it.

    Parameters
    ----------
    chapter : int, optional
        Check only what this chapter needs (default: every chapter).

    Returns
    -------
    list of str
        The problems found (empty when all is well: only then does it print "All set").
    """
    problems: list[str] = []
    pip = "%pip install" if "ipykernel" in sys.modules else f"{sys.executable} -m pip install"
    print(f"Python       {platform.python_version()} on {platform.system()} {platform.machine()}")
    if sys.version_info < (3, 10):
        problems.append("Python 3.10 or newer is needed: install a newer Python and recreate the environment.")
    chapters = [chapter] if chapter is not None else sorted(CHAPTER_PACKAGES)
    unknown = [c for c in chapters if c not in CHAPTER_PACKAGES]
    if unknown:
        raise ValueError(f"no chapter {unknown[0]}: choose one of {sorted(CHAPTER_PACKAGES)}")
    groups = extra_requirements()
    packages = {"numpy": "numpy", "matplotlib": "matplotlib", "pooch": "pooch"}
    for c in chapters:
        packages.update({dist: dist for dist in CHAPTER_PACKAGES[c]})
        for extra in CHAPTER_EXTRAS.get(c, ()):
            packages.update({dist: dist for dist in groups.get(extra, [])})

    def installed(dist: str) -> str | None:
        return _version(dist) or (_version("tensorflow-cpu") if dist == "tensorflow" else None)

    width = max(13, *(len(label) + 1 for label in packages))
    for label, dist in packages.items():
        print(f"{label:<{width}}{installed(dist) or 'missing'}")
    for c in chapters:
        missing = [d for d in CHAPTER_PACKAGES[c] if installed(d) is None]
        fixes = [_framework_fix(d, pip) for d in missing]
        missing_extras = []
        for extra in CHAPTER_EXTRAS.get(c, ()):
            absent = [d for d in groups.get(extra, [extra]) if installed(d) is None]
            if absent:
                missing += absent
                missing_extras.append(extra)
        if missing_extras:
            fixes.append(install_command(missing_extras, pip))
        if fixes:
            problems.append(f"chapter {c} needs {', '.join(missing)}: " + "  then  ".join(fixes))
    for base in ("numpy", "matplotlib", "pooch"):
        if installed(base) is None:
            problems.append(f"{base} is missing (needed everywhere): {pip} {base}")

    gpu = "none (CPU only — every notebook in this book runs on a CPU)"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            gpu = f"CUDA: {torch.cuda.get_device_name(0)}"
    elif shutil.which("nvidia-smi"):
        gpu = "an NVIDIA driver is present (nvidia-smi found)"
    print(f"accelerator  {gpu}")

    from . import data  # noqa: PLC0415 - loaded only when the doctor is asked

    mirror = os.environ.get(data.MIRROR_ENV)
    print(f"data mirror  {mirror or 'not set'} (${data.MIRROR_ENV})")
    print(f"data cache   {data.cache_dir()}")
    rows = data.data_status()
    for row in rows:
        print(f"  {row['path']:<44} {row['status']}")
    if any(row["status"] == "corrupt" for row in rows):
        problems.append(
            "a data file is corrupt: it is downloaded again on next use (cache), or replace it in the mirror."
        )
    if any(row["status"] == "missing" for row in rows):
        print("  (missing files download on first use; offline, point $"
              f"{data.MIRROR_ENV} at a folder that holds them)")
    if mirror and not os.path.isdir(mirror):
        problems.append(f"${data.MIRROR_ENV} points at {mirror}, which is not a folder: fix the path or unset it.")

    if _in_colab():
        print("running in Google Colab: datasets download on first use.")
    if problems:
        print("\nTo fix:")
        for p in problems:
            print(f"  - {p}")
    else:
        print("\nAll set. ✅")
    return problems
