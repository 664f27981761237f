"""Tests for dlcourse_utils.gradcheck: known derivatives, a PyTorch oracle, and failures."""
from __future__ import annotations

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

from dlcourse_utils.gradcheck import (
    GradCheckError,
    GradCheckResult,
    check_gradient,
    check_sparse,
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
)

WRONG = "wrong: the gradient is almost certainly incorrect"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)  # (N, C)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def cross_entropy(scores: np.ndarray, y: np.ndarray) -> float:
    probs = softmax(scores)  # (N, C)
    return float(-np.mean(np.log(probs[np.arange(len(y)), y])))


# ---------------------------------------------------------------------------
# Known derivatives
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "df"),
    [
        (lambda x: np.sum(x**2), lambda x: 2 * x),
        (lambda x: np.sum(np.sin(x)), np.cos),
        (lambda x: np.sum(np.exp(x)), np.exp),
    ],
    ids=["square", "sin", "exp"],
)
def test_numerical_gradient_matches_known_derivatives(f, df, rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(numerical_gradient(f, x), df(x), rtol=1e-8, atol=1e-10)
    result = check_gradient(f, x, df(x))
    assert result.passed
    assert result.verdict == "excellent"
    assert result.num_checked == 12


def test_large_entries_of_x_use_the_step_actually_taken():
    # At 1e6 the spacing of float64 is 1.2e-10, so x + h is rounded and the step
    # (x + h) - (x - h) differs from 2h by up to about 1e-5 relative.
    for value in (1e6 + 0.123, -3e5 + 0.456):
        x = np.array([value])
        assert (x + 1e-5) - (x - 1e-5) != 2e-5  # the step really is rounded
        assert numerical_gradient(lambda x: float(x[0]), x)[0] == pytest.approx(1.0, rel=1e-12)


def test_scalar_zero_dimensional_x_is_supported():
    x = np.array(3.0)
    result = check_gradient(lambda x: float(x**2), x, np.array(6.0))
    assert result.passed and result.worst_index == ()


def test_matrix_product_with_upstream_gradient(rng):
    W = rng.standard_normal((3, 4))
    v = rng.standard_normal(4)
    dout = rng.standard_normal(3)  # gradient of the loss w.r.t. W @ v
    # d/dW sum((W @ v) * dout) = outer(dout, v);  d/dv = W.T @ dout
    np.testing.assert_allclose(
        numerical_gradient_array(lambda W: W @ v, W, dout), np.outer(dout, v), rtol=1e-8
    )
    np.testing.assert_allclose(
        numerical_gradient_array(lambda v: W @ v, v, dout), W.T @ dout, rtol=1e-8
    )
    assert check_gradient(lambda W: W @ v, W, np.outer(dout, v), upstream=dout).passed
    assert check_gradient(lambda v: W @ v, v, W.T @ dout, upstream=dout).passed

    # The classic mistake, a missing transpose, is caught (square W so that it fits).
    S = rng.standard_normal((4, 4))
    dout4 = rng.standard_normal(4)
    assert check_gradient(lambda v: S @ v, v, S.T @ dout4, upstream=dout4).passed
    wrong = check_gradient(lambda v: S @ v, v, S @ dout4, upstream=dout4)
    assert not wrong.passed and wrong.verdict == WRONG


def test_softmax_cross_entropy_gradient(rng):
    N, C = 5, 4
    scores = rng.standard_normal((N, C))
    y = rng.integers(0, C, size=N)
    one_hot = np.eye(C)[y]  # (N, C)
    dscores = (softmax(scores) - one_hot) / N
    result = check_gradient(lambda s: cross_entropy(s, y), scores, dscores)
    assert result.passed, str(result)
    assert result.verdict == "excellent"


# ---------------------------------------------------------------------------
# A trusted oracle: PyTorch autograd in float64, tol 1e-6
# ---------------------------------------------------------------------------


def test_mlp_loss_gradients_agree_with_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    N, D, H, C = 6, 5, 7, 3
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, size=N)
    params = {
        "W1": rng.standard_normal((D, H)) * 0.5,
        "b1": rng.standard_normal(H) * 0.1,
        "W2": rng.standard_normal((H, C)) * 0.5,
        "b2": rng.standard_normal(C) * 0.1,
    }

    def loss_numpy(_: np.ndarray) -> float:  # reads params through the closure
        hidden = np.maximum(0.0, X @ params["W1"] + params["b1"])  # (N, H)
        return cross_entropy(hidden @ params["W2"] + params["b2"], y)

    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}  # float64
    hidden = torch.relu(torch.tensor(X) @ tparams["W1"] + tparams["b1"])  # (N, H)
    scores = hidden @ tparams["W2"] + tparams["b2"]  # (N, C)
    loss = torch.nn.functional.cross_entropy(scores, torch.tensor(y))
    loss.backward()
    assert loss.item() == pytest.approx(loss_numpy(params["W1"]), rel=1e-12)

    for name, value in params.items():
        oracle = tparams[name].grad.numpy()
        result = check_gradient(loss_numpy, value, oracle, tol=1e-6)
        assert result.passed, f"{name}: {result}"
        np.testing.assert_allclose(numerical_gradient(loss_numpy, value), oracle, atol=1e-8)


