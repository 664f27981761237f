"""setup_notebook makes runs reproducible; doctor reports what is there and how to fix the rest."""
from __future__ import annotations

import os
import random

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
    assert f"numpy        {np.__version__}" in out
    assert "DLCOURSE_DATA_MIRROR" in out and "mnist" in out
    assert any("not a folder" in p for p in problems)
