"""The rules every chapter's self-checks obey, written once.

Each ``tests/test_checks_chNN.py`` defines its answers and ends with a subclass::

    class TestSelfCheckRules(SelfCheckRules):
        reference = REFERENCE                      # {id: the solution's answer}
        wrong_with_messages = WRONG_WITH_MESSAGES  # {id: [(wrong answer, words its message must contain)]}
        stubs = {"5.6": None}                      # only where the unfilled exercise is not a
                                                   # function that raises NotImplementedError

The subclass then runs, for that chapter: the reference answer passes; every wrong
answer fails with a message naming its bug; the unfilled stub is reported as "not
written yet"; every exercise has at least two wrong answers. ``tests/test_exercises.py``
also reads ``WRONG_WITH_MESSAGES`` to check that no exercise of the book is left out.
Answers that need a trained model are graded in the chapter's own tests.
"""
from __future__ import annotations

from typing import Any, ClassVar

from dlcourse_utils.checks import grade


def unfilled(*args: Any, **kwargs: Any) -> Any:
    """What an exercise looks like before the learner writes it."""
    raise NotImplementedError()


def _label(value: Any) -> str:
    return value if isinstance(value, str) else getattr(value, "__name__", type(value).__name__)


class SelfCheckRules:
    reference: ClassVar[dict[str, Any]] = {}
    wrong_with_messages: ClassVar[dict[str, list[tuple[Any, str]]]] = {}
    stubs: ClassVar[dict[str, Any]] = {}

    def pytest_generate_tests(self, metafunc) -> None:  # pytest calls this for a class's tests
        name = metafunc.function.__name__
        if name == "test_reference_answer_passes":
            metafunc.parametrize("exercise_id", sorted(self.reference))
        elif name == "test_wrong_answer_is_rejected_with_a_specific_message":
            cases = [(key, wrong, text) for key, pairs in self.wrong_with_messages.items() for wrong, text in pairs]
            metafunc.parametrize("exercise_id, wrong, expected_text", cases, ids=_label)
        elif name == "test_unfilled_stub_is_reported_as_not_written_yet":
            metafunc.parametrize("exercise_id", sorted(set(self.reference) | set(self.stubs)))

    def test_reference_answer_passes(self, exercise_id):
        result = grade(exercise_id, self.reference[exercise_id])
        assert result.passed, result.message

    def test_wrong_answer_is_rejected_with_a_specific_message(self, exercise_id, wrong, expected_text):
        result = grade(exercise_id, wrong)
        assert result.passed is False
        assert expected_text in result.message, result.message

    def test_unfilled_stub_is_reported_as_not_written_yet(self, exercise_id):
        result = grade(exercise_id, self.stubs.get(exercise_id, unfilled))
        assert result.passed is False
        assert "not written yet" in result.message, result.message

    def test_each_exercise_has_at_least_two_wrong_answers(self):
        exercises = set(self.reference) | set(self.stubs) | set(self.wrong_with_messages)
        assert exercises, "no exercises listed"
        too_few = {key: len(self.wrong_with_messages.get(key, [])) for key in sorted(exercises)
                   if len(self.wrong_with_messages.get(key, [])) < 2}
        assert not too_few, f"exercises with fewer than two wrong answers: {too_few}"
