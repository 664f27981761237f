"""Graders for chapter 10, deployment (exercises 10.1-10.9).

The chapter's vocabulary: an exported model is checked by *parity* (the largest
absolute difference from the original's outputs, against a tolerance); a service
checks every request against a strict *schema* and answers bad input with a 4xx;
quantisation is symmetric, ``scale = max|w| / L`` and ``q = clip(round(w / scale), -L, L)``;
a monitor scores drift with the population stability index; a micro-batcher groups
requests by arrival time; an upload is validated from its header before it is decoded.

Every grader compares the learner's answer with a private reference computed here,
on fixed edge cases and (10.6-10.8) on fresh random inputs at every call. PyTorch, ONNX, FastAPI and pydantic are imported inside the
graders, so importing this module stays cheap.
"""
from __future__ import annotations

import copy
import io
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .challenge import Budget, TrainingData, provides_data, run_challenge, validation_split
from .core import CheckFailed, one_torch_thread, _short, as_numpy, call, diagnose, exercise, expect_array

#: Fresh inputs at every check, from one seeded stream: a table of the inputs seen cannot pass,
#: and a run of the notebook from the top sees the same inputs each time.
_FRESH = np.random.default_rng(1010)

NOT_WRITTEN = "is not written yet: replace `raise NotImplementedError` with your code."


def _call_expecting(fn: Callable, exc: type[BaseException], *args: Any, label: str) -> Any:
    """Call learner code where an exception of type ``exc`` may be the right answer.

    Returns the exception if one of type ``exc`` was raised, otherwise the result.
    """
    try:
        return fn(*copy.deepcopy(args))
    except NotImplementedError:
        raise CheckFailed(f"{label} {NOT_WRITTEN}") from None
    except exc as error:
        return error
    except Exception as error:  # anything else is a bug in the learner's code
        raise CheckFailed(f"calling {label} raised {type(error).__name__}: {error}") from None


# --------------------------------------------------------------------------- 10.1
def _parity_reference(reference: np.ndarray, candidate: np.ndarray, atol: float) -> tuple[float, bool]:
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {candidate.shape}")
    if not np.all(np.isfinite(candidate)):
        return math.inf, False
    diff = float(np.max(np.abs(reference - candidate)))
    return diff, diff <= atol


def _parity_cases() -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(10)
    logits = rng.normal(0, 3, size=(6, 10)).astype(np.float32)       # (6, 10)
    close = logits + rng.uniform(-3e-6, 3e-6, size=logits.shape).astype(np.float32)
    below = logits.copy()
    below[2, 7] -= 2e-3                        # one value too LOW: the difference is negative
    big = rng.normal(1000, 50, size=(4, 5))    # large values: a relative tolerance would hide errors
    big_off = big + 5e-4
    many = rng.normal(0, 1, size=(200, 10))    # one bad value among 2,000: the mean hides it
    many_off = many.copy()
    many_off[123, 4] += 1e-3
    loose = logits + 0.05
    return [
        ("a faithful export (differences of about 3e-6)", logits, close, 1e-5),
        ("one value 2e-3 below the reference", logits, below, 1e-5),
        ("values around 1000, all off by 5e-4", big, big_off, 1e-5),
        ("one value off by 1e-3 among 2,000", many, many_off, 1e-5),
        ("differences of 0.05 with atol=0.1", logits, loose, 0.1),
        ("differences of 0.05 with atol=0.01", logits, loose, 0.01),
        ("a largest difference of exactly atol=0.25 (it passes: <=)", np.zeros((3, 4)),
         np.array([[0.0, 0.125, 0.0, 0.0], [0.0, 0.0, -0.25, 0.0], [0.0625, 0.0, 0.0, 0.0]]), 0.25),
    ]


