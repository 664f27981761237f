"""Every self-check rejects the changed versions of its worked answer (see tests/mutation.py).

Budgeted training challenges (exercise kind ``challenge``) are left out: any model that meets
the target within the budget is a right answer, so changing a width or a learning rate gives
another right answer and mutants say nothing; their checks are proven by the wrong answers in
``tests/test_checks_chNN.py``. Mutants that compute what the answer computes are listed there,
in ``EQUIVALENT_MUTANTS``, with the reason.
"""
from __future__ import annotations

import importlib

from dlcourse_utils.checks import all_exercises
from mutation import kill_rate, mutants, run_chapter

#: The kill rate every chapter's checks must reach (issue 16).
REQUIRED = 0.95
CHAPTERS = tuple(range(1, 11))


def open_ended() -> dict[str, str]:
    return {ex.id: "a budgeted training challenge: any model within the budget that meets the target"
            for ex in all_exercises() if ex.kind == "challenge"}


def equivalent_mutants() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for chapter in CHAPTERS:
        module = importlib.import_module(f"test_checks_ch{chapter:02d}")
        found.update(getattr(module, "EQUIVALENT_MUTANTS", {}))
    return found


def test_the_mutator_makes_each_kind_of_change():
    source = (
        "def f(x, y):\n"
        "    ### the answer\n"
        "    if x.sum(axis=0) <= 2:\n"
        "        return -x[1:3] + y * 2.0\n"
        "    return np.maximum(x, y) @ y and True\n"
    )
    made = {m.description.split(": ", 1)[1] for m in mutants("0.0", source)}
    for change in ["<= -> <", "+ -> -", "drop the left term of +", "drop the right term of +", "* -> /",
                   "2 -> 3", "2 -> 1", "2.0 -> 3.0", "drop unary minus", "axis=0 -> axis=1", ".sum -> .mean",
                   ".maximum -> .minimum", "@ -> *", "slice start + 1", "slice stop - 1", "True -> False",
                   "and -> or"]:
        assert change in made, change
    only_line_4 = mutants("0.0", source, lines={4})
    assert only_line_4 and all(m.description.startswith("line 4:") for m in only_line_4)


def _chapter_test(chapter: int):
    def test_checks_reject_the_mutants_of_the_worked_answers(self):
        EQUIVALENT = equivalent_mutants()
        outcomes = run_chapter(chapter, EQUIVALENT, open_ended())
        errors = [f"{o.exercise_id}: {o.error}" for o in outcomes if o.error]
        assert not errors, errors
        stale = [f"{o.exercise_id}: {d}" for o in outcomes for d in EQUIVALENT.get(o.exercise_id, {})
                 if d not in o.equivalent]
        assert not stale, f"EQUIVALENT lists mutants that are no longer made: {stale}"
        killed, total, rate = kill_rate(outcomes)
        print(f"chapter {chapter}: {killed}/{total} mutants killed ({rate:.1%})")
        survivors = [f"{o.exercise_id} {d}" for o in outcomes for d in o.survived]
        assert rate >= REQUIRED, f"chapter {chapter} kills {rate:.1%} of its mutants; survivors: {survivors}"

    return test_checks_reject_the_mutants_of_the_worked_answers


# One class per chapter, so that pytest-xdist (--dist loadscope) spreads the chapters over its workers.
for _chapter in CHAPTERS:
    globals()[f"TestMutantsChapter{_chapter:02d}"] = type(
        f"TestMutantsChapter{_chapter:02d}", (), {"test_checks_reject_the_mutants_of_the_worked_answers":
                                                   _chapter_test(_chapter)})
