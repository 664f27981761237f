"""Chapter 10 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_ANSWERS`` (the bugs people really write) fails with a message that names
the problem; the unfilled stub fails with "not written yet". ``tests/test_exercises.py``
reads ``WRONG_WITH_MESSAGES``, to prove that no check in the book is toothless.
"""
# No `from __future__ import annotations`: FastAPI reads the endpoint annotations at run time.

import logging
import math
import warnings
from typing import Annotated

import numpy as np
import torch
from torch import nn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules

logging.getLogger("torch.onnx").setLevel(logging.ERROR)


# --------------------------------------------------------------------------- reference answers
def parity(reference, candidate, atol=1e-5):
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError("shapes differ")
    if not np.all(np.isfinite(candidate)):
        return float("inf"), False
    diff = float(np.max(np.abs(reference - candidate)))
    return diff, diff <= atol


def _schema(strict=True, finite=True, row=(4, 4), batch=(1, 32), extra="forbid"):
    Reading = Annotated[float, Field(strict=strict, allow_inf_nan=not finite)]
    Row = Annotated[list[Reading], Field(min_length=row[0], max_length=row[1])]

    class SensorRequest(BaseModel):
        model_config = ConfigDict(extra=extra)
        readings: Annotated[list[Row], Field(min_length=batch[0], max_length=batch[1])]

    return SensorRequest


def make_request_model():
    return _schema()


def _app(predict_fn, request_model, *, handler=True, health=True, convert=True, as_array=True):
    app = FastAPI()
    if handler:
        @app.exception_handler(RequestValidationError)
        async def invalid(request, error):
            return JSONResponse({"detail": [e["msg"] for e in error.errors()]}, status_code=422)
    if health:
        @app.get("/health")
        def health_endpoint():
            return {"status": "ok"}

    @app.post("/predict")
    def predict(body: request_model):
        X = np.asarray(body.readings, dtype=np.float32) if as_array else body.readings
        y = predict_fn(X)
        return {"predictions": [float(v) for v in y] if convert else y}

    return app


def make_app(predict_fn, request_model):
    return _app(predict_fn, request_model)


def export_onnx(model, path):
    import torch

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(model, (torch.zeros(2, 4),), str(path), input_names=["x"], output_names=["y"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False, verbose=False)
    return path


def quantization_tradeoff(weights, X, y, bits_list, zero_guard=True):
    table = {}
    for bits in bits_list:
        levels = 2 ** (bits - 1) - 1
        h, size = np.asarray(X, dtype=np.float64), 0
        for k, (W, b) in enumerate(weights):
            W = np.asarray(W, dtype=np.float64)
            scale = np.abs(W).max() / levels
            if zero_guard and scale == 0:
                scale = 1.0
            h = h @ (np.clip(np.round(W / scale), -levels, levels) * scale) + b
            if k < len(weights) - 1:
                h = np.maximum(h, 0)
            size += math.ceil(W.size * bits / 8) + 4 + 4 * np.asarray(b).size
        table[bits] = {"size_bytes": size, "accuracy": float(np.mean(h.argmax(1) == y))}
    return table


def label_psi(reference, live, num_classes=10):
    q = np.maximum(np.bincount(reference, minlength=num_classes) / len(reference), 1e-4)
    p = np.maximum(np.bincount(live, minlength=num_classes) / len(live), 1e-4)
    return float(np.sum((p - q) * np.log(p / q)))


def plan_batches(arrivals, sizes, max_wait_ms, max_images):
    batches, opened, count = [], 0.0, 0
    for j, (t, n) in enumerate(zip(arrivals, sizes)):
        if batches and t <= opened + max_wait_ms and count + n <= max_images:
            batches[-1].append(j)
            count += n
        else:
            batches.append([j])
            opened, count = t, n
    return batches


def _validate_png(data, size=(32, 32), max_bytes=20_000, max_pixels=1_000_000, *, check_bytes=True,
                  check_declared=True, convert=False, catch_bomb=True, catch_damage=True, as_float=False):
    import io

    from PIL import Image

    if check_bytes and len(data) > max_bytes:
        return 413, "too many bytes"
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return 415, "not a PNG"
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        if not catch_bomb:
            raise
        return 413, "decompression bomb"
    if check_declared and image.width * image.height > max_pixels:
        return 413, "declares too many pixels"
    if image.size != size:
        return 422, f"size {image.size}"
    if convert:
        image = image.convert("RGB")
    if image.mode != "RGB":
        return 422, f"mode {image.mode}"
    try:
        image.load()
    except OSError:
        if not catch_damage:
            raise
        return 400, "damaged"
    array = np.asarray(image, dtype=np.uint8)
    return 200, array.astype(np.float32) if as_float else array


def validate_rgb_png(data):
    return _validate_png(data)


class _EdgeCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten())
        self.classifier = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        return self.classifier(self.features(x[:, None] / 255.0))


