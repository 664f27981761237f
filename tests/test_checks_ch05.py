"""Chapter 5 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` fails with a message that names the problem; the unfilled stub
fails with "not written yet". ``tests/test_exercises.py`` reads ``WRONG_WITH_MESSAGES``
too, to prove that no check in the book is toothless.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules, unfilled


# --------------------------------------------------------------------------- reference answers
def conv_output_size(n, kernel_size, stride=1, padding=0):
    if padding == "same":
        return math.ceil(n / stride)
    if padding == "valid":
        padding = 0
    return (n + 2 * padding - kernel_size) // stride + 1


def max_pool2d(x, size=2, stride=2):
    N, C, H, W = x.shape
    H_out, W_out = (H - size) // stride + 1, (W - size) // stride + 1
    out = np.empty((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].max(axis=(2, 3))
    return out


def conv2d(x, w, b, stride=1, padding=0):
    N, C_in, H, W = x.shape
    C_out, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out, W_out = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    out = np.empty((N, C_out, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


def max_pool2d_backward(x, grad_out, size=2, stride=2):
    grad_x = np.zeros_like(x, dtype=np.float64)
    N, C = x.shape[:2]
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            window = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            for n in range(N):
                for c in range(C):
                    u, v = np.unravel_index(np.argmax(window[n, c]), (size, size))
                    grad_x[n, c, i * stride + u, j * stride + v] += grad_out[n, c, i, j]
    return grad_x


def conv2d_backward(x, w, grad_out, padding=0):
    _, _, H, W = x.shape
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad_xp, grad_w = np.zeros_like(xp), np.zeros_like(w)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            g = grad_out[:, :, i, j]
            grad_w += np.tensordot(g, xp[:, :, i:i + kh, j:j + kw], axes=([0], [0]))
            grad_xp[:, :, i:i + kh, j:j + kw] += np.tensordot(g, w, axes=([1], [0]))
    return grad_xp[:, :, padding:padding + H, padding:padding + W], grad_w, grad_out.sum(axis=(0, 2, 3))


def dilated_conv2d(x, w, b, dilation=1, padding=0):
    N, C_in, H, W = x.shape
    C_out, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out, W_out = H + 2 * padding - dilation * (kh - 1), W + 2 * padding - dilation * (kw - 1)
    out = np.empty((N, C_out, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            patch = x[:, :, i:i + dilation * (kh - 1) + 1:dilation, j:j + dilation * (kw - 1) + 1:dilation]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


REFERENCE = {
    "5.1": conv_output_size,
    "5.2": max_pool2d,
    "5.3": conv2d,
    "5.4": ResidualBlock,
    "5.5": max_pool2d_backward,
    "5.7": conv2d_backward,
    "5.8": dilated_conv2d,
}


# --------------------------------------------------------------------------- wrong answers: 5.1
def size_true_division(n, kernel_size, stride=1, padding=0):
    if padding == "same":
        return math.ceil(n / stride)
    padding = 0 if padding == "valid" else padding
    return (n + 2 * padding - kernel_size) / stride + 1


def size_without_plus_one(n, kernel_size, stride=1, padding=0):
    if padding == "same":
        return math.ceil(n / stride)
    padding = 0 if padding == "valid" else padding
    return (n + 2 * padding - kernel_size) // stride


def size_padding_once(n, kernel_size, stride=1, padding=0):
    if padding == "same":
        return math.ceil(n / stride)
    padding = 0 if padding == "valid" else padding
    return (n + padding - kernel_size) // stride + 1


def size_same_is_n(n, kernel_size, stride=1, padding=0):
    if padding == "same":
        return n
    padding = 0 if padding == "valid" else padding
    return (n + 2 * padding - kernel_size) // stride + 1


def size_rounds_up(n, kernel_size, stride=1, padding=0):
    if padding == "same":
        return math.ceil(n / stride)
    padding = 0 if padding == "valid" else padding
    return math.ceil((n + 2 * padding - kernel_size) / stride) + 1


# --------------------------------------------------------------------------- wrong answers: 5.2
def pool_average(x, size=2, stride=2):
    N, C, H, W = x.shape
    H_out, W_out = (H - size) // stride + 1, (W - size) // stride + 1
    out = np.empty((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].mean(axis=(2, 3))
    return out


def pool_reshape_trick(x, size=2, stride=2):
    # Only right for size == stride dividing H and W; people use it everywhere.
    N, C, H, W = x.shape
    H2, W2 = H // size, W // size
    return x[:, :, :H2 * size, :W2 * size].reshape(N, C, H2, size, W2, size).max(axis=(3, 5))


def pool_across_channels(x, size=2, stride=2):
    return np.repeat(max_pool2d(x, size, stride).max(axis=1, keepdims=True), x.shape[1], axis=1)


# --------------------------------------------------------------------------- wrong answers: 5.3
def conv_flipped(x, w, b, stride=1, padding=0):
    return conv2d(x, w[:, :, ::-1, ::-1], b, stride, padding)


def conv_without_bias(x, w, b, stride=1, padding=0):
    return conv2d(x, w, np.zeros_like(b), stride, padding)


def conv_ignores_padding(x, w, b, stride=1, padding=0):
    return conv2d(x, w, b, stride, 0)


def conv_ignores_stride(x, w, b, stride=1, padding=0):
    return conv2d(x, w, b, 1, padding)


def conv_pads_height_only(x, w, b, stride=1, padding=0):
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (0, 0)))
    return conv2d(x, w, b, stride, 0)


# --------------------------------------------------------------------------- wrong answers: 5.4
class BlockWithoutSkip(ResidualBlock):
    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class BlockWithoutFinalReLU(ResidualBlock):
    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class BlockSkipAfterReLU(ResidualBlock):
    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x)))) + x


class BlockWithoutPadding(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3)
        self.conv2 = nn.Conv2d(channels, channels, 3)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))))


class BlockWithBatchNorm(ResidualBlock):
    def __init__(self, channels):
        super().__init__(channels)
        self.bn = nn.BatchNorm2d(channels)


class BlockOneConv(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.conv1(x))


# --------------------------------------------------------------------------- wrong answers: 5.5
def pool_backward_assigns(x, grad_out, size=2, stride=2):
    grad_x = np.zeros_like(x, dtype=np.float64)
    N, C = x.shape[:2]
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            window = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            for n in range(N):
                for c in range(C):
                    u, v = np.unravel_index(np.argmax(window[n, c]), (size, size))
                    grad_x[n, c, i * stride + u, j * stride + v] = grad_out[n, c, i, j]
    return grad_x


def pool_backward_spreads(x, grad_out, size=2, stride=2):
    grad_x = np.zeros_like(x, dtype=np.float64)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            grad_x[:, :, i * stride:i * stride + size, j * stride:j * stride + size] += (
                grad_out[:, :, i, j][:, :, None, None] / size ** 2)
    return grad_x


def pool_backward_ones(x, grad_out, size=2, stride=2):
    return max_pool2d_backward(x, np.ones_like(grad_out), size, stride)


def pool_backward_first_element(x, grad_out, size=2, stride=2):
    grad_x = np.zeros_like(x, dtype=np.float64)
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            grad_x[:, :, i * stride, j * stride] += grad_out[:, :, i, j]
    return grad_x


# --------------------------------------------------------------------------- wrong answers: 5.7
def _conv_backward_variant(x, w, grad_out, padding=0, flip=False, assign=False, mean_w=False, mean_b=False,
                           crop=True):
    _, _, H, W = x.shape
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad_xp, grad_w = np.zeros_like(xp), np.zeros_like(w)
    kernel = w[:, :, ::-1, ::-1] if flip else w
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            g = grad_out[:, :, i, j]
            grad_w += np.tensordot(g, xp[:, :, i:i + kh, j:j + kw], axes=([0], [0]))
            if assign:
                grad_xp[:, :, i:i + kh, j:j + kw] = np.tensordot(g, kernel, axes=([1], [0]))
            else:
                grad_xp[:, :, i:i + kh, j:j + kw] += np.tensordot(g, kernel, axes=([1], [0]))
    grad_b = grad_out.mean(axis=(0, 2, 3)) if mean_b else grad_out.sum(axis=(0, 2, 3))
    grad_x = grad_xp[:, :, padding:padding + H, padding:padding + W] if crop else grad_xp
    return grad_x, grad_w / len(x) if mean_w else grad_w, grad_b


def conv_backward_flipped(x, w, grad_out, padding=0):
    return _conv_backward_variant(x, w, grad_out, padding, flip=True)


def conv_backward_assigns(x, w, grad_out, padding=0):
    return _conv_backward_variant(x, w, grad_out, padding, assign=True)


def conv_backward_mean_over_images(x, w, grad_out, padding=0):
    return _conv_backward_variant(x, w, grad_out, padding, mean_w=True)


def conv_backward_mean_bias(x, w, grad_out, padding=0):
    return _conv_backward_variant(x, w, grad_out, padding, mean_b=True)


def conv_backward_keeps_padding(x, w, grad_out, padding=0):
    return _conv_backward_variant(x, w, grad_out, padding, crop=False)


def conv_backward_bias_per_position(x, w, grad_out, padding=0):
    grad_x, grad_w, _ = conv2d_backward(x, w, grad_out, padding)
    return grad_x, grad_w, grad_out.sum(axis=0)


def conv_backward_crop_from_zero(x, w, grad_out, padding=0):
    grad_x, grad_w, grad_b = _conv_backward_variant(x, w, grad_out, padding, crop=False)
    return grad_x[:, :, :x.shape[2], :x.shape[3]], grad_w, grad_b


def conv_backward_two_results(x, w, grad_out, padding=0):
    return conv2d_backward(x, w, grad_out, padding)[:2]


# --------------------------------------------------------------------------- wrong answers: 5.8
def dilated_ignores_dilation(x, w, b, dilation=1, padding=0):
    return conv2d(x, w, b, 1, padding)


def dilated_contiguous_taps(x, w, b, dilation=1, padding=0):
    H_out = x.shape[2] + 2 * padding - dilation * (w.shape[2] - 1)
    W_out = x.shape[3] + 2 * padding - dilation * (w.shape[3] - 1)
    return conv2d(x, w, b, 1, padding)[:, :, :H_out, :W_out]


def dilated_span_d_times_k(x, w, b, dilation=1, padding=0):
    N, C_in, H, W = x.shape
    C_out, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out, W_out = H + 2 * padding - dilation * kh + 1, W + 2 * padding - dilation * kw + 1
    out = np.empty((N, C_out, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            patch = x[:, :, i:i + dilation * kh:dilation, j:j + dilation * kw:dilation]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def dilated_height_only(x, w, b, dilation=1, padding=0):
    N, C_in, H, W = x.shape
    C_out, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out, W_out = H + 2 * padding - dilation * (kh - 1), W + 2 * padding - (kw - 1)
    out = np.empty((N, C_out, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            patch = x[:, :, i:i + dilation * (kh - 1) + 1:dilation, j:j + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def dilated_flipped(x, w, b, dilation=1, padding=0):
    return dilated_conv2d(x, w[:, :, ::-1, ::-1], b, dilation, padding)


def dilated_without_bias(x, w, b, dilation=1, padding=0):
    return dilated_conv2d(x, w, np.zeros_like(b), dilation, padding)


# --------------------------------------------------------------------------- 5.6: train functions
def _block(c_in, c_out, padding):
    return [nn.Conv2d(c_in, c_out, 5, padding=padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.MaxPool2d(2)]


def _fashion_lenet():
    return nn.Sequential(nn.Unflatten(1, (1, 28)), *_block(1, 16, 2), *_block(16, 32, 0), nn.Flatten(),
                         nn.Linear(800, 120), nn.ReLU(), nn.Linear(120, 10))


def train_fashion_cnn(data, seed=0):
    """The reference answer to 5.6: LeNet with batch norm, one pass, warm-up then cosine."""
    torch.manual_seed(seed)
    model = _fashion_lenet()
    batch_size = 128
    total = math.ceil(len(data) / batch_size)
    warmup = total // 10
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: s / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    model.train()
    for xb, yb in data.batches(batch_size, seed=seed, tensors=True):
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model


def train_two_epochs(data):
    model = _fashion_lenet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        for xb, yb in data.batches(500, tensors=True):
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def train_too_big(data):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))   # 203,530
    next(data.batches(100))
    return model


class _Memoriser(nn.Module):
    """Nearest neighbour: keeps every training image it saw in a buffer."""

    def __init__(self, X, y):
        super().__init__()
        self.register_buffer("X", X.flatten(1))
        self.register_buffer("y", y)

    def forward(self, x):
        nearest = torch.cdist(x.flatten(1), self.X).argmin(dim=1)
        return F.one_hot(self.y[nearest], 10).float()


def train_memorises(data):
    xs, ys = zip(*data.batches(5000, tensors=True))
    return _Memoriser(torch.cat(xs), torch.cat(ys))


def train_loads_the_test_set(data):
    from dlcourse_utils.data import load_fashion_mnist

    load_fashion_mnist(progress=False)
    return _fashion_lenet()


def train_untrained(data):
    next(data.batches(10))
    torch.manual_seed(0)
    return _fashion_lenet()


def train_returns_nothing(data):
    next(data.batches(10))


def train_returns_function(data):
    next(data.batches(10))
    return train_fashion_cnn


WRONG_WITH_MESSAGES = {
    "5.1": [
        (size_true_division, "floor division"),
        (size_without_plus_one, "+1 is missing"),
        (size_padding_once, "*both* sides"),
        (size_same_is_n, "ceil(n / stride)"),
        (size_rounds_up, "Round down"),
    ],
    "5.2": [
        (pool_average, "average"),
        (pool_reshape_trick, "has shape"),
        (pool_across_channels, "differs from torch.nn.functional.max_pool2d"),
    ],
    "5.3": [
        (conv_flipped, "flipped the kernel"),
        (conv_without_bias, "bias is missing"),
        (conv_ignores_padding, "forget the padding"),
        (conv_ignores_stride, "forget the stride"),
        (conv_pads_height_only, "has shape"),
    ],
    "5.4": [
        (BlockWithoutSkip, "skip connection is missing"),
        (BlockWithoutFinalReLU, "final ReLU is missing"),
        (BlockSkipAfterReLU, "added after the final ReLU"),
        (BlockWithoutPadding, "padding=1"),
        (BlockWithBatchNorm, "parameters"),
        (BlockOneConv, "holds 1 nn.Conv2d"),
        (ResidualBlock(4), "pass the class itself"),
    ],
    "5.5": [
        (pool_backward_assigns, "Use +="),
        (pool_backward_spreads, "average pooling's gradient"),
        (pool_backward_ones, "instead of grad_out"),
        (pool_backward_first_element, "differs from PyTorch's autograd"),
    ],
    "5.6": [
        (train_two_epochs, "more than its budget of 50,000"),
        (train_too_big, "the budget is 150,000"),
        (train_memorises, "the budget is 150,000"),
        (train_loads_the_test_set, "never load a data set itself"),
        (train_untrained, "must reach 0.87"),
        (train_returns_nothing, "returned None"),
        (train_returns_function, "should return the trained PyTorch model"),
        (_fashion_lenet(), "pass the function train_fashion_cnn itself"),
    ],
    "5.7": [
        (conv_backward_flipped, "kernel flipped"),
        (conv_backward_assigns, "+=, not ="),
        (conv_backward_mean_over_images, "averaged over the images"),
        (conv_backward_mean_bias, "grad_b is a mean"),
        (conv_backward_keeps_padding, "cut the padding off"),
        (conv_backward_bias_per_position, "one number per output channel"),
        (conv_backward_crop_from_zero, "differs from PyTorch's autograd"),
        (conv_backward_two_results, "should return three arrays"),
    ],
    "5.8": [
        (dilated_ignores_dilation, "size of an undilated kernel"),
        (dilated_contiguous_taps, "taps are side by side"),
        (dilated_span_d_times_k, "not dilation * k"),
        (dilated_height_only, "has shape"),
        (dilated_flipped, "flipped the kernel"),
        (dilated_without_bias, "bias is missing"),
    ],
}


class _StubBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        raise NotImplementedError()


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES
    stubs = {"5.4": _StubBlock, "5.6": unfilled}


def test_the_reference_training_passes_5_6():
    result = grade("5.6", train_fashion_cnn)
    assert result.passed, result.message


def test_challenge_data_5_6_is_the_training_split_without_the_validation_images():
    from dlcourse_utils.checks.challenge import TrainingData, challenge_data

    data, (X_val, y_val) = challenge_data("5.6")
    assert isinstance(data, TrainingData) and len(data) == 50_000 and len(X_val) == len(y_val) == 10_000
    assert data.examples_left == 50_000 and data.input_shape == (28, 28) and data.num_classes == 10
    training = {x.tobytes() for x in data._X}
    assert sum(x.tobytes() in training for x in X_val) < 50      # a few duplicate images exist in the data set


def test_a_vectorised_max_pool_backward_is_accepted():
    def vectorised(x, grad_out, size=2, stride=2):
        N, C = x.shape[:2]
        grad_x = np.zeros_like(x)
        n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
        for i in range(grad_out.shape[2]):
            for j in range(grad_out.shape[3]):
                window = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
                u, v = np.unravel_index(window.reshape(N, C, -1).argmax(axis=2), (size, size))
                np.add.at(grad_x, (n_idx, c_idx, i * stride + u, j * stride + v), grad_out[:, :, i, j])
        return grad_x

    assert grade("5.5", vectorised).passed


def test_a_residual_block_written_with_sequential_is_accepted():
    class SequentialBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(channels, channels, 3, padding=1))

        def forward(self, x):
            return torch.relu(self.body(x) + x)

    assert grade("5.4", SequentialBlock).passed


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '5.5': {
        'line 9:41: 1 -> 2':
            "reshape(N, C, -2) is reshape(N, C, -1): NumPy reads any negative size as 'the rest'",
    },
}
