"""Graders for chapter 9, transformers (exercises 9.1-9.10).

The chapter's conventions, which the graders share: a boolean attention mask is
``True`` where a query **may** attend to a key (the opposite of
``nn.MultiheadAttention``'s masks); attention weights are a softmax over the keys
(the last axis); a BPE merge step breaks ties by first occurrence and never merges
overlapping pairs; top-p keeps the token that carries the total to p; LoRA scales its
update by alpha / r; patches are taken in row-major order (left to right, then top to
bottom) and flattened row by row.

Learner code is PyTorch (recall@k: NumPy); answers may be tensors or NumPy arrays.
References are computed here, on fixed edge cases and on fresh inputs drawn at every call from
one seeded stream (``_FRESH``), so a notebook run from the top always sees the same inputs.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .challenge import Budget, TrainingData, provides_data, run_challenge, validation_split
from .core import CheckFailed, one_torch_thread, as_numpy, call, close, diagnose, exercise, expect_array, expect_scalar, expect_tuple

_RTOL, _ATOL = 1e-5, 1e-5   # learner code runs in float32

#: Fresh inputs at every check, from one seeded stream: a table of the inputs seen cannot pass,
#: and a run of the notebook from the top sees the same inputs each time.
_FRESH = np.random.default_rng(909)


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


# --------------------------------------------------------------------------- 9.8
def _patchify(images: np.ndarray, p: int) -> np.ndarray:
    B, H, W = images.shape
    x = images.reshape(B, H // p, p, W // p, p).transpose(0, 1, 3, 2, 4)
    return x.reshape(B, (H // p) * (W // p), p * p)


@exercise(
    "9.8",
    "Patchify an image",
    hints=[
        "Split each image axis into (which patch, which pixel inside the patch): H = (H/p) * p and W = (W/p) * p. Then bring the two 'which patch' axes next to each other, and the two 'pixel inside' axes next to each other, before flattening.",
        'A reshape to five axes gives (B, patch row, pixel row, patch column, pixel column). Swap the middle two with permute so the order becomes (B, patch row, patch column, pixel row, pixel column), then flatten the first pair into the patch index and the last pair into the pixels. A plain reshape without the permute mixes pixels of different patches.',
    ],
)
def _check_patchify(fn: Callable) -> None:
    rng = _FRESH
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


# --------------------------------------------------------------------------- 9.1
@exercise(
    "9.1",
    "Find the bug: attention without the scale",
    hints=[
        "Run attention_buggy on queries and keys with many dimensions and look at the largest weight of each row, as in the chapter's table: compare with the formula softmax(Q K^T / sqrt(d_k)) V.",
        "The scores are never divided by sqrt(d_k), so their spread grows with the head size and the softmax becomes almost one-hot. d_k is the size of the queries' last axis: divide the scores by its square root (not by d_k itself, not by the sequence length) and keep the rest of attention_buggy as it is.",
    ],
    kind="debug",
)
def _check_attention(fn: Callable) -> None:
    rng, fixed = _FRESH, np.random.default_rng(95)   # the first case is the same at every call
    T = 5
    causal = np.tril(np.ones((T, T), dtype=bool))
    cases = [
        ("a batch of 2 sequences of 5 positions with d_k = 16", fixed.normal(size=(2, T, 16)),
         fixed.normal(size=(2, T, 16)), fixed.normal(size=(2, T, 3)), None),
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


# --------------------------------------------------------------------------- 9.2
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
    "9.2",
    "Multi-head attention, matched to PyTorch",
    hints=[
        'Project x to queries, keys and values (x @ W_q and so on), split the model width C into num_heads heads of C // num_heads dimensions, attend in every head at once, glue the heads back together and apply W_o.',
        'Split with a view to (B, T, h, C // h) followed by a transpose of axes 1 and 2, giving (B, h, T, d): the head axis is cut out of the feature axis, not out of the sequence. Your attention from 9.1 scales by sqrt(d). To merge, undo the transpose before reshaping back to (B, T, C), then multiply by W_o.',
    ],
)
def _check_multi_head_attention(fn: Callable) -> None:
    rng = _FRESH
    B, T, C = 2, 6, 16
    cases = [("4 heads, no mask", 4, False), ("2 heads and a causal mask", 2, True),
             ("1 head", 1, False)]
    for n, (label, h, use_mask) in enumerate(cases):
        draw = np.random.default_rng(96) if n == 0 else rng    # the first case is the same at every call
        x = draw.normal(size=(B, T, C))
        W_q, W_k, W_v, W_o = (draw.normal(0.0, 1 / math.sqrt(C), size=(C, C)) for _ in range(4))
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


# --------------------------------------------------------------------------- 9.3
def _merge(ids: list, pair: tuple, new_id: int, overlapping: bool = False, first_only: bool = False,
           skip_last: bool = False) -> list:
    out, i, done = [], 0, False
    stop = len(ids) - 2 if skip_last else len(ids) - 1
    while i < len(ids):
        if i < stop and (ids[i], ids[i + 1]) == pair and not done:
            out.append(new_id)
            if first_only:
                done = True
            i += 1 if overlapping else 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _pair_counts(ids: list) -> dict:
    counts: dict = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1          # dicts keep first-seen order: ties -> first
    return counts


def _same_ids(got: Any, expected: list) -> bool:
    try:
        return [int(i) for i in got] == list(expected)
    except (TypeError, ValueError):
        return False


@exercise(
    "9.3",
    "One BPE merge step",
    hints=[
        'Two parts. First count every adjacent pair (ids[i], ids[i+1]) and pick the most frequent one; on a tie, take the pair that occurs first in the list. Then walk through the list from the left, writing new_id wherever that pair starts, and skipping both of its tokens.',
        'collections.Counter over zip(ids, ids[1:]) counts the pairs; max with key=counts.get returns the first of the most frequent ones (a Counter remembers the order in which keys first appeared). For the merge use a while loop with an index: after a match advance by 2, otherwise copy one token and advance by 1; test that a next token exists so the last pair is included.',
    ],
)
def _check_bpe_merge_step(fn: Callable) -> None:
    rng = _FRESH
    cases = [
        ("'aaabdaaabac' as bytes", [97, 97, 97, 98, 100, 97, 97, 97, 98, 97, 99], 256),
        ("three equal tokens [5, 5, 5]", [5, 5, 5], 300),
        ("a tie: [1, 2, 3, 1, 2, 3]", [1, 2, 3, 1, 2, 3], 9),
        ("the winning pair at the very end: [4, 7, 9, 4, 7, 1, 4, 7]", [4, 7, 9, 4, 7, 1, 4, 7], 50),
    ]
    for n in range(4):
        cases.append((f"random ids number {n + 1}", rng.integers(0, 6, size=int(rng.integers(20, 60))).tolist(),
                      int(rng.integers(256, 1000))))
    for label, ids, new_id in cases:
        shown = f"bpe_merge_step(ids, {new_id}) for {label}"
        got = expect_tuple(call(fn, list(ids), new_id, name="bpe_merge_step"), label=shown, names="pair, new_ids")
        got_pair, got_ids = got
        counts = _pair_counts(ids)
        pair = max(counts, key=counts.get)
        expected = _merge(ids, pair, new_id)
        try:
            got_pair = tuple(int(t) for t in got_pair)
        except (TypeError, ValueError):
            raise CheckFailed(f"the pair from {shown} should be a tuple of two token ids, got {got_pair!r}.") from None
        top = max(counts.values())
        if got_pair != pair:
            if counts.get(got_pair, 0) == top:
                raise CheckFailed(f"{shown} chose the pair {got_pair}; it is as frequent as {pair}, but on a tie "
                                  f"take the pair that occurs first in the list (here {pair}).")
            raise CheckFailed(f"{shown} chose the pair {got_pair}, which occurs {counts.get(got_pair, 0)} times; "
                              f"the most frequent pair is {pair} ({top} times, counting every position i).")
        if _same_ids(got_ids, expected):
            continue
        bugs = [
            (_merge(ids, pair, new_id, overlapping=True), "it merges overlapping occurrences: after a match "
             "skip both tokens (i += 2), so [5, 5, 5] becomes [new, 5]."),
            (_merge(ids, pair, new_id, first_only=True), "it replaces only the first occurrence of the pair; "
             "replace every occurrence."),
            (_merge(ids, pair, new_id, skip_last=True), "it never merges the last pair of the list: the loop "
             "stops one position too early."),
        ]
        for wrong, why in bugs:
            if wrong != expected and _same_ids(got_ids, wrong):
                raise CheckFailed(f"the new ids from {shown} are wrong: {why}")
        raise CheckFailed(f"the new ids from {shown} are {list(got_ids)[:20]}..., expected {expected[:20]}...")


# --------------------------------------------------------------------------- 9.4
def _top_p(probs: np.ndarray, p: float, variant: str = "") -> np.ndarray:
    order = np.argsort(-probs, axis=-1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    if variant == "ascending":
        order = order[:, ::-1]
        sorted_probs = sorted_probs[:, ::-1]
    cumulative = np.cumsum(sorted_probs, axis=-1)
    if variant == "exclude_crossing":
        keep = cumulative <= p
    elif variant == "at_most_p":
        keep = cumulative - sorted_probs <= p
    else:
        keep = cumulative - sorted_probs < p
    kept = np.where(keep, sorted_probs, 0.0)
    if variant != "no_renormalise":
        kept = kept / kept.sum(axis=-1, keepdims=True).clip(1e-300)
    if variant == "sorted":
        return kept
    out = np.zeros_like(probs)
    np.put_along_axis(out, order, kept, axis=-1)
    return out


@exercise(
    "9.4",
    "Top-p (nucleus) filtering",
    hints=[
        'For each row: sort the probabilities from the largest down, add them up, and keep the shortest run of top tokens whose total reaches p. Everything else becomes 0, and the kept ones are divided by their sum so the row sums to 1 again. The results go back to the original token positions.',
        'torch.sort(..., descending=True) gives the sorted values and the order. Keep a token if the mass of the tokens BEFORE it (the cumulative sum minus itself) is still strictly below p: that always keeps the top token and includes the one that crosses p. Put the kept values back where they came from with Tensor.scatter along the last axis.',
    ],
)
def _check_top_p(fn: Callable) -> None:
    rng = _FRESH
    fixed = np.array([[0.05, 0.5, 0.1, 0.2, 0.15]])
    cases = [("one row [0.05, 0.5, 0.1, 0.2, 0.15], p = 0.75", fixed, 0.75),
             ("one row, p = 0.01 (only the top token survives)", fixed, 0.01),
             ("one row, p = 1.0 (everything survives)", fixed, 1.0),
             ("one row [0.25, 0.5, 0.125, 0.125], p = 0.75 (the top two reach p exactly: the third is dropped)",
              np.array([[0.25, 0.5, 0.125, 0.125]]), 0.75)]
    for n, p in ((4, 0.9), (3, 0.5)):
        logits = rng.normal(0.0, 2.0, size=(n, 12))
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        cases.append((f"a batch of {n} random distributions over 12 tokens, p = {p}", probs, p))
    for label, probs, p in cases:
        shown = f"top_p_filter(probs, {p}) for {label}"
        got = as_numpy(call(fn, _t(probs), p, name="top_p_filter"), name=shown)
        expected = _top_p(probs, p)
        bugs = [
            (_top_p(probs, p, "exclude_crossing"), "it drops the token whose probability carries the total past "
             "p; keep a token while the mass BEFORE it is below p (and so always keep the top token)."),
            (_top_p(probs, p, "no_renormalise"), "the kept probabilities are not renormalised: divide them by "
             "their sum so that each row sums to 1."),
            (_top_p(probs, p, "sorted"), "the result is in sorted order; scatter the values back to the "
             "original token positions."),
            (_top_p(probs, p, "ascending"), "it keeps the LEAST likely tokens: sort in descending order."),
            (_top_p(probs, p, "at_most_p"), "it also keeps a token when the tokens before it already reach p "
             "exactly; once the total has reached p the nucleus is complete (strictly below p, not <=)."),
        ]
        diagnose(got, expected, bugs, name=f"the result of {shown}", rtol=1e-5, atol=1e-6)
        expect_array(got, expected, name=f"the result of {shown}", rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- 9.5
def _causal_attention(x: np.ndarray, W_q: np.ndarray, W_k: np.ndarray, W_v: np.ndarray) -> np.ndarray:
    T = x.shape[1]
    out, _ = _attention(x @ W_q, x @ W_k, x @ W_v, np.tril(np.ones((T, T), dtype=bool)))
    return out


@exercise(
    "9.5",
    "One step of attention with a KV cache",
    hints=[
        'The new token needs three projections: its query, and its key and value, which are appended to the end of the caches. Then the query attends to ALL cached keys, its own included: no mask is needed, since the cache holds only the past and the present.',
        'Give the new key and value a time axis (index with [:, None]) before concatenating them after the caches along dim=1, giving (B, T_past + 1, d). Treat the query as a sequence of length 1 in the same way, scale the scores by sqrt(d), softmax over the keys, weight the values, and drop the length-1 axis. Return the grown caches too.',
    ],
)
def _check_kv_step(fn: Callable) -> None:
    rng = _FRESH
    for label, B, T, C, d, start in (("2 sequences of 7 tokens, starting from 3 cached positions", 2, 7, 8, 4, 3),
                                     ("1 sequence of 5 tokens, starting from an empty cache", 1, 5, 6, 6, 0)):
        draw = np.random.default_rng(99) if start > 0 else rng    # the first case is the same at every call
        x = draw.normal(size=(B, T, C))
        W_q, W_k, W_v = (draw.normal(0.0, 1 / math.sqrt(C), size=(C, d)) for _ in range(3))
        full = _causal_attention(x, W_q, W_k, W_v)                      # (B, T, d): the uncached answer
        keys, values = x @ W_k, x @ W_v
        cache_k, cache_v = _t(keys[:, :start]), _t(values[:, :start])
        for t in range(start, T):
            shown = (f"attention_step(x_new, W_q, W_k, W_v, cache_k, cache_v) at position {t} for {label} "
                     f"(the cache holds {t} positions)")
            result = call(fn, _t(x[:, t]), _t(W_q), _t(W_k), _t(W_v), cache_k, cache_v, name="attention_step")
            out, new_k, new_v = expect_tuple(result, label=shown, names="output, cache_k, cache_v")
            out = as_numpy(out, name=f"the output of {shown}")
            expected = full[:, t]
            past_only = _attention(x[:, t:t + 1] @ W_q, keys[:, :t], values[:, :t])[0][:, 0] if t > 0 else None
            unscaled = _attention(x[:, t:t + 1] @ W_q, keys[:, :t + 1], values[:, :t + 1], scale=1.0)[0][:, 0]
            by_length = _attention(x[:, t:t + 1] @ W_q, keys[:, :t + 1], values[:, :t + 1],
                                   scale=math.sqrt(t + 1))[0][:, 0]
            bugs = [(unscaled, "the scores are not divided by sqrt(d), the size of the query."),
                    (by_length, "the scores are divided by the square root of the number of cached positions; "
                                "divide by sqrt(d), the size of the query.")]
            if past_only is not None:
                bugs.insert(0, (past_only, "the new token does not attend to itself: append its key and value "
                                           "to the caches BEFORE computing the attention."))
            diagnose(out, expected, bugs, name=f"the output of {shown}", rtol=1e-4, atol=1e-5)
            expect_array(out, expected, name=f"the output of {shown} (compared with attention over the whole "
                         "sequence without a cache)", rtol=1e-4, atol=1e-5)
            for name, got_cache, want in (("cache_k", new_k, keys[:, :t + 1]), ("cache_v", new_v, values[:, :t + 1])):
                got_cache = as_numpy(got_cache, name=f"the returned {name} of {shown}")
                if np.shape(got_cache) == np.shape(want[:, :t]) and close(got_cache, want[:, :t], rtol=1e-4, atol=1e-5):
                    raise CheckFailed(f"the returned {name} of {shown} is the old cache: return the cache with the "
                                      "new position appended, shape (B, T_past + 1, d).")
                reordered = np.concatenate([want[:, t:t + 1], want[:, :t]], axis=1)
                diagnose(got_cache, want, [(reordered, "the new position is put at the front; append it at the "
                                                       "end (torch.cat([cache, new], dim=1)), so that position t "
                                                       "stays at index t.")],
                         name=f"the returned {name} of {shown}", rtol=1e-4, atol=1e-5)
                expect_array(got_cache, want, name=f"the returned {name} of {shown}", rtol=1e-4, atol=1e-5)
            cache_k, cache_v = _t(keys[:, :t + 1]), _t(values[:, :t + 1])


# --------------------------------------------------------------------------- 9.7
@exercise(
    "9.7",
    "A LoRA linear layer",
    hints=[
        "The layer's output is the frozen layer's, x @ W.T + b, plus a low-rank correction: x goes down through A to r numbers, comes back up through B, and is scaled by alpha / r.",
        "A has shape (r, in) and B shape (out, r), so r is A's first dimension and the correction multiplies x by A transposed, then by B transposed. Multiplying in this order never builds the (out, in) matrix B @ A; the result equals using the merged weight W + (alpha / r) * B @ A. alpha / r is a true division: 5 / 2 is 2.5.",
    ],
)
def _check_lora(fn: Callable) -> None:
    rng = _FRESH
    cases = [("x of shape (5, 6), 4 outputs, rank 2, alpha 4", (5, 6), 4, 2, 4.0),
             ("x of shape (2, 3, 8), 8 outputs, rank 4, alpha 16", (2, 3, 8), 8, 4, 16.0),
             ("x of shape (3, 5), 7 outputs, rank 1, alpha 2", (3, 5), 7, 1, 2.0),
             ("x of shape (4, 6), 3 outputs, rank 3, alpha 8 (alpha / r = 2.67)", (4, 6), 3, 3, 8.0),
             ("x of shape (2, 4), 5 outputs, rank 4, alpha 1 (alpha / r = 0.25)", (2, 4), 5, 4, 1.0)]
    for n, (label, x_shape, n_out, r, alpha) in enumerate(cases):
        draw = np.random.default_rng(910) if n == 0 else rng    # the first case is the same at every call
        n_in = x_shape[-1]
        x = draw.normal(size=x_shape)
        W, b = draw.normal(size=(n_out, n_in)), draw.normal(size=n_out)
        A, B = draw.normal(size=(r, n_in)), draw.normal(size=(n_out, r))
        shown = f"lora_linear(x, W, b, A, B, alpha={alpha:g}) for {label}"
        got = as_numpy(call(fn, *(_t(a) for a in (x, W, b, A, B)), alpha, name="lora_linear"), name=shown)
        base = x @ W.T + b
        update = (x @ A.T) @ B.T
        expected = base + alpha / r * update
        merged = x @ (W + alpha / r * B @ A).T + b
        assert np.allclose(expected, merged)
        bugs = [
            (base + alpha * update, "the correction is scaled by alpha; scale it by alpha / r."),
            (base + r / alpha * update, "the correction is scaled by r / alpha; the scale is alpha / r."),
            (base + update, "the correction is not scaled: multiply it by alpha / r."),
            (alpha / r * update + b, "the frozen weight W is missing: the output is x @ W.T + b plus the "
                                     "correction."),
            (x @ W.T + alpha / r * update, "the bias b of the frozen layer is missing."),
            (base, "the low-rank correction is missing: add the scaled low-rank product."),
            (base + (alpha // r) * update, "the scale is computed with integer division (alpha // r); "
                                           "use alpha / r, a true division."),
        ]
        diagnose(got, expected, bugs, name=f"the output of {shown}", rtol=1e-4, atol=1e-4)
        expect_array(got, expected, name=f"the output of {shown}", rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- 9.6
def _recall(scores: np.ndarray, relevant: list, k: int, variant: str = "") -> float:
    if variant == "axis":
        order = np.argsort(-scores, axis=0, kind="stable").T
    elif variant == "ascending":
        order = np.argsort(scores, axis=1, kind="stable")
    else:
        order = np.argsort(-scores, axis=1, kind="stable")
    top = order[:, :k + 1] if variant == "k_plus_one" else order[:, :k]
    values = []
    for row, rel in zip(top, relevant):
        found = len(set(row.tolist()) & set(rel))
        if variant == "hit":
            values.append(float(found > 0))
        elif variant == "precision":
            values.append(found / k)
        else:
            values.append(found / len(rel))
    return float(np.mean(values))


@exercise(
    "9.6",
    "Recall@k with several relevant documents",
    hints=[
        'For each query (a row of scores), find the k documents with the highest scores. Recall@k for that query is the share of its relevant documents found among them: |top k ∩ relevant| / |relevant|. The answer is the mean over the queries.',
        "np.argsort of the negated scores along axis=1, cut to the first k columns, gives each query's top-k document indices. Intersect each row (as a set) with its relevant set and divide by the size of the relevant set, not by k (that would be precision); do not count a query as 1 as soon as one document is found.",
    ],
    kind="transfer",
)
def _check_recall(fn: Callable) -> None:
    rng = _FRESH
    # Chosen so that the right answer and each known bug give six different recalls at k = 2.
    fixed = np.array([[0.54, 0.69, 0.08, 0.46], [0.23, 0.31, 0.15, 0.77], [0.38, 0.62, 0.85, 0.92]])
    # The fixed cases first: each known bug gives its own value there, so a bug is always named the
    # same way; the fresh random cases after them defeat a table of the fixed answers.
    cases = [("3 queries over 4 documents, k = 2", fixed, [{1, 3}, {3}, {0, 3}], 2),
             ("the same, k = 4 (every document)", fixed, [{1, 3}, {3}, {0, 3}], 4)]
    for n_q, n_d, k in ((20, 30, 5), (8, 50, 1)):
        scores = rng.normal(size=(n_q, n_d))
        relevant = [set(rng.choice(n_d, int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(n_q)]
        cases.append((f"{n_q} random queries over {n_d} documents with 1-3 relevant each, k = {k}", scores, relevant, k))
    for label, scores, relevant, k in cases:
        shown = f"recall_at_k(scores, relevant, {k}) for {label}"
        got = call(fn, scores.copy(), [set(r) for r in relevant], k, name="recall_at_k")
        expected = _recall(scores, relevant, k)
        bugs = [(_recall(scores, relevant, k, "hit"), "it counts a query as 1 as soon as ONE relevant document "
                 "is in the top k (the hit rate); recall is the share of its relevant documents that are found."),
                (_recall(scores, relevant, k, "precision"), "it divides by k, which is precision@k; divide by "
                 "the number of relevant documents of the query."),
                (_recall(scores, relevant, k, "ascending"), "it takes the k LEAST similar documents: sort the "
                 "scores in descending order."),
                (_recall(scores, relevant, k, "k_plus_one"), "it looks at the top k + 1 documents; take exactly k."),
                (_recall(scores, relevant, k, "axis"), "it ranks along the wrong axis: each ROW is a query, so "
                 "sort each row (axis=1).")]
        diagnose(got, expected, bugs, name=f"the recall from {shown}", rtol=1e-9, atol=1e-9)
        expect_scalar(got, expected, name=f"the recall from {shown}", rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- 9.9
def _window_mask(T: int, window: int, variant: str = "") -> np.ndarray:
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    if variant == "inclusive":
        return (j <= i) & (i - j <= window)
    if variant == "two_sided":
        return np.abs(i - j) < window
    if variant == "future":
        return (j >= i) & (j - i < window)
    if variant == "strictly_past":
        return (j < i) & (i - j <= window)
    return (j <= i) & (i - j < window)


@exercise(
    "9.9",
    "A sliding-window causal mask",
    hints=[
        "Start from the causal mask of the chapter: query i may see key j when j is not in the future. "
        "A sliding window adds a second condition: j must also be among the `window` most recent "
        "positions, counting i itself.",
        "Build the query positions as a column and the key positions as a row (torch.arange with None "
        "axes), so that comparing them broadcasts to (T, T). Key j is allowed when it is not after i and "
        "fewer than `window` steps before it; combine the two boolean tensors with &. Return dtype bool.",
    ],
    kind="transfer",
)
def _check_window_mask(fn: Callable) -> None:
    rng = _FRESH
    cases = [("T=6, window=3", 6, 3), ("T=5, window=1 (each query sees only itself)", 5, 1),
             ("T=4, window=4 (the window covers everything: the plain causal mask)", 4, 4),
             ("T=3, window=10 (a window longer than the sequence)", 3, 10), ("T=1, window=2", 1, 2)]
    T = int(rng.integers(9, 17))
    cases.append((f"T={T}, window={T // 2}", T, T // 2))
    T = int(rng.integers(20, 40))
    w = int(rng.integers(2, 8))
    cases.append((f"T={T}, window={w}", T, w))
    for label, T, window in cases:
        shown = f"sliding_window_mask({T}, {window}) for {label}"
        got = call(fn, T, window, name="sliding_window_mask")
        array = as_numpy(got, name=shown)
        expected = _window_mask(T, window)
        if np.shape(array) != (T, T):
            raise CheckFailed(f"{shown} has shape {np.shape(array)}; the mask is (T, T) = ({T}, {T}): a row per "
                              "query, a column per key.")
        if np.asarray(array).dtype != np.bool_:
            raise CheckFailed(f"{shown} has dtype {np.asarray(array).dtype}; return a boolean mask (True = may "
                              "attend), e.g. from comparisons combined with &, not 0/1 numbers or -inf scores.")
        bugs = [
            (_window_mask(T, window, "inclusive"), "each query sees window + 1 keys: the window counts the "
             "query itself, so key j is allowed only when i - j < window."),
            (_window_mask(T, window, "two_sided"), "it lets queries see keys in the future: a causal window "
             "also requires j <= i."),
            (_window_mask(T, window, "future"), "the mask is transposed: row i (a query) must allow the keys "
             "BEFORE it, j <= i, not after it."),
            (_window_mask(T, window, "strictly_past"), "a query cannot see its own position: key j = i is "
             "always allowed (it is the newest of the window)."),
            (np.tril(np.ones((T, T), dtype=bool)), "that is the plain causal mask: keys more than window - 1 "
             "steps back must be masked too."),
        ]
        for wrong, why in bugs:
            if not np.array_equal(wrong, expected) and np.array_equal(array, wrong):
                raise CheckFailed(f"{shown} is wrong: {why}")
        if not np.array_equal(array, expected):
            bad = np.argwhere(array != expected)[0]
            raise CheckFailed(f"{shown} is wrong: query {bad[0]} and key {bad[1]} should be "
                              f"{'allowed' if expected[tuple(bad)] else 'masked'}.")


# --------------------------------------------------------------------------- 9.10
#: One call of train_char_lm may draw 32,000 windows of 32 characters (about one pass over the
#: training text), keep 80,000 numbers, and run 5 minutes (the reference: 13-20 s on one core).
_LM_BUDGET = Budget(examples=32_000, parameters=80_000, seconds=300)
_LM_CONTEXT = 32
#: Held-out cross-entropy to reach, in nats per character. The reference reaches 1.94-1.99 (three seeds);
#: a bigram model reaches about 2.48 and a unigram model 3.35.
_LM_TARGET = 2.15
_LM_TEST_WINDOWS = 400


def _shakespeare_ids() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The text as character ids: (first 90 %: training text, last 10 %: held out, the vocabulary)."""
    from .. import data as datasets

    text = datasets.load_tiny_shakespeare(progress=False)
    vocabulary = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocabulary)}
    ids = np.fromiter((lookup[c] for c in text), dtype=np.int64, count=len(text))
    cut = int(0.9 * len(ids))
    return ids[:cut], ids[cut:], vocabulary


