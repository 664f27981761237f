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


def _draw_all(data):
    """Every training example once, in order (one epoch of the budget)."""
    [(X, y)] = list(data.batches(len(data), shuffle=False))
    return X, y


def _train_mlp(data, sizes=(2, 16, 16, 1), lr=0.1, num_epochs=120, seed=0):
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

    for epoch in range(num_epochs):
        for xb, yb in data.batches(32, seed=seed * 1000 + epoch):
            logits, cache = forward(xb)
            G = (1 / (1 + np.exp(-logits[:, 0])) - yb)[:, None] / len(yb)
            grads = []
            for k in reversed(range(0, len(params), 2)):
                A_in, Z = cache[k // 2]
                if k < len(params) - 2:
                    G = G * (Z > 0)
                grads = [A_in.T @ G, G.sum(axis=0)] + grads
                G = G @ params[k].T
            params = [p - lr * g for p, g in zip(params, grads)]
    return lambda X_new: forward(X_new)[0][:, 0]            # logits


def train_moons_classifier(data):
    logits_of = _train_mlp(data)
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


def dropout_forward(A, p, rng):
    keep = rng.random(A.shape) >= p
    scale = 1.0 / (1.0 - p)

    def backward(dout):
        return dout * keep * scale

    return A * keep * scale, backward


def gelu_backward(dA, Z):
    c = np.sqrt(2 / np.pi)
    t = np.tanh(c * (Z + 0.044715 * Z ** 3))
    return dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2) * c * (1 + 3 * 0.044715 * Z ** 2))


