"""Graders for chapter 9, transformers (exercises 9.1-9.6).

The chapter's conventions, which the graders share: a boolean attention mask is
``True`` where a query **may** attend to a key (the opposite of
``nn.MultiheadAttention``'s masks); attention weights are a softmax over the keys
(the last axis); sinusoidal encodings put sines in the even columns and cosines in
the odd ones, with frequencies ``10000 ** (-2i / d_model)``; patches are taken in
row-major order (left to right, then top to bottom) and flattened row by row.

Learner code is PyTorch; answers may be tensors or NumPy arrays. References are
computed here, on fixed inputs, so every check is deterministic.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .core import CheckFailed, as_numpy, call, diagnose, exercise, expect_array, expect_tuple

_RTOL, _ATOL = 1e-5, 1e-5   # learner code runs in float32


# --------------------------------------------------------------------------- helpers
def _t(array: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(array), dtype=torch.float32)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None,
               scale: float | None = None, softmax_axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / (math.sqrt(d_k) if scale is None else scale)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = _softmax(scores, axis=softmax_axis)
    return weights @ v, weights


# --------------------------------------------------------------------------- 9.1
@exercise(
    "9.1",
    "Attention as a soft lookup",
    hints=[
        "Three steps: score every key against the query, turn the scores into weights that are "
        "positive and sum to 1, and return the weighted average of the values.",
        "The scores are the dot products keys @ query, shape (n,). torch.softmax(scores, dim=0) "
        "gives the weights (it is safe for large scores, unlike exp(x) / exp(x).sum()). Then "
        "weights @ values has shape (d_v,).",
        "weights = torch.softmax(keys @ query, dim=0); return weights @ values",
    ],
)
def _check_soft_lookup(fn: Callable) -> None:
    rng = np.random.default_rng(91)
    cases = [
        ("3 keys in 2-D", np.array([0.2, 1.5]), np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]),
         np.array([[10.0], [20.0], [30.0]])),
        ("5 random keys in 4-D", rng.normal(size=4), rng.normal(size=(5, 4)), rng.normal(size=(5, 3))),
        ("a query with very large scores", np.array([40.0, 0.0]), np.array([[30.0, 0.0], [25.0, 1.0]]),
         np.array([[1.0, -1.0], [2.0, 5.0]])),
    ]
    for label, query, keys, values in cases:
        shown = f"soft_lookup(query, keys, values) for {label}"
        got = as_numpy(call(fn, _t(query), _t(keys), _t(values), name="soft_lookup"), name=shown)
        scores = keys @ query
        weights = _softmax(scores)
        expected = weights @ values
        if isinstance(got, np.ndarray) and got.dtype.kind == "f" and not np.all(np.isfinite(got)):
            raise CheckFailed(f"the answer from {shown} contains NaN or infinity: exp of a large score "
                              "overflows. Use torch.softmax, which subtracts the largest score first.")
        bugs = [
            (scores @ values, "it uses the raw scores as weights; turn them into a softmax first."),
            (values[np.argmax(scores)], "it is a hard lookup (the best key's value only); the soft "
                                         "lookup averages all values with softmax weights."),
            (scores / scores.sum() @ values, "it divides the scores by their sum; the weights are a "
                                             "softmax, which is positive even for negative scores."),
            (weights, "it returns the weights; return the weighted average of the values."),
            (_softmax(scores / math.sqrt(len(query))) @ values,
             "it divides the scores by sqrt(d); this exercise's lookup is softmax(keys @ query), "
             "unscaled, as in the chapter's first example."),
        ]
        diagnose(got, expected, bugs, name=f"the answer from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_array(got, expected, name=f"the answer from {shown}", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 9.2
@exercise(
    "9.2",
    "A causal mask",
    hints=[
        "Row i of the mask belongs to query position i, column j to key position j. A causal model "
        "may look at itself and at the past, so entry (i, j) is True exactly when j <= i.",
        "That is a lower-triangular matrix including the diagonal. torch.tril keeps the lower "
        "triangle of a matrix; start from torch.ones(T, T, dtype=torch.bool).",
        "return torch.tril(torch.ones(T, T, dtype=torch.bool))",
    ],
)
def _check_causal_mask(fn: Callable) -> None:
    for T in (4, 1, 7):
        shown = f"causal_mask({T})"
        got = call(fn, T, name="causal_mask")
        if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
            raise CheckFailed(f"{shown} has dtype {got.dtype}; return a boolean mask (dtype=torch.bool), "
                              "so that `~mask` and masked_fill work with it.")
        got = as_numpy(got, name=shown)
        expected = np.tril(np.ones((T, T), dtype=bool))
        if not isinstance(got, np.ndarray):
            raise CheckFailed(f"{shown} should return a boolean tensor of shape ({T}, {T}), got "
                              f"{type(got).__name__}.")
        if got.dtype != bool:
            raise CheckFailed(f"{shown} has dtype {got.dtype}; return a boolean mask (dtype=torch.bool).")
        if got.shape != expected.shape:
            raise CheckFailed(f"{shown} has shape {got.shape}, expected ({T}, {T}).")
        if T > 1 and np.array_equal(got, expected.T):
            raise CheckFailed(f"{shown} lets every position see the FUTURE (upper triangle): row i is "
                              "query i, and it may attend to keys j <= i. Use torch.tril.")
        if np.array_equal(got, np.tril(np.ones((T, T), dtype=bool), k=-1)):
            raise CheckFailed(f"{shown} leaves out the diagonal: a position may attend to itself, and "
                              "without it the first row is all False, which makes the softmax NaN.")
        if np.array_equal(got, ~expected):
            raise CheckFailed(f"{shown} is inverted: in this book True means 'may attend' (PyTorch's "
                              "nn.MultiheadAttention uses the opposite convention).")
        if not np.array_equal(got, expected):
            wrong = int(np.sum(got != expected))
            raise CheckFailed(f"{shown} differs from the causal mask in {wrong} entries: entry (i, j) "
                              "must be True exactly when j <= i.")


# --------------------------------------------------------------------------- 9.3
def _encoding(num_positions: int, d_model: int) -> np.ndarray:
    position = np.arange(num_positions)[:, None]
    frequency = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)
    out = np.zeros((num_positions, d_model))
    out[:, 0::2] = np.sin(position * frequency)
    out[:, 1::2] = np.cos(position * frequency)
    return out


@exercise(
    "9.3",
    "Sinusoidal positional encoding",
    hints=[
        "Build one frequency per pair of columns, w_i = 10000 ** (-2i / d_model) for i = 0 .. "
        "d_model/2 - 1, multiply the positions 0 .. P-1 by every frequency, and take sin and cos.",
        "position = torch.arange(P)[:, None] (shape (P, 1)) and frequency = 10000 ** "
        "(-torch.arange(0, d_model, 2) / d_model) (shape (d_model/2,)) broadcast to the (P, d_model/2) "
        "angles. Put sin(angles) in the even columns [:, 0::2] and cos(angles) in the odd ones [:, 1::2].",
        "pe = torch.zeros(P, d_model); angles = torch.arange(P)[:, None] * 10000 ** "
        "(-torch.arange(0, d_model, 2) / d_model); pe[:, 0::2] = torch.sin(angles); "
        "pe[:, 1::2] = torch.cos(angles); return pe",
    ],
)
def _check_positional_encoding(fn: Callable) -> None:
    for num_positions, d_model in ((10, 8), (50, 16), (3, 2)):
        shown = f"positional_encoding({num_positions}, {d_model})"
        got = as_numpy(call(fn, num_positions, d_model, name="positional_encoding"), name=shown)
        expected = _encoding(num_positions, d_model)
        position = np.arange(num_positions)[:, None]
        half = d_model // 2
        frequency = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)
        angles = position * frequency
        concatenated = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
        swapped = np.zeros_like(expected)
        swapped[:, 0::2], swapped[:, 1::2] = np.cos(angles), np.sin(angles)
        wrong_exponent = np.zeros_like(expected)
        slow = position * 10000.0 ** (-np.arange(half) / d_model)
        wrong_exponent[:, 0::2], wrong_exponent[:, 1::2] = np.sin(slow), np.cos(slow)
        from_one = _encoding(num_positions + 1, d_model)[1:]
        bugs = [
            (concatenated, "the sines fill the first half and the cosines the second; interleave "
                           "them: sines in the even columns, cosines in the odd ones."),
            (swapped, "sin and cos are swapped: sines go in the even columns (0, 2, 4, ...)."),
            (wrong_exponent, "the exponent uses i / d_model; the frequencies are 10000 ** (-2i / d_model), "
                             "i.e. torch.arange(0, d_model, 2) / d_model."),
            (from_one, "positions start at 1; the first position is 0, whose encoding is "
                       "(0, 1, 0, 1, ...)."),
            (expected.T, "it is transposed: one row per position, shape (num_positions, d_model)."),
        ]
        diagnose(got, expected, bugs, name=f"the encoding from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_array(got, expected, name=f"the encoding from {shown}", rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- 9.4
def _patchify(images: np.ndarray, p: int) -> np.ndarray:
    B, H, W = images.shape
    x = images.reshape(B, H // p, p, W // p, p).transpose(0, 1, 3, 2, 4)
    return x.reshape(B, (H // p) * (W // p), p * p)


@exercise(
    "9.4",
    "Patchify an image",
    hints=[
        "Split each image axis into (which patch, which pixel inside the patch): H = (H/p) * p and "
        "W = (W/p) * p. Then bring the two 'which patch' axes next to each other, and the two "
        "'pixel inside' axes next to each other, before flattening.",
        "images.reshape(B, H // p, p, W // p, p) has axes (B, patch row, pixel row, patch column, "
        "pixel column). permute(0, 1, 3, 2, 4) orders them (B, patch row, patch column, pixel row, "
        "pixel column). A plain reshape without the permute mixes pixels of different patches.",
        "B, H, W = images.shape; x = images.reshape(B, H // p, p, W // p, p).permute(0, 1, 3, 2, 4); "
        "return x.reshape(B, (H // p) * (W // p), p * p)",
    ],
)
def _check_patchify(fn: Callable) -> None:
    rng = np.random.default_rng(94)
    cases = [
        ("a batch of 2 images of 4 x 4 pixels, patch_size=2", np.arange(32, dtype=float).reshape(2, 4, 4), 2),
        ("a batch of 3 images of 8 x 12 pixels, patch_size=4", rng.normal(size=(3, 8, 12)), 4),
        ("one 28 x 28 image, patch_size=7", rng.random((1, 28, 28)), 7),
    ]
    for label, images, p in cases:
        shown = f"patchify(images, {p}) for {label}"
        got = as_numpy(call(fn, _t(images), p, name="patchify"), name=shown)
        expected = _patchify(images, p)
        B, H, W = images.shape
        no_permute = images.reshape(B, (H // p) * (W // p), p * p)
        column_major = images.reshape(B, H // p, p, W // p, p).transpose(0, 3, 1, 2, 4).reshape(expected.shape)
        transposed_pixels = images.reshape(B, H // p, p, W // p, p).transpose(0, 1, 3, 4, 2).reshape(
            expected.shape)
        bugs = [
            (no_permute, "it reshapes without reordering the axes, so a 'patch' mixes pixels from "
                         "different patches. Reshape to (B, H/p, p, W/p, p) and permute(0, 1, 3, 2, 4) first."),
            (column_major, "the patches are in column-major order (top to bottom first); take them "
                           "left to right, then top to bottom, like reading."),
            (transposed_pixels, "each patch is flattened column by column; flatten it row by row "
                                "(permute(0, 1, 3, 2, 4), not (0, 1, 3, 4, 2))."),
            (np.swapaxes(expected, 1, 2), "the last two axes are swapped: the result is "
                                          "(B, num_patches, patch_size * patch_size)."),
        ]
        diagnose(got, expected, bugs, name=f"the patches from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_array(got, expected, name=f"the patches from {shown}", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 9.5
@exercise(
    "9.5",
    "Find the bug: attention without the scale",
    hints=[
        "Run attention_buggy on queries and keys with many dimensions and look at the largest "
        "weight of each row, as in the chapter's table: compare with the formula "
        "softmax(Q K^T / sqrt(d_k)) V.",
        "The scores are never divided by sqrt(d_k), so their spread grows with the head size and the "
        "softmax becomes almost one-hot. Divide by math.sqrt(q.shape[-1]) (the size of the queries' "
        "last axis), not by d_k itself and not by the sequence length.",
        "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]); then the mask and the softmax over "
        "dim=-1 exactly as in attention_buggy; return weights @ v, weights",
    ],
)
def _check_attention(fn: Callable) -> None:
    rng = np.random.default_rng(95)
    T = 5
    causal = np.tril(np.ones((T, T), dtype=bool))
    cases = [
        ("a batch of 2 sequences of 5 positions with d_k = 16", rng.normal(size=(2, T, 16)),
         rng.normal(size=(2, T, 16)), rng.normal(size=(2, T, 3)), None),
        ("d_k = 64 and a causal mask", rng.normal(size=(1, T, 64)), rng.normal(size=(1, T, 64)),
         rng.normal(size=(1, T, 4)), causal),
    ]
    for label, q, k, v, mask in cases:
        shown = f"attention(q, k, v, mask) for {label}"
        args = (_t(q), _t(k), _t(v), None if mask is None else torch.tensor(mask))
        out, weights = expect_tuple(call(fn, *args, name="attention"), label=shown, names="output, weights")
        out, weights = as_numpy(out, name=f"the output of {shown}"), as_numpy(weights, name=f"the weights of {shown}")
        exp_out, exp_weights = _attention(q, k, v, mask)
        d_k = q.shape[-1]
        unscaled_out, unscaled_w = _attention(q, k, v, mask, scale=1.0)
        by_d_out, by_d_w = _attention(q, k, v, mask, scale=float(d_k))
        by_t_out, by_t_w = _attention(q, k, v, mask, scale=math.sqrt(T))
        col_out, col_w = _attention(q, k, v, mask, softmax_axis=-2) if mask is None else (None, None)
        bugs = [
            (unscaled_w, "the scores are not divided by sqrt(d_k): for wide heads the softmax becomes "
                         "nearly one-hot. This is the bug in attention_buggy."),
            (by_d_w, "the scores are divided by d_k; divide by its square root, math.sqrt(d_k)."),
            (by_t_w, "the scores are divided by the square root of the sequence length; the scale is "
                     "sqrt(d_k), the size of the last axis of q."),
        ]
        if mask is not None:
            bugs.append((_attention(q, k, v, None)[1], "the mask is ignored: set the scores of masked "
                                                       "keys to -inf (masked_fill(~mask, float('-inf'))) "
                                                       "before the softmax."))
        if col_w is not None:
            bugs.append((col_w, "the softmax runs over the queries (dim=-2); each query's weights over "
                                "the keys must sum to 1: softmax over dim=-1."))
        diagnose(weights, exp_weights, bugs, name=f"the weights from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_array(weights, exp_weights, name=f"the weights from {shown}", rtol=_RTOL, atol=_ATOL)
        diagnose(out, exp_out, [(unscaled_out, "the output is computed without the scale.")], name=f"the output from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_array(out, exp_out, name=f"the output from {shown}", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 9.6
def _torch_reference(x: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor,
                     W_o: torch.Tensor, num_heads: int, mask: torch.Tensor | None) -> np.ndarray:
    """The answer according to PyTorch's own nn.MultiheadAttention (no biases)."""
    d_model = x.shape[-1]
    layer = nn.MultiheadAttention(d_model, num_heads, bias=False, batch_first=True)
    with torch.no_grad():
        # nn.MultiheadAttention computes x @ W.T; our weights act as x @ W.
        layer.in_proj_weight.copy_(torch.cat([W_q.T, W_k.T, W_v.T]))
        layer.out_proj.weight.copy_(W_o.T)
        out, _ = layer(x, x, x, attn_mask=None if mask is None else ~mask, need_weights=False)
    return out.numpy().astype(np.float64)


