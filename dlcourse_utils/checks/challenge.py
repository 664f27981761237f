"""Budgeted training challenges: the check, not the learner, owns the data and the clock.

A challenge exercise asks for a function ``train(data) -> model``. Its grader

1. builds a :class:`TrainingData` from the training examples (the learner's function
   never receives held-out data);
2. calls ``train(data)`` through :func:`run_challenge`, with every data set loader of
   :mod:`dlcourse_utils.data` refusing to load (so the test split cannot be fetched
   from inside), a wall clock running, and every example handed out counted;
3. counts the parameters *and buffers* of what came back (:func:`count_parameters`:
   arrays kept in a closure or as a plain attribute count too, so a model that
   memorises the training set pays for it);
4. scores the model on held-out examples.

A learner iterates in the notebook on a validation split the notebook carves from the
training examples (:func:`validation_split`), never on the test set.

Grader sketch::

    budget = Budget(examples=30 * 600, parameters=1_000, seconds=30)
    data = TrainingData(X_train, y_train, budget=budget)
    model, report = run_challenge(fn, data, budget, name="train_moons")
    accuracy = ...score model on X_test...
    # report.examples, report.parameters, report.seconds for the verdict
"""
from __future__ import annotations

import time
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from .core import CheckFailed, call

__all__ = ["Budget", "BudgetExceeded", "Report", "TrainingData", "challenge_data", "count_parameters",
           "provides_data", "run_challenge", "torch_module", "validation_split"]


class BudgetExceeded(RuntimeError):
    """Raised inside the learner's ``train`` when it asks for more examples than the budget."""


@dataclass(frozen=True)
class Budget:
    """What one call of ``train(data)`` may spend. ``None`` means no limit on that count.

    ``examples``: examples drawn from :class:`TrainingData` in all (epochs × examples per
    epoch); ``parameters``: numbers stored in the returned model (parameters, buffers and
    any other arrays it holds); ``seconds``: wall time of the call.
    """

    examples: int | None = None
    parameters: int | None = None
    seconds: float | None = None

    def describe(self) -> str:
        parts = []
        if self.examples is not None:
            parts.append(f"{self.examples:,} training examples drawn")
        if self.parameters is not None:
            parts.append(f"{self.parameters:,} stored numbers (parameters and buffers)")
        if self.seconds is not None:
            parts.append(f"{self.seconds:g} s of training")
        return ", ".join(parts) or "no limits"


@dataclass(frozen=True)
class Report:
    """What one call of ``train(data)`` spent."""

    examples: int
    parameters: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.examples:,} examples drawn, {self.parameters:,} stored numbers, {self.seconds:.1f} s"


