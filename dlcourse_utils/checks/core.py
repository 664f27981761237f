"""The self-grading engine behind every exercise notebook.

A learner writes a function in an exercise cell and runs ``check("1.2", sigmoid)``
in the cell below. The engine calls the chapter's grader for that exercise, which
calls the learner's code on test inputs and compares the answers with reference
values. The learner sees one line: passed, or a specific reason (wrong shape,
wrong dtype, wrong value with expected and actual, an exception with the line it
came from). The kernel never crashes: every error is caught and reported.

Graders live in ``dlcourse_utils/checks/chNN.py``, one module per chapter, and are
registered with the :func:`exercise` decorator. They use :func:`call` to run
learner code, the ``expect_*`` helpers to compare results, and :func:`diagnose` to
name the bug when a wrong answer equals what a known mistake produces; each raises
:class:`CheckFailed` with a message written for the learner.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import importlib
import json
import os
import pkgutil
import re
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

#: Set to ``1`` to make a failing :func:`check` raise (used by the test suite and CI).
STRICT_ENV = "DLCOURSE_CHECKS_STRICT"
#: Folder holding the learner's progress record (default ``~/.dlcourse``).
HOME_ENV = "DLCOURSE_HOME"
#: The book's one dtype policy, quoted by every check that refuses a dtype.
DTYPE_POLICY = (
    "the book computes NumPy answers in float64 (NumPy's default) and PyTorch answers in float32 "
    "(PyTorch's default), with integer labels and indices; checks compare at that precision"
)


class CheckFailed(AssertionError):
    """A learner's answer is wrong; the message says why, in the learner's terms.

    ``advice``, when the grader recognised the mistake, is what the next :func:`hint`
    says about it (instead of the next general hint on the ladder).
    """

    def __init__(self, message: str, advice: str = "") -> None:
        super().__init__(message)
        self.advice = advice


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its id (``"1.2"``), title, grader and hint ladder."""

    id: str
    title: str
    grader: Callable[[Any], None]
    hints: tuple[str, ...]
    kind: str = "practice"

    @property
    def chapter(self) -> int:
        return int(self.id.split(".")[0])


@dataclass(frozen=True)
class Result:
    """The verdict of one check. ``str(result)`` is what the learner reads."""

    exercise_id: str
    title: str
    passed: bool
    message: str = ""
    advice: str = ""

    def __str__(self) -> str:
        head = f"Exercise {self.exercise_id} ({self.title})"
        if self.passed:
            return f"✅ {head}: passed."
        return (
            f"❌ {head}: {self.message}\n"
            f"   Stuck? Run hint({self.exercise_id!r}) for a hint."
        )

    def __bool__(self) -> bool:
        return self.passed


_REGISTRY: dict[str, Exercise] = {}
_HINTS_SHOWN: dict[str, int] = {}
#: What the last failed check of an exercise recognised, waiting for the next hint().
_PENDING_ADVICE: dict[str, str] = {}
#: The reference solutions, generated from solutions/ by ``tools/notebooks.py exercises``.
SOLUTIONS_FILE = Path(__file__).with_name("solutions.json")


# --------------------------------------------------------------------------- registry
#: What kind of work an exercise asks for (its heading names the last three):
#: ``practice`` writes down what the chapter showed; ``transfer`` applies the chapter's idea
#: somewhere the chapter did not go; ``debug`` finds a planted bug; ``challenge`` trains a model
#: under a budget, on data the check hands over, scored on examples it never sees.
KINDS = ("practice", "transfer", "debug", "challenge")


