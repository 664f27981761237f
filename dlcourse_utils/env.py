"""Notebook set-up and the environment doctor.

``setup_notebook`` is the one call at the top of every notebook: it seeds every
random number generator in play, turns on deterministic kernels, quietens
TensorFlow's start-up log and sets the book's plot style, so that a fresh run
prints exactly what the book shows. ``doctor`` tells a learner what they have
and, for anything missing, the command that fixes it.
"""
from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import random
import shutil
import sys
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


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def doctor() -> list[str]:
    """Print versions, accelerator, data availability and a fix for anything missing.

    Returns
    -------
    list of str
        The problems found (empty when all is well).
    """
    problems: list[str] = []
    pip = "%pip install" if "ipykernel" in sys.modules else f"{sys.executable} -m pip install"
    print(f"Python       {platform.python_version()} on {platform.system()} {platform.machine()}")
    if sys.version_info < (3, 10):
        problems.append("Python 3.10 or newer is needed: install a newer Python and recreate the environment.")
    packages = {
        "numpy": "numpy", "matplotlib": "matplotlib", "tensorflow": "tensorflow",
        "keras": "keras", "torch": "torch", "nltk": "nltk", "scikit-learn": "scikit-learn",
        "pooch": "pooch",
    }
    for label, dist in packages.items():
        version = _version(dist) or (_version("tensorflow-cpu") if dist == "tensorflow" else None)
        print(f"{label:<13}{version or 'missing'}")
        if version is None:
            fix = f"{pip} {dist}"
            if dist == "torch":
                fix += "==2.13.0  (pin it: an unpinned torch may pull several GB of CUDA packages)"
            problems.append(f"{label} is missing (needed from chapter 3 on): {fix}")

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
