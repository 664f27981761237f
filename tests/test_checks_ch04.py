"""Chapter 4 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` fails with a message that names the problem; the unfilled stub
fails with "not written yet". ``tests/test_exercises.py`` reads ``WRONG_WITH_MESSAGES``
too, to prove that no check in the book is toothless.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules
from dlcourse_utils.checks.ch04 import reference_train_and_evaluate


# --------------------------------------------------------------------------- reference answers
def precision_recall_f1(y_true, y_pred):
    tp = np.sum((y_pred == 1) & (y_true == 1))
    fp = np.sum((y_pred == 1) & (y_true == 0))
    fn = np.sum((y_pred == 0) & (y_true == 1))
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def confusion_matrix(y_true, y_pred, num_classes):
    C = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(C, (y_true, y_pred), 1)
    return C


def he_normal(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def momentum_step(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity + grad
    return w - lr * velocity, velocity


def adam_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def train_and_evaluate(model, optimizer, X_train, y_train, X_val, y_val, num_epochs, batch_size, generator):
    return reference_train_and_evaluate(model, optimizer, X_train, y_train, X_val, y_val, num_epochs,
                                        batch_size, generator)


_MODELS: dict[str, nn.Module] = {}


def _mnist_small():
    from dlcourse_utils.data import load_mnist

    (X, y), _ = load_mnist(progress=False)
    perm = np.random.default_rng(0).permutation(len(X))[5000:6000]   # the chapter's 1,000 training digits
    return (torch.tensor(X[perm].reshape(-1, 784) / 255.0, dtype=torch.float32),
            torch.tensor(y[perm], dtype=torch.long))


def _train(model, X, y, num_epochs, augment=False):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(num_epochs):
        model.train()
        order = torch.randperm(len(X), generator=generator)
        for start in range(0, len(order), 100):
            idx = order[start:start + 100]
            xb = X[idx]
            if augment:
                n = len(xb)
                angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(12)
                shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (4 / 28)
                cos, sin = torch.cos(angle), torch.sin(angle)
                theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                                     torch.stack([sin, cos, shift[:, 1]], 1)], 1)
                grid = F.affine_grid(theta, [n, 1, 28, 28], align_corners=False)
                xb = F.grid_sample(xb.reshape(n, 1, 28, 28), grid, align_corners=False).reshape(n, 784)
            loss = F.cross_entropy(model(xb), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def regularised_model():
    """A reference answer to 4.7: batch norm and augmentation, 30 epochs on 1,000 digits."""
    if "good" not in _MODELS:
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(),
                              nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Linear(256, 10))
        _MODELS["good"] = _train(model, *_mnist_small(), num_epochs=30, augment=True)
    return _MODELS["good"]


REFERENCE = {
    "4.1": precision_recall_f1,
    "4.2": confusion_matrix,
    "4.3": he_normal,
    "4.4": momentum_step,
    "4.5": adam_step,
    "4.6": train_and_evaluate,
}


# --------------------------------------------------------------------------- wrong answers: 4.1
def prf_swapped(y_true, y_pred):
    p, r, f = precision_recall_f1(y_true, y_pred)
    return r, p, f


def prf_arithmetic_mean(y_true, y_pred):
    p, r, _ = precision_recall_f1(y_true, y_pred)
    return p, r, (p + r) / 2


def prf_unguarded(y_true, y_pred):
    tp = np.sum((y_pred == 1) & (y_true == 1))
    fp = np.sum((y_pred == 1) & (y_true == 0))
    fn = np.sum((y_pred == 0) & (y_true == 1))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return precision, recall, 2 * precision * recall / (precision + recall)


def prf_accuracy_as_precision(y_true, y_pred):
    _, r, _ = precision_recall_f1(y_true, y_pred)
    p = np.mean(y_true == y_pred)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


# --------------------------------------------------------------------------- wrong answers: 4.2
def confusion_transposed(y_true, y_pred, num_classes):
    return confusion_matrix(y_true, y_pred, num_classes).T


def confusion_fancy_index(y_true, y_pred, num_classes):
    C = np.zeros((num_classes, num_classes), dtype=int)
    C[y_true, y_pred] += 1
    return C


def confusion_size_from_labels(y_true, y_pred, num_classes):
    k = int(max(y_true.max(), y_pred.max())) + 1
    return confusion_matrix(y_true, y_pred, k)


# --------------------------------------------------------------------------- wrong answers: 4.3
def he_xavier(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_without_factor_two(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=(fan_in, fan_out))


def he_variance_as_std(fan_in, fan_out, rng):
    return rng.normal(0.0, 2.0 / fan_in, size=(fan_in, fan_out))


def he_global_random(fan_in, fan_out, rng):
    return np.random.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def he_transposed(fan_in, fan_out, rng):
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in))


def he_uniform_instead(fan_in, fan_out, rng):
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


# --------------------------------------------------------------------------- wrong answers: 4.4
def momentum_keras_convention(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity - lr * grad
    return w + velocity, velocity


def momentum_dampened(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity + (1 - momentum) * grad
    return w - lr * velocity, velocity


def momentum_old_velocity(w, grad, velocity, lr, momentum):
    return w - lr * velocity, momentum * velocity + grad


def momentum_forgets_velocity(w, grad, velocity, lr, momentum):
    new_velocity = momentum * velocity + grad
    return w - lr * new_velocity, velocity


def momentum_nesterov(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity + grad
    return w - lr * (grad + momentum * velocity), velocity


def momentum_in_place(w, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity += grad
    w -= lr * velocity
    return w, velocity


# --------------------------------------------------------------------------- wrong answers: 4.5
def adam_no_bias_correction(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return w - lr * m / (np.sqrt(v) + eps), m, v


def adam_eps_inside(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    return w - lr * (m / (1 - beta1 ** t)) / np.sqrt(v / (1 - beta2 ** t) + eps), m, v


def adam_grad_not_squared(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad
    return w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v


def adam_returns_corrected(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m_hat, v_hat


def adam_step_from_zero(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    return adam_step(w, grad, m, v, t + 1, lr, beta1, beta2, eps)


# --------------------------------------------------------------------------- wrong answers: 4.6
def loop_as_handed_out(model, optimizer, X_train, y_train, X_val, y_val, num_epochs, batch_size, generator):
    return reference_train_and_evaluate(model, optimizer, X_train, y_train, X_val, y_val, num_epochs,
                                        batch_size, generator, zero_grad=False, eval_mode=False,
                                        use_generator=False)


def loop_without_zero_grad(model, optimizer, X_train, y_train, X_val, y_val, num_epochs, batch_size, generator):
    return reference_train_and_evaluate(model, optimizer, X_train, y_train, X_val, y_val, num_epochs,
                                        batch_size, generator, zero_grad=False)


def loop_without_eval(model, optimizer, X_train, y_train, X_val, y_val, num_epochs, batch_size, generator):
    return reference_train_and_evaluate(model, optimizer, X_train, y_train, X_val, y_val, num_epochs,
                                        batch_size, generator, eval_mode=False)


def loop_without_generator(model, optimizer, X_train, y_train, X_val, y_val, num_epochs, batch_size, generator):
    return reference_train_and_evaluate(model, optimizer, X_train, y_train, X_val, y_val, num_epochs,
                                        batch_size, generator, use_generator=False)


# --------------------------------------------------------------------------- wrong answers: 4.7
def _untrained_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


class _LeastSquares(nn.Module):
    """One linear layer fitted to one-hot targets by least squares on the 1,000 digits: about 0.8.

    Fitted on its first call, so that importing this file (tests/test_exercises.py does) loads no data.
    """

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(784, 10)
        self.fitted = False

    def forward(self, x):
        if not self.fitted:
            X, y = _mnist_small()
            A = torch.cat([X, torch.ones(len(X), 1)], dim=1).double()
            coef = torch.linalg.lstsq(A, F.one_hot(y, 10).double(), driver="gelsd").solution   # (785, 10)
            with torch.no_grad():
                self.layer.weight.copy_(coef[:784].T.float())
                self.layer.bias.copy_(coef[784].float())
            self.fitted = True
        return self.layer(x)


class _WrongShape(nn.Module):
    def forward(self, x):
        return x[:, :1]


def _train_the_function_not_the_model(X, y):
    return _untrained_model()


UNTRAINED = _untrained_model()
LEAST_SQUARES = _LeastSquares()

WRONG_WITH_MESSAGES = {
    "4.1": [
        (prf_swapped, "swapped"),
        (prf_arithmetic_mean, "harmonic mean"),
        (prf_unguarded, "divides 0 by 0"),
        (prf_accuracy_as_precision, "TP / (TP + FP)"),
    ],
    "4.2": [
        (confusion_transposed, "transposed"),
        (confusion_fancy_index, "np.add.at"),
        (confusion_size_from_labels, "use num_classes"),
    ],
    "4.3": [
        (he_xavier, "Glorot/Xavier"),
        (he_without_factor_two, "factor 2"),
        (he_variance_as_std, "that is the variance"),
        (he_global_random, "draw with the rng argument"),
        (he_transposed, "transposed"),
        (he_uniform_instead, "uniform"),
    ],
    "4.4": [
        (momentum_keras_convention, "Keras's convention"),
        (momentum_dampened, "dampening"),
        (momentum_old_velocity, "old* velocity"),
        (momentum_forgets_velocity, "velocity never changed"),
        (momentum_nesterov, "Nesterov"),
        (momentum_in_place, "in place"),
    ],
    "4.5": [
        (adam_no_bias_correction, "without the bias corrections"),
        (adam_eps_inside, "epsilon inside the square root"),
        (adam_grad_not_squared, "NaN"),
        (adam_returns_corrected, "without the bias correction"),
        (adam_step_from_zero, "counted from 0"),
    ],
    "4.6": [
        (loop_as_handed_out, "two bugs remain"),
        (loop_without_zero_grad, "zero_grad"),
        (loop_without_eval, "model.eval()"),
        (loop_without_generator, "generator=generator"),
    ],
    "4.7": [
        (UNTRAINED, "must reach 0.91"),
        (LEAST_SQUARES, "must reach 0.91"),
        (_WrongShape(), "expected (2000, 10)"),
        (_train_the_function_not_the_model, "not the function"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES
    stubs = {"4.7": None}   # the exercise notebook leaves the model at None


def test_a_regularised_model_passes_4_7():
    result = grade("4.7", regularised_model())
    assert result.passed, result.message


def test_precision_of_the_screening_example():
    # 50 ill people of 10,000; 100 flagged, 40 of them ill (chapter 4, question 5).
    y_true = np.zeros(10_000, dtype=int)
    y_true[:50] = 1
    y_pred = np.zeros(10_000, dtype=int)
    y_pred[10:110] = 1
    assert precision_recall_f1(y_true, y_pred) == pytest.approx((0.4, 0.8, 2 * 0.32 / 1.2))
    assert grade("4.1", precision_recall_f1).passed


def test_a_loop_based_confusion_matrix_and_float_counts_are_accepted():
    def with_loop(y_true, y_pred, num_classes):
        C = np.zeros((num_classes, num_classes))
        for t, p in zip(y_true, y_pred):
            C[t, p] += 1
        return C

    assert grade("4.2", with_loop).passed


def test_the_grader_leaves_the_global_torch_random_state_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    grade("4.6", loop_without_eval)
    assert torch.equal(torch.get_rng_state(), before)


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '4.1': {
        'line 8:34: drop the right term of +':
            'tp > 0 vs tp + fp > 0: when tp = 0 both give precision 0',
        'line 9:31: drop the right term of +':
            'tp > 0 vs tp + fn > 0: when tp = 0 both give recall 0',
        'line 10:58: drop the right term of +':
            'precision > 0 vs precision + recall > 0: both are 0 together',
        'line 10:58: drop the left term of +':
            'recall > 0 vs precision + recall > 0: both are 0 together',
    },
}