def exercise(exercise_id: str, title: str, hints: Iterable[str], kind: str = "practice") -> Callable:
    """Register the decorated function as the grader of ``exercise_id``.

    The grader takes the learner's answer and returns nothing when it is right;
    otherwise it raises :class:`CheckFailed`. At least two hints are required;
    ``kind`` is one of :data:`KINDS`.
    """
    hints = tuple(hints)
    if len(hints) < 2:
        raise ValueError(f"exercise {exercise_id} needs at least two hints")
    if kind not in KINDS:
        raise ValueError(f"exercise {exercise_id}: kind {kind!r} is not one of {KINDS}")

    def register(grader: Callable[[Any], None]) -> Callable[[Any], None]:
        _REGISTRY[_normalise(exercise_id)] = Exercise(
            _normalise(exercise_id), title, grader, hints, kind
        )
        return grader

    return register


def _normalise(exercise_id: str) -> str:
    try:
        chapter, number = str(exercise_id).strip().split(".")
        return f"{int(chapter)}.{int(number)}"
    except ValueError:
        raise ValueError(
            f"{exercise_id!r} is not an exercise id: ids look like '1.2' "
            "(chapter 1, exercise 2), as written in the check cell."
        ) from None


def _chapter_modules() -> list[str]:
    package = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(package)]) if re.fullmatch(r"ch\d\d", m.name))


def _load_chapter(chapter: int) -> None:
    name = f"ch{chapter:02d}"
    if name in _chapter_modules():
        importlib.import_module(f"{__package__}.{name}")


def get_exercise(exercise_id: str) -> Exercise:
    """Return the registered :class:`Exercise` for an id such as ``"1.2"``."""
    key = _normalise(exercise_id)
    _load_chapter(int(key.split(".")[0]))
    if key not in _REGISTRY:
        known = sorted((e for e in _REGISTRY if e.split(".")[0] == key.split(".")[0]), key=_sort_key)
        listing = ", ".join(known) if known else "none"
        raise ValueError(f"There is no exercise {key}. Exercises of this chapter: {listing}.")
    return _REGISTRY[key]


def all_exercises() -> list[Exercise]:
    """Every exercise of every chapter, in order."""
    for name in _chapter_modules():
        importlib.import_module(f"{__package__}.{name}")
    return [_REGISTRY[k] for k in sorted(_REGISTRY, key=_sort_key)]


def _sort_key(exercise_id: str) -> tuple[int, int]:
    chapter, number = exercise_id.split(".")
    return int(chapter), int(number)


# --------------------------------------------------------------------------- grading
def grade(exercise_id: str, answer: Any) -> Result:
    """Grade ``answer`` silently and return the :class:`Result` (used by tests)."""
    ex = get_exercise(exercise_id)
    try:
        ex.grader(answer)
    except CheckFailed as failure:
        return Result(ex.id, ex.title, False, str(failure), getattr(failure, "advice", ""))
    except Exception as error:  # a grader tripping over a malformed answer
        return Result(
            ex.id, ex.title, False,
            f"could not grade this answer ({type(error).__name__}: {error}). "
            "Check that you passed the object the exercise asks for.",
        )
    return Result(ex.id, ex.title, True)


def _known_or_say_so(exercise_id: str) -> Exercise | None:
    """The exercise, or None after printing one line that lists the ids that exist."""
    try:
        return get_exercise(exercise_id)
    except ValueError as error:
        print(f"⚠️ {error}")
        return None


def check(exercise_id: str, answer: Any) -> None:
    """Grade an exercise in place and print the verdict.

    Parameters
    ----------
    exercise_id : str
        The id printed in the exercise, e.g. ``"1.2"``.
    answer : object
        What the exercise asks for: usually the function you wrote.
    """
    if _known_or_say_so(exercise_id) is None:
        if os.environ.get(STRICT_ENV, "") not in ("", "0"):
            raise CheckFailed(f"unknown exercise id {exercise_id!r}")
        return
    result = grade(exercise_id, answer)
    print(result)
    if result.passed:
        _PENDING_ADVICE.pop(result.exercise_id, None)
        _record_pass(result.exercise_id)
    else:
        if result.advice:
            _PENDING_ADVICE[result.exercise_id] = result.advice
        else:
            _PENDING_ADVICE.pop(result.exercise_id, None)
        if os.environ.get(STRICT_ENV, "") not in ("", "0"):
            raise CheckFailed(str(result))


