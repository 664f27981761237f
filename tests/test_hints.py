"""Hints teach; they never hand over the worked answer (issue 16, item 5).

The worked answer of an exercise is shown only on request, by ``solution("N.M")`` or
``hint("N.M", reveal=True)``. The default hint ladder must stop short of it. For every
exercise of the chapters in ``CHAPTERS`` this file checks:

* the ladder has at least two hints, none empty, each at most ``MAX_HINT_CHARS`` long;
* no hint contains the answer's code. The answer is the code between the
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers of the solutions notebook (the
  part that the exercise notebook replaces by a stub; ``solutions.json`` holds the same
  code without the markers, wrapped in the signature and docstring the learner already sees).

What "contains the answer" means, on code normalised by :func:`normalise` (comments,
whitespace and backticks dropped, one quote style):

* a line is *given away* when the hint contains the line, or its right-hand side (the line
  without ``return`` or without its assignment target) when that is longer than
  ``SIGNIFICANT`` characters;
* an answer of more than two lines is given away when a hint gives away more than half of
  its significant lines (those longer than ``SIGNIFICANT`` normalised characters);
* any answer is given away when a hint contains *every* piece of it: the right-hand side
  of each line, split at its top-level commas, leaving out bare names and numbers (so
  ``dA = G @ W.T; dW = A.T @ G; return dA, dW`` is given away by ``G @ W.T`` and
  ``A.T @ G`` written anywhere in the hint, with or without ``return`` or the targets).
  This is the rule that catches one- and two-line answers, the easiest to give away, and
  for them no length threshold applies.

The detector itself is tested: each answer, pasted as a hint, must be caught.
To cover more chapters, extend ``CHAPTERS``.
"""
from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

import notebooks  # tools/notebooks.py, on the path through the root conftest.py
from dlcourse_utils.checks import all_exercises
from dlcourse_utils.checks.core import SOLUTIONS_FILE

#: The chapters whose hint ladders are checked (8-10 are being rewritten; add them when done).
CHAPTERS = tuple(range(1, 11))
MAX_HINT_CHARS = 400
#: A line of the answer counts in the "majority" rule when it is longer than this, normalised.
SIGNIFICANT = 10

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the answers
def _answers() -> dict[str, list[str]]:
    """``{exercise id: code lines between the solution markers}`` for the chapters checked,
    read as ``tools/notebooks.py`` reads them to write ``solutions.json``."""
    found: dict[str, list[str]] = {}
    for chapter in CHAPTERS:
        for path in sorted((ROOT / "solutions").glob(f"{chapter:02d}_*_solutions.ipynb")):
            for exercise_id, answer in notebooks.answers(nbformat.read(path, as_version=4), str(path)).items():
                code_lines = answer.code.split("\n")
                found[exercise_id] = [code_lines[n - 1] for n in sorted(answer.lines)]
    return found


ANSWERS = _answers()
EXERCISES = {ex.id: ex for ex in all_exercises() if ex.chapter in CHAPTERS}


