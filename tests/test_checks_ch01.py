"""Chapter 1 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` (the bugs people really write) fails with a message that names
the problem; the unfilled stub fails with "not written yet". ``tests/test_exercises.py``
reads ``WRONG_WITH_MESSAGES`` too, to prove that no check in the book is toothless.
"""
from __future__ import annotations

import warnings

import numpy as np

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules


# --------------------------------------------------------------------------- reference answers
def neuron_forward(x, w, b):
    return x @ w + b


def sigmoid(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def squared_error(y_hat, y):
    return (y_hat - y) ** 2


def gradients(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = 2 * (y_hat - y) * y_hat * (1 - y_hat)
    return X.T @ delta / len(y), delta.mean()


def train_step(X, y, w, b, lr):
    dw, db = gradients(X, y, w, b)
    return w - lr * dw, b - lr * db


def train(X, y, lr, num_epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(float(np.mean(squared_error(sigmoid(X @ w + b), y))))
        w, b = train_step(X, y, w, b, lr)
    return w, b, losses


def bce_gradients(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = y_hat - y
    return X.T @ delta / len(y), float(delta.mean())


def tanh_gradients(X, y, w, b):
    y_hat = np.tanh(X @ w + b)
    delta = 2 * (y_hat - y) * (1 - y_hat ** 2)
    return X.T @ delta / len(y), float(delta.mean())


REFERENCE = {
    "1.1": neuron_forward,
    "1.2": sigmoid,
    "1.3": squared_error,
    "1.4": gradients,
    "1.5": train_step,
    "1.6": train,
    "1.7": tanh_gradients,
    "1.8": bce_gradients,
}


# --------------------------------------------------------------------------- wrong answers: 1.1
def forward_without_bias(x, w, b):
    return x @ w


def forward_without_sum(x, w, b):
    return x * w + b


def forward_sums_the_whole_batch(x, w, b):
    return np.sum(x * w) + b


def forward_w_times_x(x, w, b):
    return w @ x + b


def forward_returns_a_list(x, w, b):
    return list(np.atleast_1d(x @ w + b))


# --------------------------------------------------------------------------- wrong answers: 1.2
def sigmoid_naive(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_other_naive_form(z):
    return np.exp(z) / (1 + np.exp(z))


def sigmoid_where_both_branches(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z)))


def sigmoid_wrong_sign(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, e / (1 + e), 1 / (1 + e))


def sigmoid_python_math(z):
    import math

    return 1 / (1 + math.exp(-z))


# --------------------------------------------------------------------------- wrong answers: 1.3
def squared_error_not_squared(y_hat, y):
    return y_hat - y


def squared_error_absolute(y_hat, y):
    return abs(y_hat - y)


def squared_error_with_half(y_hat, y):
    return 0.5 * (y_hat - y) ** 2


def squared_error_square_root(y_hat, y):
    return ((y_hat - y) ** 2) ** 0.5


# --------------------------------------------------------------------------- wrong answers: 1.4
def gradients_without_sigmoid_derivative(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = 2 * (y_hat - y)
    return X.T @ delta / len(y), delta.mean()


def gradients_factor_two_lost(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = (y_hat - y) * y_hat * (1 - y_hat)
    return X.T @ delta / len(y), delta.mean()


def gradients_wrong_sign(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = 2 * (y - y_hat) * y_hat * (1 - y_hat)
    return X.T @ delta / len(y), delta.mean()


def gradients_summed_not_averaged(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = 2 * (y_hat - y) * y_hat * (1 - y_hat)
    return X.T @ delta, delta.sum()


def gradients_db_not_averaged(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = 2 * (y_hat - y) * y_hat * (1 - y_hat)
    return X.T @ delta / len(y), delta


def gradients_bias_forgotten(X, y, w, b):
    y_hat = sigmoid(X @ w)
    delta = 2 * (y_hat - y) * y_hat * (1 - y_hat)
    return X.T @ delta / len(y), delta.mean()


def gradients_only_dw(X, y, w, b):
    return gradients(X, y, w, b)[0]


# --------------------------------------------------------------------------- wrong answers: 1.5
def train_step_in_place(X, y, w, b, lr):
    dw, db = gradients(X, y, w, b)
    w -= lr * dw
    b -= lr * db
    return w, b


def train_step_uphill(X, y, w, b, lr):
    dw, db = gradients(X, y, w, b)
    return w + lr * dw, b + lr * db


def train_step_ignores_lr(X, y, w, b, lr):
    dw, db = gradients(X, y, w, b)
    return w - dw, b - db


def train_step_forgets_bias(X, y, w, b, lr):
    dw, db = gradients(X, y, w, b)
    return w - lr * dw, b


def train_step_returns_only_w(X, y, w, b, lr):
    dw, _ = gradients(X, y, w, b)
    return w - lr * dw


# --------------------------------------------------------------------------- wrong answers: 1.6
def train_never_updates(X, y, lr, num_epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        train_step(X, y, w, b, lr)  # the new values are thrown away
    return w, b, losses


def train_goes_uphill(X, y, lr, num_epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        dw, db = gradients(X, y, w, b)
        w, b = w + lr * dw, b + lr * db
    return w, b, losses


def train_records_every_tenth_epoch(X, y, lr, num_epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for epoch in range(num_epochs):
        if epoch % 10 == 0:
            losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        w, b = train_step(X, y, w, b, lr)
    return w, b, losses


def train_starts_from_ones(X, y, lr, num_epochs):
    w, b, losses = np.ones(X.shape[1]), 1.0, []
    for _ in range(num_epochs):
        losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        w, b = train_step(X, y, w, b, lr)
    return w, b, losses


def train_returns_no_losses(X, y, lr, num_epochs):
    w, b, _ = train(X, y, lr, num_epochs)
    return w, b


def train_too_few_epochs(X, y, lr, num_epochs):
    return train(X, y, lr, 3)


def train_ignores_lr(X, y, lr, num_epochs):
    return train(X, y, 1.0, num_epochs)


def train_ignores_lr_odd_constant(X, y, lr, num_epochs):
    return train(X, y, 0.7, num_epochs)


def train_five_steps_per_epoch(X, y, lr, num_epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        for _ in range(5):
            w, b = train_step(X, y, w, b, lr)
    return w, b, losses


def train_per_example_sgd(X, y, lr, num_epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        for n in range(len(y)):
            w, b = train_step(X[n:n + 1], y[n:n + 1], w, b, lr)
    return w, b, losses


def train_summed_gradient(X, y, lr, num_epochs):
    return train(X, y, lr * len(y), num_epochs)


def train_half_lr(X, y, lr, num_epochs):
    return train(X, y, lr / 2, num_epochs)


def train_returns_parameters_before_last_step(X, y, lr, num_epochs):
    w, b, losses = np.zeros(X.shape[1]), 0.0, []
    for _ in range(num_epochs):
        losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        new_w, new_b = train_step(X, y, w, b, lr)
        if len(losses) < num_epochs:
            w, b = new_w, new_b
    return w, b, losses


def train_extra_epochs_after_recording(X, y, lr, num_epochs):
    w, b, _ = train(X, y, lr, 2 * num_epochs)
    return w, b, train(X, y, lr, num_epochs)[2]


# --------------------------------------------------------------------------- wrong answers: 1.8
def _bce_from(delta_of):
    def grads(X, y, w, b):
        y_hat = sigmoid(X @ w + b)
        delta = delta_of(y_hat, y)
        return X.T @ delta / len(y), float(delta.mean())
    return grads


bce_with_sigmoid_slope = _bce_from(lambda p, y: (p - y) * p * (1 - p))
bce_squared_error_gradient = _bce_from(lambda p, y: 2 * (p - y) * p * (1 - p))
bce_factor_two = _bce_from(lambda p, y: 2 * (p - y))
bce_wrong_sign = _bce_from(lambda p, y: y - p)
bce_outer_derivative_only = _bce_from(lambda p, y: -y / p + (1 - y) / (1 - p))
bce_unsimplified = _bce_from(lambda p, y: (-y / p + (1 - y) / (1 - p)) * p * (1 - p))


def bce_summed(X, y, w, b):
    dw, db = bce_gradients(X, y, w, b)
    return dw * len(y), db * len(y)


def bce_bias_forgotten(X, y, w, b):
    return bce_gradients(X, y, w, 0.0)


def bce_hard_labels_only(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    delta = np.where(y > 0.5, y_hat - 1, y_hat)
    return X.T @ delta / len(y), float(delta.mean())


def bce_db_per_example(X, y, w, b):
    y_hat = sigmoid(X @ w + b)
    return X.T @ (y_hat - y) / len(y), y_hat - y


# --------------------------------------------------------------------------- wrong answers: 1.7
def _tanh_from(delta_of, activation=np.tanh):
    def grads(X, y, w, b):
        z = X @ w + b
        t = activation(z)
        delta = delta_of(t, y, z)
        return X.T @ delta / len(y), float(delta.mean())
    return grads


tanh_with_sigmoid_slope = _tanh_from(lambda t, y, z: 2 * (t - y) * t * (1 - t))
tanh_slope_not_squared = _tanh_from(lambda t, y, z: 2 * (t - y) * (1 - t))
tanh_slope_of_input = _tanh_from(lambda t, y, z: 2 * (t - y) * (1 - z ** 2))
tanh_factor_two_lost = _tanh_from(lambda t, y, z: (t - y) * (1 - t ** 2))
tanh_no_slope = _tanh_from(lambda t, y, z: 2 * (t - y))
tanh_wrong_sign = _tanh_from(lambda t, y, z: 2 * (y - t) * (1 - t ** 2))
tanh_sigmoid_neuron = gradients


def tanh_summed(X, y, w, b):
    dw, db = tanh_gradients(X, y, w, b)
    return dw * len(y), db * len(y)


def tanh_bias_forgotten(X, y, w, b):
    return tanh_gradients(X, y, w, 0.0)


# (wrong answer, a substring its failure message must contain)
WRONG_WITH_MESSAGES = {
    "1.1": [
        (forward_without_bias, "without the bias"),
        (forward_without_sum, "products"),
        (forward_sums_the_whole_batch, "has shape ()"),
        (forward_w_times_x, "`X @ w` computes all the row dot products"),
        (forward_returns_a_list, "should be a single number"),
    ],
    "1.2": [
        (sigmoid_naive, "overflowed: for z = -1000"),
        (sigmoid_other_naive_form, "overflowed: for z = 1000"),
        (sigmoid_where_both_branches, "np.where(condition, a, b) computes both"),
        (sigmoid_wrong_sign, "the sign is flipped"),
        (sigmoid_python_math, "raised TypeError"),
    ],
    "1.3": [
        (squared_error_not_squared, "Square it"),
        (squared_error_absolute, "not its square"),
        (squared_error_with_half, "factor 1/2"),
        (squared_error_square_root, "not its square"),
    ],
    "1.4": [
        (gradients_without_sigmoid_derivative, "sigmoid's derivative y_hat (1 - y_hat) is missing"),
        (gradients_factor_two_lost, "keep the 2"),
        (gradients_wrong_sign, "the sign is flipped"),
        (gradients_summed_not_averaged, "5 times too large"),
        (gradients_db_not_averaged, "one value per example"),
        (gradients_bias_forgotten, "without bias"),
        (gradients_only_dw, "should return 2 things"),
    ],
    "1.5": [
        (train_step_in_place, "changed its argument number 3 in place"),
        (train_step_uphill, "a step uphill"),
        (train_step_ignores_lr, "ignores the learning rate"),
        (train_step_forgets_bias, "the bias did not change"),
        (train_step_returns_only_w, "should return 2 things"),
    ],
    "1.6": [
        (train_never_updates, "the updates never happened"),
        (train_goes_uphill, "The loss went up"),
        (train_records_every_tenth_epoch, "one mean loss per epoch"),
        (train_starts_from_ones, "expected 0.2500"),
        (train_returns_no_losses, "should return 3 things"),
        (train_too_few_epochs, "one mean loss per epoch"),
        (train_ignores_lr, "use the argument lr"),
        (train_ignores_lr_odd_constant, "ignores its lr"),
        (train_five_steps_per_epoch, "5 gradient steps per epoch"),
        (train_per_example_sgd, "one update per EXAMPLE"),
        (train_summed_gradient, "times too large"),
        (train_half_lr, "exactly one step on all of X"),
        (train_returns_parameters_before_last_step, "BEFORE the last step"),
        (train_extra_epochs_after_recording, "no extra training after the loop"),
    ],
    "1.8": [
        (bce_with_sigmoid_slope, "does not belong in this gradient"),
        (bce_squared_error_gradient, "gradient of the squared error"),
        (bce_factor_two, "no factor 2"),
        (bce_wrong_sign, "sign is flipped"),
        (bce_outer_derivative_only, "dL/dy_hat alone"),
        (bce_unsimplified, "dividing by it gives NaN"),
        (bce_summed, "times too large"),
        (bce_bias_forgotten, "without bias"),
        (bce_hard_labels_only, "use y itself"),
        (bce_db_per_example, "one value per example"),
    ],
    "1.7": [
        (tanh_with_sigmoid_slope, "sigmoid's slope"),
        (tanh_slope_not_squared, "square the tanh"),
        (tanh_slope_of_input, "not 1 - z**2"),
        (tanh_factor_two_lost, "keep the 2"),
        (tanh_no_slope, "is missing from the chain rule"),
        (tanh_wrong_sign, "sign is flipped"),
        (tanh_sigmoid_neuron, "gradient of a sigmoid neuron"),
        (tanh_summed, "times too large"),
        (tanh_bias_forgotten, "without bias"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES


def test_naive_sigmoid_is_rejected_without_leaking_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = grade("1.2", sigmoid_naive)
    assert not result.passed
    assert "overflow encountered in exp" in result.message


def test_a_clipping_sigmoid_is_accepted():
    def sigmoid_clipped(z):
        return 1 / (1 + np.exp(-np.clip(z, -500, 500)))

    assert grade("1.2", sigmoid_clipped).passed


def test_gradients_returned_as_a_list_are_accepted():
    assert grade("1.4", lambda X, y, w, b: list(gradients(X, y, w, b))).passed


def test_every_check_draws_fresh_inputs_so_a_lookup_table_fails():
    seen = {}

    def squared_error_recording(y_hat, y):
        seen[(float(np.sum(y_hat)), float(np.sum(y)))] = (y_hat - y) ** 2
        return (y_hat - y) ** 2

    assert grade("1.3", squared_error_recording).passed
    table = dict(seen)

    def squared_error_from_table(y_hat, y):
        return table[(float(np.sum(y_hat)), float(np.sum(y)))]

    assert not grade("1.3", squared_error_from_table).passed


def test_the_path_check_accepts_an_equivalent_loop_written_differently():
    def train_inline(X, y, lr, num_epochs):
        w, b, losses = np.zeros(X.shape[1]), 0.0, []
        for _ in range(num_epochs):
            y_hat = 1 / (1 + np.exp(-(X @ w + b)))
            losses.append(np.mean((y_hat - y) ** 2))
            delta = 2 * (y_hat - y) * y_hat * (1 - y_hat)
            w = w - lr * X.T @ delta / len(y)
            b = b - lr * delta.mean()
        return w, b, np.array(losses)

    with np.errstate(over="ignore"):
        assert grade("1.6", train_inline).passed


def test_the_cross_entropy_gradient_from_a_clipped_chain_rule_is_accepted():
    def bce_clipped(X, y, w, b):
        p = np.clip(sigmoid(X @ w + b), 1e-15, 1 - 1e-15)
        delta = (-y / p + (1 - y) / (1 - p)) * p * (1 - p)
        return X.T @ delta / len(y), float(delta.mean())

    assert grade("1.8", bce_clipped).passed


def test_training_that_records_the_loss_after_the_update_is_rejected():
    def train_records_after(X, y, lr, num_epochs):
        w, b, losses = np.zeros(X.shape[1]), 0.0, []
        for _ in range(num_epochs):
            w, b = train_step(X, y, w, b, lr)
            losses.append(float(np.mean((sigmoid(X @ w + b) - y) ** 2)))
        return w, b, losses

    result = grade("1.6", train_records_after)
    assert not result.passed and "before the first update" in result.message


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '1.2': {
        'line 11:20: >= -> >':
            'at z = 0 both branches give 1/2',
    },
}
