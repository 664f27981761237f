"""Graders for chapter 1, the single neuron (exercises 1.1-1.8).

The chapter fixes one vocabulary, and the graders use it too: a neuron computes
``z = x @ w + b`` and ``y_hat = sigmoid(z)``; the loss of one example is the
squared error ``(y_hat - y) ** 2`` (no factor 1/2), and the loss of a data set is
the mean of those. Every grader compares the learner's answer with a private
reference computed here, on a few fixed inputs (the edge cases) and on inputs drawn
afresh at every call from the seeded generator ``_FRESH``, so that an answer cannot be a
table of the inputs a failure message once showed.

Where a wrong answer has a recognisable cause (a missing bias, a lost factor 2,
a flipped sign, the sigmoid's derivative left out), the message names the cause.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from .core import CheckFailed, _short, call, diagnose, exercise, expect_array, expect_scalar, expect_tuple

#: Exercise 1.6: the mean loss that training must get below, on every data set it is tried on.
TARGET_LOSS = 0.01

#: Fresh test inputs at every call (seeded, so a run of the test suite is reproducible).
_FRESH = np.random.default_rng(101)


# --------------------------------------------------------------------------- references
def _sigmoid(z: Any) -> np.ndarray:
    """Overflow-free logistic function: exp only ever sees numbers <= 0."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _forward(X: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return X @ w + b


def _mean_loss(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    return float(np.mean((_sigmoid(_forward(X, w, b)) - y) ** 2))


def _gradients(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    y_hat = _sigmoid(_forward(X, w, b))                  # (N,)
    delta = 2.0 * (y_hat - y) * y_hat * (1.0 - y_hat)    # dL_n/dz_n, (N,)
    return X.T @ delta / len(y), float(delta.mean())     # (d,), scalar


def _and_gate() -> tuple[np.ndarray, np.ndarray]:
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0.0, 0.0, 0.0, 1.0])


def _blobs(num_per_class: int = 15, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Two well-separated clouds of 2-D points, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    X = np.vstack([
        rng.normal([-1.5, -1.0], 0.6, size=(num_per_class, 2)),
        rng.normal([1.5, 1.0], 0.6, size=(num_per_class, 2)),
    ])
    y = np.concatenate([np.zeros(num_per_class), np.ones(num_per_class)])
    return X, y


# --------------------------------------------------------------------------- shared helpers


# --------------------------------------------------------------------------- 1.1
@exercise(
    "1.1",
    "Neuron forward",
    hints=[
        "A neuron multiplies each input by its weight, adds the products up, and adds the bias.",
        "`np.dot(x, w)` (or `x @ w`) does the multiply-and-add in one go. With a single vector x "
        "of shape (d,) it gives one number; with a batch X of shape (N, d) it gives N numbers, "
        "one per row, which is exactly what we want.",
        "Nearly there: the product gives one number per example, and the bias b is a single "
        "number that NumPy broadcasts over all of them, so you add it once, after the product. No "
        "loop over the examples is needed.",
    ],
)
def _check_neuron_forward(fn: Callable) -> None:
    cases = [
        (np.array([1.0, -2.0, 0.5]), np.array([0.4, 0.3, -1.2]), 0.25),
        (np.array([3.0]), np.array([-2.0]), -1.5),
        (np.array([-0.5, 4.0, 2.0, -1.0]), np.array([1.5, -0.25, 0.0, 2.0]), 3.0),
    ]
    for _ in range(2):
        d = int(_FRESH.integers(2, 7))
        cases.append((np.round(_FRESH.normal(0, 2, d), 2), np.round(_FRESH.normal(0, 1, d), 2),
                      float(np.round(_FRESH.uniform(-3, 3), 2))))
    for x, w, b in cases:
        shown = f"neuron_forward(x={_short(x)}, w={_short(w)}, b={b})"
        got = call(fn, x, w, b)
        if isinstance(got, np.ndarray) and got.shape == x.shape and x.size > 1:
            raise CheckFailed(
                f"{shown} returned an array of shape {got.shape}: those look like the products "
                "w_i * x_i, but z is a single number, their sum plus b. Use np.dot(x, w) + b."
            )
        expected = float(_forward(x, w, b))
        diagnose(got, expected, [(float(x @ w), "that is w·x without the bias. Add b.")], name=shown)
        expect_scalar(got, expected, name=shown)

    X = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [-3.0, 1.0, 2.0], [2.5, 0.5, -1.0]])  # (4, 3)
    X = np.vstack([X, np.round(_FRESH.normal(0, 2, (int(_FRESH.integers(0, 4)), 3)), 2)])
    w, b = np.round(_FRESH.normal(0, 1, 3), 2), float(np.round(_FRESH.uniform(-2, 2), 2))
    shown = f"neuron_forward(X, w, b) for a batch X of shape {X.shape}"
    try:
        got = call(fn, X, w, b)
    except CheckFailed as failure:
        raise CheckFailed(
            f"{failure} Each row of a batch X is one example; `X @ w` computes all the row "
            "dot products at once (`w @ X` does not work for a batch)."
        ) from None
    expected = _forward(X, w, b)
    diagnose(got, expected, [(X @ w, "that is X @ w without the bias. Add b.")], name=shown)
    expect_array(got, expected, name=shown)