@exercise(
    "10.1",
    "A parity test",
    hints=[
        'The difference that matters is the largest one, in absolute value: one wrong number is enough to make an export wrong. Compare it with `atol`, and nothing else.',
        'Order the work: first compare the two shapes and raise a ValueError when they differ (NumPy would broadcast (5, 10) against (5, 1) without complaint); then treat a candidate holding NaN or infinity (np.isfinite) as infinitely far off; only then take the largest absolute difference, as a Python float, and test it against atol with <= (a difference equal to atol passes).',
    ],
)
def _check_parity(fn: Callable) -> None:
    for label, reference, candidate, atol in _parity_cases():
        shown = f"parity(...) for {label}"
        got = call(fn, reference, candidate, atol, name="parity")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed(f"{shown} returned {_short(got)}: return a pair `(max_abs_diff, passed)`.")
        diff, passed = got
        want_diff, want_passed = _parity_reference(reference, candidate, atol)
        if not isinstance(passed, (bool, np.bool_)):
            raise CheckFailed(f"{shown}: `passed` is a {type(passed).__name__}; return True or False.")
        try:
            diff = float(diff)
        except (TypeError, ValueError):
            raise CheckFailed(f"{shown}: max_abs_diff should be a number, got {type(diff).__name__}.") from None
        if not np.isclose(diff, want_diff, rtol=1e-6, atol=1e-12):
            signed = float(np.max(np.asarray(reference, float) - np.asarray(candidate, float)))
            signed_other = float(np.max(np.asarray(candidate, float) - np.asarray(reference, float)))
            mean = float(np.mean(np.abs(np.asarray(reference, float) - np.asarray(candidate, float))))
            reason = ""
            if np.isclose(diff, signed) or np.isclose(diff, signed_other):
                reason = " That is the largest *signed* difference: take np.abs before np.max."
            elif np.isclose(diff, mean):
                reason = " That is the mean difference: one bad value hides in a mean; use np.max."
            raise CheckFailed(f"{shown}: max_abs_diff is {diff:.3g}, expected {want_diff:.3g}.{reason}")
        if bool(passed) != want_passed:
            extra = ""
            if want_diff <= 0.01 * np.max(np.abs(reference)) and not want_passed:
                extra = (" A relative tolerance (np.allclose's rtol) scales with the values and "
                         "lets this through; compare with atol only.")
            raise CheckFailed(
                f"{shown}: passed is {bool(passed)}, but the largest difference {want_diff:.3g} is "
                f"{'within' if want_passed else 'above'} atol={atol:g}.{extra}"
            )

    reference = np.zeros((5, 10))
    for candidate in (np.zeros((5, 1)), np.zeros((10, 5))):
        got = _call_expecting(fn, ValueError, reference, candidate, 1e-5, label="parity")
        if not isinstance(got, ValueError):
            raise CheckFailed(
                f"parity(reference of shape (5, 10), candidate of shape {candidate.shape}) returned "
                f"{_short(got)}: outputs of different shapes can never match. Raise a ValueError "
                "(NumPy broadcasting hides the mismatch otherwise)."
            )

    with_nan = np.zeros((3, 4))
    with_nan[1, 2] = np.nan
    for bad, what in ((with_nan, "NaN"), (np.full((3, 4), np.inf), "infinity")):
        got = call(fn, np.zeros((3, 4)), bad, 1e-5, name="parity")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed(f"parity(...) with {what} returned {_short(got)}: return a pair.")
        if bool(got[1]):
            raise CheckFailed(
                f"parity(...) passed a candidate holding {what}: a broken export must fail. "
                "np.nanmax and `not diff > atol` both let NaN through; test np.isfinite."
            )
        if not (isinstance(got[0], (float, np.floating)) and math.isinf(float(got[0]))):
            raise CheckFailed(f"parity(...) with {what} should return max_abs_diff = float('inf'), got {_short(got[0])}.")


# --------------------------------------------------------------------------- 10.2
def _valid_payloads() -> list[dict]:
    return [
        {"readings": [[20.5, 1013.0, 0.45, 3.0]]},
        {"readings": [[0, 0, 0, 0], [-40.0, 950.25, 1, 12]]},   # integers are numbers too
        {"readings": [[float(i), 1.0, 2.0, 3.0] for i in range(32)]},
    ]


_ROW = [20.5, 1013.0, 0.45, 3.0]
_INVALID_PAYLOADS = [
    ({"readings": []}, "an empty batch", "Field(min_length=1, ...) on readings"),
    ({"readings": [_ROW] * 33}, "33 rows (the limit is 32)", "Field(max_length=32) on readings"),
    ({"readings": [_ROW[:3]]}, "a row of 3 readings", "exactly 4 numbers per row: min_length=4, max_length=4"),
    ({"readings": [_ROW + [1.0]]}, "a row of 5 readings", "exactly 4 numbers per row: min_length=4, max_length=4"),
    ({"readings": [["20.5", 1013.0, 0.45, 3.0]]}, 'the string "20.5"', "strict=True on the number type"),
    ({"readings": [[True, 1013.0, 0.45, 3.0]]}, "the boolean true", "strict=True on the number type"),
    ({"readings": [[None, 1013.0, 0.45, 3.0]]}, "null", "a float type that is not Optional"),
    ({"readings": [[float("nan"), 1013.0, 0.45, 3.0]]}, "NaN", "allow_inf_nan=False on the number type"),
    ({"readings": [[float("inf"), 1013.0, 0.45, 3.0]]}, "infinity", "allow_inf_nan=False on the number type"),
    ({"readings": [_ROW], "debug": True}, "an unknown extra field", 'model_config = ConfigDict(extra="forbid")'),
    ({"reading": [_ROW]}, "a misspelt field name", "a required field `readings` (no default)"),
    ({"readings": _ROW}, "a single row without the outer list", "a list of rows: list[Row]"),
]


