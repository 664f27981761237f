"""Graders for chapter 6, recurrent networks, sequences and NLP (exercises 6.1-6.10).

The vocabulary is the chapter's: a batch of sequences ``X`` has shape ``(N, T, D)``,
hidden states have ``H`` units, ``rnn_forward`` returns every state ``(N, T, H)``,
weights are laid out for ``x @ W`` (``W_xh`` is ``(D, H)``), and the LSTM stacks its
gates in PyTorch's order: input, forget, candidate, output. Token ids use 0 for
padding and 1 for unknown words; masks are ``True`` at real tokens.

Every grader computes its reference privately, on fixed inputs or (6.8, 6.9) on inputs
drawn fresh at each call; 6.10 trains the learner's model under a budget and scores it
on the test reviews. When a wrong answer equals what a known mistake produces (a missing
recurrence, gates in the wrong order, padding at the front, clipping each array on its
own ...) the message says so.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .challenge import Budget, TrainingData, provides_data, run_challenge, torch_module
from .core import CheckFailed, _short, call, close, exercise, expect_array, expect_scalar, one_torch_thread

#: Fresh inputs for the graders of 6.8 and 6.9: each check draws new ones, so a table of shown inputs fails.
_FRESH = np.random.default_rng(606)


# --------------------------------------------------------------------------- shared helpers


def _name_the_bug(got: Any, expected: Any, likely_bugs: Sequence[tuple[Any, str]], what: str) -> None:
    """Raise with the explanation of the first known mistake that ``got`` reproduces."""
    if close(got, expected):
        return
    for wrong_value, explanation in likely_bugs:
        if not close(wrong_value, expected) and close(got, wrong_value):
            raise CheckFailed(f"{what} is not right: {explanation}")


def _tuple_of(got: Any, count: int, label: str, names: str) -> tuple[Any, ...]:
    if got is None:
        raise CheckFailed(f"{label} returned None: did you forget `return {names}`?")
    if not isinstance(got, (tuple, list)) or len(got) != count:
        kind = type(got).__name__
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailed(f"{label} should return {count} things, `return {names}`; it returned a {kind}{size}.")
    return tuple(got)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _rnn_states(X, h0, W_xh, W_hh, b_h, *, recur=True, update=True, squash=True, transpose=False):
    """The reference forward pass, and (with a flag turned off) the mistakes learners make."""
    h, states = h0, []
    for t in range(X.shape[1]):
        W = W_hh.T if transpose else W_hh
        z = X[:, t] @ W_xh + (h @ W if recur else 0.0) + b_h
        new = np.tanh(z) if squash else z
        states.append(new)
        if update:
            h = new
    return np.stack(states, axis=1)


def _rnn_case(seed: int, N: int, T: int, D: int, H: int, h0_scale: float):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, T, D))
    h0 = h0_scale * rng.normal(size=(N, H))
    W_xh = 0.6 * rng.normal(size=(D, H))
    W_hh = 0.6 * rng.normal(size=(H, H))
    b_h = 0.2 * rng.normal(size=H)
    return X, h0, W_xh, W_hh, b_h


# --------------------------------------------------------------------------- 6.1
@exercise(
    "6.1",
    "RNN forward pass",
    hints=[
        "Start from h = h0 and loop over the time steps t = 0 .. T-1. At every step compute the "
        "new state from the input at that step, X[:, t], and the previous state, then keep it.",
        "One step combines the input at that step and the previous state: the tanh of X[:, t] @ "
        "W_xh plus h @ W_hh plus b_h, shape (N, H). Assign it back to h so that the next step "
        "uses it, and keep every h in a list.",
        "Skeleton: `h, states = h0, []`; `for t in range(X.shape[1]):` compute the new h (hint 2) "
        "and append it; at the end stack the list along a NEW time axis at position 1, so that "
        "the result is (N, T, H), not (T, N, H).",
    ],
)
def _check_rnn_forward(fn: Callable) -> None:
    cases = [
        ("N=3, T=5, D=2, H=4, a non-zero h0", _rnn_case(1, 3, 5, 2, 4, 1.0)),
        ("N=2, T=4, D=3, H=5, h0 = 0", _rnn_case(0, 2, 4, 3, 5, 0.0)),
        ("a single time step (T=1)", _rnn_case(2, 2, 1, 3, 3, 0.5)),
    ]
    for label, (X, h0, W_xh, W_hh, b_h) in cases:
        shown = f"rnn_forward on {label}"
        got = call(fn, X, h0, W_xh, W_hh, b_h, name="rnn_forward")
        expected = _rnn_states(X, h0, W_xh, W_hh, b_h)
        N, T, _ = X.shape
        H = W_hh.shape[0]
        if got is None:
            raise CheckFailed(f"{shown} returned None: did you forget `return np.stack(states, axis=1)`?")
        try:
            arr = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            raise CheckFailed(f"{shown} should return a NumPy array of shape ({N}, {T}, {H}).") from None
        if arr.shape == (N, H) and T > 1:
            raise CheckFailed(
                f"{shown} returned shape {arr.shape}, only the last state. Return the state of every "
                f"step, stacked to shape ({N}, {T}, {H})."
            )
        if arr.shape == (T, N, H) and T != N:
            raise CheckFailed(
                f"{shown} returned shape {arr.shape}: time comes first. Stack along axis=1 to get "
                f"(N, T, H) = ({N}, {T}, {H})."
            )
        if arr.shape == (N, T + 1, H):
            raise CheckFailed(
                f"{shown} returned shape {arr.shape}: one state too many. Return h_1 .. h_T, not h0."
            )
        _name_the_bug(arr, expected, [
            (_rnn_states(X, h0, W_xh, W_hh, b_h, recur=False),
             "every step ignores the previous state. Add h_prev @ W_hh inside the tanh."),
            (_rnn_states(X, h0, W_xh, W_hh, b_h, update=False),
             "every step starts again from h0. Assign the new state back to h inside the loop."),
            (_rnn_states(X, h0, W_xh, W_hh, b_h, squash=False),
             "the tanh is missing: h_t = tanh(x_t W_xh + h_prev W_hh + b_h)."),
            (_rnn_states(X, h0, W_xh, W_hh, b_h, transpose=True),
             "W_hh is transposed. With our layout the product is h_prev @ W_hh."),
            (_rnn_states(X, np.zeros_like(h0), W_xh, W_hh, b_h),
             "the states start from zeros instead of the h0 you were given."),
        ], shown)
        expect_array(arr, expected, name=f"the states from {shown}")


# --------------------------------------------------------------------------- 6.2
_CLEAN_PATTERN = r"[a-z0-9]+(?:'[a-z]+)?"


def _clean_reference(text: str, stop_words: set[str], *, lower=True, stem=True, stem_first=False,
                     splitter: str = "regexp") -> list[str]:
    from nltk.stem import PorterStemmer
    from nltk.tokenize import RegexpTokenizer

    stemmer = PorterStemmer()
    if lower:
        text = text.lower()
    if splitter == "regexp":
        tokens = RegexpTokenizer(_CLEAN_PATTERN).tokenize(text)
    elif splitter == "any case":     # a pattern that also matches capitals, on text that kept them
        tokens = RegexpTokenizer(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?").tokenize(text)
    else:
        tokens = text.split()
    if stem_first:
        return [w for w in (stemmer.stem(t) for t in tokens) if w not in stop_words]
    kept = [t for t in tokens if t not in stop_words]
    return [stemmer.stem(t) for t in kept] if stem else kept


_CLEAN_CASES = [
    ("The acting was wonderful, and the plot wasn't boring at all!",
     {"the", "and", "was", "at", "all", "a", "is"}),
    ("Not a single laugh: this film is a tiring, pointless mess. 2 stars.",
     {"a", "this", "is", "film", "the", "of"}),
    ("I loved it -- the characters' stories kept me guessing.",
     {"i", "it", "the", "me", "and"}),
]


@exercise(
    "6.2",
    "A text-cleaning pipeline",
    hints=[
        "Four steps, in this order: lower-case the text, split it into tokens with the regular "
        "expression, drop the tokens that are in stop_words, stem what is left.",
        "tokenizer = RegexpTokenizer(r\"[a-z0-9]+(?:'[a-z]+)?\") and stemmer = PorterStemmer() from "
        "nltk.tokenize and nltk.stem. Lower-case *before* tokenising, and remove stop words *before* "
        "stemming (a stem such as 'wa' is no longer on the list).",
        "Skeleton: one list comprehension, `[stemmer.stem(...) for token in "
        "tokenizer.tokenize(...) if ...]`. The order matters: lower-case before tokenising, and "
        "test the stop words on the token before stemming ('was' is a stop word; its stem 'wa' is "
        "not).",
    ],
)
def _check_clean(fn: Callable) -> None:
    for text, stop_words in _CLEAN_CASES:
        shown = f"clean_text({text!r}, stop_words)"
        got = call(fn, text, set(stop_words), name="clean_text")
        if got is None:
            raise CheckFailed(f"{shown} returned None: did you forget to `return` the list of tokens?")
        if isinstance(got, str):
            raise CheckFailed(f"{shown} returned a string; return a list of tokens, e.g. ['act', 'wonder'].")
        try:
            got = list(got)
        except TypeError:
            raise CheckFailed(f"{shown} should return a list of strings, got {type(got).__name__}.") from None
        if not all(isinstance(t, str) for t in got):
            raise CheckFailed(f"{shown} should return a list of strings.")
        expected = _clean_reference(text, stop_words)
        if got == expected:
            continue
        diagnoses = [
            (_clean_reference(text, stop_words, lower=False),
             "capitals were never lowered, so the lower-case pattern cuts 'The' down to 'he'. "
             "Lower-case the text first."),
            (_clean_reference(text, stop_words, lower=False, splitter="any case"),
             "capitalised words such as 'The' escape the stop-word list. Lower-case the text first."),
            (_clean_reference(text, stop_words, stem_first=True),
             "stop words were removed after stemming, so stems such as 'wa' (from 'was') slip through. "
             "Remove stop words first, then stem."),
            (_clean_reference(text, stop_words, splitter="split"),
             "punctuation is glued to words ('wonderful,'). Tokenise with the regular expression, "
             "not str.split()."),
            (_clean_reference(text, stop_words, stem=False),
             "the tokens are not stemmed. Apply PorterStemmer().stem to every kept token."),
            (_clean_reference(text, set()),
             "the stop words are still there. Drop every token that is in stop_words."),
        ]
        for wrong, explanation in diagnoses:
            if wrong != expected and got == wrong:
                raise CheckFailed(f"{shown} returned {got}: {explanation}")
        dropped = [t for t in expected if t not in got]
        kept = [t for t in got if t not in expected]
        if any(t in ("not", "no") for t in dropped) or any(t in stop_words for t in kept):
            raise CheckFailed(
                f"{shown} returned {got}: it does not use the stop_words it was given (it dropped "
                f"{dropped} or kept {kept}). Filter with exactly the stop_words argument, not NLTK's own "
                "list, which also contains the negations."
            )
        raise CheckFailed(f"{shown} returned {got}, expected {expected}.")


# --------------------------------------------------------------------------- 6.3
_VOCAB = {"<pad>": 0, "<unk>": 1, "great": 2, "film": 3, "not": 4, "boring": 5, "plot": 6, "loved": 7, "it": 8}


def _pad_reference(token_lists, stoi, max_len, *, front=False, keep_last=False, unk=1):
    ids = np.zeros((len(token_lists), max_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        encoded = [stoi.get(t, unk) for t in tokens]
        encoded = encoded[-max_len:] if keep_last else encoded[:max_len]
        if front:
            ids[row, max_len - len(encoded):] = encoded
        elif encoded:
            ids[row, :len(encoded)] = encoded
    return ids, ids != 0


_PAD_CASES = [
    ([["great", "film"], ["not", "boring", "plot", "loved", "it", "great"], ["film"]], 4),
    ([["loved", "the", "plot"], [], ["zzyzx", "film", "film"]], 3),
]


@exercise(
    "6.3",
    "Vocabulary ids, padding and masks",
    hints=[
        "Make an all-zero int64 array of shape (N, max_len): zeros are already the padding. Then, for "
        "each token list, look every token up in stoi (unknown words get 1), keep the first max_len "
        "ids, and write them at the start of that row.",
        "Look each token up with stoi.get(token, 1) (1 is the id of unknown words), then cut the "
        "list to max_len. Write the ids at the start of the row with a slice, ids[row, :k] = ..., "
        "with k the number of ids you kept; the rest of the row stays 0. enumerate gives the row "
        "numbers.",
        "The mask is True exactly where an id is not padding (0), so one comparison on the whole "
        "ids array gives it. The subtle point: an unknown word gets id 1, not 0, so it counts as "
        "a real token in the mask.",
    ],
)
def _check_pad(fn: Callable) -> None:
    for token_lists, max_len in _PAD_CASES:
        shown = f"encode_and_pad({token_lists}, stoi, max_len={max_len})"
        ids, mask = _tuple_of(call(fn, token_lists, dict(_VOCAB), max_len, name="encode_and_pad"),
                              2, shown, "ids, mask")
        expected_ids, expected_mask = _pad_reference(token_lists, _VOCAB, max_len)
        if not isinstance(ids, np.ndarray):
            raise CheckFailed(f"ids from {shown} should be a NumPy array, got {type(ids).__name__}.")
        if ids.shape != expected_ids.shape:
            longest = max(len(t) for t in token_lists)
            extra = " Truncate every sequence to its first max_len ids." if ids.shape[-1:] == (longest,) else ""
            raise CheckFailed(f"ids from {shown} has shape {ids.shape}, expected {expected_ids.shape}.{extra}")
        if not np.issubdtype(ids.dtype, np.integer):
            raise CheckFailed(
                f"ids from {shown} has dtype {ids.dtype}; ids index an embedding table, so they must be "
                "integers (use dtype=np.int64)."
            )
        for wrong, explanation in [
            (_pad_reference(token_lists, _VOCAB, max_len, front=True)[0],
             "the padding is at the front. Put the ids first and the zeros after them (post-padding)."),
            (_pad_reference(token_lists, _VOCAB, max_len, keep_last=True)[0],
             "long sequences keep their last max_len ids. Keep the first max_len: tokens[:max_len]."),
            (_pad_reference(token_lists, _VOCAB, max_len, unk=0)[0],
             "unknown words became 0, which is the padding id. Map them to 1 (<unk>): stoi.get(token, 1)."),
        ]:
            if not np.array_equal(wrong, expected_ids) and np.array_equal(ids, wrong):
                raise CheckFailed(f"ids from {shown} are {ids.tolist()}: {explanation}")
        if not np.array_equal(ids, expected_ids):
            raise CheckFailed(f"ids from {shown} are {ids.tolist()}, expected {expected_ids.tolist()}.")
        if not isinstance(mask, np.ndarray):
            raise CheckFailed(f"mask from {shown} should be a NumPy array, got {type(mask).__name__}.")
        if mask.shape != expected_mask.shape:
            raise CheckFailed(f"mask from {shown} has shape {mask.shape}, expected {expected_mask.shape}.")
        if mask.dtype != np.bool_:
            raise CheckFailed(
                f"mask from {shown} has dtype {mask.dtype}; make it boolean, True at real tokens "
                "(mask = ids != 0)."
            )
        if np.array_equal(mask, ~expected_mask):
            raise CheckFailed(f"mask from {shown} is inverted: it must be True at real tokens and False at padding.")
        if not np.array_equal(mask, expected_mask):
            raise CheckFailed(
                f"mask from {shown} is {mask.astype(int).tolist()}, expected "
                f"{expected_mask.astype(int).tolist()} (True exactly where ids != 0)."
            )


# --------------------------------------------------------------------------- 6.4
def _lstm_reference(x, h, c, W, U, b, *, order=(0, 1, 2, 3), g_act="tanh", tanh_c=True):
    z = x @ W + h @ U + b
    blocks = np.split(z, 4, axis=1)
    i, f, g, o = (blocks[k] for k in order)
    g = np.tanh(g) if g_act == "tanh" else _sigmoid(g)
    c_new = _sigmoid(f) * c + _sigmoid(i) * g
    h_new = _sigmoid(o) * (np.tanh(c_new) if tanh_c else c_new)
    return h_new, c_new


def _lstm_case(seed: int, N: int, D: int, H: int):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(N, D)), 0.8 * rng.normal(size=(N, H)), rng.normal(size=(N, H)),
            0.7 * rng.normal(size=(D, 4 * H)), 0.7 * rng.normal(size=(H, 4 * H)), 0.5 * rng.normal(size=4 * H))


@exercise(
    "6.4",
    "An LSTM cell",
    hints=[
        "Compute all four gates with one product each: z = x_t @ W + h_prev @ U + b has shape (N, 4H). "
        "Split it into four (N, H) blocks in the order input, forget, candidate, output.",
        "np.split(z, 4, axis=1) gives the four blocks i, f, g, o. The input, forget and output "
        "gates go through a sigmoid, the candidate g through tanh. The new cell state keeps part "
        "of c_prev and adds part of the candidate; the new hidden state is the output gate times "
        "tanh of the new cell state.",
        "Skeleton: `c_t = sigmoid(f) * ... + sigmoid(i) * ...`, `h_t = sigmoid(o) * ...`, return "
        "h_t, c_t. Write the sigmoid so that it cannot overflow for large negative inputs "
        "(chapter 1's safe sigmoid, or 0.5 * (1 + tanh(z / 2))).",
    ],
)
def _check_lstm(fn: Callable) -> None:
    for seed, (N, D, H) in [(0, (2, 3, 4)), (1, (3, 2, 5)), (2, (1, 4, 2))]:
        x, h, c, W, U, b = _lstm_case(seed, N, D, H)
        shown = f"lstm_cell with N={N}, D={D}, H={H}"
        got_h, got_c = _tuple_of(call(fn, x, h, c, W, U, b, name="lstm_cell"), 2, shown, "h_t, c_t")
        exp_h, exp_c = _lstm_reference(x, h, c, W, U, b)
        if close(got_h, exp_c) and close(got_c, exp_h):
            raise CheckFailed(f"{shown}: h_t and c_t are swapped. Return them in the order (h_t, c_t).")
        bugs = [
            (_lstm_reference(x, h, c, W, U, b, order=(1, 0, 2, 3)),
             "the input and forget gates are swapped. The blocks come in the order input, forget, candidate, output."),
            (_lstm_reference(x, h, c, W, U, b, order=(0, 1, 3, 2)),
             "the candidate and output blocks are swapped. The order is input, forget, candidate (g), output (o)."),
            (_lstm_reference(x, h, c, W, U, b, order=(0, 2, 1, 3)),
             "the gates are in the wrong order. PyTorch's (and this exercise's) order is i, f, g, o."),
            (_lstm_reference(x, h, c, W, U, b, g_act="sigmoid"),
             "the candidate g went through a sigmoid. The candidate uses tanh; only i, f and o are sigmoids."),
            (_lstm_reference(x, h, c, W, U, b, tanh_c=False),
             "h_t must squash the new cell: h_t = o * tanh(c_t), not o * c_t."),
        ]
        for (wrong_h, wrong_c), explanation in bugs:
            if close(got_c, wrong_c) and close(got_h, wrong_h) and not (close(wrong_h, exp_h) and close(wrong_c, exp_c)):
                raise CheckFailed(f"{shown}: {explanation}")
        expect_array(got_c, exp_c, name=f"c_t from {shown}")
        expect_array(got_h, exp_h, name=f"h_t from {shown}")


# --------------------------------------------------------------------------- 6.5
def _grad_case(scale: float, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"W_xh": scale * rng.normal(size=(3, 4)), "W_hh": scale * rng.normal(size=(4, 4)),
            "b_h": scale * rng.normal(size=4)}


@exercise(
    "6.5",
    "Gradient clipping by global norm",
    hints=[
        "Treat all the arrays in grads as one long vector: its length (norm) is the square root of the "
        "sum of the squares of every entry of every array.",
        "Sum the squares of every array (np.sum(g ** 2)) over all the values of grads, then take "
        "the square root of the total. If that norm exceeds max_norm, multiply every array by the "
        "SAME factor max_norm / norm, so that the direction is kept; otherwise nothing changes.",
        "Nearly there: the factor min(1, max_norm / norm) covers both cases in one expression. "
        "Build a new dict with a comprehension over grads.items() (never scale the caller's "
        "arrays in place) and return it together with the norm measured BEFORE clipping.",
    ],
)
def _check_clip(fn: Callable) -> None:
    for scale, max_norm, label in [(5.0, 1.0, "a large gradient"), (0.05, 1.0, "a small gradient"),
                                   (2.0, 3.0, "a gradient a little over the limit")]:
        grads = _grad_case(scale, seed=int(scale * 100))
        shown = f"clip_by_global_norm({label}, max_norm={max_norm})"
        clipped, total = _tuple_of(call(fn, grads, max_norm, name="clip_by_global_norm"), 2, shown,
                                   "clipped, total_norm")
        if not isinstance(clipped, dict) or set(clipped) != set(grads):
            raise CheckFailed(
                f"the first result of {shown} should be a dict with the same keys as grads "
                f"({sorted(grads)}), got {type(clipped).__name__}."
            )
        norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        factor = min(1.0, max_norm / norm)
        try:
            total_value = float(total)
        except (TypeError, ValueError):
            raise CheckFailed(f"the second result of {shown} should be the norm, a number.") from None
        if np.isclose(total_value, norm * factor) and factor < 1 and not np.isclose(total_value, norm):
            raise CheckFailed(
                f"{shown} returned the norm after clipping ({total_value:.4g}); return the norm "
                f"before clipping ({norm:.4g}), which is what you want to log."
            )
        if np.isclose(total_value, sum(np.linalg.norm(g) for g in grads.values())):
            raise CheckFailed(
                f"{shown} returned the sum of the arrays' norms ({total_value:.4g}); the global norm is "
                f"the square root of the sum of all squares ({norm:.4g})."
            )
        expect_scalar(total, norm, name=f"the norm returned by {shown}")
        for key in grads:
            got = clipped[key]
            expected = grads[key] * factor
            _name_the_bug(got, expected, [
                (grads[key] * min(1.0, max_norm / np.linalg.norm(grads[key])),
                 "each array was clipped on its own. Compute one norm over all arrays together and scale "
                 "them all by the same factor, so the direction of the update is kept."),
                (grads[key] * (max_norm / norm),
                 "the gradient was rescaled although it was already short enough. Only scale down when "
                 "the norm exceeds max_norm: factor = min(1, max_norm / norm)."),
                (np.clip(grads[key], -max_norm, max_norm),
                 "each entry was clipped to [-max_norm, max_norm]. That changes the direction; scale "
                 "every array by max_norm / norm instead."),
            ], f"clipped[{key!r}] from {shown}")
            expect_array(got, expected, name=f"clipped[{key!r}] from {shown}")


# --------------------------------------------------------------------------- 6.6


def _torch_lstm_and_batch():
    """A small LSTM with fixed weights and a right-padded batch whose padding is not zero."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(6)
    with torch.random.fork_rng(devices=[]):          # leave the learner's random state alone
        lstm = nn.LSTM(3, 4, batch_first=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.copy_(0.6 * torch.randn(p.shape, generator=generator))
    lengths = torch.tensor([3, 6, 1, 4])                   # not sorted, and one full-length row
    embedded = torch.randn(4, 6, 3, generator=generator)   # (N, T, D); positions >= length are padding
    return lstm, embedded, lengths


def _last_real_reference(lstm, embedded, lengths):
    import torch

    rows = []
    with torch.no_grad():
        for n, length in enumerate(lengths.tolist()):
            _, (h_n, _) = lstm(embedded[n:n + 1, :length])   # this sequence alone, no padding
            rows.append(h_n[-1, 0])
    return torch.stack(rows).numpy()


@exercise(
    "6.6",
    "Find the bug: an LSTM that reads its padding",
    hints=[
        "With right-padding, the LSTM keeps running over the padding after a short sequence ends, so "
        "h_n (the state after the last *position*) has read padding. You need the state after the last "
        "*real* token of each sequence, which sits at position lengths - 1.",
        "`output, _ = lstm(embedded)` holds the state after every position, shape (N, T, H). For "
        "each sequence n you need the row at time lengths[n] - 1: one advanced-indexing "
        "expression with two index tensors, one for the batch positions and one for the times, "
        "does it for every n at once.",
        "Nearly there: output[batch_index, time_index], with batch_index = torch.arange(N) and "
        "time_index the last real position of each sequence (hint 1); the result is (N, H). "
        "Another way: nn.utils.rnn.pack_padded_sequence before the LSTM, then h_n[-1].",
    ],    kind="debug",
)
def _check_last_real_state(fn: Callable) -> None:
    with one_torch_thread():
        _grade_last_real_state(fn)


def _grade_last_real_state(fn: Callable) -> None:
    import torch

    lstm, embedded, lengths = _torch_lstm_and_batch()
    shown = "last_real_state(lstm, embedded, lengths=[3, 6, 1, 4])"
    with torch.no_grad():
        got = call(fn, lstm, embedded, lengths, name="last_real_state")
    if got is None:
        raise CheckFailed(f"{shown} returned None: did you forget the `return`?")
    if isinstance(got, tuple):
        raise CheckFailed(f"{shown} returned a tuple; return one tensor of shape (N, H) = (4, 4).")
    if isinstance(got, torch.Tensor):
        got = got.detach().numpy()
    got = np.asarray(got, dtype=np.float64)
    expected = _last_real_reference(lstm, embedded, lengths)
    if got.shape != expected.shape:
        raise CheckFailed(f"{shown} returned shape {got.shape}, expected {expected.shape}: one state per sequence.")
    with torch.no_grad():
        output, (h_n, _) = lstm(embedded)
    mean_all = output.mean(dim=1).numpy()
    if np.allclose(got, h_n[-1].numpy(), atol=1e-5) or np.allclose(got, output[:, -1].numpy(), atol=1e-5):
        raise CheckFailed(
            f"{shown} still returns the state after the last position, which has read the padding of "
            "every sequence shorter than T. Take each sequence's state at position lengths - 1."
        )
    if np.allclose(got, mean_all, atol=1e-5):
        raise CheckFailed(f"{shown} averages over all positions, padding included. Return the state at the last real token.")
    wrong_rows = [n for n in range(len(lengths)) if not np.allclose(got[n], expected[n], atol=1e-5)]
    if wrong_rows:
        n = wrong_rows[0]
        clipped = np.clip(lengths.numpy(), 0, embedded.shape[1] - 1)
        off_by_one = output[np.arange(len(lengths)), clipped].numpy()
        extra = ""
        if np.allclose(got[n], off_by_one[n], atol=1e-5):
            extra = " It matches the state one step *after* the last real token: index with lengths - 1."
        raise CheckFailed(
            f"{shown}: the state of sequence {n} (length {int(lengths[n])}) is {_short(got[n])}, expected "
            f"{_short(expected[n])}, the state after its last real token.{extra}"
        )


# --------------------------------------------------------------------------- 6.7
def _bptt_reference(dH, X, h0, states, W_xh, W_hh, *, through_time=True, tanh_grad=True,
                    h_prev_for_whh=True, use_h0=True, transpose=True):
    N, T, H = states.shape
    dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(H)
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dh = dH[:, t] + (dh_next if through_time else 0.0)
        delta = dh * (1 - states[:, t] ** 2) if tanh_grad else dh
        if t > 0:
            h_prev = states[:, t - 1]
        else:
            h_prev = h0 if use_h0 else np.zeros_like(h0)
        dW_xh += X[:, t].T @ delta
        dW_hh += (h_prev if h_prev_for_whh else states[:, t]).T @ delta
        db_h += delta.sum(axis=0)
        dh_next = delta @ (W_hh.T if transpose else W_hh)
    return dW_xh, dW_hh, db_h


@exercise(
    "6.7",
    "Backpropagation through time",
    hints=[
        "Walk backwards, t = T-1 down to 0, carrying the gradient that arrives from step t+1 "
        "(zeros at the start). At step t the total gradient on h_t is dH[:, t] plus that carried gradient.",
        "At step t, delta = (total gradient on h_t) * (1 - h_t ** 2) goes back through tanh. Each "
        "weight's gradient is (what it multiplied at step t).T @ delta, summed over the steps: "
        "X[:, t] for W_xh, the previous state (h0 at t = 0) for W_hh. The gradient carried to "
        "step t-1 is delta @ W_hh.T.",
        "Skeleton: zero accumulators shaped like W_xh, W_hh and b_h; `dh_next = np.zeros((N, "
        "H))`; `for t in reversed(range(T)):` delta, h_prev, three `+=`, then the new dh_next. "
        "The subtle point: h_prev at t = 0 is h0, not states[:, -1], which is what states[:, t - "
        "1] gives in Python.",
    ],
)
def _check_bptt(fn: Callable) -> None:
    for seed, (N, T, D, H) in [(0, (2, 4, 3, 3)), (1, (3, 5, 2, 4))]:
        X, h0, W_xh, W_hh, b_h = _rnn_case(10 + seed, N, T, D, H, 0.8)
        states = _rnn_states(X, h0, W_xh, W_hh, b_h)
        dH = np.random.default_rng(20 + seed).normal(size=(N, T, H))
        shown = f"rnn_backward with N={N}, T={T}, D={D}, H={H}"
        got = _tuple_of(call(fn, dH, X, h0, states, W_xh, W_hh, name="rnn_backward"), 3, shown,
                        "dW_xh, dW_hh, db_h")
        expected = _bptt_reference(dH, X, h0, states, W_xh, W_hh)
        variants = [
            (dict(through_time=False), "only the direct gradient dH[:, t] was used. Add the gradient that "
                                       "arrives from step t+1: dh = dH[:, t] + dh_next."),
            (dict(tanh_grad=False), "the tanh derivative is missing: delta = dh * (1 - h_t ** 2)."),
            (dict(h_prev_for_whh=False), "dW_hh pairs delta_t with h_t. It must pair it with the state that "
                                         "went *into* step t, h_{t-1}: dW_hh += h_prev.T @ delta."),
            (dict(use_h0=False), "at t = 0 the previous state is h0, not zeros."),
            (dict(transpose=False), "the gradient carried back must go through W_hh.T: dh_next = delta @ W_hh.T."),
        ]
        names = ("dW_xh", "dW_hh", "db_h")
        for flags, explanation in variants:
            wrong = _bptt_reference(dH, X, h0, states, W_xh, W_hh, **flags)
            differs = any(not close(w, e) for w, e in zip(wrong, expected))
            if differs and all(close(g, w) for g, w in zip(got, wrong)):
                raise CheckFailed(f"{shown}: {explanation}")
        for value, reference, name in zip(got, expected, names):
            expect_array(value, reference, name=f"{name} from {shown}")


# --------------------------------------------------------------------------- 6.8
def _beam_reference(next_log_probs, start, end, beam_width, max_len, *, finished_compete=True,
                    extend_finished=False, normalise=False, tie_larger=False):
    """Beam search as the exercise defines it, and (with a flag) the variants learners write."""
    def key(candidate):
        seq, score = candidate
        value = score / (len(seq) - 1) if normalise else score
        return (-value, tuple(-t for t in seq) if tie_larger else seq)

    beams, finished = [((start,), 0.0)], []
    for _ in range(max_len):
        candidates = []
        for seq, score in beams:
            log_probs = np.asarray(next_log_probs(seq), dtype=np.float64)
            candidates += [(seq + (token,), score + float(log_probs[token])) for token in range(len(log_probs))]
        candidates.sort(key=key)
        beams = []
        for seq, score in candidates[:beam_width]:
            (finished if seq[-1] == end and not extend_finished else beams).append((seq, score))
        if not beams:
            break
    pool = finished + beams if finished_compete else (beams or finished)
    seq, score = min(pool, key=key)
    return list(seq[1:]), score


def _exhaustive(next_log_probs, start, end, max_len):
    """The best sequence over every sequence that ends with `end` or reaches max_len tokens."""
    best = None
    stack = [((start,), 0.0)]
    while stack:
        seq, score = stack.pop()
        if len(seq) > 1 and (seq[-1] == end or len(seq) - 1 == max_len):
            if best is None or (-score, seq) < (-best[1], best[0]):
                best = (seq, score)
            continue
        log_probs = np.asarray(next_log_probs(seq), dtype=np.float64)
        stack += [(seq + (token,), score + float(log_probs[token])) for token in range(len(log_probs))]
    return list(best[0][1:]), best[1]


class _Model:
    """A next-token distribution for every prefix: fixed ones, or drawn from a seed and the prefix itself."""

    def __init__(self, vocab: int, seed: int, sharp: float = 1.5, fixed: dict | None = None):
        self.vocab, self.seed, self.sharp = vocab, seed, sharp
        self.table = {prefix: np.log(np.asarray(probs, dtype=np.float64)) for prefix, probs in (fixed or {}).items()}

    def __call__(self, prefix):
        prefix = tuple(int(t) for t in prefix)
        if prefix not in self.table:
            z = self.sharp * np.random.default_rng([self.seed, len(prefix), *prefix]).normal(size=self.vocab)
            self.table[prefix] = z - z.max() - np.log(np.exp(z - z.max()).sum())
        return self.table[prefix].copy()

    def __deepcopy__(self, memo):
        return self


def _beam_cases():
    seed = int(_FRESH.integers(1 << 30))
    # Greedy takes token 1 (0.5) but every continuation of it is flat; token 2 (0.4) leads to a sure end.
    trap = {(0,): [0.05, 0.5, 0.4, 0.05], (0, 1): [0.25, 0.25, 0.25, 0.25], (0, 2): [0.02, 0.02, 0.02, 0.94]}
    # Two first tokens with exactly the same probability: the smaller sequence must win the tie.
    tie = {(0,): [0.1, 0.3, 0.3, 0.3], (0, 1): [0.1, 0.1, 0.1, 0.7], (0, 2): [0.1, 0.1, 0.1, 0.7],
           (0, 3): [0.1, 0.1, 0.1, 0.7]}
    # The end token comes early and likely; a longer sequence is better per token but worse in total.
    early = {(0,): [0.05, 0.35, 0.05, 0.55], (0, 1): [0.01, 0.97, 0.01, 0.01], (0, 1, 1): [0.01, 0.01, 0.01, 0.97]}
    # The best sequence never ends: it is cut at max_len and beats the one that did end.
    cut = {(0,): [0.6, 0.1, 0.3], (0, 0): [0.9, 0.05, 0.05]}
    return [
        ("a model where the best sequence is cut at max_len (vocabulary 3, end token 2)", _Model(3, 64, fixed=cut), 2,
         2, 2),
        ("a model where greedy decoding goes wrong (vocabulary 4, end token 3)", _Model(4, 61, fixed=trap), 3, 2, 4),
        ("a tie between two beams (vocabulary 4, end token 3)", _Model(4, 62, fixed=tie), 3, 2, 3),
        ("an end token that comes early (vocabulary 4, end token 3)", _Model(4, 63, fixed=early), 3, 2, 5),
        ("a random model (vocabulary 5, end token 4)", _Model(5, seed + 3), 4, 3, 4),
        ("a random model (vocabulary 3, end token 2)", _Model(3, seed + 4, sharp=0.7), 2, 2, 5),
        ("a random model with beam width 1 (vocabulary 4, end token 0)", _Model(4, seed + 5), 0, 1, 4),
    ]


@exercise(
    "6.8",
    "Beam search",
    hints=[
        "Keep a list of live beams, each a (sequence, total log-probability) pair, starting from the "
        "sequence holding only the start token with score 0. At every step, extend every live beam by every "
        "token, and keep only the beam_width best of all those extensions together.",
        "A log-probability adds: the score of seq + (token,) is the score of seq plus next_log_probs(seq)"
        "[token]. Sort the extensions by (-score, sequence) so that ties go to the smaller sequence, and cut "
        "the list at beam_width. An extension that ends with `end` is finished: it leaves the live beams.",
        "Skeleton: `for step in range(max_len):` build the extensions, sort, cut, split them into finished "
        "and live; stop early when nothing is live. At the end, pick the best of the finished and the live "
        "together with the same sort key, and return its tokens after the start token, with its score.",
    ],
    kind="transfer",
)
def _check_beam(fn: Callable) -> None:
    for label, model, end, beam_width, max_len in _beam_cases():
        shown = f"beam_search on {label}, beam_width={beam_width}, max_len={max_len}"
        expected = _beam_reference(model, 0, end, beam_width, max_len)
        got = _tuple_of(call(fn, model, 0, end, beam_width, max_len, name="beam_search"), 2, shown,
                        "tokens, score")
        tokens, score = got
        try:
            tokens = [int(t) for t in tokens]
            score = float(score)
        except (TypeError, ValueError):
            raise CheckFailed(f"{shown} should return a list of token ids and a number, (tokens, score).") from None
        if tokens == expected[0] and np.isclose(score, expected[1], rtol=1e-9, atol=1e-9):
            continue
        if tokens[:1] == [0] and tokens[1:] == expected[0]:
            raise CheckFailed(f"{shown} returned {tokens}: leave the start token out, return what comes after it.")
        if tokens == expected[0]:
            raise CheckFailed(f"{shown} found the right tokens but the score {score:.6g} is not their total "
                              f"log-probability ({expected[1]:.6g}): add the log-probabilities of every step.")
        variants = [
            (_beam_reference(model, 0, end, beam_width, max_len, finished_compete=False),
             "a finished sequence (one that ended with the end token) must stay a candidate until the end: "
             "pick the best of the finished and the live beams together."),
            (_beam_reference(model, 0, end, beam_width, max_len, extend_finished=True),
             "a sequence that emitted the end token is finished: never extend it past the end token."),
            (_beam_reference(model, 0, end, beam_width, max_len, normalise=True),
             "the scores were divided by the length. This exercise ranks by the total log-probability."),
            (_beam_reference(model, 0, end, beam_width, max_len, tie_larger=True),
             "on equal scores the smaller sequence must win: sort by (-score, sequence)."),
            (_beam_reference(model, 0, end, 1, max_len),
             "it is what greedy decoding finds: keep the beam_width best extensions at every step, not one."),
        ]
        for (wrong_tokens, _), explanation in variants:
            if wrong_tokens != expected[0] and tokens == wrong_tokens:
                raise CheckFailed(f"{shown} returned {tokens}: {explanation}")
        raise CheckFailed(f"{shown} returned {tokens} with score {score:.6g}; beam search as defined here finds a "
                          f"sequence of score {expected[1]:.6g}.")
    # A beam as wide as every sequence finds what an exhaustive search finds.
    model = _Model(3, int(_FRESH.integers(1 << 30)))
    best = _exhaustive(model, 0, 2, 4)
    tokens, score = call(fn, model, 0, 2, 3 ** 4, 4, name="beam_search")
    if [int(t) for t in tokens] != best[0] or not np.isclose(float(score), best[1]):
        raise CheckFailed(f"with a beam of 81 (every sequence of 4 tokens from a vocabulary of 3), beam_search "
                          f"returned {list(tokens)}; the exhaustive search's best sequence is {best[0]}.")


# --------------------------------------------------------------------------- 6.9
def _birnn_reference(X, lengths, fwd, bwd, *, reverse_back=True, respect_lengths=True, order="fb",
                     zero_padding=True):
    N, T, _ = X.shape
    H = fwd[1].shape[0]
    out = np.zeros((N, T, 2 * H))
    for n in range(N):
        L = int(lengths[n]) if respect_lengths else T
        seq = X[n:n + 1, :L]
        forward = _rnn_states(seq, np.zeros((1, H)), *fwd)[0]                       # (L, H)
        backward = _rnn_states(seq[:, ::-1], np.zeros((1, H)), *bwd)[0]            # (L, H) in reading order
        if reverse_back:
            backward = backward[::-1]
        if not respect_lengths:
            L = int(lengths[n])
            forward, backward = forward[:L], backward[:L]
        pair = (forward, backward) if order == "fb" else (backward, forward)
        out[n, :L] = np.concatenate(pair, axis=1)
        if not zero_padding and respect_lengths:
            full = _rnn_states(X[n:n + 1], np.zeros((1, H)), *fwd)[0]
            out[n, L:, :H] = full[L:]
    return out


def _torch_birnn(X, lengths, fwd, bwd):
    import torch
    from torch import nn

    D, H = fwd[0].shape
    rnn = nn.RNN(D, H, batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for suffix, (W_xh, W_hh, b_h) in (("", fwd), ("_reverse", bwd)):
            getattr(rnn, "weight_ih_l0" + suffix).copy_(torch.from_numpy(W_xh.T))
            getattr(rnn, "weight_hh_l0" + suffix).copy_(torch.from_numpy(W_hh.T))
            getattr(rnn, "bias_ih_l0" + suffix).copy_(torch.from_numpy(b_h))
            getattr(rnn, "bias_hh_l0" + suffix).zero_()
        packed = nn.utils.rnn.pack_padded_sequence(torch.from_numpy(X), torch.as_tensor(lengths), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=X.shape[1])
    return out.numpy()


@exercise(
    "6.9",
    "A bidirectional RNN over padded sequences",
    hints=[
        "Two independent RNNs read each sequence: one from its first token to its last, one from its last "
        "*real* token back to its first. At every position, the output is the two states there, side by side.",
        "Work one sequence at a time: cut it to its length, X[n:n+1, :L]. Run your rnn_forward (exercise 6.1) "
        "on it with the forward weights; run it again on the same slice reversed in time ([:, ::-1]) with the "
        "backward weights, and reverse that result back, so that position t holds the state after reading "
        "x_T .. x_t.",
        "Skeleton: out = np.zeros((N, T, 2 * H)); for each n, the two (L, H) state arrays of hint 2; write "
        "np.concatenate([forward, backward], axis=1) into out[n, :L]. Positions from L on stay zero, as "
        "pad_packed_sequence gives them. Both RNNs start from zero states.",
    ],
    kind="transfer",
)
def _check_birnn(fn: Callable) -> None:
    with one_torch_thread():
        _grade_birnn(fn)


def _grade_birnn(fn: Callable) -> None:
    for N, T, D, H, lengths in [(3, 6, 2, 3, [4, 6, 1]), (4, 5, 3, 2, [5, 2, 5, 3]), (2, 4, 2, 4, [4, 4])]:
        X = _FRESH.normal(size=(N, T, D))
        fwd = (0.7 * _FRESH.normal(size=(D, H)), 0.7 * _FRESH.normal(size=(H, H)), 0.3 * _FRESH.normal(size=H))
        bwd = (0.7 * _FRESH.normal(size=(D, H)), 0.7 * _FRESH.normal(size=(H, H)), 0.3 * _FRESH.normal(size=H))
        lengths = np.array(lengths, dtype=np.int64)
        for n, L in enumerate(lengths):              # the padding is not zero: real padding rarely is
            X[n, L:] = _FRESH.normal(size=(T - L, D))
        shown = f"birnn_forward on N={N}, T={T}, D={D}, H={H}, lengths={lengths.tolist()}"
        got = call(fn, X, lengths, fwd, bwd, name="birnn_forward")
        if got is None:
            raise CheckFailed(f"{shown} returned None: return the (N, T, 2H) array of outputs.")
        arr = np.asarray(got, dtype=np.float64)
        expected = _torch_birnn(X, lengths, fwd, bwd)
        if arr.shape != expected.shape:
            extra = ""
            if arr.shape == (N, 2 * H):
                extra = " That is one vector per sequence; return the outputs at every position."
            elif arr.shape == (N, T, H):
                extra = " Concatenate the forward and the backward state at each position: 2H numbers."
            raise CheckFailed(f"{shown} returned shape {arr.shape}, expected {expected.shape}.{extra}")
        ref = _birnn_reference(X, lengths, fwd, bwd)
        assert np.allclose(ref, expected, atol=1e-10), "the grader's two references disagree"
        _name_the_bug(arr, expected, [
            (_birnn_reference(X, lengths, fwd, bwd, reverse_back=False),
             "the backward states are in the order they were computed. Reverse them back, so that position t "
             "holds the backward state after reading x_T .. x_t."),
            (_birnn_reference(X, lengths, fwd, bwd, respect_lengths=False),
             "the backward RNN starts at the last position, T, and so reads the padding first. Start it at "
             "each sequence's last real token, position lengths[n] - 1."),
            (_birnn_reference(X, lengths, fwd, bwd, order="bf"),
             "the two halves are swapped: the forward state comes first, then the backward state, as in PyTorch."),
            (_birnn_reference(X, lengths, bwd, bwd),
             "the forward direction uses the backward weights; each direction has its own weights."),
            (_birnn_reference(X, lengths, fwd, fwd),
             "the backward direction uses the forward weights; each direction has its own weights."),
            (_birnn_reference(X, lengths, fwd, bwd, zero_padding=False),
             "positions past a sequence's length must be 0, as pad_packed_sequence gives them."),
        ], shown)
        expect_array(arr, expected, name=f"the outputs of {shown}")


# --------------------------------------------------------------------------- 6.10
#: Exercise 6.10: accuracy on the 500 test reviews to reach; the chapter's LSTM scored 0.768.
TARGET_ACCURACY_610 = 0.75
MAX_LEN_610 = 400
BUDGET_610 = Budget(examples=20 * 1_200, parameters=50_000, seconds=120)
_REVIEWS: dict[str, Any] = {}


def _review_ids():
    """Token ids of the movie reviews: the training part, the validation part and the test split."""
    if not _REVIEWS:
        from collections import Counter

        from nltk.tokenize import RegexpTokenizer

        from ..data import load_movie_reviews

        (texts, y), (texts_test, y_test) = load_movie_reviews()
        tokenizer = RegexpTokenizer(_CLEAN_PATTERN)
        tokens = [tokenizer.tokenize(t.lower()) for t in texts]
        order = np.random.default_rng(610).permutation(len(texts))
        part, validation = order[300:], order[:300]
        counts = Counter(w for i in part for w in tokens[i])
        itos = ["<pad>", "<unk>"] + sorted(w for w, c in counts.items() if c >= 5)
        stoi = {w: i for i, w in enumerate(itos)}

        def encode(token_lists):
            ids = np.zeros((len(token_lists), MAX_LEN_610), dtype=np.int64)
            for row, words in enumerate(token_lists):
                encoded = [stoi.get(w, 1) for w in words][:MAX_LEN_610]
                ids[row, :len(encoded)] = encoded
            return ids

        _REVIEWS.update(
            itos=itos, train=(encode([tokens[i] for i in part]), y[part]),
            validation=(encode([tokens[i] for i in validation]), y[validation]),
            test=(encode([tokenizer.tokenize(t.lower()) for t in texts_test]), y_test))
    return _REVIEWS


@provides_data("6.10")
def _review_challenge_data():
    reviews = _review_ids()
    X, y = reviews["train"]
    return TrainingData(X, y, budget=BUDGET_610, name="the training reviews"), reviews["validation"]


def review_vocabulary() -> list[str]:
    """The words of exercise 6.10's ids: ``review_vocabulary()[i]`` is the word of id ``i`` (0 = padding, 1 = unknown)."""
    return list(_review_ids()["itos"])


@exercise(
    "6.10",
    "A sentiment classifier within a budget",
    hints=[
        "The chapter's LSTM spent about 400,000 parameters, mostly in its embedding table; here the budget is "
        "50,000 stored numbers, so the embedding must be narrow. Order matters less than which words occur: "
        "an embedding followed by a masked mean over the real tokens (chapter 6's masked pooling) is a strong start.",
        "Count the embedding's size first: vocabulary (len(review_vocabulary())) times its width must fit the "
        "budget with room for the rest. Use padding_idx=0, exclude the padding from the mean with the mask, "
        "and map the summary to one logit with a linear layer.",
        "Recipe: Adam with a fairly high learning rate (around 1e-2 or more for so few parameters), batches "
        "of about 32, and as many epochs as the example budget allows; measure on the validation split before "
        "spending epochs on dropout or a recurrent layer.",
    ],
    kind="challenge",
)
def _check_sentiment(fn: Any) -> None:
    import torch

    data, _ = _review_challenge_data()
    model, report = run_challenge(fn, data, BUDGET_610, name="train_sentiment",
                                  check_model=torch_module("train_sentiment"))
    X_test, y_test = _review_ids()["test"]
    model.eval()
    try:
        with one_torch_thread(), torch.no_grad():
            scores = model(torch.from_numpy(X_test))
    except Exception as error:
        raise CheckFailed(f"the trained model raised {type(error).__name__} on a batch of ids of shape "
                          f"{X_test.shape} (int64): {error}") from None
    scores = scores.detach().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores)
    if scores.shape == (len(X_test), 2):
        predicted = scores.argmax(axis=1)
    elif scores.shape in ((len(X_test),), (len(X_test), 1)):
        predicted = (scores.reshape(-1) > 0).astype(int)
    else:
        raise CheckFailed(f"the trained model maps ids of shape {X_test.shape} to shape {scores.shape}; expected "
                          f"({len(X_test)},) logits (positive when > 0) or ({len(X_test)}, 2) class scores.")
    accuracy = float((predicted == y_test).mean())
    if accuracy < TARGET_ACCURACY_610:
        raise CheckFailed(
            f"the model train_sentiment trained ({report}) is {accuracy:.3f} accurate on the 500 test reviews; "
            f"it must reach {TARGET_ACCURACY_610}.",
            advice="Measure on the validation split from challenge_data('6.10') while you change the model; the "
                   "test reviews are for the check alone.",
        )
