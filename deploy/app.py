"""A small HTTP service that classifies 28 x 28 grey-scale digit images with an ONNX model.

Run it from the repository root (chapter 10 shows how to export the model):

    DLCOURSE_MODEL_PATH=/path/to/mnist_cnn.onnx uvicorn deploy.app:app --port 8000

then open http://127.0.0.1:8000/docs for the generated API documentation, or

    curl http://127.0.0.1:8000/health/ready

Endpoints
---------
GET  /health/live  -> 200 while the process serves requests at all (restart it when this fails).
GET  /health/ready -> 200 {"status": "ready", "model_version": "sha256:…"} once the model is
                      loaded *and* one warm-up prediction ran; 503 before (send no traffic yet).
GET  /health       -> the same as /health/ready, with status "ok" (kept for old clients).
GET  /metrics      -> Prometheus text format: requests by route and status, latency histogram,
                      images per model call, requests in flight, the model version.
POST /predict      -> {"images": [image, …]} where each image is 28 rows of 28 pixel values in
                      [0, 255] (the raw MNIST scale); answers one label and ten class
                      probabilities per image.
POST /predict/png  -> a multipart upload (field "file") of one 28 x 28 8-bit grey-scale PNG,
                      a white digit on black as in MNIST; answers its label and probabilities.

Bad input never reaches the model: malformed JSON is answered with 400, a body over
the size limit with 413, and anything the request schema rejects (a wrong shape, a
string instead of a number, NaN or infinity, an empty or too large batch) with 422 and
a message that says which field is wrong and why. A PNG upload that is not a PNG gets 415,
one too large in bytes or a decompression bomb 413, a wrong size or pixel mode 422, a
damaged file 400. When more than DLCOURSE_MAX_IN_FLIGHT prediction requests are in flight,
new ones get 503 with a Retry-After header instead of waiting in an unbounded queue.

Every request is logged as one JSON line (method, route, status, duration, request id;
never the payload), and answered with an X-Request-ID header that names the log line.

Configuration, read when the service starts (not at import)
-------------------------------------------------------------
DLCOURSE_MODEL_PATH       path of the ONNX model; required.
DLCOURSE_MAX_BODY_BYTES   largest request body accepted, in bytes (default 1,000,000).
DLCOURSE_ORT_THREADS      threads ONNX Runtime may use for one model call (default 1).
DLCOURSE_BATCH_WAIT_MS    micro-batching: requests arriving within this many milliseconds of
                          the first waiting one are predicted in one model call (default 0:
                          off, each request is its own model call; try 2 for a model whose
                          call dominates the request's cost, such as a large one or a GPU).
DLCOURSE_MAX_BATCH_IMAGES a micro-batch closes once it holds this many images (default 64).
DLCOURSE_MAX_IN_FLIGHT    prediction requests served at once; more get 503 (default 64).

The service imports neither TensorFlow nor PyTorch: its container needs only FastAPI,
uvicorn, NumPy, ONNX Runtime, Pillow, prometheus-client and python-multipart (see
deploy/requirements.txt).
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import re
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Callable

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field

MODEL_ENV = "DLCOURSE_MODEL_PATH"
MAX_BODY_ENV = "DLCOURSE_MAX_BODY_BYTES"
THREADS_ENV = "DLCOURSE_ORT_THREADS"
BATCH_WAIT_ENV = "DLCOURSE_BATCH_WAIT_MS"
BATCH_IMAGES_ENV = "DLCOURSE_MAX_BATCH_IMAGES"
IN_FLIGHT_ENV = "DLCOURSE_MAX_IN_FLIGHT"

IMAGE_SIZE = 28  # MNIST images are 28 x 28 pixels
NUM_CLASSES = 10
#: Largest batch one request may carry. 64 images of 784 pixels written as JSON numbers
#: take at most about 64 * 784 * 6 bytes ≈ 300 kB, well inside the body limit.
MAX_BATCH = 64
#: Default body limit. uvicorn itself sets none: without this, one client could make the
#: server read (and pydantic parse) gigabytes.
DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_BATCH_WAIT_MS = 0.0  # off: chapter 10 measures when micro-batching pays
DEFAULT_MAX_BATCH_IMAGES = 64
DEFAULT_MAX_IN_FLIGHT = 64
#: A 28 x 28 grey-scale PNG takes well under 1 kB; 64 kB leaves room for any encoder's
#: metadata while keeping one upload from costing the server real memory.
MAX_PNG_BYTES = 64_000
#: Refuse to decode any image whose header declares more pixels than this. Decoding is
#: where a "decompression bomb" (a few kB of compressed zeros declaring 50,000 x 50,000
#: pixels) would cost gigabytes, so the check reads only the header.
MAX_PNG_PIXELS = 1_000_000
#: The routes the metrics are labelled with; any other path counts as "other", so a
#: client probing random URLs cannot create unbounded numbers of time series.
ROUTES = ("/predict", "/predict/png", "/health", "/health/live", "/health/ready", "/metrics")
#: Paths that run the model and therefore count against the concurrency limit.
PREDICT_ROUTES = ("/predict", "/predict/png")


# --------------------------------------------------------------------------- the contract
# strict=True: a string such as "12" or a boolean is an error, not silently a number.
# allow_inf_nan=False: Python's JSON parser accepts NaN and Infinity; the model must not see them.
Pixel = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0.0, le=255.0)]
Row = Annotated[list[Pixel], Field(min_length=IMAGE_SIZE, max_length=IMAGE_SIZE)]
Image = Annotated[list[Row], Field(min_length=IMAGE_SIZE, max_length=IMAGE_SIZE)]


class PredictRequest(BaseModel):
    """A batch of 1 to MAX_BATCH grey-scale images, pixel values in [0, 255]."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field name is an error, not ignored

    images: Annotated[list[Image], Field(min_length=1, max_length=MAX_BATCH)]


