"""Graders for chapter 3, neural networks from scratch (exercises 3.1-3.8).

Vocabulary, as in the chapter: a dense layer computes ``Z = A @ W + b`` with ``A`` of
shape ``(N, n_in)``, ``W`` of shape ``(n_in, n_out)`` and ``b`` of shape ``(n_out,)``;
``G = dL/dZ`` has the shape of ``Z``; the backward pass returns ``dA = G @ W.T``,
``dW = A.T @ G`` and ``db = G.sum(axis=0)``. Losses are means over the batch, so the
``1/N`` lives in the gradient of the loss with respect to the logits, and nowhere else.

Every grader compares the learner's answer with a private reference computed here; the
moons challenge (3.5) hands the learner's ``train`` its training moons under a budget and
scores the returned ``predict`` on fresh moons that ``train`` never received.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from .challenge import Budget, TrainingData, provides_data, run_challenge, validation_split
from .core import CheckFailed, _short, call, close, diagnose, exercise, expect_array, expect_scalar, one_torch_thread

#: Exercise 3.5: the accuracy on fresh moons the trained classifier must reach.
TARGET_ACCURACY = 0.95
#: Exercise 3.5: fresh moons points each check scores the classifier on.
TEST_POINTS = 4000
#: Exercise 3.5: about 125 passes over the 480 training points; at most 1,000 stored numbers, which a
#: 2-16-16-1 MLP (337) fits and a nearest-neighbour vote keeping the 480 points (1,440) does not.
MOONS_BUDGET = Budget(examples=60_000, parameters=1_000, seconds=60)

#: Fresh inputs at every check (exercises 3.5, 3.7, 3.8), so that a table of shown inputs fails.
_FRESH = np.random.default_rng(303)


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


@provides_data("3.5")
def _moons_challenge_data() -> tuple[TrainingData, tuple[np.ndarray, np.ndarray]]:
    """The 480 training moons the check hands to train, and 120 validation moons carved from the same draw."""
    X, y = _moons(600, seed=7)
    (X_train, y_train), (X_val, y_val) = validation_split(X, y, 0.2, seed=0)
    return TrainingData(X_train, y_train, budget=MOONS_BUDGET, name="the training moons"), (X_val, y_val)


def _is_predict(model: Any) -> None:
    if not callable(model):
        raise CheckFailed(
            f"train_moons_classifier should return a function predict(X) -> labels; it returned a "
            f"{type(model).__name__}. Return the inner function itself: `return predict`."
        )


@exercise(
    "3.5",
    "Train an MLP to 95% on the moons",
    kind="challenge",
    hints=[
        "You have every piece already: dense_forward, relu_backward and dense_backward. A small MLP with "
        "two ReLU hidden layers and one output logit, trained by mini-batch gradient descent on binary "
        "cross-entropy, bends its boundary around the moons, as the chapter's network did.",
        "Spend the budget like this: two hidden layers of about 16 units (a few hundred numbers, well "
        "inside the limit), He initialisation and zero biases, mini-batches of about 32, a learning rate "
        "around 0.1, and nearly all of the examples budget: about 120 passes over the 480 points.",
        "The gradient of binary cross-entropy with respect to the logit is (sigmoid(logit) - label) / "
        "batch size; send it down through the layers with your backward functions. Seed every random "
        "choice, draw each epoch with data.batches, and return the inner predict function.",
    ],
)
def _check_moons(fn: Callable) -> None:
    data, _ = _moons_challenge_data()
    predict, report = run_challenge(fn, data, MOONS_BUDGET, name="train_moons_classifier", check_model=_is_predict)
    X_test, y_test = _moons(TEST_POINTS, seed=int(_FRESH.integers(2**31)))
    labels = call(predict, X_test, name="predict")
    if labels is None:
        raise CheckFailed("predict(X) returned None: did you forget `return` inside predict?")
    labels = np.asarray(labels)
    if labels.shape == (len(y_test), 1):
        raise CheckFailed(
            f"predict(X) returned shape {labels.shape}: return one label per example, shape ({len(y_test)},), "
            "not a column."
        )
    if labels.shape != (len(y_test),):
        raise CheckFailed(f"predict(X) for X of shape {X_test.shape} returned shape {labels.shape}, "
                          f"expected ({len(y_test)},): one label per example.")
    if not np.all(np.isin(labels, (0, 1))):
        if np.issubdtype(labels.dtype, np.floating) and np.all((labels >= 0) & (labels <= 1)):
            raise CheckFailed(
                "predict(X) returned probabilities, not labels: threshold them at 0.5 (equivalently, the "
                "logit at 0)."
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
                   "layers and their ReLUs, and use more of the examples budget or a larger learning rate.")
        raise CheckFailed(
            f"the accuracy of your classifier on {TEST_POINTS:,} fresh moons points it never saw is {accuracy:.3f} "
            f"({report}); it should be at least {TARGET_ACCURACY}.{why}"
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
    "Find the backprop bug",
    kind="debug",
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


# --------------------------------------------------------------------------- 3.7
def _dropout_cases() -> list[tuple[str, np.ndarray, float, int]]:
    seed = lambda: int(_FRESH.integers(2**31))   # noqa: E731
    cases = [
        ("A (4, 5), p = 0.3", _FRESH.normal(size=(4, 5)), 0.3, seed()),
        ("A (7, 3), p = 0.2", _FRESH.normal(size=(7, 3)) * 3, 0.2, seed()),
        ("a 1-D A (9,), p = 0.75", _FRESH.normal(size=9), 0.75, seed()),
        ("A (3, 4), p = 0 (dropout switched off)", _FRESH.normal(size=(3, 4)), 0.0, seed()),
        ("A (200, 50), p = 0.9", _FRESH.normal(size=(200, 50)) + 1.0, 0.9, seed()),
    ]
    # The boundary: p equal to one of the uniform numbers drawn, a unit that must be kept (u >= p).
    tie_seed = seed()
    p_tie = float(np.random.default_rng(tie_seed).random((5, 6)).flat[int(_FRESH.integers(30))])
    return cases + [(f"A (5, 6), p = {p_tie:.4f}, exactly one of the uniform numbers drawn", _FRESH.normal(size=(5, 6)),
                     p_tie, tie_seed)]


@exercise(
    "3.7",
    "Inverted dropout, forward and backward",
    kind="transfer",
    hints=[
        "Dropout is a layer like any other: the forward pass multiplies each entry of A by a random mask "
        "(0 for a dropped unit, 1 for a kept one) and by one scale factor; the backward pass multiplies the "
        "incoming gradient by exactly the same numbers, since out is linear in A.",
        "Draw the mask once, in the forward pass, with u = rng.random(A.shape): a unit is kept where u >= p. "
        "Inverted dropout divides the kept values by the keep probability 1 - p, so that the mean of each "
        "unit stays what it was and nothing has to change at test time.",
        "Let backward be a function defined inside dropout_forward: it sees the mask and the scale of the "
        "forward pass through its closure, draws nothing new, and returns the incoming gradient times the "
        "mask times the scale. Return the pair (out, backward); do not change A in place.",
    ],
)
def _check_dropout(fn: Callable) -> None:
    for label, A, p, seed in _dropout_cases():
        shown = f"dropout_forward(A, p, rng) for {label}"
        out, backward = _tuple(call(fn, A, p, np.random.default_rng(seed), name="dropout_forward"), shown,
                               "out, backward")
        u = np.random.default_rng(seed).random(A.shape)
        keep = u >= p
        expected = A * keep / (1 - p)
        if p > 0:
            diagnose(out, expected, [
                (A * keep, "the kept values are not rescaled. Inverted dropout divides them by the keep "
                           "probability 1 - p, so that each unit keeps its mean."),
                (A * keep * (1 - p), "the kept values are multiplied by 1 - p; inverted dropout divides by it."),
                (A * keep / p, "the kept values are divided by p, the drop probability; divide by the keep "
                               "probability 1 - p."),
                (A * ~keep / (1 - p), "the mask is upside down: it keeps a unit where u < p, so it keeps a "
                                      "fraction p of them. A unit is dropped with probability p: keep it where u >= p."),
                (A * (u < 1 - p) / (1 - p), "the mask keeps a unit where u < 1 - p; the task's convention keeps it "
                                            "where u >= p (same probability, but not the same units)."),
                (A * (u > p) / (1 - p), "a unit whose u equals p exactly is dropped: keep it where u >= p, not u > p."),
            ], name=f"out from {shown}")
        expect_array(out, expected, name=f"out from {shown}")
        if not callable(backward):
            raise CheckFailed(
                f"the second thing {shown} returns should be a function backward(dout) -> dA; it is a "
                f"{type(backward).__name__}. Define backward inside dropout_forward and return the function itself."
            )
        dout = _FRESH.normal(size=A.shape)
        shown_back = f"backward(dout) from {shown}"
        got = call(backward, dout, name="backward")
        exp_dA = dout * keep / (1 - p)
        if p > 0:
            diagnose(got, exp_dA, [
                (dout, "the gradient passes through unchanged; it must be multiplied by the same mask and scale "
                       "as the forward pass (out is linear in A)."),
                (dout * keep, "the gradient is masked but not rescaled: out = A * mask / (1 - p), so dA = "
                              "dout * mask / (1 - p)."),
                (dout / (1 - p), "the gradient is rescaled but not masked: a dropped unit receives no gradient."),
                (expected, "that is the forward output again; backward maps the gradient dout, not A."),
            ], name=shown_back)
            arr = np.asarray(got)
            if arr.shape == A.shape and not np.array_equal(arr != 0, keep & (dout != 0)):
                raise CheckFailed(
                    f"{shown_back} is zero at other entries than the forward pass dropped: backward must reuse "
                    "the forward pass's mask (kept in its closure), never draw a new one."
                )
        expect_array(got, exp_dA, name=shown_back)
        again = call(backward, dout, name="backward")
        expect_array(again, exp_dA, name=f"{shown_back}, called a second time")


# --------------------------------------------------------------------------- 3.8
_GELU_C = float(np.sqrt(2 / np.pi))


def _gelu_parts(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh(u) and du/dz of the tanh approximation of GELU."""
    t = np.tanh(_GELU_C * (Z + 0.044715 * Z ** 3))
    return t, _GELU_C * (1 + 3 * 0.044715 * Z ** 2)


