"""Graders for chapter 7, unsupervised learning and autoencoders (exercises 7.1-7.8).

The chapter's conventions: images are MNIST digits, flattened to 784 pixels and
scaled to [0, 1] before they meet a network; an autoencoder is a pair
``(encoder, decoder)`` of callables, ``encoder: (N, 784) -> (N, k)`` with a
bottleneck ``k`` far below 784 and ``decoder: (N, k) -> (N, 784)``; noise is
Gaussian, added with ``np.random.default_rng(seed)`` and clipped back into [0, 1].

The autoencoder of 7.2 is trained in the notebook; the grader judges it on 500 MNIST
test digits that no exercise trains on. Exercise 7.4 is a budgeted challenge: its grader
calls the learner's ``train_denoiser(data)`` itself, on training digits it hands over
(:mod:`.challenge`), and scores the denoiser on those 500 test digits against a median
filter. Exercises 7.7 (PCA by SVD) and 7.8 (an anomaly threshold) draw fresh inputs at
every call from one seeded stream. The graders of the
pipelines (t-SNE map, K-means scores) run the learner's function on a small
synthetic data set and a stand-in encoder that see things differently: the raw
pixels hide half of each image's class, the encoder's codes show all of it. That is
how a check can tell whether the codes or the pixels were used.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .challenge import Budget, TrainingData, provides_data, run_challenge, validation_split
from .core import CheckFailed, _short, call, diagnose, exercise, expect_array, expect_scalar

#: Exercise 7.2: the largest reconstruction MSE accepted on the check's 500 test digits.
#: (The mean image scores about 0.064, PCA with 10 components 0.034, the chapter's AE about 0.018.)
MAX_RECONSTRUCTION_MSE = 0.03
#: Exercise 7.2: the widest code that still counts as a bottleneck.
MAX_CODE_SIZE = 64
#: Exercise 7.4 (a budgeted challenge): noise level of the check. A denoiser must reach an MSE to the
#: clean test digits of at most BASELINE_SHARE times what a 3 x 3 median filter, no learning at all,
#: reaches on the same noisy digits. (Noisy inputs score about 0.079, the median filter 0.028,
#: a Gaussian blur 0.043; the reference DAE, 784-512-128-512-784 trained 10 epochs, about 0.021.)
DENOISE_STD = 0.4
BASELINE_SHARE = 0.85
#: What train_denoiser(data) may spend: 10 passes over the 9,600 training digits, a network of
#: up to a million numbers (the 9,600 digits themselves are 7.5 million), and ten minutes (the
#: Keras reference trains in about 14 s on a lightly loaded 2-core machine; the PyTorch one of the
#: tests took 336 s while sharing two cores with four other jobs).
DENOISE_BUDGET = Budget(examples=10 * 9_600, parameters=1_000_000, seconds=600)

#: Fresh inputs at every call, from one seeded stream: a table of shown answers cannot pass.
_FRESH = np.random.default_rng(707)


# --------------------------------------------------------------------------- shared helpers
@functools.lru_cache(maxsize=1)
def _test_digits() -> np.ndarray:
    """The last 500 MNIST test digits, flattened and scaled: (500, 784) float32 in [0, 1]."""
    from ..data import DATASETS, fetch, read_idx

    images = read_idx(fetch(DATASETS["mnist"]["t10k-images-idx3-ubyte.gz"], progress=False))
    return (images[-500:].reshape(500, 784) / 255.0).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _train_digits() -> tuple[np.ndarray, np.ndarray]:
    """The first 12,000 MNIST training digits, flattened and scaled, and their labels."""
    from ..data import load_mnist

    (images, labels), _ = load_mnist(progress=False)
    return (images[:12000].reshape(12000, 784) / 255.0).astype(np.float32), labels[:12000].astype(np.int64)


def _as_array(value: Any, label: str) -> np.ndarray:
    if value is None:
        raise CheckFailed(f"{label} returned None: did you forget a `return`?")
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()                     # a TensorFlow or PyTorch tensor
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(f"{label} should return an array of numbers, got {type(value).__name__}.") from None
    return array


def _pair(got: Any, label: str, names: str) -> tuple[Any, Any]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        kind = type(got).__name__
        raise CheckFailed(f"{label} should be a pair `{names}`, got a {kind}.")
    return got[0], got[1]


def _synthetic(num_per_class: int = 40, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Noise images of 4 classes, uint8 (N, 28, 28). A bright block in the top-left or the
    bottom-right corner shows the class's half (0/1 versus 2/3); one pixel, lost among 784
    noisy ones, tells the two classes of a half apart."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), num_per_class)
    images = rng.integers(0, 256, size=(labels.size, 28, 28)).astype(np.float64)
    for n, c in enumerate(labels):
        if c < 2:
            images[n, :12, :12] = np.clip(images[n, :12, :12] * 0.3 + 180, 0, 255)
        else:
            images[n, 16:, 16:] = np.clip(images[n, 16:, 16:] * 0.3 + 180, 0, 255)
        images[n, 14, 14] = 255 if c % 2 else 0
    order = rng.permutation(labels.size)
    return images[order].astype(np.uint8), labels[order]


class _StandInEncoder:
    """An 'encoder' for the checks: (N, 784) floats in [0, 1] -> (N, 6) codes that show the class."""

    _centres = 3.0 * np.eye(4, 6)

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []   # every batch it was given, for the checks to inspect

    def __deepcopy__(self, memo: dict) -> "_StandInEncoder":
        return self   # call() copies the arguments; the check must still see what this encoder was given

    def __call__(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        self.seen.append(x)
        if x.ndim != 2 or x.shape[1] != 784:
            raise ValueError(
                f"the encoder takes flattened images of shape (N, 784), got {x.shape}: "
                "reshape with images.reshape(len(images), -1)"
            )
        if not np.issubdtype(x.dtype, np.floating) or x.max() > 1.0:
            raise ValueError(
                f"the encoder takes pixels scaled to [0, 1] (got dtype {x.dtype}, largest value "
                f"{float(x.max()):g}): divide by 255 first"
            )
        top = x.reshape(-1, 28, 28)[:, :12, :12].mean(axis=(1, 2))
        bottom = x.reshape(-1, 28, 28)[:, 16:, 16:].mean(axis=(1, 2))
        classes = np.where(top > bottom, 0, 2) + (x[:, 14 * 28 + 14] > 0.5)
        wobble = 0.15 * np.sin(np.arange(6)[None, :] * 7.0 + x[:, :6] * 20.0)   # deterministic spread
        return self._centres[classes] + wobble

    def predict(self, x: Any, verbose: int = 0, **kwargs: Any) -> np.ndarray:
        """Like a Keras model's ``predict``."""
        return self(x)


