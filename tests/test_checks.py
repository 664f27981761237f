"""The self-check engine: verdicts, messages, hint ladder, progress record, strict mode."""
from __future__ import annotations

import json
import re

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
    core._PENDING_ADVICE.pop("99.1", None)


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


def test_close_compares_shape_and_values_and_never_raises():
    torch = pytest.importorskip("torch")
    assert core.close([1.0, 2.0], np.array([1.0, 2.0 + 1e-9]))
    assert not core.close([1.0, 2.0], [[1.0, 2.0]])                      # same numbers, other shape
    assert not core.close(1.0, 1.1) and not core.close("one", 1.0) and not core.close(None, 1.0)
    assert core.close(torch.tensor([0.5], requires_grad=True), [0.5])    # tensors, even with gradients
    assert core.close(1.0, 1.05, rtol=0.1)


def test_diagnose_names_the_known_mistake_and_shows_small_values():
    bugs = [(2.0, "the factor 1/2 is missing."), (0.25, "it squares the half.")]
    core.diagnose(1.0, 1.0, bugs, name="kl")                          # right: nothing to say
    core.diagnose(7.0, 1.0, bugs, name="kl")                          # wrong in an unknown way: left to the caller
    with pytest.raises(core.CheckFailed, match=r"^kl is 2, expected 1: the factor 1/2 is missing\.$"):
        core.diagnose(2.0, 1.0, bugs, name="kl")
    big = np.arange(20.0)
    with pytest.raises(core.CheckFailed, match=r"^x is wrong: reversed\.$"):   # too long to print
        core.diagnose(big[::-1], big, [(big[::-1], "reversed.")], name="x")


def test_a_known_mistake_that_equals_the_answer_is_not_blamed():
    # With these inputs the "mistake" gives the right value, so it cannot be what went wrong.
    with pytest.raises(core.CheckFailed, match=r"^x is 1, expected 3: the real bug\.$"):
        core.diagnose(1.0, 3.0, [(3.0, "harmless here."), (1.0, "the real bug.")], name="x")


def test_expect_tuple_counts_what_a_function_returns():
    assert core.expect_tuple([1, 2], label="f()", names="a, b") == (1, 2)
    with pytest.raises(core.CheckFailed, match=r"f\(\) returned None: did you forget `return a, b`\?"):
        core.expect_tuple(None, label="f()", names="a, b")
    with pytest.raises(core.CheckFailed, match="should return 2 things, `return a, b`; it returned a tuple of length 3"):
        core.expect_tuple((1, 2, 3), label="f()", names="a, b")
    with pytest.raises(core.CheckFailed, match="it returned a int"):
        core.expect_tuple(5, label="f()", names="a, b")


def test_as_numpy_converts_a_tensor_and_refuses_a_list_of_tensors():
    torch = pytest.importorskip("torch")
    got = core.as_numpy(torch.tensor([1.0, 2.0], requires_grad=True), name="z")
    assert isinstance(got, np.ndarray) and got.tolist() == [1.0, 2.0]
    assert core.as_numpy([1.0, 2.0], name="z") == [1.0, 2.0]             # not a tensor: unchanged
    with pytest.raises(core.CheckFailed, match="z is a list of tensors; return one tensor"):
        core.as_numpy([torch.zeros(2), torch.ones(2)], name="z")


def test_one_torch_thread_restores_the_thread_count_even_after_an_error():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()

    @core.one_torch_thread()
    def grader():
        assert torch.get_num_threads() == 1
        raise core.CheckFailed("wrong")

    with pytest.raises(core.CheckFailed):
        grader()
    assert torch.get_num_threads() == before


def test_every_registered_exercise_has_a_title_and_two_hints():
    exercises = checks.all_exercises()
    assert exercises, "no chapter registers any exercise"
    for ex in exercises:
        assert ex.title and len(ex.hints) >= 2, ex.id


# --------------------------------------------------------------------------- hints that respond, solutions on request
@pytest.fixture
def diagnosing(monkeypatch, tmp_path):
    """Exercise 99.2: mean of an array, with a grader that recognises dividing by N - 1."""
    monkeypatch.setenv(checks.HOME_ENV, str(tmp_path))
    monkeypatch.delenv(checks.STRICT_ENV, raising=False)

    @checks.exercise("99.2", "Mean", hints=["Add them up.", "Divide by how many there are."])
    def _grader(fn):
        x = np.array([1.0, 2.0, 6.0])
        got = checks.call(fn, x)
        checks.diagnose(got, 3.0, [(4.5, "you divided by N - 1; the mean divides by N.",
                                    "len(x) counts the elements; len(x) - 1 is one too few.")], name="mean(x)")
        checks.expect_scalar(got, 3.0, name="mean(x)")

    yield "99.2"
    for table in (core._REGISTRY, core._HINTS_SHOWN, core._PENDING_ADVICE):
        table.pop("99.2", None)


def test_next_hint_after_a_recognised_mistake_is_about_that_mistake(diagnosing, capsys):
    checks.check(diagnosing, lambda x: x.sum() / (len(x) - 1))
    assert "divided by N - 1" in capsys.readouterr().out
    checks.hint(diagnosing)
    out = capsys.readouterr().out
    assert "About what your last check found" in out and "one too few" in out
    checks.hint(diagnosing)  # the advice is given once; then the ladder goes on
    assert capsys.readouterr().out.startswith("💡 Hint 1 of 2")


