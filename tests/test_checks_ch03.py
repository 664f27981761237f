"""Chapter 3 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` (the bugs people really write) fails with a message that
names the problem; the unfilled stub fails with "not written yet".
``tests/test_exercises.py`` reads ``WRONG_WITH_MESSAGES`` too, to prove that no check in
the book is toothless.
"""
from __future__ import annotations


import numpy as np

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules
from dlcourse_utils.checks.ch03 import _moons


# --------------------------------------------------------------------------- reference answers
def dense_forward(A, W, b):
    return A @ W + b


def relu_backward(dA, Z):
    return dA * (Z > 0)


def dense_backward(G, A, W):
    return G @ W.T, A.T @ G, G.sum(axis=0)


def softmax_cross_entropy(z, y):
    N = len(y)
    shifted = z - z.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    loss = float(np.mean(np.log(exp.sum(axis=1)) - shifted[np.arange(N), y]))
    P = exp / exp.sum(axis=1, keepdims=True)
    P[np.arange(N), y] -= 1
    return loss, P / N


def _train_mlp(X, y, sizes=(2, 16, 16, 1), lr=0.1, num_epochs=100, seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0, np.sqrt(2 / n_in), size=(n_in, n_out)), np.zeros(n_out)]

    def forward(A):
        cache = []
        for k in range(0, len(params), 2):
            Z = A @ params[k] + params[k + 1]
            cache.append((A, Z))
            A = np.maximum(Z, 0) if k < len(params) - 2 else Z
        return A, cache

    for _ in range(num_epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), 32):
            batch = order[start:start + 32]
            logits, cache = forward(X[batch])
            G = (1 / (1 + np.exp(-logits[:, 0])) - y[batch])[:, None] / len(batch)
            grads = []
            for k in reversed(range(0, len(params), 2)):
                A_in, Z = cache[k // 2]
                if k < len(params) - 2:
                    G = G * (Z > 0)
                grads = [A_in.T @ G, G.sum(axis=0)] + grads
                G = G @ params[k].T
            params = [p - lr * g for p, g in zip(params, grads)]
    return lambda X_new: forward(X_new)[0][:, 0]            # logits


def train_moons_classifier(X, y):
    logits_of = _train_mlp(X, y)
    return lambda X_new: (logits_of(X_new) > 0).astype(int)


def _two_layer(params, X, y, slope):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = len(y)
    Z1 = X @ W1 + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2 + b2
    m = Z2.max(axis=1, keepdims=True)
    log_probs = Z2 - m - np.log(np.exp(Z2 - m).sum(axis=1, keepdims=True))
    loss = -np.mean(log_probs[np.arange(N), y])
    G2 = np.exp(log_probs)
    G2[np.arange(N), y] -= 1
    G2 /= N
    G1 = (G2 @ W2.T) * slope(Z1, A1)
    return loss, {"W1": X.T @ G1, "b1": G1.sum(axis=0), "W2": A1.T @ G2, "b2": G2.sum(axis=0)}


def fixed_loss_and_grads(params, X, y):
    return _two_layer(params, X, y, lambda Z1, A1: 1 - A1 ** 2)


REFERENCE = {
    "3.1": dense_forward,
    "3.2": relu_backward,
    "3.3": dense_backward,
    "3.4": softmax_cross_entropy,
    "3.5": train_moons_classifier,
    "3.6": fixed_loss_and_grads,
}


# --------------------------------------------------------------------------- wrong answers: 3.1
def forward_without_bias(A, W, b):
    return A @ W


def forward_w_times_a(A, W, b):
    return W @ A + b


def forward_squeezed(A, W, b):
    return np.squeeze(A @ W + b)


def forward_transposed_weights(A, W, b):
    return A @ W.T + b


def forward_elementwise(A, W, b):
    return A * W + b


# --------------------------------------------------------------------------- wrong answers: 3.2
def relu_backward_mask_from_gradient(dA, Z):
    return dA * (dA > 0)


def relu_backward_mask_ge_zero(dA, Z):
    return dA * (Z >= 0)


def relu_backward_slope_only(dA, Z):
    return (Z > 0).astype(float)


def relu_backward_forward_pass(dA, Z):
    return np.maximum(Z, 0)


def relu_backward_in_place(dA, Z):
    dA[Z <= 0] = 0
    return dA


# --------------------------------------------------------------------------- wrong answers: 3.3
def dense_backward_db_mean(G, A, W):
    return G @ W.T, A.T @ G, G.mean(axis=0)


def dense_backward_dw_transposed(G, A, W):
    return G @ W.T, G.T @ A, G.sum(axis=0)


def dense_backward_da_without_transpose(G, A, W):
    return G @ W, A.T @ G, G.sum(axis=0)


def dense_backward_wrong_order(G, A, W):
    return A.T @ G, G.sum(axis=0), G @ W.T


def dense_backward_dw_averaged(G, A, W):
    return G @ W.T, A.T @ G / len(G), G.sum(axis=0)


def dense_backward_db_per_example(G, A, W):
    return G @ W.T, A.T @ G, G.sum(axis=1)


# --------------------------------------------------------------------------- wrong answers: 3.4
def softmax_ce_not_averaged(z, y):
    loss, dz = softmax_cross_entropy(z, y)
    return loss, dz * len(y)


def softmax_ce_sign_flipped(z, y):
    loss, dz = softmax_cross_entropy(z, y)
    return loss, -dz


def softmax_ce_no_one_hot(z, y):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return softmax_cross_entropy(z, y)[0], e / e.sum(axis=1, keepdims=True) / len(y)


def softmax_ce_column_indexing(z, y):
    loss, _ = softmax_cross_entropy(z, y)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    P = e / e.sum(axis=1, keepdims=True)
    P[:, y] -= 1
    return loss, P / len(y)


def softmax_ce_log_of_softmax(z, y):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    P = e / e.sum(axis=1, keepdims=True)
    loss = float(np.mean(-np.log(P[np.arange(len(y)), y])))
    return loss, softmax_cross_entropy(z, y)[1]


def softmax_ce_loss_only(z, y):
    return softmax_cross_entropy(z, y)[0]


# --------------------------------------------------------------------------- wrong answers: 3.5
def moons_linear_model(X, y):
    w, b = np.zeros(2), 0.0
    for _ in range(500):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        w, b = w - 1.0 * X.T @ (p - y) / len(y), b - 1.0 * np.mean(p - y)
    return lambda X_new: (X_new @ w + b > 0).astype(int)


def moons_returns_probabilities(X, y):
    logits_of = _train_mlp(X, y)
    return lambda X_new: 1 / (1 + np.exp(-logits_of(X_new)))


def moons_returns_a_column(X, y):
    logits_of = _train_mlp(X, y)
    return lambda X_new: (logits_of(X_new) > 0).astype(int)[:, None]


def moons_never_trained(X, y):
    return _train_mlp(X, y, num_epochs=0) and (lambda X_new: np.zeros(len(X_new), dtype=int))


def moons_returns_predictions_not_function(X, y):
    return train_moons_classifier(X, y)(X)


def moons_too_few_epochs(X, y):
    logits_of = _train_mlp(X, y, lr=0.01, num_epochs=3)
    return lambda X_new: (logits_of(X_new) > 0).astype(int)


# --------------------------------------------------------------------------- wrong answers: 3.6
def backprop_unchanged(params, X, y):
    return _two_layer(params, X, y, lambda Z1, A1: 1 - Z1 ** 2)


def backprop_slope_not_squared(params, X, y):
    return _two_layer(params, X, y, lambda Z1, A1: 1 - A1)


def backprop_tanh_twice(params, X, y):
    return _two_layer(params, X, y, lambda Z1, A1: 1 - np.tanh(A1) ** 2)


def backprop_broke_the_output_layer(params, X, y):
    loss, grads = fixed_loss_and_grads(params, X, y)
    grads["W2"] = grads["W2"] * len(y)
    return loss, grads


def backprop_returns_a_list(params, X, y):
    loss, grads = fixed_loss_and_grads(params, X, y)
    return loss, [grads["W1"], grads["b1"], grads["W2"], grads["b2"]]


# (wrong answer, a substring its failure message must contain)
WRONG_WITH_MESSAGES = {
    "3.1": [
        (forward_without_bias, "without the bias"),
        (forward_w_times_a, "A @ W, in that order"),
        (forward_squeezed, "keep the layer's output two-dimensional"),
        (forward_transposed_weights, "no transpose"),
        (forward_elementwise, "raised ValueError"),
    ],
    "3.2": [
        (relu_backward_mask_from_gradient, "built from the gradient dA"),
        (relu_backward_mask_ge_zero, "not Z >= 0"),
        (relu_backward_slope_only, "multiply it by the incoming gradient"),
        (relu_backward_forward_pass, "forward pass"),
        (relu_backward_in_place, "changed its argument number 1 in place"),
    ],
    "3.3": [
        (dense_backward_db_mean, "db is its sum"),
        (dense_backward_dw_transposed, "transpose of the right answer"),
        (dense_backward_da_without_transpose, "Let the shapes decide"),
        (dense_backward_wrong_order, "in the order dA, dW, db"),
        (dense_backward_dw_averaged, "do not divide again"),
        (dense_backward_db_per_example, "one value per example"),
    ],
    "3.4": [
        (softmax_ce_not_averaged, "divide the gradient by N"),
        (softmax_ce_sign_flipped, "sign is flipped"),
        (softmax_ce_no_one_hot, "one-hot part is missing"),
        (softmax_ce_column_indexing, "P[np.arange(N), y]"),
        (softmax_ce_log_of_softmax, "never as -log(softmax(z)[y])"),
        (softmax_ce_loss_only, "should return 2 things"),
    ],
    "3.5": [
        (moons_linear_model, "A straight line gets only about 0.89"),
        (moons_returns_probabilities, "returned probabilities"),
        (moons_returns_a_column, "one label per example"),
        (moons_never_trained, "only one class"),
        (moons_returns_predictions_not_function, "should return a function"),
        (moons_too_few_epochs, "should be at least 0.95"),
    ],
    "3.6": [
        (backprop_unchanged, "the planted bug is still there"),
        (backprop_slope_not_squared, "square A1"),
        (backprop_tanh_twice, "applies tanh twice"),
        (backprop_broke_the_output_layer, "change only the line with the bug"),
        (backprop_returns_a_list, "should be a dict"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES


def test_moons_data_of_the_grader_look_like_sklearns():
    X, y = _moons(400, seed=8)
    assert X.shape == (400, 2) and set(np.unique(y)) == {0, 1} and y.mean() == 0.5
    assert -1.8 < X[:, 0].min() < -0.8 and 1.8 < X[:, 0].max() < 2.8


def test_a_linear_model_scores_below_the_target_on_the_moons():
    X_test, y_test = _moons(400, seed=8)
    accuracy = np.mean(moons_linear_model(*_moons(600, seed=7))(X_test) == y_test)
    assert 0.8 < accuracy < 0.95


def test_alternative_correct_answers_are_accepted():
    assert grade("3.2", lambda dA, Z: np.where(Z > 0, dA, 0.0)).passed
    assert grade("3.3", lambda G, A, W: [G @ W.T, A.T @ G, np.sum(G, axis=0)]).passed
    assert grade("3.5", lambda X, y: (lambda X_new: list(train_moons_classifier(X, y)(X_new)))).passed


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '3.6': {
        'line 11:8: .max -> .min':
            'log-softmax is shift-invariant; the fixed logits are far from overflow, and the exercise is about the tanh derivative',
    },
}
