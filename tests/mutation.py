"""Mutation testing of the self-checks: a check that cannot tell a changed solution from the real one
cannot tell a learner's bug from a right answer either.

For each exercise, the worked answer in ``solutions/`` is parsed and changed in one place at a
time, on the lines the learner writes (between the solution markers), the way bugs are written:

- arithmetic operators swapped (``+``/``-``, ``*``/``/``, ``@``/``*``, ``**``/``*``, ``//``/``/``);
- comparisons moved by one (``<``/``<=``, ``>``/``>=``, ``==``/``!=``);
- a term dropped (``a + b`` becomes ``a`` and ``b``; ``a - b`` becomes ``a``);
- integer constants ± 1, float constants + 1, ``True``/``False`` swapped;
- axes swapped (``axis=``/``dim=`` keyword arguments: 0 and -1 become 1 and 0 or -2);
  ``keepdims=True`` dropped;
- reductions swapped (``sum``/``mean``, ``max``/``min``, ``argmax``/``argmin``, ``maximum``/``minimum``);
- unary minus removed; ``and``/``or`` swapped;
- slice bounds off by one (``x[a:b]`` becomes ``x[a+1:b]`` and ``x[a:b-1]``).

Each mutant is graded with the exercise's own check, exactly as a learner's answer is. A mutant is
*killed* when the check rejects it (or it crashes, or runs past the time limit, as a learner's
endless loop would); it *survives* when the check passes it. Some mutants compute the same thing as
the original (``1e-12`` vs ``1e-12 + 1`` inside a clamp that never binds, say): they are listed in
``EQUIVALENT_MUTANTS`` of tests/test_checks_chNN.py with the reason, and left out of the kill rate.

Run ``python tests/mutation.py 1 2 3`` to see each chapter's survivors; ``tests/test_mutation.py``
holds every chapter to its kill rate.
"""
from __future__ import annotations

import ast
import copy
import re
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py: where the answers are read from the solutions)
_CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d+\.\d+)["']""")

_BINOP_SWAPS = {
    ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult, ast.FloorDiv],
    ast.FloorDiv: [ast.Div], ast.MatMult: [ast.Mult], ast.Pow: [ast.Mult], ast.Mod: [ast.FloorDiv],
}
_COMPARE_SWAPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
}
_NAME_SWAPS = {
    "sum": "mean", "mean": "sum", "max": "min", "min": "max", "argmax": "argmin", "argmin": "argmax",
    "maximum": "minimum", "minimum": "maximum", "amax": "amin", "amin": "amax", "nansum": "nanmean",
}
_AXIS_SWAPS = {0: [1], 1: [0], -1: [0, -2], 2: [1], -2: [-1]}
_OP_TEXT = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.MatMult: "@",
    ast.Pow: "**", ast.Mod: "%", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
    ast.NotEq: "!=",
}


@dataclass
class Mutant:
    """One changed solution: where and what, and its source."""

    exercise_id: str
    description: str   # "line 7:12: + -> -" (line:column within the solution's code), stable across runs
    source: str


@dataclass
class Outcome:
    exercise_id: str
    killed: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


