"""The digit-classification service (deploy/app.py) behaves as a real server.

A fixture builds a small ONNX model (fixed weights, no training) in a temporary folder,
starts ``uvicorn deploy.app:app`` on a free port of 127.0.0.1 and stops it afterwards
(twice: with micro-batching, and without as by default). The tests then prove, over real HTTP:

- /health/live answers at once; /health/ready (and /health) only once the model is loaded
  and a warm-up prediction ran, with the model's content hash as its version;
- /predict and /predict/png return exactly the model's own answers (computed here with NumPy);
- every kind of bad input, JSON or PNG, gets a 4xx with a message naming the problem, never a 5xx;
- /metrics is valid Prometheus text with requests by route and status, latencies, batch sizes
  and the model version; every request is logged as one JSON line with its request id and
  without its payload;
- micro-batching merges concurrent requests into fewer model calls; without it, each request
  is one call; a concurrency limit answers 503 with Retry-After;
- a bounded load of 1,000 requests (with bad ones mixed in) is answered correctly, with and
  without micro-batching; the client-side p50 and p99 latencies and requests/s are printed
  (run pytest with ``-s`` to see them).
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import struct
import threading
import zlib
from dataclasses import dataclass
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

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


@dataclass
class Server:
    url: str
    log: Path

    def log_lines(self) -> list[dict]:
        """The JSON lines the service logged so far (uvicorn's own lines are not JSON)."""
        lines = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def metrics(self) -> dict:
        """{(sample name, frozenset of labels): value} parsed from /metrics."""
        text = httpx.get(f"{self.url}/metrics", timeout=5.0, trust_env=False).text
        return {(sample.name, frozenset(sample.labels.items())): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}


def start_server(model_path: Path, folder: Path, **settings: str):
    """Start uvicorn on a free port; return (process, Server) once /health/ready answers 200."""
    port = free_port()
    log = folder / "uvicorn.log"
    env = {**os.environ, "DLCOURSE_MODEL_PATH": str(model_path),
           "DLCOURSE_MAX_BODY_BYTES": str(MAX_BODY_BYTES), **settings}
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "deploy.app:app", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with code {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health/ready", timeout=1.0, trust_env=False).status_code == 200:
                return process, server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(process)
            pytest.fail(f"uvicorn was not ready within {STARTUP_SECONDS} s:\n{log.read_text()}")
        time.sleep(0.1)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    """The service with micro-batching on (2 ms); everything else as configured by default."""
    process, running = start_server(model_path, tmp_path_factory.mktemp("server"), DLCOURSE_BATCH_WAIT_MS="2")
    try:
        yield running
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def unbatched_server(model_path, tmp_path_factory):
    """The service as configured by default: micro-batching off, every request its own model call."""
    process, running = start_server(model_path, tmp_path_factory.mktemp("unbatched"))
    try:
        yield running
    finally:
        stop_server(process)


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10.0, trust_env=False) as http:
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


# --------------------------------------------------------------------------- health and readiness
def test_liveness_and_readiness_answer_once_the_model_is_warm(client, model_path):
    assert client.get("/health/live").json() == {"status": "alive"}
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]
    assert client.get("/health/ready").json() == {"status": "ready", "model_version": f"sha256:{digest}"}


def test_readiness_waits_for_the_warm_up_prediction(model_path, monkeypatch):
    """While the warm-up prediction runs, the service is live but not ready, and predicts nothing."""
    from fastapi.testclient import TestClient

    from deploy import app as service

    release, warm_up_started = threading.Event(), threading.Event()
    original = service.OnnxClassifier.predict_proba

    def blocked_until_released(self, images):
        warm_up_started.set()
        assert release.wait(timeout=20), "the test never released the warm-up"
        return original(self, images)

    monkeypatch.setattr(service.OnnxClassifier, "predict_proba", blocked_until_released)
    with TestClient(service.create_app(model_path)) as http:
        assert warm_up_started.wait(timeout=20), "no warm-up prediction ran"
        assert http.get("/health/live").status_code == 200
        for path in ("/health/ready", "/health"):
            response = http.get(path)
            assert response.status_code == 503 and response.headers["retry-after"] == "1"
            assert "loading" in response.json()["detail"]
        response = http.post("/predict", json={"images": digit_images(1)})
        assert response.status_code == 503, response.text
        release.set()
        deadline = time.monotonic() + 20
        while http.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "never became ready after the warm-up"
            time.sleep(0.02)
        assert http.post("/predict", json={"images": digit_images(1)}).status_code == 200