def hint(exercise_id: str, level: int | None = None, *, reveal: bool = False) -> None:
    """Print the next hint for an exercise (or hint number ``level``).

    After a failed :func:`check` that recognised your mistake, the next hint is about
    that mistake; after that, hints go on along the ladder, from a gentle nudge to
    nearly the answer. The worked solution is shown only when you ask for it:
    ``hint("3.5", reveal=True)`` or ``solution("3.5")``.
    """
    ex = _known_or_say_so(exercise_id)
    if ex is None:
        return
    if reveal:
        solution(ex.id)
        return
    if level is None and ex.id in _PENDING_ADVICE:
        advice = _PENDING_ADVICE.pop(ex.id)
        print(f"💡 About what your last check found in exercise {ex.id} ({ex.title}): {advice}\n"
              f"   Run hint({ex.id!r}) again for the next general hint.")
        return
    if level is None:
        level = _HINTS_SHOWN.get(ex.id, 0) + 1
    if level > len(ex.hints):
        print(
            f"No more hints for exercise {ex.id} ({ex.title}): you have seen all "
            f"{len(ex.hints)}. To see a worked answer, run solution({ex.id!r})."
        )
        return
    if level < 1:
        print(f"⚠️ Hint levels start at 1; exercise {ex.id} has hints 1 to {len(ex.hints)}.")
        return
    _HINTS_SHOWN[ex.id] = max(level, _HINTS_SHOWN.get(ex.id, 0))
    print(f"💡 Hint {level} of {len(ex.hints)} for exercise {ex.id} ({ex.title}): {ex.hints[level - 1]}")