def train_edge_classifier(data, seed=0):
    torch.manual_seed(seed)
    model = _EdgeCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(2):
        for xb, yb in data.batches(128, seed=epoch, tensors=True):
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


REFERENCE = {
    "10.1": parity,
    "10.2": make_request_model,
    "10.3": make_app,
    "10.4": export_onnx,
    "10.5": quantization_tradeoff,
    "10.6": label_psi,
    "10.7": plan_batches,
    "10.8": validate_rgb_png,
    "10.9": train_edge_classifier,
}


# --------------------------------------------------------------------------- wrong answers: 10.1
def parity_signed(reference, candidate, atol=1e-5):
    diff = float(np.max(np.asarray(candidate, float) - np.asarray(reference, float)))
    return diff, diff <= atol


def parity_mean(reference, candidate, atol=1e-5):
    if np.shape(reference) != np.shape(candidate):
        raise ValueError("shapes differ")
    diff = float(np.mean(np.abs(np.asarray(reference, float) - np.asarray(candidate, float))))
    return diff, diff <= atol


def parity_allclose(reference, candidate, atol=1e-5):
    if np.shape(reference) != np.shape(candidate):
        raise ValueError("shapes differ")
    diff = float(np.max(np.abs(np.asarray(reference, float) - np.asarray(candidate, float))))
    return diff, bool(np.allclose(reference, candidate, atol=atol))


def parity_broadcasts(reference, candidate, atol=1e-5):
    diff = float(np.max(np.abs(np.asarray(reference, float) - np.asarray(candidate, float))))
    return diff, diff <= atol


def parity_nanmax(reference, candidate, atol=1e-5):
    if np.shape(reference) != np.shape(candidate):
        raise ValueError("shapes differ")
    diff = float(np.nanmax(np.abs(np.asarray(reference, float) - np.asarray(candidate, float))))
    return diff, diff <= atol


def parity_ignores_atol(reference, candidate, atol=1e-5):
    return parity(reference, candidate, 1e-5)


# --------------------------------------------------------------------------- wrong answers: 10.2
def schema_lax():
    return _schema(strict=False)


def schema_allows_nan():
    return _schema(finite=False)


def schema_any_row_length():
    return _schema(row=(0, 1000))


def schema_allows_empty_batch():
    return _schema(batch=(0, 32))


def schema_ignores_extra_fields():
    return _schema(extra="ignore")


def schema_returns_an_instance():
    return _schema()(readings=[[1.0, 2.0, 3.0, 4.0]])


# --------------------------------------------------------------------------- wrong answers: 10.3
def app_default_error_handler(predict_fn, request_model):
    return _app(predict_fn, request_model, handler=False)


def app_accepts_any_dict(predict_fn, request_model):
    app = FastAPI()

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: dict):
        X = np.asarray(body["readings"], dtype=np.float32)
        return {"predictions": [float(v) for v in predict_fn(X)]}

    return app


def app_returns_numpy(predict_fn, request_model):
    return _app(predict_fn, request_model, convert=False)


def app_without_health(predict_fn, request_model):
    return _app(predict_fn, request_model, health=False)


def app_passes_the_list(predict_fn, request_model):
    return _app(predict_fn, request_model, as_array=False)


# --------------------------------------------------------------------------- wrong answers: 10.4
def _legacy_export(model, path, **kwargs):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(2, 4),), str(path), dynamo=False, **kwargs)


def export_fixed_batch(model, path):
    _legacy_export(model, path, input_names=["x"], output_names=["y"])
    return path


def export_default_names(model, path):
    _legacy_export(model, path, dynamic_axes={"input": {0: "batch"}}, input_names=["input"])
    return path


def export_forgets_to_return(model, path):
    _legacy_export(model, path, input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}})


def export_external_data(model, path):
    import torch

    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(2, 4),), str(path), input_names=["x"], output_names=["y"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=True)
    return path


def export_somewhere_else(model, path):
    other = path.with_name("model.onnx")
    _legacy_export(model, other, input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}})
    return other