# --------------------------------------------------------------------------- normalising
def _strip_comment(line: str) -> str:
    """The line without its ``# comment`` (a ``#`` inside a string is kept)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return line.split("#", 1)[0]
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            return line.strip()[: tok.start[1]]
    return line


def normalise(text: str) -> str:
    """Code or prose reduced to what matters for comparing code: no whitespace, no
    backticks, one quote style."""
    return re.sub(r"\s+", "", text.replace("`", "").replace("'", '"'))


_TARGET = re.compile(r"^[A-Za-z_][\w\s,\[\]\.:()\-]*?(\*\*|//|[-+*/@%])?=(?!=)")


def right_hand_side(line: str) -> str:
    """The normalised expression of a line: without ``return`` and without an assignment target."""
    code = normalise(_strip_comment(line))
    if code.startswith("return"):
        return code[len("return"):]
    match = _TARGET.match(code)
    if match and "(" not in match.group(0).split("[")[0]:
        return code[match.end():]
    return code


def _top_level_pieces(expression: str) -> list[str]:
    """``a-b,c`` -> ``["a-b", "c"]``: split at commas outside brackets."""
    pieces, depth, current = [], 0, ""
    for char in expression:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += char
    pieces.append(current)
    return [p for p in pieces if p]


#: A bare name, attribute or number: no content of its own (``return dw, db``).
_BARE = re.compile(r"^[\w.]+$")


def _code_lines(answer: list[str]) -> list[str]:
    return [line for line in answer if normalise(_strip_comment(line))]


def gives_away(hint: str, answer: list[str]) -> str | None:
    """Why ``hint`` gives away ``answer`` (its code lines), or None when it does not."""
    text = normalise(hint)
    lines = _code_lines(answer)
    if not lines:
        return None
    pieces = [p for line in lines for p in _top_level_pieces(right_hand_side(line))
              if not _BARE.match(p)]
    if pieces and all(p in text for p in pieces):
        return f"it contains every piece of the {len(lines)}-line answer: {' | '.join(pieces)}"
    if len(lines) <= 2:
        return None

    def given(line: str) -> bool:
        full, rhs = normalise(_strip_comment(line)), right_hand_side(line)
        return full in text or (len(rhs) > SIGNIFICANT and rhs in text)

    significant = [line for line in lines if len(normalise(_strip_comment(line))) > SIGNIFICANT]
    found = [line.strip() for line in significant if given(line)]
    if significant and len(found) * 2 > len(significant):
        return f"it contains {len(found)} of the {len(significant)} answer lines: {found}"
    return None


# --------------------------------------------------------------------------- the tests
IDS = sorted(EXERCISES, key=lambda i: tuple(int(p) for p in i.split(".")))


def test_every_chapter_checked_has_exercises_and_answers():
    for chapter in CHAPTERS:
        assert any(EXERCISES[i].chapter == chapter for i in IDS), f"no exercises in chapter {chapter}"
    solutions = json.loads(SOLUTIONS_FILE.read_text(encoding="utf-8"))
    for exercise_id in IDS:
        assert exercise_id in ANSWERS, f"no ### BEGIN SOLUTION block found for exercise {exercise_id}"
        assert exercise_id in solutions, f"solutions.json has no worked answer for exercise {exercise_id}"


@pytest.mark.parametrize("exercise_id", IDS)
def test_hint_ladder_shape(exercise_id):
    hints = EXERCISES[exercise_id].hints
    assert len(hints) >= 2, f"exercise {exercise_id} has {len(hints)} hint(s); it needs at least 2"
    for level, hint in enumerate(hints, 1):
        assert hint.strip(), f"hint {level} of exercise {exercise_id} is empty"
        assert len(hint) <= MAX_HINT_CHARS, (
            f"hint {level} of exercise {exercise_id} has {len(hint)} characters (at most {MAX_HINT_CHARS})"
        )


@pytest.mark.parametrize("exercise_id", IDS)
def test_no_hint_gives_away_the_answer(exercise_id):
    answer = ANSWERS.get(exercise_id)
    assert answer, f"no worked answer found for exercise {exercise_id}"
    for level, hint in enumerate(EXERCISES[exercise_id].hints, 1):
        why = gives_away(hint, answer)
        assert why is None, f"hint {level} of exercise {exercise_id} gives the answer away: {why}"


# --------------------------------------------------------------------------- the detector catches
@pytest.mark.parametrize("exercise_id", IDS)
def test_the_detector_catches_the_answer_pasted_as_a_hint(exercise_id):
    answer = ANSWERS[exercise_id]
    lines = [normalise(_strip_comment(line)) for line in _code_lines(answer)]
    assert gives_away(" ".join(answer), answer), "the answer itself, as written"
    assert gives_away("; ".join(lines), answer), "the answer on one line, without comments"
    assert gives_away("Like this: `" + "; ".join(line.strip() for line in answer) + "`.", answer)


@pytest.mark.parametrize(
    "hint, answer",
    [
        ("The whole body is one line: `return x @ w + b`.", ["    return x @ w + b   # a comment"]),
        ("Compute x @ w + b.", ["    return x @ w + b"]),
        ("velocity_new = momentum * velocity + grad; then w_new = w - lr * velocity_new",
         ["    velocity_new = momentum * velocity + grad",
          "    return w - lr * velocity_new, velocity_new"]),
        ("e = np.exp(z - z.max(axis=-1, keepdims=True)); return e / e.sum(axis=-1, keepdims=True)",
         ["    shifted = z - z.max(axis=-1, keepdims=True)", "    e = np.exp(shifted)",
          "    return e / e.sum(axis=-1, keepdims=True)"]),
        ("return [stemmer.stem(t) for t in tokenizer.tokenize(text.lower()) if t not in stop_words]",
         ["    return [stemmer.stem(t) for t in tokenizer.tokenize(text.lower()) if t not in stop_words]"]),
    ],
)
def test_the_detector_catches_known_giveaways(hint, answer):
    assert gives_away(hint, answer)


@pytest.mark.parametrize(
    "hint, answer",
    [
        ("`x @ w` does the multiply-and-add in one go; then add the bias.", ["    return x @ w + b"]),
        ("Multiply dA by a mask that is 1 where the forward input was positive.",
         ["    return dA * (Z > 0)"]),
        ("Update the velocity first: velocity_new = momentum * velocity + grad. Then step the weights.",
         ["    velocity_new = momentum * velocity + grad",
          "    return w - lr * velocity_new, velocity_new"]),
    ],
)
def test_the_detector_lets_a_partial_hint_through(hint, answer):
    assert gives_away(hint, answer) is None
