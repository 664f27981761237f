"""Every self-check rejects the changed versions of its worked answer (see tests/mutation.py)."""
from __future__ import annotations

#: Exercises whose right answer is any model that meets the target (a training challenge):
#: changing a width or a learning rate gives another right answer, so mutants say nothing.
#: Their checks are proven by the wrong answers in tests/test_checks_chNN.py instead.
OPEN_ENDED: dict[str, str] = {
    "3.5": "train any MLP that reaches the accuracy target on the moons",
    "4.7": "train any regularised network that reaches the accuracy target on held-out digits",
    "5.6": "train any small CNN that reaches the accuracy target within the budget",
    "7.2": "train any autoencoder whose reconstruction error meets the target",
    "7.4": "train any denoiser whose error on noisy digits meets the target",
}

#: Mutants that compute what the original computes, by exercise, with the reason.
EQUIVALENT: dict[str, dict[str, str]] = {
    "1.2": {"line 11:20: >= -> >": "at z = 0 both branches give 1/2"},
    "2.4": {"line 4:72: 0 -> -1": "the axis has length 1 (keepdims), so [:, 0] and [:, -1] are one column"},
    "3.6": {"line 11:8: .max -> .min": "log-softmax is shift-invariant; the fixed logits are far from overflow, "
                                        "and the exercise is about the tanh derivative"},
    "4.1": {
        "line 8:34: drop the right term of +": "tp > 0 vs tp + fp > 0: when tp = 0 both give precision 0",
        "line 9:31: drop the right term of +": "tp > 0 vs tp + fn > 0: when tp = 0 both give recall 0",
        "line 10:58: drop the right term of +": "precision > 0 vs precision + recall > 0: both are 0 together",
        "line 10:58: drop the left term of +": "recall > 0 vs precision + recall > 0: both are 0 together",
    },
    "5.5": {"line 9:41: 1 -> 2": "reshape(N, C, -2) is reshape(N, C, -1): NumPy reads any negative size as 'the rest'"},
    "8.4": {"line 9:8: + -> -": "mu - std * eps has the distribution of mu + std * eps; the check accepts any "
                                "Monte Carlo estimate within its sampling error"},
    "8.6": {"line 9:61: 1 -> 0": "bincount's minlength only adds empty classes, and empty classes are dropped"},
    "8.10": {
        "line 7:42: > -> >=": "at t = 0 the step returns the mean before alpha_bar_prev is used",
        "line 7:46: 0 -> -1": "at t = 0 the step returns the mean before alpha_bar_prev is used",
        "line 7:66: 1.0 -> 2.0": "at t = 0 the step returns the mean before alpha_bar_prev is used",
        "line 9:12: 0 -> -1": "at t = 0, with alpha_bar_prev = 1, the posterior variance is 0: adding 0 * z is "
                              "returning the mean",
    },
    "7.3": {"line 3:37: 1 -> 2": "reshape(N, -2) is reshape(N, -1)"},
    "7.6": {
        "line 3:37: 1 -> 2": "reshape(N, -2) is reshape(N, -1)",
        "line 6:59: 10 -> 11": "the number of K-means restarts is the learner's choice; 9 or 11 are right answers too",
        "line 6:59: 10 -> 9": "the number of K-means restarts is the learner's choice; 9 or 11 are right answers too",
    },
}

import pytest  # noqa: E402

from mutation import kill_rate, mutants, run_chapter  # noqa: E402

#: The kill rate every chapter's checks must reach (issue 16).
REQUIRED = 0.95
#: Chapters held to REQUIRED today; chapters 8-10 are being rewritten and join when their
#: exercises settle (`python tests/mutation.py 8` measures one meanwhile).
CHAPTERS = (1, 2, 3, 4, 5, 6, 7)


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
        outcomes = run_chapter(chapter, EQUIVALENT, OPEN_ENDED)
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
