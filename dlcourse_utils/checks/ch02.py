"""Graders for chapter 2, mathematical foundations (exercises 2.1-2.9).

Vocabulary, as in the chapter: logits ``z`` of shape ``(N, K)`` (or ``(K,)``), integer
labels ``y`` of shape ``(N,)``, the softmax and the log-sum-exp taken along the last
axis, and the mean cross-entropy ``mean(LSE(z_n) - z_n[y_n])``. Every grader compares
the learner's answer with a private reference computed here, on fixed inputs (the edge
cases) and on inputs drawn afresh at every call from the seeded generator ``_FRESH``, so
that a table of the inputs a failure message once showed does not pass.

Where a wrong answer matches what a known mistake produces (a forward difference,
a lost factor 2, ``P(+|D)`` mistaken for ``P(D|+)``, the max of the whole array
instead of each row's, ``z[:, y]`` instead of ``z[np.arange(N), y]``, a forgotten
route in the chain rule, ``=`` instead of ``+=`` in a backward pass), the message
names the cause.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from .core import CheckFailed, call, close, diagnose, exercise, expect_array, expect_scalar, expect_tuple


#: Fresh test inputs at every call (seeded, so a run of the test suite is reproducible).
_FRESH = np.random.default_rng(202)


# --------------------------------------------------------------------------- shared helpers
def _quiet_call(fn: Callable, *args: Any, name: str) -> Any:
    """Call learner code with NumPy's overflow/invalid warnings silenced: we inspect the result instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(all="ignore"):
            return call(fn, *args, name=name)


def _pair(got: Any, label: str, names: str) -> tuple[Any, ...]:
    if isinstance(got, np.ndarray) and got.ndim == 1:     # a 1-D array of the values counts as a tuple
        got = tuple(got)
    return expect_tuple(got, label=label, names=names)


# --------------------------------------------------------------------------- 2.1
def _central(f: Callable, x: np.ndarray, h: float) -> np.ndarray:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (f(plus) - f(minus)) / (2 * h)
    return grad


def _forward(f: Callable, x: np.ndarray, h: float) -> np.ndarray:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus = x.copy()
        plus[index] += h
        grad[index] = (f(plus) - f(x)) / h
    return grad


def _all_at_once(f: Callable, x: np.ndarray, h: float) -> np.ndarray:
    return np.full_like(x, (f(x + h) - f(x - h)) / (2 * h))


@exercise(
    "2.1",
    "Numerical gradient",
    hints=[
        "Treat one entry at a time: nudge x[i] up by h, evaluate f, nudge it down by h, evaluate f "
        "again, and put back the original value. The difference of the two values divided by 2h is "
        "the i-th partial derivative.",
        "Work entry by entry: `for index in np.ndindex(x.shape):` visits every entry of an array "
        "of any shape. Evaluate f on copies of x with that one entry moved by +h and by -h, never "
        "on x itself, and store the results in an array shaped like x (np.zeros_like).",
        "Skeleton inside the loop: `plus, minus = x.copy(), x.copy()`; move entry `index` of plus "
        "up by h and of minus down by h; `grad[index] = ...  # central difference over 2h`. Copy "
        "inside the loop: copies made once, outside it, keep the nudges of the earlier entries.",
    ],
)
def _check_numerical_gradient(fn: Callable) -> None:
    cases = [
        ("f(x) = sum(x**2) at x = [1, -2, 3]", lambda x: np.sum(x ** 2), np.array([1.0, -2.0, 3.0]),
         lambda x: 2 * x),
        ("f(x) = sum(exp(3x)) at x = [1, 2]", lambda x: np.sum(np.exp(3 * x)), np.array([1.0, 2.0]),
         lambda x: 3 * np.exp(3 * x)),
        ("f(X) = sum(sin(X) * C) for X of shape (2, 3)",
         lambda x: np.sum(np.sin(x) * np.array([[1.0, -2.0, 0.5], [3.0, 1.5, -1.0]])),
         np.array([[0.3, -1.2, 2.0], [0.9, -0.4, 1.1]]),
         lambda x: np.cos(x) * np.array([[1.0, -2.0, 0.5], [3.0, 1.5, -1.0]])),
    ]
    c = np.round(_FRESH.uniform(0.5, 2.0, size=(3, 2)) * _FRESH.choice([-1.0, 1.0], size=(3, 2)), 2)
    cases.append((f"f(X) = sum(C * X**3) at a random X of shape (3, 2), C = {c.tolist()}",
                  lambda x, c=c: np.sum(c * x ** 3),
                  np.round(_FRESH.uniform(0.2, 2.0, size=(3, 2)) * _FRESH.choice([-1.0, 1.0], size=(3, 2)), 3),
                  lambda x, c=c: 3 * c * x ** 2))
    for label, f, x, exact in cases:
        shown = f"numerical_gradient for {label}"
        got = call(fn, f, x, name="numerical_gradient")
        if got is None:
            raise CheckFailed(f"{shown} returned None: did you forget `return grad`?")
        expected = exact(x)
        h = 1e-5
        if close(got, _forward(f, x, h), rtol=1e-9) and not close(got, expected, rtol=1e-7):
            worst = float(np.max(np.abs(np.asarray(got) - expected) / np.abs(expected)))
            raise CheckFailed(
                f"{shown} agrees with the exact gradient only to a relative error of {worst:.1e}: that is "
                "the forward difference (f(x + h) - f(x)) / h, whose error is proportional to h. Use the "
                "central difference (f(x + h) - f(x - h)) / (2h), whose error is proportional to h**2."
            )
        diagnose(got, expected, [
            (2 * expected, "exactly twice the gradient: the central difference divides by 2h, not h."),
            (expected / 2, "exactly half the gradient: divide the difference by 2h, not 4h (or h twice)."),
            (_all_at_once(f, x, h), "every entry holds the same number: you nudged all the entries at once "
                                    "(x + h). Nudge one entry at a time."),
            (-expected, "the sign is flipped: compute f(x + h) - f(x - h), in that order."),
        ], name=shown, rtol=1e-7)
        expect_array(got, expected, name=shown, rtol=1e-7, atol=1e-9)

    # The step must be the h the caller passes: with h = 0.01 the central difference of x**3 is 3x**2 + h**2.
    x = np.array([0.5, -1.0])
    shown = "numerical_gradient(f, x, h=0.01) for f(x) = sum(x**3)"
    got = call(fn, lambda v: np.sum(v ** 3), x, 0.01, name="numerical_gradient")
    expected = 3 * x ** 2 + 0.01 ** 2
    if got is not None and close(got, 3 * x ** 2, rtol=1e-8) and not close(got, expected, rtol=1e-8):
        raise CheckFailed(f"{shown} ignores its h argument: with h = 0.01 the central difference of "
                          "x**3 is exactly 3x**2 + h**2. Use the h you were given.")
    expect_array(got, expected, name=shown, rtol=1e-9)


