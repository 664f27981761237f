"""Chapter 7 self-checks accept the right answers and reject the mistakes learners make.

Trained Keras models are too slow for a unit test, so the "autoencoders" here are
linear ones (PCA), which is what a linear autoencoder learns anyway: a PCA pair with
a 32-number code passes the reconstruction check, a 3-number one does not; PCA
projection also removes enough noise to pass the denoising check, the identity does
not. Exercise 7.4 is a budgeted challenge: its reference trains a small PyTorch denoiser
(about a minute on a busy 2-core machine), and its wrong answers break the budget, keep the
training digits, load data themselves, or denoise without learning (a median filter).
``tests/test_exercises.py`` reads ``WRONG_WITH_MESSAGES`` too.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from dlcourse_utils.checks import grade
from dlcourse_utils.data import DATASETS, fetch, read_idx
from selfcheck_rules import SelfCheckRules, unfilled


@functools.lru_cache(maxsize=1)
def _digits(count: int = 3000) -> np.ndarray:
    """MNIST test digits 0-2999, disjoint from the graders' last 500; loaded on first use."""
    images = read_idx(fetch(DATASETS["mnist"]["t10k-images-idx3-ubyte.gz"], progress=False))
    return images[:count].reshape(count, 784) / 255.0


@functools.lru_cache(maxsize=None)
def _pca(num_components: int, scale: float = 1.0) -> PCA:
    return PCA(num_components, random_state=0).fit(_digits() * scale)


def _pca_pair(num_components: int):
    # Built lazily, so that importing this module (test_exercises.py does) needs no data.
    return (lambda x: _pca(num_components).transform(np.asarray(x, dtype=np.float64)),
            lambda z: np.clip(_pca(num_components).inverse_transform(np.asarray(z, dtype=np.float64)), 0.0, 1.0))


# --------------------------------------------------------------------------- reference answers
def add_noise(images, noise_std, seed):
    rng = np.random.default_rng(seed)
    return np.clip(images + noise_std * rng.normal(size=images.shape), 0.0, 1.0)


def latent_map(encoder, images, seed):
    x = images.reshape(len(images), -1).astype("float32") / 255.0
    return TSNE(n_components=2, init="pca", random_state=seed).fit_transform(np.asarray(encoder(x)))


def kl_sparsity(codes, rho):
    rho_hat = np.clip(codes.mean(axis=0), 1e-6, 1 - 1e-6)
    return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def _scores(features, labels, k, seed):
    predicted = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(features)
    return normalized_mutual_info_score(labels, predicted), adjusted_rand_score(labels, predicted)


def cluster_scores(images, labels, encoder, num_clusters, seed):
    x = images.reshape(len(images), -1).astype("float32") / 255.0
    return {"raw": _scores(x, labels, num_clusters, seed),
            "latent": _scores(np.asarray(encoder(x)), labels, num_clusters, seed)}


_ENCODE_64, _DECODE_64 = _pca_pair(64)
_ENCODE_5, _DECODE_5 = _pca_pair(5)

def _denoiser_net(hidden: int = 512, code: int = 128) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, code), torch.nn.ReLU(),
        torch.nn.Linear(code, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 784))