# --------------------------------------------------------------------------- 1.2
_OVERFLOW_SIGNS = ("overflow", "OverflowError", "FloatingPointError", "math range error")


def _call_strict(fn: Callable, z: np.ndarray, shown: str) -> Any:
    """Call the learner's sigmoid with every NumPy floating-point warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            try:
                return call(fn, z)
            except CheckFailed as failure:
                text = str(failure)
                if not any(sign in text for sign in _OVERFLOW_SIGNS) and "invalid value" not in text:
                    raise
                both = (
                    " np.where(condition, a, b) computes both a and b for every element before "
                    "choosing, so both formulas must be safe everywhere."
                    if "where(" in text else ""
                )
                value = float(z.flat[0])
                raise CheckFailed(
                    f"{shown} overflowed: for z = {value:g} your formula computes exp({abs(value):g}), "
                    "which is far beyond the largest float64 (about 1.8e308), so NumPy warns "
                    "'overflow encountered in exp'. Rearrange the formula so that exp only ever "
                    f"sees numbers <= 0 (see the hints).{both}"
                ) from None


@exercise(
    "1.2",
    "A numerically safe sigmoid",
    hints=[
        "Start from sigma(z) = 1 / (1 + exp(-z)). It is correct, but for z = -1000 it computes "
        "exp(1000), which overflows float64. Find a second formula for the same function that "
        "is safe when z is negative.",
        "Multiply the top and bottom of 1 / (1 + exp(-z)) by exp(z): sigma(z) = exp(z) / (1 + exp(z)). "
        "That form is safe for z <= 0, the first one for z >= 0. Both only need e = exp(-|z|), "
        "which never overflows.",
        "Skeleton: `z = np.asarray(z, dtype=float)`, then `e = ...  # exp(-|z|), always in (0, "
        "1]`, then choose element by element with np.where(condition, if_true, if_false), each "
        "branch written with e only. A branch that still calls np.exp(-z) overflows: np.where "
        "evaluates both branches everywhere.",
    ],
)
def _check_sigmoid(fn: Callable) -> None:
    z = np.array([-5.0, -1.0, 0.0, 0.5, 2.0, 5.0])
    got = call(fn, z)
    flipped = "the sign is flipped: sigma(z) = 1 / (1 + exp(-z)), so sigma(2) > 0.5."
    diagnose(got, _sigmoid(z), [(_sigmoid(-z), flipped)], name="sigmoid([-5, -1, 0, 0.5, 2, 5])")
    expect_array(got, _sigmoid(z), name="sigmoid([-5, -1, 0, 0.5, 2, 5])")

    expect_scalar(call(fn, 0.0), 0.5, name="sigmoid(0.0)")

    grid = np.array([[-3.0, 0.0, 3.0], [1.0, -1.0, 10.0]])
    expect_array(call(fn, grid), _sigmoid(grid), name="sigmoid of a 2x3 array (the shape must be kept)")

    z = np.round(_FRESH.normal(0.0, 4.0, size=(int(_FRESH.integers(2, 5)), 3)), 3)
    shown = f"sigmoid of a {z.shape[0]}x3 array of random z, {_short(z.ravel())}"
    got = call(fn, z)
    diagnose(got, _sigmoid(z), [(_sigmoid(-z), flipped)], name=shown)
    expect_array(got, _sigmoid(z), name=shown)

    for value in (-1000.0, 1000.0):
        z = np.array([value])
        shown = f"sigmoid(np.array([{value:g}]))"
        expect_array(_call_strict(fn, z, shown), _sigmoid(z), name=shown)
    z = np.array([-1000.0, -50.0, -30.0, 0.0, 30.0, 50.0, 1000.0])
    shown = "sigmoid([-1000, -50, -30, 0, 30, 50, 1000])"
    expect_array(_call_strict(fn, z, shown), _sigmoid(z), name=shown, atol=1e-12)


# --------------------------------------------------------------------------- 1.3
@exercise(
    "1.3",
    "Squared error of one example",
    hints=[
        "The error is the gap between prediction and target; the loss squares it, so that "
        "misses in either direction count, and big misses count much more.",
        "Subtract the target from the prediction and square the difference. In this book the loss "
        "has no factor 1/2, no square root and no absolute value. It works element by element, so "
        "arrays of predictions need no loop.",
        "The order inside the square does not matter ((a - b) and (b - a) square to the same "
        "number), but the power does: `** 2`, not `* 2` and not `^ 2` (in Python, ^ is the "
        "bitwise exclusive or).",
    ],
)
def _check_squared_error(fn: Callable) -> None:
    cases = [(0.9, 1.0), (0.2, 1.0), (0.5, 0.5), (3.0, -1.0)]
    cases += [(float(np.round(a, 4)), float(np.round(b, 4)))           # fresh pairs at every call
              for a, b in _FRESH.uniform(-3.0, 3.0, size=(4, 2))]
    cases.insert(int(_FRESH.integers(0, len(cases))), (float(_FRESH.uniform(0, 1)), float(_FRESH.integers(0, 2))))
    for y_hat, y in cases:
        shown = f"squared_error(y_hat={y_hat}, y={y})"
        got = call(fn, y_hat, y)
        error = y_hat - y
        diagnose(got, error**2, [
            (error, "that is the error y_hat - y itself. Square it."),
            (2 * error, "that is 2 (y_hat - y), twice the error, not its square: `** 2`, not `* 2`."),
            (abs(error), "that is the size of the error, not its square. Square it: (y_hat - y)**2."),
            (-error, "that is y - y_hat, not its square. Square it: (y_hat - y)**2."),
            (0.5 * error**2, "that has a factor 1/2. Some books put one there; "
                             "this book defines L = (y_hat - y)**2 without it."),
        ], name=shown)
        expect_scalar(got, error**2, name=shown)

    y_hat, y = np.round(_FRESH.uniform(0, 1, 5), 3), _FRESH.integers(0, 2, 5).astype(float)
    shown = f"squared_error(y_hat={_short(y_hat)}, y={_short(y)}) (arrays: one loss per example)"
    got = call(fn, y_hat, y)
    diagnose(got, (y_hat - y) ** 2, [(np.mean((y_hat - y) ** 2), "that is the mean over the examples; "
                                      "return one squared error per example, element by element.")], name=shown)
    expect_array(got, (y_hat - y) ** 2, name=shown)


# --------------------------------------------------------------------------- 1.4
@exercise(
    "1.4",
    "Gradient of the loss",
    hints=[
        "Use the chain rule along z -> y_hat -> L: dL/dw = dL/dy_hat * dy_hat/dz * dz/dw, "
        "one factor at a time, then average over the N examples.",
        "dL/dy_hat = 2 (y_hat - y); dy_hat/dz = y_hat (1 - y_hat), the sigmoid's derivative; "
        "dz/dw = x and dz/db = 1. Call delta = 2 (y_hat - y) y_hat (1 - y_hat), one number per example.",
        "Skeleton: `y_hat = sigmoid(neuron_forward(X, w, b))`; `delta = ...` (hint 2, one number "
        "per example); `dw = ...` (X.T times delta has shape (d,); the loss is a MEAN, so divide "
        "by N); `db = ...` (the mean of delta); `return dw, db`.",
    ],
)
def _check_gradients(fn: Callable) -> None:
    rng = np.random.default_rng(4)
    cases = [
        ("one example", np.array([[1.5, -0.5]]), np.array([1.0]), np.array([0.2, -0.4]), 0.1),
        ("a batch of 5", rng.normal(0.0, 1.5, size=(5, 3)), np.array([0.0, 1.0, 1.0, 0.0, 1.0]),
         np.array([0.7, -1.1, 0.3]), -0.4),
        ("a batch with large |z|",
         np.array([[4.0, -1.0, 2.0], [-3.0, 2.5, 0.5], [1.0, 1.0, -4.0], [2.0, -2.0, 3.0]]),
         np.array([1.0, 0.0, 0.0, 1.0]), np.array([1.5, -1.0, 0.8]), 0.5),
    ]
    n, d = int(_FRESH.integers(6, 12)), int(_FRESH.integers(2, 5))
    cases.append((f"a random batch of {n}", _FRESH.normal(0.0, 1.5, size=(n, d)),
                  _FRESH.integers(0, 2, n).astype(float), _FRESH.normal(0.0, 1.0, d),
                  float(_FRESH.uniform(-1, 1))))
    for label, X, y, w, b in cases:
        shown = f"gradients(X, y, w, b) for {label} (X of shape {X.shape})"
        dw, db = expect_tuple(call(fn, X, y, w, b), label=shown, names="dw, db")
        exp_dw, exp_db = _gradients(X, y, w, b)

        y_hat = _sigmoid(X @ w + b)
        no_sigma = 2.0 * (y_hat - y)                                   # sigma'(z) left out
        y_hat_nob = _sigmoid(X @ w)
        delta_nob = 2.0 * (y_hat_nob - y) * y_hat_nob * (1 - y_hat_nob)  # bias left out of z
        missing_slope = "the sigmoid's derivative y_hat (1 - y_hat) is missing from the chain rule."
        bugs_dw = [
            (-exp_dw, "the sign is flipped. The error is (y_hat - y), not (y - y_hat)."),
            (exp_dw / 2, "exactly half the right value. "
                         "d/dy_hat of (y_hat - y)**2 is 2 (y_hat - y): keep the 2."),
            (X.T @ no_sigma / len(y), missing_slope),
            (exp_dw * len(y), f"{len(y)} times too large: the loss is the mean over the examples, "
                              "so divide the sum by N."),
            (X.T @ delta_nob / len(y), "it matches a neuron without bias: compute z = X @ w + b."),
        ]
        diagnose(dw, exp_dw, bugs_dw, name=f"dw from {shown}")
        expect_array(dw, exp_dw, name=f"dw from {shown}")

        if isinstance(db, np.ndarray) and db.ndim == 1 and db.shape == y.shape:
            raise CheckFailed(
                f"db from {shown} has shape {db.shape}, one value per example: "
                "average them (db = delta.mean()), because the loss is the mean over the examples."
            )
        bugs_db = [
            (-exp_db, "the sign is flipped. The error is (y_hat - y), not (y - y_hat)."),
            (exp_db / 2, "exactly half the right value: keep the 2 from the derivative of the square."),
            (float(no_sigma.mean()), missing_slope),
            (exp_db * len(y), f"{len(y)} times too large: average over the examples instead of summing."),
        ]
        diagnose(db, exp_db, bugs_db, name=f"db from {shown}")
        expect_scalar(db, exp_db, name=f"db from {shown}")


# --------------------------------------------------------------------------- 1.5
@exercise(
    "1.5",
    "One step of gradient descent",
    hints=[
        "Compute the gradients at the current (w, b), then take a step of size lr against them: "
        "the gradient points uphill and we want to go down.",
        "Call your `gradients` function from exercise 1.4 at the current (w, b). The step "
        "multiplies each gradient by lr and subtracts it from its parameter: the minus sign is "
        "what makes the loss go down.",
        "The one subtle point: return NEW values. `w -= lr * dw` changes the caller's array in "
        "place, and the caller still uses it; an expression on the right of `=` makes a new "
        "array. Return (new_w, new_b), in that order.",
    ],
)
def _check_train_step(fn: Callable) -> None:
    X, y = _and_gate()
    X2, y2 = _blobs(num_per_class=4, seed=7)
    cases = [
        ("the AND gate", X, y, np.array([0.5, -0.25]), 0.1, 0.5),
        ("eight 2-D points", X2, y2, np.array([-0.3, 0.8]), -0.2, 2.0),
        ("eight 2-D points, three inputs", np.column_stack([X2, X2[:, 0] * X2[:, 1]]), y2,
         np.array([0.2, 0.1, -0.5]), 0.3, 0.05),
    ]
    X3, y3 = _blobs(num_per_class=int(_FRESH.integers(3, 7)), seed=int(_FRESH.integers(1 << 30)))
    cases.append((f"{len(y3)} random 2-D points", X3, y3, _FRESH.normal(0.0, 1.0, 2),
                  float(_FRESH.uniform(-1, 1)), float(np.round(_FRESH.uniform(0.1, 3.0), 2))))
    for label, X, y, w, b, lr in cases:
        shown = f"train_step(X, y, w, b, lr={lr}) on {label}"
        new_w, new_b = expect_tuple(call(fn, X, y, w, b, lr), label=shown, names="new_w, new_b")
        dw, db = _gradients(X, y, w, b)
        diagnose(new_w, w - lr * dw, [
            (w, "the weights did not change: return the updated values, not the old ones."),
            (w + lr * dw, "that is a step uphill. Subtract the gradient: w - lr * dw."),
            (w - dw, "the step ignores the learning rate: w - lr * dw."),
            (-lr * dw, "that is the step alone. Add it to the old weights: w - lr * dw."),
        ], name=f"new_w from {shown}")
        expect_array(new_w, w - lr * dw, name=f"new_w from {shown}")
        diagnose(new_b, b - lr * db, [
            (b, "the bias did not change: update it too, b - lr * db."),
            (b + lr * db, "that is a step uphill. Subtract: b - lr * db."),
            (b - db, "the step ignores the learning rate: b - lr * db."),
        ], name=f"new_b from {shown}")
        expect_scalar(new_b, b - lr * db, name=f"new_b from {shown}")


# --------------------------------------------------------------------------- 1.6
def _weights_and_bias(w: Any, b: Any, d: int, shown: str) -> tuple[np.ndarray, float]:
    """Validate the trained parameters' types and shapes (their values are judged by the loss)."""
    if w is None or b is None:
        raise CheckFailed(f"{shown} returned None for w or b: return the trained w and b.")
    try:
        w = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"w from {shown} should be a NumPy array of {d} numbers.") from None
    if w.shape != (d,):
        raise CheckFailed(f"w from {shown} has shape {w.shape}, expected ({d},): one weight per input.")
    if np.ndim(b) != 0:
        raise CheckFailed(f"b from {shown} should be a single number, got shape {np.shape(b)}.")
    try:
        b = float(b)
    except (TypeError, ValueError):
        raise CheckFailed(f"b from {shown} should be a number, got {type(b).__name__}.") from None
    if not (np.all(np.isfinite(w)) and np.isfinite(b)):
        raise CheckFailed(
            f"the trained w or b from {shown} contains NaN or infinity: is lr applied as a small step?"
        )
    return w, b


