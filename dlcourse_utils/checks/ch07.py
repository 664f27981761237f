"""Graders for chapter 7, unsupervised learning and autoencoders (exercises 7.1-7.6).

The chapter's conventions: images are MNIST digits, flattened to 784 pixels and
scaled to [0, 1] before they meet a network; an autoencoder is a pair
``(encoder, decoder)`` of callables, ``encoder: (N, 784) -> (N, k)`` with a
bottleneck ``k`` far below 784 and ``decoder: (N, k) -> (N, 784)``; noise is
Gaussian, added with ``np.random.default_rng(seed)`` and clipped back into [0, 1].

Training is done in the notebook, never here. The graders of trained models judge
them on 500 MNIST test digits that no exercise trains on. The graders of the
pipelines (t-SNE map, K-means scores) run the learner's function on a small
synthetic data set and a stand-in encoder that see things differently: the raw
pixels hide half of each image's class, the encoder's codes show all of it. That is
how a check can tell whether the codes or the pixels were used.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from .core import CheckFailed, _short, call, exercise, expect_array, expect_scalar

#: Exercise 7.2: the largest reconstruction MSE accepted on the check's 500 test digits.
#: (The mean image scores about 0.064, PCA with 10 components 0.034, the chapter's AE about 0.018.)
MAX_RECONSTRUCTION_MSE = 0.03
#: Exercise 7.2: the widest code that still counts as a bottleneck.
MAX_CODE_SIZE = 64
#: Exercise 7.4: noise level of the check, and the largest MSE to the clean digits accepted.
#: (The noisy inputs themselves score about 0.080, a vanilla AE fed them 0.06-0.08, a DAE about 0.027.)
DENOISE_STD = 0.4
MAX_DENOISED_MSE = 0.035


# --------------------------------------------------------------------------- shared helpers
@functools.lru_cache(maxsize=1)
def _test_digits() -> np.ndarray:
    """The last 500 MNIST test digits, flattened and scaled: (500, 784) float32 in [0, 1]."""
    from ..data import DATASETS, fetch, read_idx

    images = read_idx(fetch(DATASETS["mnist"]["t10k-images-idx3-ubyte.gz"], progress=False))
    return (images[-500:].reshape(500, 784) / 255.0).astype(np.float32)


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
                "encoder was trained: x = images.reshape(len(images), -1).astype('float32') / 255.0."
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
    rng = np.random.default_rng(71)
    images = rng.uniform(0, 1, size=(6, 784)).astype(np.float32)
    images[:, :100] = 0.0                          # background pixels, as in a digit
    for noise_std, seed in [(0.4, 0), (0.1, 3)]:
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
                f"{shown} does not match the expected noisy images. Draw the noise exactly as "
                "rng = np.random.default_rng(seed); noise_std * rng.normal(size=images.shape), add it "
                "and clip to [0, 1] (another generator or distribution gives other numbers)."
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


@exercise(
    "7.4",
    "A denoising autoencoder",
    hints=[
        "Same network as an ordinary autoencoder; only the training pairs change: the inputs are "
        "noisy images, the targets are the clean originals.",
        "Make the noisy inputs with your add_noise from exercise 7.1 (noise_std 0.4, a fixed "
        "seed) and train on pairs (noisy image, clean image). Fitting (noisy, noisy) would teach "
        "the network to copy the noise.",
        "Nearly there: the network of exercise 7.2 with a wider code (784-256-32-256-784, sigmoid "
        "output), compiled with 'adam' and 'mse'; `denoiser.fit(x_noisy, ..., epochs=8, "
        "batch_size=128, verbose=0)`, where ... is the clean target. Return the trained model.",
    ],
)
def _check_denoiser(denoiser: Any) -> None:
    if denoiser is None:
        raise CheckFailed(
            "denoiser is not written yet (it is still None): write train_denoiser so that it trains on noisy "
            "inputs and clean targets and returns the model."
        )
    clean, noisy = _noisy_test_digits()
    out = _as_array(call(denoiser, noisy, name="denoiser"), "denoiser")
    if out.size == clean.size and out.shape != clean.shape:
        raise CheckFailed(f"the denoiser returned shape {out.shape}; return flat images, shape {clean.shape}.")
    if out.shape != clean.shape:
        raise CheckFailed(f"the denoiser returned shape {out.shape}, expected {clean.shape}.")
    mse = float(np.mean((out - clean) ** 2))
    noisy_mse = float(np.mean((noisy - clean) ** 2))
    if np.allclose(out, noisy, atol=1e-3):
        raise CheckFailed("the denoiser returns its input unchanged. Train it on pairs (noisy input, clean target).")
    if mse >= MAX_DENOISED_MSE:
        hint = ""
        if mse > 0.8 * noisy_mse:
            hint = (" It removes little or none of the noise: were the targets the clean images? "
                    "fit(x_noisy, x_clean), not fit(x_noisy, x_noisy) or fit(x_clean, x_clean).")
        raise CheckFailed(
            f"on 500 test digits with noise of standard deviation {DENOISE_STD}, the MSE between your "
            f"outputs and the clean digits is {mse:.4f} (the noisy inputs score {noisy_mse:.4f}); it "
            f"should be below {MAX_DENOISED_MSE}.{hint}"
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
             "rho_hat is averaged over the units of each example (axis=1). It must be the average "
             "activation of each unit over the batch, codes.mean(axis=0); that is the bug."),
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
