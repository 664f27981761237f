"""Benchmark every notebook against its budget, and publish the table in the book.

Each notebook runs top to bottom in a fresh kernel, in a fresh process, in the
environment its stored outputs were made in. Per notebook we record the wall
time, the kernel's peak resident memory and the metrics it reports (stdout
lines ``name: number`` of cells tagged ``metrics``), then compare them with the
budget: chapters 120 s (chapters 08-10: 150 s), solutions 90 s, 2.5 GB of memory. A notebook may
declare a tighter budget in its metadata::

    "dlcourse": {"budget": {"seconds": 60, "memory_mb": 1500}}

Usage (from the repository root)::

    python tools/bench.py run                 # all chapters and solutions -> bench/results.json
    python tools/bench.py run NB.ipynb ...    # some notebooks (merged into the results)
    python tools/bench.py check               # budgets on the recorded results only
    python tools/bench.py page                # rewrite reference/runtime.md from the results
    python tools/bench.py headers             # set each notebook's "Expected runtime" from the results
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as metadata
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
PAGE = ROOT / "reference" / "runtime.md"
DEFAULT_BUDGETS = {"chapters": 120.0, "solutions": 90.0}
#: The last three chapters (generative models, transformers, deployment) do more and may take longer.
LONG_CHAPTERS = {"08", "09", "10"}
LONG_CHAPTER_SECONDS = 150.0
MEMORY_BUDGET_MB = 2560.0
METRIC_LINE = re.compile(r"^\s*([A-Za-z][\w \-/()]*?)\s*[:=]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(%?)\s*$")
PACKAGES = ("numpy", "matplotlib", "tensorflow-cpu", "keras", "torch", "nltk", "scikit-learn", "jupyter-book")


def all_notebooks() -> list[Path]:
    return sorted(p for folder in DEFAULT_BUDGETS for p in (ROOT / folder).glob("*.ipynb"))


def rel(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix() if path.resolve().is_relative_to(ROOT) else str(path)


def budget_of(path: Path) -> dict[str, float]:
    """The notebook's budget: the folder default, tightened by its own metadata."""
    folder = path.resolve().parent.name
    seconds = DEFAULT_BUDGETS.get(folder, min(DEFAULT_BUDGETS.values()))
    if folder == "chapters" and path.name[:2] in LONG_CHAPTERS:
        seconds = LONG_CHAPTER_SECONDS
    memory = MEMORY_BUDGET_MB
    declared = nbformat.read(path, as_version=4).metadata.get("dlcourse", {}).get("budget", {})
    seconds = min(seconds, float(declared.get("seconds", seconds)))
    memory = min(memory, float(declared.get("memory_mb", memory)))
    return {"seconds": seconds, "memory_mb": memory}


def metrics_of(nb) -> dict[str, float]:
    """``name: number`` lines printed by cells tagged ``metrics`` (percentages as fractions)."""
    found: dict[str, float] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "metrics" not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines() if output.output_type == "stream" else []:
                match = METRIC_LINE.match(line)
                if match:  # "97.5%" is recorded as the fraction 0.975
                    value = float(match.group(2)) / (100 if match.group(3) else 1)
                    found[match.group(1).strip()] = float(f"{value:.6g}")
    return found


# --------------------------------------------------------------------------- measuring
def _measure_here(path: Path) -> dict:
    """Run one notebook in this process's child kernel; called in a fresh process."""
    from nbclient import NotebookClient

    os.environ.update(notebooks.EXECUTION_ENV)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=1800, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    # The kernel is our child and has been reaped: its peak RSS is the children's maximum (KiB on Linux).
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    metrics = metrics_of(nb)
    return {
        "seconds": round(seconds, 1),
        "peak_mb": round(peak_mb),
        "metrics": metrics,
        "headline": next(iter(metrics), None),  # the first metric the notebook reports
    }


