"""Maintain the book's notebooks: generate exercises from solutions, re-execute outputs.

``solutions/NN_slug_solutions.ipynb`` is the single source of every exercise. Code
between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is the answer; the
generator replaces it with a stub that raises ``NotImplementedError``, clears all
outputs and writes ``exercises/NN_slug_exercises.ipynb``.

Usage (from the repository root)::

    python tools/notebooks.py exercises            # (re)generate exercises/
    python tools/notebooks.py exercises --check    # fail if exercises/ is stale
    python tools/notebooks.py execute chapters/01_single_neuron.ipynb ...
    python tools/notebooks.py header               # rewrite badges/setup cells from _config.yml
                                                   # (and the kernelspec JupyterLab expects)
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
#: Environment every stored output is produced (and checked by nbval) under.
EXECUTION_ENV = {
    "TQDM_DISABLE": "1",  # progress bars are for people, not for stored outputs
    "DLCOURSE_CHECKS_STRICT": "1",  # a failing self-check in a solution is an error
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONHASHSEED": "0",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # figures become stored outputs
}
#: A second numeric environment on the same machine, for ``make test-portable``: each of these
#: moves one framework onto another floating-point path (checked by tests/test_portable.py), the
#: way another CPU model, instruction set or thread count would.
OTHER_MACHINE_ENV = {
    "ATEN_CPU_CAPABILITY": "default",  # PyTorch: scalar kernels instead of AVX2/AVX-512 (torch.randn too)
    "OMP_NUM_THREADS": "1",  # PyTorch and OpenBLAS (NumPy): one thread, so other summation orders
    "OPENBLAS_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",  # TensorFlow: one thread per op, other reduction orders
    "TF_NUM_INTEROP_THREADS": "1",
}
#: The kernelspec JupyterLab writes into a notebook the moment a learner opens it with
#: ipykernel's kernel. Stored exactly so, opening a notebook does not modify the clone.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def normalise_metadata(nb: nbformat.NotebookNode) -> None:
    """Give a notebook the metadata JupyterLab would write, so that opening it changes nothing."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)


# --------------------------------------------------------------------------- config
def repository_url() -> str:
    """The repository URL, set once in ``_config.yml`` (``repository.url``)."""
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    match = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", text, re.M)
    if not match:
        raise RuntimeError("_config.yml has no repository.url")
    return match.group(1).rstrip("/")


def colab_url(relpath: str) -> str:
    """Colab URL of a notebook of this repository, e.g. ``chapters/01_single_neuron.ipynb``."""
    slug = repository_url().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{slug}/blob/main/{relpath}"


def badge_source(relpath: str) -> str:
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(relpath)})"
    )


def notebook_extras(relpath: str | None) -> tuple[str, ...]:
    """The optional groups of dlcourse-utils a notebook needs (dlcourse_utils.env.CHAPTER_EXTRAS)."""
    from dlcourse_utils.env import CHAPTER_EXTRAS

    if relpath is None:
        return ()
    match = re.match(r"(\d\d)_", Path(relpath).name)
    return tuple(sorted(CHAPTER_EXTRAS.get(int(match.group(1)), ()))) if match else ()


def setup_source(relpath: str | None = None) -> str:
    """The hidden Colab set-up cell of a notebook: the helpers plus what its chapter needs."""
    extras = notebook_extras(relpath)
    requirement = f"dlcourse-utils{'[' + ','.join(extras) + ']' if extras else ''} @ git+{repository_url()}@main"
    return (
        "# Colab only: install the course helpers (Colab already has NumPy, TensorFlow and PyTorch).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    helpers = "{requirement}"\n'
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]\n'
        "    subprocess.run([*pip, helpers], check=True)\n"
        "    # Again without dependencies: re-running this cell after the course changed updates the helpers.\n"
        '    subprocess.run([*pip, "--force-reinstall", "--no-deps", helpers], check=True)'
    )