# --------------------------------------------------------------------------- 2.2
def _posterior(prior: Any, sensitivity: float, specificity: float) -> Any:
    true_positive = sensitivity * prior
    false_positive = (1 - specificity) * (1 - prior)
    return true_positive / (true_positive + false_positive)


@exercise(
    "2.2",
    "Bayes' theorem for a screening test",
    hints=[
        "Bayes' theorem: P(D | +) = P(+ | D) P(D) / P(+). The sensitivity is P(+ | D), the prior is P(D). "
        "What remains is P(+), the probability of a positive test whoever takes it.",
        "A positive test comes either from a sick person or from a healthy one, and P(+) is the "
        "sum of the two probabilities. The first is the sensitivity times the prior; for the "
        "second, a healthy person tests positive with probability 1 - specificity.",
        "Nearly there: the answer is P(+ and sick) divided by P(+). Write it with plain "
        "arithmetic (no if, no loop) and it works for a NumPy array of priors too. The common "
        "slip: using the specificity itself, not 1 - specificity, for the healthy people's false "
        "positives.",
    ],
)
def _check_posterior(fn: Callable) -> None:
    cases = [(0.01, 0.95, 0.90), (0.5, 0.8, 0.7), (0.001, 0.99, 0.99), (0.2, 0.6, 0.95)]
    cases += [(float(np.round(_FRESH.uniform(0.001, 0.6), 4)), float(np.round(_FRESH.uniform(0.5, 0.999), 3)),
               float(np.round(_FRESH.uniform(0.5, 0.999), 3))) for _ in range(2)]
    for prior, sens, spec in cases:
        shown = f"posterior(prior={prior}, sensitivity={sens}, specificity={spec})"
        got = call(fn, prior, sens, spec, name="posterior")
        expected = _posterior(prior, sens, spec)
        diagnose(got, expected, [
            (sens, "that is the sensitivity P(+ | D). Bayes' theorem turns it around into P(D | +), "
                   "which also depends on the prior."),
            (sens * prior / (sens * prior + spec * (1 - prior)),
             "the specificity is P(- | healthy), so healthy people test positive with probability "
             "1 - specificity."),
            (sens * prior, "that is P(sick and positive). Divide it by P(positive)."),
            (sens * prior + (1 - spec) * (1 - prior), "that is P(positive), the denominator of Bayes' theorem."),
            (sens * prior / (sens * prior + (1 - spec)),
             "the false positives must be weighted by the share of healthy people, (1 - specificity) * (1 - prior)."),
            (1 - expected, "that is P(healthy | positive), one minus the answer."),
        ], name=shown)
        expect_scalar(got, expected, name=shown)

    priors = np.concatenate([[0.001, 0.01, 0.1, 0.5], np.round(_FRESH.uniform(0.0, 1.0, 3), 3)])
    sens, spec = float(np.round(_FRESH.uniform(0.6, 0.99), 2)), float(np.round(_FRESH.uniform(0.6, 0.99), 2))
    shown = f"posterior(prior=np.array({priors.tolist()}), sensitivity={sens}, specificity={spec})"
    got = call(fn, priors, sens, spec, name="posterior")
    expect_array(got, _posterior(priors, sens, spec), name=shown)


# --------------------------------------------------------------------------- 2.3
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_OVERFLOW = ("contains NaN or infinity: exp overflowed (exp(1000) is infinite) or a row underflowed to "
             "0/0. Subtract the largest logit first: softmax does not change when a constant is "
             "subtracted from every logit.")


def _softmax_result(fn: Callable, z: np.ndarray, shown: str) -> np.ndarray:
    try:
        got = _quiet_call(fn, z, name="softmax")
    except CheckFailed as failure:
        if "broadcast" in str(failure):
            raise CheckFailed(
                f"{failure} A row maximum computed with z.max(axis=-1) has shape (N,), which does not "
                "line up with z of shape (N, K): add keepdims=True to keep it as a column (N, 1)."
            ) from None
        raise
    if got is None:
        raise CheckFailed(f"{shown} returned None: did you forget a `return`?")
    arr = np.asarray(got)
    if arr.shape == z.shape and np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise CheckFailed(f"{shown} {_OVERFLOW}")
    return arr