def _solutions() -> dict[str, str]:
    try:
        return json.loads(SOLUTIONS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def solution(exercise_id: str) -> str | None:
    """Print the reference solution of an exercise, from the chapter's solutions notebook.

    Try the exercise first: a solution read before you have struggled with the problem
    teaches much less than one read after. Returns the code (None for an unknown id).
    """
    ex = _known_or_say_so(exercise_id)
    if ex is None:
        return None
    code = _solutions().get(ex.id)
    if code is None:
        print(f"⚠️ No stored solution for exercise {ex.id}; it is in solutions/ of the course repository.")
        return None
    print(f"📖 A worked solution for exercise {ex.id} ({ex.title}), from the solutions notebook:\n\n{code}")
    return _SilentText(code)


class _SilentText(str):
    """The solution's code as a string that a notebook does not echo a second time."""

    def _ipython_display_(self) -> None:
        pass


# --------------------------------------------------------------------------- progress
def _progress_path() -> Path:
    home = os.environ.get(HOME_ENV) or str(Path.home() / ".dlcourse")
    return Path(home) / "progress.json"


def _read_progress() -> dict[str, str]:
    path = _progress_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        passed = data["passed"]
        if not isinstance(passed, dict):
            raise ValueError("'passed' is not a mapping")
        return {str(k): str(v) for k, v in passed.items()}
    except (ValueError, KeyError, TypeError) as error:
        backup = path.with_suffix(".json.corrupt")
        os.replace(path, backup)
        warnings.warn(
            f"Your progress record {path} was unreadable ({error}); it was moved to "
            f"{backup} and a new record was started.",
            stacklevel=3,
        )
        return {}


def _record_pass(exercise_id: str) -> None:
    try:
        passed = _read_progress()
        passed.setdefault(exercise_id, _dt.datetime.now().isoformat(timespec="seconds"))
        path = _progress_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".progress-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"passed": passed}, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)  # atomic: a crash never leaves half a record
    except OSError as error:  # a read-only home must not break the exercise
        warnings.warn(f"Could not save your progress ({error}).", stacklevel=3)


class Progress(dict):
    """``{chapter: {"done": [...], "todo": [...]}}``, shown as the progress table.

    :func:`progress` prints the table itself, so when a notebook cell ends with
    ``progress()`` the returned value is not displayed again; shown later (``p``), it
    prints the table.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._just_printed = False

    def table(self) -> str:
        lines = []
        for number, row in self.items():
            total = len(row["done"]) + len(row["todo"])
            bar = "■" * len(row["done"]) + "□" * len(row["todo"])
            todo = f" — still to do: {', '.join(row['todo'])}" if row["todo"] else " — complete 🎉"
            lines.append(f"Chapter {number:>2}: {bar} {len(row['done'])}/{total}{todo}")
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        if self._just_printed:
            self._just_printed = False
            return
        print(self.table())


def progress(chapter: int | None = None) -> Progress:
    """Print which exercises you have passed, chapter by chapter.

    Returns a :class:`Progress`, a dict ``{chapter: {"done": [...], "todo": [...]}}``.
    """
    passed = _read_progress()
    table = Progress()
    for ex in all_exercises():
        if chapter is not None and ex.chapter != chapter:
            continue
        row = table.setdefault(ex.chapter, {"done": [], "todo": []})
        row["done" if ex.id in passed else "todo"].append(ex.id)
    if table:
        print(table.table())
    else:
        print(f"⚠️ Chapter {chapter} has no exercises." if chapter is not None else "No exercises found.")
    table._just_printed = True
    return table


# --------------------------------------------------------------------------- helpers for graders
def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, threshold=8, edgeitems=2, separator=", ")
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _distinct(got: Any, expected: Any, shown_got: str, shown_expected: str) -> tuple[str, str]:
    """Renderings of two different numbers that do not read the same ("3.0001" vs "3.0001").

    Adds digits until they differ; a float32 answer is named as such, since float32
    holds only about 7 significant digits.
    """
    if shown_got != shown_expected:
        return shown_got, shown_expected
    try:
        a = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got)
        b = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        return shown_got, shown_expected
    if a.ndim or b.ndim:
        return shown_got, shown_expected
    for digits in (10, 17):
        shown_got, shown_expected = f"{float(a):.{digits}g}", f"{float(b):.{digits}g}"
        if shown_got != shown_expected:
            break
    if a.dtype == np.float32:
        shown_got += f" (float32, which keeps only about 7 significant digits; {DTYPE_POLICY})"
    return shown_got, shown_expected


def _learner_line(error: BaseException) -> str:
    """Where in the learner's own cell the exception came from, if we can tell."""
    frames = traceback.extract_tb(error.__traceback__)
    here = str(Path(__file__).parent.parent)  # dlcourse_utils: never the learner's code
    own = [f for f in frames if not f.filename.startswith(here) and "site-packages" not in f.filename]
    if not own:
        return ""
    frame = own[-1]
    code = f": {frame.line.strip()}" if frame.line else ""
    return f" (in {frame.name}, line {frame.lineno}{code})"


def call(fn: Any, *args: Any, name: str | None = None, allow_mutation: bool = False, **kwargs: Any) -> Any:
    """Call the learner's ``fn`` and turn any problem into a :class:`CheckFailed`.

    Arguments are deep-copied, so learner code cannot corrupt the grader's data;
    unless ``allow_mutation``, changing an argument in place is reported as a bug.
    """
    label = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise CheckFailed(
            f"expected a function, got {type(fn).__name__}. Pass the function itself "
            f"(no parentheses), e.g. check('…', {label})."
        )
    shown = ", ".join([*(_short(a) for a in args), *(f"{k}={_short(v)}" for k, v in kwargs.items())])
    copies = copy.deepcopy(args), copy.deepcopy(kwargs)
    try:
        out = fn(*copies[0], **copies[1])
    except NotImplementedError:
        raise CheckFailed(
            f"{label} is not written yet: replace `raise NotImplementedError` with your code."
        ) from None
    except Exception as error:
        raise CheckFailed(
            f"calling {label}({shown}) raised {type(error).__name__}: {error}{_learner_line(error)}"
        ) from None
    if not allow_mutation:
        given = [*((f"argument number {i + 1}", a, b) for i, (a, b) in enumerate(zip(args, copies[0]))),
                 *((f"argument {k}=", v, copies[1][k]) for k, v in kwargs.items())]
        for what, before, after in given:
            where = _changed(before, after)
            if where is not None:
                inside = f" (at {what.rstrip('=')}{where})" if where else ""
                raise CheckFailed(
                    f"{label} changed its {what.rstrip('=')} in place{inside} (e.g. `w -= ...` or "
                    "`x[0] = ...`). Compute a new array instead (`w = w - ...`, or work on a copy)."
                )
    return out


def _changed(before: Any, after: Any, depth: int = 0) -> str | None:
    """Where ``after`` (what the learner's code received) differs from ``before``.

    None when nothing changed, else the path inside containers ('' for the object
    itself, "['w']", "[1]"). Arrays and tensors compare by value (NaN equals NaN);
    dicts, lists and tuples are searched recursively.
    """
    if depth > 20:
        return None
    if hasattr(before, "detach") and hasattr(before, "cpu"):  # a tensor, without importing torch
        try:
            a, b = before.detach().cpu().numpy(), after.detach().cpu().numpy()
        except (AttributeError, TypeError, RuntimeError):
            return None
        return None if a.shape == b.shape and np.array_equal(a, b, equal_nan=True) else ""
    if isinstance(before, np.ndarray):
        same = isinstance(after, np.ndarray) and before.shape == after.shape and np.array_equal(
            before, after, equal_nan=before.dtype.kind in "fc")
        return None if same else ""
    if isinstance(before, dict):
        if not isinstance(after, dict) or set(before) != set(after):
            return ""
        for key in before:
            inner = _changed(before[key], after[key], depth + 1)
            if inner is not None:
                return f"[{key!r}]{inner}"
        return None
    if isinstance(before, (list, tuple)):
        if type(after) is not type(before) or len(before) != len(after):
            return ""
        for index, (a, b) in enumerate(zip(before, after)):
            inner = _changed(a, b, depth + 1)
            if inner is not None:
                return f"[{index}]{inner}"
        return None
    return None


def expect_array(
    got: Any,
    expected: Any,
    *,
    name: str,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    float_dtype: bool = True,
) -> np.ndarray:
    """Compare an array answer with the reference: type, shape, dtype, finiteness, values."""
    if got is None:
        raise CheckFailed(f"{name} is None: did you forget a `return` statement?")
    expected = np.asarray(expected)
    try:
        arr = np.asarray(got)
    except Exception:
        raise CheckFailed(f"{name} should be a NumPy array, got {type(got).__name__}.") from None
    if arr.dtype == object:
        raise CheckFailed(f"{name} should be a numeric array, got {type(got).__name__} of mixed objects.")
    if arr.shape != expected.shape:
        hint_text = ""
        if arr.size == expected.size:
            hint_text = " The numbers may be right but laid out wrongly: check transposes and reshapes."
        elif arr.ndim != expected.ndim:
            hint_text = " A missing or extra axis often comes from broadcasting or a forgotten sum."
        raise CheckFailed(f"{name} has shape {arr.shape}, expected {expected.shape}.{hint_text}")
    if float_dtype and not np.issubdtype(arr.dtype, np.floating):
        raise CheckFailed(
            f"{name} has dtype {arr.dtype}, expected floating point numbers "
            "(integer arithmetic throws the fractions away)."
        )
    lower_precision = (arr.dtype in (np.float16, np.float32) and expected.dtype == np.float64
                       and not _is_tensor(got))
    if arr.dtype == np.float16 and expected.dtype != np.float16:
        raise CheckFailed(f"{name} has dtype float16, which keeps about 3 significant digits: {DTYPE_POLICY}.")
    if np.issubdtype(arr.dtype, np.number) and not np.all(np.isfinite(arr)):
        raise CheckFailed(f"{name} contains NaN or infinity: look for overflow in exp or a division by zero.")
    if not np.allclose(arr, expected, rtol=rtol, atol=atol):
        if lower_precision and np.allclose(arr, expected, rtol=max(rtol, 2e-5), atol=max(atol, 1e-6)):
            raise CheckFailed(
                f"{name} is a NumPy float32 array and differs from the float64 answer in the 6th or 7th "
                f"significant digit, which is all float32 keeps: {DTYPE_POLICY}. Leave out the cast to "
                "float32 (or convert with .astype(np.float64) before computing)."
            )
        if arr.ndim == 0:
            shown_got, shown_expected = _distinct(arr, expected, _short(float(arr)), _short(float(expected)))
            raise CheckFailed(f"{name} is {shown_got}, expected {shown_expected}.")
        diff = np.abs(arr.astype(np.float64) - expected.astype(np.float64))
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        where = ", ".join(str(int(i)) for i in worst)
        raise CheckFailed(
            f"{name} has wrong values: at index [{where}] expected {_short(float(expected[worst]))}, "
            f"got {_short(float(arr[worst]))} ({int(np.sum(~np.isclose(arr, expected, rtol=rtol, atol=atol)))} "
            f"of {arr.size} entries differ)."
        )
    return arr


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run PyTorch on one CPU thread inside the block (or the decorated grader), then restore.

    A grader's tensors are tiny: they compute fastest on one thread, and on a busy
    machine extra threads only wait for each other. PyTorch is imported here, when a
    grader first needs it, never when the checks are imported.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "detach") and hasattr(value, "requires_grad")