# --------------------------------------------------------------------------- exercises
def _stub_block(lines: list[str], path: str) -> list[str]:
    out: list[str] = []
    inside = False
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{path}: nested {BEGIN} at line {number}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in STUB)
        elif stripped == END:
            if not inside:
                raise ValueError(f"{path}: {END} without {BEGIN} at line {number}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{path}: {BEGIN} without {END}")
    return out


def exercise_path(solution: Path) -> Path:
    name = solution.name.replace("_solutions.ipynb", "_exercises.ipynb")
    return solution.parent.parent / "exercises" / name


def make_exercise(solution_nb: nbformat.NotebookNode, solution_rel: str, exercise_rel: str) -> nbformat.NotebookNode:
    """Return the exercise notebook generated from a solutions notebook."""
    nb = copy.deepcopy(solution_nb)
    normalise_metadata(nb)
    for cell in nb.cells:
        source = cell.source
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
            if BEGIN in source:
                source = "\n".join(_stub_block(source.split("\n"), solution_rel))
        source = source.replace(colab_url(solution_rel), colab_url(exercise_rel))
        cell.source = source
    return nb


def restore_solutions(exercise_nb: nbformat.NotebookNode, solution_nb: nbformat.NotebookNode) -> list[str]:
    """Put the solution blocks back into the exercise stubs; return the cell sources.

    Used by the tests to prove that the exercise is exactly the solution minus its answers.
    """
    sources = []
    for ex_cell, sol_cell in zip(exercise_nb.cells, solution_nb.cells):
        blocks = re.findall(
            rf"^([ \t]*){re.escape(BEGIN)}\n(.*?)^[ \t]*{re.escape(END)}$", sol_cell.source, re.M | re.S
        )
        source = ex_cell.source
        for indent, body in blocks:
            stub = "\n".join(indent + s for s in STUB)
            source = source.replace(stub, f"{indent}{BEGIN}\n{body}{indent}{END}", 1)
        sources.append(source)
    return sources


#: Where ``solution("N.M")`` reads the worked answers: generated here, shipped in the package,
#: so a learner in Colab (who has only the exercise notebook) can ask for one too.
SOLUTIONS_JSON = ROOT / "dlcourse_utils" / "checks" / "solutions.json"
_CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d+\.\d+)["']""")


_ANSWER_NAME = re.compile(r"""\bcheck\(\s*["'](\d+\.\d+)["']\s*,\s*([A-Za-z_][A-Za-z_0-9]*)""")


@dataclasses.dataclass
class Answer:
    """One exercise's worked answer in a solutions notebook.

    ``code``: its solution cells joined by a blank line, markers left out; ``lines``: the
    1-based line numbers in ``code`` that the learner writes (between the markers);
    ``name``: what the check call passes (``check("1.2", sigmoid)`` -> ``"sigmoid"``);
    ``first_cell``: the index of its first solution cell in ``nb.cells``.
    """

    code: str
    lines: set[int]
    name: str | None
    first_cell: int


def split_answer(source: str) -> tuple[str, list[int]]:
    """A solution cell without its markers, and the 1-based numbers of the lines between them."""
    kept: list[str] = []
    learner_lines: list[int] = []
    inside = False
    for line in source.split("\n"):
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        else:
            kept.append(line)
            if inside:
                learner_lines.append(len(kept))
    return "\n".join(kept), learner_lines


def answers(nb: nbformat.NotebookNode, path: str) -> dict[str, Answer]:
    """``{exercise id: Answer}`` of one solutions notebook.

    Every code cell holding a ``### BEGIN SOLUTION`` block belongs to the first
    ``check("N.M", ...)`` call at or after it; several cells before one check are joined.
    """
    found: dict[str, Answer] = {}
    parts: list[str] = []
    lines: set[int] = set()
    first = -1
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if BEGIN in cell.source:
            if not parts:
                first = index
            offset = sum(part.count("\n") + 2 for part in parts)   # parts are joined by a blank line
            code, learner_lines = split_answer(cell.source)
            lines.update(offset + n for n in learner_lines)
            parts.append(code)
        ids = _CHECK_CALL.findall(cell.source)
        if ids and parts:
            named = dict(_ANSWER_NAME.findall(cell.source))
            code = "\n\n".join(parts)
            stripped = code.strip("\n")
            shift = len(code[: code.index(stripped)].split("\n")) - 1 if stripped else 0
            found.setdefault(ids[0], Answer(stripped, {n - shift for n in lines}, named.get(ids[0]), first))
            parts, lines = [], set()
    if parts:
        raise ValueError(f"{path}: a {BEGIN} block is not followed by any check(\"N.M\", ...) call")
    return found