def _expect_scaled_inputs(encoder: _StandInEncoder, images: np.ndarray, shown: str) -> None:
    """The encoder must have been given exactly the flat images divided by 255, as it was trained."""
    want = images.reshape(len(images), -1).astype(np.float64) / 255.0
    for x in encoder.seen:
        if x.shape == want.shape and not np.allclose(x, want, rtol=1e-6, atol=1e-7):
            lit = want > 0
            if np.mean(x[lit] == 0) > 0.5:
                how = "most pixels were rounded to 0: integer or floor division?"
            else:
                ratio = np.median(want[lit] / np.where(x[lit] == 0, np.nan, x[lit]))
                how = f"they look divided by {255 * float(ratio):.4g}"
            raise CheckFailed(
                f"{shown} gave the encoder pixels that are not images / 255 ({how}). Scale exactly as the "
                "encoder was trained: each image flattened to 784 values, divided by 255."
            )


def _one_thread() -> Any:
    """scikit-learn's OpenMP threads only spin on a busy machine for data this small."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy of the labels in a map."""
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    neighbours = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(labels[row], minlength=labels.max() + 1).argmax() for row in neighbours])
    return float(np.mean(votes == labels))


# --------------------------------------------------------------------------- 7.1
@exercise(
    "7.1",
    "Add Gaussian noise",
    hints=[
        "Make a generator from the seed, draw one standard normal number per pixel, scale it by "
        "noise_std, add it to the images, and clip the result back into [0, 1].",
        "Make the generator with np.random.default_rng(seed) and draw noise of the images' shape "
        "with rng.normal(size=...), scaled by noise_std. Build a new array, images + noise; never "
        "`images += ...`, which would corrupt your clean data.",
        "Nearly there: np.clip(array, low, high) puts the noisy pixels back into [0, 1]. NumPy's "
        "normal draws are float64; converting the result with .astype('float32') at the end keeps "
        "the images' dtype and half the memory.",
    ],
)
def _check_add_noise(fn: Callable) -> None:
    images = _FRESH.uniform(0, 1, size=(int(_FRESH.integers(5, 9)), 784)).astype(np.float32)
    images[:, :100] = 0.0                          # background pixels, as in a digit
    images[:, 100:110] = 1.0                       # saturated ones, where clipping matters most
    for noise_std, seed in [(0.4, int(_FRESH.integers(0, 1000))), (0.1, int(_FRESH.integers(0, 1000)))]:
        shown = f"add_noise(images of shape {images.shape}, noise_std={noise_std}, seed={seed})"
        noisy = _as_array(call(fn, images, noise_std, seed, name="add_noise"), shown)
        if noisy.shape != images.shape:
            raise CheckFailed(f"{shown} returned shape {noisy.shape}, expected {images.shape}.")
        reference = np.clip(images + noise_std * np.random.default_rng(seed).normal(size=images.shape), 0.0, 1.0)
        if noisy.min() < -1e-6 or noisy.max() > 1 + 1e-6:
            raise CheckFailed(
                f"{shown} has values from {noisy.min():.3f} to {noisy.max():.3f}: clip the result to "
                "[0, 1], the range of real pixels (np.clip(..., 0.0, 1.0))."
            )
        again = _as_array(call(fn, images, noise_std, seed, name="add_noise"), shown)
        if not np.array_equal(noisy, again):
            raise CheckFailed(
                f"two calls of {shown} gave different noise: draw it from np.random.default_rng(seed), "
                "not from the global np.random functions, so that a seed gives the same images every time."
            )
        if np.allclose(noisy, images):
            raise CheckFailed(f"{shown} returned the images unchanged: add the noise.")
        normal = np.random.default_rng(seed).normal(size=images.shape)
        for scale in (noise_std ** 2, np.sqrt(noise_std)):
            if np.allclose(noisy, np.clip(images + scale * normal, 0.0, 1.0), atol=1e-6):
                raise CheckFailed(
                    f"{shown}: the noise is scaled by {scale:.3g} instead of noise_std = {noise_std}. "
                    "noise_std is the standard deviation: multiply standard normal noise by it."
                )
        if not np.allclose(noisy, reference, atol=1e-6, rtol=1e-5):
            raise CheckFailed(
                f"{shown} does not match the expected noisy images. The noise must come from a generator "
                "made from the seed, in one draw of standard normal numbers shaped like the images; "
                "another generator, distribution, shape or order of draws gives other numbers."
            )
        expect_array(noisy, reference, name=shown, atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- 7.2
@exercise(
    "7.2",
    "Train a vanilla autoencoder",
    hints=[
        "Build an encoder 784 -> 256 (ReLU) -> 10 and a decoder 10 -> 256 (ReLU) -> 784 (sigmoid) as "
        "two keras.Model objects, chain them into an autoencoder, and fit it with the images as both "
        "inputs and targets.",
        "Use the functional API: start from keras.Input(shape=(784,)), call the layers on it one "
        "after the other (Dense(256, activation='relu'), then Dense(10)) and wrap the inputs and "
        "the outputs in a keras.Model. Build the decoder the same way from "
        "keras.Input(shape=(10,)), then chain the two.",
        "Nearly there: compile the chained autoencoder with the 'adam' optimizer and the 'mse' "
        "loss, then fit it with the images as both the input and the target, about 8 epochs, "
        "batches of 128, verbose=0. Return the two halves, (encoder, decoder), not the "
        "autoencoder.",
    ],
)
def _check_autoencoder(parts: Any) -> None:
    if parts is None:
        raise CheckFailed(
            "ae_parts is not written yet (it is still None): write train_autoencoder so that it builds and "
            "trains the autoencoder and returns (encoder, decoder)."
        )
    encoder, decoder = _pair(parts, "ae_parts", "(encoder, decoder)")
    digits = _test_digits()
    codes = _as_array(call(encoder, digits, name="encoder"), "encoder")
    if codes.ndim != 2 or codes.shape[0] != len(digits):
        raise CheckFailed(
            f"the encoder turned (500, 784) images into shape {codes.shape}; it should give one code "
            "vector per image, shape (500, k)."
        )
    if codes.shape[1] > MAX_CODE_SIZE:
        raise CheckFailed(
            f"the codes have {codes.shape[1]} numbers per image: that is no bottleneck. An autoencoder "
            f"must squeeze the 784 pixels through a narrow code (at most {MAX_CODE_SIZE}; the chapter uses 10)."
        )
    if not np.all(np.isfinite(codes)):
        raise CheckFailed("the codes contain NaN or infinity: did training diverge?")
    recon = _as_array(call(decoder, codes.astype(np.float32), name="decoder"), "decoder")
    if recon.size == digits.size and recon.shape != digits.shape:
        raise CheckFailed(
            f"the decoder returned shape {recon.shape}; return flat images of shape (500, 784) "
            "(a final Dense(784) layer), so that they compare with the inputs."
        )
    if recon.shape != digits.shape:
        raise CheckFailed(f"the decoder returned shape {recon.shape}, expected {digits.shape}.")
    if recon.max() > 1.5:
        raise CheckFailed(
            f"the reconstructions go up to {recon.max():.1f}: the model seems to work on pixels in "
            "0..255. Scale the images to [0, 1] (divide by 255) before training and use a sigmoid output."
        )
    mse = float(np.mean((recon - digits) ** 2))
    mean_image = float(np.mean((digits.mean(axis=0) - digits) ** 2))
    if mse >= MAX_RECONSTRUCTION_MSE:
        worse = " That is no better than drawing the average digit every time." if mse >= mean_image else ""
        raise CheckFailed(
            f"the reconstruction MSE on 500 test digits is {mse:.4f}; it should be below "
            f"{MAX_RECONSTRUCTION_MSE}.{worse} Train longer (8-10 epochs), on more images (10,000 or "
            "more), and check that inputs and targets are the same scaled images."
        )


# --------------------------------------------------------------------------- 7.3
@exercise(
    "7.3",
    "A t-SNE map of the latent space",
    hints=[
        "Three steps: prepare the images the way the encoder expects them (flat, scaled to [0, 1]), "
        "encode them, then run t-SNE on the codes, not on the pixels.",
        "Flatten each image to a vector of 784 values and scale it to [0, 1], as for training; "
        "call the encoder on the batch and turn its output into a NumPy array with np.asarray. "
        "t-SNE is sklearn.manifold.TSNE.",
        "Nearly there: TSNE(n_components=2, ...) with random_state=seed, so that the map is the "
        "same every time; its fit_transform(codes) returns the (N, 2) map. Run it on the codes, "
        "never on the pixels.",
    ],
)
def _check_latent_map(fn: Callable) -> None:
    with _one_thread():
        _grade_latent_map(fn)


def _grade_latent_map(fn: Callable) -> None:
    images, labels = _synthetic()
    encoder = _StandInEncoder()
    shown = "latent_map(encoder, images, seed=0) on the check's 160 images"
    first = call(fn, encoder, images, 0, name="latent_map")
    if first is not None and not hasattr(first, "shape") and hasattr(first, "fit_transform"):
        raise CheckFailed(f"{shown} returned a {type(first).__name__} object: return the 2-D points, fit_transform(codes).")
    points = _as_array(first, shown)
    if points.shape == (len(images), 6):
        raise CheckFailed(f"{shown} returned the codes themselves, shape {points.shape}: map them to 2-D with t-SNE.")
    if points.shape != (len(images), 2):
        raise CheckFailed(f"{shown} returned shape {points.shape}, expected ({len(images)}, 2): one 2-D point per image.")
    if not np.all(np.isfinite(points)):
        raise CheckFailed(f"{shown} contains NaN or infinity.")
    _expect_scaled_inputs(encoder, images, shown)
    again = _as_array(call(fn, encoder, images, 0, name="latent_map"), shown)
    if not np.allclose(points, again):
        raise CheckFailed(
            f"two calls of {shown} gave different maps: pass random_state=seed to TSNE, so that the "
            "same seed draws the same map."
        )
    accuracy = _knn_accuracy(points, labels)
    if accuracy < 0.9:
        raise CheckFailed(
            f"in the map of {shown}, only {accuracy:.0%} of the points have mostly same-class neighbours "
            "(expected at least 90%). The check's raw pixels hide half of each class, its codes do not: "
            "this map looks like t-SNE of the pixels. Run t-SNE on encoder(x)."
        )


# --------------------------------------------------------------------------- 7.4
def _noisy_test_digits() -> tuple[np.ndarray, np.ndarray]:
    clean = _test_digits()
    noise = np.random.default_rng(74).normal(size=clean.shape)
    return clean, np.clip(clean + DENOISE_STD * noise, 0.0, 1.0).astype(np.float32)


def _median_filtered(noisy: np.ndarray) -> np.ndarray:
    """The no-learning baseline: a 3 x 3 median filter over each 28 x 28 image."""
    from scipy import ndimage

    return ndimage.median_filter(noisy.reshape(-1, 28, 28), size=(1, 3, 3)).reshape(len(noisy), 784)


@provides_data("7.4")
def _denoising_data() -> tuple[TrainingData, tuple[np.ndarray, np.ndarray]]:
    """9,600 clean training digits (flat, in [0, 1]) with their labels, and 2,400 for validation."""
    images, labels = _train_digits()
    (x_train, y_train), validation = validation_split(images, labels, 0.2, seed=74)
    return TrainingData(x_train, y_train, budget=DENOISE_BUDGET, name="the training digits"), validation


def _run_model(model: Any, x: np.ndarray, label: str) -> np.ndarray:
    """Outputs of a Keras model, a PyTorch module or any function on a batch of flat images."""
    try:
        import torch
    except ImportError:  # pragma: no cover - the course installs PyTorch
        torch = None
    if torch is not None and isinstance(model, torch.nn.Module):
        model.eval()
        with torch.no_grad():
            out = call(model, torch.as_tensor(x), name=label)
    else:
        out = call(model, x, name=label)
    return _as_array(out, label)


@exercise(
    "7.4",
    "A denoising autoencoder on a budget",
    kind="challenge",
    hints=[
        "A denoising autoencoder learns what digits look like, which a filter cannot: train on "
        "pairs (noisy input, clean target), with fresh noise at every pass, as the chapter did.",
        "Spend the examples on passes over the data, each with newly drawn noise, rather than on "
        "one noisy copy reused. A wider code than 7.2's (a hundred numbers or so) keeps the strokes; "
        "pixels in [0, 1] with a sigmoid output suit a cross-entropy loss.",
        "Measure on the validation digits with noise of standard deviation 0.4, and compare with a "
        "median filter (scipy.ndimage.median_filter, size 3) on the same noisy digits: beat it well.",
    ],
)
def _check_denoiser(fn: Callable) -> None:
    if fn is None:
        raise CheckFailed("train_denoiser is not written yet (it is None): write the function that trains "
                          "and returns the denoiser.")
    if not callable(fn):
        raise CheckFailed(f"check('7.4', ...) takes your function train_denoiser, got a {type(fn).__name__}.")
    if hasattr(fn, "fit") or hasattr(fn, "parameters"):
        raise CheckFailed(
            "check('7.4', ...) takes the function train_denoiser itself, not a trained model: the check "
            "calls train_denoiser(data) with the training digits and its budget."
        )
    data, _ = _denoising_data()
    model, report = run_challenge(fn, data, DENOISE_BUDGET, name="train_denoiser")
    clean, noisy = _noisy_test_digits()
    out = _run_model(model, noisy, "the denoiser")
    if out.size == clean.size and out.shape != clean.shape:
        raise CheckFailed(f"the denoiser returned shape {out.shape}; return flat images, shape {clean.shape}.")
    if out.shape != clean.shape:
        raise CheckFailed(f"the denoiser returned shape {out.shape} for noisy digits of shape {clean.shape}.")
    if not np.all(np.isfinite(out)):
        raise CheckFailed("the denoiser's outputs contain NaN or infinity: did training diverge?")
    if np.allclose(out, noisy, atol=1e-3):
        raise CheckFailed("the denoiser returns its input unchanged. Train it on pairs (noisy input, clean target).")
    median = _median_filtered(noisy)
    mse = float(np.mean((out - clean) ** 2))
    noisy_mse = float(np.mean((noisy - clean) ** 2))
    median_mse = float(np.mean((median - clean) ** 2))
    target = BASELINE_SHARE * median_mse
    if np.allclose(out, median, atol=1e-3):
        raise CheckFailed(
            f"the denoiser's outputs are a 3 x 3 median filter of its inputs (MSE {mse:.4f}), which the check "
            f"uses as its no-learning baseline; a trained denoiser must reach {target:.4f} or less."
        )
    if mse > target:
        hint = ""
        if mse > 0.8 * noisy_mse:
            hint = (" It removes little or none of the noise: were the targets the clean images, and the "
                    "inputs their noisy versions?")
        raise CheckFailed(
            f"on 500 test digits with noise of standard deviation {DENOISE_STD}, the MSE between your outputs "
            f"and the clean digits is {mse:.4f}; a 3 x 3 median filter, which learns nothing, reaches "
            f"{median_mse:.4f}, and the target is {BASELINE_SHARE:.0%} of that, {target:.4f} (the noisy "
            f"inputs score {noisy_mse:.4f}).{hint} Your training spent: {report}.",
            advice="Use the whole example budget as passes with fresh noise, and measure on the "
                   "validation split against the median filter before you check.",
        )


# --------------------------------------------------------------------------- 7.5
def _kl_reference(codes: np.ndarray, rho: float, *, axis: int = 0, reverse: bool = False,
                  second_term: bool = True, reduce: str = "sum") -> float:
    rho_hat = np.clip(codes.mean(axis=axis), 1e-6, 1 - 1e-6)
    if reverse:
        terms = rho_hat * np.log(rho_hat / rho) + (1 - rho_hat) * np.log((1 - rho_hat) / (1 - rho))
    else:
        terms = rho * np.log(rho / rho_hat)
        if second_term:
            terms = terms + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    return float(terms.sum() if reduce == "sum" else terms.mean())


@exercise(
    "7.5",
    "Find the bug: a sparsity penalty",
    kind="debug",
    hints=[
        "rho_hat should say how often each hidden *unit* fires, averaged over the examples of the batch. "
        "Which axis of codes, shape (batch, units), runs over the examples?",
        "Average codes over the batch axis, so that rho_hat has one entry per unit, shape "
        "(units,). Clip it into [1e-6, 1 - 1e-6] so that a unit that never fires gives a large "
        "but finite penalty.",
        "Only the averaging axis is wrong: keep the KL expression of the given function, sum it "
        "over the units and return the number. With the wrong axis the penalty grows with the "
        "batch size; with the right one it does not: try both on codes of 10 and of 100 rows.",
    ],
)
def _check_kl(fn: Callable) -> None:
    rng = np.random.default_rng(75)
    cases = [
        ("a batch of 8 examples and 5 units", rng.uniform(0.01, 0.6, size=(8, 5)), 0.05),
        ("a batch of 3 examples and 6 units", rng.uniform(0.0, 1.0, size=(3, 6)) ** 3, 0.1),
    ]
    for label, codes, rho in cases:
        shown = f"kl_sparsity(codes of {label}, rho={rho})"
        got = call(fn, codes, rho, name="kl_sparsity")
        expected = _kl_reference(codes, rho)
        if got is not None and np.ndim(got) == 1:
            size = np.shape(got)[0]
            per = "example" if size == codes.shape[0] else "unit"
            raise CheckFailed(f"{shown} returned {size} numbers, one per {per}: sum the KL terms into one penalty.")
        value = float(np.asarray(got)) if got is not None and np.ndim(got) == 0 else got
        for wrong, explanation in [
            (_kl_reference(codes, rho, axis=1),
             "rho_hat is averaged over the units of each example (axis=1), one value per example. It "
             "must say how active each unit is over the examples of the batch; that is the bug."),
            (_kl_reference(codes, rho, reverse=True),
             "the KL divergence is reversed. The penalty is KL(rho || rho_hat): rho * log(rho / rho_hat) + ..."),
            (_kl_reference(codes, rho, second_term=False),
             "the second term, (1 - rho) * log((1 - rho) / (1 - rho_hat)), is missing."),
            (_kl_reference(codes, rho, reduce="mean"),
             "the KL terms are averaged over the units; sum them."),
        ]:
            if value is not None and np.ndim(value) == 0 and np.isfinite(float(value)) \
                    and not np.isclose(wrong, expected) and np.isclose(float(value), wrong, rtol=1e-6):
                raise CheckFailed(f"{shown} is {float(value):.6g}, expected {expected:.6g}: {explanation}")
        expect_scalar(value, expected, name=shown)
    for what, value in (("never fires", 0.0), ("always fires", 1.0)):
        extreme = np.full((4, 3), 0.2)
        extreme[:, 1] = value
        shown = f"kl_sparsity(codes with a unit that {what}, rho=0.05)"
        with np.errstate(divide="ignore", invalid="ignore"):
            got = call(fn, extreme, 0.05, name="kl_sparsity")
        if got is None or np.ndim(got) != 0 or not np.isfinite(float(got)):
            raise CheckFailed(
                f"{shown} is {got}: for a unit whose rho_hat is {value:g} the penalty must stay finite. "
                "Clip rho_hat into [1e-6, 1 - 1e-6] before taking logarithms."
            )
        expect_scalar(got, _kl_reference(extreme, 0.05), name=shown, rtol=1e-3)


# --------------------------------------------------------------------------- 7.6
def _kmeans_scores(features: np.ndarray, labels: np.ndarray, k: int, seed: int) -> tuple[float, float]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    predicted = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(features)
    return normalized_mutual_info_score(labels, predicted), adjusted_rand_score(labels, predicted)


@exercise(
    "7.6",
    "K-means on pixels versus latent codes",
    hints=[
        "Prepare the images as the encoder expects (flat, scaled to [0, 1]). Run K-means with "
        "num_clusters clusters twice, once on those pixel vectors and once on encoder(x), and score each "
        "clustering against the true labels with NMI and ARI.",
        "from sklearn.cluster import KMeans and from sklearn.metrics import normalized_mutual_info_score, "
        "adjusted_rand_score. predicted = KMeans(n_clusters=num_clusters, n_init=10, "
        "random_state=seed).fit_predict(features); the scores take (labels, predicted).",
        "Nearly there: a helper score(features) that fits K-means and returns (nmi, ari) keeps "
        "the two runs identical; call it on the pixels and on the codes, np.asarray(encoder(x)), "
        "and return a dict with the keys 'raw' and 'latent'. The same random_state in both runs "
        "keeps the comparison fair.",
    ],
)
def _check_cluster_scores(fn: Callable) -> None:
    with _one_thread():
        _grade_cluster_scores(fn)


def _grade_cluster_scores(fn: Callable) -> None:
    images, labels = _synthetic(num_per_class=50, seed=76)
    encoder = _StandInEncoder()
    shown = "cluster_scores(images, labels, encoder, num_clusters=4, seed=0) on the check's 200 images"
    got = call(fn, images, labels, encoder, 4, 0, name="cluster_scores")
    if not isinstance(got, dict) or set(got) != {"raw", "latent"}:
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        raise CheckFailed(f"{shown} should return a dict with the keys 'raw' and 'latent', got {keys}.")
    _expect_scaled_inputs(encoder, images, shown)
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0
    expected = {"raw": _kmeans_scores(x, labels, 4, 0), "latent": _kmeans_scores(_StandInEncoder()(x), labels, 4, 0)}
    scores = {}
    for key in ("raw", "latent"):
        pair = got[key]
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise CheckFailed(f"{shown}[{key!r}] should be a pair (nmi, ari), got {_short(pair)}.")
        try:
            scores[key] = tuple(float(v) for v in pair)
        except (TypeError, ValueError):
            raise CheckFailed(f"{shown}[{key!r}] should hold two numbers, (nmi, ari).") from None
    raw, latent = scores["raw"], scores["latent"]
    if latent[0] < 0.99 and np.isclose(raw[0], expected["latent"][0], atol=0.02) \
            and np.isclose(latent[0], expected["raw"][0], atol=0.1):
        raise CheckFailed(f"{shown} has 'raw' and 'latent' swapped: {got}.")
    if latent[0] < 0.99:
        hint = ""
        if latent[0] > 0.7:
            hint = (" It finds more groups than there are: use n_clusters=num_clusters, not a fixed 10.")
        elif np.isclose(latent[0], raw[0], atol=0.1):
            hint = " It looks like both clusterings ran on the pixels: cluster encoder(x) for 'latent'."
        raise CheckFailed(
            f"the latent NMI of {shown} is {latent[0]:.3f}; the check's codes separate the 4 classes "
            f"perfectly, so K-means on them should score 1.000.{hint}"
        )
    for index, name in ((0, "NMI"), (1, "ARI")):
        if not np.isclose(latent[index], 1.0, atol=1e-6):
            raise CheckFailed(f"the latent {name} of {shown} is {latent[index]:.3f}, expected 1.000.")
    if np.isclose(raw[0], expected["raw"][1], atol=0.03) and np.isclose(raw[1], expected["raw"][0], atol=0.03):
        raise CheckFailed(
            f"the raw scores of {shown} are {raw}: NMI and ARI are swapped. Return (nmi, ari) in that order."
        )
    for index, name in ((0, "NMI"), (1, "ARI")):
        if not np.isclose(raw[index], expected["raw"][index], atol=0.08):
            raise CheckFailed(
                f"the raw-pixel {name} of {shown} is {raw[index]:.3f}, expected about "
                f"{expected['raw'][index]:.3f}. Cluster the flat, scaled pixels with num_clusters clusters "
                "and score them against the labels."
            )


# --------------------------------------------------------------------------- 7.7
def _pca_reference(X: np.ndarray, k: int, *, centre: bool = True, add_mean: bool = True,
                   columns: bool = False, smallest: bool = False, standardise: bool = False) -> np.ndarray:
    mean = X.mean(axis=0) if centre else np.zeros(X.shape[1])
    scale = X.std(axis=0) if standardise else np.ones(X.shape[1])
    centred = (X - mean) / scale
    _, _, Vt = np.linalg.svd(centred, full_matrices=False)
    if columns:
        V = Vt[:, :k]                                  # columns of Vt: not the principal directions
        if V.shape[0] != X.shape[1]:
            return np.full(X.shape, np.nan)
    else:
        V = (Vt[len(Vt) - k:] if smallest and k else Vt[:k]).T
    back = centred @ V @ V.T * scale
    return back + mean if add_mean else back


def _low_rank_data(rows: int, cols: int) -> np.ndarray:
    """Rows near a low-dimensional plane far from the origin, with clearly distinct variances."""
    rank = min(rows, cols)
    spectrum = 3.0 * 0.6 ** np.arange(rank)
    U = np.linalg.qr(_FRESH.normal(size=(rows, rank)))[0]
    V = np.linalg.qr(_FRESH.normal(size=(cols, rank)))[0]
    return U @ np.diag(spectrum) @ V.T + _FRESH.uniform(2.0, 5.0, size=cols)


@exercise(
    "7.7",
    "PCA by SVD, the best linear autoencoder",
    kind="transfer",
    hints=[
        "PCA keeps the k directions along which the centred data vary most. The SVD of the centred "
        "data matrix gives them sorted by importance: they are the first k right singular vectors.",
        "Centre first (subtract each column's mean), take np.linalg.svd of the centred matrix, and "
        "keep the first k rows of the third factor: each is one direction of length D.",
        "Encode by projecting the centred rows onto the k directions (a (D, k) matrix), decode by "
        "mapping the k numbers back with its transpose, and add the mean back at the end.",
    ],
)
def _check_pca_reconstruct(fn: Callable) -> None:
    rows, cols = int(_FRESH.integers(30, 50)), int(_FRESH.integers(8, 14))
    wide_rows = int(_FRESH.integers(7, 11))
    tall, wide = _low_rank_data(rows, cols), _low_rank_data(wide_rows, 2 * wide_rows + 3)
    cases = [(tall, int(_FRESH.integers(2, cols - 3))), (wide, int(_FRESH.integers(2, wide_rows - 2))),
             (tall, 1), (tall, 0), (wide, wide_rows)]
    for X, k in cases:
        shown = f"pca_reconstruct(X, k={k}) for X of shape {X.shape}"
        before = X.copy()
        got = _as_array(call(fn, X, k, name="pca_reconstruct"), shown)
        if not np.array_equal(X, before):
            raise CheckFailed(f"{shown} changed X in place: centre a copy (X - mean), not X itself.")
        expected = _pca_reference(X, k)
        if got.shape != X.shape:
            raise CheckFailed(f"{shown} returned shape {got.shape}; return the reconstruction, shape {X.shape}.")
        bugs = [
            (_pca_reference(X, k, centre=False),
             "the data are not centred before the SVD, so the first direction points at the mean "
             "instead of along the largest variation: subtract each column's mean first."),
            (_pca_reference(X, k, add_mean=False),
             "the mean is missing from the reconstruction: add it back after decoding."),
            (_pca_reference(X, k, columns=True),
             "it keeps the first k columns of the SVD's third factor; the directions are its rows "
             "(or the columns of its transpose)."),
            (_pca_reference(X, k, smallest=True),
             "it keeps the k directions of least variance; np.linalg.svd sorts the singular values "
             "from largest to smallest, so keep the first k."),
            (_pca_reference(X, k + 1) if k < min(X.shape) else None, "it keeps k + 1 directions; keep exactly k."),
            (_pca_reference(X, k - 1) if k > 0 else None, "it keeps k - 1 directions; keep exactly k."),
            (_pca_reference(X, k, standardise=True),
             "it divides each column by its standard deviation first; PCA of the images as they are "
             "only centres them."),
        ]
        diagnose(got, expected, [(v, t) for v, t in bugs if v is not None], name=f"the reconstruction from {shown}",
                 rtol=1e-6, atol=1e-8)
        expect_array(got, expected, name=f"the reconstruction from {shown}", rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- 7.8
def _anomaly_reference(x_normal: np.ndarray, recon_normal: np.ndarray, x_new: np.ndarray,
                       recon_new: np.ndarray, rate: float) -> tuple[float, np.ndarray]:
    normal_errors = ((x_normal - recon_normal) ** 2).mean(axis=1)
    new_errors = ((x_new - recon_new) ** 2).mean(axis=1)
    threshold = float(np.quantile(normal_errors, 1 - rate))
    return threshold, new_errors > threshold


@exercise(
    "7.8",
    "Reconstruction error as an anomaly score",
    kind="transfer",
    hints=[
        "An autoencoder trained on normal data reconstructs normal examples well and strange ones "
        "badly, so each example's reconstruction error is its anomaly score. Choose the threshold on "
        "normal data only, so that the share of normal examples above it is the false-alarm rate.",
        "Score each example by the mean squared error over its own pixels (one number per row). "
        "The threshold is the quantile of the normal scores at 1 - false_alarm_rate (np.quantile).",
        "Flag the new examples whose score is strictly above the threshold, and return the "
        "threshold as a float with the boolean flags, one per new example.",
    ],
)
def _check_anomaly_flags(fn: Callable) -> None:
    for num_normal, rate, dims in ((41, 0.25, 16), (33, 0.125, 9), (81, 0.0625, 12)):
        x_normal = _FRESH.uniform(0, 1, size=(num_normal, dims))
        recon_normal = np.clip(x_normal + _FRESH.normal(0, _FRESH.uniform(0.02, 0.1, size=(num_normal, 1)),
                                                        size=x_normal.shape), 0, 1)
        num_new = int(_FRESH.integers(9, 15))
        x_new = _FRESH.uniform(0, 1, size=(num_new, dims))
        spread = np.where(_FRESH.random((num_new, 1)) < 0.5, 0.3, 0.04)
        recon_new = np.clip(x_new + _FRESH.normal(0, 1, size=x_new.shape) * spread, 0, 1)
        # Ties: two new examples score exactly the threshold (copies of the normal example there).
        errors = ((x_normal - recon_normal) ** 2).mean(axis=1)
        at = int(np.argsort(errors, kind="stable")[round((1 - rate) * (num_normal - 1))])
        x_new[[1, 4]], recon_new[[1, 4]] = x_normal[at], recon_normal[at]
        shown = (f"flag_anomalies(x_normal, recon_normal, x_new, recon_new, false_alarm_rate={rate}) for "
                 f"{num_normal} normal and {num_new} new examples of {dims} pixels")
        got = call(fn, x_normal, recon_normal, x_new, recon_new, rate, name="flag_anomalies")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed(f"{shown} should return a pair (threshold, flags), got {_short(got)}.")
        threshold_got, flags_got = got
        threshold, flags = _anomaly_reference(x_normal, recon_normal, x_new, recon_new, rate)
        sums = ((x_normal - recon_normal) ** 2).sum(axis=1)
        wrong_thresholds = [
            (float(np.quantile(sums, 1 - rate)),
             "the scores are summed over the pixels; the chapter's reconstruction error is their mean."),
            (float(np.quantile(errors, rate)),
             f"it is the quantile at false_alarm_rate = {rate}; the threshold leaves that share of normal "
             "examples above it, so take the quantile at 1 - false_alarm_rate."),
            (float(np.quantile(((x_new - recon_new) ** 2).mean(axis=1), 1 - rate)),
             "the threshold comes from the new examples; choose it on the normal data only."),
            (float(np.quantile(np.abs(x_normal - recon_normal).mean(axis=1), 1 - rate)),
             "the scores use absolute differences; use the mean squared error."),
            (float(np.mean((x_normal - recon_normal) ** 2)),
             "it is the mean squared error of all normal examples together; take the quantile of the "
             "per-example scores."),
            (float(errors.max()), "it is the largest normal score: that allows no false alarms at all."),
        ]
        diagnose(threshold_got, threshold, wrong_thresholds, name=f"the threshold from {shown}", rtol=1e-9, atol=1e-12)
        expect_scalar(threshold_got, threshold, name=f"the threshold from {shown}", rtol=1e-9, atol=1e-12)
        flags_array = np.asarray(flags_got)
        if flags_array.shape != flags.shape:
            raise CheckFailed(
                f"the flags from {shown} have shape {flags_array.shape}; return one boolean per new example, "
                f"shape {flags.shape}, not the indices of the flagged ones."
            )
        if flags_array.dtype != bool:
            raise CheckFailed(f"the flags from {shown} have dtype {flags_array.dtype}; return booleans "
                              "(a comparison of the scores with the threshold).")
        if np.array_equal(flags_array, flags | np.isin(np.arange(num_new), [1, 4])) and not np.array_equal(flags_array, flags):
            raise CheckFailed(
                f"the flags from {shown} mark examples whose score equals the threshold exactly; flag only "
                "the scores strictly above it (a false-alarm rate counts the normal scores above the threshold)."
            )
        if not np.array_equal(flags_array, flags):
            raise CheckFailed(
                f"the flags from {shown} are {flags_array.astype(int).tolist()}, expected "
                f"{flags.astype(int).tolist()}: flag each new example whose own score is above the threshold."
            )
