"""Self-checks for the exercises: ``check``, ``hint`` and ``progress``.

In an exercise notebook::

    from dlcourse_utils.checks import check, hint
    check("1.2", sigmoid)   # ✅ passed, or a specific reason it is not right yet
    hint("1.2")             # the next hint: about your last mistake, else the next on the ladder
    solution("1.2")         # the worked answer, only when you ask for it
    data, (X_val, y_val) = challenge_data("5.6")   # a training challenge's data and validation split

Chapter graders are registered in ``chNN.py`` modules with :func:`exercise`.
"""
from .challenge import challenge_data
from .core import (
    DTYPE_POLICY,
    HOME_ENV,
    STRICT_ENV,
    CheckFailed,
    Exercise,
    Result,
    all_exercises,
    call,
    check,
    close,
    diagnose,
    exercise,
    expect_array,
    expect_scalar,
    expect_tensor,
    expect_tuple,
    get_exercise,
    grade,
    hint,
    progress,
    solution,
)

__all__ = [
    "DTYPE_POLICY", "HOME_ENV", "STRICT_ENV", "CheckFailed", "challenge_data", "Exercise", "Result",
    "all_exercises", "call", "check", "close", "diagnose", "exercise", "expect_array", "expect_scalar", "expect_tensor", "expect_tuple",
    "get_exercise", "grade", "hint", "progress", "solution",
]
