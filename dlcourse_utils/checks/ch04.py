"""Self-checks for chapter 4, Training deep networks.

Graders compare the learner's answers with reference values computed here, and for
the optimiser and loss exercises with ``torch.optim`` and ``torch.nn.functional``
themselves. Exercise 4.7 is a budgeted challenge: the check hands ``train`` 1,000 MNIST
training digits and scores the model on MNIST's test split. PyTorch and the MNIST data
are loaded inside the graders that need them, never at import.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

from .challenge import Budget, TrainingData, provides_data, run_challenge, torch_module, validation_split
from .core import CheckFailed, call, diagnose, exercise, expect_array, one_torch_thread

__all__: list[str] = []

#: Test accuracy a regularised model must reach in exercise 4.7 (the overfitting baseline of the
#: chapter reaches about 0.89 on MNIST's test digits; the reference answer 0.943-0.947 over 3 seeds).
TARGET_ACCURACY_47 = 0.92
#: Exercise 4.7: 40 epochs over the 1,000 training digits; at most 300,000 stored numbers, which the
#: chapter's 784-256-256-10 network with batch norm (271,372) fits and a model keeping the training digits
#: (785,000 numbers) does not.
DIGITS_BUDGET = Budget(examples=40_000, parameters=300_000, seconds=90)

#: Fresh inputs at every check (exercises 4.8 and 4.9), so that a table of shown inputs fails.
_FRESH = np.random.default_rng(404)


def _tuple(result: Any, n: int, shown: str, names: str) -> tuple:
    if not isinstance(result, (tuple, list)) or len(result) != n:
        got = type(result).__name__ + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        raise CheckFailed(f"{shown} should return {n} things ({names}), got {got}.")
    return tuple(result)


def _number(value: Any, name: str) -> float:
    if isinstance(value, (list, tuple)) or np.ndim(value) != 0:
        raise CheckFailed(f"{name} should be a single number, got shape {np.shape(value)}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} should be a number, got {type(value).__name__}.") from None
    return number


# --------------------------------------------------------------------------- 4.1
def _prf(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum((y_pred == 1) & (y_true == 1)))
    fp = float(np.sum((y_pred == 1) & (y_true == 0)))
    fn = float(np.sum((y_pred == 0) & (y_true == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@exercise(
    "4.1",
    "Precision, recall and F1",
    hints=[
        "Count three numbers first: TP (predicted 1 and truly 1), FP (predicted 1, truly 0) and "
        "FN (predicted 0, truly 1). With NumPy, np.sum((y_pred == 1) & (y_true == 1)) counts TP.",
        "precision = TP / (TP + FP) divides by everything the model *called* positive; recall = TP / (TP + FN) "
        "divides by everything that *is* positive. F1 is the harmonic mean 2PR / (P + R), not (P + R) / 2.",
        "The edge cases: with no predicted positives, TP + FP = 0 and precision would be 0 / 0; "
        "the convention is 0.0 (the same for recall, and for F1 when P + R = 0). Guard each "
        "division with a conditional expression, `a / b if b > 0 else 0.0`, and return three "
        "Python floats.",
    ],
)
def _check_prf(fn: Callable) -> None:
    rng = np.random.default_rng(41)
    y_true = (rng.random(40) < 0.3).astype(int)
    y_pred = y_true.copy()
    y_pred[:6] = 1 - y_pred[:6]                      # a few mistakes of both kinds
    y_pred[10:14] = 1
    cases = [
        ("a batch of 40 labels", y_true, y_pred),
        ("y_true = [1, 1, 1, 0, 0], y_pred = [1, 0, 0, 1, 0]", np.array([1, 1, 1, 0, 0]), np.array([1, 0, 0, 1, 0])),
        ("boolean arrays", y_true.astype(bool), y_pred.astype(bool)),
        # The edges where the guards live: no false positives, a single positive, no actual positive.
        ("perfect predictions", y_true, y_true.copy()),
        ("y_true = y_pred = [0, 0, 1, 0] (one positive, found)", np.array([0, 0, 1, 0]), np.array([0, 0, 1, 0])),
        ("y_true = [0, 0, 0, 0, 0] (no actual positive), y_pred = [1, 0, 0, 1, 0]",
         np.zeros(5, dtype=int), np.array([1, 0, 0, 1, 0])),
    ]
    for label, yt, yp in cases:
        shown = f"precision_recall_f1 on {label}"
        with np.errstate(divide="raise", invalid="raise"):
            try:
                answer = call(fn, yt, yp)
            except CheckFailed as failure:
                if "FloatingPointError" in str(failure) or "ZeroDivisionError" in str(failure):
                    raise CheckFailed(
                        f"{shown} divides 0 by 0. When a denominator is 0 (TP + FP: nothing predicted positive; "
                        "TP + FN: nothing truly positive) return 0.0 for that score, as scikit-learn does with "
                        "zero_division=0."
                    ) from None
                raise
        p, r, f = _tuple(answer, 3, shown, "precision, recall, f1")
        p, r, f = _number(p, "precision"), _number(r, "recall"), _number(f, "f1")
        ep, er, ef = _prf(np.asarray(yt).astype(int), np.asarray(yp).astype(int))
        if np.isclose(p, er) and np.isclose(r, ep) and not np.isclose(ep, er):
            raise CheckFailed(
                f"{shown}: precision and recall are swapped (got {p:.4f} and {r:.4f}). Precision divides TP by "
                "the number of *predicted* positives (TP + FP), recall by the number of *actual* positives (TP + FN)."
            )
        if not np.isclose(p, ep):
            raise CheckFailed(f"{shown}: precision is {p:.4f}, expected {ep:.4f} = TP / (TP + FP).")
        if not np.isclose(r, er):
            raise CheckFailed(f"{shown}: recall is {r:.4f}, expected {er:.4f} = TP / (TP + FN).")
        if not np.isclose(f, ef):
            why = ""
            if np.isclose(f, (ep + er) / 2):
                why = " That is the arithmetic mean; F1 is the harmonic mean 2PR / (P + R)."
            raise CheckFailed(f"{shown}: f1 is {f:.4f}, expected {ef:.4f}.{why}")

    shown = "precision_recall_f1 when the model predicts no positive at all"
    y_true = np.array([1, 0, 1, 0, 0])
    with np.errstate(divide="raise", invalid="raise"):
        try:
            result = fn(y_true.copy(), np.zeros(5, dtype=int))
        except FloatingPointError:
            raise CheckFailed(
                f"{shown} divides 0 by 0. When TP + FP = 0 (nothing predicted positive) return precision 0.0, "
                "and f1 0.0 when precision + recall = 0, as scikit-learn does with zero_division=0."
            ) from None
        except ZeroDivisionError:
            raise CheckFailed(
                f"{shown} raised ZeroDivisionError: when TP + FP = 0 return precision 0.0 "
                "(and f1 0.0 when precision + recall = 0)."
            ) from None
        except NotImplementedError:
            raise CheckFailed("precision_recall_f1 is not written yet: replace `raise NotImplementedError` "
                              "with your code.") from None
        except Exception as error:
            raise CheckFailed(f"{shown} raised {type(error).__name__}: {error}") from None
    p, r, f = _tuple(result, 3, shown, "precision, recall, f1")
    p, r, f = _number(p, "precision"), _number(r, "recall"), _number(f, "f1")
    if not (np.isfinite(p) and np.isfinite(f)):
        raise CheckFailed(
            f"{shown} gives precision {p} and f1 {f}: return 0.0 when a denominator is 0, not nan."
        )
    if (p, r, f) != (0.0, 0.0, 0.0):
        raise CheckFailed(f"{shown} should give (0.0, 0.0, 0.0), got ({p:.4f}, {r:.4f}, {f:.4f}).")


# --------------------------------------------------------------------------- 4.2
@exercise(
    "4.2",
    "The confusion matrix",
    hints=[
        "Start from C = np.zeros((num_classes, num_classes), dtype=int) and add 1 to C[true, predicted] "
        "for every example: rows are true classes, columns predicted ones.",
        "A plain loop `for t, p in zip(y_true, y_pred): C[t, p] += 1` is correct. The tempting one-liner "
        "C[y_true, y_pred] += 1 is not: fancy-index assignment adds 1 only once per distinct (t, p) pair.",
        "To vectorise: np.add.at(array, indices, value) adds at every index, repeats included, "
        "unlike a fancy-index `+=`. Pass the row and the column indices as a tuple of two arrays. "
        "Take the size from num_classes, never from the labels you happen to see: a class may be "
        "missing from this batch.",
    ],
)
def _check_confusion(fn: Callable) -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0])
    y_pred = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2, 0])
    rng = np.random.default_rng(42)
    big_true = rng.integers(0, 5, 200)
    big_pred = np.where(rng.random(200) < 0.7, big_true, rng.integers(0, 5, 200))
    cases = [
        ("a 3-class example of 10 labels", y_true, y_pred, 3),
        ("200 labels of 5 classes", big_true, big_pred, 5),
        ("labels 0..2 with num_classes=4 (class 3 never occurs)", y_true, y_pred, 4),
    ]
    for label, yt, yp, k in cases:
        shown = f"confusion_matrix on {label}"
        expected = np.zeros((k, k), dtype=int)
        np.add.at(expected, (yt, yp), 1)
        got = call(fn, yt, yp, k, name="confusion_matrix")
        if got is None:
            raise CheckFailed("confusion_matrix returned None: did you forget a `return` statement?")
        got = np.asarray(got)
        if got.shape != (k, k):
            extra = ""
            if got.ndim == 2 and got.shape[0] == got.shape[1] == int(max(yt.max(), yp.max())) + 1:
                extra = " You took the size from the labels; use num_classes, since a class may be missing."
            raise CheckFailed(f"{shown} has shape {got.shape}, expected ({k}, {k}).{extra}")
        if np.array_equal(got, expected):
            continue
        if np.array_equal(got, expected.T):
            raise CheckFailed(
                f"{shown} is transposed: rows must be the *true* classes and columns the *predicted* ones, "
                "C[true, predicted]."
            )
        if got.sum() < len(yt) and np.all(got <= expected):
            raise CheckFailed(
                f"{shown} counts only {int(got.sum())} of {len(yt)} examples. If you wrote "
                "C[y_true, y_pred] += 1, NumPy adds 1 once per distinct pair; use np.add.at(C, (y_true, y_pred), 1) "
                "or a loop."
            )
        expect_array(got, expected, name=shown, float_dtype=False)


# --------------------------------------------------------------------------- 4.3
@exercise(
    "4.3",
    "He initialisation",
    hints=[
        "He initialisation draws every weight independently from a normal distribution with mean 0 and "
        "variance 2 / fan_in, where fan_in is the number of inputs of the layer.",
        "The standard deviation is the square root of the variance: std = np.sqrt(2 / fan_in). Draw with the "
        "generator you are given, rng.normal(...), so that the same seed gives the same weights.",
        "Nearly there: one call, rng.normal(loc, scale, size). scale is the standard deviation, "
        "not the variance, and size is (fan_in, fan_out): rows are inputs, as in A @ W. Use the "
        "rng you are given, not np.random, so that the same seed gives the same weights.",
    ],
)
def _check_he(fn: Callable) -> None:
    def draw(fan_in: int, fan_out: int, seed: int) -> np.ndarray:
        W = call(fn, fan_in, fan_out, np.random.default_rng(seed), name="he_normal")
        if W is None:
            raise CheckFailed("he_normal returned None: did you forget a `return` statement?")
        W = np.asarray(W)
        if W.shape != (fan_in, fan_out):
            extra = " It looks transposed." if W.shape == (fan_out, fan_in) else ""
            raise CheckFailed(f"he_normal({fan_in}, {fan_out}, rng) has shape {W.shape}, "
                              f"expected ({fan_in}, {fan_out}): one row per input.{extra}")
        if not np.issubdtype(W.dtype, np.floating) or not np.all(np.isfinite(W)):
            raise CheckFailed("he_normal should return finite floating-point weights.")
        return W

    fan_in, fan_out = 400, 300
    W = draw(fan_in, fan_out, 0)
    if not np.array_equal(W, draw(fan_in, fan_out, 0)):
        raise CheckFailed(
            "two calls with generators seeded alike gave different weights: draw with the rng argument "
            "(rng.normal), not with np.random or a new generator."
        )
    if np.array_equal(W, draw(fan_in, fan_out, 1)):
        raise CheckFailed("generators with different seeds gave the same weights: draw with the rng argument.")
    std, target = float(W.std()), float(np.sqrt(2 / fan_in))
    if abs(float(W.mean())) > 0.05 * target:
        raise CheckFailed(f"the weights have mean {W.mean():.4f}; He weights are centred on 0.")
    if abs(std / target - 1) > 0.03:
        known = {
            "Glorot/Xavier's std sqrt(2 / (fan_in + fan_out))": np.sqrt(2 / (fan_in + fan_out)),
            "sqrt(1 / fan_in), LeCun's scale: the factor 2 for ReLU is missing": np.sqrt(1 / fan_in),
            "sqrt(2 / fan_out): use fan_in, the number of inputs": np.sqrt(2 / fan_out),
            "2 / fan_in: that is the variance; the std is its square root": 2 / fan_in,
        }
        for name, value in known.items():
            if abs(std / value - 1) < 0.03:
                raise CheckFailed(f"the weights' standard deviation is {std:.4f}, which matches {name}. "
                                  f"He's is sqrt(2 / fan_in) = {target:.4f}.")
        raise CheckFailed(f"the weights' standard deviation is {std:.4f}, expected sqrt(2 / fan_in) = {target:.4f}.")
    beyond = float(np.mean(np.abs(W) > 2 * target))
    if beyond < 0.02:
        raise CheckFailed(
            f"only {beyond:.1%} of the weights lie beyond 2 standard deviations (a normal distribution has 4.6%): "
            "the weights look uniform. Draw from a normal distribution, rng.normal."
        )
    # The point of it all: a deep ReLU stack keeps its scale.
    rng = np.random.default_rng(7)
    h = rng.normal(size=(500, 256))
    first = None
    for layer in range(20):
        h = np.maximum(h @ draw(256, 256, 100 + layer), 0)
        first = first if first is not None else float(np.sqrt(np.mean(h ** 2)))
    last = float(np.sqrt(np.mean(h ** 2)))
    if not 0.5 < last / first < 2.0:
        raise CheckFailed(f"through 20 ReLU layers the activations' scale went from {first:.3f} to {last:.3g}; "
                          "with He weights it should stay about the same.")


# --------------------------------------------------------------------------- shared


def _quadratic(seed: int, d: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(d, d))
    A = Q @ Q.T / d + np.diag(np.linspace(0.1, 3.0, d))   # symmetric positive definite
    b = rng.normal(size=d)
    w0 = rng.normal(size=d)
    return A, b, w0


def _torch_trajectory(make_optimizer: Callable, A: np.ndarray, b: np.ndarray, w0: np.ndarray,
                      num_steps: int) -> list[np.ndarray]:
    import torch

    w = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
    At, bt = torch.tensor(A), torch.tensor(b)
    opt = make_optimizer([w])
    path = []
    for _ in range(num_steps):
        loss = 0.5 * w @ At @ w - bt @ w          # gradient A w - b
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    return path


# --------------------------------------------------------------------------- 4.4
@exercise(
    "4.4",
    "Momentum, checked against torch.optim.SGD",
    hints=[
        "Two lines, in this order: first update the velocity from the gradient, then move the weights "
        "along the *new* velocity. Return both, as new arrays.",
        "PyTorch's rule: the new velocity is momentum times the old velocity plus the gradient "
        "(no (1 - momentum) factor); the weights then move by lr times the NEW velocity. lr is "
        "applied to the weights, not folded into the velocity.",
        "Skeleton: `velocity_new = ...` (the first half of hint 2), then `return w - ..., "
        "velocity_new`. Return new arrays: `velocity *= momentum` or `w -= ...` would change the "
        "caller's arrays in place.",
    ],
)
@one_torch_thread()
def _check_momentum(fn: Callable) -> None:
    import torch

    for seed, lr, mu, steps in [(0, 0.1, 0.9, 8), (1, 0.05, 0.5, 8)]:
        A, b, w0 = _quadratic(seed)
        expected = _torch_trajectory(lambda p: torch.optim.SGD(p, lr=lr, momentum=mu), A, b, w0, steps)
        w, velocity = w0.copy(), np.zeros_like(w0)
        for step in range(steps):
            grad = A @ w - b
            shown = f"momentum_step(w, grad, velocity, lr={lr}, momentum={mu}) at step {step + 1}"
            new_w, new_v = _tuple(call(fn, w, grad, velocity, lr, mu, name="momentum_step"), 2, shown,
                                  "w, velocity")
            new_w, new_v = np.asarray(new_w, dtype=float), np.asarray(new_v, dtype=float)
            if new_w.shape != w.shape or new_v.shape != w.shape:
                raise CheckFailed(f"{shown} returned shapes {new_w.shape} and {new_v.shape}, expected {w.shape}.")
            v_torch = velocity * mu + grad
            if not np.allclose(new_w, expected[step], rtol=1e-9, atol=1e-12):
                if step == 0 and np.allclose(new_w, w - lr * grad) and np.allclose(new_v, velocity):
                    why = " The velocity never changed: return the updated velocity."
                elif np.allclose(new_w, w - lr * (grad + mu * v_torch)):
                    why = " That is Nesterov's update; plain momentum steps along the velocity itself."
                elif np.allclose(new_v, mu * velocity + (1 - mu) * grad):
                    why = " Your velocity has a (1 - momentum) factor (dampening); PyTorch's has none."
                elif np.allclose(new_w, w - lr * velocity):
                    why = " You moved the weights along the *old* velocity: update the velocity first."
                else:
                    why = ""
                raise CheckFailed(
                    f"{shown}: w differs from torch.optim.SGD (largest difference "
                    f"{np.abs(new_w - expected[step]).max():.2e}).{why}"
                )
            if not np.allclose(new_v, v_torch, rtol=1e-9, atol=1e-12):
                if np.allclose(new_v, -lr * v_torch):
                    raise CheckFailed(
                        f"{shown}: your velocity is -lr times PyTorch's. That is Keras's convention "
                        "(v = momentum * v - lr * grad; w = w + v): the weights agree, but this exercise uses "
                        "PyTorch's velocity, v = momentum * v + grad."
                    )
                if np.allclose(new_v, velocity):
                    raise CheckFailed(f"{shown}: the velocity never changed. Return the *updated* velocity, "
                                      "momentum * velocity + grad, so that the next step can use it.")
                raise CheckFailed(f"{shown}: the returned velocity should be momentum * velocity + grad.")
            w, velocity = new_w, new_v


# --------------------------------------------------------------------------- 4.5
@exercise(
    "4.5",
    "Adam, checked against torch.optim.Adam",
    hints=[
        "Update the two moving averages first: m from the gradient, v from the *squared* gradient. Then "
        "correct both for starting at zero, then step.",
        "m is an exponential moving average of the gradient with weight beta1, v one of the "
        "squared gradient with weight beta2 (new = beta * old + (1 - beta) * value). Bias "
        "correction divides each by 1 - beta**t, with t the step number, 1 on the first step.",
        "Nearly there: `w_new = w - lr * m_hat / (...)`, with epsilon OUTSIDE the square root, as "
        "in PyTorch. Return w_new with the UNcorrected m and v: the corrected ones serve this "
        "step only.",
    ],
)
@one_torch_thread()
def _check_adam(fn: Callable) -> None:
    import torch

    for seed, lr, eps, betas in [(0, 0.1, 1e-8, (0.9, 0.999)), (1, 0.05, 1e-2, (0.8, 0.99))]:
        A, b, w0 = _quadratic(seed)
        steps = 10
        expected = _torch_trajectory(lambda p: torch.optim.Adam(p, lr=lr, betas=betas, eps=eps), A, b, w0, steps)
        w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
        b1, b2 = betas
        for t in range(1, steps + 1):
            grad = A @ w - b
            shown = (f"adam_step(w, grad, m, v, t={t}, lr={lr}, beta1={b1}, beta2={b2}, eps={eps})")
            result = _tuple(call(fn, w, grad, m, v, t, lr, b1, b2, eps, name="adam_step"), 3, shown, "w, m, v")
            new_w, new_m, new_v = (np.asarray(x, dtype=float) for x in result)
            m_ref = b1 * m + (1 - b1) * grad
            v_ref = b2 * v + (1 - b2) * grad ** 2
            if not np.all(np.isfinite(new_w)):
                raise CheckFailed(f"{shown} gives NaN or infinity. Is v built from grad**2 (never negative), "
                                  "and is t the step number starting at 1?")
            if not np.allclose(new_w, expected[t - 1], rtol=1e-8, atol=1e-12):
                m_hat, v_hat = m_ref / (1 - b1 ** t), v_ref / (1 - b2 ** t)
                candidates = {
                    "without the bias corrections m / (1 - beta1**t) and v / (1 - beta2**t)":
                        w - lr * m_ref / (np.sqrt(v_ref) + eps),
                    "with epsilon inside the square root; PyTorch adds it outside, sqrt(v_hat) + eps":
                        w - lr * m_hat / np.sqrt(v_hat + eps),
                    "with the step counted from 0 (t = 0 on the first step); t starts at 1":
                        w - lr * (m_ref / (1 - b1 ** (t + 1))) / (np.sqrt(v_ref / (1 - b2 ** (t + 1))) + eps),
                }
                for why, candidate in candidates.items():
                    if np.allclose(new_w, candidate, rtol=1e-8, atol=1e-12):
                        raise CheckFailed(f"{shown}: w differs from torch.optim.Adam. Your step matches Adam {why}.")
                raise CheckFailed(f"{shown}: w differs from torch.optim.Adam (largest difference "
                                  f"{np.abs(new_w - expected[t - 1]).max():.2e}).")
            if not np.allclose(new_m, m_ref, rtol=1e-9, atol=1e-12):
                raise CheckFailed(f"{shown}: m should be beta1 * m + (1 - beta1) * grad, without the bias correction.")
            if not np.allclose(new_v, v_ref, rtol=1e-9, atol=1e-12):
                raise CheckFailed(f"{shown}: v should be beta2 * v + (1 - beta2) * grad**2, without the bias correction.")
            w, m, v = new_w, new_m, new_v


# --------------------------------------------------------------------------- 4.6
def _toy_classification():
    import torch

    g = torch.Generator().manual_seed(46)
    X = torch.randn(240, 8, generator=g)
    y = (X[:, :3].sum(dim=1) > 0).long() + (X[:, 3] > 1).long()    # 3 classes
    return X[:160], y[:160], X[160:], y[160:]


def _toy_model():
    import torch
    from torch import nn

    torch.manual_seed(46)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))


def reference_train_and_evaluate(model, optimizer, X_train, y_train, X_val, y_val, num_epochs, batch_size,
                                 generator, *, zero_grad=True, eval_mode=True, use_generator=True):
    """The fixed loop of exercise 4.6, with switches that put each of its bugs back (for the grader)."""
    import torch
    import torch.nn.functional as F

    for _ in range(num_epochs):
        model.train()
        order = torch.randperm(len(X_train), generator=generator if use_generator else None)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(X_train[idx]), y_train[idx])
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if eval_mode:
        model.eval()
    with torch.no_grad():
        return (model(X_val).argmax(dim=1) == y_val).float().mean().item()


@exercise(
    "4.6",
    "Find the bugs in a PyTorch training loop",
    kind="debug",
    hints=[
        "Run the buggy loop and compare with what you expect: does the accuracy change when you evaluate "
        "twice in a row? Does the loss behave? Then read the loop line by line against the chapter's.",
        "There are three bugs. One is about gradients (PyTorch adds new gradients to old ones unless told "
        "otherwise), one about evaluation (dropout is still active), one about reproducibility (a generator "
        "is passed in but not used).",
        "The three fixes are one line each: a call that clears the gradients before backward(), a "
        "call that switches dropout off before measuring, and an argument to torch.randperm. "
        "Where each goes matters: clearing the gradients after backward() would throw away the "
        "new ones.",
    ],
)
@one_torch_thread()
def _check_loop(fn: Callable) -> None:
    import torch

    X_train, y_train, X_val, y_val = _toy_classification()

    def run(trainer: Callable, **switches: bool) -> tuple[Any, list]:
        model = _toy_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        torch.manual_seed(0)                              # dropout masks (and any unseeded shuffle)
        generator = torch.Generator().manual_seed(4)
        args = (model, optimizer, X_train, y_train, X_val, y_val, 3, 32, generator)
        if switches:
            acc = trainer(*args, **switches)
        else:  # the learner's function: it must train *this* model, so no copies (unlike `call`)
            try:
                acc = trainer(*args)
            except NotImplementedError:
                raise CheckFailed("train_and_evaluate is not written yet: replace `raise NotImplementedError` "
                                  "with your code.") from None
            except Exception as error:
                raise CheckFailed(f"calling train_and_evaluate on a small model raised "
                                  f"{type(error).__name__}: {error}") from None
        return acc, [p.detach().clone() for p in model.parameters()]

    state = torch.get_rng_state()                         # leave the learner's random state alone
    try:
        acc, params = run(fn)
        ref_acc, ref_params = run(reference_train_and_evaluate)
        variants = {}
        for key, switches in [("zero_grad", {"zero_grad": False}), ("generator", {"use_generator": False}),
                              ("both", {"zero_grad": False, "use_generator": False})]:
            variants[key] = run(reference_train_and_evaluate, **switches)[1]
    finally:
        torch.set_rng_state(state)
    acc = _number(acc, "the returned validation accuracy")

    def same(a: list, b: list) -> bool:
        return all(torch.allclose(x, y, rtol=1e-6, atol=1e-7) for x, y in zip(a, b))

    if not same(params, ref_params):
        for key, why in [
            ("zero_grad", "gradients are never cleared, so every step adds this batch's gradient to all the "
                          "previous ones. Call optimizer.zero_grad() before loss.backward()."),
            ("generator", "the shuffle ignores `generator`, so the order depends on the global random state. "
                          "Pass generator=generator to torch.randperm."),
            ("both", "two bugs remain in training: gradients are never cleared (optimizer.zero_grad()) and the "
                     "shuffle ignores `generator`."),
        ]:
            if same(params, variants[key]):
                raise CheckFailed(f"the trained weights differ from the correct loop's: {why}")
        raise CheckFailed("the trained weights differ from the correct loop's: train with the chapter's steps, "
                          "in order: shuffle, forward, loss, zero_grad, backward, step.")
    if not np.isclose(acc, ref_acc):
        raise CheckFailed(
            f"the weights are right now, but the returned accuracy is {acc:.4f}, expected {ref_acc:.4f}: "
            "dropout is still active during evaluation. Call model.eval() before computing the accuracy."
        )


# --------------------------------------------------------------------------- 4.7
_MNIST: dict[str, Any] = {}


def _mnist() -> dict[str, Any]:
    """The 1,500 training digits of exercise 4.7 and the 10,000 test digits it is scored on, loaded once."""
    if not _MNIST:
        from ..data import load_mnist

        (X_train, y_train), (X_test, y_test) = load_mnist(progress=False)
        subset = np.random.default_rng(0).permutation(len(X_train))[5000:6500]   # the chapter's digits and 500 more
        _MNIST["X"] = (X_train[subset].reshape(-1, 784) / 255.0).astype(np.float32)
        _MNIST["y"] = y_train[subset].astype(np.int64)
        _MNIST["X_test"] = (X_test.reshape(-1, 784) / 255.0).astype(np.float32)
        _MNIST["y_test"] = y_test.astype(np.int64)
    return _MNIST


@provides_data("4.7")
def _digits_challenge_data() -> tuple[TrainingData, tuple[np.ndarray, np.ndarray]]:
    """1,000 training digits for train and 500 validation digits, both from MNIST's training split."""
    digits = _mnist()
    (X_train, y_train), (X_val, y_val) = validation_split(digits["X"], digits["y"], 1 / 3, seed=0)
    return TrainingData(X_train, y_train, budget=DIGITS_BUDGET, name="the 1,000 training digits"), (X_val, y_val)