def _reference_run(X: np.ndarray, y: np.ndarray, lr: float, num_epochs: int,
                   steps_per_epoch: int = 1) -> tuple[np.ndarray, float, np.ndarray]:
    """Full-batch gradient descent from zero; the loss recorded before each epoch's step(s)."""
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(_mean_loss(X, y, w, b))
        for _ in range(steps_per_epoch):
            dw, db = _gradients(X, y, w, b)
            w, b = w - lr * dw, b - lr * db
    return w, b, np.array(losses)


def _per_example_run(X: np.ndarray, y: np.ndarray, lr: float, num_epochs: int) -> np.ndarray:
    """The loss curve of per-example updates (stochastic gradient descent, in order)."""
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(_mean_loss(X, y, w, b))
        for n in range(len(y)):
            dw, db = _gradients(X[n:n + 1], y[n:n + 1], w, b)
            w, b = w - lr * dw, b - lr * db
    return np.array(losses)


def _same_curve(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-7, atol=1e-12))


def _run_train(fn: Callable, X: np.ndarray, y: np.ndarray, lr: float, num_epochs: int,
               shown: str) -> tuple[np.ndarray, float, np.ndarray]:
    """Call the learner's train and validate what it returns (types, shapes, the starting loss)."""
    w, b, losses = expect_tuple(call(fn, X, y, lr, num_epochs), label=shown, names="w, b, losses")
    w, b = _weights_and_bias(w, b, X.shape[1], shown)
    try:
        curve = np.asarray(losses, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"losses from {shown} should be a list of numbers, one per epoch.") from None
    if curve.shape != (num_epochs,):
        raise CheckFailed(
            f"losses from {shown} has shape {curve.shape}, expected ({num_epochs},): "
            "append one mean loss per epoch, every epoch."
        )
    if not np.all(np.isfinite(curve)):
        raise CheckFailed(f"losses from {shown} contains NaN or infinity.")
    if not np.isclose(curve[0], 0.25, rtol=1e-6):
        raise CheckFailed(
            f"losses[0] from {shown} is {curve[0]:.4f}, expected 0.2500: start from w = 0 and b = 0 "
            "(every prediction is then sigmoid(0) = 0.5, so every squared error is 0.25) and "
            "record the loss before the first update."
        )
    if np.allclose(w, 0.0) and b == 0.0 and np.allclose(curve, 0.25):
        raise CheckFailed(
            f"after {shown} w and b are still zero and the loss never moved: the updates never "
            "happened. Assign the step's result back, `w, b = train_step(X, y, w, b, lr)`."
        )
    return w, b, curve