def _gelu_slope(Z: np.ndarray) -> np.ndarray:
    t, du = _gelu_parts(Z)
    return 0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2) * du


def _erf_gelu_slope(Z: np.ndarray) -> np.ndarray:
    from math import erf

    cdf = 0.5 * (1 + np.vectorize(erf)(Z / np.sqrt(2)))
    return cdf + Z * np.exp(-Z ** 2 / 2) / np.sqrt(2 * np.pi)


@exercise(
    "3.8",
    "The backward pass of GELU",
    kind="transfer",
    hints=[
        "GELU(z) = 0.5 z (1 + tanh(u)) with u = sqrt(2/pi) (z + 0.044715 z**3). It is a product of z and "
        "a function of z, so its derivative needs the product rule, and tanh(u) needs the chain rule twice: "
        "through tanh, then through u.",
        "The pieces: d/dz of 0.5 z is 0.5; the derivative of tanh(u) with respect to u is 1 - tanh(u)**2 "
        "(the chapter's tanh slope); du/dz = sqrt(2/pi) (1 + 3 * 0.044715 z**2). Compute tanh(u) once and "
        "reuse it.",
        "slope = 0.5 (1 + tanh(u)) + 0.5 z times the derivative of tanh(u) with respect to z (the last two "
        "pieces of hint 2 multiplied). Then, as for ReLU, the chain rule multiplies the incoming gradient "
        "dA by the slope, entry by entry.",
    ],
)
def _check_gelu_backward(fn: Callable) -> None:
    edges = np.array([0.0, 1e-4, -1e-4, 1.0, -1.0, 3.0, -3.0, 8.0, -8.0, 40.0, -40.0, 1e3, -1e3])
    cases = [
        ("Z and dA of shape (6, 5)", _FRESH.normal(size=(6, 5)) * 2),
        ("1-D arrays at 0, +-1e-4, +-1, +-3, +-8, +-40 and +-1000", edges),
        ("Z and dA of shape (1, 7)", _FRESH.normal(size=(1, 7)) * 4),
    ]
    for label, Z in cases:
        dA = _FRESH.normal(size=Z.shape)
        shown = f"gelu_backward(dA, Z) for {label}"
        got = _quiet_call(fn, dA, Z, name="gelu_backward")
        slope = _gelu_slope(Z)
        t, du = _gelu_parts(Z)
        expected = dA * slope
        diagnose(got, expected, [
            (slope, "that is GELU's slope alone; multiply it by the incoming gradient dA (the chain rule)."),
            (dA * 0.5 * (1 + t), "the product rule is missing its second term: z times the derivative of "
                                 "0.5 (1 + tanh(u)) with respect to z."),
            (dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2)), "the derivative of tanh(u) stops at u: multiply by "
                                                           "du/dz = sqrt(2/pi) (1 + 3 * 0.044715 z**2) too."),
            (dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2) * _GELU_C),
             "du/dz is sqrt(2/pi) (1 + 3 * 0.044715 z**2): the derivative of the cubic term is missing."),
            (dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2) * _GELU_C * (1 + 0.044715 * Z ** 2)),
             "the derivative of 0.044715 z**3 is 3 * 0.044715 z**2: the factor 3 is missing."),
            (dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t) * du), "the derivative of tanh is 1 - tanh(u)**2: square it."),
            (dA * 0.5 * Z * (1 + t), "that is GELU's forward pass times dA; the backward pass needs its slope."),
            (dA * _erf_gelu_slope(Z), "that is the slope of the exact GELU, Phi(z) + z phi(z); this exercise "
                                      "differentiates the tanh approximation (PyTorch's approximate='tanh')."),
        ], name=shown)
        expect_array(got, expected, name=shown)
