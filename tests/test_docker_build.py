"""The service image builds, starts, reports healthy and predicts: with a real Docker daemon.

tests/test_dockerfile.py checks the Dockerfile without Docker; this file goes further and
runs it. Where no Docker daemon answers (as on the book's CI machines and in most
notebooks' environments), every test here is skipped with a message that says so;
`make test` and `.ci/run` therefore never need Docker.

On a machine with Docker: `pytest tests/test_docker_build.py -s` builds
``deploy/Dockerfile`` (the first build downloads the Python base image and the pinned
wheels: minutes), mounts a small ONNX model at /models, waits until Docker's own health
check reports the container healthy, runs the HEALTHCHECK command once more by hand, and
sends one JSON and one PNG prediction from the host.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from test_dockerfile import exec_form, instructions
from test_service import build_onnx_model, digit_images, free_port, reference_probabilities

ROOT = Path(__file__).resolve().parent.parent
BUILD_SECONDS = 1800
HEALTHY_SECONDS = 90


def _docker_daemon() -> str | None:
    """Why Docker cannot be used here, or None when a daemon answers."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if info.returncode != 0 or not info.stdout.strip():
        return f"no Docker daemon answers `docker info` ({(info.stderr.strip() or 'no output')[:200]})"
    return None


_WHY_NOT = _docker_daemon()
pytestmark = pytest.mark.skipif(
    _WHY_NOT is not None,
    reason=f"Docker image not built: {_WHY_NOT}. The Dockerfile itself is checked by tests/test_dockerfile.py.",
)


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args[:3])} … failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def image():
    tag = f"dlcourse-mnist-service:test-{uuid.uuid4().hex[:8]}"
    docker("build", "-f", "deploy/Dockerfile", "-t", tag, ".", timeout=BUILD_SECONDS)
    try:
        yield tag
    finally:
        docker("image", "rm", "-f", tag, check=False)


@pytest.fixture(scope="module")
def container(image, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    model = build_onnx_model(models / "mnist_cnn.onnx")  # the file name the image expects
    models.chmod(0o755)  # the service runs as an unprivileged user inside the container
    model.chmod(0o644)
    port = free_port()
    started = docker("run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8000",
                     "-v", f"{models}:/models:ro",
                     "--health-interval", "1s", "--health-start-period", "30s", image)
    container_id = started.stdout.strip()
    try:
        yield container_id, f"http://127.0.0.1:{port}"
    finally:
        logs = docker("logs", container_id, check=False)
        print(f"\ncontainer logs (last lines):\n{(logs.stdout + logs.stderr)[-2000:]}")
        docker("stop", "-t", "10", container_id, check=False)


def test_the_container_becomes_healthy_by_its_own_health_check(container):
    container_id, _ = container
    deadline = time.monotonic() + HEALTHY_SECONDS
    while True:
        state = json.loads(docker("inspect", "--format", "{{json .State}}", container_id).stdout)
        health = state.get("Health", {}).get("Status")
        if health == "healthy":
            break
        assert state.get("Running"), f"the container stopped: {state}"
        assert health != "unhealthy", f"Docker reports the container unhealthy: {state.get('Health')}"
        assert time.monotonic() < deadline, f"not healthy within {HEALTHY_SECONDS} s: {health}"
        time.sleep(1)
    # The HEALTHCHECK command of the Dockerfile, run once more by hand inside the container.
    (check,) = [args for keyword, args in instructions() if keyword == "HEALTHCHECK"]
    command = exec_form(check[check.index("CMD") + 3:].strip())
    assert docker("exec", container_id, *command, check=False).returncode == 0


def test_the_container_answers_a_json_and_a_png_prediction(container):
    container_id, url = container
    deadline = time.monotonic() + HEALTHY_SECONDS
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=2.0, trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the published port never answered /health/ready"
        time.sleep(0.5)
    images = digit_images(2, seed=11)
    response = httpx.post(f"{url}/predict", json={"images": images}, timeout=10.0, trust_env=False)
    assert response.status_code == 200, response.text
    expected = reference_probabilities(np.array(images))
    got = np.array([p["probabilities"] for p in response.json()["predictions"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)

    pixels = np.asarray(images[0], dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    response = httpx.post(f"{url}/predict/png", files={"file": ("d.png", buffer.getvalue(), "image/png")},
                          timeout=10.0, trust_env=False)
    assert response.status_code == 200, response.text
    assert response.json()["label"] == int(reference_probabilities(pixels[None].astype(float))[0].argmax())
    metrics = httpx.get(f"{url}/metrics", timeout=5.0, trust_env=False).text
    assert 'dlcourse_requests_total{method="POST",route="/predict",status="200"}' in metrics