def _compare_path(fn: Callable, X: np.ndarray, y: np.ndarray, lr: float, num_epochs: int,
                  shown: str, w: np.ndarray, b: float, curve: np.ndarray) -> None:
    """Compare the learner's loss history and final parameters with full-batch gradient descent, step by step."""
    ref_w, ref_b, ref_curve = _reference_run(X, y, lr, num_epochs)
    if not _same_curve(curve, ref_curve):
        n = len(y)
        known = [
            (_reference_run(X, y, -lr, num_epochs)[2],
             "The loss went up: each step goes uphill. Subtract the gradient: w - lr * dw."),
            (_per_example_run(X, y, lr, num_epochs),
             f"it matches one update per EXAMPLE ({n} steps per epoch, stochastic gradient descent). "
             "This exercise asks for full-batch gradient descent: one step per epoch, with the gradient "
             "averaged over all N examples (your train_step on the whole X)."),
            (_reference_run(X, y, lr * n, num_epochs)[2],
             f"it matches steps {n} times too large: the gradient must be the mean over the N examples, "
             "not their sum."),
            *[(_reference_run(X, y, lr, num_epochs, steps_per_epoch=k)[2],
               f"it matches {k} gradient steps per epoch: training runs more steps than asked. Take "
               "exactly one step per epoch, num_epochs steps in all.") for k in range(2, 6)],
            *[(_reference_run(X, y, fixed, num_epochs)[2],
               f"it matches a fixed learning rate of {fixed:g}, not the lr={lr:g} you were given: "
               "use the argument lr in every step.")
              for fixed in (1.0, 0.1, 0.5, 0.01, 2.0, 0.05, 0.001) if not np.isclose(fixed, lr)],
        ]
        for wrong_curve, why in known:
            if _same_curve(curve, wrong_curve):
                raise CheckFailed(f"losses from {shown} are not those of full-batch gradient descent: {why}")
        other_lr = lr / 4
        _, _, other = _run_train(fn, X, y, other_lr, num_epochs, shown.replace(f"lr={lr}", f"lr={other_lr}"))
        if _same_curve(curve, other):
            raise CheckFailed(
                f"losses from {shown} are the same as with lr={other_lr}: your loop ignores its lr "
                "argument. Pass lr on to every step."
            )
        k = int(np.argmax(~np.isclose(curve, ref_curve, rtol=1e-7, atol=1e-12)))
        raise CheckFailed(
            f"losses[{k}] from {shown} is {curve[k]:.8g}, expected {ref_curve[k]:.8g}, the mean loss after "
            f"{k} full-batch gradient step(s) of size lr={lr:g} (the entries before it agree). Each epoch "
            "must record the loss of the current w, b and then take exactly one step on all of X "
            "with the lr you were given."
        )
    if not (np.allclose(w, ref_w, rtol=1e-7, atol=1e-12) and np.isclose(b, ref_b, rtol=1e-7, atol=1e-12)):
        before_w, before_b, _ = _reference_run(X, y, lr, num_epochs - 1)
        if np.allclose(w, before_w, rtol=1e-7, atol=1e-12) and np.isclose(b, before_b, rtol=1e-7, atol=1e-12):
            why = "they are the parameters BEFORE the last step: return w and b after all num_epochs steps."
        else:
            why = ("the losses are right, so return the w and b your loop ended with, after exactly "
                   "num_epochs steps (no extra training after the loop).")
        raise CheckFailed(f"the w, b returned by {shown} are not those of the last step: {why}")


