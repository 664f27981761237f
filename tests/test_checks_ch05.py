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
from selfcheck_rules import SelfCheckRules


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


REFERENCE = {
    "5.1": conv_output_size,
    "5.2": max_pool2d,
    "5.3": conv2d,
    "5.4": ResidualBlock,
    "5.5": max_pool2d_backward,
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


# --------------------------------------------------------------------------- 5.6: models
def _lenet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10))


def _too_big():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))   # 203,530


class _WrongOutput(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :5]


_FITTED: dict[str, nn.Module] = {}


def fashion_model():
    """A reference answer to 5.6 (LeNet with batch norm, 3 epochs of warm-up and cosine): about 0.909."""
    if "good" not in _FITTED:
        from dlcourse_utils.data import load_fashion_mnist

        (X, y), _ = load_fashion_mnist(progress=False)
        X = torch.tensor(X[:, None] / 255.0, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(y).long()

        def block(c_in, c_out, padding):
            return [nn.Conv2d(c_in, c_out, 5, padding=padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                    nn.MaxPool2d(2)]

        torch.manual_seed(0)
        model = nn.Sequential(*block(1, 16, 2), *block(16, 32, 0), nn.Flatten(), nn.Linear(800, 120), nn.ReLU(),
                              nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)).to(memory_format=torch.channels_last)
        total = 3 * math.ceil(len(X) / 128)
        warmup = total // 10
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: s / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
        generator = torch.Generator().manual_seed(0)
        for _ in range(3):
            model.train()
            order = torch.randperm(len(X), generator=generator)
            for start in range(0, len(order), 128):
                idx = order[start:start + 128]
                loss = F.cross_entropy(model(X[idx]), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
        _FITTED["good"] = model
    return _FITTED["good"]


def _train_fashion_cnn_itself(X, y):
    return _lenet()


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
        (_lenet(), "must reach 0.9"),
        (_too_big(), "the budget is 150,000"),
        (_WrongOutput(), "expected (10000, 10)"),
        (_train_fashion_cnn_itself, "not the function"),
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
    stubs = {"5.4": _StubBlock, "5.6": None}


def test_a_trained_fashion_cnn_passes_5_6():
    result = grade("5.6", fashion_model())
    assert result.passed, result.message


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