@exercise(
    "2.3",
    "A numerically stable softmax",
    hints=[
        "softmax(z)_k = exp(z_k) / sum_j exp(z_j), along the last axis. As written, exp(1000) overflows. "
        "Subtracting the same number from every logit of a row leaves the result unchanged: which number "
        "makes every exponent <= 0?",
        "Subtract each row's own maximum, m = z.max(axis=-1, keepdims=True): keepdims keeps m as a column "
        "(N, 1) that broadcasts against z (N, K), and the same code then works for a single vector (K,). "
        "The maximum of the whole array is not enough: a row far below it underflows to 0 / 0.",
        "Skeleton: `shifted = z - ...  # each row's max, as a column`; `e = np.exp(shifted)`; "
        "`return e / ...  # each row's sum, kept as a column`. Use axis=-1 both times, so that "
        "one vector (K,) and a batch (N, K) take the same code.",
    ],
)
def _check_softmax(fn: Callable) -> None:
    z = np.array([1.0, 2.0, 3.0])
    shown = "softmax(np.array([1.0, 2.0, 3.0]))"
    got = _softmax_result(fn, z, shown)
    diagnose(got, _softmax(z), [(np.exp(z), "those are exp(z) without the division by their sum.")], name=shown)
    expect_array(got, _softmax(z), name=shown)

    z = np.array([[0.5, -1.0, 2.0, 0.0], [3.0, 3.0, -2.0, 1.0], [-0.3, 0.8, 0.1, -1.5]])
    shown = "softmax of a batch z of shape (3, 4)"
    got = _softmax_result(fn, z, shown)
    wrong_axis = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)
    diagnose(got, _softmax(z), [
        (wrong_axis, "each column sums to 1 instead of each row: normalise along the last axis, "
                     "sum(axis=-1, keepdims=True), one probability distribution per example."),
        (np.exp(z) / np.exp(z).sum(), "the whole batch sums to 1: normalise each row (example) separately, "
                                      "sum(axis=-1, keepdims=True)."),
    ], name=shown)
    expect_array(got, _softmax(z), name=shown)

    n, k = 2 * int(_FRESH.integers(1, 4)) + 1, int(_FRESH.integers(2, 6))
    z = _FRESH.normal(0.0, 3.0, size=(n, k))
    shown = f"softmax of a random batch z of shape {z.shape}"
    expect_array(_softmax_result(fn, z, shown), _softmax(z), name=shown)

    z = np.array([1000.0, 1001.0, 1002.0])
    shown = "softmax(np.array([1000.0, 1001.0, 1002.0]))"
    expect_array(_softmax_result(fn, z, shown), _softmax(z), name=shown)

    z = np.array([[0.0, 1.0, 2.0], [1000.0, 999.0, 0.0], [-1000.0, -1001.0, -999.0]])
    shown = "softmax of rows with very different scales, [[0, 1, 2], [1000, 999, 0], [-1000, -1001, -999]]"
    try:
        got = _softmax_result(fn, z, shown)
    except CheckFailed as failure:
        if "NaN or infinity" in str(failure):
            raise CheckFailed(
                f"{shown} contains NaN: a row far below the largest logit of the whole array underflows "
                "to 0 / 0. Subtract each row's own maximum, z.max(axis=-1, keepdims=True), not z.max()."
            ) from None
        raise
    expect_array(got, _softmax(z), name=shown, atol=1e-12)


# --------------------------------------------------------------------------- 2.4
def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))[..., 0]


def _cross_entropy(z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(_logsumexp(z) - z[np.arange(len(y)), y]))


