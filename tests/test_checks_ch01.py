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


REFERENCE = {
    "1.1": neuron_forward,
    "1.2": sigmoid,
    "1.3": squared_error,
    "1.4": gradients,
    "1.5": train_step,
    "1.6": train,
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


# (wrong answer, a substring its failure message must contain)
WRONG_WITH_MESSAGES = {
    "1.1": [
        (forward_without_bias, "without the bias"),
        (forward_without_sum, "products"),
        (forward_sums_the_whole_batch, "expected (4,)"),
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
        (train_too_few_epochs, "expected (1000,)"),
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