@exercise(
    "4.7",
    "Fix an overfitting model",
    kind="challenge",
    hints=[
        "Start from the chapter's measurements on the same 1,000 digits: which regulariser gave the best "
        "validation accuracy? You may combine several. More epochs of the unregularised network only "
        "memorise the training digits better.",
        "Data augmentation (a new random rotation and shift of every training batch) helped most in the "
        "chapter; batch normalisation and a little dropout help too. Keep the chapter's 784-256-256-10 "
        "shape, well inside the parameter budget, and spend the examples budget on about 30 epochs.",
        "Train with Adam at the chapter's learning rate, in training mode, on augmented batches drawn with "
        "data.batches; never augment what you measure. Compare each version on the validation digits from "
        "challenge_data, which the check never scores on.",
    ],
)
@one_torch_thread()
def _check_regularised(fn: Any) -> None:
    import torch

    data, _ = _digits_challenge_data()
    state = torch.get_rng_state()
    try:
        model, report = run_challenge(fn, data, DIGITS_BUDGET, name="train_regularised",
                                      check_model=torch_module("train_regularised"))
    finally:
        torch.set_rng_state(state)
    digits = _mnist()
    X, y = torch.from_numpy(digits["X_test"]), torch.from_numpy(digits["y_test"])
    model.eval()
    try:
        with torch.no_grad():
            logits = model(X)
    except Exception as error:
        raise CheckFailed(f"your model raised {type(error).__name__} on a (10000, 784) batch of test digits: "
                          f"{error}") from None
    if tuple(logits.shape) != (len(y), 10):
        raise CheckFailed(f"your model maps {len(y):,} digits to shape {tuple(logits.shape)}, expected "
                          f"({len(y)}, 10): one logit per class.")
    acc = float((logits.argmax(dim=1) == y).float().mean())
    if acc < TARGET_ACCURACY_47:
        raise CheckFailed(
            f"on MNIST's 10,000 test digits, which train_regularised never saw, your model is {acc:.4f} accurate "
            f"({report}); it must reach {TARGET_ACCURACY_47}. The unregularised network reaches about 0.89: "
            "regularise more (augmentation helped most in the chapter)."
        )