@provides_data("9.10")
def _char_lm_data() -> tuple[TrainingData, tuple[np.ndarray, np.ndarray]]:
    """Windows of 32 character ids from the first 90 % of tiny-shakespeare, and their next characters."""
    train_ids, _, _ = _shakespeare_ids()
    T = _LM_CONTEXT
    n = (len(train_ids) - 1) // T
    X = train_ids[: n * T].reshape(n, T)
    Y = train_ids[1: n * T + 1].reshape(n, T)
    (X_part, y_part), (X_val, y_val) = validation_split(X, Y, 0.1, seed=9)
    return TrainingData(X_part, y_part, budget=_LM_BUDGET, name="the text windows"), (X_val, y_val)


def _lm_logits(model: Any, x: np.ndarray, vocabulary_size: int, *, name: str) -> np.ndarray:
    with torch.no_grad():
        try:
            out = model(torch.as_tensor(x, dtype=torch.int64))
        except Exception as error:
            raise CheckFailed(
                f"the model {name} returned failed on a batch of character ids, int64 of shape {x.shape}: "
                f"{type(error).__name__}: {error}",
                advice="The model takes int64 ids (B, T) and returns logits (B, T, vocabulary size); if you "
                       "trained on data.batches(..., tensors=True), convert the float ids with .long() "
                       "inside forward or in your loop.",
            ) from None
    out = np.asarray(as_numpy(out, name=f"the output of the model {name} returned"), dtype=np.float64)
    if out.shape != (*x.shape, vocabulary_size):
        raise CheckFailed(f"the model {name} returned maps ids of shape {x.shape} to shape {out.shape}; it must "
                          f"give logits of shape {(*x.shape, vocabulary_size)}: one score per character of the "
                          "vocabulary at every position.")
    return out


