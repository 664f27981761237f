"""Each exercise page offers the reference solution of each exercise, collapsed.

``exercises/NN_slug_exercises.ipynb`` is generated cell by cell from
``solutions/NN_slug_solutions.ipynb`` (``tools/notebooks.py``), so cell *i* of one is
cell *i* of the other. After every exercise cell whose counterpart holds a
``### BEGIN SOLUTION`` block, the page gets a ``<details>`` element, closed, with the
solution cell's code: the answer lines highlighted, the markers left out.

The notebooks are read, never written: the exercise notebooks keep their stubs. If an
exercise cell is not what the generator makes of its solution cell (``exercises/`` is
stale), the build warns, and ``jupyter-book build -W`` fails, so the page can never
show a solution that does not belong to the exercise above it.
"""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.writers.html5 import HTML5Translator

from .alt_text import section_title

logger = logging.getLogger(__name__)

_EXERCISE = re.compile(r"^exercises/(?P<stem>.+)_exercises$")
_NUMBER = re.compile(r"\bExercise\s+(\d+(?:\.\d+)*)")


class solution_details(nodes.General, nodes.Element):
    """A collapsed block: ``<details><summary>{summary}</summary>...</details>``."""


def visit_details_html(self: HTML5Translator, node: solution_details) -> None:
    self.body.append(self.starttag(node, "details", CLASS="dl-solution"))
    self.body.append(f"<summary>{self.encode(node['summary'])}</summary>\n")


def depart_details_html(self: HTML5Translator, node: solution_details) -> None:
    self.body.append("</details>\n")


def _visit_plain(self, node: solution_details) -> None:
    """Other builders (LaTeX, text) print the solution as it is."""


def _depart_plain(self, node: solution_details) -> None:
    pass


def _notebooks_tool(root: Path) -> ModuleType:
    """``tools/notebooks.py``, the exercise generator, loaded by path."""
    name = "dlcourse_notebooks_tool"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, root / "tools" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module   # registered first: its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def add_solutions(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    match = _EXERCISE.match(docname)
    if not match:
        return
    root = Path(app.srcdir)
    solution_path = root / "solutions" / f"{match['stem']}_solutions.ipynb"
    if not solution_path.exists():
        logger.warning(f"{docname}: no solutions notebook {solution_path.relative_to(root)}", location=docname)
        return
    tool = _notebooks_tool(root)
    solution_nb = nbformat.read(solution_path, as_version=4)
    solution_cells = solution_nb.cells
    exercise_cells = nbformat.read(root / f"{docname}.ipynb", as_version=4).cells
    # What the generator makes of the solutions notebook (it copies it), to compare with.
    expected_cells = tool.make_exercise(
        solution_nb, solution_path.relative_to(root).as_posix(), f"{docname}.ipynb"
    ).cells
    if len(solution_cells) != len(exercise_cells):
        logger.warning(
            f"{docname} has {len(exercise_cells)} cells but {solution_path.name} has "
            f"{len(solution_cells)}: run `make exercises`",
            location=docname,
        )
        return
    for cell in list(doctree.findall(nodes.container)):
        index = cell.get("cell_index")
        if cell.get("nb_element") != "cell_code" or index is None:
            continue
        source = solution_cells[index].source
        if solution_cells[index].cell_type != "code" or tool.BEGIN not in source:
            continue
        if exercise_cells[index].source != expected_cells[index].source:
            logger.warning(
                f"{docname}: cell {index + 1} is not the stub of {solution_path.name}'s cell "
                f"{index + 1}: run `make exercises`",
                location=docname,
            )
            continue
        code, highlighted = tool.split_answer(source)
        code = code.rstrip("\n")
        number = _NUMBER.search(section_title(cell) or "")
        summary = f"Solution to exercise {number.group(1)}" if number else "Reference solution"
        block = nodes.literal_block(code, code, language="ipython3", classes=["dl-solution-code"])
        block["highlight_args"] = {"hl_lines": highlighted}
        details = solution_details(summary=summary)
        details += block
        cell.parent.insert(cell.parent.index(cell) + 1, details)


def setup(app: Sphinx) -> None:
    app.add_node(
        solution_details,
        html=(visit_details_html, depart_details_html),
        latex=(_visit_plain, _depart_plain),
        text=(_visit_plain, _depart_plain),
        man=(_visit_plain, _depart_plain),
        texinfo=(_visit_plain, _depart_plain),
    )
    app.connect("doctree-read", add_solutions)