def test_tanh_vector_jacobian_product_agrees_with_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3))
    dout = rng.standard_normal((4, 3))
    xt = torch.tensor(x, requires_grad=True)
    torch.tanh(xt).backward(torch.tensor(dout))
    result = check_gradient(np.tanh, x, xt.grad.numpy(), upstream=dout, tol=1e-6)
    assert result.passed, str(result)


def test_log_sum_exp_agrees_with_torch_autograd(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(8)

    def log_sum_exp(x: np.ndarray) -> float:
        m = x.max()
        return float(m + np.log(np.sum(np.exp(x - m))))

    xt = torch.tensor(x, requires_grad=True)
    torch.logsumexp(xt, dim=0).backward()
    result = check_gradient(log_sum_exp, x, xt.grad.numpy(), tol=1e-6)
    assert result.passed, str(result)


# ---------------------------------------------------------------------------
# Wrong gradients are rejected
# ---------------------------------------------------------------------------


def test_wrong_analytic_gradient_fails_with_verdict_wrong(rng):
    x = rng.standard_normal(5)
    result = check_gradient(lambda x: np.sum(x**3), x, 2 * x**2)  # should be 3 x^2
    assert not result.passed
    assert result.verdict == WRONG
    assert result.max_rel_error > 1e-2


def test_slightly_wrong_gradient_fails_and_is_suspicious(rng):
    x = rng.standard_normal(5)
    result = check_gradient(lambda x: np.sum(x**2), x, 2 * x * 1.001)
    assert not result.passed
    assert result.verdict == "suspicious"


def test_nan_in_analytic_gradient_fails():
    x = np.array([1.0, 2.0, 3.0])
    analytic = np.array([2.0, np.nan, 6.0])
    result = check_gradient(lambda x: np.sum(x**2), x, analytic)
    assert not result.passed
    assert result.worst_index == (1,)
    assert result.verdict == WRONG


def test_raise_on_failure_raises_grad_check_error_with_the_summary(rng):
    x = rng.standard_normal(5)
    with pytest.raises(GradCheckError) as info:
        check_gradient(lambda x: np.sum(x**3), x, 2 * x**2, raise_on_failure=True)
    assert isinstance(info.value, AssertionError)
    assert str(info.value) == str(info.value.result)
    assert "FAILED" in str(info.value)
    assert pickle.loads(pickle.dumps(info.value)).result == info.value.result
    # A correct gradient does not raise.
    assert check_gradient(lambda x: np.sum(x**3), x, 3 * x**2, raise_on_failure=True).passed


def test_round_off_on_a_tiny_gradient_entry_is_explained_not_hidden():
    # d/dx1 log(e^10 + e^-15) = e^-25 / (1 + e^-25) ~ 1.4e-11: nudging x1 by h changes
    # f (about 10) by less than one unit in its last place, so the numerical gradient
    # there is pure round-off.
    x = np.array([10.0, -15.0])
    analytic = np.exp(x - x.max()) / np.sum(np.exp(x - x.max()))
    result = check_gradient(lambda x: float(np.log(np.sum(np.exp(x)))), x, analytic)
    assert not result.passed  # the metric is reported as it is ...
    assert result.worst_index == (1,)
    assert "round-off" in result.note and "round-off" in str(result)  # ... and explained
    # A real bug on a normal-sized entry gets no such excuse.
    wrong = analytic * np.array([1.01, 1.0])
    assert check_gradient(lambda x: float(np.log(np.sum(np.exp(x)))), x, wrong).note == ""


def test_zero_numerical_gradient_hints_at_a_copied_x(rng):
    W = rng.standard_normal(4)
    result = check_gradient(lambda _: np.sum(W**2), W.copy(), 2 * W)  # f reads W, not x
    assert not result.passed
    assert "copy" in result.note and "copy" in str(result)


# ---------------------------------------------------------------------------
# x is never left modified
# ---------------------------------------------------------------------------


def _naive_restore_changes_bits(x: np.ndarray, h: float = 1e-5) -> bool:
    """Would x += h; x -= 2h; x += h fail to give back x bit for bit?"""
    y = x.copy()
    y += h
    y -= 2 * h
    y += h
    return y.tobytes() != x.tobytes()


def test_x_is_restored_bit_for_bit_after_a_check(rng):
    x = rng.standard_normal((4, 5))
    assert _naive_restore_changes_bits(x)  # so this test can tell the difference
    before = x.tobytes()
    check_gradient(lambda x: np.sum(np.sin(x)), x, np.cos(x))
    assert x.tobytes() == before
    numerical_gradient_array(np.tanh, x, np.ones_like(x))
    assert x.tobytes() == before
    check_sparse(lambda x: np.sum(np.sin(x)), x, np.cos(x), num_checks=5)
    assert x.tobytes() == before


def test_closure_over_the_weight_array_sees_the_perturbation(rng):
    W = rng.standard_normal((2, 3))
    v = rng.standard_normal(3)
    before = W.tobytes()

    def loss(_: np.ndarray) -> float:  # ignores its argument, like a network's loss
        return float(np.sum((W @ v) ** 2))

    result = check_gradient(loss, W, 2 * np.outer(W @ v, v))
    assert result.passed, str(result)
    assert W.tobytes() == before


@pytest.mark.parametrize("raise_on_call", [1, 5, 6])  # call 5 is x[2] + h, call 6 is x[2] - h
def test_x_is_restored_when_f_raises_midway(rng, raise_on_call):
    x = rng.standard_normal(4)
    original = x.copy()
    calls = []

    def f(x: np.ndarray) -> float:
        calls.append(1)
        if len(calls) == raise_on_call:
            assert not np.array_equal(x, original)  # we really are mid-perturbation
            raise RuntimeError("boom")
        return float(np.sum(x**2))

    with pytest.raises(RuntimeError, match="boom"):
        check_gradient(f, x, 2 * x)
    assert x.tobytes() == original.tobytes()
    assert len(calls) == raise_on_call


def test_f_that_modifies_x_in_place_is_rejected_and_x_restored(rng):
    x = rng.standard_normal(6)
    assert (x < 0).any()
    before = x.tobytes()

    def relu_sum_in_place(x: np.ndarray) -> float:
        x[x < 0] = 0.0  # the classic bug: ReLU applied to the input itself
        return float(np.sum(x))

    with pytest.raises(ValueError, match="in place"):
        check_gradient(relu_sum_in_place, x, (x > 0).astype(np.float64))
    assert x.tobytes() == before


# ---------------------------------------------------------------------------
# Bad input gets a clear message
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_non_float64_x_raises_type_error_with_the_fix(dtype):
    x = np.arange(3).astype(dtype)
    with pytest.raises(TypeError, match=re.escape("x = x.astype(np.float64)")):
        numerical_gradient(lambda x: np.sum(x**2), x)
    with pytest.raises(TypeError, match=str(np.dtype(dtype))):
        check_gradient(lambda x: np.sum(x**2), x, 2 * x)


def test_list_x_raises_type_error_with_the_fix():
    with pytest.raises(TypeError, match=re.escape("np.asarray(x, dtype=np.float64)")):
        numerical_gradient(lambda x: sum(x), [1.0, 2.0])


def test_analytic_shape_mismatch_raises_value_error_naming_both_shapes(rng):
    x = rng.standard_normal((3, 4))
    with pytest.raises(ValueError, match=re.escape("(4, 3)")) as info:
        check_gradient(lambda x: np.sum(x**2), x, (2 * x).T)
    assert "(3, 4)" in str(info.value)
    with pytest.raises(ValueError, match="shape"):
        check_sparse(lambda x: np.sum(x**2), x, (2 * x).ravel())


def test_non_scalar_f_raises_value_error_pointing_to_upstream(rng):
    x = rng.standard_normal(3)
    with pytest.raises(ValueError, match="scalar") as info:
        numerical_gradient(np.tanh, x)
    assert "upstream" in str(info.value)
    assert np.array_equal(x, x.copy())


def test_upstream_shape_mismatch_raises_value_error(rng):
    x = rng.standard_normal(3)
    before = x.tobytes()
    with pytest.raises(ValueError, match=re.escape("(3,)")):
        numerical_gradient_array(np.tanh, x, np.ones(4))
    assert x.tobytes() == before


# ---------------------------------------------------------------------------
# check_sparse
# ---------------------------------------------------------------------------


def _recording(f, x0: np.ndarray, seen: list[int]):
    """Wrap f to record which flat entry of x differs from x0 on each call."""

    def wrapped(x: np.ndarray) -> float:
        changed = np.flatnonzero(x != x0)
        assert len(changed) == 1
        seen.append(int(changed[0]))
        return f(x)

    return wrapped


def _square(x: np.ndarray) -> float:
    return float(np.sum(x**2))


def test_check_sparse_checks_exactly_num_checks_distinct_entries(rng):
    # 10 of 12 entries: a sample drawn with replacement would almost surely repeat one.
    x = rng.standard_normal((3, 4))
    seen: list[int] = []
    result = check_sparse(_recording(_square, x.copy(), seen), x, 2 * x, num_checks=10)
    assert result.passed
    assert result.num_checked == 10
    assert len(seen) == 2 * 10  # two evaluations per entry
    assert len(set(seen)) == 10


def test_check_sparse_is_reproducible_with_the_same_seed(rng):
    x = rng.standard_normal((10, 10))
    runs = {}
    for seed in (3, 3, 4):
        seen: list[int] = []
        check_sparse(_recording(_square, x.copy(), seen), x, 2 * x, num_checks=10, seed=seed)
        runs.setdefault(seed, []).append(sorted(set(seen)))
    assert runs[3][0] == runs[3][1]
    assert runs[3][0] != runs[4][0]


def test_check_sparse_leaves_the_global_random_state_alone(rng):
    x = rng.standard_normal(20)
    np.random.seed(0)
    expected = np.random.rand()
    np.random.seed(0)
    check_sparse(_square, x, 2 * x)
    assert np.random.rand() == expected


def test_check_sparse_finds_a_planted_error_when_its_sample_covers_it(rng):
    x = rng.standard_normal((6, 8))
    seen: list[int] = []
    check_sparse(_recording(_square, x.copy(), seen), x, 2 * x, num_checks=5, seed=0)
    sampled = sorted(set(seen))
    not_sampled = next(k for k in range(x.size) if k not in sampled)

    for planted, caught in ((sampled[2], True), (not_sampled, False)):
        analytic = 2 * x
        index = np.unravel_index(planted, x.shape)
        analytic[index] += 1.0
        result = check_sparse(_square, x, analytic, num_checks=5, seed=0)
        assert result.passed is not caught
        if caught:
            assert result.worst_index == tuple(int(i) for i in index)
            assert result.verdict == WRONG
        # check_gradient looks at every entry and always finds it.
        assert not check_gradient(_square, x, analytic).passed


def test_check_sparse_with_more_checks_than_entries_checks_all(rng):
    x = rng.standard_normal(4)
    assert check_sparse(_square, x, 2 * x, num_checks=10).num_checked == 4


# ---------------------------------------------------------------------------
# The result object
# ---------------------------------------------------------------------------


def test_str_is_deterministic_and_names_the_worst_index(rng):
    x = rng.standard_normal((3, 4))
    analytic = 2 * x
    analytic[1, 2] += 0.5
    first = check_gradient(_square, x, analytic)
    second = check_gradient(_square, x.copy(), analytic.copy())
    assert first.worst_index == (1, 2)
    assert str(first) == str(second)
    assert repr(first) == repr(second)
    assert first._repr_markdown_() == second._repr_markdown_()
    text = str(first)
    assert "(1, 2)" in text and "FAILED" in text
    assert re.search(r"\d\.\d\de[+-]\d\d", text)  # scientific notation
    assert f"{first.numerical:.8g}" in text and f"{first.analytic:.8g}" in text
    assert "\n" not in text
    for shown in (text, repr(first), first._repr_markdown_()):
        assert "0x" not in shown and "np.float64" not in shown


def test_result_fields_are_plain_python_types(rng):
    x = rng.standard_normal(3)
    result = check_gradient(_square, x, 2 * x)
    assert type(result.max_rel_error) is float
    assert type(result.numerical) is float and type(result.analytic) is float
    assert all(type(i) is int for i in result.worst_index)
    assert type(result.passed) is bool
    with pytest.raises(AttributeError):
        result.passed = False  # frozen


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (0.5, WRONG),
        (float("nan"), WRONG),
        (1e-3, "suspicious"),
        (1e-5, "acceptable for functions with kinks (ReLU, max), suspicious otherwise"),
        (1e-9, "excellent"),
    ],
)
def test_verdict_bands(error, verdict):
    result = GradCheckResult(False, error, (0,), 1.0, 1.0, 1)
    assert result.verdict == verdict


def test_relative_error():
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(1.0, 3.0) == pytest.approx(0.5)
    assert relative_error(3.0, 1.0) == relative_error(1.0, 3.0)
    assert relative_error(1.0, -1.0) == 1.0
    assert np.isnan(relative_error(np.nan, 1.0))
    np.testing.assert_array_equal(relative_error(np.zeros(3), np.zeros(3)), np.zeros(3))


def test_importing_gradcheck_does_not_import_a_framework():
    code = (
        "import sys, dlcourse_utils.gradcheck; "
        "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