def expect_tensor(got: Any, *, name: str, dtype: str = "float32", shape: tuple[int, ...] | None = None,
                  requires_grad: bool | None = None) -> Any:
    """Require a PyTorch tensor (not a NumPy array, not a Python number from ``.item()``).

    ``dtype`` is the name of the torch dtype expected (``"float32"``, ``"int64"``, ...);
    ``requires_grad=True`` demands that autograd can flow back through the answer (for a
    loss that will be backpropagated), which ``.item()``, ``.detach()``, NumPy and
    ``torch.tensor(value)`` all break.
    """
    if got is None:
        raise CheckFailed(f"{name} is None: did you forget a `return` statement?")
    if not _is_tensor(got):
        what = ("a Python number: .item() and float() leave autograd behind" if isinstance(got, (int, float))
                else f"a {type(got).__name__}")
        raise CheckFailed(f"{name} should be a PyTorch tensor, got {what}. Keep the computation in torch "
                          f"operations so the result stays a tensor; {DTYPE_POLICY}.")
    actual = str(got.dtype).removeprefix("torch.")
    if actual != dtype:
        raise CheckFailed(f"{name} has dtype {actual}, expected {dtype}: {DTYPE_POLICY}. "
                          + ("A float64 tensor usually comes from torch.tensor(numpy_array) or torch.from_numpy: "
                             "create it with dtype=torch.float32." if actual == "float64" else ""))
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise CheckFailed(f"{name} has shape {tuple(got.shape)}, expected {tuple(shape)}.")
    if requires_grad and got.grad_fn is None and not got.requires_grad:
        raise CheckFailed(
            f"{name} carries no gradient (requires_grad is False, no grad_fn): it was cut off from the "
            "parameters, e.g. by .item(), .detach(), .numpy() or by building a new tensor with torch.tensor(...). "
            "Compute it with torch operations on the tensors you were given."
        )
    return got