def train_denoiser(data, epochs=10, seed=0):
    """The reference: a 784-512-128-512-784 denoiser, fresh noise at every pass, cross-entropy."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = _denoiser_net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(epochs):
        for clean, _ in data.batches(128, seed=seed * 100 + epoch):
            noisy = np.clip(clean + 0.4 * rng.normal(size=clean.shape), 0.0, 1.0).astype(np.float32)
            loss = F.binary_cross_entropy_with_logits(net(torch.from_numpy(noisy)), torch.from_numpy(clean))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return torch.nn.Sequential(net, torch.nn.Sigmoid())


def pca_reconstruct(X, k):
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    V = Vt[:k].T
    return mean + (X - mean) @ V @ V.T


def flag_anomalies(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    normal_scores = ((x_normal - recon_normal) ** 2).mean(axis=1)
    new_scores = ((x_new - recon_new) ** 2).mean(axis=1)
    threshold = float(np.quantile(normal_scores, 1 - false_alarm_rate))
    return threshold, new_scores > threshold


REFERENCE = {
    "7.1": add_noise,
    "7.2": _pca_pair(32),                              # a linear autoencoder with a 32-number code
    "7.3": latent_map,
    "7.4": train_denoiser,
    "7.5": kl_sparsity,
    "7.6": cluster_scores,
    "7.7": pca_reconstruct,
    "7.8": flag_anomalies,
}


# --------------------------------------------------------------------------- wrong answers: 7.1
def add_noise_unclipped(images, noise_std, seed):
    return images + noise_std * np.random.default_rng(seed).normal(size=images.shape)


def add_noise_global_generator(images, noise_std, seed):
    return np.clip(images + noise_std * np.random.normal(size=images.shape), 0.0, 1.0)


def add_noise_as_variance(images, noise_std, seed):
    return np.clip(images + noise_std ** 2 * np.random.default_rng(seed).normal(size=images.shape), 0.0, 1.0)


def add_noise_in_place(images, noise_std, seed):
    images += noise_std * np.random.default_rng(seed).normal(size=images.shape)
    np.clip(images, 0.0, 1.0, out=images)
    return images


def add_noise_uniform(images, noise_std, seed):
    rng = np.random.default_rng(seed)
    return np.clip(images + rng.uniform(-noise_std, noise_std, size=images.shape), 0.0, 1.0)


def add_noise_legacy_seed(images, noise_std, seed):
    np.random.seed(seed)
    return np.clip(images + noise_std * np.random.normal(size=images.shape), 0.0, 1.0)


# --------------------------------------------------------------------------- wrong answers: 7.2
def _untrained_pair():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(784, 10)) / 28.0
    return (lambda x: np.asarray(x) @ W, lambda z: 1 / (1 + np.exp(-np.asarray(z) @ W.T)))


def _no_bottleneck_pair():
    return (lambda x: np.asarray(x), lambda z: np.asarray(z))


def _trained_on_0_255_pair():
    return (lambda x: _pca(32, 255.0).transform(np.asarray(x) * 255.0),
            lambda z: _pca(32, 255.0).inverse_transform(np.asarray(z)))


def _square_images_pair():
    encode, decode = _pca_pair(32)
    return (encode, lambda z: decode(z).reshape(-1, 28, 28))


def _tiny_code_pair():
    return _pca_pair(3)


def _single_model_not_a_pair():
    encode, decode = _pca_pair(32)
    return lambda x: decode(encode(x))


# --------------------------------------------------------------------------- wrong answers: 7.3
def latent_map_floor_divided(encoder, images, seed):
    x = images.reshape(len(images), -1).astype("float32") // 255.0      # every pixel becomes 0 or 1
    return TSNE(n_components=2, init="pca", random_state=seed).fit_transform(np.asarray(encoder(x)))


def cluster_scores_scaled_by_256(images, labels, encoder, num_clusters, seed):
    x = images.reshape(len(images), -1).astype("float32") / 256.0
    return {"raw": _scores(x, labels, num_clusters, seed),
            "latent": _scores(np.asarray(encoder(x)), labels, num_clusters, seed)}


def kl_sparsity_clipped_below_only(codes, rho):
    rho_hat = np.maximum(codes.mean(axis=0), 1e-6)                      # a unit that always fires: log(0)
    return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def latent_map_of_pixels(encoder, images, seed):
    x = images.reshape(len(images), -1).astype("float32") / 255.0
    return TSNE(n_components=2, init="pca", random_state=seed).fit_transform(x)


def latent_map_unseeded(encoder, images, seed):
    x = images.reshape(len(images), -1).astype("float32") / 255.0
    return TSNE(n_components=2, init="random").fit_transform(np.asarray(encoder(x)))


def latent_map_returns_codes(encoder, images, seed):
    return np.asarray(encoder(images.reshape(len(images), -1).astype("float32") / 255.0))


def latent_map_unscaled(encoder, images, seed):
    x = images.reshape(len(images), -1).astype("float32")
    return TSNE(n_components=2, random_state=seed).fit_transform(np.asarray(encoder(x)))


def latent_map_not_flattened(encoder, images, seed):
    return TSNE(n_components=2, random_state=seed).fit_transform(np.asarray(encoder(images / 255.0)))


def latent_map_returns_estimator(encoder, images, seed):
    x = images.reshape(len(images), -1).astype("float32") / 255.0
    return TSNE(n_components=2, random_state=seed).fit(np.asarray(encoder(x)))


# --------------------------------------------------------------------------- wrong answers: 7.4
def train_median_filter(data):                       # no learning: the check's baseline
    next(data.batches(128))
    return lambda x: ndimage.median_filter(np.asarray(x).reshape(-1, 28, 28), size=(1, 3, 3)).reshape(len(x), 784)


def train_identity(data):
    next(data.batches(128))
    return lambda x: np.asarray(x)


def train_untrained(data):
    next(data.batches(128))
    torch.manual_seed(0)
    return torch.nn.Sequential(_denoiser_net(), torch.nn.Sigmoid())


def train_too_many_passes(data):
    for _ in range(11):                               # 11 passes over 9,600 digits: 105,600 > 96,000
        for _clean, _ in data.batches(4096):
            pass
    return lambda x: np.asarray(x)


def train_too_big(data):
    next(data.batches(128))
    return torch.nn.Sequential(_denoiser_net(hidden=1024), torch.nn.Sigmoid())   # 1.87 million numbers


def train_memoriser(data):                            # keeps every training digit, denoises by lookup
    clean = np.concatenate([xb for xb, _ in data.batches(4096)])

    def nearest(x):
        x = np.asarray(x)
        distances = (x ** 2).sum(1)[:, None] - 2 * x @ clean.T + (clean ** 2).sum(1)
        return clean[distances.argmin(axis=1)]
    return nearest


def train_loads_data(data):
    from dlcourse_utils.data import load_mnist

    (images, _), _ = load_mnist(progress=False)
    return lambda x: np.asarray(x)


def train_returns_none(data):
    next(data.batches(128))


def train_square_output(data):
    next(data.batches(128))
    return lambda x: np.asarray(x).reshape(-1, 28, 28)


# --------------------------------------------------------------------------- wrong answers: 7.5
def kl_sparsity_buggy(codes, rho):                      # the code the exercise hands out
    rho_hat = codes.mean(axis=1)
    return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def kl_sparsity_reversed(codes, rho):
    rho_hat = np.clip(codes.mean(axis=0), 1e-6, 1 - 1e-6)
    return np.sum(rho_hat * np.log(rho_hat / rho) + (1 - rho_hat) * np.log((1 - rho_hat) / (1 - rho)))


def kl_sparsity_first_term_only(codes, rho):
    rho_hat = np.clip(codes.mean(axis=0), 1e-6, 1 - 1e-6)
    return np.sum(rho * np.log(rho / rho_hat))


def kl_sparsity_mean_over_units(codes, rho):
    rho_hat = np.clip(codes.mean(axis=0), 1e-6, 1 - 1e-6)
    return np.mean(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def kl_sparsity_unclipped(codes, rho):
    rho_hat = codes.mean(axis=0)
    with np.errstate(divide="ignore"):
        return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def kl_sparsity_per_unit(codes, rho):
    rho_hat = np.clip(codes.mean(axis=0), 1e-6, 1 - 1e-6)
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


# --------------------------------------------------------------------------- wrong answers: 7.7
def pca_uncentred(X, k):
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    V = Vt[:k].T
    return X @ V @ V.T


def pca_mean_not_added_back(X, k):
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return (X - mean) @ Vt[:k].T @ Vt[:k]


def pca_columns_of_vt(X, k):
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    V = Vt[:, :k]
    return mean + (X - mean) @ V @ V.T


def pca_smallest_components(X, k):
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    V = Vt[len(Vt) - k:].T if k else Vt[:0].T
    return mean + (X - mean) @ V @ V.T


def pca_one_too_many(X, k):
    return pca_reconstruct(X, k + 1)


def pca_standardised(X, k):
    mean, std = X.mean(axis=0), X.std(axis=0)
    Z = (X - mean) / std
    _, _, Vt = np.linalg.svd(Z, full_matrices=False)
    return mean + Z @ Vt[:k].T @ Vt[:k] * std


def pca_in_place(X, k):
    X -= X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    return X @ Vt[:k].T @ Vt[:k]


# --------------------------------------------------------------------------- wrong answers: 7.8
def anomaly_summed_scores(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    normal = ((x_normal - recon_normal) ** 2).sum(axis=1)
    new = ((x_new - recon_new) ** 2).sum(axis=1)
    threshold = float(np.quantile(normal, 1 - false_alarm_rate))
    return threshold, new > threshold


def anomaly_quantile_at_rate(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    normal = ((x_normal - recon_normal) ** 2).mean(axis=1)
    threshold = float(np.quantile(normal, false_alarm_rate))
    return threshold, ((x_new - recon_new) ** 2).mean(axis=1) > threshold


def anomaly_at_or_above(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    threshold, _ = flag_anomalies(x_normal, recon_normal, x_new, recon_new, false_alarm_rate)
    return threshold, ((x_new - recon_new) ** 2).mean(axis=1) >= threshold


def anomaly_threshold_from_new(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    new = ((x_new - recon_new) ** 2).mean(axis=1)
    threshold = float(np.quantile(new, 1 - false_alarm_rate))
    return threshold, new > threshold


def anomaly_one_global_error(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    threshold = float(np.mean((x_normal - recon_normal) ** 2))
    return threshold, ((x_new - recon_new) ** 2).mean(axis=1) > threshold


def anomaly_absolute_error(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    normal = np.abs(x_normal - recon_normal).mean(axis=1)
    threshold = float(np.quantile(normal, 1 - false_alarm_rate))
    return threshold, np.abs(x_new - recon_new).mean(axis=1) > threshold


def anomaly_indices(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    threshold, flags = flag_anomalies(x_normal, recon_normal, x_new, recon_new, false_alarm_rate)
    return threshold, np.flatnonzero(flags)


def anomaly_maximum(x_normal, recon_normal, x_new, recon_new, false_alarm_rate):
    normal = ((x_normal - recon_normal) ** 2).mean(axis=1)
    return float(normal.max()), ((x_new - recon_new) ** 2).mean(axis=1) > normal.max()


# --------------------------------------------------------------------------- wrong answers: 7.6
def cluster_scores_pixels_twice(images, labels, encoder, num_clusters, seed):
    x = images.reshape(len(images), -1).astype("float32") / 255.0
    return {"raw": _scores(x, labels, num_clusters, seed), "latent": _scores(x, labels, num_clusters, seed)}


def cluster_scores_ten_clusters(images, labels, encoder, num_clusters, seed):
    return cluster_scores(images, labels, encoder, 10, seed)


def cluster_scores_ari_first(images, labels, encoder, num_clusters, seed):
    return {key: pair[::-1] for key, pair in cluster_scores(images, labels, encoder, num_clusters, seed).items()}


def cluster_scores_swapped(images, labels, encoder, num_clusters, seed):
    scores = cluster_scores(images, labels, encoder, num_clusters, seed)
    return {"raw": scores["latent"], "latent": scores["raw"]}


def cluster_scores_unscaled(images, labels, encoder, num_clusters, seed):
    x = images.reshape(len(images), -1).astype("float32")
    return {"raw": _scores(x, labels, num_clusters, seed),
            "latent": _scores(np.asarray(encoder(x)), labels, num_clusters, seed)}


def cluster_scores_returns_tuple(images, labels, encoder, num_clusters, seed):
    scores = cluster_scores(images, labels, encoder, num_clusters, seed)
    return scores["raw"], scores["latent"]


# (wrong answer, a substring its failure message must contain)
WRONG_WITH_MESSAGES = {
    "7.1": [
        (add_noise_unclipped, "clip the result"),
        (add_noise_global_generator, "two calls"),
        (add_noise_as_variance, "noise_std is the standard deviation"),
        (add_noise_in_place, "in place"),
        (add_noise_uniform, "does not match the expected noisy images"),
        (add_noise_legacy_seed, "does not match the expected noisy images"),
    ],
    "7.2": [
        (_untrained_pair(), "no better than drawing the average digit"),
        (_no_bottleneck_pair(), "no bottleneck"),
        (_trained_on_0_255_pair(), "0..255"),
        (_square_images_pair(), "return flat images"),
        (_tiny_code_pair(), "should be below 0.03"),
        (_single_model_not_a_pair(), "should be a pair"),
    ],
    "7.3": [
        (latent_map_of_pixels, "t-SNE of the pixels"),
        (latent_map_unseeded, "random_state=seed"),
        (latent_map_returns_codes, "returned the codes themselves"),
        (latent_map_unscaled, "divide by 255"),
        (latent_map_not_flattened, "reshape"),
        (latent_map_returns_estimator, "fit_transform"),
        (latent_map_floor_divided, "rounded to 0"),
    ],
    "7.4": [
        (train_median_filter, "median filter"),
        (train_identity, "returns its input unchanged"),
        (train_untrained, "learns nothing"),
        (train_too_many_passes, "more than its budget of 96,000"),
        (train_too_big, "the budget is 1,000,000"),
        (train_memoriser, "the budget is 1,000,000"),
        (train_loads_data, "never load a data set itself"),
        (train_returns_none, "returned None"),
        (train_square_output, "return flat images"),
    ],
    "7.5": [
        (kl_sparsity_buggy, "that is the bug"),
        (kl_sparsity_reversed, "reversed"),
        (kl_sparsity_first_term_only, "second term"),
        (kl_sparsity_mean_over_units, "sum them"),
        (kl_sparsity_unclipped, "stay finite"),
        (kl_sparsity_per_unit, "one per unit"),
        (kl_sparsity_clipped_below_only, "always fires"),
    ],
    "7.7": [
        (pca_uncentred, "not centred"),
        (pca_mean_not_added_back, "add it back"),
        (pca_columns_of_vt, "its rows"),
        (pca_smallest_components, "least variance"),
        (pca_one_too_many, "k + 1"),
        (pca_standardised, "standard deviation"),
        (pca_in_place, "in place"),
    ],
    "7.8": [
        (anomaly_summed_scores, "summed over the pixels"),
        (anomaly_quantile_at_rate, "1 - false_alarm_rate"),
        (anomaly_at_or_above, "strictly above"),
        (anomaly_threshold_from_new, "normal data only"),
        (anomaly_one_global_error, "per-example scores"),
        (anomaly_absolute_error, "absolute differences"),
        (anomaly_indices, "not the indices"),
        (anomaly_maximum, "no false alarms"),
    ],
    "7.6": [
        (cluster_scores_pixels_twice, "both clusterings ran on the pixels"),
        (cluster_scores_ten_clusters, "not a fixed 10"),
        (cluster_scores_ari_first, "NMI and ARI are swapped"),
        (cluster_scores_swapped, "'raw' and 'latent' swapped"),
        (cluster_scores_unscaled, "divide by 255"),
        (cluster_scores_returns_tuple, "should return a dict"),
        (cluster_scores_scaled_by_256, "divided by 256"),
    ],
}


@pytest.mark.parametrize("exercise_id", ["7.2", "7.4"])
def test_a_model_or_function_left_at_none_is_reported_as_not_written_yet(exercise_id):
    result = grade(exercise_id, None)                  # the exercise notebook sets it to None first
    assert result.passed is False and "not written yet" in result.message


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES
    stubs = {"7.2": (unfilled, unfilled)}                # an unfilled (encoder, decoder) pair


def test_the_stand_in_data_hide_half_of_each_class_from_the_pixels():
    from dlcourse_utils.checks.ch07 import _StandInEncoder, _synthetic

    images, labels = _synthetic(num_per_class=50, seed=76)
    x = images.reshape(len(images), -1) / 255.0
    raw_nmi, raw_ari = _scores(x, labels, 4, 0)
    latent_nmi, latent_ari = _scores(_StandInEncoder()(x), labels, 4, 0)
    assert latent_nmi == pytest.approx(1.0) and latent_ari == pytest.approx(1.0)
    assert 0.3 < raw_nmi < 0.8 and abs(raw_nmi - raw_ari) > 0.1     # NMI and ARI tell apart


def test_a_seeded_tsne_with_other_settings_is_accepted():
    def latent_map_other_settings(encoder, images, seed):
        x = images.reshape(len(images), -1) / 255.0
        return TSNE(n_components=2, perplexity=15, init="random", random_state=seed).fit_transform(encoder(x))

    assert grade("7.3", latent_map_other_settings).passed


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '7.3': {
        'line 3:37: 1 -> 2':
            'reshape(N, -2) is reshape(N, -1)',
    },
    '7.2': {
        'line 4:54: 256 -> 257': "the hidden layers' width is the learner's choice; 255 or 257 units work as well",
        'line 4:54: 256 -> 255': "the hidden layers' width is the learner's choice; 255 or 257 units work as well",
        'line 8:67: 256 -> 257': "the hidden layers' width is the learner's choice; 255 or 257 units work as well",
        'line 8:67: 256 -> 255': "the hidden layers' width is the learner's choice; 255 or 257 units work as well",
        'line 13:45: 8 -> 9': "the number of epochs is the learner's choice; 7 or 9 train as well",
        'line 13:45: 8 -> 7': "the number of epochs is the learner's choice; 7 or 9 train as well",
        'line 13:59: 128 -> 129': "the batch size is the learner's choice; 127 or 129 train as well",
        'line 13:59: 128 -> 127': "the batch size is the learner's choice; 127 or 129 train as well",
        'line 13:72: 0 -> 1': "verbose only decides what Keras prints while it trains",
        'line 13:72: 0 -> -1': "verbose only decides what Keras prints while it trains",
    },
    '7.7': {
        'line 4:53: False -> True':
            'full_matrices=True only adds rows of Vt after the first min(N, D), and k <= min(N, D): Vt[:k] is the same',
    },
    '7.6': {
        'line 3:37: 1 -> 2':
            'reshape(N, -2) is reshape(N, -1)',
        'line 6:59: 10 -> 11':
            "the number of K-means restarts is the learner's choice; 9 or 11 are right answers too",
        'line 6:59: 10 -> 9':
            "the number of K-means restarts is the learner's choice; 9 or 11 are right answers too",
    },
}
