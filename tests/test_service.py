"""The digit-classification service (deploy/app.py) behaves as a real server.

A fixture builds a small ONNX model (fixed weights, no training) in a temporary folder,
starts ``uvicorn deploy.app:app`` on a free port of 127.0.0.1 and stops it afterwards.
The tests then prove, over real HTTP:

- /health answers once the model is loaded, with the model's content hash as its version;
- /predict returns exactly the model's own answers (computed here with NumPy);
- every kind of bad input gets a 4xx with a message naming the problem, never a 5xx;
- a bounded load of 1,000 requests (with bad ones mixed in) is answered correctly;
  the client-side p50 and p99 latencies are printed (run pytest with ``-s`` to see them).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30  # bounded wait for the server to answer /health
MAX_BODY_BYTES = 400_000  # a tighter limit than the default, so the tests stay light
NUM_REQUESTS = 1_000


# --------------------------------------------------------------------------- a small model
def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    return {
        "W1": rng.normal(0.0, 0.05, size=(784, 32)).astype(np.float32),
        "b1": rng.normal(0.0, 0.1, size=32).astype(np.float32),
        "W2": rng.normal(0.0, 0.3, size=(32, 10)).astype(np.float32),
        "b2": rng.normal(0.0, 0.1, size=10).astype(np.float32),
    }


def reference_probabilities(images: np.ndarray) -> np.ndarray:
    """What the model computes, in float64 NumPy: softmax(relu(x/255 W1 + b1) W2 + b2)."""
    w = {k: v.astype(np.float64) for k, v in _weights().items()}
    x = np.asarray(images, dtype=np.float64).reshape(len(images), 784) / 255.0
    logits = np.maximum(x @ w["W1"] + w["b1"], 0.0) @ w["W2"] + w["b2"]  # (N, 10)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def build_onnx_model(path: Path) -> Path:
    """An MLP with the exported model's interface: x (batch, 28, 28) -> logits (batch, 10)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    constants = {**_weights(), "scale": np.array([255.0], np.float32),
                 "flat_shape": np.array([-1, 784], np.int64)}
    graph = helper.make_graph(
        [
            helper.make_node("Div", ["x", "scale"], ["x_scaled"]),
            helper.make_node("Reshape", ["x_scaled", "flat_shape"], ["x_flat"]),
            helper.make_node("Gemm", ["x_flat", "W1", "b1"], ["h"]),
            helper.make_node("Relu", ["h"], ["h_relu"]),
            helper.make_node("Gemm", ["h_relu", "W2", "b2"], ["logits"]),
        ],
        "test_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # readable by every onnxruntime of the last few years
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


def digit_images(count: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, 28, 28)).astype(float).tolist()


# --------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return build_onnx_model(tmp_path_factory.mktemp("model") / "mnist_mlp.onnx")


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "uvicorn.log"
    env = {**os.environ, "DLCOURSE_MODEL_PATH": str(model_path),
           "DLCOURSE_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "deploy.app:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited with code {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base_url}/health", timeout=1.0, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not answer /health within {STARTUP_SECONDS} s:\n{log.read_text()}")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=10.0, trust_env=False) as http:
        yield http


# --------------------------------------------------------------------------- good requests
def test_health_reports_the_loaded_model_by_its_content_hash(client, model_path):
    response = client.get("/health")
    assert response.status_code == 200
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]
    assert response.json() == {"status": "ok", "model_version": f"sha256:{digest}"}


def test_predictions_are_the_models_own(client):
    images = digit_images(8, seed=1)
    response = client.post("/predict", json={"images": images})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = reference_probabilities(np.array(images))
    got = np.array([p["probabilities"] for p in body["predictions"]])
    assert got.shape == (8, 10)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [p["label"] for p in body["predictions"]] == expected.argmax(axis=1).tolist()
    assert body["model_version"].startswith("sha256:")


def test_a_batch_of_the_largest_allowed_size_is_accepted(client):
    images = digit_images(64, seed=2)
    response = client.post("/predict", json={"images": images})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 64


# --------------------------------------------------------------------------- bad requests
_IMAGE = digit_images(1, seed=3)[0]
_JSON = {"content-type": "application/json"}


def _with_pixel(text: str) -> bytes:
    """A one-image body whose last pixel is written as ``text`` (e.g. NaN, which JSON forbids)."""
    rows = json.dumps(_IMAGE)[:-2]  # drop the final "]]"
    head, _, _ = rows.rpartition(", ")
    return f'{{"images": [{head}, {text}]]]}}'.encode()