REFERENCE = {
    "3.1": dense_forward,
    "3.2": relu_backward,
    "3.3": dense_backward,
    "3.4": softmax_cross_entropy,
    "3.5": train_moons_classifier,
    "3.6": fixed_loss_and_grads,
    "3.7": dropout_forward,
    "3.8": gelu_backward,
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
def moons_linear_model(data):
    X, y = _draw_all(data)
    w, b = np.zeros(2), 0.0
    for _ in range(500):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        w, b = w - 1.0 * X.T @ (p - y) / len(y), b - 1.0 * np.mean(p - y)
    return lambda X_new: (X_new @ w + b > 0).astype(int)


def moons_returns_probabilities(data):
    logits_of = _train_mlp(data)
    return lambda X_new: 1 / (1 + np.exp(-logits_of(X_new)))


def moons_returns_a_column(data):
    logits_of = _train_mlp(data)
    return lambda X_new: (logits_of(X_new) > 0).astype(int)[:, None]


def moons_never_trained(data):
    _draw_all(data)
    return lambda X_new: np.zeros(len(X_new), dtype=int)


def moons_returns_predictions_not_function(data):
    return train_moons_classifier(data)(np.zeros((5, 2)))


def moons_too_few_epochs(data):
    logits_of = _train_mlp(data, lr=0.01, num_epochs=3)
    return lambda X_new: (logits_of(X_new) > 0).astype(int)


def moons_too_many_epochs(data):
    logits_of = _train_mlp(data, num_epochs=200)
    return lambda X_new: (logits_of(X_new) > 0).astype(int)


def moons_too_wide(data):
    logits_of = _train_mlp(data, sizes=(2, 64, 64, 1), num_epochs=20)
    return lambda X_new: (logits_of(X_new) > 0).astype(int)


def moons_nearest_neighbours(data):
    X, y = _draw_all(data)   # a 15-nearest-neighbour vote: it keeps every training point

    def predict(X_new):
        distances = ((X_new[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
        nearest = np.argsort(distances, axis=1)[:, :15]
        return (y[nearest].mean(axis=1) > 0.5).astype(int)

    return predict


def moons_returns_none(data):
    _train_mlp(data, num_epochs=1)


def moons_loads_mnist(data):
    from dlcourse_utils.data import load_mnist

    load_mnist(progress=False)
    return train_moons_classifier(data)


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


# --------------------------------------------------------------------------- wrong answers: 3.7
def _dropout(A, p, rng, *, forward_scale, backward_scale, keep_rule=lambda u, p: u >= p, backward_mask=True,
             redraw=False):
    keep = keep_rule(rng.random(A.shape), p)

    def backward(dout):
        mask = keep_rule(rng.random(A.shape), p) if redraw else keep
        return dout * (mask if backward_mask else 1.0) * backward_scale(p)

    return A * keep * forward_scale(p), backward


def _inverted(p):
    return 1 / (1 - p)


def dropout_not_rescaled(A, p, rng):
    return _dropout(A, p, rng, forward_scale=lambda p: 1.0, backward_scale=lambda p: 1.0)


def dropout_divides_by_p(A, p, rng):
    return _dropout(A, p, rng, forward_scale=lambda p: 1 / p if p else 1.0, backward_scale=lambda p: 1 / p if p else 1.0)


def dropout_multiplies_by_keep_probability(A, p, rng):
    return _dropout(A, p, rng, forward_scale=lambda p: 1 - p, backward_scale=lambda p: 1 - p)


def dropout_mask_upside_down(A, p, rng):
    return _dropout(A, p, rng, forward_scale=_inverted, backward_scale=_inverted, keep_rule=lambda u, p: u < p)


def dropout_other_convention(A, p, rng):
    return _dropout(A, p, rng, forward_scale=_inverted, backward_scale=_inverted, keep_rule=lambda u, p: u < 1 - p)


def dropout_backward_unmasked(A, p, rng):
    return _dropout(A, p, rng, forward_scale=_inverted, backward_scale=_inverted, backward_mask=False)


def dropout_backward_not_rescaled(A, p, rng):
    return _dropout(A, p, rng, forward_scale=_inverted, backward_scale=lambda p: 1.0)


def dropout_backward_draws_a_new_mask(A, p, rng):
    return _dropout(A, p, rng, forward_scale=_inverted, backward_scale=_inverted, redraw=True)


def dropout_strict_boundary(A, p, rng):
    return _dropout(A, p, rng, forward_scale=_inverted, backward_scale=_inverted, keep_rule=lambda u, p: u > p)


def dropout_returns_the_mask(A, p, rng):
    keep = rng.random(A.shape) >= p
    return A * keep / (1 - p), keep


def dropout_in_place(A, p, rng):
    keep = rng.random(A.shape) >= p
    A *= keep / (1 - p)
    return A, lambda dout: dout * keep / (1 - p)


# --------------------------------------------------------------------------- wrong answers: 3.8
def _gelu_with(slope):
    def gelu_backward(dA, Z):
        c = np.sqrt(2 / np.pi)
        t = np.tanh(c * (Z + 0.044715 * Z ** 3))
        return slope(dA, Z, t, c)
    return gelu_backward


gelu_slope_only = _gelu_with(lambda dA, Z, t, c: 0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2) * c * (1 + 3 * 0.044715 * Z ** 2))
gelu_without_product_rule = _gelu_with(lambda dA, Z, t, c: dA * 0.5 * (1 + t))
gelu_chain_stops_at_u = _gelu_with(lambda dA, Z, t, c: dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2)))
gelu_without_cubic_term = _gelu_with(lambda dA, Z, t, c: dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2) * c))
gelu_without_factor_three = _gelu_with(
    lambda dA, Z, t, c: dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t ** 2) * c * (1 + 0.044715 * Z ** 2)))
gelu_tanh_slope_not_squared = _gelu_with(
    lambda dA, Z, t, c: dA * (0.5 * (1 + t) + 0.5 * Z * (1 - t) * c * (1 + 3 * 0.044715 * Z ** 2)))
gelu_forward_pass = _gelu_with(lambda dA, Z, t, c: dA * 0.5 * Z * (1 + t))


