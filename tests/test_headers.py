"""Every notebook opens the same way, and every chapter ends the same way.

Header (all notebooks): title; Colab badge for the notebook's own path; Colab-only
set-up cell (both tagged ``remove-cell``); learning objectives (3-6 bullets),
prerequisites and expected runtime. Chapters also end with common mistakes,
a recap, questions with revealable answers and a pointer to the exercises.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import notebooks

ROOT = notebooks.ROOT
ALL = sorted(p for folder in ("chapters", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb"))
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
NAME = re.compile(r"^(\d\d)_[a-z0-9_]+?(_solutions|_exercises)?\.ipynb$")
RUNTIME = re.compile(r"\*\*Expected runtime:\*\* about (\d+) (s|min) on a 2-core CPU")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def expected_runtime_seconds(path: Path) -> int:
    """The runtime a notebook's header promises, in seconds."""
    nb = nbformat.read(path, as_version=4)
    match = RUNTIME.search(nb.cells[3].source)
    assert match, f"{rel(path)}: no '**Expected runtime:** about N s on a 2-core CPU'"
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_every_chapter_has_solutions_and_exercises_and_is_in_the_toc():
    assert CHAPTERS
    toc = (ROOT / "_toc.yml").read_text()
    for chapter in CHAPTERS:
        stem = chapter.stem
        assert (ROOT / "solutions" / f"{stem}_solutions.ipynb").exists()
        assert (ROOT / "exercises" / f"{stem}_exercises.ipynb").exists()
        assert f"file: chapters/{stem}\n" in toc and f"file: exercises/{stem}_exercises\n" in toc


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_notebook_header(path):
    assert NAME.match(path.name), f"{path.name} does not follow NN_slug[_solutions|_exercises].ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    title, badge, setup, intro = nb.cells[:4]

    assert title.cell_type == "markdown"
    assert re.fullmatch(r"# \S.*", title.source.strip()), "cell 0 is the title alone"
    number = int(path.name[:2])
    assert title.source.startswith(f"# {number}. ") or title.source.startswith(f"# Exercises {number}: ")

    assert badge.cell_type == "markdown" and badge.source == notebooks.badge_source(rel(path))
    assert setup.cell_type == "code" and setup.source == notebooks.setup_source(rel(path))
    for cell in (badge, setup):
        assert "remove-cell" in cell.metadata.get("tags", []), "badge and set-up cells are hidden in the book"

    text = intro.source
    assert intro.cell_type == "markdown"
    assert "**Learning objectives.**" in text and "**Prerequisites.**" in text
    objectives = text.split("**Learning objectives.**", 1)[1].split("**Prerequisites.**", 1)[0]
    bullets = [line for line in objectives.splitlines() if line.startswith("- ")]
    assert 3 <= len(bullets) <= 6, f"{len(bullets)} learning objectives"
    assert expected_runtime_seconds(path) > 0

    first_code = nb.cells[4]
    assert first_code.cell_type == "code" and "setup_notebook(seed=" in first_code.source


@pytest.mark.parametrize("path", CHAPTERS, ids=rel)
def test_chapter_closing_sections(path):
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    headings = re.findall(r"^## (.+)$", text, re.M)
    closing = ["Common mistakes", "Recap", "Check your understanding", "What next"]
    positions = [next((i for i, h in enumerate(headings) if h.startswith(name)), -1) for name in closing]
    assert -1 not in positions and positions == sorted(positions), f"closing sections out of order: {headings}"
    mistakes = text.split("## Common mistakes", 1)[1]
    assert re.search(r"^\|.*\|\s*$\n^\|\s*:?-+", mistakes, re.M), "Common mistakes needs a table"
    questions = text.split("## Check your understanding", 1)[1]
    assert questions.count("<details>") >= 3, "answers are revealed with <details>"
    assert f"../exercises/{path.stem}_exercises.ipynb" in text.split("## What next", 1)[1]


@pytest.mark.parametrize("path", [p for p in ALL if "chapters" not in p.parts], ids=rel)
def test_exercise_notebooks_import_the_checks(path):
    nb = nbformat.read(path, as_version=4)
    imported = re.search(r"^from dlcourse_utils\.checks import (.+)$", nb.cells[4].source, re.M)
    assert imported and {"check", "hint"} <= {name.strip() for name in imported.group(1).split(",")}, \
        "the set-up cell must import check and hint from dlcourse_utils.checks"


LEAKS = [
    # site-packages, a home folder (Linux /home/NAME and /root, macOS /Users/NAME) or this checkout
    (re.compile(rf"site-packages|/(?:home|root|Users)/|{re.escape(str(ROOT))}/"), "a path of the machine that ran it"),
    (re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d", re.M), "a timestamped TensorFlow/absl log line"),
    (re.compile(r"IProgress not found"), "tqdm's widget warning (use `from tqdm import tqdm`)"),
    (re.compile(r" at 0x[0-9a-f]{6,}"), "a memory address"),
]


@pytest.mark.parametrize("path", [p for p in ALL if "exercises" not in p.parts], ids=rel)
def test_stored_outputs_are_portable(path):
    """What a reader sees must not depend on the machine that made it."""
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") + "".join(
                v for k, v in output.get("data", {}).items() if k.startswith("text/") and isinstance(v, str)
            ) + "\n".join(output.get("traceback", []))
            for pattern, what in LEAKS:
                assert not pattern.search(text), f"{rel(path)} cell {index}: stored output shows {what}"


@pytest.mark.parametrize("path", CHAPTERS + sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_no_control_characters_in_cells(path):
    """A backslash lost in a Python string ("\\approx" written as "\x07pprox") breaks the math on the page."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        bad = re.findall(r"[\x00-\x08\x0b-\x1f]", cell.source)
        assert not bad, f"cell {index} holds control characters {bad}: an unescaped backslash?"