def _is_docstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    return isinstance(parent, ast.Expr) and isinstance(node, ast.Constant) and isinstance(node.value, str)


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str, Any]]:
    """Every (node, description, change) in the tree, in a fixed order."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    sites: list[tuple[ast.AST, str, Any]] = []
    for node in ast.walk(tree):
        line = f"{getattr(node, 'lineno', 0)}:{getattr(node, 'col_offset', 0)}"
        if isinstance(node, ast.BinOp):
            for new in _BINOP_SWAPS.get(type(node.op), []):
                sites.append((node, f"line {line}: {_OP_TEXT[type(node.op)]} -> {_OP_TEXT[new]}", ("op", new)))
            if isinstance(node.op, (ast.Add, ast.Sub)):
                sites.append((node, f"line {line}: drop the right term of {_OP_TEXT[type(node.op)]}", ("keep", "left")))
            if isinstance(node.op, ast.Add):
                sites.append((node, f"line {line}: drop the left term of +", ("keep", "right")))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP_SWAPS:
            for new in _BINOP_SWAPS[type(node.op)]:
                sites.append((node, f"line {line}: {_OP_TEXT[type(node.op)]}= -> {_OP_TEXT[new]}=", ("op", new)))
        elif isinstance(node, ast.Compare):
            for index, op in enumerate(node.ops):
                if type(op) in _COMPARE_SWAPS:
                    new = _COMPARE_SWAPS[type(op)]
                    sites.append((node, f"line {line}: {_OP_TEXT[type(op)]} -> {_OP_TEXT[new]}", ("cmp", index, new)))
        elif isinstance(node, ast.Constant) and not _is_docstring(node, parents):
            value = node.value
            if isinstance(value, bool):
                sites.append((node, f"line {line}: {value} -> {not value}", ("const", not value)))
            elif isinstance(value, int):
                sites.append((node, f"line {line}: {value} -> {value + 1}", ("const", value + 1)))
                sites.append((node, f"line {line}: {value} -> {value - 1}", ("const", value - 1)))
            elif isinstance(value, float):
                sites.append((node, f"line {line}: {value!r} -> {value + 1!r}", ("const", value + 1)))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            if not isinstance(node.operand, ast.Constant) or not isinstance(parents.get(node), ast.keyword):
                sites.append((node, f"line {line}: drop unary minus", ("unary",)))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            sites.append((node, f"line {line}: {type(node.op).__name__.lower()} -> {new.__name__.lower()}", ("bool", new)))
        elif isinstance(node, ast.keyword) and node.arg in ("axis", "dim"):
            value = _int_value(node.value)
            for new in _AXIS_SWAPS.get(value, []) if value is not None else []:
                sites.append((node, f"line {line}: {node.arg}={value} -> {node.arg}={new}", ("axis", new)))
        elif isinstance(node, ast.keyword) and node.arg in ("keepdims", "keepdim"):
            sites.append((node, f"line {line}: drop {node.arg}=", ("dropkw",)))
        elif isinstance(node, ast.Attribute) and node.attr in _NAME_SWAPS:
            sites.append((node, f"line {line}: .{node.attr} -> .{_NAME_SWAPS[node.attr]}", ("attr", _NAME_SWAPS[node.attr])))
        elif isinstance(node, ast.Name) and node.id in ("max", "min", "sum") and isinstance(parents.get(node), ast.Call):
            swap = {"max": "min", "min": "max", "sum": "len"}[node.id]
            sites.append((node, f"line {line}: {node.id}() -> {swap}()", ("name", swap)))
        elif isinstance(node, ast.Slice):
            if node.lower is not None:
                sites.append((node, f"line {line}: slice start + 1", ("slice", "lower")))
            if node.upper is not None:
                sites.append((node, f"line {line}: slice stop - 1", ("slice", "upper")))
    return sites


def _int_value(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return -node.operand.value if isinstance(node.operand.value, int) else None
    return None


class _Apply(ast.NodeTransformer):
    def __init__(self, target: ast.AST, change: tuple) -> None:
        self.target, self.change = target, change
        self.done = False

    def visit(self, node: ast.AST) -> Any:
        if node is not self.target:
            return self.generic_visit(node)
        self.done = True
        kind, *args = self.change
        if kind == "op":
            node.op = args[0]()
        elif kind == "keep":
            return node.left if args[0] == "left" else node.right
        elif kind == "cmp":
            node.ops[args[0]] = args[1]()
        elif kind == "const":
            node.value = args[0]
        elif kind == "unary":
            return node.operand
        elif kind == "bool":
            node.op = args[0]()
        elif kind == "axis":
            node.value = ast.Constant(args[0])
        elif kind == "dropkw":
            return None
        elif kind == "attr":
            node.attr = args[0]
        elif kind == "name":
            node.id = args[0]
        elif kind == "slice":
            if args[0] == "lower":
                node.lower = ast.BinOp(node.lower, ast.Add(), ast.Constant(1))
            else:
                node.upper = ast.BinOp(node.upper, ast.Sub(), ast.Constant(1))
        return node


def mutants(exercise_id: str, source: str, lines: set[int] | None = None) -> list[Mutant]:
    """Every one-place change of ``source`` (on ``lines`` only, if given) that still compiles."""
    tree = ast.parse(source)
    chosen = [i for i, (node, _, _) in enumerate(_sites(tree))
              if lines is None or getattr(node, "lineno", 0) in lines]
    out: list[Mutant] = []
    seen: set[str] = {ast.unparse(tree)}
    for index in chosen:
        copy_tree = copy.deepcopy(tree)
        node, description, change = _sites(copy_tree)[index]
        changed = ast.fix_missing_locations(_Apply(node, change).visit(copy_tree))
        try:
            text = ast.unparse(changed)
            compile(text, "<mutant>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, TypeError):
            continue
        if text in seen:  # two changes that give the same code
            continue
        seen.add(text)
        out.append(Mutant(exercise_id, description, text))
    return out


@dataclass
class Setting:
    """One exercise as its notebook poses it: the answer's code, which lines the learner writes,
    the name passed to check(), and the notebook's variables just before the answer runs."""

    exercise_id: str
    source: str
    answer_lines: set[int]
    name: str
    scope: dict[str, Any]


