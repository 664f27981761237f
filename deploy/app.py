"""A small HTTP service that classifies 28 x 28 grey-scale digit images with an ONNX model.

Run it from the repository root (chapter 10 shows how to export the model):

    DLCOURSE_MODEL_PATH=/path/to/mnist_mlp.onnx uvicorn deploy.app:app --port 8000

then open http://127.0.0.1:8000/docs for the generated API documentation, or

    curl http://127.0.0.1:8000/health

Endpoints
---------
GET  /health   -> {"status": "ok", "model_version": "sha256:…"} once the model is loaded.
POST /predict  -> {"images": [image, …]} where each image is 28 rows of 28 pixel values in
                  [0, 255] (the raw MNIST scale); answers one label and ten class
                  probabilities per image.

Bad input never reaches the model: malformed JSON is answered with 400, a body over
the size limit with 413, and anything the request schema rejects (a wrong shape, a
string instead of a number, NaN or infinity, an empty or too large batch) with 422 and
a message that says which field is wrong and why.

Configuration, read when the service starts (not at import)
-------------------------------------------------------------
DLCOURSE_MODEL_PATH       path of the ONNX model; required.
DLCOURSE_MAX_BODY_BYTES   largest request body accepted, in bytes (default 1,000,000).
DLCOURSE_ORT_THREADS      threads ONNX Runtime may use for one request (default 1).

The service imports neither TensorFlow nor PyTorch: its container needs only FastAPI,
uvicorn, NumPy and ONNX Runtime (see deploy/requirements.txt).
"""
from __future__ import annotations

import hashlib
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

MODEL_ENV = "DLCOURSE_MODEL_PATH"
MAX_BODY_ENV = "DLCOURSE_MAX_BODY_BYTES"
THREADS_ENV = "DLCOURSE_ORT_THREADS"

IMAGE_SIZE = 28  # MNIST images are 28 x 28 pixels
NUM_CLASSES = 10
#: Largest batch one request may carry. 64 images of 784 pixels written as JSON numbers
#: take at most about 64 * 784 * 6 bytes ≈ 300 kB, well inside the body limit.
MAX_BATCH = 64
#: Default body limit. uvicorn itself sets none: without this, one client could make the
#: server read (and pydantic parse) gigabytes.
DEFAULT_MAX_BODY_BYTES = 1_000_000


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


# --------------------------------------------------------------------------- the app
def create_app(
    model_path: str | os.PathLike[str] | None = None,
    *,
    max_body_bytes: int | None = None,
    threads: int | None = None,
) -> FastAPI:
    """Build the service. Arguments left out are read from the environment at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        path = model_path or os.environ.get(MODEL_ENV)
        if not path:
            raise RuntimeError(f"set ${MODEL_ENV} to the path of the ONNX model to serve")
        app.state.model = OnnxClassifier(path, threads or int(os.environ.get(THREADS_ENV, "1")))
        yield

    app = FastAPI(
        title="MNIST digit classifier",
        version="1.0",
        description="Classifies 28 x 28 grey-scale digit images (pixel values 0-255).",
        lifespan=lifespan,
    )
    limit = max_body_bytes or int(os.environ.get(MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES))
    app.add_middleware(BodySizeLimit, max_bytes=limit)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.get("/health")
    def health(request: Request) -> Health:
        """Liveness and readiness: answers only once the model is loaded."""
        return Health(status="ok", model_version=request.app.state.model.version)

    @app.post("/predict")
    def predict(body: PredictRequest, request: Request) -> PredictResponse:
        """The most probable digit and the ten class probabilities of each image."""
        model: OnnxClassifier = request.app.state.model
        images = np.asarray(body.images, dtype=np.float32)  # (N, 28, 28), already validated
        probabilities = model.predict_proba(images)  # (N, 10)
        return PredictResponse(
            model_version=model.version,
            predictions=[
                Prediction(label=int(p.argmax()), probabilities=[float(v) for v in p])
                for p in probabilities
            ],
        )

    return app


#: The app uvicorn serves: `uvicorn deploy.app:app`. Nothing is loaded until it starts.
app = create_app()