# --------------------------------------------------------------------------- 4.8
def _smoothed_targets(y: np.ndarray, K: int, smoothing: float) -> np.ndarray:
    return (1 - smoothing) * np.eye(K)[y] + smoothing / K


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@exercise(
    "4.8",
    "Label-smoothed cross-entropy, checked against PyTorch",
    kind="transfer",
    hints=[
        "Label smoothing replaces the one-hot target of each example by a softer distribution q: the true "
        "class gets 1 - smoothing, and the smoothing mass is shared out evenly over all K classes (the true "
        "one included), so every row of q still sums to 1. The loss is the cross-entropy against q.",
        "Row by row, the loss is minus the sum over classes of q times log-softmax(z); average over the "
        "batch. Compute log-softmax with the max shift, never as log(softmax): with logits in the "
        "thousands a probability underflows to 0.",
        "The gradient follows the chapter's pattern for softmax with cross-entropy, with q in place of the "
        "one-hot labels: softmax(z) minus the targets, divided by the batch size. Build q from np.eye(K)[y].",
    ],
)
def _check_label_smoothing(fn: Callable) -> None:
    import torch
    import torch.nn.functional as F

    cases = [
        ("z (6, 4), smoothing 0.1", _FRESH.normal(size=(6, 4)) * 2, 0.1),
        ("z (5, 3), smoothing 0.3", _FRESH.normal(size=(5, 3)) * 3, 0.3),
        ("a single example of 2 classes, smoothing 0.2", _FRESH.normal(size=(1, 2)), 0.2),
        ("z (4, 10), smoothing 0 (plain cross-entropy)", _FRESH.normal(size=(4, 10)), 0.0),
        ("z = [[1000, 0, -1000], [3, 3, 3]], smoothing 0.1", np.array([[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]]), 0.1),
    ]
    for label, z, smoothing in cases:
        N, K = z.shape
        y = _FRESH.integers(0, K, size=N)
        if label.startswith("z = [[1000"):
            y = np.array([2, 1])
        shown = f"label_smoothed_cross_entropy(z, y, smoothing) for {label}"
        with np.errstate(all="ignore"):
            result = call(fn, z, y, smoothing, name="label_smoothed_cross_entropy")
        loss, dz = _tuple(result, 2, shown, "loss, dz")
        z_t = torch.tensor(z, requires_grad=True)
        torch_loss = F.cross_entropy(z_t, torch.tensor(y), label_smoothing=smoothing)
        torch_loss.backward()
        exp_loss, exp_dz = torch_loss.item(), z_t.grad.numpy()
        logp = _log_softmax(z)
        q = _smoothed_targets(y, K, smoothing)
        q_others = (1 - smoothing) * np.eye(K)[y] + smoothing / (K - 1) * (1 - np.eye(K)[y]) if K > 1 else q
        q_unnormalised = (1 - smoothing) * np.eye(K)[y] + smoothing / K * (1 - np.eye(K)[y])
        loss_value = _number(loss, f"the loss from {shown}")
        if not np.isfinite(loss_value):
            raise CheckFailed(f"the loss from {shown} is {loss_value}: compute log-softmax with the max shift, "
                              "never log(softmax(z)), whose probabilities underflow to 0.")
        if smoothing > 0:
            diagnose(loss_value, exp_loss, [
                (float(np.mean(-logp[np.arange(N), y])), "the smoothing is ignored: that is the plain cross-entropy "
                                                        "against the one-hot labels."),
                (float(np.mean(-(q_others * logp).sum(axis=1))),
                 "the smoothing mass is spread over the K - 1 wrong classes only; PyTorch shares it over all K "
                 "classes, the true one included (each gets smoothing / K)."),
                (float(np.mean(-(q_unnormalised * logp).sum(axis=1))),
                 "the true class gets only 1 - smoothing: it must also get its share smoothing / K, so that "
                 "the targets sum to 1."),
                (float(np.sum(-(q * logp).sum(axis=1))), "that is the sum over the batch; PyTorch averages."),
            ], name=f"the loss from {shown}")
        if N > 1:
            diagnose(loss_value, exp_loss, [
                (float(np.sum(-(q * logp).sum(axis=1))), "that is the sum over the batch; PyTorch averages."),
            ], name=f"the loss from {shown}")
        if not np.isclose(loss_value, exp_loss, rtol=1e-7, atol=1e-9):
            raise CheckFailed(f"the loss from {shown} is {loss_value:.6g}, expected {exp_loss:.6g} "
                              "(F.cross_entropy with label_smoothing).")
        P = np.exp(logp)
        diagnose(dz, exp_dz, [
            ((P - np.eye(K)[y]) / N, "the gradient ignores the smoothing: subtract the smoothed targets, not "
                                     "the one-hot labels."),
            ((P - q_others) / N, "the gradient uses targets spread over the K - 1 wrong classes; PyTorch's give "
                                 "every class smoothing / K."),
            (P - q, "the gradient is N times too large: the loss is a mean over the batch, so divide by N."),
            ((q - P) / N, "the gradient's sign is flipped: it is softmax(z) minus the targets."),
        ], name=f"dz from {shown}")
        expect_array(dz, exp_dz, name=f"dz from {shown}", rtol=1e-6, atol=1e-10)