def _mha_numpy(x: np.ndarray, W_q: np.ndarray, W_k: np.ndarray, W_v: np.ndarray, W_o: np.ndarray,
               h: int, mask: np.ndarray | None, variant: str = "") -> np.ndarray:
    B, T, C = x.shape
    d = C // h

    def split(t: np.ndarray) -> np.ndarray:
        if variant == "bad_split":
            return t.reshape(B, h, T, d)
        return t.reshape(B, T, h, d).transpose(0, 2, 1, 3)

    q, k, v = split(x @ W_q), split(x @ W_k), split(x @ W_v)
    scale = math.sqrt(C) if variant == "scale_by_model_width" else math.sqrt(d)
    out, _ = _attention(q, k, v, None if variant == "no_mask" else mask, scale=scale)
    if variant == "bad_merge":
        merged = out.reshape(B, T, C)
    else:
        merged = out.transpose(0, 2, 1, 3).reshape(B, T, C)
    return merged if variant == "no_output_projection" else merged @ W_o


@exercise(
    "9.6",
    "Multi-head attention, matched to PyTorch",
    hints=[
        "Project x to queries, keys and values (x @ W_q and so on), split the model width C into "
        "num_heads heads of C // num_heads dimensions, attend in every head at once, glue the heads "
        "back together and apply W_o.",
        "Split with .view(B, T, h, C // h).transpose(1, 2) to get (B, h, T, d): the head axis must be "
        "cut out of the feature axis, not out of the sequence. Scale by sqrt(d) = sqrt(C // h). "
        "Merge with .transpose(1, 2).reshape(B, T, C), then multiply by W_o.",
        "q, k, v = (split(x @ W) for W in (W_q, W_k, W_v)); scores = q @ k.transpose(-2, -1) / "
        "math.sqrt(C // h); masked_fill(~mask, -inf) if a mask is given; weights = softmax(dim=-1); "
        "out = (weights @ v).transpose(1, 2).reshape(B, T, C); return out @ W_o",
    ],
)
def _check_multi_head_attention(fn: Callable) -> None:
    rng = np.random.default_rng(96)
    B, T, C = 2, 6, 16
    cases = [("4 heads, no mask", 4, False), ("2 heads and a causal mask", 2, True),
             ("1 head", 1, False)]
    for label, h, use_mask in cases:
        x = rng.normal(size=(B, T, C))
        W_q, W_k, W_v, W_o = (rng.normal(0.0, 1 / math.sqrt(C), size=(C, C)) for _ in range(4))
        mask = np.tril(np.ones((T, T), dtype=bool)) if use_mask else None
        shown = (f"multi_head_attention(x, W_q, W_k, W_v, W_o, num_heads={h}, mask) for x of shape "
                 f"{(B, T, C)}, {label}")
        tensors = [_t(a) for a in (x, W_q, W_k, W_v, W_o)]
        mask_t = None if mask is None else torch.tensor(mask)
        got = as_numpy(call(fn, *tensors, h, mask_t, name="multi_head_attention"), name=shown)
        expected = _torch_reference(*tensors, h, mask_t)
        assert np.allclose(expected, _mha_numpy(x, W_q, W_k, W_v, W_o, h, mask), atol=1e-4)
        bugs = [(_mha_numpy(x, W_q, W_k, W_v, W_o, h, mask, variant), why) for variant, why in (
            ("bad_split", "the heads are split with view(B, h, T, d), which cuts the sequence into pieces; "
                          "split the feature axis: view(B, T, h, d).transpose(1, 2)."),
            ("bad_merge", "the heads are merged with a reshape but without transpose(1, 2) first, which "
                          "scrambles positions and heads."),
            ("scale_by_model_width", "the scores are divided by sqrt(C); each head has d = C / num_heads "
                                     "dimensions, so divide by sqrt(C // num_heads)."),
            ("no_output_projection", "the output projection W_o is missing."),
            ("no_mask", "the mask is ignored: set the scores of masked keys to -inf before the softmax."),
        )]
        bugs.append((_mha_numpy(x, W_q.T, W_k.T, W_v.T, W_o.T, h, mask),
                     "it multiplies by the transposed weights (x @ W.T, nn.Linear's convention); here "
                     "the projections are x @ W_q, x @ W_k, x @ W_v and ... @ W_o."))
        diagnose(got, expected, bugs, name=f"the output from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_array(got, expected, name=f"the output from {shown} (compared with nn.MultiheadAttention)",
                     rtol=_RTOL, atol=_ATOL)