def test_a_model_that_fails_to_load_keeps_the_service_live_but_never_ready(tmp_path):
    from fastapi.testclient import TestClient

    from deploy import app as service

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an ONNX model")
    with TestClient(service.create_app(broken)) as http:
        deadline = time.monotonic() + 20
        while "failed" not in http.get("/health/ready").json()["detail"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert http.get("/health/live").status_code == 200
        response = http.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("the model failed to load:")


# --------------------------------------------------------------------------- metrics and logs
def test_metrics_count_requests_by_route_and_status_in_prometheus_format(server, model_path):
    before = server.metrics()
    with httpx.Client(base_url=server.url, timeout=10.0, trust_env=False) as http:
        for _ in range(3):
            assert http.post("/predict", json={"images": digit_images(2)}).status_code == 200
        assert http.post("/predict", json={"images": []}).status_code == 422
        assert http.get("/no-such-endpoint").status_code == 404
    after = server.metrics()

    def delta(name, **labels):
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("dlcourse_requests_total", route="/predict", method="POST", status="200") == 3
    assert delta("dlcourse_requests_total", route="/predict", method="POST", status="422") == 1
    assert delta("dlcourse_requests_total", route="other", method="GET", status="404") == 1
    assert delta("dlcourse_request_duration_seconds_count", route="/predict") == 4
    assert delta("dlcourse_request_duration_seconds_bucket", route="/predict", le="+Inf") == 4
    assert delta("dlcourse_batch_images_sum") == 6  # three calls of two images (or fewer, merged)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]
    assert after[("dlcourse_model_info", frozenset({"version": f"sha256:{digest}"}.items()))] == 1
    assert after[("dlcourse_ready", frozenset())] == 1


def test_each_request_is_logged_as_json_with_its_id_and_without_its_payload(server):
    marker = 123.456  # a pixel value that must never appear in a log
    image = [[marker] * 28 for _ in range(28)]
    with httpx.Client(base_url=server.url, timeout=10.0, trust_env=False) as http:
        given = http.post("/predict", json={"images": [image]}, headers={"X-Request-ID": "test-id-42"})
        assigned = http.post("/predict", json={"images": [[[1.0] * 28] * 28]})
        unsafe = http.post("/predict", json={"images": []}, headers={"X-Request-ID": "bad id\twith tab"})
    assert given.headers["x-request-id"] == "test-id-42"
    assert len(assigned.headers["x-request-id"]) == 32  # a fresh uuid4, as hex
    assert unsafe.headers["x-request-id"] != "bad id\twith tab", "a client's header must not forge log lines"
    time.sleep(0.2)
    records = {r.get("request_id"): r for r in server.log_lines() if r.get("event") == "request"}
    assert records["test-id-42"]["status"] == 200 and records["test-id-42"]["route"] == "/predict"
    assert records[assigned.headers["x-request-id"]]["method"] == "POST"
    assert records[unsafe.headers["x-request-id"]]["status"] == 422
    assert {"time", "duration_ms"} <= set(records["test-id-42"])
    assert str(marker) not in server.log.read_text(encoding="utf-8"), "a payload leaked into the logs"


# --------------------------------------------------------------------------- PNG uploads
def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A real decompression bomb: an all-black grey-scale PNG of width x height, a few kB on disk."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey-scale
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def declared_only_png(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but holds almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 100)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


_DIGIT = np.asarray(digit_images(1, seed=6)[0], dtype=np.uint8)  # (28, 28)
_GOOD_PNG = png_bytes(_DIGIT)
_NOISE = np.random.default_rng(7).integers(0, 256, size=(300, 300), dtype=np.uint8)

BAD_PNGS = {  # kind: (file bytes, expected status, words the message must contain)
    "not an image": (b"hello, this is text", 415, "not a PNG"),
    "an empty file": (b"", 415, "not a PNG"),
    "a JPEG": (None, 415, "not a PNG"),  # filled in below
    "a huge file": (png_bytes(_NOISE), 413, "at most 64,000"),
    "a decompression bomb (PIL's own limit)": (declared_only_png(50_000, 50_000), 413, "decompression bomb"),
    "a decompression bomb (the service's limit)": (bomb_png(4_000, 4_000), 413, "16,000,000 pixels"),
    "32 x 32 pixels": (png_bytes(np.zeros((32, 32), np.uint8)), 422, "32 x 32 pixels; send 28 x 28"),
    "28 x 29 pixels": (png_bytes(np.zeros((29, 28), np.uint8)), 422, "28 x 29 pixels"),
    "colour (RGB)": (png_bytes(np.zeros((28, 28, 3), np.uint8)), 422, "mode 'RGB'"),
    "with alpha (RGBA)": (png_bytes(np.zeros((28, 28, 4), np.uint8)), 422, "mode 'RGBA'"),
    "16-bit grey": (png_bytes(np.zeros((28, 28), np.uint16)), 422, "mode 'I;16'"),
    "a palette image": (None, 422, "mode 'P'"),
    "a truncated PNG": (_GOOD_PNG[: len(_GOOD_PNG) // 2], 400, "damaged"),
}
_jpeg = io.BytesIO()
Image.fromarray(_DIGIT).save(_jpeg, format="JPEG")
_palette = io.BytesIO()
Image.fromarray(_DIGIT).convert("P").save(_palette, format="PNG")
BAD_PNGS["a JPEG"] = (_jpeg.getvalue(), *BAD_PNGS["a JPEG"][1:])
BAD_PNGS["a palette image"] = (_palette.getvalue(), *BAD_PNGS["a palette image"][1:])


def test_an_uploaded_png_gets_the_models_own_prediction(client):
    response = client.post("/predict/png", files={"file": ("digit.png", _GOOD_PNG, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = reference_probabilities(_DIGIT[None].astype(float))[0]
    np.testing.assert_allclose(body["probabilities"], expected, atol=1e-5)
    assert body["label"] == int(expected.argmax())
    assert body["model_version"].startswith("sha256:")


@pytest.mark.parametrize("kind", list(BAD_PNGS))
def test_a_bad_png_gets_a_4xx_with_a_clear_message(client, kind):
    data, status, message = BAD_PNGS[kind]
    start = time.perf_counter()
    response = client.post("/predict/png", files={"file": ("upload.png", data, "image/png")})
    assert response.status_code == status, f"{kind}: {response.status_code} {response.text[:300]}"
    assert message in response.json()["detail"], f"{kind}: {response.text[:300]}"
    assert time.perf_counter() - start < 2.0, f"{kind}: rejecting it took too long (was it decoded?)"


def test_the_bombs_are_small_files_that_declare_huge_images():
    for kind in ("a decompression bomb (PIL's own limit)", "a decompression bomb (the service's limit)"):
        data = BAD_PNGS[kind][0]
        assert len(data) < 64_000, f"{kind} is {len(data)} bytes: it should pass the byte limit"
        width, height = struct.unpack(">II", data[16:24])
        assert width * height >= 16_000_000


def test_a_png_request_without_a_file_is_a_422(client):
    response = client.post("/predict/png", data={"something": "else"})
    assert response.status_code == 422
    assert "file" in " ".join(response.json()["detail"])


# --------------------------------------------------------------------------- concurrency limit
def test_the_concurrency_limit_answers_503_with_retry_after_instead_of_queueing():
    """In-process: a request arriving while the limit is reached is refused at once."""
    from deploy.app import ConcurrencyLimit

    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_app(scope, receive, send):
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def request(app, path="/predict"):
        messages = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            messages.append(message)

        await app({"type": "http", "path": path, "method": "POST", "headers": []}, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        return start["status"], dict(start["headers"])

    async def scenario():
        limited = ConcurrencyLimit(slow_app, max_in_flight=1)
        first = asyncio.create_task(request(limited))
        await entered.wait()
        status, headers = await asyncio.wait_for(request(limited), timeout=5)  # refused, not queued
        assert status == 503 and headers[b"retry-after"] == b"1"
        health = asyncio.create_task(request(limited, "/health/live"))  # not counted against the limit
        release.set()
        assert (await first)[0] == 200 and (await health)[0] == 200
        assert limited.in_flight == 0
        assert (await request(limited))[0] == 200  # the slot is free again

    asyncio.run(scenario())


def test_over_the_limit_a_real_server_answers_503_and_never_5xx_otherwise(model_path, tmp_path):
    process, running = start_server(model_path, tmp_path, DLCOURSE_MAX_IN_FLIGHT="1")
    try:
        payload = {"images": digit_images(64, seed=8)}

        def post(_):
            with httpx.Client(base_url=running.url, timeout=10.0, trust_env=False) as http:
                response = http.post("/predict", json=payload)
                return response.status_code, response.headers.get("retry-after")

        statuses = []
        for _ in range(5):  # bursts until the limit has been hit (the first almost always does)
            with ThreadPoolExecutor(16) as executor:
                statuses += list(executor.map(post, range(32)))
            if any(status == 503 for status, _ in statuses):
                break
        assert {status for status, _ in statuses} <= {200, 503}, statuses
        assert any(status == 503 for status, _ in statuses), "16 parallel clients never hit a limit of 1"
        assert all(retry == "1" for status, retry in statuses if status == 503)
        assert any(status == 200 for status, _ in statuses)
    finally:
        stop_server(process)


# --------------------------------------------------------------------------- bounded load
def run_load(server: Server, num_clients: int = 8) -> dict:
    """NUM_REQUESTS requests, one in ten bad, from ``num_clients`` threads; check every answer."""
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
        with httpx.Client(base_url=server.url, timeout=10.0, trust_env=False) as http:
            for kwargs, status, labels in part:
                start = time.perf_counter()
                response = http.post("/predict", **kwargs)
                elapsed = time.perf_counter() - start
                got = ([p["label"] for p in response.json()["predictions"]]
                       if response.status_code == 200 else None)
                results.append((response.status_code, status, got, labels, elapsed))
        return results

    calls_before = server.metrics().get(("dlcourse_batch_images_count", frozenset()), 0.0)
    start = time.perf_counter()
    with ThreadPoolExecutor(num_clients) as executor:
        parts = executor.map(worker, [plan[i::num_clients] for i in range(num_clients)])
        results = [r for part in parts for r in part]
    wall = time.perf_counter() - start
    model_calls = server.metrics()[("dlcourse_batch_images_count", frozenset())] - calls_before

    assert len(results) == NUM_REQUESTS
    server_errors = [r for r in results if r[0] >= 500]
    assert not server_errors, f"{len(server_errors)} server errors"
    wrong_status = [(got, want) for got, want, *_ in results if got != want]
    assert not wrong_status, f"unexpected status codes (got, expected): {wrong_status[:5]}"
    wrong_labels = [r for r in results if r[1] == 200 and r[2] != r[3]]
    assert not wrong_labels, f"{len(wrong_labels)} responses with wrong labels"

    good = np.array([r[4] for r in results if r[1] == 200]) * 1000.0
    p50, p99 = np.percentile(good, [50, 99])
    return {"wall": wall, "p50": p50, "p99": p99, "clients": num_clients, "valid": len(good),
            "model_calls": int(model_calls)}


def _report(label: str, load: dict) -> None:
    print(f"\nservice load test, {label}: {NUM_REQUESTS} requests from {load['clients']} clients in "
          f"{load['wall']:.1f} s ({NUM_REQUESTS / load['wall']:.0f} requests/s, 0 errors); valid requests: "
          f"p50 {load['p50']:.1f} ms, p99 {load['p99']:.1f} ms; {load['model_calls']} model calls "
          f"for {load['valid']} valid requests")


def test_a_thousand_requests_with_micro_batching_are_answered_correctly(server):
    load = run_load(server)
    _report("micro-batching on", load)
    # Concurrent requests were merged: fewer model calls than valid requests.
    assert load["model_calls"] < load["valid"], load


def test_a_thousand_requests_without_micro_batching_are_answered_correctly(unbatched_server):
    load = run_load(unbatched_server)
    _report("micro-batching off", load)
    assert load["model_calls"] == load["valid"], "without batching, each request is one model call"