@exercise(
    "2.4",
    "Cross-entropy from logits",
    hints=[
        "For one example, -log softmax(z)_y = log(sum_j exp(z_j)) - z_y: the log-sum-exp of the logits "
        "minus the logit of the correct class. Never compute the probability first: it can underflow to 0, "
        "and -log(0) is infinite.",
        "Compute each row's log-sum-exp with the max shift of exercise 2.3: with m the row's "
        "maximum, log(sum_j exp(z_j)) = m + log(sum_j exp(z_j - m)). Pick each row's correct "
        "logit with fancy indexing, z[np.arange(N), y] (z[:, y] would give an (N, N) array). Then "
        "average over the N examples.",
        "Skeleton: `m = z.max(axis=1, keepdims=True)`; `lse = m[:, 0] + np.log(...)  # sum of "
        "exp(z - m) along the classes`; `correct = ...` (hint 2); return the mean of lse - "
        "correct as a float. Watch the shapes: lse must be (N,), not (N, 1), or lse - correct "
        "broadcasts to (N, N).",
    ],
)
def _check_cross_entropy(fn: Callable) -> None:
    z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [-1.0, 0.0, 3.0], [1.0, 1.0, 1.0]])  # (4, 3)
    y = np.array([0, 2, 2, 1])
    shown = "cross_entropy(z, y) for z of shape (4, 3), y = [0, 2, 2, 1]"
    got = _quiet_call(fn, z, y, name="cross_entropy")
    expected = _cross_entropy(z, y)
    per_example = _logsumexp(z) - z[np.arange(4), y]
    if isinstance(got, np.ndarray) and got.shape == (4,):
        raise CheckFailed(f"{shown} returned one loss per example, shape (4,): the exercise asks for their "
                          "mean, a single number.")
    diagnose(got, expected, [
        (per_example.sum(), "that is the sum over the 4 examples; the loss is their mean."),
        (-expected, "the sign is flipped: the loss is -log p_y = LSE(z) - z_y, a positive number."),
        (float(np.mean(_logsumexp(z) - z[:, y])),
         "z[:, y] picks the columns y for every row, an (N, N) array. Use z[np.arange(N), y] to take "
         "row n's entry y[n]."),
        (float(np.mean(_logsumexp(z) - z[:, 0])), "that always uses the logit of class 0: index with the labels y."),
        (float(np.mean(-z[np.arange(4), y])), "the log-sum-exp term is missing: -log p_y = LSE(z) - z_y."),
    ], name=shown)
    expect_scalar(got, expected, name=shown)

    for z, y, label in [
        (np.array([[0.0, 0.0]]), np.array([1]), "z = [[0, 0]], y = [1] (a coin flip: log 2)"),
        (np.array([[1000.0, 0.0, -1000.0], [50.0, 60.0, 55.0]]), np.array([2, 1]),
         "z = [[1000, 0, -1000], [50, 60, 55]], y = [2, 1]"),
        *_fresh_logits(),
    ]:
        shown = f"cross_entropy for {label}"
        got = _quiet_call(fn, z, y, name="cross_entropy")
        try:
            value = float(got)
        except (TypeError, ValueError):
            value = None
        if value is not None and not np.isfinite(value):
            raise CheckFailed(
                f"{shown} is {value}: a probability underflowed to 0 (softmax gives exp(-2000) = 0) or exp "
                "overflowed. Compute LSE(z) - z_y with the max shift instead of -log(softmax(z)[y])."
            )
        expect_scalar(got, _cross_entropy(z, y), name=shown)


def _fresh_logits() -> list[tuple[np.ndarray, np.ndarray, str]]:
    n, k = 2 * int(_FRESH.integers(2, 5)) + 1, int(_FRESH.integers(3, 7))
    z = _FRESH.normal(0.0, 4.0, size=(n, k))
    y = _FRESH.integers(0, k, size=n)
    return [(z, y, f"a random batch z of shape {z.shape}")]


# --------------------------------------------------------------------------- 2.5
def _f_parts(x: float, y: float) -> dict[str, float]:
    u = x * x * y
    return {"u": u, "sin": math.sin(u), "cos": math.cos(u), "w": math.exp(-x)}


def _grad_f(x: float, y: float) -> tuple[float, float]:
    p = _f_parts(x, y)
    return p["cos"] * 2 * x * y * p["w"] - p["sin"] * p["w"], p["cos"] * x * x * p["w"]


@exercise(
    "2.5",
    "The chain rule on a composite function",
    hints=[
        "Draw the graph: u = x**2 * y, v = sin(u), w = exp(-x), f = v * w. Then x reaches f along two "
        "routes (through u and through w), and y along one.",
        "Local derivatives: df/dv = w, df/dw = v, dv/du = cos(u), du/dx = 2xy, du/dy = x**2, "
        "dw/dx = -exp(-x). Multiply along each route and add the routes.",
        "Forward first: u, v = sin(u), w = exp(-x), all with math. Backward: df/du = w * cos(u). "
        "dfdx adds two routes: df/du * du/dx plus df/dw * dw/dx (mind the minus sign in dw/dx); "
        "dfdy has only the route through u. Return (dfdx, dfdy).",
    ],
)
def _check_grad_f(fn: Callable) -> None:
    points = [(0.7, 1.3), (-1.2, 0.4), (2.0, -0.8), (0.3, 2.5)]
    points += [tuple(float(v) for v in np.round(_FRESH.uniform(-2.0, 2.0, 2), 3)) for _ in range(2)]
    for x, y in points:
        shown = f"grad_f({x}, {y})"
        dfdx, dfdy = _pair(call(fn, x, y, name="grad_f"), shown, "dfdx, dfdy")
        exp_dx, exp_dy = _grad_f(x, y)
        p = _f_parts(x, y)
        if close(dfdx, exp_dy) and close(dfdy, exp_dx) and not close(exp_dx, exp_dy):
            raise CheckFailed(f"{shown}: the two partial derivatives are swapped; return dfdx first, then dfdy.")
        diagnose(dfdx, exp_dx, [
            (p["cos"] * 2 * x * y * p["w"], "only the route through u = x**2 y is there. x also reaches f "
                                            "through w = exp(-x): add -sin(u) * exp(-x) (product rule)."),
            (-p["sin"] * p["w"], "only the route through w = exp(-x) is there: add cos(u) * 2xy * exp(-x)."),
            (p["cos"] * p["w"] - p["sin"] * p["w"], "the inner derivative du/dx = 2xy is missing from the "
                                                    "route through u."),
            (p["cos"] * 2 * x * p["w"] - p["sin"] * p["w"], "du/dx is 2xy, not 2x: y stays in as a factor."),
            (p["cos"] * 2 * x * y * p["w"] + p["sin"] * p["w"], "d/dx exp(-x) is -exp(-x): the second term "
                                                                "needs a minus sign."),
        ], name=f"dfdx from {shown}")
        expect_scalar(dfdx, exp_dx, name=f"dfdx from {shown}")
        diagnose(dfdy, exp_dy, [
            (p["cos"] * p["w"], "the inner derivative du/dy = x**2 is missing."),
            (p["cos"] * x * x, "the factor w = exp(-x) is missing: df/dv = w."),
            (p["cos"] * 2 * x * y * p["w"], "that is the route through u for x; for y, du/dy = x**2."),
        ], name=f"dfdy from {shown}")
        expect_scalar(dfdy, exp_dy, name=f"dfdy from {shown}")