def gelu_exact_erf(dA, Z):
    import torch

    z = torch.tensor(Z, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.gelu(z).backward(torch.tensor(dA, dtype=torch.float64))
    return z.grad.numpy()


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
        (moons_too_many_epochs, "more than its budget of 60,000 training examples"),
        (moons_too_wide, "the budget is 1,000"),
        (moons_nearest_neighbours, "do not keep training examples inside the model"),
        (moons_returns_none, "returned None"),
        (moons_loads_mnist, "never load a data set itself"),
    ],
    "3.6": [
        (backprop_unchanged, "the planted bug is still there"),
        (backprop_slope_not_squared, "square A1"),
        (backprop_tanh_twice, "applies tanh twice"),
        (backprop_broke_the_output_layer, "change only the line with the bug"),
        (backprop_returns_a_list, "should be a dict"),
    ],
    "3.7": [
        (dropout_not_rescaled, "not rescaled"),
        (dropout_divides_by_p, "divided by p, the drop probability"),
        (dropout_multiplies_by_keep_probability, "multiplied by 1 - p"),
        (dropout_mask_upside_down, "upside down"),
        (dropout_other_convention, "keeps it where u >= p"),
        (dropout_backward_unmasked, "a dropped unit receives no gradient"),
        (dropout_backward_not_rescaled, "masked but not rescaled"),
        (dropout_backward_draws_a_new_mask, "never draw a new one"),
        (dropout_strict_boundary, "not u > p"),
        (dropout_returns_the_mask, "should be a function backward(dout)"),
        (dropout_in_place, "in place"),
    ],
    "3.8": [
        (gelu_slope_only, "multiply it by the incoming gradient"),
        (gelu_without_product_rule, "product rule"),
        (gelu_chain_stops_at_u, "stops at u"),
        (gelu_without_cubic_term, "derivative of the cubic term is missing"),
        (gelu_without_factor_three, "factor 3 is missing"),
        (gelu_tanh_slope_not_squared, "square it"),
        (gelu_forward_pass, "forward pass"),
        (gelu_exact_erf, "exact GELU"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES


def test_the_gelu_slope_of_the_grader_is_pytorchs():
    import torch

    from dlcourse_utils.checks.ch03 import _gelu_slope

    Z = np.concatenate([np.random.default_rng(0).normal(size=200) * 4, [0.0, 40.0, -40.0, 1e3, -1e3]])
    z = torch.tensor(Z, requires_grad=True)
    torch.nn.functional.gelu(z, approximate="tanh").sum().backward()
    np.testing.assert_allclose(_gelu_slope(Z), z.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_the_moons_budget_separates_the_mlp_from_a_memoriser():
    from dlcourse_utils.checks.challenge import count_parameters
    from dlcourse_utils.checks.ch03 import MOONS_BUDGET, _moons_challenge_data

    data, (X_val, y_val) = _moons_challenge_data()
    assert len(data) == 480 and len(X_val) == 120
    assert count_parameters(train_moons_classifier(data)) == 337 <= MOONS_BUDGET.parameters
    assert count_parameters(moons_nearest_neighbours(_moons_challenge_data()[0])) == 1440 > MOONS_BUDGET.parameters


def test_the_reference_moons_classifier_passes_with_margin_over_three_seeds():
    from dlcourse_utils.checks.ch03 import TARGET_ACCURACY, _moons_challenge_data

    X_test, y_test = _moons(20000, seed=99)
    for seed in range(3):
        predict = (lambda f: lambda X_new: (f(X_new) > 0).astype(int))(_train_mlp(_moons_challenge_data()[0], seed=seed))
        assert np.mean(predict(X_test) == y_test) >= TARGET_ACCURACY + 0.01


def test_moons_data_of_the_grader_look_like_sklearns():
    X, y = _moons(400, seed=8)
    assert X.shape == (400, 2) and set(np.unique(y)) == {0, 1} and y.mean() == 0.5
    assert -1.8 < X[:, 0].min() < -0.8 and 1.8 < X[:, 0].max() < 2.8


def test_a_linear_model_scores_below_the_target_on_the_moons():
    from dlcourse_utils.checks.ch03 import _moons_challenge_data

    X_test, y_test = _moons(400, seed=8)
    accuracy = np.mean(moons_linear_model(_moons_challenge_data()[0])(X_test) == y_test)
    assert 0.8 < accuracy < 0.95


def test_alternative_correct_answers_are_accepted():
    assert grade("3.2", lambda dA, Z: np.where(Z > 0, dA, 0.0)).passed
    assert grade("3.3", lambda G, A, W: [G @ W.T, A.T @ G, np.sum(G, axis=0)]).passed
    assert grade("3.5", lambda data: (lambda predict: lambda X_new: list(predict(X_new)))(train_moons_classifier(data))).passed
    assert grade("3.7", lambda A, p, rng: (lambda k: (np.where(k, A / (1 - p), 0.0),
                                                     lambda d: np.where(k, d / (1 - p), 0.0)))(rng.random(A.shape) >= p)).passed


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '3.6': {
        'line 11:8: .max -> .min':
            'log-softmax is shift-invariant; the fixed logits are far from overflow, and the exercise is about the tanh derivative',
    },
}
