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
from dlcourse_utils.checks.core import one_torch_thread
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


def _train(model, data, num_epochs, augment=False, seed=0):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(num_epochs):
        model.train()
        for xb, yb in data.batches(100, seed=seed * 1000 + epoch, tensors=True):
            if augment:
                n = len(xb)
                angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(12)
                shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (4 / 28)
                cos, sin = torch.cos(angle), torch.sin(angle)
                theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                                     torch.stack([sin, cos, shift[:, 1]], 1)], 1)
                grid = F.affine_grid(theta, [n, 1, 28, 28], align_corners=False)
                xb = F.grid_sample(xb.reshape(n, 1, 28, 28), grid, align_corners=False).reshape(n, 784)
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def _mlp(*widths, batchnorm=False, dropout=0.0):
    layers, fan_in = [], 784
    for width in widths:
        layers += [nn.Linear(fan_in, width)] + ([nn.BatchNorm1d(width)] if batchnorm else []) + [nn.ReLU()]
        layers += [nn.Dropout(dropout)] if dropout else []
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 10))


def train_regularised(data, seed=1):
    """A reference answer to 4.7: batch norm, a little dropout and augmentation, 30 epochs on 1,000 digits."""
    torch.manual_seed(seed)
    return _train(_mlp(256, 256, batchnorm=True, dropout=0.2), data, num_epochs=30, augment=True, seed=seed)


def label_smoothed_cross_entropy(z, y, smoothing):
    N, K = z.shape
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    q = (1 - smoothing) * np.eye(K)[y] + smoothing / K
    loss = float(np.mean(-(q * log_probs).sum(axis=1)))
    return loss, (np.exp(log_probs) - q) / N


def adamw_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    w = w * (1 - lr * weight_decay)
    return adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)


