"""Self-checks for chapter 5, Convolutional neural networks.

The convolution and pooling graders compare the learner's NumPy code with
PyTorch's own operations (in float64) and their gradients with autograd; the
residual block is compared with a reference forward pass on copied weights. Exercise
5.6 is a budgeted challenge: the grader hands the learner's ``train`` a counted
training subset and scores the model on the test split it never received. PyTorch
and the Fashion-MNIST data are loaded inside the graders, never at import.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np

from .challenge import Budget, TrainingData, provides_data, run_challenge, torch_module, validation_split
from .core import CheckFailed, call, exercise, one_torch_thread

__all__: list[str] = []

#: Exercise 5.6: the accuracy on the Fashion-MNIST test split to reach, and what train may spend.
TARGET_ACCURACY_56 = 0.87
VALIDATION_IMAGES_56 = 10_000

#: Fresh inputs for the graders of the exercises added with the kinds (5.7, 5.8): a lookup table of
#: shown inputs fails, because each check draws new ones.
_FRESH = np.random.default_rng(505)


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
    kind="transfer",
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
#: One pass over the 50,000 training images the check hands out (the other 10,000 of the training split
#: are the validation split), at most 150,000 stored numbers, and a wall clock that allows a busy machine.
BUDGET_56 = Budget(examples=50_000, parameters=150_000, seconds=480)


def _fashion_split(which: str):
    from ..data import load_fashion_mnist

    (X, y), (X_test, y_test) = load_fashion_mnist(progress=False)
    if which == "test":
        return (X_test / np.float32(255)).astype(np.float32), y_test
    return validation_split((X / np.float32(255)).astype(np.float32), y, VALIDATION_IMAGES_56 / len(X), seed=56)


@provides_data("5.6")
def _fashion_challenge_data():
    (X_part, y_part), validation = _fashion_split("train")
    return TrainingData(X_part, y_part, budget=BUDGET_56, name="the Fashion-MNIST training images"), validation


@exercise(
    "5.6",
    "Beat the linear baseline on Fashion-MNIST within a budget",
    hints=[
        "A linear layer reads each pixel on its own; the chapter's convolutional network reads local "
        "patterns wherever they are. Start from its LeNet and spend the budget on one pass over the data.",
        "With a single epoch, the learning rate decides most: Adam with a warm-up and then a decay to zero "
        "over that one pass (chapter 4's schedule), batch normalisation after each convolution, and padding in "
        "the first convolution so the border pixels count.",
        "Recipe: count your steps first (examples in the budget / batch size), build the schedule on that "
        "count, and measure on the validation split after each change. A few tens of thousands of parameters "
        "are enough; most of the budget of stored numbers can stay unspent.",
    ],
    kind="challenge",
)
def _check_fashion(fn: Any) -> None:
    import torch

    data, _ = _fashion_challenge_data()
    model, report = run_challenge(fn, data, BUDGET_56, name="train_fashion_cnn",
                                  check_model=torch_module("train_fashion_cnn"))
    X_test, y_test = _fashion_split("test")
    images = torch.from_numpy(X_test)                                    # (10000, 28, 28), values in [0, 1]
    model = copy.deepcopy(model)
    model.eval()
    try:
        with one_torch_thread(), torch.no_grad():
            logits = torch.cat([model(images[i:i + 2000]) for i in range(0, len(images), 2000)])
    except Exception as error:
        raise CheckFailed(f"the trained model raised {type(error).__name__} on a batch of shape (2000, 28, 28), "
                          f"the shape of data.batches(...)'s images: {error}") from None
    if tuple(logits.shape) != (len(images), 10):
        raise CheckFailed(f"the trained model maps {len(images):,} images to shape {tuple(logits.shape)}, "
                          f"expected ({len(images)}, 10): one logit per class.")
    accuracy = float((logits.argmax(dim=1).numpy() == y_test).mean())
    if accuracy < TARGET_ACCURACY_56:
        raise CheckFailed(
            f"the model train_fashion_cnn trained ({report}) is {accuracy:.4f} accurate on the 10,000 "
            f"Fashion-MNIST test images; it must reach {TARGET_ACCURACY_56}, clearly above the chapter's linear "
            "baseline (about 0.84).",
            advice="Measure on the validation split from challenge_data('5.6') while you change the model or "
                   "the learning rate; the test images are for the check alone.",
        )


# --------------------------------------------------------------------------- 5.7
def _conv_backward_reference(x, w, grad_out, padding, *, flip=False, assign=False, mean_w=False,
                             mean_b=False, crop=True):
    """Gradients of conv2d (stride 1), and (with a flag) the slips learners make."""
    N, _, H, W = x.shape
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad_xp, grad_w = np.zeros_like(xp), np.zeros_like(w)
    kernel = w[:, :, ::-1, ::-1] if flip else w
    for i in range(grad_out.shape[2]):
        for j in range(grad_out.shape[3]):
            g = grad_out[:, :, i, j]                                               # (N, C_out)
            grad_w += np.tensordot(g, xp[:, :, i:i + kh, j:j + kw], axes=([0], [0]))
            spread = np.tensordot(g, kernel, axes=([1], [0]))                     # (N, C_in, kh, kw)
            if assign:
                grad_xp[:, :, i:i + kh, j:j + kw] = spread
            else:
                grad_xp[:, :, i:i + kh, j:j + kw] += spread
    grad_b = grad_out.mean(axis=(0, 2, 3)) if mean_b else grad_out.sum(axis=(0, 2, 3))
    grad_x = grad_xp[:, :, padding:padding + H, padding:padding + W] if crop else grad_xp
    return grad_x, grad_w / N if mean_w else grad_w, grad_b


def _torch_conv_grads(x, w, b, grad_out, padding):
    import torch
    import torch.nn.functional as F

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    F.conv2d(xt, wt, bt, padding=padding).backward(torch.from_numpy(grad_out))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


@exercise(
    "5.7",
    "The backward pass of a convolution",
    hints=[
        "Go back through the forward loop: at output position (i, j) a patch of the padded input met the "
        "kernel. The gradient there, grad_out[:, :, i, j], tells how much that product mattered; send it back "
        "to both factors.",
        "At each (i, j): the kernel's gradient collects the patch weighted by grad_out[:, :, i, j] (summed "
        "over the images); the patch's gradient collects the kernel weighted by it (summed over the output "
        "channels). np.tensordot over the right axes does each in one call. The bias gradient is a sum.",
        "Skeleton: pad x, make zero arrays like the padded x and like w, loop over (i, j) adding into both "
        "(+=: neighbouring patches overlap), then cut the padding off the input gradient with a slice of "
        "padding : padding + H (and the same for the width). grad_b sums grad_out over every axis but the "
        "channels.",
    ],
    kind="transfer",
)
@one_torch_thread()
def _check_conv_backward(fn: Callable) -> None:
    cases = [((2, 3, 6, 8), (4, 3, 3, 2), 0), ((3, 2, 7, 5), (2, 2, 2, 3), 1), ((2, 4, 5, 6), (4, 4, 3, 3), 1),
             ((1, 1, 5, 5), (1, 1, 5, 5), 2), ((1, 2, 4, 9), (3, 2, 1, 1), 0)]
    for x_shape, w_shape, padding in cases:
        x, w, b = _FRESH.normal(size=x_shape), _FRESH.normal(size=w_shape), _FRESH.normal(size=w_shape[0])
        out_shape = _torch_conv(x, w, b, 1, padding).shape
        grad_out = _FRESH.normal(size=out_shape)
        shown = (f"conv2d_backward(x of shape {x_shape}, w of shape {w_shape}, grad_out of shape {out_shape}, "
                 f"padding={padding})")
        got = call(fn, x, w, grad_out, padding, name="conv2d_backward")
        if got is None:
            raise CheckFailed(f"{shown} returned None: return the three gradients, grad_x, grad_w, grad_b.")
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailed(f"{shown} should return three arrays, (grad_x, grad_w, grad_b); got "
                              f"{type(got).__name__}.")
        got = [_array(g, f"{shown}'s {name}") for g, name in zip(got, ("grad_x", "grad_w", "grad_b"))]
        expected = _torch_conv_grads(x, w, b, grad_out, padding)
        names = ("grad_x", "grad_w", "grad_b")
        for value, reference, name in zip(got, expected, names):
            if value.shape == reference.shape:
                continue
            why = ""
            if name == "grad_x" and value.shape == x.shape[:2] + (x.shape[2] + 2 * padding, x.shape[3] + 2 * padding):
                why = " That is the padded input's shape: cut the padding off, the padded zeros are not inputs."
            elif name == "grad_b" and value.shape != (w.shape[0],):
                why = " Sum over the images and both spatial axes: one number per output channel."
            raise CheckFailed(f"{shown}: {name} has shape {value.shape}, expected {reference.shape}, the shape of "
                              f"{'x' if name == 'grad_x' else 'w' if name == 'grad_w' else 'b'}.{why}")
        if all(np.allclose(g, e, rtol=1e-6, atol=1e-8) for g, e in zip(got, expected)):
            continue
        slips = [
            (dict(flip=True), "grad_x", "grad_x uses the kernel flipped. In the forward pass each patch met w as "
                                        "it is; send the gradient back through the same w, position by position."),
            (dict(assign=True), "grad_x", "grad_x loses contributions where neighbouring patches overlap: add "
                                          "into it with +=, not ="),
            (dict(mean_w=True), "grad_w", "grad_w is averaged over the images. The loss gradient of a weight "
                                          "that every image uses is the sum of their contributions."),
            (dict(mean_b=True), "grad_b", "grad_b is a mean. Each output value adds b[o] once, so the bias "
                                          "gradient is the sum of grad_out over images and positions."),
        ]
        for flags, name, explanation in slips:
            wrong = _conv_backward_reference(x, w, grad_out, padding, **flags)[names.index(name)]
            index = names.index(name)
            if not np.allclose(wrong, expected[index]) and np.allclose(got[index], wrong, rtol=1e-6, atol=1e-8):
                raise CheckFailed(f"{shown}: {explanation}.")
        for value, reference, name in zip(got, expected, names):
            if not np.allclose(value, reference, rtol=1e-6, atol=1e-8):
                diff = np.abs(value - reference)
                where = np.unravel_index(int(np.argmax(diff)), diff.shape)
                raise CheckFailed(f"{shown}: {name} differs from PyTorch's autograd by up to {diff.max():.3g} "
                                  f"(at index {tuple(int(i) for i in where)}).")


# --------------------------------------------------------------------------- 5.8
def _dilated_reference(x, w, b, dilation, padding, *, height_only=False, contiguous=False):
    """A dilated convolution (stride 1), and (with a flag) the slips learners make."""
    import torch
    import torch.nn.functional as F

    if contiguous:           # the right output size, but the kernel's taps side by side
        H_out = x.shape[2] + 2 * padding - dilation * (w.shape[2] - 1)
        W_out = x.shape[3] + 2 * padding - dilation * (w.shape[3] - 1)
        return _torch_conv(x, w, b, 1, padding)[:, :, :H_out, :W_out]
    dil = (dilation, 1) if height_only else (dilation, dilation)
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=padding,
                    dilation=dil).numpy()


@exercise(
    "5.8",
    "A dilated convolution",
    hints=[
        "A dilated kernel keeps its kh x kw weights but spreads them out: its taps sit `dilation` pixels "
        "apart, so it spans dilation * (k - 1) + 1 pixels along each axis. Count the output positions with "
        "that span in place of k.",
        "After padding, the input values that meet the kernel at output (i, j) are a strided slice: rows i, "
        "i + d, ..., i + d * (kh - 1), and the same for the columns. NumPy's slice start:stop:step takes them "
        "in one go, an array of shape (N, C_in, kh, kw).",
        "Skeleton: pad as in exercise 5.3, H_out = H + 2 * padding - dilation * (kh - 1) (and the same for W), "
        "two loops over (i, j), the strided patch of hint 2, and the same np.tensordot as in 5.3 plus b. "
        "dilation=1 must give exactly your conv2d.",
    ],
    kind="transfer",
)
@one_torch_thread()
def _check_dilated(fn: Callable) -> None:
    cases = [((2, 3, 9, 11), (4, 3, 3, 3), 2, 0), ((1, 2, 12, 10), (3, 2, 3, 2), 3, 2),
             ((2, 2, 8, 8), (2, 2, 3, 3), 1, 1), ((1, 1, 10, 7), (2, 1, 2, 3), 2, 1), ((1, 3, 6, 6), (2, 3, 3, 3), 2, 2)]
    for x_shape, w_shape, dilation, padding in cases:
        x, w, b = _FRESH.normal(size=x_shape), _FRESH.normal(size=w_shape), _FRESH.normal(size=w_shape[0])
        shown = (f"dilated_conv2d(x of shape {x_shape}, w of shape {w_shape}, b, dilation={dilation}, "
                 f"padding={padding})")
        got = _array(call(fn, x, w, b, dilation, padding, name="dilated_conv2d"), f"{shown}'s result")
        expected = _dilated_reference(x, w, b, dilation, padding)
        if got.shape != expected.shape:
            why = ""
            undilated = _torch_conv(x, w, b, 1, padding).shape
            if got.shape == undilated and dilation > 1:
                why = (" That is the size of an undilated kernel: a dilated one spans dilation * (k - 1) + 1 "
                       "pixels, so fewer positions fit.")
            elif got.shape[2:] == tuple(n + 2 * padding - dilation * k + 1 for n, k in zip(x_shape[2:], w_shape[2:])):
                why = " The kernel spans dilation * (k - 1) + 1 pixels, not dilation * k."
            raise CheckFailed(f"{shown} has shape {got.shape}, expected {expected.shape} = (N, C_out, H_out, W_out)."
                              f"{why}")
        if np.allclose(got, expected, rtol=1e-6, atol=1e-6):
            continue
        for wrong, explanation in [
            (_dilated_reference(x, w, b, dilation, padding, contiguous=True),
             "the kernel's taps are side by side. With dilation d they sit d pixels apart: take every d-th "
             "row and column of a window that spans d * (k - 1) + 1 pixels."),
            (_dilated_reference(x, w, b, dilation, padding, height_only=True),
             "the taps are spread along the height only; dilate along the width too."),
            (_dilated_reference(x, w[:, :, ::-1, ::-1].copy(), b, dilation, padding),
             "you flipped the kernel; as in exercise 5.3, deep-learning convolutions do not flip it."),
            (_dilated_reference(x, w, np.zeros_like(b), dilation, padding),
             "the bias is missing; add b[o] to every value of output channel o."),
        ]:
            if wrong.shape == expected.shape and not np.allclose(wrong, expected) and np.allclose(got, wrong, atol=1e-6):
                raise CheckFailed(f"{shown}: {explanation}")
        diff = np.abs(got - expected)
        where = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise CheckFailed(f"{shown} differs from torch.nn.functional.conv2d(..., dilation={dilation}) by up to "
                          f"{diff.max():.3g} (at index {tuple(int(i) for i in where)}).")