# --------------------------------------------------------------------------- 2.6
def _value_case(cls: Any, build: Callable, inputs: Sequence[float]) -> tuple[Any, list[float]]:
    leaves = [cls(v) for v in inputs]
    out = build(*leaves)
    if not hasattr(out, "backward") or not hasattr(out, "data"):
        raise TypeError(f"the result is a {type(out).__name__}, not a Value")
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def _run_value(cls: Any, build: Callable, inputs: Sequence[float], op: str, shown: str) -> tuple[float, list[float]]:
    try:
        return call(lambda *v: _value_case(cls, build, v), *inputs, name=f"Value.{op}")
    except CheckFailed as failure:
        text = str(failure)
        if "not a Value" in text or "has no attribute 'backward'" in text or "has no attribute 'data'" in text:
            raise CheckFailed(
                f"{shown}: Value.{op} must return a new Value, `out = Value(result, (self,), '{op}')`, "
                "so that the graph continues; it returned something else."
            ) from None
        raise


@exercise(
    "2.6",
    "Two new operations for Value: tanh and log",
    kind="transfer",
    hints=[
        "Follow the pattern of Value.exp: compute the number, wrap it in a new Value whose parents are "
        "(self,), define a _backward that adds the local derivative times out.grad to self.grad, attach it "
        "to out, and return out.",
        "The local derivatives: d tanh(a)/da = 1 - tanh(a)**2, which you can write with the output t = "
        "out.data; d log(a)/da = 1 / a. Always `self.grad += ... * out.grad`: += because a Value may be "
        "used more than once, and * out.grad because of the chain rule.",
        "Skeleton for tanh: `t = math.tanh(self.data)`; out = a new Value holding t, parents "
        "(self,), op 'tanh'; a nested _backward whose one line adds (local derivative) * out.grad "
        "to self.grad; attach it as out._backward; return out. log has the same shape. The common "
        "slip: forgetting to attach _backward.",
    ],
)
def _check_value(cls: Any) -> None:
    if not isinstance(cls, type):
        raise CheckFailed(f"pass the class itself, check('2.6', Value); got a {type(cls).__name__}.")
    for op in ("tanh", "log"):
        if not callable(getattr(cls, op, None)):
            raise CheckFailed(f"Value has no method {op}: define `def {op}(self):` inside the class.")

    # tanh alone, at a point drawn afresh
    a = float(np.round(_FRESH.uniform(0.2, 1.5) * _FRESH.choice([-1.0, 1.0]), 3))
    t = math.tanh(a)
    shown = f"x = Value({a}); out = x.tanh(); out.backward()"
    data, (grad,) = _run_value(cls, lambda x: x.tanh(), [a], "tanh", shown)
    expect_scalar(data, t, name=f"out.data after {shown}")
    if grad == 0.0:
        raise CheckFailed(
            f"x.grad is 0 after {shown}: the gradient never reached x. Attach the backward function "
            "to the new Value, `out._backward = _backward`."
        )
    diagnose(grad, 1 - t ** 2, [
        (1 - t, "the derivative of tanh is 1 - tanh(a)**2: square it."),
        (1 - a ** 2, "the derivative is 1 - tanh(a)**2, with the tanh of the input, not 1 - a**2."),
        (t, "that is tanh(a) itself; its derivative is 1 - tanh(a)**2."),
        (1 + t ** 2, "the derivative of tanh is 1 - tanh(a)**2, with a minus sign."),
    ], name=f"x.grad after {shown}")
    expect_scalar(grad, 1 - t ** 2, name=f"x.grad after {shown}")

    _check_parents(cls, "tanh", 0.25, lambda v: 2 * (1 - math.tanh(2 * v) ** 2))

    # tanh inside a graph: an upstream gradient, and x used twice
    a = -0.4
    t = math.tanh(a)
    shown = "x = Value(-0.4); out = x.tanh() * 3; out.backward()"
    _, (grad,) = _run_value(cls, lambda x: x.tanh() * 3.0, [a], "tanh", shown)
    diagnose(grad, 3 * (1 - t ** 2), [
        (1 - t ** 2, "the gradient ignores what comes after tanh: multiply the local derivative by "
                     "out.grad (the chain rule)."),
    ], name=f"x.grad after {shown}")
    expect_scalar(grad, 3 * (1 - t ** 2), name=f"x.grad after {shown}")

    a = 0.3
    t = math.tanh(a)
    shown = "x = Value(0.3); out = x.tanh() * x; out.backward()"
    _, (grad,) = _run_value(cls, lambda x: x.tanh() * x, [a], "tanh", shown)
    diagnose(grad, t + a * (1 - t ** 2), [
        (a * (1 - t ** 2), "x is used twice, but only the route through tanh arrived: the backward "
                           "function must add to self.grad (`+=`), not overwrite it (`=`)."),
    ], name=f"x.grad after {shown}")
    expect_scalar(grad, t + a * (1 - t ** 2), name=f"x.grad after {shown}")

    # log
    a = 2.5
    shown = "x = Value(2.5); out = x.log(); out.backward()"
    data, (grad,) = _run_value(cls, lambda x: x.log(), [a], "log", shown)
    diagnose(data, math.log(a), [(math.log10(a), "use the natural logarithm, math.log, not log10.")], name=f"out.data after {shown}")
    expect_scalar(data, math.log(a), name=f"out.data after {shown}")
    if grad == 0.0:
        raise CheckFailed(
            f"x.grad is 0 after {shown}: the gradient never reached x. Attach the backward function "
            "to the new Value, `out._backward = _backward`."
        )
    diagnose(grad, 1 / a, [
        (math.log(a), "that is log(a) itself; its derivative is 1 / a."),
        (-1 / a ** 2, "that is the derivative of 1 / a; the derivative of log(a) is 1 / a."),
        (1 / math.log(a), "the derivative of log(a) is 1 / a, the reciprocal of the input, not of the output."),
        (a, "the derivative of log(a) is 1 / a: divide by the input instead of multiplying."),
    ], name=f"x.grad after {shown}")
    expect_scalar(grad, 1 / a, name=f"x.grad after {shown}")

    _check_parents(cls, "log", 1.2, lambda v: 1 / v)

    a = 1.7
    shown = "x = Value(1.7); out = x.log() * x; out.backward()"
    _, (grad,) = _run_value(cls, lambda x: x.log() * x, [a], "log", shown)
    diagnose(grad, math.log(a) + 1, [
        (1.0, "x is used twice, but only the route through log arrived: the backward function must "
              "add to self.grad (`+=`), not overwrite it (`=`)."),
    ], name=f"x.grad after {shown}")
    expect_scalar(grad, math.log(a) + 1, name=f"x.grad after {shown}")

    a, b = 1.5, 0.8
    shown = "x, y = Value(1.5), Value(0.8); out = (x * y).log() * 2 + (x + y).tanh(); out.backward()"
    t = math.tanh(a + b)
    _, grads = _run_value(cls, lambda x, y: (x * y).log() * 2.0 + (x + y).tanh(), [a, b], "log", shown)
    expected = [2 / a + (1 - t ** 2), 2 / b + (1 - t ** 2)]
    diagnose(grads, expected, [
        ([1 / a + (1 - t ** 2), 1 / b + (1 - t ** 2)], "the log's gradient ignores out.grad: multiply by it."),
    ], name=f"[x.grad, y.grad] after {shown}")
    expect_array(np.array(grads, dtype=float), np.array(expected), name=f"[x.grad, y.grad] after {shown}")