BAD_REQUESTS = {
    "malformed JSON": (dict(content=b'{"images": [[1, 2', headers=_JSON), 400, "not valid JSON"),
    "empty body": (dict(content=b"", headers=_JSON), 422, "Field required"),
    "a list instead of an object": (dict(json=[_IMAGE]), 422, "valid dictionary"),
    "misspelt field": (dict(json={"image": [_IMAGE]}), 422, "images: Field required"),
    "unknown extra field": (dict(json={"images": [_IMAGE], "debug": True}), 422, "Extra inputs"),
    "27 rows": (dict(json={"images": [_IMAGE[:27]]}), 422, "images[0]: List should have at least 28"),
    "a flattened image": (dict(json={"images": [sum(_IMAGE, [])]}), 422, "at most 28 items"),
    "a short row": (dict(json={"images": [[_IMAGE[0][:5]] + _IMAGE[1:]]}), 422,
                    "images[0][0]: List should have at least 28"),
    "a string pixel": (dict(json={"images": [[["7"] * 28] + _IMAGE[1:]]}), 422,
                       "images[0][0][0]: Input should be a valid number"),
    "a boolean pixel": (dict(json={"images": [[[True] * 28] + _IMAGE[1:]]}), 422, "valid number"),
    "a null pixel": (dict(json={"images": [[[None] * 28] + _IMAGE[1:]]}), 422, "valid number"),
    "NaN": (dict(content=_with_pixel("NaN"), headers=_JSON), 422, "images[0][27][27]: Input should be a finite number"),
    "Infinity": (dict(content=_with_pixel("Infinity"), headers=_JSON), 422, "finite number"),
    "-Infinity": (dict(content=_with_pixel("-Infinity"), headers=_JSON), 422, "finite number"),
    "a pixel above 255": (dict(json={"images": [[[256.0] * 28] + _IMAGE[1:]]}), 422, "less than or equal to 255"),
    "a negative pixel": (dict(json={"images": [[[-1] * 28] + _IMAGE[1:]]}), 422, "greater than or equal to 0"),
    "an empty batch": (dict(json={"images": []}), 422, "images: List should have at least 1 item"),
    "a batch of 65": (dict(json={"images": [_IMAGE] * 65}), 422, "at most 64 items"),
    "an oversized body": (dict(json={"images": [_IMAGE] * 200}), 413, "larger than the limit of 400,000 bytes"),
}


@pytest.mark.parametrize("kind", list(BAD_REQUESTS))
def test_bad_input_gets_a_4xx_with_a_clear_message(client, kind):
    kwargs, status, message = BAD_REQUESTS[kind]
    response = client.post("/predict", **kwargs)
    assert response.status_code == status, f"{kind}: {response.status_code} {response.text[:300]}"
    detail = response.json()["detail"]
    text = detail if isinstance(detail, str) else " | ".join(detail)
    assert message in text, f"{kind}: {text[:300]}"
    assert len(text) < 1000, "an error message should be short, not an echo of the payload"


def test_an_oversized_chunked_upload_without_content_length_is_refused(client):
    chunk = b" " * 50_000

    def body():
        yield b'{"images": ['
        for _ in range(12):  # 600 kB, over the limit, with no Content-Length header
            yield chunk
        yield b"]}"

    try:
        response = client.post("/predict", content=body(), headers=_JSON)
    except httpx.TransportError:
        pytest.skip("the server closed the connection before the client finished sending")
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["detail"]


def test_wrong_methods_and_paths_are_client_errors(client):
    assert client.get("/predict").status_code == 405
    assert client.get("/no-such-endpoint").status_code == 404


# --------------------------------------------------------------------------- bounded load
def test_a_thousand_requests_are_answered_correctly_with_no_server_error(server):
    rng = np.random.default_rng(4)
    pool = np.array(digit_images(32, seed=5))  # (32, 28, 28)
    expected_labels = reference_probabilities(pool).argmax(axis=1)
    bad = list(BAD_REQUESTS.values())
    plan = []  # (request kwargs, expected status, expected labels or None)
    for k in range(NUM_REQUESTS):
        if k % 10 == 9:  # one request in ten is bad
            kwargs, status, _ = bad[k // 10 % len(bad)]
            plan.append((kwargs, status, None))
        else:
            idx = rng.choice(len(pool), size=int(rng.integers(1, 5)), replace=False)
            plan.append(({"json": {"images": pool[idx].tolist()}}, 200, expected_labels[idx].tolist()))

    def worker(part):
        results = []
        with httpx.Client(base_url=server, timeout=10.0, trust_env=False) as http:
            for kwargs, status, labels in part:
                start = time.perf_counter()
                response = http.post("/predict", **kwargs)
                elapsed = time.perf_counter() - start
                got = ([p["label"] for p in response.json()["predictions"]]
                       if response.status_code == 200 else None)
                results.append((response.status_code, status, got, labels, elapsed))
        return results

    num_clients = 4
    start = time.perf_counter()
    with ThreadPoolExecutor(num_clients) as executor:
        parts = executor.map(worker, [plan[i::num_clients] for i in range(num_clients)])
        results = [r for part in parts for r in part]
    wall = time.perf_counter() - start

    assert len(results) == NUM_REQUESTS
    server_errors = [r for r in results if r[0] >= 500]
    assert not server_errors, f"{len(server_errors)} server errors"
    wrong_status = [(got, want) for got, want, *_ in results if got != want]
    assert not wrong_status, f"unexpected status codes (got, expected): {wrong_status[:5]}"
    wrong_labels = [r for r in results if r[1] == 200 and r[2] != r[3]]
    assert not wrong_labels, f"{len(wrong_labels)} responses with wrong labels"

    good = np.array([r[4] for r in results if r[1] == 200]) * 1000.0
    p50, p99 = np.percentile(good, [50, 99])
    print(f"\nservice load test: {NUM_REQUESTS} requests from {num_clients} clients in {wall:.1f} s "
          f"({NUM_REQUESTS / wall:.0f} requests/s); valid requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