class TrainingData:
    """The training examples of a challenge, handed out batch by batch and counted.

    Draw examples with :meth:`batches` (one pass over the data in mini-batches) or
    :meth:`sample` (one random batch). Every example handed out counts against the
    budget; asking for more raises :class:`BudgetExceeded`. Batches are copies: change
    them as you like. ``tensors=True`` gives PyTorch tensors (``float32`` inputs,
    ``int64`` integer labels) instead of NumPy arrays.

    >>> data = TrainingData(np.zeros((10, 2)), np.arange(10) % 2, budget=Budget(examples=20))
    >>> [len(xb) for xb, yb in data.batches(4, shuffle=False)]
    [4, 4, 2]
    >>> data.examples_seen, data.examples_left
    (10, 10)
    """

    def __init__(self, X: Any, y: Any, *, budget: Budget | None = None, name: str = "the training data") -> None:
        X, y = np.array(X, copy=True), np.array(y, copy=True)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} inputs but {len(y)} targets")
        X.setflags(write=False)
        y.setflags(write=False)
        self._X, self._y = X, y
        self._limit = None if budget is None else budget.examples
        self._seen = 0
        self.exceeded = False
        self.name = name

    # -- what the learner may look at --------------------------------------------------
    def __len__(self) -> int:
        return len(self._X)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input example, e.g. ``(28, 28)``."""
        return tuple(self._X.shape[1:])

    @property
    def num_classes(self) -> int | None:
        """``max(label) + 1`` for integer labels, else None."""
        return int(self._y.max()) + 1 if np.issubdtype(self._y.dtype, np.integer) else None

    @property
    def examples_seen(self) -> int:
        return self._seen

    @property
    def examples_left(self) -> int | None:
        return None if self._limit is None else self._limit - self._seen

    def __repr__(self) -> str:
        budget = "no limit" if self._limit is None else f"{self._limit:,} examples in all"
        return (f"TrainingData({len(self):,} examples of shape {self.input_shape}, "
                f"{self._seen:,} drawn so far, budget {budget})")

    # -- drawing examples ----------------------------------------------------------------
    def _take(self, index: np.ndarray, tensors: bool) -> tuple[Any, Any]:
        if self._limit is not None and self._seen + len(index) > self._limit:
            self.exceeded = True
            raise BudgetExceeded(
                f"{self.name} has a budget of {self._limit:,} examples in all and {self._seen:,} are "
                f"already drawn; this batch of {len(index)} would go over it. Train for fewer "
                "epochs or steps, or on smaller batches."
            )
        self._seen += len(index)
        xb, yb = self._X[index].copy(), self._y[index].copy()
        if not tensors:
            return xb, yb
        import torch

        x_t = torch.as_tensor(xb, dtype=torch.float32)
        y_t = torch.as_tensor(yb, dtype=torch.int64 if np.issubdtype(yb.dtype, np.integer) else torch.float32)
        return x_t, y_t

    def batches(self, batch_size: int, *, shuffle: bool = True, seed: int | None = None,
                tensors: bool = False) -> Iterator[tuple[Any, Any]]:
        """One pass (epoch) over the examples in mini-batches of ``batch_size`` (the last may be smaller)."""
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        for start in range(0, len(self), int(batch_size)):
            yield self._take(order[start:start + int(batch_size)], tensors)

    def sample(self, size: int, *, seed: int | np.random.Generator | None = None,
               tensors: bool = False) -> tuple[Any, Any]:
        """``size`` examples drawn at random (without replacement)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return self._take(rng.choice(len(self), size=int(size), replace=False), tensors)

    # -- what it refuses -----------------------------------------------------------------
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            f"{self.name} is not an array: draw examples with data.batches(batch_size) or "
            "data.sample(size), so the check can count them."
        )

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"iterate over {self.name} with `for xb, yb in data.batches(batch_size):` (one epoch), "
            "so the check can count the examples."
        )

    def __deepcopy__(self, memo: dict) -> "TrainingData":
        return self  # the check counts on this very object; its arrays are read-only


def validation_split(X: Any, y: Any, fraction: float = 0.2, *, seed: int = 0) -> tuple[tuple, tuple]:
    """Split training examples into (train, validation) at random: iterate on the validation part.

    >>> (Xt, yt), (Xv, yv) = validation_split(np.arange(10), np.arange(10), 0.2)
    >>> len(Xt), len(Xv)
    (8, 2)
    """
    X, y = np.asarray(X), np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(X))
    cut = len(X) - int(round(fraction * len(X)))
    return (X[order[:cut]], y[order[:cut]]), (X[order[cut:]], y[order[cut:]])


# --------------------------------------------------------------------------- the notebook's data
_PROVIDERS: dict[str, Callable[[], tuple[TrainingData, tuple[Any, Any]]]] = {}


def provides_data(exercise_id: str) -> Callable:
    """Register the decorated function as the source of a challenge's data.

    It takes no arguments and returns ``(TrainingData, (X_val, y_val))``: the very training
    examples and budget the check hands to ``train``, and a validation split carved from the
    training set. The check scores on a test split that neither contains.
    """
    def register(provider: Callable[[], tuple[TrainingData, tuple[Any, Any]]]) -> Callable:
        _PROVIDERS[exercise_id] = provider
        return provider

    return register