def _check_parents(cls: Any, op: str, a: float, derivative: Callable[[float], float]) -> None:
    """The operation applied to an intermediate node: the gradient must flow on through it."""
    shown = f"x = Value({a}); out = (x * 2).{op}(); out.backward()"
    _, (grad,) = _run_value(cls, lambda x: getattr(x * 2.0, op)(), [a], op, shown)
    if grad == 0.0:
        raise CheckFailed(
            f"x.grad is 0 after {shown}: the gradient stopped at the node x * 2, so it never reached x. "
            f"backward() only visits the parents it is told about: create the result as "
            f"`Value(..., (self,), '{op}')`."
        )
    expect_scalar(grad, derivative(a), name=f"x.grad after {shown}")


# --------------------------------------------------------------------------- 2.7
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


_TRUE_DERIVATIVES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "softplus": _sigmoid,
    "swish": lambda x: _sigmoid(x) + x * _sigmoid(x) * (1 - _sigmoid(x)),
    "log_cosh": np.tanh,
    "gaussian": lambda x: -x * np.exp(-x ** 2 / 2),
}
#: The bug planted in the exercise: the product rule's x dropped from swish's derivative.
_PLANTED = {"swish": lambda x: _sigmoid(x) + _sigmoid(x) * (1 - _sigmoid(x))}


