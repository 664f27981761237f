r"""Check a hand-written gradient against central differences.

A gradient check answers one question: *does my backward pass compute the
derivative of my forward pass?*  It nudges one entry of ``x`` at a time by
``+h`` and ``-h``, measures how the function changes,

.. math::

    \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h},

and compares the result with your analytic gradient through the relative error
:math:`|a - b| / \max(|a| + |b|, 10^{-8})`.  How to read the largest relative error:

- above ``1e-2``: wrong, the gradient is almost certainly incorrect;
- ``1e-4`` to ``1e-2``: suspicious;
- ``1e-7`` to ``1e-4``: acceptable for functions with kinks (ReLU, max),
  suspicious otherwise;
- below ``1e-7``: excellent.

Everything works in float64: in float32, round-off swamps the tiny differences
``f(x + h) - f(x - h)`` and hides real bugs.  ``x`` is perturbed *in place*, so ``f``
may ignore its argument and read ``x`` through a closure (a network's weight
array, say); every entry is restored even when ``f`` raises.

>>> import numpy as np
>>> from dlcourse_utils.gradcheck import check_gradient
>>> x = np.array([1.0, -2.0, 3.0])
>>> result = check_gradient(lambda x: np.sum(x**2), x, 2 * x)
>>> result.passed, result.verdict
(True, 'excellent')

This module needs only NumPy, so it works for NumPy, PyTorch and TensorFlow
code alike (:mod:`dlcourse_utils.torch_utils` wraps it for autograd).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GradCheckError",
    "GradCheckResult",
    "check_gradient",
    "check_sparse",
    "numerical_gradient",
    "numerical_gradient_array",
    "relative_error",
]

# Bands of the largest relative error, from the CS231n notes on gradient checking.
WRONG_ABOVE = 1e-2
SUSPICIOUS_ABOVE = 1e-4
EXCELLENT_BELOW = 1e-7

# Denominator floor of the relative error: with it 0 vs 0 gives 0, not 0/0.
RELATIVE_ERROR_FLOOR = 1e-8

Index = tuple[int, ...]


@dataclass(frozen=True, repr=False)
class GradCheckResult:
    """The outcome of a gradient check.

    Printing it gives a one-line summary; in a notebook it renders as a short
    Markdown paragraph. Its numbers are plain Python ``float`` and ``int``.
    """

    #: ``max_rel_error <= tol``.
    passed: bool
    #: The largest relative error over the checked entries (NaN when a gradient
    #: holds NaN or inf).
    max_rel_error: float
    #: Where in ``x`` that largest error occurs, e.g. ``(1, 2)`` for ``x[1, 2]``.
    worst_index: Index
    #: The numerical (central-difference) gradient at ``worst_index``.
    numerical: float
    #: Your analytic gradient at ``worst_index``.
    analytic: float
    #: How many entries of ``x`` were compared.
    num_checked: int
    #: The tolerance that ``max_rel_error`` was compared with.
    tol: float = 1e-6
    #: A hint about a likely cause of a failure that is not a wrong formula, or ``""``.
    note: str = ""

    def __post_init__(self) -> None:
        # Plain Python types, so that printing never shows ``np.float64(...)``.
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "max_rel_error", float(self.max_rel_error))
        object.__setattr__(self, "worst_index", tuple(int(i) for i in self.worst_index))
        object.__setattr__(self, "numerical", float(self.numerical))
        object.__setattr__(self, "analytic", float(self.analytic))
        object.__setattr__(self, "num_checked", int(self.num_checked))
        object.__setattr__(self, "tol", float(self.tol))

    @property
    def verdict(self) -> str:
        """The CS231n reading of ``max_rel_error``, in words."""
        err = self.max_rel_error
        if not err <= WRONG_ABOVE:  # also catches NaN
            return "wrong: the gradient is almost certainly incorrect"
        if err > SUSPICIOUS_ABOVE:
            return "suspicious"
        if err >= EXCELLENT_BELOW:
            return "acceptable for functions with kinks (ReLU, max), suspicious otherwise"
        return "excellent"

    def _parts(self) -> tuple[str, str, str]:
        status = "PASSED" if self.passed else "FAILED"
        entries = "entry" if self.num_checked == 1 else "entries"
        detail = (
            f"max relative error {self.max_rel_error:.2e} (tol {self.tol:g}) "
            f"at index {self.worst_index}: numerical {self.numerical:.8g}, "
            f"analytic {self.analytic:.8g}; {self.num_checked} {entries} checked"
        )
        verdict = self.verdict + (f" ({self.note})" if self.note else "")
        return status, detail, verdict

    def __str__(self) -> str:
        status, detail, verdict = self._parts()
        return f"gradient check {status}: {detail} -> {verdict}"

    def __repr__(self) -> str:
        # Rounded like __str__: full-precision round-off would differ between
        # machines and break notebooks whose stored outputs are compared.
        note = f", note={self.note!r}" if self.note else ""
        return (
            f"GradCheckResult(passed={self.passed}, max_rel_error={self.max_rel_error:.2e}, "
            f"worst_index={self.worst_index}, numerical={self.numerical:.8g}, "
            f"analytic={self.analytic:.8g}, num_checked={self.num_checked}, "
            f"tol={self.tol:g}{note})"
        )

    def _repr_markdown_(self) -> str:
        status, detail, verdict = self._parts()
        return f"**gradient check {status}**: {detail} &rarr; *{verdict}*"


class GradCheckError(AssertionError):
    """Raised by a check with ``raise_on_failure=True`` when it fails.

    The message is the one-line summary; the full :class:`GradCheckResult` is
    in the ``result`` attribute.
    """

    def __init__(self, result: GradCheckResult) -> None:
        super().__init__(str(result))
        self.result = result

    def __reduce__(self):  # keep it picklable despite the custom __init__
        return (type(self), (self.result,))


# ---------------------------------------------------------------------------
# Input validation: fail early, and say how to fix it.
# ---------------------------------------------------------------------------


def _require_float64(x: object) -> None:
    if not isinstance(x, np.ndarray):
        module = type(x).__module__.split(".")[0]
        if module in ("torch", "tensorflow", "keras"):
            raise TypeError(
                f"x must be a NumPy float64 array, got a {module} {type(x).__name__}. "
                "Check framework code against NumPy copies, e.g. "
                "dlcourse_utils.torch_utils.check_autograd for PyTorch."
            )
        raise TypeError(
            f"x must be a NumPy float64 array, got {type(x).__name__}. "
            "Fix: x = np.asarray(x, dtype=np.float64) (and let f read that array)."
        )
    if x.dtype != np.float64:
        raise TypeError(
            f"x must be a float64 array, got dtype {x.dtype}: float32 is too coarse "
            "for finite differences and integers cannot be nudged by h. "
            "Fix: x = x.astype(np.float64) (if f reads x through a closure, "
            "convert the array f reads)."
        )
    if x.size == 0:
        raise ValueError("x is empty: there is no gradient to check.")
    if not x.flags.writeable:
        raise ValueError(
            "x is read-only, but the check must nudge its entries in place. "
            "Fix: pass a writable array, e.g. x = x.copy()."
        )


def _require_positive(name: str, value: float) -> None:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")


def _as_float64_like(values: object, x: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != x.shape:
        raise ValueError(
            f"{name} has shape {array.shape} but x has shape {x.shape}; "
            "the gradient of a scalar with respect to x has exactly x's shape."
        )
    return array


def _float64_output(value: object) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"f must return real numbers, got {type(value).__name__} of dtype {array.dtype}."
        )
    return array.astype(np.float64)  # a copy: f may return a view of x


def _scalar_output(value: object) -> float:
    array = _float64_output(value)
    if array.ndim != 0:
        raise ValueError(
            f"f must return a scalar, but it returned an array of shape {array.shape}. "
            "Reduce it to the loss (e.g. return loss.mean()), or check an array-valued "
            "function with an upstream gradient: numerical_gradient_array(f, x, upstream) "
            "or check_gradient(f, x, analytic, upstream=upstream)."
        )
    return float(array)


# ---------------------------------------------------------------------------
# Central differences
# ---------------------------------------------------------------------------


def _partial_derivative(
    f: Callable[[np.ndarray], object],
    x: np.ndarray,
    index: Index,
    h: float,
    upstream: np.ndarray | None,
) -> tuple[float, float]:
    """One entry of the gradient (or of the vector-Jacobian product).

    Also returns an estimate of that entry's round-off error: each evaluation
    of ``f`` is off by about ``eps * |f|``, and the difference is divided by
    the small step.
    """
    original = x[index]  # a NumPy scalar: a copy, not a view
    x_plus, x_minus = original + h, original - h
    try:
        x[index] = x_plus
        f_plus = f(x)
        f_plus = _scalar_output(f_plus) if upstream is None else _float64_output(f_plus)
        x[index] = x_minus
        f_minus = f(x)
        f_minus = _scalar_output(f_minus) if upstream is None else _float64_output(f_minus)
    finally:
        x[index] = original  # bit-for-bit, even if f raised
    change = f_plus - f_minus
    size = np.abs(f_plus) + np.abs(f_minus)
    if upstream is not None:
        if np.shape(change) != upstream.shape:
            raise ValueError(
                f"f returned shape {np.shape(change)} but upstream has shape "
                f"{upstream.shape}; upstream is the gradient of the loss with respect "
                "to f's output, so the two shapes must match."
            )
        change = np.sum(change * upstream)
        size = np.sum(size * np.abs(upstream))
    # Divide by the step actually taken: x + h is rounded, and for large x the
    # rounded step differs from 2h by more than the accuracy we want.
    step = x_plus - x_minus
    return float(change / step), float(np.finfo(np.float64).eps * size / step)


def _numerical_at(
    f: Callable[[np.ndarray], object],
    x: np.ndarray,
    indices: Sequence[Index],
    h: float,
    upstream: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Numerical gradient at ``indices`` and its round-off, each (len(indices),)."""
    backup = x.copy()
    try:
        pairs = [_partial_derivative(f, x, index, h, upstream) for index in indices]
    except BaseException:
        x[...] = backup  # also undoes any change f itself made
        raise
    if x.tobytes() != backup.tobytes():
        x[...] = backup
        raise ValueError(
            "f changed x in place (for example x[x < 0] = 0, or x *= 2), so every "
            "evaluation saw a different x and the numerical gradient is meaningless. "
            "x has been restored; make f work on a copy (np.maximum(x, 0), x * 2)."
        )
    values = np.array([value for value, _ in pairs], dtype=np.float64)
    noise = np.array([noise for _, noise in pairs], dtype=np.float64)
    return values, noise


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function by central differences.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns a scalar. It may ignore its argument and read ``x``
        through a closure: ``x`` is modified in place, one entry at a time.
    x : numpy.ndarray, shape (...), float64
        The point to differentiate at. Restored exactly before returning,
        even if ``f`` raises.
    h : float
        The step. ``1e-5`` balances truncation error (large ``h``) against
        round-off (small ``h``) in float64.

    Returns
    -------
    numpy.ndarray, same shape as ``x``
        ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / 2h``.

    Raises
    ------
    TypeError
        If ``x`` is not a float64 array (the message shows the fix).
    ValueError
        If ``f`` does not return a scalar.
    """
    _require_float64(x)
    _require_positive("h", h)
    indices = list(np.ndindex(x.shape))
    return _numerical_at(f, x, indices, h, None)[0].reshape(x.shape)


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    upstream: np.ndarray,
    h: float = 1e-5,
) -> np.ndarray:
    """Vector-Jacobian product of an array function by central differences.

    This is how a layer's backward pass is checked: given the upstream
    gradient ``dout`` (the gradient of the loss with respect to the layer's
    output), the backward pass must return the gradient of
    ``np.sum(f(x) * dout)`` with respect to ``x``.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns an array of ``upstream``'s shape. ``x`` is modified in
        place, so ``f`` may read it through a closure.
    x : numpy.ndarray, shape (...), float64
        The point to differentiate at; restored exactly before returning.
    upstream : array_like, shape of ``f(x)``
        The upstream gradient ``dout``.
    h : float
        The step.

    Returns
    -------
    numpy.ndarray, same shape as ``x``
        The gradient of ``np.sum(f(x) * upstream)`` with respect to ``x``.

    Raises
    ------
    TypeError
        If ``x`` is not a float64 array.
    ValueError
        If ``f(x)`` and ``upstream`` differ in shape.
    """
    _require_float64(x)
    _require_positive("h", h)
    upstream = np.asarray(upstream, dtype=np.float64)
    indices = list(np.ndindex(x.shape))
    return _numerical_at(f, x, indices, h, upstream)[0].reshape(x.shape)


def relative_error(
    a: np.ndarray, b: np.ndarray, *, floor: float = RELATIVE_ERROR_FLOOR
) -> np.ndarray:
    r"""Elementwise relative error :math:`|a - b| / \max(|a| + |b|, \text{floor})`.

    The floor keeps ``0`` vs ``0`` at ``0`` instead of ``0/0``. The result
    lies in ``[0, 1]``, or is NaN where ``a`` or ``b`` is NaN or inf.

    A caveat: where the true gradient is exactly zero, the round-off in a
    numerical gradient (about ``1e-11`` for ``f`` of order one) is divided by
    the floor and can look large. Check such entries by their absolute error.

    Parameters
    ----------
    a, b : array_like, broadcastable shapes
        The two gradients.
    floor : float
        The smallest denominator.

    Returns
    -------
    numpy.ndarray, the broadcast shape of ``a`` and ``b``
        Relative errors in float64.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf and inf / inf give NaN
        return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def _diagnose(
    numerical: np.ndarray, analytic: np.ndarray, noise: np.ndarray, failing: np.ndarray
) -> str:
    """A hint for the two failures that are not bugs in the analytic gradient."""
    if np.all(numerical == 0) and np.any(analytic != 0):
        return (
            "the numerical gradient is exactly zero at every checked entry: "
            "does f read the array passed as x, not a copy of it?"
        )
    difference = np.abs(numerical - analytic)[failing]
    if failing.any() and np.all(difference <= noise[failing]):
        return (
            "but every entry over tol differs by less than the round-off of the numerical "
            f"gradient (about {noise[failing].max():.1e}), so the gradient is probably "
            "right and those entries are just tiny; compare them by absolute error"
        )
    return ""


