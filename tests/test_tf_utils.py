"""dlcourse_utils.tf_utils imports TensorFlow quietly and reads TensorBoard scalars back exactly."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tf_utils = pytest.importorskip("dlcourse_utils.tf_utils")
tf = pytest.importorskip("tensorflow")

PROBE = r"""
import json, os, sys
before = {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
import dlcourse_utils.tf_utils
print(json.dumps({
    "before": before,
    "after": {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")},
    "modules": sorted(m for m in ("tensorflow", "keras", "torch") if m in sys.modules),
}))
"""


def run_probe(env_overrides: dict[str, str | None]) -> tuple[dict, str]:
    env = dict(os.environ)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout), done.stderr


def test_importing_tf_utils_imports_tensorflow_without_a_word_on_stderr():
    result, stderr = run_probe({"TF_ENABLE_ONEDNN_OPTS": None, "TF_CPP_MIN_LOG_LEVEL": None})
    assert stderr == ""
    assert result["modules"] == ["keras", "tensorflow"]
    assert result["after"] == {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_a_choice_made_before_the_import_is_respected():
    result, _ = run_probe({"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result["after"]["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert result["after"]["TF_CPP_MIN_LOG_LEVEL"] == "3"   # errors-are-hidden is the floor


def test_quiet_stderr_drops_file_descriptor_2_and_restores_it(tmp_path):
    code = (
        "import os, sys\n"
        "from dlcourse_utils.tf_utils import quiet_stderr\n"
        "with quiet_stderr():\n"
        "    os.write(2, b'from C\\n')\n"
        "    print('from Python', file=sys.stderr)\n"
        "os.write(2, b'after\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == "after\n"


def _write_log(log_dir, run, values, *, extra=False):
    writer = tf.summary.create_file_writer(str(log_dir / run))
    with writer.as_default():
        for step, value in values:
            tf.summary.scalar("epoch_loss", value, step=step)
            if extra:
                tf.summary.histogram("weights", np.arange(5.0), step=step)
                tf.summary.text("note", "not a number", step=step)
    writer.flush()
    writer.close()


def test_read_scalars_returns_every_run_and_tag_in_step_order(tmp_path):
    _write_log(tmp_path, "train", [(1, 0.5), (0, 0.75), (2, 0.25)], extra=True)
    _write_log(tmp_path, "validation", [(0, 1.0), (1, 0.875)])
    scalars = tf_utils.read_scalars(tmp_path)
    assert list(scalars) == ["train", "validation"]
    assert scalars["train"] == {"epoch_loss": [(0, 0.75), (1, 0.5), (2, 0.25)]}   # no histogram, no text
    assert scalars["validation"]["epoch_loss"] == [(0, 1.0), (1, 0.875)]


def test_read_scalars_matches_a_keras_history(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    X = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = X.sum(axis=1, keepdims=True)
    history = model.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=tmp_path)])
    scalars = tf_utils.read_scalars(tmp_path)
    logged = [value for _, value in scalars["validation"]["epoch_loss"]]
    np.testing.assert_allclose(logged, history.history["val_loss"], rtol=1e-6)
    assert [step for step, _ in scalars["train"]["epoch_loss"]] == [0, 1, 2]


def test_read_scalars_on_an_empty_folder_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TensorBoard event file"):
        tf_utils.read_scalars(tmp_path)