@exercise(
    "2.7",
    "Find the wrong derivative",
    kind="debug",
    hints=[
        "Check each of the four derivatives with check_gradient, as in the example cell, but at several "
        "points, e.g. x = np.linspace(-2, 2, 9): a wrong derivative can agree with the right one at a "
        "single point by coincidence (try x = 1 and see).",
        "For an element-wise function f, the gradient of np.sum(f(x)) is exactly the vector of derivatives "
        "f'(x_i), so check_gradient(lambda v: np.sum(f(v)), x, df(x)) checks df at every entry of x. One of "
        "the four fails; its worst_index shows where. Then differentiate that function again by hand.",
        "swish(x) = x * sigmoid(x) is a product: differentiate it with the product rule, (uv)' = "
        "u'v + uv', and compare term by term with the given swish derivative: one factor went "
        "missing. Return {**DERIVATIVES, 'swish': your_fixed_function}.",
    ],
)
def _check_repaired(fn: Callable) -> None:
    got = call(fn, name="repaired_derivatives")
    if got is None:
        raise CheckFailed("repaired_derivatives() returned None: did you forget to return the dictionary?")
    if not isinstance(got, dict):
        raise CheckFailed(
            f"repaired_derivatives() should return a dict name -> derivative function, like DERIVATIVES; "
            f"it returned a {type(got).__name__}."
        )
    if set(got) != set(_TRUE_DERIVATIVES):
        raise CheckFailed(
            f"the dictionary should have the keys {sorted(_TRUE_DERIVATIVES)}, got {sorted(map(str, got))}: "
            "start from DERIVATIVES and replace only the wrong entry."
        )
    x = np.linspace(-3.0, 3.0, 13) + 0.05           # avoid the coincidence points
    still_planted = []
    for name, reference in _TRUE_DERIVATIVES.items():
        derivative = got[name]
        values = _quiet_call(derivative, x.copy(), name=f"the derivative of {name}")
        expected = reference(x)
        if close(values, expected):
            continue
        if name in _PLANTED and close(values, _PLANTED[name](x)):
            still_planted.append(name)
            continue
        if name in _PLANTED:
            diagnose(values, expected, [
                (x * _sigmoid(x) * (1 - _sigmoid(x)),
                 "only the second term of the product rule is there: d/dx [x * sigmoid(x)] = "
                 "sigmoid(x) + x * sigmoid'(x)."),
            ], name=f"your derivative of {name} on x = np.linspace(-3, 3, 13) + 0.05")
        if name not in _PLANTED:
            raise CheckFailed(
                f"the derivative of {name} is now wrong, but the one you were given for {name} was right: "
                "change only the derivative that fails check_gradient."
            )
        expect_array(values, expected, name=f"your derivative of {name} on x = np.linspace(-3, 3, 13) + 0.05")
    if still_planted:
        raise CheckFailed(
            "the planted bug is still there: one of the derivatives in your dictionary still fails the "
            "gradient check. Run check_gradient on each of the four, at several points (not only at x = 1)."
        )


# --------------------------------------------------------------------------- 2.8
def _spd(d: int) -> np.ndarray:
    """A random symmetric positive definite matrix with off-diagonal coupling, well conditioned."""
    q, _ = np.linalg.qr(_FRESH.normal(size=(d, d)))
    return q @ np.diag(_FRESH.uniform(0.5, 4.0, d)) @ q.T


def _newton_cases() -> list[tuple[str, Callable, Callable, np.ndarray]]:
    d = int(_FRESH.integers(9, 13))         # over 8 entries: messages name the bug without quoting arrays
    A, c = _spd(d), _FRESH.normal(0.0, 2.0, d)
    d2 = 2 * int(_FRESH.integers(1, 3)) + 1
    B, a = _spd(d2), np.round(_FRESH.uniform(0.3, 1.2, d2), 2)
    return [
        (f"f(x) = x @ A @ x / 2 - c @ x with a random {d}x{d} A (a quadratic: one step lands on the minimum)",
         lambda x: A @ x - c, lambda x: A.copy(), _FRESH.normal(0.0, 3.0, d)),
        (f"f(x) = sum(exp(a * x)) + x @ B @ x / 2 in {d2} dimensions",
         lambda x: a * np.exp(a * x) + B @ x, lambda x: np.diag(a ** 2 * np.exp(a * x)) + B,
         _FRESH.normal(0.0, 1.0, d2)),
        ("f(x) = x**4 / 4 + x**2 in one dimension (x of shape (1,), the Hessian (1, 1))",
         lambda x: x ** 3 + 2 * x, lambda x: np.array([[3 * x[0] ** 2 + 2.0]]),
         np.array([float(np.round(_FRESH.uniform(0.5, 2.5), 3))])),
    ]


@exercise(
    "2.8",
    "One Newton step",
    kind="transfer",
    hints=[
        "Replace f near x by its second-order Taylor model, m(p) = f(x) + g @ p + p @ H @ p / 2, "
        "with g the gradient and H the Hessian at x. The Newton step p is where the model is lowest: "
        "set the gradient of m with respect to p to zero.",
        "The gradient of the model is g + H p, so the step solves the linear system H p = -g. "
        "Solve it with np.linalg.solve (better than forming the inverse), using the full matrix H: "
        "its off-diagonal entries couple the coordinates.",
        "Skeleton: `g = grad(x)`; `H = hess(x)`; `p = ...  # solve H p = -g`; return x + p as a new "
        "array (never `x += ...`, the caller's x must stay as it was).",
    ],
)
def _check_newton_step(fn: Callable) -> None:
    for label, grad, hess, x in _newton_cases():
        shown = f"newton_step(grad, hess, x) for {label}"
        got = _quiet_call(fn, grad, hess, x, name="newton_step")
        g, H = grad(x), hess(x)
        step = np.linalg.solve(H, g)
        expected = x - step
        diagnose(got, expected, [
            (x + step, "that step goes uphill: the Newton step solves H p = -g, so the new point is x minus "
                       "H^-1 g."),
            (x - H @ g, "that multiplies the gradient by the Hessian; Newton divides by it: solve H p = -g "
                        "(np.linalg.solve)."),
            (x - g, "that is a plain gradient step with learning rate 1. Newton scales the gradient by the "
                    "inverse Hessian."),
            (x - g / np.diag(H), "that divides by the diagonal of H only; the off-diagonal entries couple "
                                 "the coordinates. Solve the full system H p = -g."),
            (-step, "that is the step alone; return the new point, x plus the step."),
            (step, "that is H^-1 g, the step with its sign flipped and without x: return x - H^-1 g."),
        ], name=shown)
        expect_array(got, expected, name=shown, rtol=1e-7, atol=1e-10)


# --------------------------------------------------------------------------- 2.9
def _softmax_backward(z: np.ndarray, g: np.ndarray) -> np.ndarray:
    s = _softmax(z)
    return s * (g - np.sum(g * s, axis=-1, keepdims=True))