def challenge_data(exercise_id: str) -> tuple[TrainingData, tuple[Any, Any]]:
    """The training data of a challenge (counted, as the check will count it) and its validation split.

    In a challenge exercise::

        data, (X_val, y_val) = challenge_data("5.6")
        model = train(data)              # what check("5.6", train) will do, with a fresh copy
        ...measure model on X_val, y_val; change train; repeat...

    Each call gives a fresh :class:`TrainingData` with the whole budget unspent.
    """
    from .core import _load_chapter, _normalise

    key = _normalise(exercise_id)
    _load_chapter(int(key.split(".")[0]))
    if key not in _PROVIDERS:
        known = ", ".join(sorted(_PROVIDERS, key=lambda k: tuple(map(int, k.split("."))))) or "none"
        raise KeyError(f"exercise {key} is not a training challenge; the challenges are: {known}")
    return _PROVIDERS[key]()


# --------------------------------------------------------------------------- counting
def _has(obj: Any, name: str) -> bool:
    """``hasattr`` that also survives attribute lookups raising other errors (TensorFlow's trackers do)."""
    try:
        return hasattr(obj, name)
    except Exception:  # noqa: BLE001
        return False


def count_parameters(model: Any) -> int:
    """Numbers stored in ``model``: parameters, buffers and any other arrays it holds.

    Understands PyTorch modules (parameters, buffers, tensors kept as plain attributes),
    Keras models (all weights), NumPy arrays and tensors, containers, objects'
    attributes, and functions (arrays captured in a closure or bound to a method).
    Each array is counted once, however often it is reachable.
    """
    seen: set[int] = set()

    def walk(obj: Any, depth: int) -> int:
        if obj is None or depth > 12 or id(obj) in seen:
            return 0
        if isinstance(obj, (str, bytes, int, float, bool, complex, type, types.ModuleType)):
            return 0
        seen.add(id(obj))
        if isinstance(obj, TrainingData):  # keeping the training data is storing it
            return int(obj._X.size + obj._y.size)
        if isinstance(obj, np.ndarray):
            return int(obj.size) if obj.dtype != object else sum(walk(v, depth + 1) for v in obj.ravel())
        if _has(obj, "numel") and _has(obj, "detach"):  # a torch tensor or parameter
            return int(obj.numel())
        if _has(obj, "weights") and _has(obj, "count_params"):  # a Keras model or layer
            # Its weights once (Keras' own tracking lists reach each layer several times), plus
            # NumPy arrays kept on the model as attributes or inside attribute containers.
            kept = 0
            for value in vars(obj).values():
                items = (value.values() if isinstance(value, dict)
                         else value if isinstance(value, (list, tuple)) else [value])
                for item in items:
                    if isinstance(item, np.ndarray) and id(item) not in seen:
                        seen.add(id(item))
                        kept += int(item.size)
            return sum(int(np.prod(w.shape)) for w in obj.weights) + kept
        if isinstance(obj, dict):
            return sum(walk(v, depth + 1) for v in obj.values())
        if isinstance(obj, (list, tuple, set, frozenset)):
            return sum(walk(v, depth + 1) for v in obj)
        if isinstance(obj, (types.FunctionType, types.MethodType, types.LambdaType)):
            total = walk(getattr(obj, "__self__", None), depth + 1)
            func = getattr(obj, "__func__", obj)
            for cell in getattr(func, "__closure__", None) or ():
                try:
                    total += walk(cell.cell_contents, depth + 1)
                except ValueError:  # an empty cell
                    pass
            total += walk(getattr(func, "__defaults__", None), depth + 1)
            code, scope = getattr(func, "__code__", None), getattr(func, "__globals__", {})
            for global_name in getattr(code, "co_names", ()):  # notebook globals it reads, e.g. X_train
                value = scope.get(global_name)
                if isinstance(value, (np.ndarray, dict, list, tuple, types.FunctionType)) or _has(value, "numel"):
                    total += walk(value, depth + 1)
            return total
        if _has(obj, "named_parameters") and _has(obj, "buffers"):  # a torch Module
            total = 0
            for tensor in [*obj.parameters(), *obj.buffers()]:
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    total += int(tensor.numel())
            for module in obj.modules():
                total += walk_attributes(module, depth)
            return total
        return walk_attributes(obj, depth)

    def walk_attributes(obj: Any, depth: int) -> int:
        attributes = getattr(obj, "__dict__", None)
        if not isinstance(attributes, dict):
            return 0
        total = 0
        for name, value in attributes.items():
            if name in ("_parameters", "_buffers", "_modules") or isinstance(
                    value, (type, types.BuiltinFunctionType, types.ModuleType)):
                continue
            total += walk(value, depth + 1)
        return total

    return walk(model, 0)


