"""Graders for chapter 8, generative models (exercises 8.1-8.7).

The chapter's conventions, which the graders share: an encoder outputs a mean ``mu``
and a log-variance ``logvar`` (so sigma = exp(logvar / 2)); the prior is N(0, I);
KL terms are summed over latent dimensions, one value per example; the VAE loss is
the negative ELBO in nats per image (binary cross-entropy on logits summed over
pixels, plus the KL), averaged over the batch; the discriminator loss is the *sum*
of two mean binary cross-entropies (real -> 1, fake -> 0) and the generator loss is
the non-saturating -log D(G(z)), both computed from logits.

Learner code is PyTorch; answers may be tensors or NumPy arrays. References are
computed here in float64 NumPy, on fixed inputs, so every check is deterministic.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from .core import (
    CheckFailed, _short, as_numpy, call, close, diagnose, exercise, expect_array, expect_scalar,
    expect_tuple,
)

_RTOL, _ATOL = 1e-5, 1e-6   # learner code runs in float32


# --------------------------------------------------------------------------- helpers
def _t(array: Any) -> torch.Tensor:
    """A float32 tensor from a NumPy array (what the learner's code receives)."""
    return torch.tensor(np.asarray(array), dtype=torch.float32)


def _scalar(got: Any, name: str) -> Any:
    got = as_numpy(got, name=name)
    if isinstance(got, np.ndarray) and got.size == 1 and got.ndim > 0:
        raise CheckFailed(
            f"{name} has shape {got.shape}; return a single number (a 0-d tensor): "
            "reduce with .mean() or .sum() rather than keeping an axis of length 1."
        )
    return got


def _kl(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1.0 - logvar, axis=-1)


def _bce_logits(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Element-wise binary cross-entropy on logits, stable for any logit."""
    return np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))


def _entropy_bits(shares: np.ndarray) -> float:
    present = shares[shares > 0]
    return float(-(present * np.log2(present)).sum())


# --------------------------------------------------------------------------- 8.1
@exercise(
    "8.1",
    "The reparameterisation trick",
    hints=[
        "The encoder gives the log of the variance. Turn it into a standard deviation, then scale "
        "and shift the standard-normal noise eps you are given.",
        "sigma = exp(logvar / 2), because the standard deviation is the square root of the variance "
        "and sqrt(exp(a)) = exp(a / 2). Then z = mu + sigma * eps, element by element. Use the eps "
        "argument; do not draw new noise.",
        "return mu + torch.exp(0.5 * logvar) * eps",
    ],
)
def _check_reparameterize(fn: Callable) -> None:
    rng = np.random.default_rng(81)
    mu = rng.normal(0.0, 1.5, size=(4, 3))
    logvar = rng.uniform(-2.0, 1.5, size=(4, 3))
    eps = rng.normal(size=(4, 3))
    shown = "reparameterize(mu, logvar, eps) for mu, logvar, eps of shape (4, 3)"
    got = as_numpy(call(fn, _t(mu), _t(logvar), _t(eps), name="reparameterize"), name=shown)
    expected = mu + np.exp(0.5 * logvar) * eps
    bugs = [
        (mu + np.exp(logvar) * eps, "it uses exp(logvar), the variance, as the standard deviation. "
                                    "sigma = exp(logvar / 2)."),
        (mu + logvar * eps, "it multiplies eps by logvar itself; logvar is the log of the variance, "
                            "so sigma = exp(logvar / 2)."),
        (mu + np.sqrt(np.abs(logvar)) * eps, "it takes the square root of logvar; exponentiate first: "
                                             "sigma = exp(logvar / 2)."),
        (mu + np.exp(0.5 * logvar), "the noise eps is missing: z = mu + sigma * eps."),
        (mu * eps + np.exp(0.5 * logvar), "mu and sigma are swapped: the noise is scaled by sigma "
                                          "and shifted by mu, z = mu + sigma * eps."),
    ]
    diagnose(got, expected, bugs, name=f"z from {shown}", rtol=_RTOL, atol=_ATOL)
    if isinstance(got, np.ndarray) and got.shape == expected.shape and not close(got, expected, rtol=_RTOL, atol=_ATOL):
        again = as_numpy(call(fn, _t(mu), _t(logvar), _t(eps), name="reparameterize"), name=shown)
        if not close(again, got, rtol=_RTOL, atol=_ATOL):
            raise CheckFailed(
                f"z from {shown} changes between two calls with the same eps: the noise must be the "
                "eps passed in, not noise you draw yourself (torch.randn_like, torch.normal)."
            )
        other = as_numpy(call(fn, _t(mu), _t(logvar), _t(-eps), name="reparameterize"), name=shown)
        if close(other, got, rtol=_RTOL, atol=_ATOL):
            raise CheckFailed(
                f"z from {shown} does not change when eps changes: use the eps passed in "
                "instead of drawing your own noise (the check must be able to repeat a draw)."
            )
    expect_array(got, expected, name=f"z from {shown}", rtol=_RTOL, atol=_ATOL)

    # The point of the trick: gradients reach mu and logvar.
    mu_leaf = _t(mu).requires_grad_(True)
    logvar_leaf = _t(logvar).requires_grad_(True)
    z = call(lambda: fn(mu_leaf, logvar_leaf, _t(eps)), name="reparameterize")
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        raise CheckFailed(
            "no gradient reaches mu and logvar through your z: it is cut off from the graph. "
            "Build z from mu and logvar with tensor operations (no .detach(), .numpy(), "
            "torch.normal or .sample())."
        )
    d_mu, d_logvar = torch.autograd.grad(z.sum(), [mu_leaf, logvar_leaf], allow_unused=True)
    if d_mu is None or d_logvar is None:
        raise CheckFailed("z does not depend on both mu and logvar through the graph.")
    expect_array(d_mu.numpy(), np.ones_like(mu), name="the gradient of sum(z) with respect to mu",
                 rtol=_RTOL, atol=_ATOL)
    expect_array(d_logvar.numpy(), 0.5 * np.exp(0.5 * logvar) * eps,
                 name="the gradient of sum(z) with respect to logvar", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 8.2
@exercise(
    "8.2",
    "Latent interpolation",
    hints=[
        "You need num_steps codes on the straight line from z0 to z1, the first equal to z0 and "
        "the last equal to z1, evenly spaced.",
        "Make the fractions t = torch.linspace(0, 1, num_steps) (both ends included), give them "
        "shape (num_steps, 1) so they broadcast against the (d,) codes, and mix: (1 - t) * z0 + t * z1.",
        "t = torch.linspace(0, 1, num_steps)[:, None]; return (1 - t) * z0 + t * z1",
    ],
)
def _check_interpolate(fn: Callable) -> None:
    rng = np.random.default_rng(82)
    for d, num_steps in ((2, 5), (8, 9), (3, 2)):
        z0, z1 = rng.normal(size=d), rng.normal(size=d)
        shown = f"interpolate(z0, z1, num_steps={num_steps}) for codes of shape ({d},)"
        got = as_numpy(call(fn, _t(z0), _t(z1), num_steps, name="interpolate"), name=shown)
        t = np.linspace(0.0, 1.0, num_steps)[:, None]
        expected = (1 - t) * z0 + t * z1
        t_open = np.arange(num_steps)[:, None] / num_steps
        t_open_start = np.arange(1, num_steps + 1)[:, None] / (num_steps + 1)
        bugs = [
            ((1 - t) * z1 + t * z0, "it runs from z1 to z0; the first row must be z0."),
            ((1 - t_open) * z0 + t_open * z1, "the last row stops short of z1: the fractions must "
                                              "run from 0 to 1 inclusive (torch.linspace(0, 1, num_steps))."),
            ((1 - t_open_start) * z0 + t_open_start * z1, "the end points are missing: the first row "
                                                          "must be z0 and the last z1."),
            (expected.T, "it is transposed: one row per step, shape (num_steps, d)."),
        ]
        diagnose(got, expected, bugs, name=f"the path from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_array(got, expected, name=f"the path from {shown}", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 8.3
@exercise(
    "8.3",
    "The KL term in closed form",
    hints=[
        "Write the chapter's formula for one latent dimension, apply it element-wise to mu and "
        "logvar, and add the terms up over the latent dimensions (the last axis) only.",
        "sigma^2 is exp(logvar) and log sigma^2 is logvar itself. Per element: "
        "0.5 * (mu**2 + exp(logvar) - 1 - logvar). Sum with .sum(dim=-1) so that a batch of shape "
        "(N, d) gives N values.",
        "return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(dim=-1)",
    ],
)
def _check_kl(fn: Callable) -> None:
    shown0 = "kl_divergence(mu, logvar) with mu = 0 and logvar = 0 (q equals the prior)"
    zero = as_numpy(call(fn, torch.zeros(3, 4), torch.zeros(3, 4), name="kl_divergence"), name=shown0)
    if close(zero, np.full((3, 4), 0.0), rtol=_RTOL, atol=_ATOL) and not close(zero, np.zeros(3), rtol=_RTOL, atol=_ATOL):
        raise CheckFailed(f"the KL from {shown0} has shape (3, 4): sum over the latent dimensions "
                          "(the last axis) to get one value per example.")
    if isinstance(zero, np.ndarray) and zero.shape == (3,) and not close(zero, np.zeros(3), rtol=_RTOL, atol=_ATOL):
        raise CheckFailed(
            f"the KL from {shown0} is {_short(zero)}, expected 0 for every example: the KL of a "
            "distribution with itself is zero. Check the -1 and the sign of the -logvar term."
        )
    rng = np.random.default_rng(83)
    mu = rng.normal(0.0, 1.2, size=(5, 3))
    logvar = rng.uniform(-2.5, 2.0, size=(5, 3))
    shown = "kl_divergence(mu, logvar) for a batch of shape (5, 3)"
    got = as_numpy(call(fn, _t(mu), _t(logvar), name="kl_divergence"), name=shown)
    expected = _kl(mu, logvar)
    per_dim = 0.5 * (mu ** 2 + np.exp(logvar) - 1.0 - logvar)
    bugs = [
        (2 * expected, "twice the right value: the factor 1/2 in front is missing."),
        (0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1.0 + logvar, axis=-1),
         "the sign of the log-variance term is flipped: it is - log sigma^2, i.e. - logvar."),
        (0.5 * np.sum(mu ** 2 + np.exp(2 * logvar) - 1.0 - 2 * logvar, axis=-1),
         "it treats logvar as log sigma; in this book logvar is log sigma^2, so sigma^2 = exp(logvar)."),
        (per_dim.mean(axis=-1), "it averages over the latent dimensions; the KL of independent "
                                "dimensions is their sum."),
        (per_dim.sum(), "it sums over the batch too; return one value per example, shape (N,)."),
        (per_dim.sum(axis=0), "it sums over the batch axis; sum over the latent dimensions (the last axis)."),
        (per_dim, "it returns one value per latent dimension; sum over the last axis."),
        (0.5 * np.sum(mu ** 2 + np.exp(logvar) - logvar, axis=-1), "the -1 is missing: "
                                                                   "each dimension contributes mu^2 + sigma^2 - 1 - log sigma^2."),
    ]
    diagnose(got, expected, bugs, name=f"the KL from {shown}", rtol=_RTOL, atol=_ATOL)
    expect_array(got, expected, name=f"the KL from {shown}", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 8.4
@exercise(
    "8.4",
    "The KL term by Monte Carlo",
    hints=[
        "The KL divergence is an expectation under q: KL = E_{z ~ q}[log q(z) - log p(z)]. Draw "
        "num_samples codes from q (use the generator you are given), evaluate the log-ratio for "
        "each, and average.",
        "Draw eps = torch.randn(num_samples, *mu.shape, generator=generator) and reparameterise: "
        "z = mu + sigma * eps. torch.distributions.Normal(mu, sigma).log_prob(z) gives log q per "
        "dimension, Normal(0., 1.).log_prob(z) gives log p; sum both over the last axis.",
        "std = torch.exp(0.5 * logvar); eps = torch.randn(num_samples, *mu.shape, generator=generator); "
        "z = mu + std * eps; ratio = (Normal(mu, std).log_prob(z) - Normal(0., 1.).log_prob(z)).sum(-1); "
        "return ratio.mean(dim=0)",
    ],
)
def _check_kl_monte_carlo(fn: Callable) -> None:
    rng = np.random.default_rng(84)
    mu = np.array([[0.0, 0.0, 0.0], [1.5, -1.0, 0.5], [-0.5, 2.0, 0.0], [0.3, 0.3, -1.2]])
    logvar = np.array([[-1.5, 0.8, -1.0], [0.0, 0.0, 0.0], [-2.0, -0.5, 1.0], [0.9, -1.2, 0.4]])
    num_samples = 20_000
    shown = f"kl_monte_carlo(mu, logvar, num_samples={num_samples:,}, generator) for a batch of shape (4, 3)"

    def run(seed: int) -> Any:
        generator = torch.Generator().manual_seed(seed)
        out = call(fn, _t(mu), _t(logvar), num_samples, generator, name="kl_monte_carlo",
                   allow_mutation=True)
        return as_numpy(out, name=shown)

    got = run(0)
    exact = _kl(mu, logvar)
    if not isinstance(got, np.ndarray) or got.shape != exact.shape:
        shape = got.shape if isinstance(got, np.ndarray) else type(got).__name__
        raise CheckFailed(f"the estimate from {shown} has shape {shape}, expected (4,): average over "
                          "the samples and sum over the latent dimensions, keeping one value per example.")
    if not np.all(np.isfinite(got)):
        raise CheckFailed(f"the estimate from {shown} contains NaN or infinity.")
    if np.allclose(got, exact, rtol=1e-6, atol=1e-7):
        raise CheckFailed(f"the estimate from {shown} equals the closed form exactly: the exercise asks "
                          "for an average over random samples of log q(z) - log p(z).")
    again, other = run(0), run(1)
    if not np.allclose(again, got):
        raise CheckFailed("two calls with identically seeded generators gave different estimates: draw "
                          "the noise with the generator you are given (torch.randn(..., generator=generator)).")
    if np.allclose(other, got):
        raise CheckFailed("generators with different seeds gave the same estimate: the noise must come "
                          "from the generator argument.")

    # The reference spread of the log-ratio under q, to set a statistical tolerance.
    eps = rng.normal(size=(num_samples, *mu.shape))
    std = np.exp(0.5 * logvar)
    z = mu + std * eps
    ratio = np.sum(-0.5 * logvar - 0.5 * eps ** 2 + 0.5 * z ** 2, axis=-1)   # log q - log p
    standard_error = ratio.std(axis=0) / math.sqrt(num_samples)
    tolerance = 5 * standard_error + 1e-3
    off = np.abs(got - exact)
    if np.any(off > tolerance):
        worst = int(np.argmax(off / tolerance))
        # E_p[log q - log p] = -KL(p || q): what averaging over prior samples gives.
        from_prior = -0.5 * np.sum(logvar + (1 + mu ** 2) / np.exp(logvar) - 1, axis=-1)
        why = ""
        if np.allclose(got, from_prior, atol=0.2):
            why = (" It matches an average over samples from the prior p, not from q: "
                   "sample z = mu + sigma * eps.")
        elif np.allclose(got - exact, 0.5 * logvar.sum(axis=-1), atol=0.2):
            why = (" log q(z) is missing its -log sigma term: use Normal(mu, sigma).log_prob(z), "
                   "with sigma = exp(logvar / 2).")
        raise CheckFailed(
            f"the estimate from {shown} for example {worst} is {got[worst]:.4f}, but the exact KL is "
            f"{exact[worst]:.4f}; with {num_samples:,} samples the estimate should land within "
            f"{tolerance[worst]:.3f}.{why}"
        )


# --------------------------------------------------------------------------- 8.5
@exercise(
    "8.5",
    "GAN losses",
    hints=[
        "Both losses are binary cross-entropies on logits. The discriminator wants real -> 1 and "
        "fake -> 0; the non-saturating generator loss wants the fakes to be called real (label 1).",
        "F.binary_cross_entropy_with_logits(logits, target) is stable for any logit; build the "
        "targets with torch.ones_like / torch.zeros_like. d_loss is the SUM of the real and the fake "
        "term (each a mean over its batch), as in the chapter.",
        "d_loss = bce(real_logits, ones_like(real_logits)) + bce(fake_logits, zeros_like(fake_logits)); "
        "g_loss = bce(fake_logits, ones_like(fake_logits)); return d_loss, g_loss",
    ],
)
def _check_gan_losses(fn: Callable) -> None:
    rng = np.random.default_rng(85)
    cases = [
        ("moderate logits", rng.normal(1.0, 1.5, size=(6, 1)), rng.normal(-1.0, 1.5, size=(6, 1))),
        ("extreme logits (a very confident discriminator)",
         np.array([[150.0], [-120.0], [3.0]]), np.array([[-200.0], [110.0], [-2.0]])),
    ]
    for label, real, fake in cases:
        shown = f"gan_losses(real_logits, fake_logits) for {label}"
        d_got, g_got = expect_tuple(call(fn, _t(real), _t(fake), name="gan_losses"), label=shown, names="d_loss, g_loss")
        d_got, g_got = _scalar(d_got, f"d_loss from {shown}"), _scalar(g_got, f"g_loss from {shown}")
        d_exp = _bce_logits(real, 1.0).mean() + _bce_logits(fake, 0.0).mean()
        g_exp = _bce_logits(fake, 1.0).mean()
        for value, name in ((d_got, "d_loss"), (g_got, "g_loss")):
            try:
                finite = bool(np.isfinite(float(value)))
            except (TypeError, ValueError):
                finite = True  # expect_scalar reports the type
            if not finite:
                raise CheckFailed(
                    f"{name} from {shown} is {float(value)}: log(sigmoid(x)) overflows for large |x|. "
                    "Work on logits with F.binary_cross_entropy_with_logits."
                )
        sig = lambda x: 1 / (1 + np.exp(-np.clip(x, -50, 50)))  # noqa: E731
        d_bugs = [
            (d_exp / 2, "half the right value: the chapter's discriminator loss is the sum of the two "
                        "cross-entropies, not their average."),
            (_bce_logits(real, 0.0).mean() + _bce_logits(fake, 1.0).mean(),
             "the labels are swapped: real images are labelled 1, fakes 0."),
            (_bce_logits(sig(real), 1.0).mean() + _bce_logits(sig(fake), 0.0).mean(),
             "it applies the sigmoid first and then a with-logits loss, squashing twice."),
        ]
        diagnose(d_got, d_exp, d_bugs, name=f"d_loss from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_scalar(d_got, d_exp, name=f"d_loss from {shown}", rtol=_RTOL, atol=_ATOL)
        g_bugs = [
            (-_bce_logits(fake, 0.0).mean(), "this is the saturating minimax loss log(1 - D(G(z))). "
                                             "Use the non-saturating -log D(G(z)): cross-entropy with label 1."),
            (_bce_logits(fake, 0.0).mean(), "it labels the fakes 0, which is the discriminator's goal; "
                                            "the generator wants them called real (label 1)."),
            (_bce_logits(sig(fake), 1.0).mean(), "it applies the sigmoid first and then a with-logits loss."),
        ]
        diagnose(g_got, g_exp, g_bugs, name=f"g_loss from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_scalar(g_got, g_exp, name=f"g_loss from {shown}", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 8.6
@exercise(
    "8.6",
    "A sample score that sees mode collapse",
    hints=[
        "Two numbers: the fraction of rows whose largest probability exceeds the threshold, and the "
        "entropy in bits of the histogram of predicted classes (the argmax of each row).",
        "probs.max(dim=1).values > threshold gives a boolean per row; .float().mean() is the share. "
        "torch.bincount(probs.argmax(dim=1), minlength=K) / N gives the class shares. Entropy in bits "
        "is -sum(p * log2(p)) over the classes with p > 0 (0 log 0 counts as 0).",
        "shares = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).float() / len(probs); "
        "p = shares[shares > 0]; return (probs.max(1).values > threshold).float().mean().item(), "
        "float(-(p * p.log2()).sum())",
    ],
)
def _check_sample_score(fn: Callable) -> None:
    rng = np.random.default_rng(86)

    def probabilities(classes: np.ndarray, confidence: np.ndarray, k: int = 10) -> np.ndarray:
        # Rows whose argmax is `classes` with top probability `confidence`, rest spread evenly.
        rows = np.full((len(classes), k), 0.0)
        rows += ((1 - confidence) / (k - 1))[:, None]
        rows[np.arange(len(classes)), classes] = confidence
        return rows

    spread_classes = rng.integers(0, 10, size=40)
    spread_classes[:10] = np.arange(10)
    confidence = np.where(rng.random(40) < 0.6, rng.uniform(0.91, 0.99, 40), rng.uniform(0.3, 0.85, 40))
    collapsed = probabilities(np.full(30, 3), rng.uniform(0.92, 0.99, 30))
    cases = [
        ("40 varied samples", probabilities(spread_classes, confidence), 0.9),
        ("30 samples that are all confident 3s (mode collapse)", collapsed, 0.9),
        ("40 varied samples with threshold=0.5", probabilities(spread_classes, confidence), 0.5),
        ("2 samples of a 4-class problem", probabilities(np.array([0, 2]), np.array([0.95, 0.6]), k=4), 0.9),
    ]
    for label, probs, threshold in cases:
        shown = f"sample_score(probs, threshold={threshold}) for {label}"
        share_got, spread_got = expect_tuple(call(fn, _t(probs), threshold, name="sample_score"), label=shown, names="confident_share, class_spread")
        share_got = _scalar(share_got, f"the confident share from {shown}")
        spread_got = _scalar(spread_got, f"the class spread from {shown}")
        share_exp = float(np.mean(probs.max(axis=1) > threshold))
        if np.ndim(share_got) == 0 and np.isclose(float(share_got), share_exp * len(probs)) and share_exp > 0:
            raise CheckFailed(f"the confident share from {shown} is a count; divide by the number of samples.")
        share_at_09 = float(np.mean(probs.max(axis=1) > 0.9))
        if threshold != 0.9 and share_exp != share_at_09 and np.ndim(share_got) == 0 and np.isclose(
                float(share_got), share_at_09):
            raise CheckFailed(f"the confident share from {shown} is the share above 0.9: "
                              "compare with the threshold argument, not a fixed number.")
        expect_scalar(share_got, share_exp, name=f"the confident share from {shown}", rtol=_RTOL, atol=_ATOL)

        shares = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1]) / len(probs)
        spread_exp = _entropy_bits(shares)
        try:
            spread_value = float(spread_got)
        except (TypeError, ValueError):
            spread_value = 0.0
        if np.isnan(spread_value):
            raise CheckFailed(
                f"the class spread from {shown} is nan: a class nobody predicts has share 0, and "
                "0 * log2(0) must count as 0. Keep only the shares above 0."
            )
        mean_probs = probs.mean(axis=0)
        per_row = -np.sum(probs * np.log2(probs), axis=1).mean()
        bugs = [
            (spread_exp * math.log(2), "it is in nats; the class spread is measured in bits (log2)."),
            (_entropy_bits(mean_probs), "it is the entropy of the average probabilities; use the "
                                        "histogram of predicted classes (the argmax of each row)."),
            (per_row, "it is the average entropy of each row, which measures uncertainty, not how "
                      "many classes are drawn; use the histogram of predicted classes."),
        ]
        diagnose(spread_got, spread_exp, bugs, name=f"the class spread from {shown}", rtol=_RTOL, atol=_ATOL)
        expect_scalar(spread_got, spread_exp, name=f"the class spread from {shown}", rtol=_RTOL, atol=_ATOL)


# --------------------------------------------------------------------------- 8.7
@exercise(
    "8.7",
    "Find the bug: a VAE loss",
    hints=[
        "Compute the two terms of the buggy loss on a batch and compare their sizes with the "
        "chapter's numbers (reconstruction about 150 nats per image, KL about 5). One of them is "
        "hundreds of times too small.",
        "F.binary_cross_entropy_with_logits averages over every element by default, i.e. over the "
        "784 pixels as well as the batch. The ELBO needs the sum over pixels for each image (like the "
        "KL, which is summed over latent dimensions), then the mean over the batch.",
        "reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(dim=1); "
        "kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=1); return (reconstruction + kl).mean()",
    ],
)
def _check_vae_loss(fn: Callable) -> None:
    rng = np.random.default_rng(87)
    batch, pixels, latent = 6, 784, 2
    logits = rng.normal(0.0, 2.0, size=(batch, pixels))
    x = rng.uniform(0.0, 1.0, size=(batch, pixels)) * (rng.random((batch, pixels)) < 0.2)
    mu = rng.normal(0.0, 1.0, size=(batch, latent))
    logvar = rng.uniform(-3.0, 0.5, size=(batch, latent))
    shown = "vae_loss(logits, x, mu, logvar) for a batch of 6 images of 784 pixels"
    got = _scalar(call(fn, _t(logits), _t(x), _t(mu), _t(logvar), name="vae_loss"), f"the loss from {shown}")
    rec = _bce_logits(logits, x).sum(axis=1)                 # (batch,)
    kl = _kl(mu, logvar)                                     # (batch,)
    expected = float((rec + kl).mean())
    sig = 1 / (1 + np.exp(-logits))
    bugs = [
        (_bce_logits(logits, x).mean() + kl.mean(),
         "the reconstruction term is averaged over the 784 pixels, so it is 784 times too small "
         "next to the KL: sum it over the pixels of each image (reduction='none', then .sum(dim=1))."),
        (rec.mean() - kl.mean(), "the KL term is subtracted; the negative ELBO adds it."),
        (rec.mean() + kl.sum(), "the KL is summed over the batch but the reconstruction is averaged: "
                                "average both over the batch."),
        (rec.sum() + kl.sum(), "it sums over the batch; average over the batch so the loss does not "
                               "grow with the batch size."),
        (_bce_logits(sig, x).sum(axis=1).mean() + kl.mean(),
         "it applies the sigmoid before a with-logits loss: pass the logits themselves."),
        (rec.mean(), "the KL term is missing."),
    ]
    diagnose(got, expected, bugs, name=f"the loss from {shown}", rtol=_RTOL, atol=_ATOL)
    expect_scalar(got, expected, name=f"the loss from {shown}", rtol=_RTOL, atol=1e-3)
