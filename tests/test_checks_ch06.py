"""Chapter 6 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` (the bugs people really write) fails with a message that
names the problem; the unfilled stub fails with "not written yet".
``tests/test_exercises.py`` reads ``WRONG_WITH_MESSAGES`` too.
"""
from __future__ import annotations


import numpy as np
import torch
from nltk.stem import PorterStemmer
from nltk.tokenize import RegexpTokenizer
from torch import nn

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules, unfilled

_TOKENIZER = RegexpTokenizer(r"[a-z0-9]+(?:'[a-z]+)?")
_STEMMER = PorterStemmer()


def _sig(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


# --------------------------------------------------------------------------- reference answers
def rnn_forward(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(X.shape[1]):
        h = np.tanh(X[:, t] @ W_xh + h @ W_hh + b_h)
        states.append(h)
    return np.stack(states, axis=1)


def clean_text(text, stop_words):
    return [_STEMMER.stem(t) for t in _TOKENIZER.tokenize(text.lower()) if t not in stop_words]


def encode_and_pad(token_lists, stoi, max_len):
    ids = np.zeros((len(token_lists), max_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        encoded = [stoi.get(t, 1) for t in tokens][:max_len]
        ids[row, :len(encoded)] = encoded
    return ids, ids != 0


def lstm_cell(x_t, h_prev, c_prev, W, U, b):
    i, f, g, o = np.split(x_t @ W + h_prev @ U + b, 4, axis=1)
    c_t = _sig(f) * c_prev + _sig(i) * np.tanh(g)
    return _sig(o) * np.tanh(c_t), c_t


def clip_by_global_norm(grads, max_norm):
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    scale = min(1.0, max_norm / total)
    return {k: g * scale for k, g in grads.items()}, total


def last_real_state(lstm, embedded, lengths):
    output, _ = lstm(embedded)
    return output[torch.arange(len(lengths)), lengths - 1]


def rnn_backward(dH, X, h0, states, W_xh, W_hh):
    N, T, H = states.shape
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(H)
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        delta = (dH[:, t] + dh_next) * (1 - states[:, t] ** 2)
        h_prev = states[:, t - 1] if t > 0 else h0
        dW_xh += X[:, t].T @ delta
        dW_hh += h_prev.T @ delta
        db_h += delta.sum(axis=0)
        dh_next = delta @ W_hh.T
    return dW_xh, dW_hh, db_h


def beam_search(next_log_probs, start, end, beam_width, max_len):
    beams, finished = [((start,), 0.0)], []
    for _ in range(max_len):
        candidates = [(seq + (token,), score + float(lp))
                      for seq, score in beams for token, lp in enumerate(next_log_probs(seq))]
        candidates.sort(key=lambda c: (-c[1], c[0]))
        beams = []
        for seq, score in candidates[:beam_width]:
            (finished if seq[-1] == end else beams).append((seq, score))
        if not beams:
            break
    seq, score = min(finished + beams, key=lambda c: (-c[1], c[0]))
    return list(seq[1:]), score


def birnn_forward(X, lengths, fwd, bwd):
    N, T, _ = X.shape
    H = fwd[1].shape[0]
    out = np.zeros((N, T, 2 * H))
    for n in range(N):
        L = int(lengths[n])
        forward = rnn_forward(X[n:n + 1, :L], np.zeros((1, H)), *fwd)[0]
        backward = rnn_forward(X[n:n + 1, :L][:, ::-1], np.zeros((1, H)), *bwd)[0][::-1]
        out[n, :L] = np.concatenate([forward, backward], axis=1)
    return out


REFERENCE = {
    "6.1": rnn_forward,
    "6.2": clean_text,
    "6.3": encode_and_pad,
    "6.4": lstm_cell,
    "6.5": clip_by_global_norm,
    "6.6": last_real_state,
    "6.7": rnn_backward,
    "6.8": beam_search,
    "6.9": birnn_forward,
}


# --------------------------------------------------------------------------- wrong answers: 6.1
def rnn_forward_last_state_only(X, h0, W_xh, W_hh, b_h):
    return rnn_forward(X, h0, W_xh, W_hh, b_h)[:, -1]


def rnn_forward_time_first(X, h0, W_xh, W_hh, b_h):
    return np.stack(list(np.moveaxis(rnn_forward(X, h0, W_xh, W_hh, b_h), 1, 0)), axis=0)


def rnn_forward_no_recurrence(X, h0, W_xh, W_hh, b_h):
    return np.tanh(X @ W_xh + b_h)


def rnn_forward_never_updates_h(X, h0, W_xh, W_hh, b_h):
    return np.stack([np.tanh(X[:, t] @ W_xh + h0 @ W_hh + b_h) for t in range(X.shape[1])], axis=1)


def rnn_forward_without_tanh(X, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(X.shape[1]):
        h = X[:, t] @ W_xh + h @ W_hh + b_h
        states.append(h)
    return np.stack(states, axis=1)


def rnn_forward_transposed_w_hh(X, h0, W_xh, W_hh, b_h):
    return rnn_forward(X, h0, W_xh, W_hh.T, b_h)


def rnn_forward_ignores_h0(X, h0, W_xh, W_hh, b_h):
    return rnn_forward(X, np.zeros_like(h0), W_xh, W_hh, b_h)


def rnn_forward_includes_h0(X, h0, W_xh, W_hh, b_h):
    return np.concatenate([h0[:, None], rnn_forward(X, h0, W_xh, W_hh, b_h)], axis=1)


# --------------------------------------------------------------------------- wrong answers: 6.2
def clean_text_no_lowercase(text, stop_words):
    return [_STEMMER.stem(t) for t in RegexpTokenizer(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?").tokenize(text)
            if t not in stop_words]


def clean_text_stems_first(text, stop_words):
    stems = [_STEMMER.stem(t) for t in _TOKENIZER.tokenize(text.lower())]
    return [s for s in stems if s not in stop_words]


def clean_text_str_split(text, stop_words):
    return [_STEMMER.stem(t) for t in text.lower().split() if t not in stop_words]


def clean_text_no_stemming(text, stop_words):
    return [t for t in _TOKENIZER.tokenize(text.lower()) if t not in stop_words]


def clean_text_keeps_stop_words(text, stop_words):
    return [_STEMMER.stem(t) for t in _TOKENIZER.tokenize(text.lower())]


def clean_text_uses_its_own_list(text, stop_words):
    own = {"the", "and", "was", "at", "all", "a", "is", "not", "no", "this", "i", "it", "me", "of"}
    return [_STEMMER.stem(t) for t in _TOKENIZER.tokenize(text.lower()) if t not in own]


def clean_text_returns_string(text, stop_words):
    return " ".join(clean_text(text, stop_words))


# --------------------------------------------------------------------------- wrong answers: 6.3
def pad_at_front(token_lists, stoi, max_len):
    ids = np.zeros((len(token_lists), max_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        encoded = [stoi.get(t, 1) for t in tokens][:max_len]
        if encoded:
            ids[row, max_len - len(encoded):] = encoded
    return ids, ids != 0


def pad_keeps_last_tokens(token_lists, stoi, max_len):
    ids = np.zeros((len(token_lists), max_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        encoded = [stoi.get(t, 1) for t in tokens][-max_len:]
        ids[row, :len(encoded)] = encoded
    return ids, ids != 0


def pad_unknown_as_padding(token_lists, stoi, max_len):
    ids = np.zeros((len(token_lists), max_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        encoded = [stoi.get(t, 0) for t in tokens][:max_len]
        ids[row, :len(encoded)] = encoded
    return ids, ids != 0


def pad_no_truncation(token_lists, stoi, max_len):
    longest = max(max_len, max(len(t) for t in token_lists))
    return encode_and_pad(token_lists, stoi, longest)


def pad_inverted_mask(token_lists, stoi, max_len):
    ids, mask = encode_and_pad(token_lists, stoi, max_len)
    return ids, ids == 0


def pad_float_ids(token_lists, stoi, max_len):
    ids, mask = encode_and_pad(token_lists, stoi, max_len)
    return ids.astype(float), mask


def pad_integer_mask(token_lists, stoi, max_len):
    ids, mask = encode_and_pad(token_lists, stoi, max_len)
    return ids, mask.astype(int)


# --------------------------------------------------------------------------- wrong answers: 6.4
def _lstm_variant(x_t, h_prev, c_prev, W, U, b, order, g_act=np.tanh, squash_c=True):
    blocks = np.split(x_t @ W + h_prev @ U + b, 4, axis=1)
    i, f, g, o = (blocks[k] for k in order)
    c_t = _sig(f) * c_prev + _sig(i) * g_act(g)
    return _sig(o) * (np.tanh(c_t) if squash_c else c_t), c_t


def lstm_input_forget_swapped(x_t, h_prev, c_prev, W, U, b):
    return _lstm_variant(x_t, h_prev, c_prev, W, U, b, (1, 0, 2, 3))


def lstm_keras_like_ifog(x_t, h_prev, c_prev, W, U, b):
    return _lstm_variant(x_t, h_prev, c_prev, W, U, b, (0, 1, 3, 2))


def lstm_sigmoid_candidate(x_t, h_prev, c_prev, W, U, b):
    return _lstm_variant(x_t, h_prev, c_prev, W, U, b, (0, 1, 2, 3), g_act=_sig)


def lstm_unsquashed_output(x_t, h_prev, c_prev, W, U, b):
    return _lstm_variant(x_t, h_prev, c_prev, W, U, b, (0, 1, 2, 3), squash_c=False)


def lstm_returns_c_then_h(x_t, h_prev, c_prev, W, U, b):
    h_t, c_t = lstm_cell(x_t, h_prev, c_prev, W, U, b)
    return c_t, h_t


def lstm_forgets_recurrent_input(x_t, h_prev, c_prev, W, U, b):
    return lstm_cell(x_t, np.zeros_like(h_prev), c_prev, W, U, b)


# --------------------------------------------------------------------------- wrong answers: 6.5
def clip_each_array(grads, max_norm):
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    return {k: g * min(1.0, max_norm / np.linalg.norm(g)) for k, g in grads.items()}, total


def clip_always_rescales(grads, max_norm):
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    return {k: g * max_norm / total for k, g in grads.items()}, total


def clip_by_value(grads, max_norm):
    total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    return {k: np.clip(g, -max_norm, max_norm) for k, g in grads.items()}, total


def clip_reports_norm_after(grads, max_norm):
    clipped, total = clip_by_global_norm(grads, max_norm)
    return clipped, min(total, max_norm)


def clip_sums_the_norms(grads, max_norm):
    total = sum(np.linalg.norm(g) for g in grads.values())
    scale = min(1.0, max_norm / total)
    return {k: g * scale for k, g in grads.items()}, total


def clip_returns_only_grads(grads, max_norm):
    return clip_by_global_norm(grads, max_norm)[0]


# --------------------------------------------------------------------------- wrong answers: 6.6
def last_state_reads_padding(lstm, embedded, lengths):       # the bug the exercise hands out
    output, (h_n, c_n) = lstm(embedded)
    return h_n[-1]


def last_state_last_position(lstm, embedded, lengths):
    output, _ = lstm(embedded)
    return output[:, -1]


def last_state_off_by_one(lstm, embedded, lengths):
    output, _ = lstm(embedded)
    return output[torch.arange(len(lengths)), lengths.clamp(max=embedded.shape[1] - 1)]


def last_state_pack_needs_sorting(lstm, embedded, lengths):
    packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True)
    _, (h_n, _) = lstm(packed)
    return h_n[-1]


def last_state_mean_of_everything(lstm, embedded, lengths):
    output, _ = lstm(embedded)
    return output.mean(dim=1)


def last_state_returns_tuple(lstm, embedded, lengths):
    return lstm(embedded)[1]


# --------------------------------------------------------------------------- wrong answers: 6.7
def _bptt_variant(dH, X, h0, states, W_xh, W_hh, carry=True, tanh_grad=True, pair_prev=True,
                  start_h0=True, transpose=True):
    N, T, H = states.shape
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(H)
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dh = dH[:, t] + (dh_next if carry else 0)
        delta = dh * (1 - states[:, t] ** 2) if tanh_grad else dh
        h_prev = states[:, t - 1] if t > 0 else (h0 if start_h0 else np.zeros_like(h0))
        dW_xh += X[:, t].T @ delta
        dW_hh += (h_prev if pair_prev else states[:, t]).T @ delta
        db_h += delta.sum(axis=0)
        dh_next = delta @ (W_hh.T if transpose else W_hh)
    return dW_xh, dW_hh, db_h


def bptt_no_carry(dH, X, h0, states, W_xh, W_hh):
    return _bptt_variant(dH, X, h0, states, W_xh, W_hh, carry=False)


def bptt_no_tanh_derivative(dH, X, h0, states, W_xh, W_hh):
    return _bptt_variant(dH, X, h0, states, W_xh, W_hh, tanh_grad=False)


def bptt_pairs_current_state(dH, X, h0, states, W_xh, W_hh):
    return _bptt_variant(dH, X, h0, states, W_xh, W_hh, pair_prev=False)


def bptt_forgets_h0(dH, X, h0, states, W_xh, W_hh):
    return _bptt_variant(dH, X, h0, states, W_xh, W_hh, start_h0=False)


def bptt_untransposed(dH, X, h0, states, W_xh, W_hh):
    return _bptt_variant(dH, X, h0, states, W_xh, W_hh, transpose=False)


def bptt_returns_dict(dH, X, h0, states, W_xh, W_hh):
    return dict(zip(("W_xh", "W_hh", "b_h"), rnn_backward(dH, X, h0, states, W_xh, W_hh)))


# --------------------------------------------------------------------------- wrong answers: 6.8
def _beam_variant(next_log_probs, start, end, beam_width, max_len, keep_finished=True, extend_finished=False,
                  normalise=False, larger_first=False, with_start=False):
    def key(c):
        value = c[1] / (len(c[0]) - 1) if normalise else c[1]
        return (-value, tuple(-t for t in c[0]) if larger_first else c[0])

    beams, finished = [((start,), 0.0)], []
    for _ in range(max_len):
        candidates = [(seq + (token,), score + float(lp))
                      for seq, score in beams for token, lp in enumerate(next_log_probs(seq))]
        candidates.sort(key=key)
        beams = []
        for seq, score in candidates[:beam_width]:
            (finished if seq[-1] == end and not extend_finished else beams).append((seq, score))
        if not beams:
            break
    seq, score = min(finished + beams if keep_finished else (beams or finished), key=key)
    return list(seq if with_start else seq[1:]), score


def beam_greedy(next_log_probs, start, end, beam_width, max_len):
    return _beam_variant(next_log_probs, start, end, 1, max_len)


def beam_forgets_finished(next_log_probs, start, end, beam_width, max_len):
    return _beam_variant(next_log_probs, start, end, beam_width, max_len, keep_finished=False)


def beam_extends_past_end(next_log_probs, start, end, beam_width, max_len):
    return _beam_variant(next_log_probs, start, end, beam_width, max_len, extend_finished=True)


def beam_length_normalised(next_log_probs, start, end, beam_width, max_len):
    return _beam_variant(next_log_probs, start, end, beam_width, max_len, normalise=True)


def beam_ties_to_larger(next_log_probs, start, end, beam_width, max_len):
    return _beam_variant(next_log_probs, start, end, beam_width, max_len, larger_first=True)


def beam_keeps_start(next_log_probs, start, end, beam_width, max_len):
    return _beam_variant(next_log_probs, start, end, beam_width, max_len, with_start=True)


def beam_multiplies_log_probs(next_log_probs, start, end, beam_width, max_len):
    beams, finished = [((start,), 1.0)], []
    for _ in range(max_len):
        candidates = [(seq + (token,), score * float(lp))
                      for seq, score in beams for token, lp in enumerate(next_log_probs(seq))]
        candidates.sort(key=lambda c: (-c[1], c[0]))
        beams = []
        for seq, score in candidates[:beam_width]:
            (finished if seq[-1] == end else beams).append((seq, score))
        if not beams:
            break
    seq, score = min(finished + beams, key=lambda c: (-c[1], c[0]))
    return list(seq[1:]), score


def beam_scores_last_token_only(next_log_probs, start, end, beam_width, max_len):
    beams, finished = [((start,), 0.0)], []
    for _ in range(max_len):
        candidates = [(seq + (token,), float(lp))
                      for seq, score in beams for token, lp in enumerate(next_log_probs(seq))]
        candidates.sort(key=lambda c: (-c[1], c[0]))
        beams = []
        for seq, score in candidates[:beam_width]:
            (finished if seq[-1] == end else beams).append((seq, score))
        if not beams:
            break
    seq, score = min(finished + beams, key=lambda c: (-c[1], c[0]))
    return list(seq[1:]), score


# --------------------------------------------------------------------------- wrong answers: 6.9
def birnn_unreversed_backward(X, lengths, fwd, bwd):
    N, T, _ = X.shape
    H = fwd[1].shape[0]
    out = np.zeros((N, T, 2 * H))
    for n in range(N):
        L = int(lengths[n])
        forward = rnn_forward(X[n:n + 1, :L], np.zeros((1, H)), *fwd)[0]
        backward = rnn_forward(X[n:n + 1, :L][:, ::-1], np.zeros((1, H)), *bwd)[0]
        out[n, :L] = np.concatenate([forward, backward], axis=1)
    return out


def birnn_reads_padding_backwards(X, lengths, fwd, bwd):
    N, T, _ = X.shape
    H = fwd[1].shape[0]
    forward = rnn_forward(X, np.zeros((N, H)), *fwd)
    backward = rnn_forward(X[:, ::-1], np.zeros((N, H)), *bwd)[:, ::-1]
    out = np.concatenate([forward, backward], axis=2)
    out[np.arange(T)[None, :] >= np.asarray(lengths)[:, None]] = 0
    return out


def birnn_backward_first(X, lengths, fwd, bwd):
    H = fwd[1].shape[0]
    out = birnn_forward(X, lengths, fwd, bwd)
    return np.concatenate([out[..., H:], out[..., :H]], axis=2)


def birnn_shared_weights(X, lengths, fwd, bwd):
    return birnn_forward(X, lengths, fwd, fwd)


def birnn_padding_not_zeroed(X, lengths, fwd, bwd):
    N, T, _ = X.shape
    H = fwd[1].shape[0]
    out = birnn_forward(X, lengths, fwd, bwd)
    out[..., :H] = np.where(out[..., :H] == 0, rnn_forward(X, np.zeros((N, H)), *fwd), out[..., :H])
    return out


def birnn_forward_only(X, lengths, fwd, bwd):
    H = fwd[1].shape[0]
    return birnn_forward(X, lengths, fwd, bwd)[..., :H]


def birnn_final_states(X, lengths, fwd, bwd):
    out = birnn_forward(X, lengths, fwd, bwd)
    H = fwd[1].shape[0]
    last = out[np.arange(len(X)), np.asarray(lengths) - 1, :H]
    return np.concatenate([last, out[:, 0, H:]], axis=1)


# --------------------------------------------------------------------------- 6.10: train functions
class _MeanEmbedding(nn.Module):
    def __init__(self, vocab_size, width=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, width, padding_idx=0)
        self.head = nn.Linear(width, 1)

    def forward(self, ids):
        mask = (ids != 0).unsqueeze(-1).float()
        mean = (self.embedding(ids) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return self.head(mean).squeeze(1)


def train_sentiment(data, seed=0):
    """The reference answer to 6.10: a masked mean of 2-wide embeddings and a linear layer."""
    from dlcourse_utils.checks.ch06 import review_vocabulary

    torch.manual_seed(seed)
    model = _MeanEmbedding(len(review_vocabulary()))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for epoch in range(data.examples_left // len(data)):
        for xb, yb in data.batches(32, seed=100 * seed + epoch):
            loss = nn.functional.binary_cross_entropy_with_logits(model(torch.from_numpy(xb)),
                                                                  torch.from_numpy(yb).float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def train_sentiment_too_long(data):
    model = train_sentiment(data)
    next(data.batches(32))
    return model


def train_sentiment_too_big(data):
    from dlcourse_utils.checks.ch06 import review_vocabulary

    next(data.batches(32))
    return _MeanEmbedding(len(review_vocabulary()), width=32)


class _ReviewMemoriser(nn.Module):
    def __init__(self, X, y):
        super().__init__()
        self.register_buffer("X", X)
        self.register_buffer("y", y)

    def forward(self, ids):
        overlap = torch.stack([(self.X == row).float().sum(dim=1) for row in ids])
        return self.y[overlap.argmax(dim=1)].float() - 0.5


def train_sentiment_memorises(data):
    xs, ys = zip(*data.batches(400))
    return _ReviewMemoriser(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)))


def train_sentiment_loads_reviews(data):
    from dlcourse_utils.data import load_movie_reviews

    load_movie_reviews()
    return _MeanEmbedding(10)


def train_sentiment_untrained(data):
    from dlcourse_utils.checks.ch06 import review_vocabulary

    next(data.batches(32))
    torch.manual_seed(3)
    return _MeanEmbedding(len(review_vocabulary()))


def train_sentiment_returns_nothing(data):
    next(data.batches(32))


def train_sentiment_returns_weights(data):
    return dict(train_sentiment(data).state_dict())


# (wrong answer, a substring its failure message must contain)
WRONG_WITH_MESSAGES = {
    "6.1": [
        (rnn_forward_last_state_only, "only the last state"),
        (rnn_forward_time_first, "time comes first"),
        (rnn_forward_no_recurrence, "ignores the previous state"),
        (rnn_forward_never_updates_h, "starts again from h0"),
        (rnn_forward_without_tanh, "the tanh is missing"),
        (rnn_forward_transposed_w_hh, "W_hh is transposed"),
        (rnn_forward_ignores_h0, "start from zeros"),
        (rnn_forward_includes_h0, "one state too many"),
    ],
    "6.2": [
        (clean_text_no_lowercase, "Lower-case the text first"),
        (clean_text_stems_first, "Remove stop words first, then stem"),
        (clean_text_str_split, "not str.split()"),
        (clean_text_no_stemming, "not stemmed"),
        (clean_text_keeps_stop_words, "the stop words are still there"),
        (clean_text_uses_its_own_list, "does not use the stop_words it was given"),
        (clean_text_returns_string, "returned a string"),
    ],
    "6.3": [
        (pad_at_front, "the padding is at the front"),
        (pad_keeps_last_tokens, "Keep the first max_len"),
        (pad_unknown_as_padding, "Map them to 1"),
        (pad_no_truncation, "Truncate every sequence"),
        (pad_inverted_mask, "mask from"),
        (pad_float_ids, "must be integers"),
        (pad_integer_mask, "make it boolean"),
    ],
    "6.4": [
        (lstm_input_forget_swapped, "input and forget gates are swapped"),
        (lstm_keras_like_ifog, "candidate and output blocks are swapped"),
        (lstm_sigmoid_candidate, "candidate uses tanh"),
        (lstm_unsquashed_output, "o * tanh(c_t)"),
        (lstm_returns_c_then_h, "swapped. Return them in the order (h_t, c_t)"),
        (lstm_forgets_recurrent_input, "c_t from"),
    ],
    "6.5": [
        (clip_each_array, "each array was clipped on its own"),
        (clip_always_rescales, "already short enough"),
        (clip_by_value, "changes the direction"),
        (clip_reports_norm_after, "norm before clipping"),
        (clip_sums_the_norms, "sum of all squares"),
        (clip_returns_only_grads, "should return 2 things"),
    ],
    "6.6": [
        (last_state_reads_padding, "read the padding"),
        (last_state_last_position, "read the padding"),
        (last_state_off_by_one, "one step *after*"),
        (last_state_pack_needs_sorting, "raised RuntimeError"),
        (last_state_mean_of_everything, "averages over all positions"),
        (last_state_returns_tuple, "returned a tuple"),
    ],
    "6.7": [
        (bptt_no_carry, "arrives from step t+1"),
        (bptt_no_tanh_derivative, "tanh derivative is missing"),
        (bptt_pairs_current_state, "h_{t-1}"),
        (bptt_forgets_h0, "previous state is h0"),
        (bptt_untransposed, "W_hh.T"),
        (bptt_returns_dict, "should return 3 things"),
    ],
    "6.8": [
        (beam_greedy, "greedy decoding"),
        (beam_forgets_finished, "must stay a candidate"),
        (beam_extends_past_end, "never extend it past the end token"),
        (beam_length_normalised, "divided by the length"),
        (beam_ties_to_larger, "smaller sequence must win"),
        (beam_keeps_start, "leave the start token out"),
        (beam_multiplies_log_probs, "beam_search on"),
        (beam_scores_last_token_only, "beam_search on"),
    ],
    "6.9": [
        (birnn_unreversed_backward, "Reverse them back"),
        (birnn_reads_padding_backwards, "reads the padding first"),
        (birnn_backward_first, "halves are swapped"),
        (birnn_shared_weights, "backward direction uses the forward weights"),
        (birnn_padding_not_zeroed, "must be 0"),
        (birnn_forward_only, "2H numbers"),
        (birnn_final_states, "one vector per sequence"),
    ],
    "6.10": [
        (train_sentiment_too_long, "more than its budget of 24,000"),
        (train_sentiment_too_big, "the budget is 50,000"),
        (train_sentiment_memorises, "the budget is 50,000"),
        (train_sentiment_loads_reviews, "never load a data set itself"),
        (train_sentiment_untrained, "must reach 0.75"),
        (train_sentiment_returns_nothing, "returned None"),
        (train_sentiment_returns_weights, "should return the trained PyTorch model"),
        (_MeanEmbedding(10), "pass the function train_sentiment itself"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES
    stubs = {"6.10": unfilled}


def test_the_reference_training_passes_6_10():
    result = grade("6.10", train_sentiment)
    assert result.passed, result.message


def test_challenge_data_6_10_holds_padded_ids_of_the_training_reviews_only():
    from dlcourse_utils.checks.challenge import challenge_data
    from dlcourse_utils.checks.ch06 import review_vocabulary

    data, (X_val, y_val) = challenge_data("6.10")
    assert len(data) == 1_200 and data.input_shape == (400,) and X_val.shape == (300, 400)
    assert data.examples_left == 24_000 and data.num_classes == 2
    assert data._X.dtype == np.int64 and data._X.max() < len(review_vocabulary())
    assert not {x.tobytes() for x in data._X} & {x.tobytes() for x in X_val}


def test_a_beam_search_with_heapq_is_accepted():
    import heapq

    def beam(next_log_probs, start, end, beam_width, max_len):
        beams, finished = [(0.0, (start,))], []
        for _ in range(max_len):
            ext = [(s - float(lp), seq + (t,)) for s, seq in beams for t, lp in enumerate(next_log_probs(seq))]
            kept = heapq.nsmallest(beam_width, ext)
            finished += [c for c in kept if c[1][-1] == end]
            beams = [c for c in kept if c[1][-1] != end]
            if not beams:
                break
        neg, seq = min(finished + beams)
        return list(seq[1:]), -neg

    assert grade("6.8", beam).passed


def test_packed_sequences_are_accepted_as_a_fix():
    def packed(lstm, embedded, lengths):
        seq = nn.utils.rnn.pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = lstm(seq)
        return h_n[-1]

    assert grade("6.6", packed).passed


def test_lstm_cell_with_a_naive_sigmoid_is_accepted():
    def naive(x_t, h_prev, c_prev, W, U, b):
        sig = lambda a: 1 / (1 + np.exp(-a))
        i, f, g, o = np.split(x_t @ W + h_prev @ U + b, 4, axis=1)
        c_t = sig(f) * c_prev + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c_t), c_t

    assert grade("6.4", naive).passed


def test_a_grader_leaves_the_global_torch_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    grade("6.6", last_real_state)
    assert torch.equal(torch.rand(3), expected)


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    "6.9": {
        "line 7:21: 0 -> 1": "fwd[1] is W_hh, which is square (H, H): its shape[1] is H as well",
        "line 7:21: 0 -> -1": "fwd[1] is W_hh, which is square (H, H): its shape[-1] is H as well",
        "line 7:12: 1 -> 2": "fwd[2] is b_h, of shape (H,): its shape[0] is H as well",
    },
}
