"""Graders for chapter 3, neural networks from scratch (exercises 3.1-3.6).

Vocabulary, as in the chapter: a dense layer computes ``Z = A @ W + b`` with ``A`` of
shape ``(N, n_in)``, ``W`` of shape ``(n_in, n_out)`` and ``b`` of shape ``(n_out,)``;
``G = dL/dZ`` has the shape of ``Z``; the backward pass returns ``dA = G @ W.T``,
``dW = A.T @ G`` and ``db = G.sum(axis=0)``. Losses are means over the batch, so the
``1/N`` lives in the gradient of the loss with respect to the logits, and nowhere else.

Every grader compares the learner's answer with a private reference computed here, on
fixed inputs; the moons grader trains nothing itself, it calls the learner's training
function once and scores the returned ``predict`` on a fixed test set.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from .core import CheckFailed, _short, call, close, diagnose, exercise, expect_array, expect_scalar

#: Exercise 3.5: the test accuracy the trained classifier must reach.
TARGET_ACCURACY = 0.95


# --------------------------------------------------------------------------- shared helpers


def _tuple(got: Any, label: str, names: str) -> tuple[Any, ...]:
    count = len(names.split(", "))
    if got is None:
        raise CheckFailed(f"{label} returned None: did you forget `return {names}`?")
    if not isinstance(got, (tuple, list)) or len(got) != count:
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailed(f"{label} should return {count} things, `return {names}`; "
                          f"it returned a {type(got).__name__}{size}.")
    return tuple(got)


def _quiet_call(fn: Callable, *args: Any, name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(all="ignore"):
            return call(fn, *args, name=name)


# --------------------------------------------------------------------------- 3.1
@exercise(
    "3.1",
    "Dense layer forward",
    hints=[
        "Each row of A is one example and each column of W holds the weights of one neuron, so the "
        "pre-activation of neuron j for example n is the dot product of row n of A with column j of W, plus b[j].",
        "A matrix product computes all those dot products at once: A @ W has shape (N, n_out). Broadcasting "
        "then adds b, shape (n_out,), to every row. Keep the result two-dimensional, even when n_out is 1.",
        "Nearly there: no loop over examples or neurons is needed, just one matrix product and "
        "one addition. Check the shapes: A (N, n_in) times W (n_in, n_out) gives (N, n_out), and "
        "b (n_out,) lines up with the last axis. Do not reshape b to (N, 1) or transpose W.",
    ],
)
def _check_dense_forward(fn: Callable) -> None:
    rng = np.random.default_rng(31)
    cases = [
        ("A (4, 3), W (3, 2), b (2,)", rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), np.array([0.5, -1.0])),
        ("A (1, 3), a single example", rng.normal(size=(1, 3)), rng.normal(size=(3, 5)), rng.normal(size=5)),
        ("A (6, 4), W (4, 1): one output neuron", rng.normal(size=(6, 4)), rng.normal(size=(4, 1)), np.array([2.0])),
    ]
    for label, A, W, b in cases:
        shown = f"dense_forward for {label}"
        try:
            got = call(fn, A, W, b, name="dense_forward")
        except CheckFailed as failure:
            if "mismatch in its core dimension" in str(failure) or "not aligned" in str(failure):
                raise CheckFailed(
                    f"{failure} The shape rule: (N, n_in) @ (n_in, n_out) -> (N, n_out), so the product is "
                    "A @ W, in that order, with no transpose."
                ) from None
            raise
        expected = A @ W + b
        if isinstance(got, np.ndarray) and got.ndim == 1 and got.size == expected.size:
            raise CheckFailed(
                f"{shown} has shape {got.shape}, expected {expected.shape}: keep the layer's output two-dimensional, "
                "(N, n_out), even for a single example or a single neuron; do not squeeze away an axis."
            )
        diagnose(got, expected, [(A @ W, "that is A @ W without the bias. Add b.")], name=shown)
        expect_array(got, expected, name=shown)


# --------------------------------------------------------------------------- 3.2
@exercise(
    "3.2",
    "ReLU backward",
    hints=[
        "ReLU is A = max(0, Z), element by element. Its slope is 1 where Z > 0 and 0 elsewhere (at exactly 0 "
        "too, by the convention of the chapter and of every framework). The chain rule multiplies the incoming "
        "gradient dA by that slope.",
        "The slope is decided by the forward pass's input Z, not by the gradient: build the mask (Z > 0) and "
        "multiply. Do not change dA in place (dA[Z <= 0] = 0 would modify the caller's array).",
        "The subtle point: at exactly Z = 0 the slope is 0, so the mask is Z > 0, not Z >= 0. "
        "Multiplying dA by a boolean array treats True as 1 and False as 0 and makes a new array, "
        "leaving dA untouched.",
    ],
)
def _check_relu_backward(fn: Callable) -> None:
    Z = np.array([[1.5, -0.3, 0.0, 2.0], [-1.2, 0.7, -0.01, 0.0], [0.2, -2.5, 3.1, -0.4]])   # (3, 4)
    dA = np.array([[0.4, -1.0, 0.8, -0.6], [2.0, -0.5, 1.5, 0.9], [-0.7, 0.3, -1.1, 0.25]])
    shown = "relu_backward(dA, Z) for (3, 4) arrays"
    got = call(fn, dA, Z, name="relu_backward")
    expected = dA * (Z > 0)
    diagnose(got, expected, [
        (dA * (dA > 0), "the mask was built from the gradient dA. The slope of ReLU depends on the forward "
                        "input Z: use (Z > 0)."),
        (dA * (Z >= 0), "at Z = 0 the slope is taken as 0 (the convention frameworks use): mask with Z > 0, "
                        "not Z >= 0."),
        ((Z > 0).astype(float), "that is the slope of ReLU alone; multiply it by the incoming gradient dA "
                                "(the chain rule)."),
        (np.maximum(Z, 0), "that is ReLU's forward pass, max(0, Z); the backward pass returns dA * (Z > 0)."),
        (np.maximum(dA, 0), "that keeps the positive gradients; keep the gradients where Z is positive instead."),
        (dA, "the gradient passed through unchanged: zero it where Z <= 0."),
    ], name=shown)
    expect_array(got, expected, name=shown)

    Z = np.array([3.0, -3.0, 0.5])
    dA = np.array([-2.0, 4.0, 1.0])
    expect_array(call(fn, dA, Z, name="relu_backward"), dA * (Z > 0), name="relu_backward for 1-D arrays")


# --------------------------------------------------------------------------- 3.3
@exercise(
    "3.3",
    "Dense layer backward",
    hints=[
        "Z = A @ W + b. Given G = dL/dZ of shape (N, n_out), you need three gradients, each with the shape of "
        "the thing it is the gradient of: dA like A (N, n_in), dW like W (n_in, n_out), db like b (n_out,).",
        "Let the shapes choose each formula: dA must be (N, n_in) and can only come from G (N, "
        "n_out) and W (n_in, n_out), so one of them is transposed; dW must be (n_in, n_out) and "
        "comes from A and G. Every example contributes to db: add G up over the batch axis.",
        "Nearly there: `dA = G @ ...`, `dW = ... @ G`, `db = ...  # a sum over axis 0, shape "
        "(n_out,)`. Do not divide by N: G = dL/dZ already contains the 1/N of the mean loss.",
    ],
)
def _check_dense_backward(fn: Callable) -> None:
    rng = np.random.default_rng(33)
    A = rng.normal(size=(5, 3))          # (N, n_in)
    W = rng.normal(size=(3, 4))          # (n_in, n_out)
    G = rng.normal(size=(5, 4)) / 5      # (N, n_out)
    shown = "dense_backward(G, A, W) with G (5, 4), A (5, 3), W (3, 4)"
    try:
        got = call(fn, G, A, W, name="dense_backward")
    except CheckFailed as failure:
        if "mismatch in its core dimension" in str(failure) or "not aligned" in str(failure):
            raise CheckFailed(
                f"{failure} Let the shapes decide: dA = G @ W.T is (N, n_out) @ (n_out, n_in) and "
                "dW = A.T @ G is (n_in, N) @ (N, n_out)."
            ) from None
        raise
    dA, dW, db = _tuple(got, shown, "dA, dW, db")
    exp_dA, exp_dW, exp_db = G @ W.T, A.T @ G, G.sum(axis=0)

    shapes = [np.shape(v) for v in (dA, dW, db)]
    if shapes != [exp_dA.shape, exp_dW.shape, exp_db.shape]:
        if sorted(map(str, shapes)) == sorted(map(str, [exp_dA.shape, exp_dW.shape, exp_db.shape])):
            raise CheckFailed(f"{shown} returned shapes {shapes}: return them in the order dA, dW, db.")
        if np.shape(dW) == exp_dW.T.shape and close(np.asarray(dW).T, exp_dW):
            raise CheckFailed(
                f"dW from {shown} has shape {np.shape(dW)}, expected {exp_dW.shape}: that is the transpose of "
                "the right answer (G.T @ A). A gradient has the shape of its parameter: dW = A.T @ G."
            )
        if np.shape(db) == (A.shape[0],):
            raise CheckFailed(
                f"db from {shown} has shape {np.shape(db)}, one value per example: add G up over the batch "
                "axis, G.sum(axis=0), to get one value per neuron."
            )

    diagnose(dA, exp_dA, [], name=f"dA from {shown}")
    expect_array(dA, exp_dA, name=f"dA from {shown}")
    diagnose(dW, exp_dW, [
        (exp_dW / 5, "5 times too small: G already contains the 1/N of the mean loss; do not divide again."),
        (exp_dW * 5, "5 times too large."),
    ], name=f"dW from {shown}")
    expect_array(dW, exp_dW, name=f"dW from {shown}")
    diagnose(db, exp_db, [
        (G.mean(axis=0), "that is the mean of G over the batch; G already contains the 1/N of the mean loss, "
                         "so db is its sum, G.sum(axis=0)."),
    ], name=f"db from {shown}")
    expect_array(db, exp_db, name=f"db from {shown}")


# --------------------------------------------------------------------------- 3.4
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _softmax_ce(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    N = len(y)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    G = _softmax(z)
    G[np.arange(N), y] -= 1
    return float(np.mean(lse - z[np.arange(N), y])), G / N


@exercise(
    "3.4",
    "Softmax with cross-entropy: loss and gradient",
    hints=[
        "The loss is chapter 2's: the mean over the batch of LSE(z_n) - z_n[y_n], computed with the max shift. "
        "For the gradient, the chapter's table says: dL/dz = (softmax(z) - one_hot(y)) / N.",
        "Compute P = softmax(z) row by row (max shift, keepdims=True), subtract 1 at each row's true class with "
        "P[np.arange(N), y] -= 1 (P is a new array, so this is safe), and divide by N.",
        "Skeleton: `shifted = z - ...  # row maxima, keepdims`; `exp = np.exp(shifted)`; loss = "
        "the mean of log(row sums of exp) minus each row's true shifted logit; `P = exp / ...`; "
        "subtract 1 at the true classes; return (the loss as a float, P / N). One np.exp serves "
        "both, and it cannot overflow.",
    ],
)
def _check_softmax_ce(fn: Callable) -> None:
    rng = np.random.default_rng(34)
    z = rng.normal(size=(5, 3)) * 2
    y = np.array([0, 2, 1, 1, 0])
    shown = "softmax_cross_entropy(z, y) for z (5, 3)"
    loss, G = _tuple(_quiet_call(fn, z, y, name="softmax_cross_entropy"), shown, "loss, dz")
    exp_loss, exp_G = _softmax_ce(z, y)
    expect_scalar(loss, exp_loss, name=f"the loss from {shown}")
    P = _softmax(z)
    onehot = np.eye(3)[y]
    wrong_columns = P.copy()
    wrong_columns[:, y] -= 1
    diagnose(G, exp_G, [
        (exp_G * 5, "5 times too large: the loss is the mean over the batch, so divide the gradient by N."),
        (-exp_G, "the sign is flipped: dL/dz = softmax(z) - one_hot(y), which is negative at the true class."),
        (P / 5, "the one-hot part is missing: subtract 1 at each row's true class."),
        ((P - onehot) * (1 / 5) * P, "the gradient of softmax + cross-entropy together is simply "
                                     "(softmax(z) - one_hot(y)) / N; no extra softmax factor."),
        (wrong_columns / 5, "P[:, y] -= 1 subtracts 1 in the columns y of every row. Use P[np.arange(N), y] "
                            "to touch one entry per row."),
    ], name=f"dz from {shown}")
    expect_array(G, exp_G, name=f"dz from {shown}")

    z = np.array([[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]])
    y = np.array([2, 1])
    shown = "softmax_cross_entropy for z = [[1000, 0, -1000], [3, 3, 3]], y = [2, 1]"
    loss, G = _tuple(_quiet_call(fn, z, y, name="softmax_cross_entropy"), shown, "loss, dz")
    exp_loss, exp_G = _softmax_ce(z, y)
    try:
        value = float(loss)
    except (TypeError, ValueError):
        value = None
    if value is not None and not np.isfinite(value):
        raise CheckFailed(
            f"the loss from {shown} is {value}: a probability underflowed to 0 or exp overflowed. Compute the "
            "loss as LSE(z) - z_y with the max shift, never as -log(softmax(z)[y])."
        )
    expect_scalar(loss, exp_loss, name=f"the loss from {shown}")
    expect_array(G, exp_G, name=f"dz from {shown}", atol=1e-12)


# --------------------------------------------------------------------------- 3.5
def _moons(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles with Gaussian noise 0.2, like sklearn's make_moons(noise=0.2)."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t_outer, t_inner = rng.uniform(0, np.pi, size=half), rng.uniform(0, np.pi, size=n - half)
    outer = np.column_stack([np.cos(t_outer), np.sin(t_outer)])                   # class 0
    inner = np.column_stack([1 - np.cos(t_inner), 1 - np.sin(t_inner) - 0.5])     # class 1
    X = np.vstack([outer, inner]) + rng.normal(0, 0.2, size=(n, 2))
    y = np.concatenate([np.zeros(half, dtype=int), np.ones(n - half, dtype=int)])
    order = rng.permutation(n)
    return X[order], y[order]


@exercise(
    "3.5",
    "Train an MLP to 95% on the moons",
    hints=[
        "You have every piece already: dense_forward, relu_backward and dense_backward. A small "
        "MLP with ReLU hidden layers and one output logit, trained by mini-batch gradient descent "
        "on binary cross-entropy, separates the moons, as the chapter's network did.",
        "Reuse the chapter's recipe: a 2-16-16-1 network with ReLU hidden layers and a sigmoid "
        "output trained with binary cross-entropy on logits (dL/dz = (sigmoid(z) - y) / N), "
        "mini-batches of 32, learning rate 0.1, about 100 epochs; He initialisation, W ~ "
        "normal(0, sqrt(2 / n_in)), zero biases.",
        "Skeleton of one step: forward with dense_forward and ReLU; G = (sigmoid(logits[:, 0]) - "
        "yb)[:, None] / len(yb); dense_backward (with relu_backward below each hidden layer) down "
        "to the first layer; p -= lr * grad for every parameter. Seed the rng; return the inner "
        "function predict, not its result.",
    ],
)
def _check_moons(fn: Callable) -> None:
    X_train, y_train = _moons(600, seed=7)
    X_test, y_test = _moons(400, seed=8)
    predict = call(fn, X_train, y_train, name="train_moons_classifier")
    if not callable(predict):
        raise CheckFailed(
            f"train_moons_classifier should return a function predict(X) -> labels; it returned a "
            f"{type(predict).__name__}. Return the inner function itself: `return predict`."
        )
    labels = call(predict, X_test, name="predict")
    if labels is None:
        raise CheckFailed("predict(X) returned None: did you forget `return` inside predict?")
    labels = np.asarray(labels)
    if labels.shape == (len(y_test), 1):
        raise CheckFailed(
            f"predict(X) returned shape {labels.shape}: return one label per example, shape ({len(y_test)},), "
            "e.g. (logits[:, 0] > 0).astype(int)."
        )
    if labels.shape != (len(y_test),):
        raise CheckFailed(f"predict(X) for X of shape {X_test.shape} returned shape {labels.shape}, "
                          f"expected ({len(y_test)},): one label per example.")
    if not np.all(np.isin(labels, (0, 1))):
        if np.issubdtype(labels.dtype, np.floating) and np.all((labels >= 0) & (labels <= 1)):
            raise CheckFailed(
                "predict(X) returned probabilities, not labels: threshold them, (p > 0.5).astype(int), or "
                "equivalently (logits > 0)."
            )
        raise CheckFailed(f"predict(X) should return the labels 0 and 1, got values such as {_short(labels[:4])}.")
    accuracy = float(np.mean(labels == y_test))
    if accuracy < TARGET_ACCURACY:
        if min(np.mean(labels == 0), np.mean(labels == 1)) < 0.05:
            why = (" It predicts (almost) only one class: the network did not learn. Check that the updates "
                   "subtract lr * gradient and actually change the weights, and that the loss goes down.")
        elif accuracy < 0.5:
            why = " That is worse than guessing: are the labels flipped (logits < 0 for class 1)?"
        else:
            why = (" A straight line gets only about 0.89 on these moons; the boundary must bend. Check the hidden "
                   "layers and their ReLUs, and train longer or with a larger learning rate.")
        raise CheckFailed(
            f"the test accuracy of your classifier on 400 fresh moons points is {accuracy:.3f}; it should be at "
            f"least {TARGET_ACCURACY}.{why}"
        )


# --------------------------------------------------------------------------- 3.6
def _two_layer(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
               tanh_slope: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    Z1 = X @ W1 + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2 + b2
    loss, G2 = _softmax_ce(Z2, y)
    dW2, db2 = A1.T @ G2, G2.sum(axis=0)
    G1 = (G2 @ W2.T) * tanh_slope(Z1, A1)
    return loss, {"W1": X.T @ G1, "b1": G1.sum(axis=0), "W2": dW2, "b2": db2}


def _reference(params, X, y):
    return _two_layer(params, X, y, lambda Z1, A1: 1 - A1 ** 2)


_BUGS = [
    (lambda Z1, A1: 1 - Z1 ** 2, "the planted bug is still there (the output layer's gradients are right, "
                                 "the hidden layer's are not). Run check_gradient on W1 and b1 too, and read the "
                                 "lines of the backward pass between the logits and the hidden layer."),
    (lambda Z1, A1: 1 - A1, "the derivative of tanh is 1 - tanh(z)**2: square A1."),
    (lambda Z1, A1: 1 - np.tanh(A1) ** 2, "that applies tanh twice: A1 is already tanh(Z1), so the slope is "
                                          "1 - A1**2."),
]


def _case(seed: int, scale: float) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(0, scale, size=(2, 5)), "b1": rng.normal(0, 0.5, size=5),
              "W2": rng.normal(0, 1.0, size=(5, 3)), "b2": rng.normal(0, 0.5, size=3)}
    X = rng.normal(size=(12, 2))
    y = rng.integers(0, 3, size=12)
    return params, X, y


@exercise(
    "3.6",
    "Find the backprop bug (B)",
    hints=[
        "Check each parameter separately, as in the example cell: check_gradient(lambda _: loss_of(params), "
        "params[name], grads[name]) for name in ('W1', 'b1', 'W2', 'b2'). The output layer passes; the "
        "parameters that fail tell you which part of the backward pass to read.",
        "W1 and b1 fail while W2 and b2 pass, so the bug sits between the output layer and the hidden layer: "
        "in G2 @ W2.T or in the slope of the activation. tanh'(z) = 1 - tanh(z)**2: which array holds tanh(z)?",
        "tanh(Z1) is already computed in the forward pass: it is A1. The slope line uses Z1 where "
        "it needs that array. Copy the function's body into yours, fix that one line, and leave "
        "the rest as it is.",
    ],
)
def _check_fixed_backprop(fn: Callable) -> None:
    for seed, scale in [(61, 1.0), (62, 2.0)]:
        params, X, y = _case(seed, scale)
        shown = f"fixed_loss_and_grads(params, X, y) for a 2-5-3 network (test case {seed - 60})"
        loss, grads = _tuple(call(fn, params, X, y, name="fixed_loss_and_grads"), shown, "loss, grads")
        exp_loss, exp_grads = _reference(params, X, y)
        expect_scalar(loss, exp_loss, name=f"the loss from {shown}")
        if not isinstance(grads, dict) or set(grads) != set(exp_grads):
            kind = sorted(map(str, grads)) if isinstance(grads, dict) else type(grads).__name__
            raise CheckFailed(
                f"grads from {shown} should be a dict with the keys ['W1', 'W2', 'b1', 'b2'], like the given "
                f"function returns; got {kind}."
            )
        for name in ("W2", "b2", "W1", "b1"):
            got, expected = grads[name], exp_grads[name]
            if close(got, expected):
                continue
            for slope, explanation in _BUGS:
                wrong = _two_layer(params, X, y, slope)[1][name]
                if not close(wrong, expected) and close(got, wrong):
                    raise CheckFailed(f"grads['{name}'] from {shown} is wrong: {explanation}")
            if name in ("W2", "b2"):
                raise CheckFailed(
                    f"grads['{name}'] from {shown} is now wrong, but the given function computed it correctly "
                    "(its gradient check passes): change only the line with the bug."
                )
            expect_array(got, expected, name=f"grads['{name}'] from {shown}")
