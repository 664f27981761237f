"""Run every notebook the way a learner on Google Colab would: ``make test-colab``.

The pinned ``.venv`` proves that the stored outputs reproduce; it cannot tell whether the
notebooks still run on the newest releases that Colab ships. This job builds a separate
virtual environment, outside the checkout, with the newest *unpinned* versions of the stack
Colab brings (a CUDA build of PyTorch with triton, full TensorFlow, Keras 3, JAX, pandas, …),
then executes every chapter, solution and unfilled-exercise notebook top to bottom in it:

- ``google.colab`` is importable in every kernel (a stand-in package, imported by an IPython
  start-up file), so each notebook's Colab branches run, including its hidden set-up cell;
- the set-up cell installs the helpers exactly as on Colab, ``pip install
  "dlcourse-utils[...] @ git+https://github.com/ORG/REPO@main"``; git is told (through
  ``GIT_CONFIG_*`` variables, ``url.<copy>.insteadOf``) to fetch that URL from a bare copy of
  this checkout whose ``main`` is the commit checked out here;
- outputs are not compared (versions differ); any error in any cell fails the job.

The environment is cached (``$DLCOURSE_COLAB_VENV``, default ``~/.cache/dlcourse/colab-venv``)
and rebuilt when it is older than ``--max-age-days`` (default 7), so the job keeps meeting new
releases without downloading the stack on every run.

Usage::

    python3 tools/colab_like.py run            # build or reuse the environment, run every notebook
    python3 tools/colab_like.py run chapters/03_neural_networks.ipynb   # only these
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What Colab ships, by name and unpinned (the newest release that installs is taken), plus
#: what the notebooks' set-up cells add on top and what runs the notebooks here.
COLAB_STACK = [
    "numpy", "pandas", "scipy", "matplotlib", "scikit-learn", "tensorflow", "keras", "torch",
    "jax", "jaxlib", "nltk", "tqdm", "pooch", "requests", "ipykernel", "ipython", "nbclient", "nbformat",
]
#: Versions reported at the end of a run.
REPORTED = ["numpy", "pandas", "tensorflow", "keras", "torch", "triton", "jax", "scikit-learn", "matplotlib",
            "transformers", "sentence-transformers", "onnxruntime", "fastapi", "dlcourse-utils"]
FAKE_COLAB = '"""A stand-in for Colab\'s module: notebooks only ask whether it is imported."""\n'


def venv_dir() -> Path:
    default = Path.home() / ".cache" / "dlcourse" / "colab-venv"
    return Path(os.environ.get("DLCOURSE_COLAB_VENV", default))