@exercise(
    "10.2",
    "A strict request schema",
    hints=[
        'Build the types from the inside out with typing.Annotated and pydantic.Field: a reading, then a row of readings, then the list of rows. Each Field can carry the constraints.',
        "A reading is a float with strict=True (no strings, no booleans) and allow_inf_nan=False. A row is a list of readings whose min_length and max_length are both 4. The field `readings` is a list of rows with a length between 1 and 32. Forbid extra fields through the model's ConfigDict, and return the class, not an instance.",
    ],
)
def _check_request_model(fn: Callable) -> None:
    from pydantic import BaseModel, ValidationError

    model = call(fn, name="make_request_model")
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise CheckFailed(
            f"make_request_model() returned {_short(model)}: return the class itself "
            "(a subclass of pydantic.BaseModel), not an instance."
        )
    for payload in _valid_payloads():
        try:
            parsed = model.model_validate(copy.deepcopy(payload))
        except ValidationError as error:
            first = error.errors()[0]
            raise CheckFailed(
                f"a valid request with {len(payload['readings'])} row(s) was rejected: "
                f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        readings = getattr(parsed, "readings", None)
        if readings is None or np.asarray(readings, dtype=float).shape != (len(payload["readings"]), 4):
            raise CheckFailed("the validated request should have a field `readings` holding the rows.")
    for payload, what, fix in _INVALID_PAYLOADS:
        try:
            model.model_validate(copy.deepcopy(payload))
        except ValidationError:
            continue
        raise CheckFailed(f"the schema accepted a request with {what}; it should reject it. Use {fix}.")


# --------------------------------------------------------------------------- 10.3
def _reference_request_model():
    from typing import Annotated

    from pydantic import BaseModel, ConfigDict, Field

    Reading = Annotated[float, Field(strict=True, allow_inf_nan=False)]
    Row = Annotated[list[Reading], Field(min_length=4, max_length=4)]

    class SensorRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        readings: Annotated[list[Row], Field(min_length=1, max_length=32)]

    return SensorRequest


def _grader_predict_fn(calls: list) -> Callable:
    weights = np.array([0.5, -0.01, 2.0, 0.25], dtype=np.float32)

    def predict(X):
        calls.append(X)
        if not isinstance(X, np.ndarray):
            raise TypeError(f"predict_fn expects a NumPy array, got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != 4:
            raise ValueError(f"predict_fn expects shape (N, 4), got {X.shape}")
        return (X.astype(np.float32) @ weights + np.float32(10.0)).astype(np.float32)  # (N,) float32

    return predict


@exercise(
    "10.3",
    "A validating endpoint",
    hints=[
        "Declare the endpoint's parameter with the request model as its type: FastAPI then validates every request before your code runs. Inside, turn the rows into a float32 NumPy array for predict_fn and its result into plain Python floats.",
        "FastAPI's default answer to a validation error echoes the bad input back, and a NaN cannot be written as JSON: the error handler itself fails with a 500. Register your own with `@app.exception_handler(RequestValidationError)` that answers 422 with the messages from `error.errors()`, leaving out their 'input' entries.",
    ],
)
def _check_endpoint(fn: Callable) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    calls: list = []
    predict_fn = _grader_predict_fn(calls)
    app = call(fn, predict_fn, _reference_request_model(), name="make_app")
    if not isinstance(app, FastAPI):
        raise CheckFailed(f"make_app returned {_short(app)}: return the FastAPI application.")
    with TestClient(app, raise_server_exceptions=False) as client:
        health = client.get("/health")
        if health.status_code != 200:
            raise CheckFailed(f"GET /health answered {health.status_code}; add @app.get('/health').")
        if health.json() != {"status": "ok"}:
            raise CheckFailed(f"GET /health answered {_short(health.json())}; expected {{'status': 'ok'}}.")

        rows = [[20.5, 1013.0, 0.45, 3.0], [-4.0, 990.0, 0.9, 1.0], [0, 0, 0, 0]]
        response = client.post("/predict", json={"readings": rows})
        if response.status_code == 500:
            raise CheckFailed(
                "POST /predict with a valid request answered 500. If predict_fn's result is returned "
                "as it is, FastAPI cannot encode NumPy numbers: convert with [float(v) for v in y]. "
                "predict_fn also needs a NumPy array of shape (N, 4), not the list of rows."
            )
        if response.status_code != 200:
            raise CheckFailed(f"POST /predict with a valid request answered {response.status_code}: {response.text[:200]}")
        body = response.json()
        if not isinstance(body, dict) or "predictions" not in body:
            raise CheckFailed(f"POST /predict answered {_short(body)}; expected {{'predictions': [...]}}.")
        expected = _grader_predict_fn([])(np.asarray(rows, dtype=np.float32)).astype(np.float64)
        expect_array(np.asarray(body["predictions"], dtype=np.float64), expected,
                     name="the predictions for three valid rows", rtol=1e-5, atol=1e-5)

        bad_requests = [
            ({"readings": [[float("nan"), 1.0, 2.0, 3.0]]}, "a NaN reading"),
            ({"readings": [["20.5", 1.0, 2.0, 3.0]]}, "a string reading"),
            ({"readings": [[1.0, 2.0, 3.0]]}, "a row of 3 readings"),
            ({"readings": []}, "an empty batch"),
            ({"rows": [[1.0, 2.0, 3.0, 4.0]]}, "a misspelt field"),
        ]
        for payload, what in bad_requests:
            before = len(calls)
            if what == "a NaN reading":  # JSON has no NaN; send what Python's json module writes
                import json

                response = client.post("/predict", content=json.dumps(payload),
                                       headers={"content-type": "application/json"})
            else:
                response = client.post("/predict", json=payload)
            if len(calls) != before:
                raise CheckFailed(
                    f"a request with {what} reached predict_fn: type the body parameter with the "
                    "request model, so that FastAPI validates it before your code runs."
                )
            if response.status_code >= 500:
                extra = ""
                if what == "a NaN reading":
                    extra = (" FastAPI's default validation answer echoes the input, and NaN cannot be "
                             "written as JSON: register your own RequestValidationError handler that "
                             "leaves the input out.")
                raise CheckFailed(f"a request with {what} crashed the endpoint (status {response.status_code}).{extra}")
            if response.status_code != 422:
                raise CheckFailed(f"a request with {what} answered {response.status_code}; expected 422.")
            try:
                detail = response.json()["detail"]
            except (ValueError, KeyError, TypeError):
                raise CheckFailed(f"the 422 answer to {what} should be JSON with a 'detail' entry.") from None
            if not detail:
                raise CheckFailed(f"the 422 answer to {what} should say what is wrong in 'detail'.")


# --------------------------------------------------------------------------- 10.4
def _small_torch_model():
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(105)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


@exercise(
    "10.4",
    "ONNX export with a dynamic batch",
    hints=[
        'torch.onnx.export(model, (example,), path, ...) needs an example input of the right shape, here (2, 4); the names and the dynamic batch dimension are extra arguments.',
        "Name the input 'x' and the output 'y' (input_names, output_names), keep the weights inside the one file (external_data=False), and declare dimension 0 of the input dynamic with a torch.export.Dim in dynamic_shapes. Without it, the exported model only accepts the example's batch size. Put the model in eval mode first, and return the path you were given.",
    ],
)
def _check_onnx_export(fn: Callable) -> None:
    import onnx
    import onnxruntime as ort
    import torch

    model = _small_torch_model()
    with tempfile.TemporaryDirectory(prefix="dlcourse-10-5-") as folder:
        path = Path(folder) / "sensor_model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            returned = call(fn, model, path, name="export_onnx", allow_mutation=True)
        if returned is None:
            raise CheckFailed("export_onnx returned None: `return path` at the end.")
        if Path(returned) != path:
            raise CheckFailed(f"export_onnx returned {_short(returned)}, not the path it was given.")
        if not path.is_file():
            raise CheckFailed(f"export_onnx did not write a file at the path it was given ({path.name}).")
        others = sorted(p.name for p in Path(folder).iterdir() if p != path)
        if others:
            raise CheckFailed(
                f"export_onnx wrote {others} next to {path.name}: the weights went to a separate file "
                "(external data). Keep the model in one file with external_data=False; a service that "
                "copies only the .onnx file would fail to load it."
            )
        onnx_model = onnx.load(str(path))
        try:
            onnx.checker.check_model(onnx_model, full_check=True)
        except Exception as error:
            raise CheckFailed(f"the exported file fails the ONNX checker: {' '.join(str(error).split())[:150]}") from None
        inputs = [i.name for i in onnx_model.graph.input]
        outputs = [o.name for o in onnx_model.graph.output]
        if inputs != ["x"] or outputs != ["y"]:
            raise CheckFailed(
                f"the model's inputs are {inputs} and outputs {outputs}; name them ['x'] and ['y'] "
                "with input_names and output_names."
            )
        batch_dim = onnx_model.graph.input[0].type.tensor_type.shape.dim[0]
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(5)
        for batch in (1, 7, 64):
            x = rng.normal(0, 1, size=(batch, 4)).astype(np.float32)
            try:
                (got,) = session.run(None, {"x": x})
            except Exception as error:
                fixed = f" (the file fixes it to {batch_dim.dim_value})" if batch_dim.dim_value else ""
                raise CheckFailed(
                    f"ONNX Runtime rejected a batch of {batch}{fixed}: declare the batch dimension "
                    f"dynamic when exporting. ({' '.join(str(error).split())[:100]})"
                ) from None
            with torch.no_grad():
                want = model(torch.from_numpy(x)).numpy()
            diff = float(np.max(np.abs(got - want)))
            if got.shape != want.shape or diff > 1e-5:
                raise CheckFailed(
                    f"for a batch of {batch}, ONNX Runtime's outputs differ from PyTorch's by {diff:.3g} "
                    "(parity needs <= 1e-5): export the model you were given, in eval mode."
                )


# --------------------------------------------------------------------------- 10.5
def _tradeoff_reference(weights, X, y, bits_list) -> dict[int, dict[str, float]]:
    table = {}
    for bits in bits_list:
        levels = 2 ** (bits - 1) - 1
        h = np.asarray(X, dtype=np.float64)
        size = 0
        for k, (W, b) in enumerate(weights):
            W = np.asarray(W, dtype=np.float64)
            peak = np.abs(W).max()
            scale = peak / levels if peak > 0 else 1.0
            W_hat = np.clip(np.round(W / scale), -levels, levels) * scale
            h = h @ W_hat + np.asarray(b, dtype=np.float64)
            if k < len(weights) - 1:
                h = np.maximum(h, 0.0)
            size += math.ceil(W.size * bits / 8) + 4 + 4 * np.asarray(b).size
        table[bits] = {"size_bytes": int(size), "accuracy": float(np.mean(h.argmax(axis=1) == y))}
    return table


def _tradeoff_problem():
    rng = np.random.default_rng(107)
    W1 = rng.normal(0, 0.4, size=(12, 24))
    b1 = rng.normal(0, 0.1, size=24)
    W2 = rng.normal(0, 0.4, size=(24, 5))
    b2 = rng.normal(0, 0.1, size=5)
    weights = [(W1.astype(np.float32), b1.astype(np.float32)), (W2.astype(np.float32), b2.astype(np.float32))]
    X = rng.normal(0, 1, size=(400, 12)).astype(np.float32)
    h = np.maximum(X @ W1 + b1, 0) @ W2 + b2
    y = h.argmax(axis=1)   # labels from the float model: its accuracy is 1.0
    return weights, X, y


def _tradeoff_cases() -> list[tuple[str, tuple, list]]:
    """The small MLP of the exercise, plus two layers that test the edges of the recipe."""
    rng = _FRESH
    # one layer whose weights are all below 1 in size, and 15 weights: 3 bits pack into 45 bits = 6 bytes
    W = rng.uniform(-0.6, 0.6, size=(3, 5))
    X = rng.normal(0, 1, size=(60, 3))
    small = ([(W.astype(np.float32), np.zeros(5, np.float32))], X.astype(np.float32), (X @ W).argmax(axis=1))
    # a last layer of zeros: nothing to scale (s = 1); the bias alone picks class 2
    W1 = rng.normal(0, 0.5, size=(4, 6))
    X0 = rng.normal(0, 1, size=(40, 4)).astype(np.float32)
    y0 = np.array([2] * 20 + [0] * 8 + [1] * 12)
    zeros = ([(W1.astype(np.float32), np.zeros(6, np.float32)),
              (np.zeros((6, 3), np.float32), np.array([0.0, -0.5, 1.0], np.float32))], X0, y0)
    return [("a network of 12 inputs, 24 hidden units and 5 classes on 400 examples", _tradeoff_problem(), [8, 4, 3, 2]),
            ("one layer of 3 x 5 weights, all smaller than 1", small, [8, 3]),
            ("a network whose last weight matrix is all zeros", zeros, [8, 2])]


@exercise(
    "10.5",
    "The quantisation trade-off, measured",
    hints=[
        'For each number of bits, quantise every weight matrix (not the biases), turn it back into floats (q * scale), run the network with those weights and count correct argmaxes. With b bits the symmetric integers run from -(2**(b-1) - 1) to 2**(b-1) - 1.',
        'One scale per matrix: its largest absolute weight divided by the number of levels; round, clip to the levels, multiply back. ReLU after every layer except the last. Size in bytes: the integers take W.size * bits / 8 rounded up, plus 4 bytes for the scale and 4 per float32 bias, summed over the layers.',
    ],
)
def _check_tradeoff(fn: Callable) -> None:
    for label, (weights, X, y), bits_list in _tradeoff_cases():
        _check_one_tradeoff(fn, label, weights, X, y, bits_list)


def _check_one_tradeoff(fn: Callable, label: str, weights: list, X: np.ndarray, y: np.ndarray,
                        bits_list: list) -> None:
    got = call(fn, weights, X, y, bits_list, name="quantization_tradeoff")
    want = _tradeoff_reference(weights, X, y, bits_list)
    if not isinstance(got, dict):
        raise CheckFailed(f"quantization_tradeoff returned {_short(got)}: return a dict keyed by bits.")
    if sorted(got) != sorted(bits_list):
        raise CheckFailed(f"for {label}: the table's keys are {sorted(got)}; expected one entry per bits value {bits_list}.")
    for bits in bits_list:
        row = got[bits]
        if not isinstance(row, dict) or set(row) != {"size_bytes", "accuracy"}:
            raise CheckFailed(f"for {label}: table[{bits}] is {_short(row)}; expected {{'size_bytes': ..., 'accuracy': ...}}.")
        size, expected_size = row["size_bytes"], want[bits]["size_bytes"]
        if size != expected_size:
            weights_only = sum(math.ceil(np.asarray(W).size * bits / 8) for W, _ in weights)
            reason = ""
            extras = sum(4 + 4 * np.asarray(b).size for _, b in weights)
            if size in (weights_only * 8, sum(np.asarray(W).size * bits for W, _ in weights) + extras):
                reason = " That counts bits, not bytes: divide by 8."
            elif size == weights_only:
                reason = " Add 4 bytes per scale and 4 bytes per float32 bias."
            raise CheckFailed(f"for {label}: table[{bits}]['size_bytes'] is {size}, expected {expected_size}.{reason}")
        accuracy = float(row["accuracy"])
        if not np.isclose(accuracy, want[bits]["accuracy"], atol=1e-9):
            raise CheckFailed(
                f"for {label}: table[{bits}]['accuracy'] is {accuracy:.4f}, expected {want[bits]['accuracy']:.4f}. "
                "Check the number of levels (2**(bits-1) - 1 on each side), that the integers are "
                "multiplied back by the scale, that biases stay in float, the ReLU between layers, and a scale of 1 for a matrix of zeros."
            )


# --------------------------------------------------------------------------- 10.6
def _label_psi_reference(reference, live, num_classes: int, floor: float = 1e-4) -> float:
    q = np.bincount(np.asarray(reference), minlength=num_classes) / len(reference)
    p = np.bincount(np.asarray(live), minlength=num_classes) / len(live)
    q, p = np.maximum(q, floor), np.maximum(p, floor)
    return float(np.sum((p - q) * np.log(p / q)))


def _label_psi_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    reference = rng.integers(0, 10, size=int(rng.integers(800, 1200)))
    shifted_p = np.array([0.2] + [0.8 / 9] * 9)
    return [
        ("the same labels", reference, reference.copy(), 10),
        ("live labels drawn like the reference", reference, rng.integers(0, 10, size=500), 10),
        ("live labels with many more 0s", reference, rng.choice(10, size=600, p=shifted_p), 10),
        ("live labels in which class 9 never appears", reference, rng.integers(0, 9, size=400), 10),
        ("live labels in which class 4 never appears", reference,
         rng.choice([0, 1, 2, 3, 5, 6, 7, 8, 9], size=400), 10),
        ("3 classes, live all class 1", rng.integers(0, 3, size=300), np.ones(50, dtype=int), 3),
    ]


@exercise(
    "10.6",
    "Drift in what the model predicts: PSI of the label distribution",
    hints=[
        'Turn each list of labels into class shares: count each class (np.bincount with minlength=num_classes) and divide by the number of labels. Then floor both share vectors at 1e-4 so a class that never appears does not make the logarithm infinite.',
        'PSI = sum over classes of (p - q) * ln(p / q), with p the live shares and q the reference shares. minlength matters: without it, a class missing at the end gives a shorter vector.',
    ],
    kind="transfer",
)
def _check_label_psi(fn: Callable) -> None:
    rng = _FRESH
    for label, reference, live, num_classes in _label_psi_cases(rng):
        shown = f"label_psi(reference, live, num_classes={num_classes}) for {label}"
        got = call(fn, reference, live, num_classes, name="label_psi")
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"{shown} returned {_short(got)}: return one number.") from None
        want = _label_psi_reference(reference, live, num_classes)
        if not np.isfinite(got):
            raise CheckFailed(
                f"{shown} is {got}. A class with no labels has share 0, and ln(0) is -inf: floor "
                "both share vectors at 1e-4 before taking the logarithm.")
        q = np.bincount(reference, minlength=num_classes) / len(reference)
        p = np.bincount(live, minlength=num_classes) / len(live)
        qf, pf = np.maximum(q, 1e-4), np.maximum(p, 1e-4)
        counts_q = np.maximum(np.bincount(reference, minlength=num_classes), 1e-4)
        counts_p = np.maximum(np.bincount(live, minlength=num_classes), 1e-4)
        diagnose(got, want, [
            (float(np.sum(pf * np.log(pf / qf))),
             "that is the KL divergence sum p ln(p/q); PSI weighs each log ratio by (p - q), which "
             "makes it symmetric in the two distributions"),
            (float(np.sum((counts_p - counts_q) * np.log(counts_p / counts_q))),
             "that uses counts; PSI compares fractions, not counts: divide each bincount by the "
             "number of labels"),
            (float(np.sum((pf - qf) * np.log(pf / qf)) * 100),
             "that is 100 times too large: use fractions between 0 and 1, not percentages"),
        ], name=shown, rtol=1e-6, atol=1e-9)
        if not np.isclose(got, want, rtol=1e-6, atol=1e-9):
            raise CheckFailed(f"{shown} is {got:.6g}, expected {want:.6g}. Check the class shares "
                              "(bincount with minlength=num_classes, divided by the length) and the "
                              "1e-4 floor.")


# --------------------------------------------------------------------------- 10.7
def _plan_reference(arrivals, sizes, max_wait_ms, max_images) -> list[list[int]]:
    batches: list[list[int]] = []
    opened, count = None, 0
    for j, (t, n) in enumerate(zip(arrivals, sizes)):
        if batches and t <= opened + max_wait_ms and count + n <= max_images:
            batches[-1].append(j)
            count += n
        else:
            batches.append([j])
            opened, count = t, n
    return batches


def _plan_variant(arrivals, sizes, max_wait_ms, max_images, *, strict=False, sliding=False,
                  overflow=False, requests=False) -> list[list[int]]:
    batches: list[list[int]] = []
    opened = count = 0
    for j, (t, n) in enumerate(zip(arrivals, sizes)):
        n = 1 if requests else n
        start = arrivals[batches[-1][-1]] if (batches and sliding) else opened
        in_time = (t < start + max_wait_ms) if strict else (t <= start + max_wait_ms)
        fits = count < max_images if overflow else count + n <= max_images
        if batches and in_time and fits:
            batches[-1].append(j)
            count += n
        else:
            batches.append([j])
            opened, count = t, n
    return batches


def _plan_cases(rng: np.random.Generator) -> list[tuple[str, list, list, float, int]]:
    cases = [
        ("one request", [0.0], [3], 2.0, 8),
        ("a request arriving exactly max_wait_ms after the first", [0.0, 1.0, 2.0, 2.5], [1, 1, 1, 1], 2.0, 64),
        ("a steady stream, 1.5 ms apart", [0.0, 1.5, 3.0, 4.5, 6.0, 7.5], [1] * 6, 2.0, 64),
        ("requests that would overflow the batch", [0.0, 0.1, 0.2, 0.3, 0.4], [3, 3, 3, 1, 2], 5.0, 8),
        ("a request larger than max_images", [0.0, 0.5, 1.0], [2, 12, 1], 5.0, 8),
        ("two bursts with a gap", [0.0, 0.2, 0.4, 10.0, 10.1], [1, 2, 1, 1, 1], 2.0, 64),
    ]
    for k in range(3):
        arrivals = np.round(np.cumsum(rng.exponential(0.8, size=25)), 1).tolist()
        sizes = rng.integers(1, 6, size=25).tolist()
        cases.append((f"random traffic #{k + 1} (25 requests)", arrivals, sizes, 2.0, 10))
    return cases


@exercise(
    "10.7",
    "The batch plan of a micro-batcher",
    hints=[
        "Walk through the requests in arrival order, keeping the open batch's opening time (the arrival of its first request) and its number of images. A request joins if it arrives no later than opening + max_wait_ms AND its images still fit; otherwise it opens a new batch.",
        "The wait counts from the batch's *first* request, not from the previous one; 'no later' means <=; and the images of the batch plus the new request's must stay within max_images, so a batch never holds more than max_images (except a single request that is larger on its own). A new batch resets both the opening time and the count.",
    ],
    kind="transfer",
)
def _check_plan(fn: Callable) -> None:
    rng = _FRESH
    for label, arrivals, sizes, wait, max_images in _plan_cases(rng):
        shown = f"plan_batches(arrivals, sizes, max_wait_ms={wait}, max_images={max_images}) for {label}"
        got = call(fn, arrivals, sizes, wait, max_images, name="plan_batches")
        want = _plan_reference(arrivals, sizes, wait, max_images)
        try:
            got = [[int(i) for i in batch] for batch in got]
        except TypeError:
            raise CheckFailed(f"{shown} returned {_short(got)}: return a list of lists of request indices.") from None
        if got == want:
            continue
        flat = sorted(i for batch in got for i in batch)
        if flat != list(range(len(arrivals))):
            raise CheckFailed(f"{shown} is {got}: every request must be in exactly one batch "
                              f"(indices 0 to {len(arrivals) - 1}, each once).")
        bugs = [
            (dict(strict=True), "a request that arrives exactly max_wait_ms after the batch opened "
                                "still joins it: compare with <=, not <"),
            (dict(sliding=True), "the wait counts from the batch's first request, not from the previous "
                                 "request; otherwise a steady stream keeps one batch open forever"),
            (dict(overflow=True), "the batch now holds more than max_images images: check "
                                  "count + sizes[j] <= max_images before adding a request"),
            (dict(requests=True), "that counts requests, but max_images limits images: add sizes[j], not 1"),
        ]
        for flags, explanation in bugs:
            if got == _plan_variant(arrivals, sizes, wait, max_images, **flags) != want:
                raise CheckFailed(f"{shown} is {got}, expected {want}: {explanation}.")
        raise CheckFailed(f"{shown} is {got}, expected {want}.")


# --------------------------------------------------------------------------- 10.8
def _png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _declared_png(width: int, height: int, colour_type: int = 2) -> bytes:
    """A small PNG whose header declares width x height RGB pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
            + chunk(b"IEND", b""))


def _padded_png(png: bytes, total: int) -> bytes:
    """The PNG ``png`` with a tEXt comment chunk after its header, padding it to ``total`` bytes."""
    import struct
    import zlib

    fill = total - len(png) - 12 - len(b"Comment\x00")
    data = b"Comment\x00" + b"x" * fill
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    header_end = 8 + 25                          # the signature, then the IHDR chunk
    padded = png[:header_end] + chunk + png[header_end:]
    assert len(padded) == total
    return padded


def _png_cases(rng: np.random.Generator) -> list[tuple[str, bytes, int, np.ndarray | None]]:
    good = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    flat = np.full((32, 32, 3), int(rng.integers(0, 256)), dtype=np.uint8)
    good_png = _png(good)
    return [
        ("a valid 32 x 32 RGB PNG", good_png, 200, good),
        ("a valid single-colour 32 x 32 RGB PNG", _png(flat), 200, flat),
        ("text, not an image", b"GIF89a? no: just text", 415, None),
        ("a JPEG", _png(good, "JPEG"), 415, None),
        ("a 100 x 100 noise PNG (over 20,000 bytes)", _png(rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)), 413, None),
        ("a 3 kB file declaring 3000 x 3000 pixels", _declared_png(3000, 3000), 413, None),
        ("a file declaring 40000 x 40000 pixels", _declared_png(40_000, 40_000), 413, None),
        ("a 32 x 24 RGB PNG", _png(good[:24]), 422, None),
        ("a 32 x 32 RGBA PNG", _png(np.dstack([good, np.full((32, 32), 255, np.uint8)])), 422, None),
        ("a 32 x 32 grey-scale PNG", _png(good[..., 0]), 422, None),
        ("a truncated PNG", good_png[: len(good_png) // 2], 400, None),
        ("a valid 32 x 32 RGB PNG of exactly 20,000 bytes (a comment chunk pads it)", _padded_png(good_png, 20_000),
         200, good),
        ("a valid 32 x 32 RGB PNG of 20,001 bytes", _padded_png(good_png, 20_001), 413, None),
        ("a file declaring exactly 1000 x 1000 pixels (not over the limit, but not 32 x 32)",
         _declared_png(1000, 1000), 422, None),
        ("a file declaring 1,000,001 pixels (1 x 1000001)", _declared_png(1, 1_000_001), 413, None),
    ]


@exercise(
    "10.8",
    "Validate an uploaded colour PNG before decoding it",
    hints=[
        "Check from the cheapest to the most expensive: the number of bytes (413), the PNG signature b'\\x89PNG\\r\\n\\x1a\\n' (415), then PIL.Image.open, which reads only the header: the declared width x height (413 above 1,000,000 pixels), the size (422), the mode (422). Only then decode the pixels, inside try/except OSError (400).",
        "Image.open itself raises PIL.Image.DecompressionBombError for enormous images: catch it and answer 413. Never convert the mode ('RGBA' -> 'RGB'): the task is to reject, not repair. The limits are inclusive: exactly 20,000 bytes or exactly 1,000,000 pixels still pass the size checks.",
    ],
    kind="transfer",
)
def _check_png(fn: Callable) -> None:
    rng = _FRESH
    for label, data, status, pixels in _png_cases(rng):
        shown = f"validate_rgb_png(data) for {label}"
        got = call(fn, data, name="validate_rgb_png")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed(f"{shown} returned {_short(got)}: return a pair (status, pixels or message).")
        got_status, payload = got
        if got_status != status:
            why = {
                413: ("a 413: check len(data) against max_bytes first" if ("noise" in label or "bytes" in label) else
                      "a 413: compare the declared width x height with 1,000,000 before decoding "
                      "(and catch PIL.Image.DecompressionBombError)"),
                415: "a 415: check the PNG signature (the first 8 bytes) before anything else",
                422: ("a 422: exactly 1,000,000 pixels is not over the limit, but the size must be (32, 32)"
                      if "exactly 1000" in label else
                      "a 422: the size must be exactly (32, 32)" if "x 24" in label else
                      "a 422: the mode must be 'RGB'; do not convert other modes, reject them"),
                400: "a 400: load the pixels inside try/except OSError and answer 400 for damaged data",
                200: ("a 200 with the pixels: a file of exactly max_bytes is not over the limit (>, not >=)"
                      if "exactly 20,000" in label else "a 200 with the pixels"),
            }[status]
            raise CheckFailed(f"{shown} answered {got_status}; expected {why}.")
        if status == 200:
            array = np.asarray(payload)
            if array.dtype != np.uint8 or array.shape != (32, 32, 3):
                raise CheckFailed(f"{shown}: the pixels have dtype {array.dtype} and shape {array.shape}; "
                                  "return np.uint8 of shape (height, width, 3) = (32, 32, 3).")
            if not np.array_equal(array, pixels):
                raise CheckFailed(f"{shown}: the pixels differ from the image's.")
        elif not isinstance(payload, str) or not payload.strip():
            raise CheckFailed(f"{shown}: with status {status}, return a short message saying what is wrong.")


# --------------------------------------------------------------------------- 10.9
#: What one call of train_edge_classifier may spend: two passes over the 50,000 training
#: images, a model that fits in 15,000 numbers (60 kB of float32: a microcontroller's flash),
#: and three minutes (the reference needs about 8 s on one core).
_EDGE_BUDGET = Budget(examples=100_000, parameters=15_000, seconds=180)
#: Test accuracy to reach; the reference reaches 0.974-0.977 (three seeds), an MLP that fits the
#: budget about 0.93.
_EDGE_TARGET = 0.96


def _mnist_splits():
    from .. import data as datasets

    return datasets.load_mnist(progress=False)


@provides_data("10.9")
def _edge_data() -> tuple[TrainingData, tuple[np.ndarray, np.ndarray]]:
    """50,000 MNIST training images (raw 0-255 pixels, (28, 28)) and 10,000 more to validate on."""
    (X_train, y_train), _ = _mnist_splits()
    (X_part, y_part), (X_val, y_val) = validation_split(X_train, y_train, 1 / 6, seed=10)
    return TrainingData(X_part, y_part, budget=_EDGE_BUDGET, name="the digit images"), (X_val, y_val)


def _edge_logits(model: Any, X: np.ndarray, *, name: str) -> np.ndarray:
    """The model's outputs for raw images X (N, 28, 28), in batches, as NumPy (N, 10)."""
    import torch

    if hasattr(model, "eval"):
        model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(X), 1000):
            batch = torch.as_tensor(X[start:start + 1000], dtype=torch.float32)
            try:
                out = model(batch)
            except Exception as error:  # the learner's model failed on raw images
                raise CheckFailed(
                    f"the model {name} returned failed on a batch of raw test images, float32 of shape "
                    f"{tuple(batch.shape)} with values 0-255: {type(error).__name__}: {error}",
                    advice="The service hands the model raw pixels: put the scaling (and any reshaping "
                           "to channels) inside the model's forward, not only in your training loop.",
                ) from None
            out = as_numpy(out, name=f"the output of the model {name} returned")
            if np.shape(out) != (len(batch), 10):
                raise CheckFailed(
                    f"the model {name} returned maps a batch of shape {tuple(batch.shape)} to shape "
                    f"{np.shape(out)}; it must give one score per digit, shape ({len(batch)}, 10).")
            outputs.append(np.asarray(out, dtype=np.float64))
    return np.concatenate(outputs)