def chapter_settings(chapter: int, skip: dict[str, str] | None = None) -> dict[str, Setting]:
    """Run the chapter's solutions notebook cell by cell, keeping what each exercise needs.

    The cells run in this process (Agg backend, output discarded), in order, as Jupyter runs them;
    before the first answer cell of an exercise, the namespace is copied for its mutants. The run
    stops after the last exercise not in ``skip``.
    """
    skip = skip or {}
    import contextlib
    import io
    import os

    import matplotlib
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    from dlcourse_utils.checks.core import STRICT_ENV

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.environ[STRICT_ENV] = "0"
    [path] = sorted((ROOT / "solutions").glob(f"{chapter:02d}_*_solutions.ipynb"))
    transform = TransformerManager().transform_cell
    scope: dict[str, Any] = {"__name__": "__main__"}
    nb = nbformat.read(path, as_version=4)
    wanted = {i: a for i, a in notebooks.answers(nb, str(path)).items() if i not in skip}
    last = max((index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
                and any(e in wanted for e in _CHECK_CALL.findall(cell.source))), default=-1)
    starts = {answer.first_cell: exercise_id for exercise_id, answer in wanted.items()}
    settings: dict[str, Setting] = {}
    for index, cell in enumerate(nb.cells[: last + 1]):   # what comes after (a long training run) is not needed
        if cell.cell_type != "code":
            continue
        if index in starts:
            exercise_id = starts[index]
            answer = wanted[exercise_id]
            settings[exercise_id] = Setting(exercise_id, answer.code, answer.lines, answer.name, dict(scope))
        code = transform(cell.source)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(code, str(path), "exec", dont_inherit=True), scope)
        plt.close("all")
    return settings


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def stop(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _passes(setting: Setting, source: str, seconds: float) -> bool:
    """Whether the exercise's check passes ``source`` run where the notebook runs the answer."""
    import contextlib
    import io

    from dlcourse_utils.checks import grade

    scope = dict(setting.scope)
    try:
        with _time_limit(seconds), contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, f"<exercise {setting.exercise_id}>", "exec", dont_inherit=True), scope)
            return grade(setting.exercise_id, scope[setting.name]).passed
    except _Timeout:
        return False   # as a learner's endless loop would, the mutant never finishes
    except Exception:
        return False


def run_exercise(setting: Setting, equivalent: dict[str, str] | None = None, seconds: float = 20.0) -> Outcome:
    """Grade every mutant of one exercise's worked answer (changes on the learner's lines only)."""
    import warnings

    started = time.perf_counter()
    outcome = Outcome(setting.exercise_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not _passes(setting, setting.source, seconds * 3):
            outcome.error = "the unchanged solution does not pass its check"
            return outcome
        for mutant in mutants(setting.exercise_id, setting.source, setting.answer_lines):
            if equivalent and mutant.description in equivalent:
                outcome.equivalent.append(mutant.description)
            elif _passes(setting, mutant.source, seconds):
                outcome.survived.append(mutant.description)
            else:
                outcome.killed.append(mutant.description)
    outcome.seconds = time.perf_counter() - started
    return outcome


def run_chapter(chapter: int, equivalent: dict[str, dict[str, str]],
                skip: dict[str, str] | None = None) -> list[Outcome]:
    """Mutants of every exercise of a chapter, except those in ``skip`` (open-ended ones)."""
    settings = chapter_settings(chapter, skip)
    return [run_exercise(s, equivalent.get(i, {})) for i, s in
            sorted(settings.items(), key=lambda kv: int(kv[0].split(".")[1])) if i not in (skip or {})]


def kill_rate(outcomes: list[Outcome]) -> tuple[int, int, float]:
    killed = sum(len(o.killed) for o in outcomes)
    total = killed + sum(len(o.survived) for o in outcomes)
    return killed, total, (killed / total if total else 1.0)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_mutation import equivalent_mutants, open_ended

    chapters = [int(a) for a in argv] or list(range(1, 11))
    for chapter in chapters:
        outcomes = run_chapter(chapter, equivalent_mutants(), open_ended())
        killed, total, rate = kill_rate(outcomes)
        print(f"chapter {chapter}: {killed}/{total} mutants killed ({rate:.1%})")
        for o in outcomes:
            extra = f" ERROR: {o.error}" if o.error else ""
            print(f"  {o.exercise_id}: {len(o.killed)} killed, {len(o.survived)} survived, "
                  f"{len(o.equivalent)} equivalent, {o.seconds:.1f} s{extra}")
            for description in o.survived:
                print(f"    survived: {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