@exercise(
    "1.6",
    "Train to a target loss",
    hints=[
        "Training is a loop: start from zero weights, then repeat num_epochs times: measure the "
        "mean loss of the current (w, b), then take one gradient-descent step with your "
        "train_step. Return the final weights and the list of losses.",
        "Start from w = np.zeros(X.shape[1]) and b = 0.0. Record the loss BEFORE each step, so "
        "that losses[0] is the loss of the starting point and the list has num_epochs entries. "
        "The loss is the mean of squared_error over all examples, as a Python float. One epoch "
        "is one step on the whole of X (full batch), with the lr you were given.",
        "Skeleton: `for _ in range(num_epochs):`, then `losses.append(...)  # mean loss of the "
        "current w, b`, then `w, b = ...  # one step`. Assign the step's result back to w and b, "
        "or every epoch repeats the first step.",
    ],
)
def _check_train(fn: Callable) -> None:
    # 1. The path: a short run on fresh data, compared step by step with full-batch gradient descent.
    sizes = _FRESH.integers(3, 8, size=2)
    d = int(_FRESH.integers(2, 4))
    X = np.vstack([_FRESH.normal(-1.0, 0.8, size=(sizes[0], d)), _FRESH.normal(1.0, 0.8, size=(sizes[1], d))])
    y = np.concatenate([np.zeros(sizes[0]), np.ones(sizes[1])])
    order = _FRESH.permutation(len(y))
    X, y = X[order], y[order]
    lr = float(np.round(_FRESH.uniform(0.3, 3.0), 2))
    num_epochs = int(_FRESH.integers(6, 13))
    shown = f"train(X, y, lr={lr}, num_epochs={num_epochs}) on {len(y)} random points with {d} inputs"
    w, b, curve = _run_train(fn, X, y, lr, num_epochs, shown)
    _compare_path(fn, X, y, lr, num_epochs, shown, w, b, curve)

    # 2. The end: long runs that must reach the target loss.
    and_X, and_y = _and_gate()
    blob_X, blob_y = _blobs()
    cases = [
        ("the AND gate", and_X, and_y, 2.0, 1000, TARGET_LOSS),
        ("two clouds of 30 points", blob_X, blob_y, 1.0, 300, TARGET_LOSS),
    ]
    for label, X, y, lr, num_epochs, target in cases:
        shown = f"train(X, y, lr={lr}, num_epochs={num_epochs}) on {label}"
        w, b, curve = _run_train(fn, X, y, lr, num_epochs, shown)
        _compare_path(fn, X, y, lr, num_epochs, shown, w, b, curve)
        final = _mean_loss(X, y, w, b)
        if final >= target:    # cannot happen after a matching path; kept as the exercise's promise
            raise CheckFailed(
                f"after {shown} the mean loss of the returned (w, b) is {final:.4f}; "
                f"it should be below {target}."
            )