# --------------------------------------------------------------------------- wrong answers: 10.5
def _tradeoff_variant(weights, X, y, bits_list, *, levels_of, size_of, dequantise=True, relu=True):
    table = {}
    for bits in bits_list:
        levels = levels_of(bits)
        h, size = np.asarray(X, dtype=np.float64), 0
        for k, (W, b) in enumerate(weights):
            W = np.asarray(W, dtype=np.float64)
            scale = np.abs(W).max() / levels
            q = np.clip(np.round(W / scale), -levels, levels)
            h = h @ (q * scale if dequantise else q) + b
            if relu and k < len(weights) - 1:
                h = np.maximum(h, 0)
            size += size_of(W, b, bits)
        table[bits] = {"size_bytes": size, "accuracy": float(np.mean(h.argmax(1) == y))}
    return table


def _bytes(W, b, bits):
    return math.ceil(W.size * bits / 8) + 4 + 4 * np.asarray(b).size


def tradeoff_divides_by_a_zero_scale(weights, X, y, bits_list):   # a matrix of zeros gives 0 / 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return quantization_tradeoff(weights, X, y, bits_list, zero_guard=False)


def tradeoff_counts_bits(weights, X, y, bits_list):
    return _tradeoff_variant(weights, X, y, bits_list, levels_of=lambda bits: 2 ** (bits - 1) - 1,
                             size_of=lambda W, b, bits: W.size * bits + 4 + 4 * np.asarray(b).size)


def tradeoff_weights_only_size(weights, X, y, bits_list):
    return _tradeoff_variant(weights, X, y, bits_list, levels_of=lambda bits: 2 ** (bits - 1) - 1,
                             size_of=lambda W, b, bits: math.ceil(W.size * bits / 8))


def tradeoff_too_many_levels(weights, X, y, bits_list):
    return _tradeoff_variant(weights, X, y, bits_list, levels_of=lambda bits: 2 ** bits - 1, size_of=_bytes)


def tradeoff_forgets_to_dequantise(weights, X, y, bits_list):
    return _tradeoff_variant(weights, X, y, bits_list, levels_of=lambda bits: 2 ** (bits - 1) - 1,
                             size_of=_bytes, dequantise=False)


def tradeoff_without_relu(weights, X, y, bits_list):
    return _tradeoff_variant(weights, X, y, bits_list, levels_of=lambda bits: 2 ** (bits - 1) - 1,
                             size_of=_bytes, relu=False)


# --------------------------------------------------------------------------- wrong answers: 10.6-10.8
def psi_without_floor(reference, live, num_classes=10):
    q = np.bincount(reference, minlength=num_classes) / len(reference)
    p = np.bincount(live, minlength=num_classes) / len(live)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum((p - q) * np.log(p / q)))


def psi_kl(reference, live, num_classes=10):
    q = np.maximum(np.bincount(reference, minlength=num_classes) / len(reference), 1e-4)
    p = np.maximum(np.bincount(live, minlength=num_classes) / len(live), 1e-4)
    return float(np.sum(p * np.log(p / q)))


def psi_counts(reference, live, num_classes=10):
    q = np.maximum(np.bincount(reference, minlength=num_classes), 1e-4)
    p = np.maximum(np.bincount(live, minlength=num_classes), 1e-4)
    return float(np.sum((p - q) * np.log(p / q)))


def psi_without_minlength(reference, live, num_classes=10):
    q = np.maximum(np.bincount(reference) / len(reference), 1e-4)
    p = np.maximum(np.bincount(live) / len(live), 1e-4)
    return float(np.sum((p - q) * np.log(p / q)))


def psi_percent(reference, live, num_classes=10):
    return 100 * label_psi(reference, live, num_classes)


def _plan(flag):
    from dlcourse_utils.checks.ch10 import _plan_variant

    def plan(arrivals, sizes, max_wait_ms, max_images):
        return _plan_variant(arrivals, sizes, max_wait_ms, max_images, **{flag: True})

    plan.__name__ = f"plan_{flag}"
    return plan


plan_strict_wait = _plan("strict")
plan_sliding_wait = _plan("sliding")
plan_overflows = _plan("overflow")
plan_counts_requests = _plan("requests")


def plan_drops_the_closing_request(arrivals, sizes, max_wait_ms, max_images):
    batches, opened, count = [], 0.0, 0
    for j, (t, n) in enumerate(zip(arrivals, sizes)):
        if not batches:
            batches.append([j])
            opened, count = t, n
        elif t <= opened + max_wait_ms and count + n <= max_images:
            batches[-1].append(j)
            count += n
        else:
            batches.append([])  # forgets to put request j in the new batch
            opened, count = t, 0
    return [b for b in batches if b]