def measure(path: Path) -> dict:
    """Benchmark one notebook in a fresh Python process and a fresh kernel."""
    proc = subprocess.run(
        [sys.executable, __file__, "_measure", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-3000:]
        raise RuntimeError(f"{rel(path)} failed to run:\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def environment() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "packages": versions,
    }


# --------------------------------------------------------------------------- budgets
def breaches(results: dict, paths: list[Path] | None = None) -> list[str]:
    """Budget breaches (and notebooks never benchmarked) as sentences."""
    problems = []
    recorded = results.get("notebooks", {})
    for path in paths if paths is not None else all_notebooks():
        name = rel(path)
        row = recorded.get(name)
        if row is None:
            problems.append(f"{name}: not benchmarked yet (run `make bench`)")
            continue
        budget = budget_of(path)
        if row["seconds"] > budget["seconds"]:
            problems.append(f"{name}: took {row['seconds']:.1f} s, over its budget of {budget['seconds']:.0f} s")
        if row["peak_mb"] > budget["memory_mb"]:
            problems.append(
                f"{name}: peaked at {row['peak_mb']:.0f} MB, over its budget of {budget['memory_mb']:.0f} MB"
            )
    return problems


# --------------------------------------------------------------------------- the page
def _headline(row: dict) -> str:
    name = row.get("headline")
    return f"{name}: {row['metrics'][name]:g}" if name else "—"


def write_page(results: dict, page: Path = PAGE) -> None:
    env = results["environment"]
    lines = [
        "# Runtime and environment",
        "",
        "How long each notebook takes to run top to bottom, and how much memory it needs,",
        f"measured by `make bench` on a {env['cpus']}-core CPU with no GPU "
        f"(Python {env['python']}, {env['platform']}), on {results['recorded']}.",
        "Budgets: every chapter runs in at most 120 s (chapters 8-10, which do more, in 150 s),",
        "every solutions notebook in at most 90 s, each in at most 2.5 GB of memory.",
        "A laptop is usually faster than this machine.",
        "",
        "| notebook | time | peak memory | budget | headline metric |",
        "|---|---:|---:|---:|---|",
    ]
    for name, row in sorted(results["notebooks"].items()):
        lines.append(
            f"| `{name}` | {row['seconds']:.0f} s | {row['peak_mb']:.0f} MB | "
            f"{row['budget']['seconds']:.0f} s | {_headline(row)} |"
        )
    lines += ["", "## Package versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {name} | {version} |" for name, version in sorted(env["packages"].items())]
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")


RUNTIME_LINE = re.compile(r"(\*\*Expected runtime:\*\* about )\d+ (?:s|min)")


def sync_runtime_headers(results: dict) -> list[str]:
    """Rewrite each benchmarked notebook's promised runtime (rounded up to 5 s); return changed paths."""
    changed = []
    for name, row in sorted(results.get("notebooks", {}).items()):
        path = ROOT / name
        if not path.exists():
            continue
        promised = max(5, 5 * math.ceil(row["seconds"] / 5))
        nb = nbformat.read(path, as_version=4)
        cell = nb.cells[3]
        new = RUNTIME_LINE.sub(rf"\g<1>{promised} s", cell.source, count=1)
        if new != cell.source:
            cell.source = new
            nbformat.write(nb, path)
            changed.append(name)
    return changed


# --------------------------------------------------------------------------- commands
def load(results_path: Path) -> dict:
    if not results_path.exists():
        return {"notebooks": {}}
    return json.loads(results_path.read_text(encoding="utf-8"))


def run(paths: list[Path], results_path: Path, page: Path | None, stream=sys.stdout) -> int:
    results = load(results_path)
    results.setdefault("notebooks", {})
    for path in paths:
        print(f"benchmarking {rel(path)} …", file=stream, flush=True)
        row = measure(path)
        row["budget"] = budget_of(path)
        results["notebooks"][rel(path)] = row
        print(f"  {row['seconds']:.1f} s, {row['peak_mb']:.0f} MB, {_headline(row)}", file=stream)
    results["environment"] = environment()
    results["recorded"] = dt.date.today().isoformat()
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if page is not None:
        write_page(results, page)
    problems = breaches(results, paths)
    for problem in problems:
        print(f"BUDGET BREACH: {problem}", file=stream)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="benchmark notebooks, record results, rewrite the page")
    r.add_argument("paths", nargs="*", type=Path)
    r.add_argument("--results", type=Path, default=RESULTS)
    r.add_argument("--page", type=Path, default=PAGE)
    c = sub.add_parser("check", help="check the recorded results against the budgets")
    c.add_argument("--results", type=Path, default=RESULTS)
    h = sub.add_parser("headers", help="set each notebook's 'Expected runtime' from the recorded results")
    h.add_argument("--results", type=Path, default=RESULTS)
    p = sub.add_parser("page", help="rewrite the runtime page from the recorded results")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--page", type=Path, default=PAGE)
    m = sub.add_parser("_measure")
    m.add_argument("path", type=Path)
    args = parser.parse_args(argv)

    if args.command == "_measure":
        print(json.dumps(_measure_here(args.path)))
        return 0
    if args.command == "run":
        return run(args.paths or all_notebooks(), args.results, args.page)
    if args.command == "headers":
        changed = sync_runtime_headers(load(args.results))
        print("updated: " + (", ".join(changed) or "nothing"))
        return 0
    if args.command == "page":
        write_page(load(args.results), args.page)
        return 0
    problems = breaches(load(args.results))
    for problem in problems:
        print(f"BUDGET BREACH: {problem}")
    print("all notebooks within budget" if not problems else f"{len(problems)} budget breach(es)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