REFERENCE = {
    "4.1": precision_recall_f1,
    "4.2": confusion_matrix,
    "4.3": he_normal,
    "4.4": momentum_step,
    "4.5": adam_step,
    "4.6": train_and_evaluate,
    "4.7": train_regularised,
    "4.8": label_smoothed_cross_entropy,
    "4.9": adamw_step,
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
def _one_epoch(data):
    for _ in data.batches(100):
        pass


def digits_returns_none(data):
    _one_epoch(data)


def digits_untrained(data):
    _one_epoch(data)
    torch.manual_seed(0)
    return _mlp(256, 256)


def digits_overfitting_baseline(data):
    torch.manual_seed(1)
    return _train(_mlp(256, 256), data, num_epochs=20)


def digits_too_many_epochs(data):
    for _ in range(50):
        _one_epoch(data)
    return _mlp(256, 256)


def digits_too_wide(data):
    _one_epoch(data)
    return _mlp(1024, 1024)


class _NearestNeighbour(nn.Module):
    """Keeps every training digit in a buffer and answers with the label of the closest one."""

    def __init__(self, X, y):
        super().__init__()
        self.register_buffer("X", X)
        self.register_buffer("y", y)

    def forward(self, x):
        return F.one_hot(self.y[torch.cdist(x, self.X).argmin(dim=1)], 10).float()


def digits_nearest_neighbour(data):
    [(X, y)] = list(data.batches(len(data), tensors=True))
    return _NearestNeighbour(X, y)


def digits_loads_mnist(data):
    from dlcourse_utils.data import load_mnist

    load_mnist(progress=False)
    return train_regularised(data)


class _WrongShape(nn.Module):
    def forward(self, x):
        return x[:, :1]


def digits_wrong_shape(data):
    _one_epoch(data)
    return _WrongShape()


def digits_returns_a_function(data):
    model = digits_untrained(data)
    return lambda x: model(x)


TRAINED_MODEL = _mlp(256, 256)

# --------------------------------------------------------------------------- wrong answers: 4.8
def _smoothing_with(targets, reduce=np.mean, grad_scale=lambda N: 1 / N, sign=1.0, stable=True):
    def label_smoothed_cross_entropy(z, y, smoothing):
        N, K = z.shape
        if stable:
            shifted = z - z.max(axis=1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        else:
            log_probs = np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
        q = targets(np.eye(K)[y], K, smoothing)
        loss = float(reduce(-(q * log_probs).sum(axis=1)))
        return loss, sign * (np.exp(log_probs) - q) * grad_scale(N)
    return label_smoothed_cross_entropy


def _torch_targets(onehot, K, eps):
    return (1 - eps) * onehot + eps / K


ls_ignores_smoothing = _smoothing_with(lambda onehot, K, eps: onehot)
ls_spread_over_others = _smoothing_with(lambda onehot, K, eps: (1 - eps) * onehot + eps / (K - 1) * (1 - onehot))
ls_true_class_unshared = _smoothing_with(lambda onehot, K, eps: (1 - eps) * onehot + eps / K * (1 - onehot))
ls_summed = _smoothing_with(_torch_targets, reduce=np.sum)
ls_log_of_softmax = _smoothing_with(_torch_targets, stable=False)
ls_gradient_not_averaged = _smoothing_with(_torch_targets, grad_scale=lambda N: 1.0)
ls_gradient_sign = _smoothing_with(_torch_targets, sign=-1.0)


def ls_gradient_one_hot(z, y, smoothing):
    loss, _ = label_smoothed_cross_entropy(z, y, smoothing)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return loss, (e / e.sum(axis=1, keepdims=True) - np.eye(z.shape[1])[y]) / len(y)


def ls_loss_only(z, y, smoothing):
    return label_smoothed_cross_entropy(z, y, smoothing)[0]


# --------------------------------------------------------------------------- wrong answers: 4.9
def adamw_coupled_l2(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return adam_step(w, grad + weight_decay * w, m, v, t, lr, beta1, beta2, eps)


def adamw_decay_without_lr(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return adam_step(w * (1 - weight_decay), grad, m, v, t, lr, beta1, beta2, eps)


def adamw_decay_after_step(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    w, m, v = adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)
    return w * (1 - lr * weight_decay), m, v


def adamw_no_decay(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)


def adamw_no_bias_correction(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return adam_no_bias_correction(w * (1 - lr * weight_decay), grad, m, v, t, lr, beta1, beta2, eps)


def adamw_decay_in_moments(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    grad = grad + weight_decay * w          # the decay folded into the gradient, as an L2 penalty would be
    return adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)


def adamw_returns_corrected(w, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return adam_returns_corrected(w * (1 - lr * weight_decay), grad, m, v, t, lr, beta1, beta2, eps)


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
        (digits_returns_none, "returned None"),
        (digits_untrained, "must reach 0.92"),
        (digits_overfitting_baseline, "must reach 0.92"),
        (digits_too_many_epochs, "more than its budget of 40,000 training examples"),
        (digits_too_wide, "the budget is 300,000"),
        (digits_nearest_neighbour, "do not keep training examples inside the model"),
        (digits_loads_mnist, "never load a data set itself"),
        (digits_wrong_shape, "expected (10000, 10)"),
        (digits_returns_a_function, "should return the trained PyTorch model"),
        (TRAINED_MODEL, "not a trained model"),
    ],
    "4.8": [
        (ls_ignores_smoothing, "smoothing is ignored"),
        (ls_spread_over_others, "K - 1 wrong classes only"),
        (ls_true_class_unshared, "targets sum to 1"),
        (ls_summed, "PyTorch averages"),
        (ls_log_of_softmax, "never log(softmax(z))"),
        (ls_gradient_one_hot, "gradient ignores the smoothing"),
        (ls_gradient_not_averaged, "divide by N"),
        (ls_gradient_sign, "sign is flipped"),
        (ls_loss_only, "should return 2 things"),
    ],
    "4.9": [
        (adamw_coupled_l2, "L2 penalty added to the gradient"),
        (adamw_decay_without_lr, "1 - lr * weight_decay"),
        (adamw_decay_after_step, "after the Adam step"),
        (adamw_no_decay, "plain Adam"),
        (adamw_no_bias_correction, "no bias corrections"),
        (adamw_decay_in_moments, "L2 penalty added to the gradient"),
        (adamw_returns_corrected, "without the bias correction"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES


def test_the_digits_budget_separates_the_regularised_network_from_a_memoriser():
    from dlcourse_utils.checks.challenge import count_parameters
    from dlcourse_utils.checks.ch04 import DIGITS_BUDGET, _digits_challenge_data

    data, (X_val, y_val) = _digits_challenge_data()
    assert len(data) == 1000 and len(X_val) == 500 and data.input_shape == (784,)
    assert count_parameters(_mlp(256, 256, batchnorm=True, dropout=0.2)) <= DIGITS_BUDGET.parameters
    memoriser = digits_nearest_neighbour(_digits_challenge_data()[0])
    assert count_parameters(memoriser) == 785_000 > DIGITS_BUDGET.parameters


def test_the_reference_beats_the_target_with_margin_over_three_seeds_and_the_baseline_does_not():
    from dlcourse_utils.checks.ch04 import TARGET_ACCURACY_47, _digits_challenge_data, _mnist

    X, y = torch.from_numpy(_mnist()["X_test"]), torch.from_numpy(_mnist()["y_test"])

    def test_accuracy(model):
        model.eval()
        with torch.no_grad():
            return float((model(X).argmax(dim=1) == y).float().mean())

    with one_torch_thread():   # as the check runs it, and fastest on a shared machine
        accuracies = [test_accuracy(train_regularised(_digits_challenge_data()[0], seed=seed)) for seed in range(3)]
        baseline = test_accuracy(digits_overfitting_baseline(_digits_challenge_data()[0]))
    assert min(accuracies) >= TARGET_ACCURACY_47 + 0.015, accuracies
    assert baseline < TARGET_ACCURACY_47 - 0.015, baseline


def test_the_challenge_leaves_the_global_torch_random_state_alone():
    torch.manual_seed(7)
    before = torch.get_rng_state()
    grade("4.7", digits_untrained)
    assert torch.equal(torch.get_rng_state(), before)


def test_alternative_correct_label_smoothing_and_adamw_are_accepted():
    def as_mixture(z, y, smoothing):   # (1 - eps) * CE + eps * mean over classes of -log p
        loss, _ = label_smoothed_cross_entropy(z, y, 0.0)
        shifted = z - z.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = (1 - smoothing) * loss + smoothing * float(np.mean(-log_probs.mean(axis=1)))
        return loss, label_smoothed_cross_entropy(z, y, smoothing)[1]

    def with_torch(z, y, smoothing):
        z_t = torch.tensor(z, requires_grad=True)
        loss = F.cross_entropy(z_t, torch.tensor(y), label_smoothing=smoothing)
        loss.backward()
        return loss.item(), z_t.grad.numpy()

    assert grade("4.8", as_mixture).passed
    assert grade("4.8", with_torch).passed
    assert grade("4.9", lambda w, g, m, v, t, lr, b1, b2, eps, wd: adam_step(w - lr * wd * w, g, m, v, t, lr, b1, b2, eps)).passed


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