# --------------------------------------------------------------------------- 1.7 and 1.8 (shared)
def _gradient_cases(targets: str) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, float]]:
    """Fresh inputs for a gradient exercise: one example, an odd batch, soft targets, saturated neurons.

    ``targets`` is "01" (labels 0 and 1, soft targets in (0, 1)) or "pm1" (labels -1 and +1,
    soft targets in (-1, 1)).
    """
    def labels(n: int) -> np.ndarray:
        y = _FRESH.integers(0, 2, n).astype(float)
        return y if targets == "01" else 2 * y - 1

    def soft(n: int) -> np.ndarray:
        y = np.round(_FRESH.uniform(0.05, 0.95, n), 3)
        return y if targets == "01" else 2 * y - 1

    d = int(_FRESH.integers(2, 5))
    n = 2 * int(_FRESH.integers(3, 7)) + 1                       # odd, so no sum/mean coincidence
    w, b = _FRESH.normal(0.0, 1.0, d), float(_FRESH.uniform(-1.0, 1.0))
    big = np.where(_FRESH.random((5, d)) < 0.5, -20.0, 20.0)   # entries of +-20
    w_big = np.sign(big[0]) * np.round(_FRESH.uniform(1.0, 1.5, d), 2)   # z of row 0 is >= 40
    return [
        ("one example", _FRESH.normal(0.0, 1.5, (1, d)), labels(1), w, b),
        (f"a random batch of {n}", _FRESH.normal(0.0, 1.5, (n, d)), labels(n), w, b),
        (f"a batch of {n} with soft targets", _FRESH.normal(0.0, 1.5, (n, d)), soft(n), w, b),
        ("a batch where |z| reaches 40 and more (a saturated neuron)", big, labels(5), w_big, 0.0),
    ]


