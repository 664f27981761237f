"""The self-check engine: verdicts, messages, hint ladder, progress record, strict mode."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dlcourse_utils import checks
from dlcourse_utils.checks import core


@pytest.fixture
def demo(monkeypatch, tmp_path):
    """Register a throw-away exercise 99.1: double an array."""
    monkeypatch.setenv(checks.HOME_ENV, str(tmp_path))
    monkeypatch.delenv(checks.STRICT_ENV, raising=False)

    @checks.exercise("99.1", "Double it", hints=["Multiply.", "Use `2 * x`.", "return 2 * x"])
    def _grader(fn):
        x = np.array([1.0, -2.0, 3.5])
        checks.expect_array(checks.call(fn, x), 2 * x, name="double(x)")

    yield "99.1"
    core._REGISTRY.pop("99.1", None)
    core._HINTS_SHOWN.pop("99.1", None)


def test_correct_answer_passes_and_prints_a_tick(demo, capsys):
    checks.check(demo, lambda x: 2 * x)
    assert capsys.readouterr().out.strip() == "✅ Exercise 99.1 (Double it): passed."


def test_unfilled_stub_is_reported_as_not_written(demo):
    def double(x):
        raise NotImplementedError()

    result = checks.grade(demo, double)
    assert not result.passed
    assert "not written yet" in result.message and "double" in result.message


def test_wrong_value_reports_index_expected_and_got(demo):
    result = checks.grade(demo, lambda x: 3 * x)
    assert not result.passed
    assert "at index [2] expected 7, got 10.5 (3 of 3 entries differ)" in result.message
    assert "hint('99.1')" in str(result)


def test_wrong_shape_is_named(demo):
    result = checks.grade(demo, lambda x: (2 * x).reshape(3, 1))
    assert "shape (3, 1), expected (3,)" in result.message


def test_integer_dtype_is_rejected(demo):
    result = checks.grade(demo, lambda x: (2 * x).astype(int))
    assert "dtype int" in result.message


def test_none_return_points_at_missing_return(demo):
    result = checks.grade(demo, lambda x: None)
    assert "forget a `return`" in result.message


def test_nan_is_rejected(demo):
    result = checks.grade(demo, lambda x: x * np.nan)
    assert "NaN" in result.message


def test_exception_in_learner_code_is_reported_with_its_line(demo):
    def double(x):
        y = x @ np.ones(2)
        return y

    result = checks.grade(demo, double)
    assert not result.passed
    assert "raised ValueError" in result.message
    assert "in double, line" in result.message and "x @ np.ones(2)" in result.message


def test_passing_a_value_instead_of_a_function_is_explained(demo):
    result = checks.grade(demo, 5)
    assert "expected a function, got int" in result.message


def test_in_place_mutation_of_an_argument_is_caught(demo):
    def double(x):
        x *= 2
        return x

    result = checks.grade(demo, double)
    assert "changed its argument number 1 in place" in result.message


def test_grader_never_lets_an_exception_escape(demo):
    @checks.exercise("99.1", "Double it", hints=["a", "b"])
    def _broken(fn):
        raise KeyError("grader tripped")

    result = checks.grade(demo, lambda x: 2 * x)
    assert not result.passed and "could not grade this answer" in result.message


def test_strict_mode_raises_on_failure_only(demo, monkeypatch, capsys):
    monkeypatch.setenv(checks.STRICT_ENV, "1")
    checks.check(demo, lambda x: 2 * x)  # passes: no exception
    with pytest.raises(checks.CheckFailed, match="99.1"):
        checks.check(demo, lambda x: x)
    assert "❌" in capsys.readouterr().out


def test_non_strict_failure_prints_and_does_not_raise(demo, capsys):
    checks.check(demo, lambda x: x)
    assert capsys.readouterr().out.startswith("❌ Exercise 99.1")


def test_hint_ladder_climbs_then_says_no_more(demo, capsys):
    for _ in range(4):
        checks.hint(demo)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("💡 Hint 1 of 3") and lines[0].endswith("Multiply.")
    assert lines[1].startswith("💡 Hint 2 of 3")
    assert lines[2].endswith("return 2 * x")
    assert lines[3].startswith("No more hints for exercise 99.1")
    checks.hint(demo, level=1)
    assert "Hint 1 of 3" in capsys.readouterr().out


def test_progress_records_passes_and_reports_chapters(demo, tmp_path, capsys):
    assert checks.progress(chapter=99) == {99: {"done": [], "todo": ["99.1"]}}
    checks.check(demo, lambda x: 2 * x)
    record = json.loads((tmp_path / "progress.json").read_text())
    assert list(record["passed"]) == ["99.1"]
    capsys.readouterr()
    assert checks.progress(chapter=99) == {99: {"done": ["99.1"], "todo": []}}
    assert "1/1" in capsys.readouterr().out
    assert not list(tmp_path.glob(".progress-*")), "temporary file left behind"


def test_failed_check_records_nothing(demo, tmp_path):
    checks.check(demo, lambda x: x)
    assert not (tmp_path / "progress.json").exists()


def test_corrupt_progress_record_is_kept_aside_not_lost(demo, tmp_path):
    (tmp_path / "progress.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        checks.check(demo, lambda x: 2 * x)
    assert (tmp_path / "progress.json.corrupt").read_text() == "{not json"
    assert "99.1" in json.loads((tmp_path / "progress.json").read_text())["passed"]


def test_unknown_and_malformed_ids_get_clear_errors(demo):
    with pytest.raises(ValueError, match="no exercise 99.7.*99.1"):
        checks.grade("99.7", lambda x: x)
    with pytest.raises(ValueError, match="ids look like '1.2'"):
        checks.grade("sigmoid", lambda x: x)


def test_leading_zero_ids_are_accepted(demo):
    assert checks.grade("099.01", lambda x: 2 * x).passed


def test_an_exercise_needs_two_hints():
    with pytest.raises(ValueError, match="at least two hints"):
        checks.exercise("98.1", "Too few hints", hints=["only one"])


def test_expect_scalar_rejects_arrays_and_lists():
    with pytest.raises(checks.CheckFailed, match="single number.*shape \\(1,\\)"):
        checks.expect_scalar(np.array([0.5]), 0.5, name="loss")
    with pytest.raises(checks.CheckFailed, match="single number"):
        checks.expect_scalar([0.5], 0.5, name="loss")
    with pytest.raises(checks.CheckFailed, match="loss is 0.4, expected 0.5"):
        checks.expect_scalar(0.4, 0.5, name="loss")
    assert checks.expect_scalar(np.float64(0.5), 0.5, name="loss") == 0.5


def test_every_registered_exercise_has_a_title_and_two_hints():
    exercises = checks.all_exercises()
    assert exercises, "no chapter registers any exercise"
    for ex in exercises:
        assert ex.title and len(ex.hints) >= 2, ex.id