def png_no_byte_limit(data):
    return _validate_png(data, check_bytes=False)


def png_decodes_before_checking_pixels(data):
    return _validate_png(data, check_declared=False)


def png_converts_the_mode(data):
    return _validate_png(data, convert=True)


def png_lets_the_bomb_error_escape(data):
    return _validate_png(data, catch_bomb=False)


def png_crashes_on_damage(data):
    return _validate_png(data, catch_damage=False)


def png_returns_floats(data):
    return _validate_png(data, as_float=True)


def png_accepts_any_size(data):
    return _validate_png(data, size=None) if False else _validate_png_any_size(data)


def _validate_png_any_size(data):
    import io

    from PIL import Image

    status, payload = _validate_png(data)
    if status == 422 and payload.startswith("size"):
        image = Image.open(io.BytesIO(data))
        return 200, np.asarray(image.convert("RGB"), dtype=np.uint8)
    return status, payload


# --------------------------------------------------------------------------- wrong answers: 10.9
def edge_three_passes(data):            # over the examples budget: a third pass over 50,000 images
    for _ in range(3):
        for _ in data.batches(5000):
            pass
    return _EdgeCNN()


def edge_wide_mlp(data):                # 784 -> 64 -> 10: about 51,000 numbers
    data.sample(100)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def edge_nearest_neighbour(data):       # memorises the training images in a closure
    X, y = data.sample(len(data))
    X = X.reshape(len(X), -1).astype(np.float32)

    def predict(images):
        flat = images.reshape(len(images), -1).numpy()
        nearest = ((flat ** 2).sum(1)[:, None] - 2 * flat @ X.T).argmin(1)
        return torch.nn.functional.one_hot(torch.as_tensor(y[nearest]), 10).float()

    return predict


def edge_loads_mnist(data):             # fetches the data set itself, test split included
    import dlcourse_utils as dl

    dl.data.load_mnist(progress=False)
    return _EdgeCNN()


def edge_untrained(data):               # the right architecture, never trained
    data.sample(10)
    torch.manual_seed(0)
    return _EdgeCNN()


def edge_returns_none(data):
    data.sample(10)


def edge_expects_unit_pixels(data):     # trained on x / 255 outside the model: wrong on raw pixels
    data.sample(10)

    class Unit(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(784, 10)

        def forward(self, x):
            if float(x.max()) > 1.0:
                raise ValueError("expected pixels between 0 and 1")
            return self.linear(x.reshape(len(x), -1))

    return Unit()


def edge_wrong_output_shape(data):      # one score per image instead of ten
    data.sample(10)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1))


WRONG_ANSWERS = {
    "10.1": [parity_signed, parity_mean, parity_allclose, parity_broadcasts, parity_nanmax, parity_ignores_atol],
    "10.2": [schema_lax, schema_allows_nan, schema_any_row_length, schema_allows_empty_batch,
             schema_ignores_extra_fields, schema_returns_an_instance],
    "10.3": [app_default_error_handler, app_accepts_any_dict, app_returns_numpy, app_without_health,
             app_passes_the_list],
    "10.4": [export_fixed_batch, export_default_names, export_forgets_to_return, export_somewhere_else,
             export_external_data],
    "10.5": [tradeoff_counts_bits, tradeoff_weights_only_size, tradeoff_too_many_levels,
             tradeoff_forgets_to_dequantise, tradeoff_without_relu, tradeoff_divides_by_a_zero_scale],
    "10.6": [psi_without_floor, psi_kl, psi_counts, psi_without_minlength, psi_percent],
    "10.7": [plan_strict_wait, plan_sliding_wait, plan_overflows, plan_counts_requests,
             plan_drops_the_closing_request],
    "10.8": [png_no_byte_limit, png_decodes_before_checking_pixels, png_converts_the_mode,
              png_lets_the_bomb_error_escape, png_crashes_on_damage, png_returns_floats, png_accepts_any_size],
    "10.9": [edge_three_passes, edge_wide_mlp, edge_nearest_neighbour, edge_loads_mnist, edge_untrained,
             edge_returns_none, edge_expects_unit_pixels, edge_wrong_output_shape],
}

