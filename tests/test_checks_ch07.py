"""Chapter 7 self-checks accept the right answers and reject the mistakes learners make.

Trained Keras models are too slow for a unit test, so the "autoencoders" here are
linear ones (PCA), which is what a linear autoencoder learns anyway: a PCA pair with
a 32-number code passes the reconstruction check, a 3-number one does not; PCA
projection also removes enough noise to pass the denoising check, the identity does
not. ``tests/test_exercises.py`` reads ``WRONG_WITH_MESSAGES`` too.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
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

REFERENCE = {
    "7.1": add_noise,
    "7.2": _pca_pair(32),                              # a linear autoencoder with a 32-number code
    "7.3": latent_map,
    "7.4": lambda x: _DECODE_64(_ENCODE_64(x)),        # projection onto 64 components removes noise
    "7.5": kl_sparsity,
    "7.6": cluster_scores,
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
def denoiser_identity(x):
    return np.asarray(x)


def denoiser_average_digit(x):
    return np.tile(_digits().mean(axis=0), (len(x), 1))


def denoiser_too_weak(x):
    return _DECODE_5(_ENCODE_5(x))


def denoiser_square_output(x):
    return np.asarray(x).reshape(-1, 28, 28)


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
        (add_noise_uniform, "np.random.default_rng(seed)"),
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
        (denoiser_identity, "returns its input unchanged"),
        (denoiser_average_digit, "should be below 0.035"),
        (denoiser_too_weak, "should be below 0.035"),
        (denoiser_square_output, "return flat images"),
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
def test_a_model_left_at_none_is_reported_as_not_written_yet(exercise_id):
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
    '7.6': {
        'line 3:37: 1 -> 2':
            'reshape(N, -2) is reshape(N, -1)',
        'line 6:59: 10 -> 11':
            "the number of K-means restarts is the learner's choice; 9 or 11 are right answers too",
        'line 6:59: 10 -> 9':
            "the number of K-means restarts is the learner's choice; 9 or 11 are right answers too",
    },
}