@exercise(
    "9.10",
    "A character-level language model on a budget",
    hints=[
        "A bigram table stops near 2.5 nats per character: the target needs context, so the model must "
        "look back over several characters. The chapter's small GPT does: token and position embeddings, "
        "a causally masked attention block with a feed-forward part, and a linear layer to the vocabulary.",
        "One block of width 64 with 4 heads fits the parameter budget with room to spare. Spend the "
        "examples in random batches of about 64 windows (data.sample), with AdamW at a learning rate near "
        "1e-2 that rises briefly and then decays (OneCycleLR); a loss over every position of every window "
        "uses each example 32 times. Keep the mask causal, or the model reads the answer.",
    ],
    kind="challenge",
)
def _check_char_lm(fn: Callable) -> None:
    data, _ = _char_lm_data()
    with one_torch_thread():   # tiny tensors: one thread is fastest, and fair on a busy machine
        model, report = run_challenge(fn, data, _LM_BUDGET, name="train_char_lm")
    _, held_out, vocabulary = _shakespeare_ids()
    V, T = len(vocabulary), _LM_CONTEXT
    if hasattr(model, "eval"):
        model.eval()
    starts = _FRESH.integers(0, len(held_out) - T - 1, size=_LM_TEST_WINDOWS)
    x = np.stack([held_out[s:s + T] for s in starts])
    y = np.stack([held_out[s + 1:s + T + 1] for s in starts])
    logits = _lm_logits(model, x, V, name="train_char_lm")
    # causality: changing the characters after position c must not change the predictions up to c
    cut = int(_FRESH.integers(4, T - 4))
    changed = x[:50].copy()
    changed[:, cut + 1:] = _FRESH.integers(0, V, size=changed[:, cut + 1:].shape)
    again = _lm_logits(model, changed, V, name="train_char_lm")
    if not np.allclose(again[:, :cut + 1], logits[:50, :cut + 1], rtol=1e-4, atol=1e-4):
        raise CheckFailed(
            f"the model's predictions at positions 0-{cut} change when only the characters after position {cut} "
            "change: it looks into the future, where the answers are. Mask the attention causally (and do not "
            "mix positions in any other way), so that position t sees only characters 0..t.")
    if not np.all(np.isfinite(logits)):
        raise CheckFailed("the model's logits on the held-out text hold NaN or infinity: the training diverged. "
                          "Lower the learning rate or clip the gradients.")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    cross_entropy = float(-np.take_along_axis(log_probs, y[..., None], axis=-1).mean())
    if cross_entropy > _LM_TARGET:
        raise CheckFailed(
            f"the model's cross-entropy on {_LM_TEST_WINDOWS} windows of held-out text it never saw is "
            f"{cross_entropy:.3f} nats per character; the target is at most {_LM_TARGET:.2f} ({report}).",
            advice="Measure on the validation windows while you work. A model that sees only the previous "
                   "character stops near 2.5; attention over the whole window, trained on every position, "
                   "goes well below the target within the budget.",
        )