# --------------------------------------------------------------------------- running
def torch_module(name: str) -> Callable[[Any], None]:
    """A ``check_model`` for :func:`run_challenge` that requires a PyTorch ``nn.Module``."""
    def check(model: Any) -> None:
        from torch import nn

        if not isinstance(model, nn.Module):
            raise CheckFailed(f"{name} should return the trained PyTorch model (an nn.Module), got "
                              f"{type(model).__name__}.")

    return check


def run_challenge(train: Callable, data: TrainingData, budget: Budget, *, name: str = "train",
                  check_model: Callable[[Any], None] | None = None) -> tuple[Any, Report]:
    """Call ``train(data)`` under ``budget``; return what it returned and what it spent.

    Data set loaders refuse to load during the call. Raises :class:`CheckFailed` when the
    function fails, returns nothing, draws more examples than allowed, stores more
    numbers than allowed, or runs longer than allowed. ``check_model`` may reject a
    returned value of the wrong kind before it is counted.
    """
    from .. import data as datasets

    if _has(train, "parameters") or (_has(train, "weights") and _has(train, "count_params")):
        raise CheckFailed(
            f"pass the function {name} itself, not a trained model: the check trains it on the examples it "
            "hands over, under the budget, and then measures the model it returns."
        )
    began = time.perf_counter()
    try:
        with datasets.loaders_blocked(
                f"{name} must train on the examples the check hands it ({len(data):,} of them) and never "
                "load a data set itself; the test split stays unseen until the check scores the model"):
            model = call(train, data, name=name, allow_mutation=True)
    except CheckFailed as failure:
        if data.exceeded:
            raise CheckFailed(
                f"{name} asked for more than its budget of {budget.examples:,} training examples "
                f"({data.examples_seen:,} drawn before that). Fit the budget: fewer epochs or steps.",
                advice="Count before you loop: epochs × examples per epoch must stay within the "
                       "budget. Spend it on a better model or learning rate, not on more passes.",
            ) from None
        raise failure
    seconds = time.perf_counter() - began
    if model is None:
        raise CheckFailed(f"{name}(data) returned None: return the trained model at the end.")
    if check_model is not None:
        check_model(model)
    parameters = count_parameters(model)
    report = Report(data.examples_seen, parameters, seconds)
    if data.examples_seen == 0:
        raise CheckFailed(
            f"{name} drew no training examples from `data`: train on them with "
            "`for xb, yb in data.batches(batch_size):` inside your loop over epochs."
        )
    if budget.parameters is not None and parameters > budget.parameters:
        raise CheckFailed(
            f"the model {name} returned stores {parameters:,} numbers (parameters, buffers and any arrays it "
            f"keeps); the budget is {budget.parameters:,}. Use fewer or narrower layers, and do not keep "
            "training examples inside the model.",
            advice="Count a layer's parameters before you build it: a dense layer n_in → n_out has "
                   "n_in·n_out + n_out. Spend the budget where the chapter showed it matters most.",
        )
    if budget.seconds is not None and seconds > budget.seconds:
        raise CheckFailed(
            f"{name} took {seconds:.1f} s; the budget is {budget.seconds:g} s on this machine. Train a "
            "smaller model or for fewer steps (and run nothing heavy alongside)."
        )
    return model, report
