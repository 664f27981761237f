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


def quantize_int8(w):
    w = np.asarray(w, dtype=np.float64)
    peak = float(np.abs(w).max())
    scale = peak / 127 if peak > 0 else 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


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


def export_sensor_net(model):
    import torch

    return torch.jit.script(model)


def quantization_tradeoff(weights, X, y, bits_list):
    table = {}
    for bits in bits_list:
        levels = 2 ** (bits - 1) - 1
        h, size = np.asarray(X, dtype=np.float64), 0
        for k, (W, b) in enumerate(weights):
            W = np.asarray(W, dtype=np.float64)
            scale = np.abs(W).max() / levels
            h = h @ (np.clip(np.round(W / scale), -levels, levels) * scale) + b
            if k < len(weights) - 1:
                h = np.maximum(h, 0)
            size += math.ceil(W.size * bits / 8) + 4 + 4 * np.asarray(b).size
        table[bits] = {"size_bytes": size, "accuracy": float(np.mean(h.argmax(1) == y))}
    return table


REFERENCE = {
    "10.1": parity,
    "10.2": make_request_model,
    "10.3": quantize_int8,
    "10.4": make_app,
    "10.5": export_onnx,
    "10.6": export_sensor_net,
    "10.7": quantization_tradeoff,
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
def quantize_max_not_abs(w):
    w = np.asarray(w, dtype=np.float64)
    scale = w.max() / 127 if w.max() > 0 else 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def quantize_truncates(w):
    w = np.asarray(w, dtype=np.float64)
    scale = np.abs(w).max() / 127 if np.abs(w).max() > 0 else 1.0
    return (w / scale).astype(np.int8), scale


def quantize_128(w):
    w = np.asarray(w, dtype=np.float64)
    scale = np.abs(w).max() / 128 if np.abs(w).max() > 0 else 1.0
    return np.clip(np.round(w / scale), -128, 127).astype(np.int8), scale


def quantize_float_output(w):
    w = np.asarray(w, dtype=np.float64)
    scale = np.abs(w).max() / 127 if np.abs(w).max() > 0 else 1.0
    return np.round(w / scale), scale


def quantize_divides_by_zero(w):
    w = np.asarray(w, dtype=np.float64)
    scale = np.abs(w).max() / 127
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.round(w / scale)).astype(np.int8), scale


# --------------------------------------------------------------------------- wrong answers: 10.4
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


# --------------------------------------------------------------------------- wrong answers: 10.5
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


def export_somewhere_else(model, path):
    other = path.with_name("model.onnx")
    _legacy_export(model, other, input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}})
    return other


# --------------------------------------------------------------------------- wrong answers: 10.6
def export_traced_on_celsius(model):
    import torch

    return torch.jit.trace(model, torch.full((2, 4), 20.0))


def export_traced_on_kelvin(model):
    import torch

    return torch.jit.trace(model, torch.full((2, 4), 293.15))


def export_the_eager_model(model):
    return model


# --------------------------------------------------------------------------- wrong answers: 10.7
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


WRONG_ANSWERS = {
    "10.1": [parity_signed, parity_mean, parity_allclose, parity_broadcasts, parity_nanmax, parity_ignores_atol],
    "10.2": [schema_lax, schema_allows_nan, schema_any_row_length, schema_allows_empty_batch,
             schema_ignores_extra_fields, schema_returns_an_instance],
    "10.3": [quantize_max_not_abs, quantize_truncates, quantize_128, quantize_float_output,
             quantize_divides_by_zero],
    "10.4": [app_default_error_handler, app_accepts_any_dict, app_returns_numpy, app_without_health,
             app_passes_the_list],
    "10.5": [export_fixed_batch, export_default_names, export_forgets_to_return, export_somewhere_else],
    "10.6": [export_traced_on_celsius, export_traced_on_kelvin, export_the_eager_model],
    "10.7": [tradeoff_counts_bits, tradeoff_weights_only_size, tradeoff_too_many_levels,
             tradeoff_forgets_to_dequantise, tradeoff_without_relu],
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
    quantize_max_not_abs: "largest *magnitude*",
    quantize_truncates: "truncated towards zero",
    quantize_128: "symmetric uses 127",
    quantize_float_output: "np.int8",
    quantize_divides_by_zero: "all-zero tensor",
    app_default_error_handler: "default validation answer echoes the input",
    app_accepts_any_dict: "reached predict_fn",
    app_returns_numpy: "cannot encode NumPy numbers",
    app_without_health: "GET /health answered 404",
    app_passes_the_list: "NumPy array of shape (N, 4)",
    export_fixed_batch: "declare the batch dimension dynamic",
    export_default_names: "name them ['x'] and ['y']",
    export_forgets_to_return: "returned None",
    export_somewhere_else: "not the path it was given",
    export_traced_on_celsius: "on a Kelvin batch",
    export_traced_on_kelvin: "on a Celsius batch",
    export_the_eager_model: "return a TorchScript module",
    tradeoff_counts_bits: "counts bits, not bytes",
    tradeoff_weights_only_size: "4 bytes per scale",
    tradeoff_too_many_levels: "number of levels",
    tradeoff_forgets_to_dequantise: "multiplied back by the scale",
    tradeoff_without_relu: "ReLU between layers",
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