def _compare(
    numerical: np.ndarray,
    noise: np.ndarray,
    analytic: np.ndarray,
    indices: Sequence[Index],
    tol: float,
    raise_on_failure: bool,
) -> GradCheckResult:
    """Summarise the comparison of flat (num_checked,) gradients."""
    errors = relative_error(numerical, analytic)  # (num_checked,)
    failing = ~(errors <= tol)  # NaN fails
    worst = int(np.argmax(np.where(np.isnan(errors), np.inf, errors)))
    max_rel_error = float(errors[worst])
    note = _diagnose(numerical, analytic, noise, failing)
    result = GradCheckResult(
        passed=bool(max_rel_error <= tol),  # False for NaN
        max_rel_error=max_rel_error,
        worst_index=indices[worst],
        numerical=numerical[worst],
        analytic=analytic[worst],
        num_checked=len(indices),
        tol=tol,
        note=note,
    )
    if raise_on_failure and not result.passed:
        raise GradCheckError(result)
    return result


def check_gradient(
    f: Callable[[np.ndarray], object],
    x: np.ndarray,
    analytic: np.ndarray,
    *,
    upstream: np.ndarray | None = None,
    h: float = 1e-5,
    tol: float = 1e-6,
    raise_on_failure: bool = False,
) -> GradCheckResult:
    """Compare an analytic gradient with the numerical one at every entry.

    Parameters
    ----------
    f : callable
        Without ``upstream``: ``f(x)`` returns a scalar (a loss). With
        ``upstream``: ``f(x)`` returns an array (a layer's output).
    x : numpy.ndarray, shape (...), float64
        The point to check at; perturbed in place and restored exactly.
    analytic : array_like, same shape as ``x``
        Your gradient: of ``f`` with respect to ``x``, or, with ``upstream``,
        of ``np.sum(f(x) * upstream)``.
    upstream : array_like, shape of ``f(x)``, optional
        The upstream gradient for an array-valued ``f``.
    h : float
        The central-difference step.
    tol : float
        The check passes when the largest relative error is at most ``tol``.
        Use about ``1e-4`` for functions with kinks such as ReLU.
    raise_on_failure : bool
        Raise :class:`GradCheckError` instead of returning a failed result.

    Returns
    -------
    GradCheckResult
        ``passed``, ``max_rel_error``, where the worst entry is and both values
        there; print it for a summary.

    Raises
    ------
    TypeError
        If ``x`` is not a float64 array.
    ValueError
        If ``analytic`` does not have ``x``'s shape, or ``f``'s output does not
        match what is expected.
    GradCheckError
        If the check fails and ``raise_on_failure`` is true.

    Examples
    --------
    >>> W = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> v = np.array([0.5, -1.0])
    >>> dout = np.array([1.0, 2.0])
    >>> check_gradient(lambda W: W @ v, W, np.outer(dout, v), upstream=dout).passed
    True
    """
    _require_float64(x)
    _require_positive("h", h)
    analytic = _as_float64_like(analytic, x, "analytic")
    if upstream is not None:
        upstream = np.asarray(upstream, dtype=np.float64)
    indices = list(np.ndindex(x.shape))  # row-major, like analytic.ravel()
    numerical, noise = _numerical_at(f, x, indices, h, upstream)
    return _compare(numerical, noise, analytic.ravel(), indices, tol, raise_on_failure)