@exercise(
    "10.9",
    "A digit classifier small enough for a microcontroller",
    hints=[
        "Fifteen thousand numbers rule out a wide dense layer on 784 pixels: even 784 -> 18 -> 10 "
        "is about 14,000, and it stays near 93 %. Convolutions share their weights across the "
        "image, so they buy far more accuracy per stored number.",
        "Two small convolutions with stride 2 (a handful of channels each) shrink 28 x 28 to 7 x 7 "
        "before one dense layer to the 10 digits; count the parameters before training. Spend the "
        "two passes with Adam and a learning rate a little above its default, in batches of about "
        "a hundred, and do the division by 255 inside forward.",
    ],
    kind="challenge",
)
def _check_edge_classifier(fn: Callable) -> None:
    data, _ = _edge_data()
    with one_torch_thread():   # small convolutions: one thread is fastest, and fair on a busy machine
        model, report = run_challenge(fn, data, _EDGE_BUDGET, name="train_edge_classifier")
    _, (X_test, y_test) = _mnist_splits()
    logits = _edge_logits(model, X_test, name="train_edge_classifier")
    if not np.all(np.isfinite(logits)):
        raise CheckFailed("the model's scores on the test images hold NaN or infinity: the training "
                          "diverged. Lower the learning rate.")
    accuracy = float(np.mean(logits.argmax(axis=1) == y_test))
    if accuracy < _EDGE_TARGET:
        raise CheckFailed(
            f"the model reaches a test accuracy of {accuracy:.4f} on the 10,000 test images it never saw; "
            f"the target is {_EDGE_TARGET:.2f} ({report}).",
            advice="Measure on the validation split while you work. Within the budget, weight sharing "
                   "(convolutions) is what buys accuracy; check that the model scales raw pixels itself.",
        )
