"""Chapter 9 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` (bugs people really write) fails with a message that names
the problem; the unfilled stub fails with "not written yet". ``tests/test_exercises.py``
reads ``WRONG_WITH_MESSAGES`` to prove that no check in the book is toothless.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules


# --------------------------------------------------------------------------- reference answers
def soft_lookup(query, keys, values):
    weights = torch.softmax(keys @ query, dim=0)
    return weights @ values


def causal_mask(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def positional_encoding(num_positions, d_model):
    position = torch.arange(num_positions, dtype=torch.float32)[:, None]
    frequency = 10000 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(num_positions, d_model)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe


def patchify(images, patch_size):
    B, H, W = images.shape
    p = patch_size
    x = images.reshape(B, H // p, p, W // p, p).permute(0, 1, 3, 2, 4)
    return x.reshape(B, (H // p) * (W // p), p * p)


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def multi_head_attention(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
    B, T, C = x.shape

    def split(t):
        return t.view(B, T, num_heads, C // num_heads).transpose(1, 2)

    out, _ = attention(split(x @ W_q), split(x @ W_k), split(x @ W_v), mask)
    return out.transpose(1, 2).reshape(B, T, C) @ W_o


REFERENCE = {
    "9.1": soft_lookup,
    "9.2": causal_mask,
    "9.3": positional_encoding,
    "9.4": patchify,
    "9.5": attention,
    "9.6": multi_head_attention,
}


# --------------------------------------------------------------------------- wrong answers: 9.1
def lookup_raw_scores(query, keys, values):
    return (keys @ query) @ values


def lookup_hard(query, keys, values):
    return values[torch.argmax(keys @ query)]


def lookup_naive_exp(query, keys, values):
    e = torch.exp(keys @ query)
    return (e / e.sum()) @ values


def lookup_returns_weights(query, keys, values):
    return torch.softmax(keys @ query, dim=0)


def lookup_normalised_scores(query, keys, values):
    scores = keys @ query
    return (scores / scores.sum()) @ values


def lookup_scaled(query, keys, values):
    return torch.softmax(keys @ query / math.sqrt(len(query)), dim=0) @ values


# --------------------------------------------------------------------------- wrong answers: 9.2
def mask_future(T):
    return torch.triu(torch.ones(T, T, dtype=torch.bool))


def mask_without_diagonal(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)


def mask_float(T):
    return torch.tril(torch.ones(T, T))


def mask_pytorch_convention(T):
    return ~torch.tril(torch.ones(T, T, dtype=torch.bool))


def mask_everything_allowed(T):
    return torch.ones(T, T, dtype=torch.bool)


# --------------------------------------------------------------------------- wrong answers: 9.3
def pe_concatenated(num_positions, d_model):
    position = torch.arange(num_positions, dtype=torch.float32)[:, None]
    frequency = 10000 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    return torch.cat([torch.sin(position * frequency), torch.cos(position * frequency)], dim=1)


def pe_swapped(num_positions, d_model):
    return positional_encoding(num_positions, d_model).view(num_positions, -1, 2).flip(-1).reshape(
        num_positions, d_model)


def pe_wrong_exponent(num_positions, d_model):
    position = torch.arange(num_positions, dtype=torch.float32)[:, None]
    frequency = 10000 ** (-torch.arange(d_model // 2, dtype=torch.float32) / d_model)
    pe = torch.zeros(num_positions, d_model)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency)
    return pe


def pe_from_one(num_positions, d_model):
    return positional_encoding(num_positions + 1, d_model)[1:]


def pe_transposed(num_positions, d_model):
    return positional_encoding(num_positions, d_model).T


# --------------------------------------------------------------------------- wrong answers: 9.4
def patchify_without_permute(images, patch_size):
    B, H, W = images.shape
    return images.reshape(B, (H // patch_size) * (W // patch_size), patch_size * patch_size)


def patchify_column_major(images, patch_size):
    B, H, W = images.shape
    p = patch_size
    x = images.reshape(B, H // p, p, W // p, p).permute(0, 3, 1, 2, 4)
    return x.reshape(B, (H // p) * (W // p), p * p)


def patchify_pixels_by_column(images, patch_size):
    B, H, W = images.shape
    p = patch_size
    x = images.reshape(B, H // p, p, W // p, p).permute(0, 1, 3, 4, 2)
    return x.reshape(B, (H // p) * (W // p), p * p)


def patchify_axes_swapped(images, patch_size):
    return patchify(images, patch_size).transpose(1, 2)


# --------------------------------------------------------------------------- wrong answers: 9.5
def attention_buggy(q, k, v, mask=None):    # the code handed out in the exercise
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_divided_by_d(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_scaled_by_length(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-2])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_softmax_over_queries(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights


def attention_returns_output_only(q, k, v, mask=None):
    return attention(q, k, v, mask)[0]


def attention_mask_ignored(q, k, v, mask=None):
    return attention(q, k, v, None)


# --------------------------------------------------------------------------- wrong answers: 9.6
def mha_bad_split(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
    B, T, C = x.shape

    def split(t):
        return t.reshape(B, num_heads, T, C // num_heads)

    out, _ = attention(split(x @ W_q), split(x @ W_k), split(x @ W_v), mask)
    return out.transpose(1, 2).reshape(B, T, C) @ W_o


def mha_scaled_by_width(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
    B, T, C = x.shape

    def split(t):
        return t.view(B, T, num_heads, C // num_heads).transpose(1, 2)

    q, k, v = split(x @ W_q), split(x @ W_k), split(x @ W_v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(C)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).reshape(B, T, C) @ W_o


def mha_bad_merge(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
    B, T, C = x.shape

    def split(t):
        return t.view(B, T, num_heads, C // num_heads).transpose(1, 2)

    out, _ = attention(split(x @ W_q), split(x @ W_k), split(x @ W_v), mask)
    return out.reshape(B, T, C) @ W_o


def mha_without_output_projection(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return multi_head_attention(x, W_q, W_k, W_v, torch.eye(x.shape[-1]), num_heads, mask)


def mha_pytorch_weights_convention(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
    return multi_head_attention(x, W_q.T, W_k.T, W_v.T, W_o.T, num_heads, mask)


WRONG_WITH_MESSAGES = {
    "9.1": [
        (lookup_raw_scores, "raw scores as weights"),
        (lookup_hard, "hard lookup"),
        (lookup_naive_exp, "exp of a large score overflows"),
        (lookup_returns_weights, "it returns the weights"),
        (lookup_normalised_scores, "divides the scores by their sum"),
        (lookup_scaled, "divides the scores by sqrt(d)"),
    ],
    "9.2": [
        (mask_future, "see the FUTURE"),
        (mask_without_diagonal, "leaves out the diagonal"),
        (mask_float, "return a boolean mask"),
        (mask_pytorch_convention, "is inverted"),
        (mask_everything_allowed, "differs from the causal mask"),
    ],
    "9.3": [
        (pe_concatenated, "interleave them"),
        (pe_swapped, "sin and cos are swapped"),
        (pe_wrong_exponent, "the exponent uses i / d_model"),
        (pe_from_one, "positions start at 1"),
        (pe_transposed, "it is transposed"),
    ],
    "9.4": [
        (patchify_without_permute, "without reordering the axes"),
        (patchify_column_major, "column-major order"),
        (patchify_pixels_by_column, "flattened column by column"),
        (patchify_axes_swapped, "the last two axes are swapped"),
    ],
    "9.5": [
        (attention_buggy, "not divided by sqrt(d_k)"),
        (attention_divided_by_d, "divided by d_k; divide by its square root"),
        (attention_scaled_by_length, "square root of the sequence length"),
        (attention_softmax_over_queries, "softmax runs over the queries"),
        (attention_returns_output_only, "should return 2 things"),
        (attention_mask_ignored, "the mask is ignored"),
    ],
    "9.6": [
        (mha_bad_split, "view(B, h, T, d)"),
        (mha_scaled_by_width, "divided by sqrt(C)"),
        (mha_bad_merge, "without transpose(1, 2) first"),
        (mha_without_output_projection, "output projection W_o is missing"),
        (mha_pytorch_weights_convention, "nn.Linear's convention"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES


def test_fused_pytorch_attention_passes_the_attention_check():
    def with_sdpa(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights

    assert grade("9.5", with_sdpa).passed


def test_numpy_positional_encoding_passes():
    def pe_numpy(num_positions, d_model):
        angles = np.arange(num_positions)[:, None] / 10000 ** (np.arange(0, d_model, 2) / d_model)
        pe = np.zeros((num_positions, d_model))
        pe[:, 0::2], pe[:, 1::2] = np.sin(angles), np.cos(angles)
        return pe

    assert grade("9.3", pe_numpy).passed


def test_an_mha_built_from_the_chapters_module_layout_passes():
    def mha_with_linear_layers(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
        B, T, C = x.shape
        layer = nn.MultiheadAttention(C, num_heads, bias=False, batch_first=True)
        with torch.no_grad():
            layer.in_proj_weight.copy_(torch.cat([W_q.T, W_k.T, W_v.T]))
            layer.out_proj.weight.copy_(W_o.T)
        out, _ = layer(x, x, x, attn_mask=None if mask is None else ~mask)
        return out

    assert grade("9.6", mha_with_linear_layers).passed
