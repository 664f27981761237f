"""deploy/ddp_demo.py: two gloo processes with DistributedDataParallel train exactly like one.

The same initial CNN and the same global batches go to (a) one process training on whole
batches and (b) two processes started by ``torchrun -m deploy.ddp_demo``, each on half of
every batch. After the first step the gradients agree to float tolerance, and after a
few SGD steps so do the weights and the losses. A DDP run that forgot to average (or
to all-reduce at all) would be off by a factor of two or by half a batch's gradient.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deploy.cnn import DigitCNN
from deploy.ddp_demo import sgd_steps

ROOT = Path(__file__).resolve().parent.parent


def _problem(steps: int = 3, batch: int = 32):
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    init = DigitCNN().state_dict()
    images = [torch.randint(0, 256, (batch, 28, 28), generator=generator).float() for _ in range(steps)]
    labels = [torch.randint(0, 10, (batch,), generator=generator) for _ in range(steps)]
    return {"init": init, "images": images, "labels": labels}


def test_two_processes_with_ddp_match_one_process_on_the_same_global_batches(tmp_path):
    """Started by torchrun, as on a cluster (chapter 10 runs the same file with mp.spawn)."""
    data = _problem()
    torch.save(data, tmp_path / "data.pt")
    args = ["-m", "deploy.ddp_demo", "--data", str(tmp_path / "data.pt"), "--out", str(tmp_path / "out.pt")]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    ddp = torch.load(tmp_path / "out.pt", weights_only=True)
    assert ddp["world_size"] == 2 and ddp["backend"] == "gloo"

    single = DigitCNN()
    single.load_state_dict(data["init"])
    reference = sgd_steps(single, list(zip(data["images"], data["labels"])), lr=0.1)
    for name, grad in reference["first_grads"].items():
        torch.testing.assert_close(ddp["first_grads"][name], grad, rtol=1e-4, atol=1e-6)
        # not vacuous: half a batch alone gives a clearly different gradient
    half = DigitCNN()
    half.load_state_dict(data["init"])
    half_grads = sgd_steps(half, [(data["images"][0][:16], data["labels"][0][:16])], lr=0.1)["first_grads"]
    assert any((half_grads[n] - g).abs().max() > 1e-3 for n, g in reference["first_grads"].items())
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ddp["final_state"][name], value, rtol=1e-4, atol=1e-5)
    assert ddp["losses"] == pytest.approx(reference["losses"], rel=1e-4)
