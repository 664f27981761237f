"""TensorFlow/Keras helpers: a quiet import and reading TensorBoard logs back.

This module and :mod:`dlcourse_utils.torch_utils` are the only ones that import
a framework; ``import dlcourse_utils`` alone imports neither.

Importing this module imports TensorFlow and Keras *quietly and reproducibly*,
with the same settings as :func:`dlcourse_utils.env.setup_notebook`, so it may be
imported before or after that call:

>>> import dlcourse_utils as dl
>>> from dlcourse_utils import tf_utils   # TensorFlow, without log lines on stderr
>>> dl.setup_notebook(seed=0, frameworks=["tensorflow"])

- oneDNN kernels are switched off (``TF_ENABLE_ONEDNN_OPTS=0``, unless you set
  it yourself before the import): they are faster on some CPUs, but their float
  sums may come out in a different order from run to run.
- The C++ log threshold is raised to 3 (errors hidden): under deterministic ops,
  ``Model.fit`` makes tf.data log a harmless "NodeDef mentions attribute
  use_unbounded_threadpool" error line, with a timestamp, on every run. Real
  errors still raise Python exceptions.
- Anything TensorFlow 2.21 still writes to stderr while it is being imported
  goes nowhere: its Abseil logger prints some lines (such as "All log messages
  before absl::InitializeLog() ...") whatever ``TF_CPP_MIN_LOG_LEVEL`` says, with
  a timestamp and a process id that would differ in every notebook run.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["quiet_stderr", "read_scalars"]


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send whatever is written to file descriptor 2 (C/C++ stderr) to the void.

    Python's ``sys.stderr`` is redirected as well. In Jupyter, ipykernel forwards
    descriptor 2 to the notebook, which is how C++ log lines end up in cell outputs;
    inside this block they are dropped instead.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            os.dup2(devnull.fileno(), 2)
            with contextlib.redirect_stderr(devnull):
                yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_quietly() -> None:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")   # run-to-run reproducible float sums
    # Level 3 hides C++ INFO, WARNING and ERROR lines once Abseil logging is set up.
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        level = 0
    if level < 3:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules:
        return
    from .env import load_triton_before_tensorflow

    load_triton_before_tensorflow()  # a triton imported after TensorFlow crashes the kernel
    with quiet_stderr():
        import keras  # noqa: F401  (imports TensorFlow, its backend)
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")


_import_quietly()

import tensorflow as tf  # noqa: E402  (already imported, quietly, above)


def read_scalars(log_dir: str | os.PathLike[str]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Read every scalar that TensorBoard would plot from a log directory.

    Parameters
    ----------
    log_dir : str or path-like
        The folder given to ``keras.callbacks.TensorBoard(log_dir=...)`` (or to
        ``tf.summary.create_file_writer``). Each sub-folder holding event files
        is one *run*; Keras writes the runs ``train`` and ``validation``.

    Returns
    -------
    dict
        ``{run: {tag: [(step, value), ...]}}``, runs and tags sorted by name and
        points by step, e.g. ``scalars["validation"]["epoch_loss"]``. Event files
        that appear in the same run are read in name order (their names begin
        with a timestamp, so that is the order they were written in).

    Raises
    ------
    FileNotFoundError
        If ``log_dir`` holds no event file.
    """
    root = Path(log_dir)
    files = sorted(root.rglob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"no TensorBoard event file under {root}")
    runs: dict[str, dict[str, dict[int, float]]] = {}
    for path in files:
        run = path.parent.relative_to(root).as_posix()
        tags = runs.setdefault(run, {})
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.HasField("simple_value"):  # the TF1 format
                    number = float(value.simple_value)
                elif value.metadata.plugin_data.plugin_name == "scalars":  # the TF2 format
                    number = float(tf.make_ndarray(value.tensor))
                else:  # images, histograms, text, graphs: not scalars
                    continue
                tags.setdefault(value.tag, {})[int(event.step)] = number
    return {
        run: {tag: sorted(points.items()) for tag, points in sorted(tags.items())}
        for run, tags in sorted(runs.items())
    }