class Prediction(BaseModel):
    label: int = Field(ge=0, lt=NUM_CLASSES, description="the most probable digit")
    probabilities: list[float] = Field(description="one probability per digit 0-9; they sum to 1")


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[Prediction]


class PngPrediction(Prediction):
    model_version: str


class Health(BaseModel):
    status: str
    model_version: str


# --------------------------------------------------------------------------- the model
class OnnxClassifier:
    """An ONNX model mapping images (N, 28, 28) float32 to logits (N, 10)."""

    def __init__(self, path: str | os.PathLike[str], threads: int = 1) -> None:
        path = Path(path)
        if not path.is_file():
            raise RuntimeError(
                f"no model file at {path}: set ${MODEL_ENV} to the path of an exported ONNX model"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        (model_input,) = self.session.get_inputs()
        if list(model_input.shape[1:]) != [IMAGE_SIZE, IMAGE_SIZE]:
            raise RuntimeError(
                f"{path} takes inputs of shape {model_input.shape}; this service sends "
                f"(batch, {IMAGE_SIZE}, {IMAGE_SIZE})"
            )
        self.input_name = model_input.name
        # The version is the file's content hash: two files with the same bytes are the
        # same model, whatever they are called.
        self.version = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) for images (N, 28, 28) with pixel values in [0, 255]."""
        (logits,) = self.session.run(None, {self.input_name: images.astype(np.float32)})
        shifted = logits - logits.max(axis=1, keepdims=True)  # softmax without overflow
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- request limits
class BodySizeLimit:
    """ASGI middleware: answer 413 to any request whose body exceeds ``max_bytes``.

    It trusts neither the client's Content-Length (which may be absent, as with chunked
    uploads) nor its absence: it counts the bytes as they arrive and stops reading at
    the limit.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_error(send, 400, "the Content-Length header is not a number")
                return
            if int(declared) > self.max_bytes:
                await _send_error(send, 413, self._too_large(int(declared)))
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _send_error(send, 413, self._too_large(None))
                return
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: int | None) -> str:
        got = f" ({size:,} bytes)" if size is not None else ""
        return (
            f"the request body{got} is larger than the limit of {self.max_bytes:,} bytes; "
            f"send at most {MAX_BATCH} images per request"
        )


