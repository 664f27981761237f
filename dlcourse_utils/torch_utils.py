"""PyTorch helpers: check autograd against central differences, and seeding.

This module imports PyTorch; :mod:`dlcourse_utils.gradcheck` does not.

>>> import torch
>>> from dlcourse_utils.torch_utils import check_autograd
>>> check_autograd(torch.tanh, torch.linspace(-2, 2, 5)).passed
True
"""
from __future__ import annotations

import os
import random
from collections.abc import Callable

import numpy as np
import torch

from .gradcheck import GradCheckResult, check_gradient

__all__ = ["check_autograd", "make_generator", "seed_everything"]


def check_autograd(
    fn: Callable[..., torch.Tensor],
    *inputs: object,
    h: float = 1e-6,
    tol: float = 1e-6,
) -> GradCheckResult | list[GradCheckResult]:
    """Check PyTorch autograd gradients of ``fn`` against central differences.

    Every floating-point input is copied to a float64 leaf tensor. Autograd
    differentiates ``fn(*inputs).sum()`` (a scalar output is used as it is),
    and :func:`dlcourse_utils.gradcheck.check_gradient` compares each gradient
    with the numerical one, computed on a NumPy copy of that input.

    Which inputs are checked: those with ``requires_grad=True``; if none has
    it, every floating-point input. Integer inputs (class labels, say) are
    passed through unchanged and never checked.

    Parameters
    ----------
    fn : callable
        ``fn(*inputs)`` returns a tensor. Any parameters it holds itself must
        be float64 too (``module.double()``).
    *inputs : torch.Tensor or array_like
        The arguments of ``fn``; the originals are never modified.
    h : float
        The central-difference step.
    tol : float
        The largest relative error that passes.

    Returns
    -------
    GradCheckResult or list of GradCheckResult
        One result if one input is checked, else a list in the order of the
        checked inputs.

    Raises
    ------
    ValueError
        If no input is a floating-point tensor.
    TypeError
        If ``fn`` does not return a tensor.
    """
    tensors = [t if isinstance(t, torch.Tensor) else torch.as_tensor(t) for t in inputs]
    floating = [i for i, t in enumerate(tensors) if t.is_floating_point()]
    checked = [i for i in floating if tensors[i].requires_grad] or floating
    if not checked:
        raise ValueError("check_autograd needs at least one floating-point input.")

    # float64 copies, detached from whatever graph the originals belong to.
    leaves = [
        t.detach().to(torch.float64).clone() if t.is_floating_point() else t for t in tensors
    ]
    for i in checked:
        leaves[i].requires_grad_(True)
    output = fn(*leaves)
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"fn must return a torch.Tensor, got {type(output).__name__}.")
    if output.requires_grad:
        grads = torch.autograd.grad(
            output.sum(), [leaves[i] for i in checked], allow_unused=True
        )
    else:  # the output does not depend on any checked input
        grads = (None,) * len(checked)

    results = []
    for i, grad in zip(checked, grads):
        device = leaves[i].device
        x = leaves[i].detach().cpu().numpy().copy()  # (same shape as input i), float64
        analytic = np.zeros_like(x) if grad is None else grad.detach().cpu().numpy()

        def loss(x_np: np.ndarray, i: int = i, device: torch.device = device) -> float:
            args = [leaf.detach() for leaf in leaves]
            args[i] = torch.from_numpy(x_np).to(device)  # shares memory on the CPU
            with torch.no_grad():
                return fn(*args).sum().item()

        results.append(check_gradient(loss, x, analytic, h=h, tol=tol))
    return results[0] if len(results) == 1 else results


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and PyTorch, and make PyTorch deterministic.

    Parameters
    ----------
    seed : int
        The seed for :mod:`random`, NumPy's global generator and
        ``torch.manual_seed`` (which seeds every GPU too).
    deterministic : bool
        Call ``torch.use_deterministic_algorithms(True)``: operations without
        a deterministic implementation then raise instead of silently varying
        from run to run.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this to be deterministic; it is read when CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True)


def make_generator(seed: int) -> torch.Generator:
    """A seeded ``torch.Generator``, for reproducible shuffling.

    Parameters
    ----------
    seed : int
        The generator's seed.

    Returns
    -------
    torch.Generator
        Pass it as ``DataLoader(..., shuffle=True, generator=make_generator(0))``.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