# --------------------------------------------------------------------------- 4.9
@exercise(
    "4.9",
    "AdamW, checked against torch.optim.AdamW",
    kind="transfer",
    hints=[
        "AdamW is Adam (exercise 4.5) with weight decay *decoupled* from the gradient: the decay shrinks "
        "the weights directly, and never passes through m and v, so Adam's per-weight scaling does not "
        "weaken it for weights with large gradients.",
        "PyTorch's order: first shrink the old weights by the factor 1 - lr * weight_decay, then take an "
        "ordinary Adam step with the untouched gradient. Adding weight_decay * w to the gradient instead is "
        "the coupled L2 penalty of torch.optim.Adam(weight_decay=...), a different optimiser.",
        "Reuse your Adam step from 4.5 unchanged (moving averages, bias corrections with t counted from 1, "
        "epsilon outside the square root), applied to the decayed weights; return the new weights with the "
        "uncorrected m and v.",
    ],
)
@one_torch_thread()
def _check_adamw(fn: Callable) -> None:
    import torch

    settings = [(0.1, 0.1, 1e-8, (0.9, 0.999)), (0.05, 0.5, 1e-2, (0.8, 0.99)), (0.02, 2.0, 1e-8, (0.9, 0.999))]
    for lr, decay, eps, betas in settings:
        A, b, w0 = _quadratic(int(_FRESH.integers(2**31)))
        steps = 8
        expected = _torch_trajectory(
            lambda p: torch.optim.AdamW(p, lr=lr, betas=betas, eps=eps, weight_decay=decay), A, b, w0, steps)
        w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
        b1, b2 = betas
        ambiguous = ""
        for t in range(1, steps + 1):
            grad = A @ w - b
            shown = (f"adamw_step(w, grad, m, v, t={t}, lr={lr}, beta1={b1}, beta2={b2}, eps={eps}, "
                     f"weight_decay={decay})")
            result = _tuple(call(fn, w, grad, m, v, t, lr, b1, b2, eps, decay, name="adamw_step"), 3, shown,
                            "w, m, v")
            new_w, new_m, new_v = (np.asarray(x, dtype=float) for x in result)
            if new_w.shape != w.shape:
                raise CheckFailed(f"{shown} returned w of shape {new_w.shape}, expected {w.shape}.")

            def adam(w_from, g, correct=True):
                m_ = b1 * m + (1 - b1) * g
                v_ = b2 * v + (1 - b2) * g ** 2
                if correct:
                    m_, v_ = m_ / (1 - b1 ** t), v_ / (1 - b2 ** t)
                return w_from - lr * m_ / (np.sqrt(v_) + eps)

            m_ref = b1 * m + (1 - b1) * grad
            v_ref = b2 * v + (1 - b2) * grad ** 2
            if ambiguous or not np.allclose(new_w, expected[t - 1], rtol=1e-8, atol=1e-12):
                candidates = {
                    "Adam with an L2 penalty added to the gradient (torch.optim.Adam's weight_decay): AdamW "
                    "decouples the decay, shrinking w directly and leaving the gradient alone":
                        adam(w, grad + decay * w),
                    "a decay by the factor 1 - weight_decay; PyTorch scales the decay by the learning rate, "
                    "1 - lr * weight_decay":
                        adam(w * (1 - decay), grad),
                    "the decay applied to the weights after the Adam step; decay the old weights first":
                        adam(w, grad) * (1 - lr * decay),
                    "no weight decay at all: that is plain Adam":
                        adam(w, grad),
                    "no bias corrections m / (1 - beta1**t) and v / (1 - beta2**t)":
                        adam(w * (1 - lr * decay), grad, correct=False),
                }
                matches = [why for why, candidate in candidates.items()
                           if np.allclose(new_w, candidate, rtol=1e-8, atol=1e-12)]
                if len(matches) == 1:
                    raise CheckFailed(f"{shown}: w differs from torch.optim.AdamW. Your step matches {matches[0]}.")
                if not matches or t == steps:
                    raise CheckFailed(ambiguous or f"{shown}: w differs from torch.optim.AdamW (largest difference "
                                      f"{np.abs(new_w - expected[t - 1]).max():.2e}).")
                # At the first step Adam's update is lr * sign(grad) whatever the gradient's scale, so several
                # mistakes agree; follow the learner's own state for one more step to tell them apart.
                ambiguous = ambiguous or (f"{shown}: w differs from torch.optim.AdamW "
                                          f"(largest difference {np.abs(new_w - expected[t - 1]).max():.2e}).")
                w, m, v = new_w, new_m, new_v
                continue
            if not np.allclose(new_m, m_ref, rtol=1e-9, atol=1e-12):
                raise CheckFailed(f"{shown}: m should be beta1 * m + (1 - beta1) * grad, without the bias correction "
                                  "and without the weight decay.")
            if not np.allclose(new_v, v_ref, rtol=1e-9, atol=1e-12):
                raise CheckFailed(f"{shown}: v should be beta2 * v + (1 - beta2) * grad**2, without the bias "
                                  "correction and without the weight decay.")
            w, m, v = new_w, new_m, new_v