def check_sparse(
    f: Callable[[np.ndarray], object],
    x: np.ndarray,
    analytic: np.ndarray,
    *,
    num_checks: int = 10,
    seed: int = 0,
    upstream: np.ndarray | None = None,
    h: float = 1e-5,
    tol: float = 1e-6,
    raise_on_failure: bool = False,
) -> GradCheckResult:
    """Like :func:`check_gradient`, but only at ``num_checks`` random entries.

    Each entry costs two evaluations of ``f``, so checking every entry of a big
    weight matrix is slow; a random sample finds most bugs, which tend to
    affect many entries. The entries are distinct and drawn from their own
    generator seeded with ``seed``: the same seed checks the same entries,
    and the global NumPy random state is left alone.

    Parameters
    ----------
    f, x, analytic, upstream, h, tol, raise_on_failure
        As in :func:`check_gradient`.
    num_checks : int
        How many entries to check; all of them if ``x`` has fewer.
    seed : int
        Chooses the entries.

    Returns
    -------
    GradCheckResult
        With ``num_checked == min(num_checks, x.size)``.
    """
    _require_float64(x)
    _require_positive("h", h)
    if int(num_checks) < 1:
        raise ValueError(f"num_checks must be at least 1, got {num_checks!r}.")
    analytic = _as_float64_like(analytic, x, "analytic")
    if upstream is not None:
        upstream = np.asarray(upstream, dtype=np.float64)
    rng = np.random.default_rng(seed)
    flat = rng.choice(x.size, size=min(int(num_checks), x.size), replace=False)
    indices = [tuple(int(i) for i in np.unravel_index(k, x.shape)) for k in flat]
    numerical, noise = _numerical_at(f, x, indices, h, upstream)
    analytic_at = np.array([analytic[index] for index in indices], dtype=np.float64)
    return _compare(numerical, noise, analytic_at, indices, tol, raise_on_failure)