def as_numpy(got: Any, *, name: str) -> Any:
    """A learner's PyTorch tensor as a NumPy array (detached, on the CPU); other values unchanged.

    A list or tuple of tensors is refused with a message, since the graders expect one tensor.
    Tensors are recognised by their ``detach`` method, so this module never imports torch.
    """
    if hasattr(got, "detach") and hasattr(got, "cpu"):
        return got.detach().cpu().numpy()
    if isinstance(got, (list, tuple)) and any(hasattr(g, "detach") for g in got):
        raise CheckFailed(
            f"{name} is a {type(got).__name__} of tensors; return one tensor "
            "(torch.stack builds one from a list)."
        )
    return got


def close(a: Any, b: Any, *, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Whether ``a`` and ``b`` are numbers (or arrays, or tensors) of one shape that agree to tolerance.

    Anything that is not numeric gives False instead of raising; PyTorch tensors are
    detached and copied to the CPU first (without this module importing torch).
    """
    try:
        a, b = (np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64) for x in (a, b))
    except (TypeError, ValueError, RuntimeError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _brief(value: Any) -> str | None:
    """A short rendering of a small numeric value for a message; None when it would not be short."""
    try:
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        return None
    if array.ndim == 0:
        return _short(float(array))
    return _short(array) if array.size <= 8 else None


def diagnose(
    got: Any,
    expected: Any,
    likely_bugs: Iterable[tuple[Any, ...]],
    *,
    name: str,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> None:
    """Name the bug when ``got`` is not ``expected`` but equals what a known mistake produces.

    ``likely_bugs`` pairs the value a mistake would produce with its explanation, and
    optionally a third item: advice for the next :func:`hint` (by default the
    explanation itself). Does nothing when ``got`` is right or matches no known mistake
    (the caller then reports the difference itself, e.g. with :func:`expect_array`).
    """
    if close(got, expected, rtol=rtol, atol=atol):
        return
    for wrong_value, explanation, *advice in likely_bugs:
        if not close(wrong_value, expected, rtol=rtol, atol=atol) and close(got, wrong_value, rtol=rtol, atol=atol):
            shown_got, shown_expected = _brief(got), _brief(expected)
            tip = advice[0] if advice else explanation
            if shown_got is None or shown_expected is None:
                raise CheckFailed(f"{name} is wrong: {explanation}", advice=tip)
            shown_got, shown_expected = _distinct(got, expected, shown_got, shown_expected)
            raise CheckFailed(f"{name} is {shown_got}, expected {shown_expected}: {explanation}", advice=tip)


def expect_tuple(got: Any, *, label: str, names: str) -> tuple[Any, ...]:
    """Check that a function returned as many things as ``names`` ("loss, grad") lists, and return them."""
    count = len(names.split(", "))
    if got is None:
        raise CheckFailed(f"{label} returned None: did you forget `return {names}`?")
    if not isinstance(got, (tuple, list)) or len(got) != count:
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailed(
            f"{label} should return {count} things, `return {names}`; it returned a {type(got).__name__}{size}."
        )
    return tuple(got)


def expect_scalar(got: Any, expected: float, *, name: str, rtol: float = 1e-6, atol: float = 1e-8) -> float:
    """Compare a single-number answer (a Python or NumPy scalar) with the reference."""
    if got is None:
        raise CheckFailed(f"{name} is None: did you forget a `return` statement?")
    if isinstance(got, (list, tuple)) or (isinstance(got, np.ndarray) and got.ndim > 0):
        shape = np.shape(got)
        raise CheckFailed(
            f"{name} should be a single number, got a {type(got).__name__} of shape {shape}. "
            "Reduce it (e.g. with .sum() or .mean()) or index the element."
        )
    try:
        value = float(got)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} should be a number, got {type(got).__name__}.") from None
    if not np.isfinite(value):
        raise CheckFailed(f"{name} is {value}: look for overflow in exp or a division by zero.")
    if not np.isclose(value, expected, rtol=rtol, atol=atol):
        shown_got, shown_expected = _distinct(got, float(expected), _short(value), _short(float(expected)))
        raise CheckFailed(f"{name} is {shown_got}, expected {shown_expected}.")
    return value
