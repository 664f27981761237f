"""deploy/Dockerfile is well-formed and installs exactly what the service needs.

No Docker daemon is needed: the Dockerfile is parsed here (instructions, line
continuations, comments, exec-form JSON arrays), and the requirements file is compared
with the repository's pinned environment and with what deploy/app.py imports.
"""
from __future__ import annotations

import ast
import importlib.metadata as metadata
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
         "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    result, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return result


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """{normalised distribution name: version} of the `name==version` lines of a requirements file."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            specs = list(req.specifier)
            assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {line!r} is not pinned with =="
            found[normalise(req.name)] = specs[0].version
    return found


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


# --------------------------------------------------------------------------- the Dockerfile
def test_every_instruction_is_a_known_dockerfile_instruction():
    parsed = instructions()
    assert parsed
    unknown = [keyword for keyword, _ in parsed if keyword not in KNOWN]
    assert not unknown, f"unknown instructions: {unknown}"


def test_from_comes_first_and_pins_the_base_image():
    parsed = instructions()
    keyword, image = parsed[0]
    assert keyword == "FROM", f"the first instruction is {keyword}, not FROM"
    assert sum(k == "FROM" for k, _ in parsed) == 1, "one stage is all this service needs"
    name, _, digest = image.partition("@")
    repository, _, tag = name.rpartition(":") if ":" in name else (name, "", "")
    assert digest.startswith("sha256:") or tag, f"{image}: pin the base image with a tag or a digest"
    assert tag != "latest", "`latest` moves: pin an exact version"
    assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: the tag should name an exact Python version"
    assert repository == "python"


def test_every_copy_source_exists_in_the_build_context():
    copies = [args for keyword, args in instructions() if keyword in ("COPY", "ADD")]
    assert copies, "the image must copy the service in"
    for args in copies:
        parts = exec_form(args) if args.startswith("[") else shlex.split(args)
        assert not any(p.startswith("--from") for p in parts), "no other stages to copy from"
        *sources, destination = [p for p in parts if not p.startswith("--")]
        assert sources and destination
        for source in sources:
            assert (ROOT / source).exists(), f"COPY source {source} does not exist (context: the repository root)"
            assert not source.startswith(("/", "..")), f"{source} lies outside the build context"


def test_the_dockerignore_lets_every_copied_file_through():
    lines = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert ignore[0] == "*", "start from nothing, then allow what the image needs"
    for keyword, args in instructions():
        if keyword == "COPY":
            *sources, _ = [p for p in shlex.split(args) if not p.startswith("--")]
            assert set(sources) <= allowed, f"{sources} would be excluded from the build context"


def test_requirements_are_installed_from_deploy_requirements_txt_before_the_code_is_copied():
    parsed = instructions()
    runs = [(i, args) for i, (keyword, args) in enumerate(parsed) if keyword == "RUN"]
    installs = [(i, args) for i, args in runs if re.search(r"\bpip install\b", args)]
    assert len(installs) == 1, "install the dependencies in exactly one RUN"
    index, command = installs[0]
    assert "-r deploy/requirements.txt" in command
    copied_requirements = next(i for i, (k, a) in enumerate(parsed) if k == "COPY" and "requirements.txt" in a)
    copied_code = next(i for i, (k, a) in enumerate(parsed) if k == "COPY" and "app.py" in a)
    assert copied_requirements < index < copied_code, (
        "copy requirements.txt, install, then copy the code, so code edits keep the cached install layer"
    )


def test_the_command_runs_uvicorn_on_deploy_app_in_exec_form():
    commands = [(k, args) for k, args in instructions() if k in ("CMD", "ENTRYPOINT")]
    assert commands, "the image needs a CMD or an ENTRYPOINT"
    keyword, args = commands[-1]
    assert args.startswith("["), "use the exec form so uvicorn is PID 1 and gets SIGTERM"
    argv = exec_form(args)
    assert argv[0] == "uvicorn" or argv[:3] == ["python", "-m", "uvicorn"]
    assert "deploy.app:app" in argv
    host = argv[argv.index("--host") + 1]
    assert host == "0.0.0.0", "inside a container the server must listen on every interface"
    port = argv[argv.index("--port") + 1]
    exposed = [args for k, args in instructions() if k == "EXPOSE"]
    assert exposed == [port], "EXPOSE the port uvicorn listens on"


def test_the_service_does_not_run_as_root_and_knows_where_its_model_is():
    parsed = instructions()
    users = [args for keyword, args in parsed if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = " ".join(args for keyword, args in parsed if keyword == "ENV")
    assert "DLCOURSE_MODEL_PATH=" in env


# --------------------------------------------------------------------------- requirements
def test_deploy_requirements_match_the_repository_pins():
    service, repository = pins(DEPLOY / "requirements.txt"), pins(ROOT / "requirements.txt")
    for name, version in service.items():
        assert name in repository, f"{name} is not in the repository's requirements.txt"
        assert version == repository[name], f"{name}=={version}, but the book is tested with {repository[name]}"


def test_deploy_requirements_are_closed_under_dependencies():
    """Every dependency of a listed package is listed too, so the image is fully pinned."""
    service = pins(DEPLOY / "requirements.txt")
    for name in service:
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            assert normalise(req.name) in service, f"{name} needs {req.name}, which is not pinned"


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_service_imports_only_what_its_requirements_install():
    service = pins(DEPLOY / "requirements.txt")
    providers = metadata.packages_distributions()
    third_party = sorted(m for m in _top_level_imports(DEPLOY / "app.py")
                         if m not in sys.stdlib_module_names and m != "__future__")
    assert third_party, "the service imports FastAPI and friends"
    for module in third_party:
        dists = {normalise(d) for d in providers.get(module, [])}
        assert dists & set(service), f"deploy/app.py imports {module}, which deploy/requirements.txt does not install"
    for heavy in ("tensorflow", "torch", "keras", "jupyter"):
        assert not any(name.startswith(heavy) for name in service), f"{heavy} has no place in the service image"


@pytest.mark.parametrize("direct", ["fastapi", "uvicorn", "onnxruntime", "numpy", "pydantic"])
def test_the_direct_dependencies_are_listed(direct):
    assert direct in pins(DEPLOY / "requirements.txt")