def _quiet(fn: Callable, *args: Any, name: str) -> Any:
    """Call learner code with NumPy's floating-point warnings silenced: the result is inspected instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(all="ignore"):
            return call(fn, *args, name=name)


def _check_gradient_pair(fn: Callable, name: str, targets: str,
                         delta: Callable, bugs: Callable, nonfinite: str) -> None:
    """Grade ``fn(X, y, w, b) -> (dw, db)`` against ``delta(X, y, w, b)``, the per-example dL_n/dz_n.

    ``bugs(X, y, w, b)`` lists (wrong delta, explanation) pairs; each becomes a wrong (dw, db).
    """
    for label, X, y, w, b in _gradient_cases(targets):
        shown = f"{name}(X, y, w, b) for {label} (X of shape {X.shape})"
        dw, db = expect_tuple(_quiet(fn, X, y, w, b, name=name), label=shown, names="dw, db")
        n = len(y)
        good = delta(X, y, w, b)
        exp_dw, exp_db = X.T @ good / n, float(good.mean())
        for part in (dw, db):
            try:
                finite = bool(np.all(np.isfinite(np.asarray(part, dtype=np.float64))))
            except (TypeError, ValueError):
                finite = True                                   # the shape/type checks below report it
            if not finite:
                raise CheckFailed(f"the gradient from {shown} contains NaN or infinity: {nonfinite}")
        with np.errstate(all="ignore"):
            wrong = [(d_bad, why) for d_bad, why in bugs(X, y, w, b)]
            wrong_db = [(float(d_bad.mean()), why) for d_bad, why in wrong]
            wrong_dw = [(X.T @ d_bad / n, why) for d_bad, why in wrong]
        # db first: a single number, so a message quotes two numbers rather than two arrays.
        if isinstance(db, np.ndarray) and db.ndim == 1 and db.shape == y.shape:
            raise CheckFailed(
                f"db from {shown} has shape {db.shape}, one value per example: average them, "
                "because the loss is the mean over the examples."
            )
        wrong_db += [(exp_db * n, f"{n} times too large: average over the examples instead of summing."),
                     (-exp_db, "the sign is flipped: the gradient of the loss points uphill, "
                               "towards larger loss.")]
        diagnose(db, exp_db, wrong_db, name=f"db from {shown}")
        expect_scalar(db, exp_db, name=f"db from {shown}")
        wrong_dw += [(exp_dw * n, f"{n} times too large: the loss is the mean over the examples, "
                                  "so divide the sum by N."),
                     (-exp_dw, "the sign is flipped: the gradient of the loss points uphill, "
                               "towards larger loss.")]
        diagnose(dw, exp_dw, wrong_dw, name=f"dw from {shown}")
        expect_array(dw, exp_dw, name=f"dw from {shown}")


def _bce_delta(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return _sigmoid(X @ w + b) - y


def _bce_bugs(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> list[tuple[np.ndarray, str]]:
    p = _sigmoid(X @ w + b)
    slope = p * (1 - p)
    p0 = _sigmoid(X @ w)
    with np.errstate(all="ignore"):
        only_outer = (p - y) / slope
    return [
        ((p - y) * slope, "the sigmoid's slope y_hat (1 - y_hat) does not belong in this gradient: "
                          "with the cross-entropy it cancels against the denominators of dL/dy_hat."),
        (2 * (p - y) * slope, "that is the gradient of the squared error (exercise 1.4), not of the "
                              "cross-entropy."),
        (2 * (p - y), "exactly twice the gradient: the cross-entropy has no square, so no factor 2."),
        (only_outer, "that is dL/dy_hat alone: the chain rule still multiplies it by dy_hat/dz."),
        (p0 - y, "it matches a neuron without bias: compute z = X @ w + b."),
        (np.where(y > 0.5, p - 1, p), "that treats every target as 0 or 1. The cross-entropy takes any "
                                      "target between 0 and 1 (soft targets): use y itself in the formula."),
    ]


@exercise(
    "1.8",
    "The gradient of the cross-entropy loss",
    hints=[
        "Same chain rule as exercise 1.4, z -> y_hat -> L, with a different first factor: "
        "differentiate -[y log y_hat + (1 - y) log(1 - y_hat)] with respect to y_hat, then "
        "multiply by the sigmoid's slope y_hat (1 - y_hat).",
        "Put the first factor over the common denominator y_hat (1 - y_hat) and multiply out on "
        "paper before you write code: the product dL/dy_hat * dy_hat/dz collapses to something "
        "very short, and that short form is also the one that never divides by zero when the "
        "sigmoid saturates at exactly 1.0.",
        "Once you have the short per-example delta = dL_n/dz_n, the rest is exercise 1.4: "
        "dz/dw = x and dz/db = 1, so dw is X.T times delta divided by N and db is the mean of delta.",
    ],
    kind="transfer",
)
def _check_bce_gradients(fn: Callable) -> None:
    _check_gradient_pair(
        fn, "bce_gradients", "01", _bce_delta, _bce_bugs,
        "for |z| near 40 the sigmoid is exactly 1.0 in float64, so 1 - y_hat is 0 and dividing by it "
        "gives NaN. Simplify dL/dy_hat * dy_hat/dz on paper first: the division disappears.",
    )


def _tanh_delta(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    t = np.tanh(X @ w + b)
    return 2 * (t - y) * (1 - t ** 2)


def _tanh_bugs(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> list[tuple[np.ndarray, str]]:
    z = X @ w + b
    t = np.tanh(z)
    s = _sigmoid(z)
    t0 = np.tanh(X @ w)
    return [
        (2 * (t - y) * t * (1 - t), "that uses the sigmoid's slope y_hat (1 - y_hat); the slope of tanh "
                                    "is 1 - tanh(z)**2."),
        (2 * (t - y) * (1 - t), "the slope of tanh is 1 - tanh(z)**2: square the tanh."),
        (2 * (t - y) * (1 - z ** 2), "the slope is 1 - tanh(z)**2, with the tanh of z, not 1 - z**2."),
        ((t - y) * (1 - t ** 2), "exactly half the gradient: d/dy_hat of (y_hat - y)**2 is "
                                 "2 (y_hat - y), keep the 2."),
        (2 * (t - y), "the slope of tanh, 1 - tanh(z)**2, is missing from the chain rule."),
        (2 * (s - y) * s * (1 - s), "that is the gradient of a sigmoid neuron (exercise 1.4): here "
                                    "y_hat = tanh(z)."),
        (2 * (t0 - y) * (1 - t0 ** 2), "it matches a neuron without bias: compute z = X @ w + b."),
    ]


@exercise(
    "1.7",
    "A tanh neuron",
    hints=[
        "Only one link of the chain z -> y_hat -> L changes from exercise 1.4: the activation. "
        "Find the derivative of tanh(z) with respect to z (tanh = sinh / cosh, quotient rule), "
        "and write it in terms of the output y_hat = tanh(z), as we did for the sigmoid.",
        "The derivative of tanh is one minus the square of its output. The other factors are as "
        "in exercise 1.4: dL/dy_hat = 2 (y_hat - y), dz/dw = x, dz/db = 1.",
        "Skeleton: `y_hat = np.tanh(X @ w + b)`; `delta = ...` (the three factors of hint 2, "
        "one number per example); then dw and db exactly as in exercise 1.4, means over the N "
        "examples.",
    ],
    kind="transfer",
)
def _check_tanh_gradients(fn: Callable) -> None:
    _check_gradient_pair(
        fn, "tanh_gradients", "pm1", _tanh_delta, _tanh_bugs,
        "look for an overflow: np.tanh never overflows, but a tanh written with exp does for large |z|.",
    )
