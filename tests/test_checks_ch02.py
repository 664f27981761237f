"""Chapter 2 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` (the bugs people really write) fails with a message that
names the problem; the unfilled stub fails with "not written yet".
``tests/test_exercises.py`` reads ``WRONG_WITH_MESSAGES`` too, to prove that no check in
the book is toothless.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules


# --------------------------------------------------------------------------- reference answers
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (f(plus) - f(minus)) / (2 * h)
    return grad


def posterior(prior, sensitivity, specificity):
    tp = sensitivity * prior
    fp = (1 - specificity) * (1 - prior)
    return tp / (tp + fp)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(z, y):
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def grad_f(x, y):
    u = x ** 2 * y
    w = math.exp(-x)
    return math.cos(u) * 2 * x * y * w - math.sin(u) * w, math.cos(u) * x ** 2 * w


class Value:
    def __init__(self, data, parents=(), op=""):
        self.data = float(data)
        self.grad = 0.0
        self._parents = parents
        self._op = op
        self._backward = lambda: None

    @staticmethod
    def wrap(other):
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other):
        other = Value.wrap(other)
        out = type(self)(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = Value.wrap(other)
        out = type(self)(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def _unary(self, data, local):
        out = type(self)(data, (self,), "")

        def _backward():
            self.grad += local(self.data, out.data) * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        return self._unary(math.tanh(self.data), lambda a, t: 1 - t ** 2)

    def log(self):
        return self._unary(math.log(self.data), lambda a, t: 1 / a)

    def backward(self):
        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for parent in node._parents:
                    visit(parent)
                order.append(node)

        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


GIVEN_DERIVATIVES = {
    "softplus": _sigmoid,
    "swish": lambda x: _sigmoid(x) + _sigmoid(x) * (1 - _sigmoid(x)),   # the planted bug
    "log_cosh": np.tanh,
    "gaussian": lambda x: -x * np.exp(-x ** 2 / 2),
}


def repaired_derivatives():
    return {**GIVEN_DERIVATIVES, "swish": lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))}


def newton_step(grad, hess, x):
    return x - np.linalg.solve(hess(x), grad(x))


def softmax_backward(z, grad_s):
    s = softmax(z)
    return s * (grad_s - np.sum(grad_s * s, axis=-1, keepdims=True))


REFERENCE = {
    "2.1": numerical_gradient,
    "2.2": posterior,
    "2.3": softmax,
    "2.4": cross_entropy,
    "2.5": grad_f,
    "2.6": Value,
    "2.7": repaired_derivatives,
    "2.8": newton_step,
    "2.9": softmax_backward,
}


# --------------------------------------------------------------------------- wrong answers: 2.1
def gradient_forward_difference(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus = x.copy()
        plus[index] += h
        grad[index] = (f(plus) - f(x)) / h
    return grad


def gradient_divides_by_h(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (f(plus) - f(minus)) / h
    return grad


def gradient_all_entries_at_once(f, x, h=1e-5):
    return np.full_like(x, (f(x + h) - f(x - h)) / (2 * h))


def gradient_never_restores_x(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x[index] += h
        up = f(x)
        x[index] -= 2 * h
        grad[index] = (up - f(x)) / (2 * h)
    return grad


def gradient_flattened(f, x, h=1e-5):
    return numerical_gradient(f, x, h).ravel()


def gradient_fixed_step(f, x, h=1e-5):
    return numerical_gradient(f, x, 1e-6)


# --------------------------------------------------------------------------- wrong answers: 2.2
def posterior_is_sensitivity(prior, sensitivity, specificity):
    return sensitivity


def posterior_specificity_as_false_positive_rate(prior, sensitivity, specificity):
    tp = sensitivity * prior
    return tp / (tp + specificity * (1 - prior))


def posterior_without_denominator(prior, sensitivity, specificity):
    return sensitivity * prior


def posterior_unweighted_false_positives(prior, sensitivity, specificity):
    tp = sensitivity * prior
    return tp / (tp + (1 - specificity))


def posterior_python_if(prior, sensitivity, specificity):
    if prior <= 0:
        return 0.0
    return posterior(prior, sensitivity, specificity)


# --------------------------------------------------------------------------- wrong answers: 2.3
def softmax_naive(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_global_max(z):
    e = np.exp(z - z.max())
    return e / e.sum(axis=-1, keepdims=True)


def softmax_wrong_axis(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_without_keepdims(z):
    e = np.exp(z - z.max(axis=-1))
    return e / e.sum(axis=-1)


def softmax_normalises_whole_batch(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# --------------------------------------------------------------------------- wrong answers: 2.4
def cross_entropy_via_log_softmax(z, y):
    return float(np.mean(-np.log(softmax(z)[np.arange(len(y)), y])))


def cross_entropy_summed(z, y):
    return cross_entropy(z, y) * len(y)


def cross_entropy_column_indexing(z, y):
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)))[:, 0]
    return float(np.mean(lse - z[:, y]))


def cross_entropy_per_example(z, y):
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)))[:, 0]
    return lse - z[np.arange(len(y)), y]


def cross_entropy_lse_without_shift(z, y):
    return float(np.mean(np.log(np.sum(np.exp(z), axis=1)) - z[np.arange(len(y)), y]))


def cross_entropy_negative(z, y):
    return -cross_entropy(z, y)


# --------------------------------------------------------------------------- wrong answers: 2.5
def grad_f_one_route(x, y):
    u = x ** 2 * y
    return math.cos(u) * 2 * x * y * math.exp(-x), math.cos(u) * x ** 2 * math.exp(-x)


def grad_f_no_inner_derivative(x, y):
    u = x ** 2 * y
    w = math.exp(-x)
    return math.cos(u) * w - math.sin(u) * w, math.cos(u) * w


def grad_f_exp_sign(x, y):
    u = x ** 2 * y
    w = math.exp(-x)
    return math.cos(u) * 2 * x * y * w + math.sin(u) * w, math.cos(u) * x ** 2 * w


def grad_f_swapped(x, y):
    dx, dy = grad_f(x, y)
    return dy, dx


def grad_f_du_dx_without_y(x, y):
    u = x ** 2 * y
    w = math.exp(-x)
    return math.cos(u) * 2 * x * w - math.sin(u) * w, math.cos(u) * x ** 2 * w


def grad_f_only_dx(x, y):
    return grad_f(x, y)[0]


# --------------------------------------------------------------------------- wrong answers: 2.6
class ValueTanhOverwrites(Value):
    def tanh(self):
        t = math.tanh(self.data)
        out = type(self)(t, (self,), "tanh")

        def _backward():
            self.grad = (1 - t ** 2) * out.grad
        out._backward = _backward
        return out


class ValueTanhNotSquared(Value):
    def tanh(self):
        return self._unary(math.tanh(self.data), lambda a, t: 1 - t)


class ValueTanhIgnoresUpstream(Value):
    def tanh(self):
        t = math.tanh(self.data)
        out = type(self)(t, (self,), "tanh")

        def _backward():
            self.grad += 1 - t ** 2
        out._backward = _backward
        return out


class ValueTanhWithoutParents(Value):
    def tanh(self):
        t = math.tanh(self.data)
        out = type(self)(t, (), "tanh")

        def _backward():
            self.grad += (1 - t ** 2) * out.grad
        out._backward = _backward
        return out


class ValueTanhReturnsFloat(Value):
    def tanh(self):
        return math.tanh(self.data)


class ValueLogDerivativeIsLog(Value):
    def log(self):
        return self._unary(math.log(self.data), lambda a, t: math.log(a))


class ValueLogOverwrites(Value):
    def log(self):
        out = type(self)(math.log(self.data), (self,), "log")

        def _backward():
            self.grad = out.grad / self.data
        out._backward = _backward
        return out


def value_instance_not_class():
    return Value(1.0)


# --------------------------------------------------------------------------- wrong answers: 2.7
def derivatives_unchanged():
    return dict(GIVEN_DERIVATIVES)


def derivatives_half_product_rule():
    return {**GIVEN_DERIVATIVES, "swish": lambda x: x * _sigmoid(x) * (1 - _sigmoid(x))}


def derivatives_fixed_the_wrong_one():
    return {**GIVEN_DERIVATIVES, "softplus": lambda x: _sigmoid(-x)}


def derivatives_broke_a_right_one_too():
    fixed = repaired_derivatives()
    fixed["gaussian"] = lambda x: x * np.exp(-x ** 2 / 2)
    return fixed


def derivatives_only_the_fix():
    return repaired_derivatives()["swish"]


# --------------------------------------------------------------------------- wrong answers: 2.8
def newton_uphill(grad, hess, x):
    return x + np.linalg.solve(hess(x), grad(x))


def newton_multiplies_by_hessian(grad, hess, x):
    return x - hess(x) @ grad(x)


def newton_gradient_step(grad, hess, x):
    return x - grad(x)


def newton_diagonal_only(grad, hess, x):
    return x - grad(x) / np.diag(hess(x))


def newton_returns_step(grad, hess, x):
    return -np.linalg.solve(hess(x), grad(x))


def newton_in_place(grad, hess, x):
    x -= np.linalg.solve(hess(x), grad(x))
    return x


def newton_hessian_at_zero(grad, hess, x):
    return x - np.linalg.solve(hess(np.zeros_like(x)), grad(x))


def newton_scalar_division(grad, hess, x):
    return x - grad(x) / np.sum(hess(x))


# --------------------------------------------------------------------------- wrong answers: 2.9
def softmax_backward_diagonal_only(z, grad_s):
    s = softmax(z)
    return grad_s * s * (1 - s)


def softmax_backward_without_shared_term(z, grad_s):
    return softmax(z) * grad_s


def softmax_backward_whole_batch_sum(z, grad_s):
    s = softmax(z)
    return s * (grad_s - np.sum(grad_s * s))


def softmax_backward_unweighted_sum(z, grad_s):
    s = softmax(z)
    return s * (grad_s - np.sum(grad_s, axis=-1, keepdims=True))


def softmax_backward_wrong_sign(z, grad_s):
    return -softmax_backward(z, grad_s)


def softmax_backward_without_keepdims(z, grad_s):
    s = softmax(z)
    return s * (grad_s - np.sum(grad_s * s, axis=-1))


def softmax_backward_naive_softmax(z, grad_s):
    e = np.exp(z)
    s = e / e.sum(axis=-1, keepdims=True)
    return s * (grad_s - np.sum(grad_s * s, axis=-1, keepdims=True))


def softmax_backward_axis_zero(z, grad_s):
    s = softmax(z)
    return s * (grad_s - np.sum(grad_s * s, axis=0, keepdims=True))


def softmax_backward_missing_factor_s(z, grad_s):
    s = softmax(z)
    return grad_s - np.sum(grad_s * s, axis=-1, keepdims=True)


def softmax_backward_jacobian_of_one_row(z, grad_s):
    s = softmax(z)
    return (np.diag(s) - np.outer(s, s)) @ grad_s


# (wrong answer, a substring its failure message must contain)
WRONG_WITH_MESSAGES = {
    "2.1": [
        (gradient_forward_difference, "forward difference"),
        (gradient_divides_by_h, "exactly twice"),
        (gradient_all_entries_at_once, "one entry at a time"),
        (gradient_never_restores_x, "changed its argument number 2 in place"),
        (gradient_flattened, "laid out wrongly"),
        (gradient_fixed_step, "ignores its h argument"),
    ],
    "2.2": [
        (posterior_is_sensitivity, "that is the sensitivity"),
        (posterior_specificity_as_false_positive_rate, "1 - specificity"),
        (posterior_without_denominator, "Divide it by P(positive)"),
        (posterior_unweighted_false_positives, "share of healthy people"),
        (posterior_python_if, "truth value of an array"),
    ],
    "2.3": [
        (softmax_naive, "Subtract the largest logit"),
        (softmax_global_max, "not z.max()"),
        (softmax_wrong_axis, "each column sums to 1"),
        (softmax_without_keepdims, "keepdims=True"),
        (softmax_normalises_whole_batch, "the whole batch sums to 1"),
    ],
    "2.4": [
        (cross_entropy_via_log_softmax, "underflowed"),
        (cross_entropy_summed, "sum over the 4 examples"),
        (cross_entropy_column_indexing, "z[np.arange(N), y]"),
        (cross_entropy_per_example, "one loss per example"),
        (cross_entropy_lse_without_shift, "max shift"),
        (cross_entropy_negative, "sign is flipped"),
    ],
    "2.5": [
        (grad_f_one_route, "also reaches f through w"),
        (grad_f_no_inner_derivative, "inner derivative"),
        (grad_f_exp_sign, "minus sign"),
        (grad_f_swapped, "swapped"),
        (grad_f_du_dx_without_y, "not 2x"),
        (grad_f_only_dx, "should return 2 things"),
    ],
    "2.6": [
        (ValueTanhOverwrites, "(`+=`)"),
        (ValueTanhNotSquared, "square it"),
        (ValueTanhIgnoresUpstream, "multiply the local derivative by out.grad"),
        (ValueTanhWithoutParents, "never reached x"),
        (ValueTanhReturnsFloat, "must return a new Value"),
        (ValueLogDerivativeIsLog, "its derivative is 1 / a"),
        (ValueLogOverwrites, "only the route through log arrived"),
        (value_instance_not_class, "pass the class itself"),
    ],
    "2.7": [
        (derivatives_unchanged, "the planted bug is still there"),
        (derivatives_half_product_rule, "only the second term of the product rule"),
        (derivatives_fixed_the_wrong_one, "the one you were given for softplus was right"),
        (derivatives_broke_a_right_one_too, "the one you were given for gaussian was right"),
        (derivatives_only_the_fix, "should return a dict"),
    ],
    "2.8": [
        (newton_uphill, "goes uphill"),
        (newton_multiplies_by_hessian, "multiplies the gradient by the Hessian"),
        (newton_gradient_step, "plain gradient step"),
        (newton_diagonal_only, "diagonal of H only"),
        (newton_returns_step, "the step alone"),
        (newton_in_place, "in place"),
        (newton_hessian_at_zero, "newton_step(grad, hess, x)"),
        (newton_scalar_division, "newton_step(grad, hess, x)"),
    ],
    "2.9": [
        (softmax_backward_diagonal_only, "only the diagonal of the Jacobian"),
        (softmax_backward_without_shared_term, "shared denominator"),
        (softmax_backward_whole_batch_sum, "sums over the whole batch"),
        (softmax_backward_unweighted_sum, "weight each g_j by s_j"),
        (softmax_backward_wrong_sign, "sign is flipped"),
        (softmax_backward_without_keepdims, "keepdims=True"),
        (softmax_backward_naive_softmax, "NaN or infinity"),
        (softmax_backward_axis_zero, "axis 0"),
        (softmax_backward_missing_factor_s, "factor s_i is missing"),
        (softmax_backward_jacobian_of_one_row, "softmax_backward"),
    ],
}


class ValueStub(Value):
    """The generated exercise: tanh and log still raise NotImplementedError."""

    def tanh(self):
        raise NotImplementedError()

    def log(self):
        raise NotImplementedError()


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES
    stubs = {"2.6": ValueStub}


def test_half_written_value_class_names_the_missing_operation():
    class ValueWithoutLog(Value):
        def log(self):
            raise NotImplementedError()

    result = grade("2.6", ValueWithoutLog)
    assert not result.passed and "Value.log is not written yet" in result.message


def test_naive_softmax_is_rejected_without_leaking_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = grade("2.3", softmax_naive)
    assert not result.passed


def test_alternative_correct_answers_are_accepted():
    def tanh_from_exp(self):                       # tanh built from existing operations
        e = (self * 2.0).exp()
        return (e + -1.0) * (e + 1.0) ** -1

    class ValueComposedTanh(Value):
        def exp(self):
            return self._unary(math.exp(self.data), lambda a, t: t)

        def __pow__(self, k):
            return self._unary(self.data ** k, lambda a, t: k * a ** (k - 1))

        tanh = tanh_from_exp

    assert grade("2.6", ValueComposedTanh).passed
    assert grade("2.5", lambda x, y: np.array(grad_f(x, y))).passed
    assert grade("2.4", lambda z, y: np.mean(cross_entropy_per_example(z, y))).passed
    assert grade("2.1", lambda f, x, h=1e-5: numerical_gradient(f, x.copy(), h)).passed
    assert grade("2.8", lambda grad, hess, x: x - np.linalg.inv(hess(x)) @ grad(x)).passed

    def softmax_backward_by_jacobian(z, grad_s):
        rows = np.atleast_2d(z)
        out = [(np.diag(s) - np.outer(s, s)) @ g for s, g in zip(softmax(rows), np.atleast_2d(grad_s))]
        return np.array(out).reshape(z.shape)

    assert grade("2.9", softmax_backward_by_jacobian).passed


def test_posterior_draws_fresh_inputs_so_a_lookup_table_fails():
    seen = {}

    def posterior_recording(prior, sensitivity, specificity):
        seen[repr((prior, sensitivity, specificity))] = posterior(prior, sensitivity, specificity)
        return seen[repr((prior, sensitivity, specificity))]

    assert grade("2.2", posterior_recording).passed
    table = dict(seen)
    assert not grade("2.2", lambda *args: table[repr(args)]).passed


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '2.4': {
        'line 4:72: 0 -> -1':
            'the axis has length 1 (keepdims), so [:, 0] and [:, -1] are one column',
    },
}
