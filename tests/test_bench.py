"""The runtime benchmark: budgets are enforced, the recorded table is current and honest.

Timing itself is not part of the suite (it is noisy); the recorded results are.
"""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

import bench
from test_headers import CHAPTERS, expected_runtime_seconds

BENCH = [sys.executable, str(bench.ROOT / "tools" / "bench.py")]


def tiny_notebook(path, budget_seconds=None):
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)"),
        nbformat.v4.new_code_cell("print('test accuracy: 97.5%')\nprint('loss = 0.25')", metadata={"tags": ["metrics"]}),
    ]
    if budget_seconds is not None:
        nb.metadata["dlcourse"] = {"budget": {"seconds": budget_seconds}}
    nbformat.write(nb, path)
    return path


def test_a_budget_lowered_below_the_real_time_fails_naming_notebook_and_figure(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb", budget_seconds=1)
    proc = subprocess.run(
        [*BENCH, "run", str(nb), "--results", str(tmp_path / "r.json"), "--page", str(tmp_path / "p.md")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"BUDGET BREACH: {nb}: took" in proc.stdout and "over its budget of 1 s" in proc.stdout


def test_a_notebook_within_budget_is_recorded_with_time_memory_and_metrics(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb", budget_seconds=60)
    results, page = tmp_path / "r.json", tmp_path / "p.md"
    proc = subprocess.run([*BENCH, "run", str(nb), "--results", str(results), "--page", str(page)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = json.loads(results.read_text())["notebooks"][str(nb)]
    assert 1.5 <= row["seconds"] < 60
    assert 20 < row["peak_mb"] < 2560  # a kernel's resident memory, in MB
    assert row["metrics"] == {"test accuracy": 0.975, "loss": 0.25} and row["headline"] == "test accuracy"
    assert "test accuracy: 0.975" in page.read_text()


@pytest.mark.parametrize(
    "line, expected",
    [("test accuracy: 0.9812", ("test accuracy", 0.9812)), ("accuracy: 97.5%", ("accuracy", 0.975)),
     ("max relative error = 2.2e-08", ("max relative error", 2.2e-08))],
)
def test_metric_lines_are_parsed_with_percent_and_scientific_notation(line, expected):
    cell = nbformat.v4.new_code_cell("", metadata={"tags": ["metrics"]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=line + "\nnot a metric line\n")]
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert bench.metrics_of(nb) == {expected[0]: expected[1]}


def test_recorded_benchmark_covers_every_notebook_within_budget():
    assert bench.breaches(bench.load(bench.RESULTS)) == []


def test_runtime_page_is_generated_from_the_recorded_results(tmp_path):
    page = tmp_path / "runtime.md"
    bench.write_page(bench.load(bench.RESULTS), page)
    assert bench.PAGE.read_text() == page.read_text(), "run `python tools/bench.py page`"


@pytest.mark.parametrize("path", CHAPTERS + sorted((bench.ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_header_runtime_agrees_with_the_benchmark(path):
    measured = bench.load(bench.RESULTS)["notebooks"][bench.rel(path)]["seconds"]
    promised = expected_runtime_seconds(path)
    assert abs(promised - measured) <= max(15, 0.5 * measured), (
        f"{path.name} promises about {promised} s but the benchmark measured {measured:.0f} s"
    )


def test_chapters_8_to_10_get_150_seconds_the_others_120():
    root = bench.ROOT
    assert bench.budget_of(root / "chapters" / "08_generative.ipynb")["seconds"] == 150
    assert bench.budget_of(root / "chapters" / "10_deployment.ipynb")["seconds"] == 150
    assert bench.budget_of(root / "chapters" / "07_autoencoders.ipynb")["seconds"] == 120
    assert bench.budget_of(root / "solutions" / "09_transformers_solutions.ipynb")["seconds"] == 90