def _softmax_backward_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    k = int(_FRESH.integers(3, 7))
    n = 2 * int(_FRESH.integers(2, 4)) + 1          # n * k > 8: messages name the bug without quoting arrays
    m = int(_FRESH.integers(3, 6))
    big = _FRESH.normal(0.0, 2.0, (2, m)) + np.array([[1000.0], [-1000.0]])
    onehot = np.zeros((n, k))
    onehot[np.arange(n), _FRESH.integers(0, k, n)] = 1.0
    return [
        (f"a batch z of shape ({n}, {k})", _FRESH.normal(0.0, 2.0, (n, k)), _FRESH.normal(0.0, 1.0, (n, k))),
        (f"one vector z of shape ({k},)", _FRESH.normal(0.0, 2.0, k), _FRESH.normal(0.0, 1.0, k)),
        (f"a square batch z of shape ({m}, {m})", _FRESH.normal(0.0, 2.0, (m, m)), _FRESH.normal(0.0, 1.0, (m, m))),
        (f"a batch of shape ({n}, {k}) whose upstream gradient is the same number in each row "
         "(the answer is then exactly zero: softmax ignores a shift)",
         _FRESH.normal(0.0, 2.0, (n, k)), np.repeat(_FRESH.normal(0.0, 1.0, (n, 1)), k, axis=1)),
        (f"a batch of shape ({n}, {k}) with a one-hot upstream gradient", _FRESH.normal(0.0, 2.0, (n, k)), onehot),
        (f"logits near +1000 and -1000, shape (2, {m})", big, _FRESH.normal(0.0, 1.0, (2, m))),
    ]


@exercise(
    "2.9",
    "Backward through softmax",
    kind="transfer",
    hints=[
        "Work with one row first. Write down the Jacobian of s = softmax(z), ds_i/dz_j, in two "
        "cases, i = j and i != j (quotient rule on exp(z_i) / sum_k exp(z_k)), and express both with "
        "s only. Then the answer is the vector-Jacobian product of the chapter: J transposed times g.",
        "The Jacobian is diag(s) - s s^T (symmetric). Multiplying it by g needs no matrix: diag(s) g is "
        "s * g element-wise, and s s^T g is s times one number per row, the dot product of g with s.",
        "Skeleton: `s = softmax(z)`; `dot = ...  # sum of g * s along the last axis, keepdims=True`; "
        "return s times (g minus dot). keepdims keeps dot as a column (N, 1), so one vector (K,) "
        "and a batch (N, K) take the same code.",
    ],
)
def _check_softmax_backward(fn: Callable) -> None:
    for label, z, g in _softmax_backward_cases():
        shown = f"softmax_backward(z, grad_s) for {label}"
        try:
            got = _quiet_call(fn, z, g, name="softmax_backward")
        except CheckFailed as failure:
            text = str(failure)
            if "broadcast" in text:
                raised = text[text.index(" raised ") + 1:] if " raised " in text else text
                raised = raised.split(". ")[0].split(" (line")[0]
                raise CheckFailed(
                    f"{shown} {raised}. A sum over the classes has shape (N,) unless you keep the axis: "
                    "add keepdims=True so that it lines up with grad_s of shape (N, K)."
                ) from None
            raise
        expected = _softmax_backward(z, g)
        arr = np.asarray(got) if got is not None else None
        if (arr is not None and arr.shape == z.shape and np.issubdtype(arr.dtype, np.floating)
                and not np.all(np.isfinite(arr))):
            raise CheckFailed(f"{shown} contains NaN or infinity: compute the softmax with each row's "
                              "maximum subtracted first (exercise 2.3).")
        s = _softmax(z)
        with np.errstate(all="ignore"):
            bugs = [
                (g * s * (1 - s), "that keeps only the diagonal of the Jacobian, ds_i/dz_i = s_i (1 - s_i). "
                                  "Each s_i depends on every z_j: the off-diagonal terms -s_i s_j add up too."),
                (s * g, "the term from the shared denominator is missing: changing z_j changes every s_i "
                        "through the sum in the denominator."),
                (s * (g - np.sum(g * s)), "that sums over the whole batch; each row is its own softmax, so "
                                          "sum along the last axis, one number per row."),
                (s * (g - np.sum(g, axis=-1, keepdims=True)), "the sum must weight each g_j by s_j: the "
                                                              "off-diagonal Jacobian entries are -s_i s_j."),
                (s * (np.sum(g * s, axis=-1, keepdims=True) - g), "the sign is flipped."),
                (g - np.sum(g * s, axis=-1, keepdims=True), "the overall factor s_i is missing: every "
                                                            "Jacobian entry of row i has s_i in it."),
            ]
            if z.ndim == 2:
                bugs.append((s * (g - np.sum(g * s, axis=0, keepdims=True)),
                             "that sums down the columns (axis 0), across examples; sum along the classes, "
                             "axis=-1."))
                if z.shape[0] == z.shape[1]:
                    bugs.append((s * (g - np.sum(g * s, axis=-1)),
                                 "the row sums, shape (N,), were broadcast along the wrong axis (a square "
                                 "batch does not raise an error): keep them as a column with keepdims=True."))
        diagnose(got, expected, bugs, name=shown)
        expect_array(got, expected, name=shown, rtol=1e-6, atol=1e-10)
