"""Chapter 9 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` (bugs people really write) fails with a message that names
the problem; the unfilled stub fails with "not written yet". ``tests/test_exercises.py``
reads ``WRONG_WITH_MESSAGES`` to prove that no check in the book is toothless.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
from torch import nn

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules


# --------------------------------------------------------------------------- reference answers
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


def bpe_merge_step(ids, new_id):
    counts = Counter(zip(ids, ids[1:]))
    pair = max(counts, key=counts.get)
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return pair, out


def top_p_filter(probs, p):
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    keep = sorted_probs.cumsum(dim=-1) - sorted_probs < p
    kept = sorted_probs * keep
    kept = kept / kept.sum(dim=-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, order, kept)


def attention_step(x_new, W_q, W_k, W_v, cache_k, cache_v):
    q = x_new @ W_q
    k = torch.cat([cache_k, (x_new @ W_k)[:, None]], dim=1)
    v = torch.cat([cache_v, (x_new @ W_v)[:, None]], dim=1)
    weights = torch.softmax(q[:, None] @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
    return (weights @ v)[:, 0], k, v


def lora_linear(x, W, b, A, B, alpha):
    return x @ W.T + b + (alpha / A.shape[0]) * (x @ A.T) @ B.T


def recall_at_k(scores, relevant, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([len(set(row) & set(rel)) / len(rel) for row, rel in zip(top.tolist(), relevant)]))


def sliding_window_mask(T, window):
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    return (j <= i) & (i - j < window)


class TinyGPT(nn.Module):
    def __init__(self, vocabulary=65, context=32, width=64, causal=True):
        super().__init__()
        self.causal = causal
        self.token = nn.Embedding(vocabulary, width)
        self.position = nn.Embedding(context, width)
        self.norm1, self.norm2, self.norm_out = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, 4, batch_first=True)
        self.feed_forward = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.head = nn.Linear(width, vocabulary)

    def forward(self, ids):
        T = ids.shape[1]
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1) if self.causal else None
        h = self.token(ids.long()) + self.position(torch.arange(T))
        a = self.norm1(h)
        h = h + self.attention(a, a, a, attn_mask=future, need_weights=False)[0]
        h = h + self.feed_forward(self.norm2(h))
        return self.head(self.norm_out(h))


def train_char_lm(data, causal=True, seed=0):
    torch.manual_seed(seed)
    model = TinyGPT(data.num_classes, data.input_shape[0], causal=causal)
    steps = data.examples_left // 64
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=steps)
    draws = np.random.default_rng(seed)
    for _ in range(steps):
        xb, yb = data.sample(64, seed=draws, tensors=True)
        loss = nn.functional.cross_entropy(model(xb.long()).reshape(-1, data.num_classes), yb.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


REFERENCE = {
    "9.1": attention,
    "9.2": multi_head_attention,
    "9.3": bpe_merge_step,
    "9.4": top_p_filter,
    "9.5": attention_step,
    "9.6": recall_at_k,
    "9.7": lora_linear,
    "9.8": patchify,
    "9.9": sliding_window_mask,
    "9.10": train_char_lm,
}


# --------------------------------------------------------------------------- wrong answers: 9.8
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


# --------------------------------------------------------------------------- wrong answers: 9.1
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


# --------------------------------------------------------------------------- wrong answers: 9.2
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


# --------------------------------------------------------------------------- wrong answers: 9.3
def merge_overlapping(ids, new_id):
    pair, _ = bpe_merge_step(ids, new_id)
    out = [new_id if (a, b) == pair else a for a, b in zip(ids, ids[1:])]
    return pair, out if (ids[-2], ids[-1]) == pair else out + [ids[-1]]


def merge_first_only(ids, new_id):
    pair, _ = bpe_merge_step(ids, new_id)
    i = next(i for i in range(len(ids) - 1) if (ids[i], ids[i + 1]) == pair)
    return pair, ids[:i] + [new_id] + ids[i + 2:]


def merge_skips_last_pair(ids, new_id):
    pair, _ = bpe_merge_step(ids, new_id)
    out, i = [], 0
    while i < len(ids):
        if i + 2 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return pair, out


def merge_tie_by_largest_pair(ids, new_id):
    counts = Counter(zip(ids, ids[1:]))
    top = max(counts.values())
    pair = max(p for p, n in counts.items() if n == top)
    return pair, _merge_given(ids, new_id, pair)


def _merge_given(ids, new_id, pair):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_counts_distinct_positions_only(ids, new_id):
    # counts each pair once, however often it occurs: picks the first pair of the list
    pair = (ids[0], ids[1])
    return pair, _merge_given(ids, new_id, pair)


def merge_in_place(ids, new_id):
    pair, out = bpe_merge_step(ids, new_id)
    ids[:] = out
    return pair, ids


# --------------------------------------------------------------------------- wrong answers: 9.4
def top_p_excludes_crossing(probs, p):
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    kept = sorted_probs * (sorted_probs.cumsum(dim=-1) <= p)
    kept = kept / kept.sum(dim=-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, order, kept)


def top_p_not_renormalised(probs, p):
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    kept = sorted_probs * (sorted_probs.cumsum(dim=-1) - sorted_probs < p)
    return torch.zeros_like(probs).scatter(-1, order, kept)


def top_p_sorted_order(probs, p):
    sorted_probs, _ = torch.sort(probs, dim=-1, descending=True)
    kept = sorted_probs * (sorted_probs.cumsum(dim=-1) - sorted_probs < p)
    return kept / kept.sum(dim=-1, keepdim=True)


def top_p_ascending(probs, p):
    sorted_probs, order = torch.sort(probs, dim=-1)
    kept = sorted_probs * (sorted_probs.cumsum(dim=-1) - sorted_probs < p)
    kept = kept / kept.sum(dim=-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, order, kept)


def top_p_in_place(probs, p):
    result = top_p_filter(probs, p)
    probs.copy_(result)
    return probs


# --------------------------------------------------------------------------- wrong answers: 9.5
def step_attends_to_past_only(x_new, W_q, W_k, W_v, cache_k, cache_v):
    q = x_new @ W_q
    weights = torch.softmax(q[:, None] @ cache_k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
    k = torch.cat([cache_k, (x_new @ W_k)[:, None]], dim=1)
    v = torch.cat([cache_v, (x_new @ W_v)[:, None]], dim=1)
    return (weights @ cache_v)[:, 0], k, v


def step_without_scale(x_new, W_q, W_k, W_v, cache_k, cache_v):
    q = x_new @ W_q
    k = torch.cat([cache_k, (x_new @ W_k)[:, None]], dim=1)
    v = torch.cat([cache_v, (x_new @ W_v)[:, None]], dim=1)
    weights = torch.softmax(q[:, None] @ k.transpose(1, 2), dim=-1)
    return (weights @ v)[:, 0], k, v


def step_returns_old_cache(x_new, W_q, W_k, W_v, cache_k, cache_v):
    out, _, _ = attention_step(x_new, W_q, W_k, W_v, cache_k, cache_v)
    return out, cache_k, cache_v


def step_prepends(x_new, W_q, W_k, W_v, cache_k, cache_v):
    out, k, v = attention_step(x_new, W_q, W_k, W_v, cache_k, cache_v)
    return out, torch.cat([k[:, -1:], k[:, :-1]], dim=1), torch.cat([v[:, -1:], v[:, :-1]], dim=1)


def step_scaled_by_length(x_new, W_q, W_k, W_v, cache_k, cache_v):
    q = x_new @ W_q
    k = torch.cat([cache_k, (x_new @ W_k)[:, None]], dim=1)
    v = torch.cat([cache_v, (x_new @ W_v)[:, None]], dim=1)
    weights = torch.softmax(q[:, None] @ k.transpose(1, 2) / math.sqrt(k.shape[1]), dim=-1)
    return (weights @ v)[:, 0], k, v


# --------------------------------------------------------------------------- wrong answers: 9.7
def lora_scaled_by_alpha(x, W, b, A, B, alpha):
    return x @ W.T + b + alpha * (x @ A.T) @ B.T


def lora_scaled_by_r_over_alpha(x, W, b, A, B, alpha):
    return x @ W.T + b + (A.shape[0] / alpha) * (x @ A.T) @ B.T


def lora_unscaled(x, W, b, A, B, alpha):
    return x @ W.T + b + (x @ A.T) @ B.T


def lora_without_base(x, W, b, A, B, alpha):
    return b + (alpha / A.shape[0]) * (x @ A.T) @ B.T


def lora_without_bias(x, W, b, A, B, alpha):
    return x @ W.T + (alpha / A.shape[0]) * (x @ A.T) @ B.T


def lora_base_only(x, W, b, A, B, alpha):
    return x @ W.T + b


# --------------------------------------------------------------------------- wrong answers: 9.6
def recall_hit_rate(scores, relevant, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([len(set(row) & set(rel)) > 0 for row, rel in zip(top.tolist(), relevant)]))


def recall_precision(scores, relevant, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([len(set(row) & set(rel)) / k for row, rel in zip(top.tolist(), relevant)]))


def recall_least_similar(scores, relevant, k):
    top = np.argsort(scores, axis=1)[:, :k]
    return float(np.mean([len(set(row) & set(rel)) / len(rel) for row, rel in zip(top.tolist(), relevant)]))


def recall_off_by_one(scores, relevant, k):
    top = np.argsort(-scores, axis=1)[:, :k + 1]
    return float(np.mean([len(set(row) & set(rel)) / len(rel) for row, rel in zip(top.tolist(), relevant)]))


def recall_wrong_axis(scores, relevant, k):
    top = np.argsort(-scores, axis=0).T[:, :k]
    return float(np.mean([len(set(row) & set(rel)) / len(rel) for row, rel in zip(top.tolist(), relevant)]))


def top_p_keeps_at_exactly_p(probs, p):
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    kept = sorted_probs * (sorted_probs.cumsum(dim=-1) - sorted_probs <= p)
    kept = kept / kept.sum(dim=-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, order, kept)


def lora_integer_scale(x, W, b, A, B, alpha):
    return x @ W.T + b + (alpha // A.shape[0]) * (x @ A.T) @ B.T


# --------------------------------------------------------------------------- wrong answers: 9.9
def window_inclusive(T, window):
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    return (j <= i) & (i - j <= window)


def window_two_sided(T, window):
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    return (i - j).abs() < window


def window_transposed(T, window):
    return sliding_window_mask(T, window).T


def window_without_self(T, window):
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    return (j < i) & (i - j <= window)


def window_plain_causal(T, window):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


def window_as_floats(T, window):
    return sliding_window_mask(T, window).float()


def window_additive_scores(T, window):
    return torch.zeros(T, T).masked_fill(~sliding_window_mask(T, window), float("-inf"))


# --------------------------------------------------------------------------- wrong answers: 9.10
def lm_two_passes(data):                 # over the budget: 2 x 28,233 windows
    for _ in range(2):
        for _ in data.batches(4096):
            pass
    return TinyGPT()


def lm_too_wide(data):                   # width 128: about 220,000 numbers
    data.sample(10)
    return TinyGPT(width=128)


def lm_memorises(data):                  # keeps every training window in a closure
    X, y = data.sample(len(data))

    def model(ids):
        return torch.zeros(*ids.shape, 65)

    model.kept = (X, y)
    return lambda ids: model(ids) + 0 * float(X[0, 0] + y[0, 0])


def lm_loads_the_text(data):
    import dlcourse_utils as dl

    dl.data.load_tiny_shakespeare(progress=False)
    return TinyGPT()


def lm_unigram(data):                    # character frequencies only: about 3.3 nats per character
    _, y = data.sample(5000)
    log_p = torch.log(torch.as_tensor(np.bincount(y.ravel().astype(int), minlength=65) + 1.0))
    table = log_p - torch.logsumexp(log_p, 0)
    return lambda ids: table.expand(*ids.shape, 65)


def lm_bigram(data):                     # the previous character only: about 2.5 nats per character
    X, y = data.sample(20000)
    counts = np.ones((65, 65))
    np.add.at(counts, (X.astype(int).ravel(), y.astype(int).ravel()), 1)
    table = torch.as_tensor(np.log(counts / counts.sum(1, keepdims=True)), dtype=torch.float32)
    return lambda ids: table[ids.long()]


def lm_peeks_at_the_future(data):        # no causal mask: reads the next character from the input
    data.sample(10)
    model = TinyGPT(causal=False)
    return model.eval()


def lm_returns_none(data):
    data.sample(10)


def lm_wrong_shape(data):                # one prediction per window, not per position
    data.sample(10)
    inner = TinyGPT()
    return lambda ids: inner(ids)[:, -1]


WRONG_WITH_MESSAGES = {
    "9.8": [
        (patchify_without_permute, "without reordering the axes"),
        (patchify_column_major, "column-major order"),
        (patchify_pixels_by_column, "flattened column by column"),
        (patchify_axes_swapped, "the last two axes are swapped"),
    ],
    "9.1": [
        (attention_buggy, "not divided by sqrt(d_k)"),
        (attention_divided_by_d, "divided by d_k; divide by its square root"),
        (attention_scaled_by_length, "square root of the sequence length"),
        (attention_softmax_over_queries, "softmax runs over the queries"),
        (attention_returns_output_only, "should return 2 things"),
        (attention_mask_ignored, "the mask is ignored"),
    ],
    "9.2": [
        (mha_bad_split, "view(B, h, T, d)"),
        (mha_scaled_by_width, "divided by sqrt(C)"),
        (mha_bad_merge, "without transpose(1, 2) first"),
        (mha_without_output_projection, "output projection W_o is missing"),
        (mha_pytorch_weights_convention, "nn.Linear's convention"),
    ],
    "9.3": [
        (merge_overlapping, "merges overlapping occurrences"),
        (merge_first_only, "replaces only the first occurrence"),
        (merge_skips_last_pair, "never merges the last pair"),
        (merge_tie_by_largest_pair, "on a tie"),
        (merge_counts_distinct_positions_only, "the most frequent pair is"),
        (merge_in_place, "changed its argument number 1 in place"),
    ],
    "9.4": [
        (top_p_excludes_crossing, "carries the total past p"),
        (top_p_not_renormalised, "not renormalised"),
        (top_p_sorted_order, "in sorted order"),
        (top_p_ascending, "LEAST likely"),
        (top_p_in_place, "in place"),
        (top_p_keeps_at_exactly_p, "reach p exactly"),
    ],
    "9.5": [
        (step_attends_to_past_only, "does not attend to itself"),
        (step_without_scale, "not divided by sqrt(d)"),
        (step_scaled_by_length, "number of cached positions"),
        (step_returns_old_cache, "is the old cache"),
        (step_prepends, "put at the front"),
    ],
    "9.7": [
        (lora_scaled_by_alpha, "scaled by alpha; scale it by alpha / r"),
        (lora_scaled_by_r_over_alpha, "scaled by r / alpha"),
        (lora_unscaled, "not scaled"),
        (lora_without_base, "frozen weight W is missing"),
        (lora_without_bias, "bias b"),
        (lora_base_only, "correction is missing"),
        (lora_integer_scale, "integer division"),
    ],
    "9.6": [
        (recall_hit_rate, "hit rate"),
        (recall_precision, "precision@k"),
        (recall_least_similar, "LEAST similar"),
        (recall_off_by_one, "top k + 1"),
        (recall_wrong_axis, "wrong axis"),
    ],
    "9.9": [
        (window_inclusive, "window + 1 keys"),
        (window_two_sided, "in the future"),
        (window_transposed, "transposed"),
        (window_without_self, "cannot see its own position"),
        (window_plain_causal, "plain causal mask"),
        (window_as_floats, "return a boolean mask"),
        (window_additive_scores, "return a boolean mask"),
    ],
    "9.10": [
        (lm_two_passes, "budget of 32,000 training examples"),
        (lm_too_wide, "the budget is 80,000"),
        (lm_memorises, "do not keep training examples inside the model"),
        (lm_loads_the_text, "never load a data set itself"),
        (lm_unigram, "the target is at most 2.15"),
        (lm_bigram, "the target is at most 2.15"),
        (lm_peeks_at_the_future, "looks into the future"),
        (lm_returns_none, "returned None"),
        (lm_wrong_shape, "logits of shape (400, 32, 65)"),
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

    assert grade("9.1", with_sdpa).passed


def test_an_mha_built_from_the_chapters_module_layout_passes():
    def mha_with_linear_layers(x, W_q, W_k, W_v, W_o, num_heads, mask=None):
        B, T, C = x.shape
        layer = nn.MultiheadAttention(C, num_heads, bias=False, batch_first=True)
        with torch.no_grad():
            layer.in_proj_weight.copy_(torch.cat([W_q.T, W_k.T, W_v.T]))
            layer.out_proj.weight.copy_(W_o.T)
        out, _ = layer(x, x, x, attn_mask=None if mask is None else ~mask)
        return out

    assert grade("9.2", mha_with_linear_layers).passed


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    "9.4": {
        "line 7:43: drop unary minus": "scatter(1, ...) instead of scatter(-1, ...): probs has shape (N, V) as the "
                                      "exercise states, so axis 1 is the last axis",
    },
    "9.5": {
        "line 6:70: drop unary minus": "q.shape[1] instead of q.shape[-1]: q = x_new @ W_q has shape (B, d), so "
                                      "both are d",
        "line 8:34: 0 -> -1": "(weights @ cache_v)[:, -1] instead of [:, 0]: the query axis has length 1, so "
                              "index 0 and index -1 are the same row",
    },
}