def test_advice_is_dropped_when_the_next_check_passes_or_names_nothing(diagnosing, capsys):
    checks.check(diagnosing, lambda x: x.sum() / (len(x) - 1))
    checks.check(diagnosing, lambda x: x.mean())
    capsys.readouterr()
    checks.hint(diagnosing)
    assert capsys.readouterr().out.startswith("💡 Hint 1 of 2")


def test_numbers_that_print_alike_get_more_digits_and_float32_is_named():
    # float32(3.0001) is 3.00009989...: at 6 digits both read "3.0001".
    with pytest.raises(checks.CheckFailed) as failure:
        checks.expect_scalar(np.float32(3.0001), 3.0001, name="x", rtol=1e-9, atol=0)
    message = str(failure.value)
    got, expected = message.removeprefix("x is ").split(", expected ")
    assert got.split(" ")[0] != expected.rstrip(".") and "float32" in got, message


def test_unknown_id_gets_one_line_not_a_traceback(demo, capsys):
    checks.hint("99.9")
    checks.check("99.9", lambda x: x)
    checks.solution("99.9")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("There is no exercise 99.9" in line and "99.1" in line for line in lines)


def test_solution_only_on_request_and_taken_from_the_solutions_notebook(capsys):
    checks.hint("1.2", reveal=True)
    out = capsys.readouterr().out
    assert out.startswith("📖 A worked solution for exercise 1.2")
    code = checks.solution("1.2")
    assert code == json.loads(core.SOLUTIONS_FILE.read_text(encoding="utf-8"))["1.2"] and code in out
    assert "def " in code and "BEGIN SOLUTION" not in code and "NotImplementedError" not in code


def test_every_exercise_has_a_stored_solution():
    stored = json.loads(core.SOLUTIONS_FILE.read_text(encoding="utf-8"))
    assert sorted(stored) == sorted(e.id for e in checks.all_exercises())


def test_last_hint_points_to_solution_not_the_answer(demo, capsys):
    for _ in range(4):
        checks.hint(demo)
    assert "run solution('99.1')" in capsys.readouterr().out.strip().splitlines()[-1]


def test_progress_displays_its_table_once(demo, capsys):
    table = checks.progress(chapter=99)
    table._ipython_display_()          # what Jupyter does with a cell's last value
    assert capsys.readouterr().out.count("Chapter 99") == 1
    table._ipython_display_()          # shown again later, on purpose
    assert capsys.readouterr().out.count("Chapter 99") == 1


def test_in_place_changes_inside_containers_and_tensors_are_caught(monkeypatch):
    torch = pytest.importorskip("torch")

    def grader_for(arguments):
        def grader(fn):
            checks.call(fn, *arguments)
        return grader

    def scale_dict(params):
        params["w"] *= 2
        return params

    def zero_list(arrays):
        arrays[1][0] = 0.0
        return arrays

    def add_tensor(t):
        t.add_(1)
        return t

    cases = [
        ([{"w": np.ones(2), "b": np.zeros(1)}], scale_dict, "argument number 1['w']"),
        ([[np.ones(2), np.ones(3)]], zero_list, "argument number 1[1]"),
        ([torch.ones(3)], add_tensor, "argument number 1 in place"),
    ]
    for arguments, fn, where in cases:
        with pytest.raises(checks.CheckFailed, match=re.escape(where)):
            grader_for(arguments)(fn)
    checks.call(lambda p: {k: v * 2 for k, v in p.items()}, {"w": np.ones(2)})  # a new dict is fine


def test_one_dtype_policy_is_quoted_when_a_numpy_float32_answer_loses_digits():
    expected = np.array([1.0 / 3.0, 2.0 / 3.0])
    with pytest.raises(checks.CheckFailed) as failure:
        checks.expect_array(expected.astype(np.float32), expected, name="p", rtol=1e-9, atol=0)
    assert core.DTYPE_POLICY in str(failure.value) and "float32" in str(failure.value)
    with pytest.raises(checks.CheckFailed, match="float16"):
        checks.expect_array(expected.astype(np.float16), expected, name="p", rtol=1e-2)
    # a float32 answer that is simply wrong is reported as wrong values, not as a dtype matter
    with pytest.raises(checks.CheckFailed, match="wrong values"):
        checks.expect_array(np.array([0.5, 0.5], dtype=np.float32), expected, name="p")
    checks.expect_array(expected.copy(), expected, name="p")  # float64 passes


def test_expect_tensor_refuses_numbers_arrays_wrong_dtypes_and_cut_gradients():
    torch = pytest.importorskip("torch")
    w = torch.ones(3, requires_grad=True)
    loss = (w * 2).sum()
    assert checks.expect_tensor(loss, name="loss", requires_grad=True) is loss
    with pytest.raises(checks.CheckFailed, match=r"\.item\(\)"):
        checks.expect_tensor(loss.item(), name="loss")
    with pytest.raises(checks.CheckFailed, match="got a ndarray"):
        checks.expect_tensor(np.zeros(3), name="x")
    with pytest.raises(checks.CheckFailed, match="dtype float64, expected float32.*dtype=torch.float32"):
        checks.expect_tensor(torch.from_numpy(np.zeros(3)), name="x")
    with pytest.raises(checks.CheckFailed, match="carries no gradient"):
        checks.expect_tensor(loss.detach(), name="loss", requires_grad=True)
    with pytest.raises(checks.CheckFailed, match="shape"):
        checks.expect_tensor(torch.zeros(2), name="x", shape=(3,))