#: For each wrong answer, words its failure message must contain: the diagnosis it names.
EXPECTED_MESSAGE = {
    parity_signed: "signed",
    parity_mean: "mean difference",
    parity_allclose: "relative tolerance",
    parity_broadcasts: "ValueError",
    parity_nanmax: "NaN",
    parity_ignores_atol: "atol=0.1",
    schema_lax: "strict=True",
    schema_allows_nan: "allow_inf_nan=False",
    schema_any_row_length: "exactly 4 numbers per row",
    schema_allows_empty_batch: "min_length=1",
    schema_ignores_extra_fields: 'extra="forbid"',
    schema_returns_an_instance: "return the class itself",
    app_default_error_handler: "default validation answer echoes the input",
    app_accepts_any_dict: "reached predict_fn",
    app_returns_numpy: "cannot encode NumPy numbers",
    app_without_health: "GET /health answered 404",
    app_passes_the_list: "NumPy array of shape (N, 4)",
    export_fixed_batch: "declare the batch dimension dynamic",
    export_default_names: "name them ['x'] and ['y']",
    export_forgets_to_return: "returned None",
    export_somewhere_else: "not the path it was given",
    export_external_data: "external_data=False",
    tradeoff_counts_bits: "counts bits, not bytes",
    tradeoff_weights_only_size: "4 bytes per scale",
    tradeoff_too_many_levels: "number of levels",
    tradeoff_forgets_to_dequantise: "multiplied back by the scale",
    tradeoff_without_relu: "ReLU between layers",
    tradeoff_divides_by_a_zero_scale: "a scale of 1 for a matrix of zeros",
    psi_without_floor: "floor both share vectors",
    psi_kl: "KL divergence",
    psi_counts: "fractions, not counts",
    psi_without_minlength: "raised ValueError",
    psi_percent: "100 times too large",
    plan_strict_wait: "compare with <=, not <",
    plan_sliding_wait: "not from the previous",
    plan_overflows: "more than max_images",
    plan_counts_requests: "add sizes[j], not 1",
    plan_drops_the_closing_request: "exactly one batch",
    png_no_byte_limit: "check len(data) against max_bytes",
    png_decodes_before_checking_pixels: "declared width x height",
    png_converts_the_mode: "do not convert other modes",
    png_lets_the_bomb_error_escape: "DecompressionBombError",
    png_crashes_on_damage: "raised",
    png_returns_floats: "return np.uint8",
    png_accepts_any_size: "exactly (32, 32)",
    edge_three_passes: "budget of 100,000 training examples",
    edge_wide_mlp: "the budget is 15,000",
    edge_nearest_neighbour: "do not keep training examples inside the model",
    edge_loads_mnist: "never load a data set itself",
    edge_untrained: "the target is 0.96",
    edge_returns_none: "returned None",
    edge_expects_unit_pixels: "values 0-255",
    edge_wrong_output_shape: "shape (1000, 10)",
}


#: Read by tests/test_exercises.py and the rules below.
WRONG_WITH_MESSAGES = {
    key: [(wrong, EXPECTED_MESSAGE[wrong]) for wrong in answers] for key, answers in WRONG_ANSWERS.items()
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES


def test_every_wrong_answer_has_an_expected_message():
    assert {w for answers in WRONG_ANSWERS.values() for w in answers} == set(EXPECTED_MESSAGE)


def test_the_quantisation_problem_shows_a_real_trade_off():
    from dlcourse_utils.checks.ch10 import _tradeoff_problem, _tradeoff_reference

    table = _tradeoff_reference(*_tradeoff_problem(), [8, 4, 3, 2])
    accuracies = [table[b]["accuracy"] for b in (8, 4, 3, 2)]
    assert accuracies[0] >= 0.97 and accuracies[-1] < accuracies[0] - 0.1


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    "10.4": {
        "line 4:26: 2 -> 3": "the example's batch size: the batch dimension is declared dynamic, so an example "
                             "of 3 rows exports the same graph as one of 2",
        "line 4:26: 2 -> 1": "the example's batch size: with dynamic_shapes declared, this torch exports the same "
                             "dynamic graph from an example of 1 row (the check runs batches of 1, 7 and 64)",
        "line 9:85: False -> True": "verbose=True only prints the graph while exporting; the file is the same",
    },
    "10.5": {
        "line 11:51: 1.0 -> 2.0": "the scale used for a matrix of zeros: every weight is 0, so W / s rounds to 0 "
                                  "and the dequantised matrix is zeros for any positive scale",
    },
    "10.7": {
        "line 3:33: 0.0 -> 1.0": "the opening time before the first batch is never read: `batches` is empty, "
                                 "so the first request always opens a batch and sets it",
        "line 3:38: 0 -> 1": "the image count before the first batch is never read: the first request always "
                             "opens a batch and resets it",
        "line 3:38: 0 -> -1": "the image count before the first batch is never read: the first request always "
                              "opens a batch and resets it",
    },
}
