"""Tests for dlcourse_utils.torch_utils."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dlcourse_utils.gradcheck import GradCheckResult  # noqa: E402
from dlcourse_utils.torch_utils import (  # noqa: E402
    check_autograd,
    make_generator,
    seed_everything,
)

WRONG = "wrong: the gradient is almost certainly incorrect"


class Square(torch.autograd.Function):
    """x ** 2 with a hand-written backward; ``bug=True`` forgets the factor 2."""

    @staticmethod
    def forward(ctx, x, bug):
        ctx.save_for_backward(x)
        ctx.bug = bug
        return x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        factor = 1.0 if ctx.bug else 2.0
        return grad_output * factor * x, None


def _inputs(*shapes):
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=generator) for shape in shapes]


def test_check_autograd_passes_on_a_correct_function():
    x, W = _inputs((4, 3), (3, 2))
    results = check_autograd(lambda x, W: torch.tanh(x @ W) ** 2, x, W)
    assert isinstance(results, list) and len(results) == 2  # both inputs checked
    for result in results:
        assert isinstance(result, GradCheckResult)
        assert result.passed, str(result)
        assert result.verdict == "excellent"
    assert [r.num_checked for r in results] == [12, 6]


def test_check_autograd_checks_only_inputs_that_require_grad():
    x, W = _inputs((4, 3), (3, 2))
    W.requires_grad_(True)
    result = check_autograd(lambda x, W: torch.sigmoid(x @ W), x, W)
    assert isinstance(result, GradCheckResult)
    assert result.num_checked == W.numel() and result.passed


def test_check_autograd_skips_integer_inputs_such_as_labels():
    (logits,) = _inputs((5, 4))
    labels = torch.tensor([0, 3, 1, 1, 2])
    result = check_autograd(torch.nn.functional.cross_entropy, logits, labels)
    assert isinstance(result, GradCheckResult)
    assert result.passed, str(result)


def test_check_autograd_accepts_a_correct_custom_function():
    (x,) = _inputs((6,))
    assert check_autograd(lambda x: Square.apply(x, False), x).passed


def test_check_autograd_fails_on_a_custom_function_with_a_wrong_backward():
    (x,) = _inputs((6,))
    result = check_autograd(lambda x: Square.apply(x, True), x)
    assert not result.passed
    assert result.verdict == WRONG
    assert result.analytic == pytest.approx(result.numerical / 2, rel=1e-6)


def test_check_autograd_leaves_the_inputs_alone():
    (x,) = _inputs((3, 3))
    before = x.clone()
    check_autograd(torch.exp, x)
    assert x.dtype == torch.float32 and not x.requires_grad
    assert torch.equal(x, before)


def test_check_autograd_reports_a_zero_gradient_for_an_unused_input():
    x, y = _inputs((3,), (2,))
    results = check_autograd(lambda x, y: x.sin(), x, y)
    assert all(r.passed for r in results)


def test_make_generator_gives_reproducible_shuffles():
    dataset = torch.utils.data.TensorDataset(torch.arange(20))

    def order(seed):
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=5, shuffle=True, generator=make_generator(seed)
        )
        return [int(i) for (batch,) in loader for i in batch]

    assert order(0) == order(0)
    assert order(0) != order(1)
    assert sorted(order(0)) == list(range(20))
    assert order(0) != list(range(20))  # it does shuffle


def test_seed_everything_makes_random_numbers_repeat():
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        seed_everything(7)
        first = torch.rand(3)
        assert torch.are_deterministic_algorithms_enabled()
        seed_everything(7)
        assert torch.equal(torch.rand(3), first)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
