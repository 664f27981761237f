"""Self-checks for chapter 5, Convolutional neural networks.

The convolution and pooling graders compare the learner's NumPy code with
PyTorch's own operations (in float64) and their gradients with autograd; the
residual block is compared with a reference forward pass on copied weights. PyTorch
and the Fashion-MNIST data are loaded inside the graders, never at import.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from .core import CheckFailed, call, exercise, one_torch_thread

__all__: list[str] = []

#: Exercise 5.6: the test accuracy to beat and the parameter budget.
TARGET_ACCURACY_56 = 0.90
MAX_PARAMETERS_56 = 150_000


def _array(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise CheckFailed(f"{name} is None: did you forget a `return` statement?")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} should be a NumPy array, got {type(value).__name__}.") from None
    return arr


# --------------------------------------------------------------------------- 5.1
def _reference_size(n: int, k: int, stride: int, padding: Any) -> int:
    if padding == "same":
        return math.ceil(n / stride)
    if padding == "valid":
        padding = 0
    return (n + 2 * padding - k) // stride + 1


@exercise(
    "5.1",
    "Output sizes",
    hints=[
        "For a number padding p: count the positions where a kernel of size k fits in the padded input of size "
        "n + 2p, moving stride s at a time.",
        "The formula is floor((n + 2p - k) / s) + 1; in Python, (n + 2 * p - k) // s + 1 with integer division. "
        "'valid' means p = 0. 'same' means the output has ceil(n / s) positions, whatever k is.",
        "The subtle points: handle the two strings before the arithmetic; 'same' ignores "
        "kernel_size and rounds UP (math.ceil(n / stride), not n // stride); 'valid' is just "
        "padding 0; and integer division // keeps the result an int.",
    ],
)
def _check_sizes(fn: Callable) -> None:
    cases = [(28, 5, 1, 0), (28, 5, 1, 2), (28, 5, 2, 0), (28, 3, 2, 1), (32, 3, 1, 1), (7, 3, 3, 0),
             (224, 11, 4, 2), (10, 4, 3, 1), (28, 5, 1, "valid"), (28, 5, 1, "same"), (28, 5, 2, "same"),
             (7, 3, 2, "same"), (224, 7, 2, "same")]
    for n, k, s, p in cases:
        shown = f"conv_output_size({n}, kernel_size={k}, stride={s}, padding={p!r})"
        got = call(fn, n, k, s, p, name="conv_output_size")
        expected = _reference_size(n, k, s, p)
        if got is None:
            raise CheckFailed(f"{shown} returned None: did you forget a `return` statement?")
        if isinstance(got, float) and not float(got).is_integer():
            raise CheckFailed(f"{shown} returned {got}, a fraction: sizes are whole numbers. Use floor division, "
                              "(n + 2 * p - k) // s + 1.")
        try:
            value = int(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"{shown} should return a whole number, got {type(got).__name__}.") from None
        if value == expected and float(got) == value:
            continue
        pn = 0 if p == "valid" else p
        why = ""
        if p == "same" and value == n:
            why = " 'same' keeps the size only for stride 1; in general it gives ceil(n / stride)."
        elif isinstance(pn, int) and value == (n + 2 * pn - k) // s:
            why = " The +1 is missing: a kernel that fits exactly once gives one output."
        elif isinstance(pn, int) and value == (n + pn - k) // s + 1:
            why = " Padding adds p on *both* sides: n + 2p."
        elif isinstance(pn, int) and value == math.ceil((n + 2 * pn - k) / s) + 1:
            why = " Round down, not up: a kernel that does not fit entirely gives no output."
        raise CheckFailed(f"{shown} is {got}, expected {expected}.{why}")


# --------------------------------------------------------------------------- 5.3
def _torch_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                    stride=stride, padding=padding).numpy()


@exercise(
    "5.3",
    "A naive conv2d, checked against PyTorch",
    hints=[
        "Pad the input first (np.pad, zeros on the two spatial axes only), compute H_out and W_out with the "
        "formula of exercise 5.1, then loop over the output positions (i, j).",
        "At (i, j) the patch is x[:, :, i*stride : i*stride + kh, j*stride : j*stride + kw], of shape "
        "(N, C_in, kh, kw). Each output channel o is the sum of patch * w[o] over the last three axes, plus b[o].",
        "Nearly there: at (i, j), for every image n and output channel o, you need the sum over "
        "(C_in, kh, kw) of patch[n] * w[o]. np.tensordot(patch, w, axes=...) contracts the three "
        "named axes of both at once and gives (N, C_out); then add b. Do not flip the kernel: "
        "this convolution is a cross-correlation.",
    ],
)
@one_torch_thread()
def _check_conv(fn: Callable) -> None:
    rng = np.random.default_rng(52)
    cases = [
        ((2, 3, 7, 9), (4, 3, 3, 3), 1, 0),
        ((2, 3, 7, 9), (4, 3, 3, 3), 1, 1),
        ((2, 2, 9, 8), (3, 2, 3, 3), 2, 1),
        ((1, 1, 8, 8), (2, 1, 5, 5), 3, 2),
    ]
    for x_shape, w_shape, stride, padding in cases:
        x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0])
        shown = f"conv2d(x of shape {x_shape}, w of shape {w_shape}, b, stride={stride}, padding={padding})"
        got = _array(call(fn, x, w, b, stride, padding, name="conv2d"), f"{shown}'s result")
        expected = _torch_conv(x, w, b, stride, padding)
        if got.shape != expected.shape:
            why = ""
            if got.shape[:2] == expected.shape[:2]:
                no_pad = _torch_conv(x, w, b, stride, 0).shape
                no_stride = _torch_conv(x, w, b, 1, padding).shape
                if got.shape == no_pad and padding:
                    why = " Did you forget the padding?"
                elif got.shape == no_stride and stride > 1:
                    why = " Did you forget the stride?"
            raise CheckFailed(f"{shown} has shape {got.shape}, expected {expected.shape} = "
                              f"(N, C_out, H_out, W_out).{why}")
        if np.allclose(got, expected, rtol=1e-6, atol=1e-6):
            continue
        flipped = _torch_conv(x, w[:, :, ::-1, ::-1].copy(), b, stride, padding)
        if np.allclose(got, flipped, rtol=1e-6, atol=1e-6):
            raise CheckFailed(f"{shown}: you flipped the kernel (the mathematicians' convolution). Deep-learning "
                              "libraries do not flip it: multiply each patch by w as it is.")
        if np.allclose(got, expected - b[None, :, None, None], rtol=1e-6, atol=1e-6):
            raise CheckFailed(f"{shown}: the bias is missing; add b[o] to every value of output channel o.")
        diff = np.abs(got - expected)
        where = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise CheckFailed(f"{shown} differs from torch.nn.functional.conv2d by up to {diff.max():.3g} "
                          f"(at index {tuple(int(i) for i in where)}).")


# --------------------------------------------------------------------------- 5.2 and 5.5
def _torch_pool(x: np.ndarray, size: int, stride: int, grad_out: np.ndarray | None = None):
    import torch
    import torch.nn.functional as F

    xt = torch.tensor(x, requires_grad=grad_out is not None)
    out = F.max_pool2d(xt, size, stride)
    if grad_out is None:
        return out.detach().numpy()
    out.backward(torch.from_numpy(grad_out))
    return xt.grad.numpy()


@exercise(
    "5.2",
    "Max pooling, forward",
    hints=[
        "The output has (H - size) // stride + 1 rows and as many columns by the same rule; loop over them.",
        "The window of output (i, j) is x[:, :, i*stride : i*stride + size, j*stride : j*stride + size]; its "
        "maximum over the last two axes gives all images and channels at once.",
        "Skeleton: `out = np.empty((N, C, H_out, W_out))`; two loops, over i and j; take the "
        "window of hint 2 and write its maximum over the two spatial axes into out[:, :, i, j]. "
        "Pooling works on each channel separately: never take the maximum across channels (axis "
        "1).",
    ],
)
@one_torch_thread()
def _check_pool_forward(fn: Callable) -> None:
    rng = np.random.default_rng(53)
    for x_shape, size, stride in [((2, 3, 8, 8), 2, 2), ((2, 2, 9, 7), 3, 2), ((1, 2, 6, 6), 2, 1)]:
        x = rng.normal(size=x_shape)
        shown = f"max_pool2d(x of shape {x_shape}, size={size}, stride={stride})"
        got = _array(call(fn, x, size, stride, name="max_pool2d"), f"{shown}'s result")
        expected = _torch_pool(x, size, stride)
        if got.shape != expected.shape:
            raise CheckFailed(f"{shown} has shape {got.shape}, expected {expected.shape}: "
                              "(H - size) // stride + 1 rows and the same rule for the columns.")
        if np.allclose(got, expected):
            continue
        import torch
        import torch.nn.functional as F

        average = F.avg_pool2d(torch.from_numpy(x), size, stride).numpy()
        if np.allclose(got, average):
            raise CheckFailed(f"{shown} computes the average of each window; max pooling keeps the largest value.")
        raise CheckFailed(f"{shown} differs from torch.nn.functional.max_pool2d by up to "
                          f"{np.abs(got - expected).max():.3g}.")


@exercise(
    "5.5",
    "Max pooling, backward",
    hints=[
        "Only the largest value of each window influenced the output, so the gradient of each output goes to "
        "that one input position; every other position of the window gets nothing from it.",
        "Start from grad_x = np.zeros_like(x). For each output (i, j) and each image and channel, find the "
        "arg-max of the window (np.unravel_index(np.argmax(...), (size, size))) and add grad_out[n, c, i, j] there.",
        "Use +=, not =: when windows overlap (stride < size) one input can be the maximum of several windows "
        "and must collect all their gradients.",
    ],
)
@one_torch_thread()
def _check_pool_backward(fn: Callable) -> None:
    rng = np.random.default_rng(54)
    # Non-square inputs too, so that mixing up the height and width axes shows.
    for x_shape, size, stride in [((2, 3, 8, 8), 2, 2), ((2, 2, 9, 9), 3, 2), ((1, 1, 7, 7), 3, 1), ((1, 2, 6, 10), 2, 2)]:
        x = rng.normal(size=x_shape)
        out_shape = _torch_pool(x, size, stride).shape
        grad_out = rng.normal(size=out_shape)
        shown = f"max_pool2d_backward(x of shape {x_shape}, grad_out of shape {out_shape}, size={size}, stride={stride})"
        got = _array(call(fn, x, grad_out, size, stride, name="max_pool2d_backward"), f"{shown}'s result")
        expected = _torch_pool(x, size, stride, grad_out)
        if got.shape != x.shape:
            raise CheckFailed(f"{shown} has shape {got.shape}, expected {x.shape}: one gradient per input value.")
        if np.allclose(got, expected):
            continue
        if np.allclose(got, _torch_pool(x, size, stride, np.ones_like(grad_out))):
            raise CheckFailed(f"{shown}: you routed 1 to each maximum instead of grad_out[n, c, i, j].")
        import torch
        import torch.nn.functional as F

        xt = torch.tensor(x, requires_grad=True)
        F.avg_pool2d(xt, size, stride).backward(torch.from_numpy(grad_out))
        if np.allclose(got, xt.grad.numpy()):
            raise CheckFailed(f"{shown} spreads each gradient evenly over its window: that is average pooling's "
                              "gradient. Max pooling sends it all to the window's maximum.")
        nonzero_expected = int(np.count_nonzero(expected))
        if stride < size and np.count_nonzero(got) == nonzero_expected and not np.allclose(got, expected):
            raise CheckFailed(f"{shown}: the windows overlap here (stride < size), and an input that is the "
                              "maximum of several windows must collect all their gradients. Use += , not =.")
        raise CheckFailed(f"{shown} differs from PyTorch's autograd by up to {np.abs(got - expected).max():.3g}.")


# --------------------------------------------------------------------------- 5.4
@exercise(
    "5.4",
    "A residual block",
    hints=[
        "A residual block computes x + F(x), where F is a small stack of layers: here conv, ReLU, "
        "conv. Because x is added to F(x), F must keep the number of channels and the height and "
        "width of x.",
        "In __init__ create two nn.Conv2d layers with `channels` in and out, kernel size 3 and "
        "padding 1 (for a 3x3 kernel, padding 1 keeps height and width). Store them as attributes "
        "(self.conv1, self.conv2) so that PyTorch registers their parameters.",
        "Skeleton of forward: `out = self.conv2(...)  # conv1, then a ReLU, inside`, then return "
        "the ReLU of (x + out). The last ReLU comes after the addition; a ReLU on out before "
        "adding makes a different block.",
    ],
)
@one_torch_thread()
def _check_residual(cls: Any) -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CheckFailed("pass the class itself, ResidualBlock, a subclass of nn.Module (not an instance).")
    channels = 4
    torch.manual_seed(55)
    block = call(cls, channels, name="ResidualBlock")
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    if len(convs) != 2:
        raise CheckFailed(f"ResidualBlock({channels}) holds {len(convs)} nn.Conv2d layers; the block has two "
                          "3x3 convolutions.")
    for conv in convs:
        if conv.kernel_size != (3, 3) or conv.in_channels != channels or conv.out_channels != channels:
            raise CheckFailed(f"each convolution should be nn.Conv2d({channels}, {channels}, 3, padding=1); found "
                              f"kernel {conv.kernel_size}, {conv.in_channels} -> {conv.out_channels} channels.")
        if conv.bias is None:
            raise CheckFailed("keep the biases of the two convolutions (the default, bias=True).")
    expected_params = 2 * (channels * channels * 9 + channels)
    n_params = sum(p.numel() for p in block.parameters())
    if n_params != expected_params:
        raise CheckFailed(f"ResidualBlock({channels}) has {n_params} parameters, expected {expected_params}: "
                          "two 3x3 convolutions with biases and nothing else.")
    x = torch.randn(2, channels, 7, 7, generator=torch.Generator().manual_seed(5))
    try:
        with torch.no_grad():
            out = block(x)
    except NotImplementedError:
        raise CheckFailed("ResidualBlock.forward is not written yet: replace `raise NotImplementedError` "
                          "with your code.") from None
    except Exception as error:
        raise CheckFailed(f"ResidualBlock({channels}) raised {type(error).__name__} on input of shape "
                          f"(2, {channels}, 7, 7): {error}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(f"ResidualBlock({channels}) maps shape {tuple(x.shape)} to {shape}; a residual block "
                          "must keep the shape (padding=1 on the 3x3 convolutions), or x cannot be added.")
    conv1, conv2 = convs
    with torch.no_grad():
        expected = F.relu(x + conv2(F.relu(conv1(x))))
    if torch.allclose(out, expected, atol=1e-6):
        return
    with torch.no_grad():
        candidates = {
            "the skip connection is missing: add the input x before the last ReLU": F.relu(conv2(F.relu(conv1(x)))),
            "the final ReLU is missing: return relu(x + F(x))": x + conv2(F.relu(conv1(x))),
            "the ReLU between the two convolutions is missing": F.relu(x + conv2(conv1(x))),
            "the skip is added after the final ReLU; add first, then apply the ReLU": F.relu(conv2(F.relu(conv1(x)))) + x,
        }
    for why, candidate in candidates.items():
        if torch.allclose(out, candidate, atol=1e-6):
            raise CheckFailed(f"ResidualBlock's output is wrong: {why}.")
    raise CheckFailed("ResidualBlock's output differs from relu(x + conv2(relu(conv1(x)))) "
                      f"by up to {float((out - expected).abs().max()):.3g}.")


# --------------------------------------------------------------------------- 5.6
_FASHION: dict[str, Any] = {}


def _fashion_test():
    if not _FASHION:
        import torch

        from ..data import load_fashion_mnist

        _, (X, y) = load_fashion_mnist(progress=False)
        _FASHION["X"] = torch.tensor(X[:, None] / 255.0, dtype=torch.float32)   # (10000, 1, 28, 28)
        _FASHION["y"] = torch.tensor(y, dtype=torch.long)
    return _FASHION["X"], _FASHION["y"]


@exercise(
    "5.6",
    "Beat the given accuracy on Fashion-MNIST within a budget",
    hints=[
        "Start from the chapter's LeNet (about 76% after 20,000 images) and train it on all the data for longer: a schedule that warms "
        "up and then decays (chapter 4) gets more out of each epoch than a constant rate.",
        "Three epochs with the warm-up-then-cosine schedule of the chapter's MNIST LeNet get close; batch "
        "normalisation after each convolution and padding the first convolution (so that border pixels count "
        "as much as central ones) add the last percent.",
        "Take the chapter's LeNet with nn.BatchNorm2d after each convolution and padding=2 in the first one "
        "(then the first dense layer has 32 * 5 * 5 = 800 inputs); train with Adam, a peak learning rate of 3e-3, "
        "batches of 128 and 3 epochs of warm-up-then-cosine. Return the model.",
    ],
)
@one_torch_thread()
def _check_fashion(model: Any) -> None:
    import torch
    from torch import nn

    if model is None:
        raise CheckFailed("train_fashion_cnn is not written yet: replace `raise NotImplementedError` with your "
                          "code, then run the cell that calls it.")
    if callable(model) and not isinstance(model, nn.Module):
        raise CheckFailed("pass the trained model (what train_fashion_cnn returns), not the function itself.")
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"expected a trained PyTorch model (an nn.Module), got {type(model).__name__}.")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params > MAX_PARAMETERS_56:
        raise CheckFailed(f"your model has {n_params:,} parameters; the budget is {MAX_PARAMETERS_56:,}.")
    X, y = _fashion_test()
    model = copy.deepcopy(model)
    model.eval()
    try:
        with torch.no_grad():
            logits = torch.cat([model(X[i:i + 2000]) for i in range(0, len(X), 2000)])
    except Exception as error:
        raise CheckFailed(f"your model raised {type(error).__name__} on a batch of shape (2000, 1, 28, 28): "
                          f"{error}") from None
    if tuple(logits.shape) != (len(X), 10):
        raise CheckFailed(f"your model maps {len(X):,} images to shape {tuple(logits.shape)}, expected "
                          f"({len(X)}, 10): one logit per class.")
    acc = float((logits.argmax(dim=1) == y).float().mean())
    if acc < TARGET_ACCURACY_56:
        raise CheckFailed(f"on the 10,000 Fashion-MNIST test images your model is {acc:.4f} accurate; it must "
                          f"reach {TARGET_ACCURACY_56}.")
