"""The exercise pipeline: exercises/ is generated from solutions/, and the checks have teeth.

- exercises/ is exactly what the generator makes from solutions/;
- putting the answers back into an exercise notebook gives the solution notebook
  (which nbval checks separately, outputs and all);
- the unfilled exercise notebook runs to its end (a learner's Run all) and every check
  cell reports the unfilled stub;
- every registered exercise is checked in its notebook and rejects at least two
  plausible wrong answers (listed in ``tests/test_checks_chNN.py`` as ``WRONG_WITH_MESSAGES``),
  the same verdict every time it is given the same answer.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest

import notebooks  # tools/notebooks.py, put on sys.path by conftest
from dlcourse_utils import checks

ROOT = notebooks.ROOT
SOLUTIONS = sorted((ROOT / "solutions").glob("*_solutions.ipynb"))
CHECK_CALL = re.compile(r'^check\("(\d+\.\d+)", \w+\)$')


def chapter_of(path: Path) -> int:
    return int(path.name[:2])


def check_cells(nb) -> list[tuple[int, str]]:
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "check(" in cell.source:
            match = CHECK_CALL.match(cell.source.strip())
            assert match, f"a check cell must hold only check(\"N.k\", name): {cell.source!r}"
            found.append((index, match.group(1)))
    return found


def test_there_is_at_least_one_solutions_notebook():
    assert SOLUTIONS, "no solutions/*_solutions.ipynb"


def test_exercises_folder_is_exactly_what_the_generator_makes():
    assert notebooks.generate_exercises(check=True) == [], "run `make exercises`"
    generated = {notebooks.exercise_path(s).name for s in SOLUTIONS}
    present = {p.name for p in (ROOT / "exercises").glob("*.ipynb")}
    assert present == generated, "exercises/ holds a notebook no solution generates"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_exercise_notebook_leaks_no_answer_and_no_output(solution):
    exercise = nbformat.read(notebooks.exercise_path(solution), as_version=4)
    for cell in exercise.cells:
        assert notebooks.BEGIN not in cell.source and notebooks.END not in cell.source
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_restoring_the_answers_reproduces_the_solution_notebook(solution):
    sol = nbformat.read(solution, as_version=4)
    ex = nbformat.read(notebooks.exercise_path(solution), as_version=4)
    assert len(ex.cells) == len(sol.cells)
    restored = notebooks.restore_solutions(ex, sol)
    sol_rel = solution.relative_to(ROOT).as_posix()
    ex_rel = notebooks.exercise_path(solution).relative_to(ROOT).as_posix()
    expected = [c.source.replace(notebooks.colab_url(sol_rel), notebooks.colab_url(ex_rel)) for c in sol.cells]
    assert restored == expected
    assert sum(c.source.count(notebooks.BEGIN) for c in sol.cells) >= 4, "4-8 exercises per chapter"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_every_exercise_of_the_chapter_is_checked_in_its_notebook(solution):
    nb = nbformat.read(solution, as_version=4)
    ids = [exercise_id for _, exercise_id in check_cells(nb)]
    registered = [e.id for e in checks.all_exercises() if e.chapter == chapter_of(solution)]
    assert ids == registered, "check cells and registered graders must match one to one, in order"
    # Enough to practise the chapter, few enough to finish in a sitting or two.
    assert 4 <= len(ids) <= 14, f"{len(ids)} exercises"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_the_unfilled_exercise_notebook_runs_to_the_end_and_every_check_says_not_written_yet(solution, monkeypatch):
    """A learner's "Run all" on a fresh exercise notebook: no cell raises, every check reports the stub."""
    from nbclient import NotebookClient

    monkeypatch.delenv(checks.STRICT_ENV, raising=False)  # as a learner runs it: checks report, not raise
    path = notebooks.exercise_path(solution)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(  # allow_errors is off: any exception in any cell fails this test
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    cells = check_cells(nb)
    assert cells
    for index, exercise_id in cells:
        outputs = nb.cells[index].outputs
        printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        assert f"❌ Exercise {exercise_id}" in printed, f"check {exercise_id} did not report a failure"
        assert "not written yet" in printed, f"check {exercise_id} did not name the unfilled stub"


def _wrong_answers_by_chapter() -> dict[int, dict]:
    found = {}
    for test_file in sorted(Path(__file__).parent.glob("test_checks_ch*.py")):
        module = importlib.import_module(test_file.stem)
        found[int(test_file.stem[-2:])] = {
            key: [answer for answer, _ in pairs] for key, pairs in module.WRONG_WITH_MESSAGES.items()
        }
    return found


HEADING = re.compile(r"^## Exercise (\d+\.\d+) — .+ \((easy|medium|hard)(?: · (transfer|debug|challenge))?\)$")


def test_every_chapter_ramps_to_transfer_exercises_and_a_budgeted_challenge():
    """Issue 16: at least two exercises apply the chapter's idea somewhere new; from chapter 3 on,
    at least one trains a model under a budget on data the check hands over."""
    kinds: dict[int, list[str]] = {}
    for ex in checks.all_exercises():
        kinds.setdefault(ex.chapter, []).append(ex.kind)
    for chapter in range(1, 11):
        found = kinds.get(chapter, [])
        assert found.count("transfer") >= 2, f"chapter {chapter} has {found.count('transfer')} transfer exercises"
        if chapter >= 3:
            assert "challenge" in found, f"chapter {chapter} has no budgeted training challenge"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_each_heading_names_the_difficulty_and_the_kind_of_its_exercise(solution):
    """`## Exercise 5.7 — Title (hard · transfer)`; a practice exercise names only its difficulty."""
    nb = nbformat.read(solution, as_version=4)
    headings = [line for cell in nb.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## Exercise ")]
    assert headings
    for line in headings:
        match = HEADING.match(line.strip())
        assert match, f"heading not of the form '## Exercise N.k — Title (difficulty[ · kind])': {line!r}"
        kind = checks.get_exercise(match.group(1)).kind
        assert (match.group(3) or "practice") == kind, f"{line!r}: the exercise is registered as {kind}"


def test_every_exercise_rejects_at_least_two_plausible_wrong_answers():
    wrong = _wrong_answers_by_chapter()
    for ex in checks.all_exercises():
        answers = wrong.get(ex.chapter, {}).get(ex.id, [])
        assert len(answers) >= 2, f"exercise {ex.id} has {len(answers)} wrong answers in its test file"
        for answer in answers:
            result = checks.grade(ex.id, answer)
            assert not result.passed, f"exercise {ex.id} accepted the wrong answer {answer!r}"
            assert result.message
        # Checks may draw fresh inputs at every call (so a lookup table of the inputs fails): the
        # verdict and the bug it names must not change, only the numbers quoted from the inputs.
        first, second = checks.grade(ex.id, answers[0]), checks.grade(ex.id, answers[0])
        assert (first.passed, _without_numbers(first.message)) == (second.passed, _without_numbers(second.message)), \
            f"exercise {ex.id} gave two verdicts on one answer"


def _without_numbers(message: str) -> str:
    """The message with its numbers, the spacing NumPy aligns them with, and temporary paths masked."""
    message = re.sub(r"/tmp/\S+", "TMP", message)
    return re.sub(r"\s+", "", re.sub(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", message))


def test_generator_stubs_keep_indentation_and_reject_broken_markers():
    body = ["def f(x):", '    """Doc."""', "    ### BEGIN SOLUTION", "    return 2 * x", "    ### END SOLUTION"]
    assert notebooks._stub_block(body, "nb") == [
        "def f(x):", '    """Doc."""', "    # YOUR CODE HERE", "    raise NotImplementedError()"
    ]
    with pytest.raises(ValueError, match="without ### END"):
        notebooks._stub_block(["### BEGIN SOLUTION", "x = 1"], "nb")
    with pytest.raises(ValueError, match="without ### BEGIN"):
        notebooks._stub_block(["x = 1", "### END SOLUTION"], "nb")