def interpreter() -> str:
    """Python 3.12 (Colab's) when this machine has it, otherwise the default python3."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which("python3.12"), *sorted(map(str, pyenv.glob("3.12*/bin/python3.12"))),
                  shutil.which("python3")]
    for path in filter(None, candidates):
        if subprocess.run([path, "-c", "import venv"], capture_output=True).returncode == 0:  # not a bare shim
            return path
    raise SystemExit("no python3 found")


def build_venv(venv: Path, max_age_days: float) -> Path:
    python = venv / "bin" / "python"
    stamp = venv / ".dlcourse-colab.json"
    if stamp.exists() and python.exists():
        age = (time.time() - json.loads(stamp.read_text())["created"]) / 86400
        if age < max_age_days:
            print(f"reusing {venv} (built {age:.1f} days ago; rebuilt after {max_age_days:g})", flush=True)
            return python
    if venv.exists():
        shutil.rmtree(venv)
    start = time.perf_counter()
    base = interpreter()
    print(f"building {venv} with {base} and the newest {' '.join(COLAB_STACK)}", flush=True)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-U", "pip"], check=True)
    subprocess.run([*pip, *COLAB_STACK], check=True)
    stamp.write_text(json.dumps({"created": time.time(), "seconds": time.perf_counter() - start}))
    print(f"built in {time.perf_counter() - start:.0f} s", flush=True)
    return python


def repository_url() -> str:
    sys.path.insert(0, str(ROOT / "tools"))
    import notebooks  # noqa: PLC0415  (tools/notebooks.py needs only the standard library and nbformat here)

    return notebooks.repository_url()


def course_repository(workdir: Path) -> Path:
    """A bare copy of this checkout whose ``main`` is the commit checked out here.

    The set-up cells install ``…@main``; CI may check out a detached HEAD, so ``main`` is set
    explicitly (uncommitted changes are not part of it, as they would not be on GitHub).
    """
    mirror = workdir / "course.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(ROOT), str(mirror)], check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "-C", str(mirror), "update-ref", "refs/heads/main", head], check=True)
    return mirror


def colab_environment(workdir: Path) -> dict[str, str]:
    """Environment of every kernel: a fake ``google.colab``, and git fetching the course from here."""
    fake = workdir / "fake-colab"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text(FAKE_COLAB)
    # Libraries that detect Colab import some of its modules (JAX: google.colab.output); only the names.
    for module in ("output", "files", "drive"):
        (fake / "google" / "colab" / f"{module}.py").write_text(f'"""Stand-in for google.colab.{module}."""\n')
    startup = workdir / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # noqa: F401  (tools/colab_like.py)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    count = int(env.get("GIT_CONFIG_COUNT", "0"))
    env.update({
        "PYTHONPATH": str(fake),
        "IPYTHONDIR": str(workdir / "ipython"),
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": f"url.{course_repository(workdir).as_uri()}.insteadOf",
        f"GIT_CONFIG_VALUE_{count}": repository_url(),
        "TQDM_DISABLE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    })
    env.pop("DLCOURSE_OTHER_MACHINE", None)
    return env


def default_notebooks() -> list[Path]:
    return sorted(p for folder in ("chapters", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb"))


EXECUTE = r"""
import sys, time, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
start = time.perf_counter()
try:
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
except CellExecutionError as error:
    print(str(error)[-3000:])
    sys.exit(1)
print(f"{time.perf_counter() - start:.0f} s")
"""


def run(paths: list[Path], max_age_days: float) -> int:
    start = time.perf_counter()
    python = build_venv(venv_dir(), max_age_days)
    setup_seconds = time.perf_counter() - start
    failures = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-colab-") as tmp:
        env = colab_environment(Path(tmp))
        for path in paths:
            rel = path.resolve().relative_to(ROOT).as_posix()
            run_env = dict(env)
            if rel.startswith("exercises/"):
                run_env.pop("DLCOURSE_CHECKS_STRICT", None)  # a learner's "Run all": checks report, not raise
            else:
                run_env["DLCOURSE_CHECKS_STRICT"] = "1"  # every check of a solution must pass
            # One notebook at a time: each set-up cell reinstalls the helpers into the shared environment.
            proc = subprocess.run([str(python), "-c", EXECUTE, str(path), str(path.parent)], env=run_env,
                                  capture_output=True, text=True, cwd=str(path.parent))
            result = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            if proc.returncode != 0:
                failures.append(rel)
                print(f"FAILED {rel}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}", flush=True)
            else:
                print(f"ok     {rel}  {result}", flush=True)
    versions = subprocess.run(
        [str(python), "-c",
         "import importlib.metadata as m, platform, sys\n"
         f"print('python', platform.python_version())\n"
         f"for d in {REPORTED!r}:\n"
         "    try: print(d, m.version(d))\n"
         "    except m.PackageNotFoundError: print(d, '-')"],
        capture_output=True, text=True,
    ).stdout
    print("\nColab-like stack:\n  " + "\n  ".join(versions.split("\n")).rstrip())
    total = time.perf_counter() - start
    print(f"\nenvironment {setup_seconds:.0f} s, notebooks {total - setup_seconds:.0f} s, total {total:.0f} s")
    print(f"{len(paths) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="build or reuse the Colab-like environment and run notebooks")
    r.add_argument("paths", nargs="*", type=Path)
    r.add_argument("--max-age-days", type=float, default=7.0)
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.paths] or default_notebooks()
    return run(paths, args.max_age_days)


if __name__ == "__main__":
    sys.exit(main())