async def _send_error(send: Any, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


# --------------------------------------------------------------------------- error messages
def _where(location: tuple) -> str:
    """('body', 'images', 0, 27, 3) -> 'images[0][27][3]'."""
    parts = [p for p in location if p != "body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    errors = error.errors()
    for item in errors:
        if item["type"] == "json_invalid":
            reason = item.get("ctx", {}).get("error", "it could not be parsed")
            return JSONResponse(
                {"detail": f"the request body is not valid JSON: {reason}"}, status_code=400
            )
    shown = [f"{_where(tuple(item['loc']))}: {item['msg']}" for item in errors[:5]]
    if len(errors) > 5:
        shown.append(f"... and {len(errors) - 5} more problems")
    return JSONResponse({"detail": shown}, status_code=422)


# --------------------------------------------------------------------------- PNG uploads
class ImageRejected(Exception):
    """An uploaded image the service will not decode, with the HTTP status that says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def read_digit_png(
    data: bytes, *, max_bytes: int = MAX_PNG_BYTES, max_pixels: int = MAX_PNG_PIXELS
) -> np.ndarray:
    """Decode one uploaded digit: PNG bytes -> (28, 28) uint8 pixels, or raise ImageRejected.

    The checks run from the cheapest to the most expensive, and nothing is decoded until
    the header has shown the image is a PNG of the right size and mode:

    size in bytes (413) -> PNG signature (415) -> pixel count from the header (413)
    -> width and height (422) -> pixel mode (422) -> decoding (400 if the data are damaged).
    """
    if len(data) > max_bytes:
        raise ImageRejected(413, f"the file has {len(data):,} bytes; a digit PNG needs at most {max_bytes:,}")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ImageRejected(415, "the file is not a PNG image (its first bytes are not the PNG signature)")
    try:
        image = PILImage.open(io.BytesIO(data), formats=["PNG"])  # reads the header only
    except PILImage.DecompressionBombError:
        raise ImageRejected(413, "the image declares far too many pixels (a decompression bomb)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(400, f"the PNG header is damaged: {error}") from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRejected(
                413, f"the image declares {width} x {height} = {width * height:,} pixels, more than "
                     f"the {max_pixels:,} this service decodes (a decompression bomb?)")
        if (width, height) != (IMAGE_SIZE, IMAGE_SIZE):
            raise ImageRejected(
                422, f"the image is {width} x {height} pixels; send {IMAGE_SIZE} x {IMAGE_SIZE}")
        if image.mode != "L":
            raise ImageRejected(
                422, f"the image has pixel mode {image.mode!r}; send 8-bit grey-scale (mode 'L'): "
                     "a white digit on a black background")
        try:
            image.load()  # the actual decompression, now known to be small
        except (OSError, SyntaxError, ValueError) as error:
            raise ImageRejected(400, f"the PNG data are damaged: {error}") from None
        return np.asarray(image, dtype=np.uint8).copy()  # (28, 28)


# --------------------------------------------------------------------------- observability
class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("dlcourse_requests", "HTTP requests answered, by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "dlcourse_request_duration_seconds", "Time from request to response, by route", ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry)
        self.batch_images = Histogram(
            "dlcourse_batch_images", "Images per model call (after micro-batching)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
        self.in_flight = Gauge("dlcourse_requests_in_flight", "Prediction requests being served",
                               registry=self.registry)
        self.model = Gauge("dlcourse_model_info", "The model being served (value 1), by version",
                           ["version"], registry=self.registry)
        self.ready = Gauge("dlcourse_ready", "1 once the model is loaded and warmed up, else 0",
                           registry=self.registry)


def _json_logger() -> logging.Logger:
    """A logger that writes one JSON object per line to stderr (what log collectors parse)."""
    logger = logging.getLogger("dlcourse.service")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:  # a level set by the embedding program wins
            logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def log_event(event: str, **fields: Any) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "event": event, **fields}
    _json_logger().info(json.dumps(record))


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Observability:
    """ASGI middleware: a request id, one JSON log line and the metrics for every request.

    It wraps everything else, so it also sees the answers of the other middleware
    (413 for a large body, 503 at the concurrency limit). It logs no payload: request
    bodies may hold personal data, and logs are kept longer and read by more people.
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        route = scope["path"] if scope["path"] in ROUTES else "other"
        status = 500  # what the client sees if the app fails before answering
        start = time.perf_counter()

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            if route not in ("/metrics", "/health/live", "/health/ready", "/health"):
                log_event("request", request_id=request_id, method=scope["method"], route=route,
                          status=status, duration_ms=round(elapsed * 1000, 2))


class ConcurrencyLimit:
    """ASGI middleware: at most ``max_in_flight`` prediction requests at once; more get 503.

    Without a limit, a burst queues without bound: memory grows and every queued client
    waits longer than its own timeout. Answering 503 with Retry-After at once lets a load
    balancer try another replica and a client back off.
    """

    def __init__(self, app: Any, max_in_flight: int, metrics: Metrics | None = None,
                 retry_after_s: int = 1) -> None:
        self.app, self.max_in_flight, self.metrics = app, max_in_flight, metrics
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in PREDICT_ROUTES:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            response = JSONResponse(
                {"detail": f"the service is busy ({self.max_in_flight} requests in flight); "
                           f"retry after {self.retry_after_s} s"},
                status_code=503, headers={"Retry-After": str(self.retry_after_s)})
            await response(scope, _no_body, send)
            return
        self.in_flight += 1  # one event loop: no lock needed between these lines
        if self.metrics:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            if self.metrics:
                self.metrics.in_flight.dec()


# --------------------------------------------------------------------------- micro-batching
class MicroBatcher:
    """Predict the images of requests that arrive close together in one model call.

    Each request puts its images on a queue and awaits its own future. One collector
    task takes the first waiting request, then keeps taking requests until
    ``max_wait_s`` has passed since that first one arrived or the batch holds ``max_images``,
    runs the model once on all of them (in a worker thread, so the event loop keeps
    accepting requests), and hands each request its own rows of the result.
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], max_wait_s: float,
                 max_images: int, metrics: Metrics | None = None) -> None:
        self.predict, self.max_wait_s, self.max_images, self.metrics = predict, max_wait_s, max_images, metrics
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._collect_forever())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def __call__(self, images: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        await self.queue.put((images, future, loop.time()))
        return await future

    async def _collect_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            count = len(batch[0][0])
            # The wait counts from the first request's *arrival*: requests that queued while
            # the previous batch ran have waited already, and go at once.
            deadline = batch[0][2] + self.max_wait_s
            while count < self.max_images:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self.queue.get(), remaining)
                    except TimeoutError:
                        break
                batch.append(item)
                count += len(item[0])
            await self._run(batch)

    async def _run(self, batch: list) -> None:
        images = np.concatenate([item[0] for item in batch])  # (sum of N_i, 28, 28)
        if self.metrics:
            self.metrics.batch_images.observe(len(images))
        try:
            probabilities = await asyncio.to_thread(self.predict, images)  # (sum of N_i, 10)
        except Exception as error:  # every waiting request learns of the failure
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(error)
            return
        start = 0
        for request_images, future, _ in batch:
            stop = start + len(request_images)
            if not future.done():  # a client that went away has cancelled its future
                future.set_result(probabilities[start:stop])
            start = stop


# --------------------------------------------------------------------------- the app
def _setting(value: Any, env: str, default: Any, kind: type) -> Any:
    return value if value is not None else kind(os.environ.get(env, default))


def create_app(
    model_path: str | os.PathLike[str] | None = None,
    *,
    max_body_bytes: int | None = None,
    threads: int | None = None,
    batch_wait_ms: float | None = None,
    max_batch_images: int | None = None,
    max_in_flight: int | None = None,
) -> FastAPI:
    """Build the service. Arguments left out are read from the environment at start-up."""
    metrics = Metrics()

    async def load_and_warm_up(app: FastAPI, path: str) -> None:
        """Load the model in a worker thread, run one warm-up prediction, then become ready."""
        start = time.perf_counter()
        try:
            model = await asyncio.to_thread(OnnxClassifier, path, _setting(threads, THREADS_ENV, 1, int))
            # The first call of an ONNX Runtime session allocates its buffers and is several
            # times slower than the rest; pay for it here, not in a user's request.
            await asyncio.to_thread(model.predict_proba, np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.float32))
        except Exception as error:
            app.state.load_error = str(error)
            log_event("model_load_failed", error=str(error))
            return
        wait_s = _setting(batch_wait_ms, BATCH_WAIT_ENV, DEFAULT_BATCH_WAIT_MS, float) / 1000
        if wait_s > 0:
            batcher = MicroBatcher(model.predict_proba, wait_s,
                                   _setting(max_batch_images, BATCH_IMAGES_ENV, DEFAULT_MAX_BATCH_IMAGES, int),
                                   metrics)
            batcher.start()
            app.state.batcher, app.state.infer = batcher, batcher
        else:
            async def infer(images: np.ndarray) -> np.ndarray:
                metrics.batch_images.observe(len(images))
                return await asyncio.to_thread(model.predict_proba, images)

            app.state.infer = infer
        app.state.model = model
        metrics.model.labels(model.version).set(1)
        metrics.ready.set(1)
        log_event("ready", model_version=model.version, micro_batch_wait_ms=wait_s * 1000,
                  load_and_warm_up_ms=round((time.perf_counter() - start) * 1000, 1))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        path = model_path or os.environ.get(MODEL_ENV)
        if not path:
            raise RuntimeError(f"set ${MODEL_ENV} to the path of the ONNX model to serve")
        app.state.model, app.state.load_error, app.state.batcher = None, None, None
        # Loading runs in the background: the server answers /health/live at once and
        # /health/ready only when the model can really answer.
        loading = asyncio.create_task(load_and_warm_up(app, str(path)))
        yield
        loading.cancel()
        if app.state.batcher is not None:
            await app.state.batcher.stop()

    app = FastAPI(
        title="MNIST digit classifier",
        version="2.0",
        description="Classifies 28 x 28 grey-scale digit images (pixel values 0-255).",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    limit = _setting(max_body_bytes, MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES, int)
    app.add_middleware(BodySizeLimit, max_bytes=limit)
    app.add_middleware(ConcurrencyLimit, metrics=metrics,
                       max_in_flight=_setting(max_in_flight, IN_FLIGHT_ENV, DEFAULT_MAX_IN_FLIGHT, int))
    app.add_middleware(Observability, metrics=metrics)  # added last: the outermost layer
    app.add_exception_handler(RequestValidationError, _validation_error)

    def not_ready(request: Request) -> JSONResponse:
        error = request.app.state.load_error
        detail = f"the model failed to load: {error}" if error else "the model is loading; retry shortly"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})

    @app.get("/health/live")
    def live() -> dict:
        """Liveness: the process answers. An orchestrator restarts the container when this fails."""
        return {"status": "alive"}

    @app.get("/health/ready", response_model=Health, responses={503: {"description": "not ready yet"}})
    def ready(request: Request):
        """Readiness: the model is loaded and warmed up. A load balancer routes traffic only then."""
        model = request.app.state.model
        return Health(status="ready", model_version=model.version) if model else not_ready(request)

    @app.get("/health", response_model=Health, responses={503: {"description": "not ready yet"}})
    def health(request: Request):
        """The readiness check under its old name."""
        model = request.app.state.model
        return Health(status="ok", model_version=model.version) if model else not_ready(request)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict", response_model=PredictResponse, responses={503: {"description": "busy or not ready"}})
    async def predict(body: PredictRequest, request: Request):
        """The most probable digit and the ten class probabilities of each image."""
        model: OnnxClassifier | None = request.app.state.model
        if model is None:
            return not_ready(request)
        images = np.asarray(body.images, dtype=np.float32)  # (N, 28, 28), already validated
        probabilities = await request.app.state.infer(images)  # (N, 10)
        return PredictResponse(
            model_version=model.version,
            predictions=[
                Prediction(label=int(p.argmax()), probabilities=[float(v) for v in p])
                for p in probabilities
            ],
        )

    @app.post("/predict/png", response_model=PngPrediction,
              responses={400: {"description": "damaged PNG"}, 413: {"description": "too large"},
                         415: {"description": "not a PNG"}, 422: {"description": "wrong size or mode"}})
    async def predict_png(request: Request, file: UploadFile = File(description="a 28 x 28 grey-scale PNG")):
        """The digit in one uploaded PNG: 28 x 28 pixels, 8-bit grey-scale, white on black."""
        model: OnnxClassifier | None = request.app.state.model
        if model is None:
            return not_ready(request)
        data = await file.read(MAX_PNG_BYTES + 1)  # never read more than the limit allows
        try:
            pixels = read_digit_png(data)  # (28, 28) uint8
        except ImageRejected as rejected:
            return JSONResponse({"detail": rejected.detail}, status_code=rejected.status)
        (p,) = await request.app.state.infer(pixels[None].astype(np.float32))  # (10,)
        return PngPrediction(model_version=model.version, label=int(p.argmax()),
                             probabilities=[float(v) for v in p])

    return app


#: The app uvicorn serves: `uvicorn deploy.app:app`. Nothing is loaded until it starts.
app = create_app()