def solution_snippets(nb: nbformat.NotebookNode, path: str) -> dict[str, str]:
    """``{exercise id: solution code}`` of one solutions notebook (see :func:`answers`)."""
    return {exercise_id: answer.code for exercise_id, answer in answers(nb, path).items()}


def generate_exercises(check: bool = False) -> list[str]:
    """Write (or with ``check``, compare) every exercise notebook and the solutions file; return stale paths."""
    stale = []
    snippets: dict[str, str] = {}
    for solution in sorted((ROOT / "solutions").glob("*_solutions.ipynb")):
        target = exercise_path(solution)
        sol_rel = solution.relative_to(ROOT).as_posix()
        ex_rel = target.relative_to(ROOT).as_posix()
        solution_nb = nbformat.read(solution, as_version=4)
        snippets.update(solution_snippets(solution_nb, sol_rel))
        text = nbformat.writes(make_exercise(solution_nb, sol_rel, ex_rel)) + "\n"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(ex_rel)
            if not check:
                target.write_text(text, encoding="utf-8")
    ordered = dict(sorted(snippets.items(), key=lambda kv: tuple(int(p) for p in kv[0].split("."))))
    text = json.dumps(ordered, indent=1, ensure_ascii=False) + "\n"
    if not SOLUTIONS_JSON.exists() or SOLUTIONS_JSON.read_text(encoding="utf-8") != text:
        stale.append(SOLUTIONS_JSON.relative_to(ROOT).as_posix())
        if not check:
            SOLUTIONS_JSON.write_text(text, encoding="utf-8")
    return stale


# --------------------------------------------------------------------------- headers
def sync_headers(paths: list[Path]) -> None:
    """Rewrite each notebook's badge and Colab set-up cell from ``_config.yml``."""
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        rel = path.resolve().relative_to(ROOT).as_posix()
        badge, setup = nb.cells[1], nb.cells[2]
        badge.source = badge_source(rel)
        setup.source = setup_source(rel)
        for cell in (badge, setup):
            tags = cell.metadata.setdefault("tags", [])
            if "remove-cell" not in tags:
                tags.append("remove-cell")
        normalise_metadata(nb)
        nbformat.write(nb, path)


# --------------------------------------------------------------------------- execution
def execute(paths: list[Path], timeout: int = 600) -> None:
    """Re-execute notebooks in place, in the environment nbval checks them under."""
    from nbclient import NotebookClient

    os.environ.update(EXECUTION_ENV)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
        normalise_metadata(nb)
        nbformat.write(nb, path)
        print(f"executed {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exercises", help="generate exercises/ from solutions/")
    ex.add_argument("--check", action="store_true", help="only report stale exercise notebooks")
    run = sub.add_parser("execute", help="re-execute notebooks and store their outputs")
    run.add_argument("paths", nargs="+", type=Path)
    head = sub.add_parser("header", help="rewrite badges and Colab set-up cells from _config.yml")
    head.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)

    if args.command == "exercises":
        stale = generate_exercises(check=args.check)
        if args.check and stale:
            print("exercises/ is out of date with solutions/: run `make exercises`.\n  " + "\n  ".join(stale))
            return 1
        print(("stale: " if args.check else "wrote: ") + (", ".join(stale) or "nothing (up to date)"))
    elif args.command == "execute":
        execute(args.paths)
    elif args.command == "header":
        paths = args.paths or sorted(
            p for folder in ("chapters", "solutions") for p in (ROOT / folder).glob("*.ipynb")
        )
        sync_headers(paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
