"""Chapter 8 self-checks accept the right answers and reject the mistakes learners make.

For every exercise: a reference solution passes; each wrong answer in
``WRONG_WITH_MESSAGES`` (bugs people really write) fails with a message that names
the problem; the unfilled stub fails with "not written yet". ``tests/test_exercises.py``
reads ``WRONG_WITH_MESSAGES`` to prove that no check in the book is toothless.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Normal

from dlcourse_utils.checks import grade
from selfcheck_rules import SelfCheckRules


# --------------------------------------------------------------------------- reference answers
def reparameterize(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def interpolate(z0, z1, num_steps):
    t = torch.linspace(0, 1, num_steps)[:, None]
    return (1 - t) * z0 + t * z1


def kl_divergence(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(dim=-1)


def kl_monte_carlo(mu, logvar, num_samples, generator):
    std = torch.exp(0.5 * logvar)
    eps = torch.randn(num_samples, *mu.shape, generator=generator)
    z = mu + std * eps
    ratio = (Normal(mu, std).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(dim=-1)
    return ratio.mean(dim=0)


def gan_losses(real_logits, fake_logits):
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return d_loss, g_loss


def sample_score(probs, threshold=0.9):
    shares = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1]).float() / len(probs)
    present = shares[shares > 0]
    return (probs.max(dim=1).values > threshold).float().mean().item(), float(-(present * present.log2()).sum())


def vae_loss(logits, x, mu, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    return (reconstruction + kl_divergence(mu, logvar)).mean()


REFERENCE = {
    "8.1": reparameterize,
    "8.2": interpolate,
    "8.3": kl_divergence,
    "8.4": kl_monte_carlo,
    "8.5": gan_losses,
    "8.6": sample_score,
    "8.7": vae_loss,
}


# --------------------------------------------------------------------------- wrong answers: 8.1
def reparam_variance_as_std(mu, logvar, eps):
    return mu + torch.exp(logvar) * eps


def reparam_logvar_as_std(mu, logvar, eps):
    return mu + logvar * eps


def reparam_detached(mu, logvar, eps):
    return (mu + torch.exp(0.5 * logvar) * eps).detach()


def reparam_torch_normal(mu, logvar, eps):
    return torch.normal(mu, torch.exp(0.5 * logvar))


def reparam_own_noise(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def reparam_no_noise(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar)


# --------------------------------------------------------------------------- wrong answers: 8.2
def interpolate_without_end(z0, z1, num_steps):
    t = torch.arange(num_steps)[:, None] / num_steps
    return (1 - t) * z0 + t * z1


def interpolate_backwards(z0, z1, num_steps):
    t = torch.linspace(0, 1, num_steps)[:, None]
    return (1 - t) * z1 + t * z0


def interpolate_transposed(z0, z1, num_steps):
    return interpolate(z0, z1, num_steps).T


def interpolate_list(z0, z1, num_steps):
    return [z0 + k / (num_steps - 1) * (z1 - z0) for k in range(num_steps)]


# --------------------------------------------------------------------------- wrong answers: 8.3
def kl_without_half(mu, logvar):
    return (mu ** 2 + logvar.exp() - 1 - logvar).sum(dim=-1)


def kl_logvar_sign(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 + logvar).sum(dim=-1)


def kl_logvar_as_log_std(mu, logvar):
    return 0.5 * (mu ** 2 + torch.exp(2 * logvar) - 1 - 2 * logvar).sum(dim=-1)


def kl_mean_over_dims(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).mean(dim=-1)


def kl_summed_over_everything(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()


def kl_not_summed(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)


def kl_without_minus_one(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - logvar).sum(dim=-1)


# --------------------------------------------------------------------------- wrong answers: 8.4
def kl_mc_from_prior(mu, logvar, num_samples, generator):
    std = torch.exp(0.5 * logvar)
    z = torch.randn(num_samples, *mu.shape, generator=generator)          # z ~ p, not q
    return (Normal(mu, std).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(dim=-1).mean(dim=0)


def kl_mc_missing_log_sigma(mu, logvar, num_samples, generator):
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn(num_samples, *mu.shape, generator=generator)
    log_q = -0.5 * ((z - mu) / std) ** 2                                 # forgot -log sigma
    log_p = -0.5 * z ** 2
    return (log_q - log_p).sum(dim=-1).mean(dim=0)


def kl_mc_ignores_generator(mu, logvar, num_samples, generator):
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn(num_samples, *mu.shape)
    return (Normal(mu, std).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(dim=-1).mean(dim=0)


def kl_mc_returns_closed_form(mu, logvar, num_samples, generator):
    return kl_divergence(mu, logvar)


def kl_mc_keeps_samples(mu, logvar, num_samples, generator):
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn(num_samples, *mu.shape, generator=generator)
    return (Normal(mu, std).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(dim=-1)


# --------------------------------------------------------------------------- wrong answers: 8.5
def gan_losses_saturating(real_logits, fake_logits):
    d_loss, _ = gan_losses(real_logits, fake_logits)
    return d_loss, -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def gan_losses_naive_logs(real_logits, fake_logits):
    d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
    d_loss = -torch.log(d_real).mean() - torch.log(1 - d_fake).mean()
    return d_loss, -torch.log(d_fake).mean()


def gan_losses_averaged(real_logits, fake_logits):
    d_loss, g_loss = gan_losses(real_logits, fake_logits)
    return d_loss / 2, g_loss


def gan_losses_swapped_labels(real_logits, fake_logits):
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)))
    return d_loss, gan_losses(real_logits, fake_logits)[1]


def gan_losses_sigmoid_twice(real_logits, fake_logits):
    return gan_losses(torch.sigmoid(real_logits), torch.sigmoid(fake_logits))


def gan_losses_generator_labels_fake(real_logits, fake_logits):
    d_loss, _ = gan_losses(real_logits, fake_logits)
    return d_loss, F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


# --------------------------------------------------------------------------- wrong answers: 8.6
def score_in_nats(probs, threshold=0.9):
    shares = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1]).float() / len(probs)
    present = shares[shares > 0]
    return (probs.max(dim=1).values > threshold).float().mean().item(), float(-(present * present.log()).sum())


def score_nan_for_missing_classes(probs, threshold=0.9):
    shares = torch.bincount(probs.argmax(dim=1), minlength=probs.shape[1]).float() / len(probs)
    return (probs.max(dim=1).values > threshold).float().mean().item(), float(-(shares * shares.log2()).sum())


def score_entropy_of_mean_probs(probs, threshold=0.9):
    mean = probs.mean(dim=0)
    return (probs.max(dim=1).values > threshold).float().mean().item(), float(-(mean * mean.log2()).sum())


def score_mean_row_entropy(probs, threshold=0.9):
    spread = -(probs * probs.log2()).sum(dim=1).mean()
    return (probs.max(dim=1).values > threshold).float().mean().item(), float(spread)


def score_count_not_share(probs, threshold=0.9):
    _, spread = sample_score(probs, threshold)
    return float((probs.max(dim=1).values > threshold).sum()), spread


def score_fixed_threshold(probs, threshold=0.9):
    _, spread = sample_score(probs, threshold)
    return (probs.max(dim=1).values > 0.9).float().mean().item(), spread


# --------------------------------------------------------------------------- wrong answers: 8.7
def vae_loss_buggy(logits, x, mu, logvar):   # the code handed out in the exercise
    reconstruction = F.binary_cross_entropy_with_logits(logits, x)
    kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(dim=1)).mean()
    return reconstruction + kl


def vae_loss_kl_subtracted(logits, x, mu, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    return (reconstruction - kl_divergence(mu, logvar)).mean()


def vae_loss_kl_summed_over_batch(logits, x, mu, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    return reconstruction.mean() + kl_divergence(mu, logvar).sum()


def vae_loss_summed_over_batch(logits, x, mu, logvar):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") + kl_divergence(mu, logvar).sum()


def vae_loss_sigmoid_first(logits, x, mu, logvar):
    return vae_loss(torch.sigmoid(logits), x, mu, logvar)


def vae_loss_per_image(logits, x, mu, logvar):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    return reconstruction + kl_divergence(mu, logvar)


# (wrong answer, a substring its failure message must contain)

# --------------------------------------------------------------------------- diffusion: reference answers
def _per_example(values, like):
    return values.reshape(-1, *[1] * (like.dim() - 1))


def q_sample(x0, t, eps, alpha_bars):
    abar = _per_example(alpha_bars[t], x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def ddpm_loss(model, x0, t, eps, alpha_bars):
    return F.mse_loss(model(q_sample(x0, t, eps, alpha_bars), t), eps)


def reverse_step(x_t, t, eps_hat, betas, alpha_bars, z):
    alpha_bar_prev = alpha_bars[t - 1] if t > 0 else torch.tensor(1.0)
    mean = (x_t - betas[t] / (1 - alpha_bars[t]).sqrt() * eps_hat) / (1 - betas[t]).sqrt()
    if t == 0:
        return mean
    return mean + (betas[t] * (1 - alpha_bar_prev) / (1 - alpha_bars[t])).sqrt() * z


def nearest_distances(samples, reference):
    squared = (samples ** 2).sum(1, keepdim=True) - 2 * samples @ reference.T + (reference ** 2).sum(1)
    return squared.clamp_min(0).min(dim=1).values.sqrt()


def kl_gaussians(mu_q, logvar_q, mu_p, logvar_p):
    ratio = (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()
    return 0.5 * (logvar_p - logvar_q + ratio - 1).sum(dim=-1)


def ddim_step(x_t, t, t_prev, eps_hat, alpha_bars):
    abar = alpha_bars[t]
    abar_prev = alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    x0_hat = (x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()
    return abar_prev.sqrt() * x0_hat + (1 - abar_prev).sqrt() * eps_hat


class _VAE(torch.nn.Module):
    def __init__(self, latent_dim=16, num_hiddens=256):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(784, num_hiddens), torch.nn.ReLU(),
                                           torch.nn.Linear(num_hiddens, 2 * latent_dim))
        self.decoder = torch.nn.Sequential(torch.nn.Linear(latent_dim, num_hiddens), torch.nn.ReLU(),
                                           torch.nn.Linear(num_hiddens, 784))

    def encode(self, x):
        return self.encoder(x).chunk(2, dim=1)

    def decode(self, z):
        return self.decoder(z)


def train_vae(data, latent_dim=16, epochs=5, seed=0, lr=2e-3):
    """The reference: 16 latent numbers, 256 hidden units, five passes with Adam."""
    torch.manual_seed(seed)
    vae = _VAE(latent_dim)
    optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
    for epoch in range(epochs):
        for x, _ in data.batches(128, seed=seed * 100 + epoch, tensors=True):
            mu, logvar = vae.encode(x)
            z = reparameterize(mu, logvar, torch.randn_like(mu))
            loss = vae_loss(vae.decode(z), x, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return vae


REFERENCE.update({"8.8": q_sample, "8.9": ddpm_loss, "8.10": reverse_step, "8.11": nearest_distances,
                  "8.12": kl_gaussians, "8.13": ddim_step, "8.14": train_vae})


# --------------------------------------------------------------------------- wrong answers: 8.8
def q_sample_no_sqrt(x0, t, eps, alpha_bars):
    abar = _per_example(alpha_bars[t], x0)
    return abar * x0 + (1 - abar) * eps


def q_sample_variance_on_noise(x0, t, eps, alpha_bars):
    abar = _per_example(alpha_bars[t], x0)
    return abar.sqrt() * x0 + (1 - abar) * eps


def q_sample_off_by_one(x0, t, eps, alpha_bars):
    padded = torch.cat([torch.ones(1), alpha_bars])             # reads alpha_bars[t - 1]
    abar = _per_example(padded[t], x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps


def q_sample_swapped(x0, t, eps, alpha_bars):
    abar = _per_example(alpha_bars[t], x0)
    return (1 - abar).sqrt() * x0 + abar.sqrt() * eps


def q_sample_broadcast_on_last_axis(x0, t, eps, alpha_bars):
    abar = alpha_bars[t]                                        # (B,) meets the last axis, not the batch
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps


# --------------------------------------------------------------------------- wrong answers: 8.9
def ddpm_loss_target_x0(model, x0, t, eps, alpha_bars):
    return F.mse_loss(model(q_sample(x0, t, eps, alpha_bars), t), x0)


def ddpm_loss_clean_input(model, x0, t, eps, alpha_bars):
    return F.mse_loss(model(x0, t), eps)


def ddpm_loss_summed(model, x0, t, eps, alpha_bars):
    return F.mse_loss(model(q_sample(x0, t, eps, alpha_bars), t), eps, reduction="sum")


def ddpm_loss_item(model, x0, t, eps, alpha_bars):
    return F.mse_loss(model(q_sample(x0, t, eps, alpha_bars), t), eps).item()


def ddpm_loss_under_no_grad(model, x0, t, eps, alpha_bars):
    with torch.no_grad():
        return F.mse_loss(model(q_sample(x0, t, eps, alpha_bars), t), eps)


def ddpm_loss_l1(model, x0, t, eps, alpha_bars):
    return F.l1_loss(model(q_sample(x0, t, eps, alpha_bars), t), eps)


# --------------------------------------------------------------------------- wrong answers: 8.10
def reverse_step_noise_at_the_end(x_t, t, eps_hat, betas, alpha_bars, z):
    alpha_bar_prev = alpha_bars[t - 1] if t > 0 else torch.tensor(1.0)
    mean = (x_t - betas[t] / (1 - alpha_bars[t]).sqrt() * eps_hat) / (1 - betas[t]).sqrt()
    beta_tilde = betas[t] * (1 - alpha_bar_prev) / (1 - alpha_bars[t])
    return mean + (beta_tilde.sqrt() if t > 0 else betas[t].sqrt()) * z


def reverse_step_beta_variance(x_t, t, eps_hat, betas, alpha_bars, z):
    mean = (x_t - betas[t] / (1 - alpha_bars[t]).sqrt() * eps_hat) / (1 - betas[t]).sqrt()
    return mean if t == 0 else mean + betas[t].sqrt() * z


def reverse_step_no_noise(x_t, t, eps_hat, betas, alpha_bars, z):
    return (x_t - betas[t] / (1 - alpha_bars[t]).sqrt() * eps_hat) / (1 - betas[t]).sqrt()


def reverse_step_divides_by_alpha_bar(x_t, t, eps_hat, betas, alpha_bars, z):
    alpha_bar_prev = alpha_bars[t - 1] if t > 0 else torch.tensor(1.0)
    mean = (x_t - betas[t] / (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()
    return mean if t == 0 else mean + (betas[t] * (1 - alpha_bar_prev) / (1 - alpha_bars[t])).sqrt() * z


def reverse_step_adds_noise_estimate(x_t, t, eps_hat, betas, alpha_bars, z):
    return reverse_step(x_t, t, -eps_hat, betas, alpha_bars, z)


def reverse_step_no_sqrt_on_noise_coefficient(x_t, t, eps_hat, betas, alpha_bars, z):
    alpha_bar_prev = alpha_bars[t - 1] if t > 0 else torch.tensor(1.0)
    mean = (x_t - betas[t] / (1 - alpha_bars[t]) * eps_hat) / (1 - betas[t]).sqrt()
    return mean if t == 0 else mean + (betas[t] * (1 - alpha_bar_prev) / (1 - alpha_bars[t])).sqrt() * z


# --------------------------------------------------------------------------- wrong answers: 8.11
def nearest_squared(samples, reference):
    return torch.cdist(samples, reference).min(dim=1).values ** 2


def nearest_index(samples, reference):
    return torch.cdist(samples, reference).argmin(dim=1)


def nearest_farthest(samples, reference):
    return torch.cdist(samples, reference).max(dim=1).values


def nearest_wrong_axis(samples, reference):
    return torch.cdist(samples, reference).min(dim=0).values


def nearest_mean_distance(samples, reference):
    return torch.cdist(samples, reference).mean(dim=1)


def nearest_manhattan(samples, reference):
    return torch.cdist(samples, reference, p=1).min(dim=1).values


def nearest_unclamped(samples, reference):
    squared = (samples ** 2).sum(1, keepdim=True) - 2 * samples @ reference.T + (reference ** 2).sum(1)
    return (squared - 1e-6).min(dim=1).values.sqrt()         # an exact copy rounds below zero: NaN

# --------------------------------------------------------------------------- wrong answers: 8.12
def kl_gaussians_reversed(mu_q, logvar_q, mu_p, logvar_p):
    return kl_gaussians(mu_p, logvar_p, mu_q, logvar_q)


def kl_gaussians_mean_term_unscaled(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (logvar_p - logvar_q + logvar_q.exp() / logvar_p.exp() + (mu_q - mu_p) ** 2 - 1).sum(dim=-1)


def kl_gaussians_log_ratio_flipped(mu_q, logvar_q, mu_p, logvar_p):
    ratio = (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()
    return 0.5 * (logvar_q - logvar_p + ratio - 1).sum(dim=-1)


def kl_gaussians_ignores_p(mu_q, logvar_q, mu_p, logvar_p):
    return kl_divergence(mu_q, logvar_q)


def kl_gaussians_without_half(mu_q, logvar_q, mu_p, logvar_p):
    return 2 * kl_gaussians(mu_q, logvar_q, mu_p, logvar_p)


def kl_gaussians_variances_swapped(mu_q, logvar_q, mu_p, logvar_p):
    ratio = (logvar_p.exp() + (mu_q - mu_p) ** 2) / logvar_q.exp()
    return 0.5 * (logvar_p - logvar_q + ratio - 1).sum(dim=-1)


def kl_gaussians_without_minus_one(mu_q, logvar_q, mu_p, logvar_p):
    ratio = (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()
    return 0.5 * (logvar_p - logvar_q + ratio).sum(dim=-1)


def kl_gaussians_mean_over_dims(mu_q, logvar_q, mu_p, logvar_p):
    ratio = (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()
    return 0.5 * (logvar_p - logvar_q + ratio - 1).mean(dim=-1)


# --------------------------------------------------------------------------- wrong answers: 8.13
def ddim_negative_index(x_t, t, t_prev, eps_hat, alpha_bars):
    abar, abar_prev = alpha_bars[t], alpha_bars[t_prev]                  # alpha_bars[-1] at t_prev = -1
    x0_hat = (x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()
    return abar_prev.sqrt() * x0_hat + (1 - abar_prev).sqrt() * eps_hat


def ddim_one_step_back(x_t, t, t_prev, eps_hat, alpha_bars):
    return ddim_step(x_t, t, t - 1, eps_hat, alpha_bars)


def ddim_returns_x0(x_t, t, t_prev, eps_hat, alpha_bars):
    return (x_t - (1 - alpha_bars[t]).sqrt() * eps_hat) / alpha_bars[t].sqrt()


def ddim_variance_in_x0(x_t, t, t_prev, eps_hat, alpha_bars):
    abar = alpha_bars[t]
    abar_prev = alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    x0_hat = (x_t - (1 - abar) * eps_hat) / abar.sqrt()
    return abar_prev.sqrt() * x0_hat + (1 - abar_prev).sqrt() * eps_hat


def ddim_no_sqrt_at_prev(x_t, t, t_prev, eps_hat, alpha_bars):
    abar = alpha_bars[t]
    abar_prev = alpha_bars[t_prev] if t_prev >= 0 else torch.tensor(1.0)
    x0_hat = (x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()
    return abar_prev * x0_hat + (1 - abar_prev) * eps_hat


def ddim_with_fresh_noise(x_t, t, t_prev, eps_hat, alpha_bars):
    return ddim_step(x_t, t, t_prev, eps_hat, alpha_bars) + 0.1 * torch.randn_like(x_t)


# --------------------------------------------------------------------------- wrong answers: 8.14
def train_vae_two_numbers(data):                      # the chapter's drawable latent space
    return train_vae(data, latent_dim=2)


def train_vae_untrained(data):
    next(data.batches(128))
    torch.manual_seed(0)
    return _VAE()


def train_vae_too_many_passes(data):                 # six passes over 9,600 digits: 57,600 > 48,000
    vae = train_vae_untrained(data)
    for _ in range(6):
        for x, _ in data.batches(128, tensors=True):
            vae.encode(x)
    return vae


def train_vae_too_big(data):
    next(data.batches(128))
    return _VAE(num_hiddens=512)                      # 820,000 numbers


def train_vae_keeps_digits(data):
    vae = train_vae_untrained(data)
    vae.digits = torch.cat([x for x, _ in data.batches(4096, tensors=True)])   # kept: 7.5 million numbers
    return vae


def train_vae_loads_data(data):
    from dlcourse_utils.data import load_mnist

    load_mnist(progress=False)
    return _VAE()


def train_vae_returns_none(data):
    next(data.batches(128))


def train_vae_no_encode(data):
    next(data.batches(128))
    return torch.nn.Linear(784, 784)


def train_vae_sigmoid_output(data):
    vae = train_vae_untrained(data)
    vae.decode = lambda z: torch.sigmoid(vae.decoder(z))
    return vae


WRONG_WITH_MESSAGES = {
    "8.1": [
        (reparam_variance_as_std, "uses exp(logvar), the variance"),
        (reparam_logvar_as_std, "multiplies eps by logvar itself"),
        (reparam_detached, "no gradient reaches mu and logvar"),
        (reparam_torch_normal, "changes between two calls with the same eps"),
        (reparam_own_noise, "not noise you draw yourself"),
        (reparam_no_noise, "the noise eps is missing"),
    ],
    "8.2": [
        (interpolate_without_end, "stops short of z1"),
        (interpolate_backwards, "runs from z1 to z0"),
        (interpolate_transposed, "transposed"),
        (interpolate_list, "return one tensor"),
    ],
    "8.3": [
        (kl_without_half, "factor 1/2"),
        (kl_logvar_sign, "sign of the log-variance term"),
        (kl_logvar_as_log_std, "treats logvar as log sigma"),
        (kl_mean_over_dims, "averages over the latent dimensions"),
        (kl_summed_over_everything, "sums over the batch too"),
        (kl_not_summed, "sum over the latent dimensions"),
        (kl_without_minus_one, "expected 0 for every example"),
    ],
    "8.4": [
        (kl_mc_from_prior, "samples from the prior p"),
        (kl_mc_missing_log_sigma, "missing its -log sigma term"),
        (kl_mc_ignores_generator, "with the generator you are given"),
        (kl_mc_returns_closed_form, "equals the closed form exactly"),
        (kl_mc_keeps_samples, "expected (4,)"),
    ],
    "8.5": [
        (gan_losses_saturating, "saturating minimax loss"),
        (gan_losses_naive_logs, "overflows for large |x|"),
        (gan_losses_averaged, "not their average"),
        (gan_losses_swapped_labels, "labels are swapped"),
        (gan_losses_sigmoid_twice, "applies the sigmoid first"),
        (gan_losses_generator_labels_fake, "labels the fakes 0"),
    ],
    "8.6": [
        (score_in_nats, "in nats"),
        (score_nan_for_missing_classes, "0 * log2(0) must count as 0"),
        (score_entropy_of_mean_probs, "entropy of the average probabilities"),
        (score_mean_row_entropy, "average entropy of each row"),
        (score_count_not_share, "is a count"),
        (score_fixed_threshold, "compare with the threshold argument"),
    ],
    "8.7": [
        (vae_loss_buggy, "784 times too small"),
        (vae_loss_kl_subtracted, "the KL term is subtracted"),
        (vae_loss_kl_summed_over_batch, "average both over the batch"),
        (vae_loss_summed_over_batch, "it sums over the batch"),
        (vae_loss_sigmoid_first, "applies the sigmoid before"),
        (vae_loss_per_image, "should be a single number"),
    ],
    "8.8": [
        (q_sample_no_sqrt, "need square roots"),
        (q_sample_variance_on_noise, "scaled by the variance"),
        (q_sample_off_by_one, "one step too early"),
        (q_sample_swapped, "swapped"),
        (q_sample_broadcast_on_last_axis, "raised RuntimeError"),
    ],
    "8.9": [
        (ddpm_loss_target_x0, "predicts the noise eps"),
        (ddpm_loss_clean_input, "give it the noisy x_t"),
        (ddpm_loss_summed, "take the mean over every element"),
        (ddpm_loss_item, "not connected to the model's parameters"),
        (ddpm_loss_under_no_grad, "not connected to the model's parameters"),
        (ddpm_loss_l1, "mean absolute error"),
    ],
    "8.10": [
        (reverse_step_noise_at_the_end, "adds noise at the last step"),
        (reverse_step_beta_variance, "posterior variance"),
        (reverse_step_no_noise, "no fresh noise"),
        (reverse_step_divides_by_alpha_bar, "divides by sqrt(alpha_bar_t)"),
        (reverse_step_adds_noise_estimate, "subtracts it"),
        (reverse_step_no_sqrt_on_noise_coefficient, "needs the square root"),
    ],
    "8.12": [
        (kl_gaussians_reversed, "KL(p || q)"),
        (kl_gaussians_mean_term_unscaled, "not divided by sigma_p^2"),
        (kl_gaussians_log_ratio_flipped, "wrong sign"),
        (kl_gaussians_ignores_p, "it ignores p"),
        (kl_gaussians_without_half, "factor 1/2"),
        (kl_gaussians_variances_swapped, "swapped in the ratio"),
        (kl_gaussians_without_minus_one, "the -1 is missing"),
        (kl_gaussians_mean_over_dims, "averages over the latent dimensions"),
    ],
    "8.13": [
        (ddim_negative_index, "negative index"),
        (ddim_one_step_back, "instead of to t_prev"),
        (ddim_returns_x0, "returns the estimate of x0"),
        (ddim_variance_in_x0, "scaled by sqrt(1 - alpha_bar_t)"),
        (ddim_no_sqrt_at_prev, "need square roots"),
        (ddim_with_fresh_noise, "wrong values"),
    ],
    "8.14": [
        (train_vae_untrained, "the target is at most 145"),
        (train_vae_two_numbers, "the target is at most 145"),
        (train_vae_too_many_passes, "more than its budget of 48,000"),
        (train_vae_too_big, "the budget is 450,000"),
        (train_vae_keeps_digits, "the budget is 450,000"),
        (train_vae_loads_data, "never load a data set itself"),
        (train_vae_returns_none, "returned None"),
        (train_vae_no_encode, "no encode() method"),
        (train_vae_sigmoid_output, "Return logits"),
    ],
    "8.11": [
        (nearest_squared, "squared distances"),
        (nearest_index, "index of the nearest"),
        (nearest_farthest, "farthest"),
        (nearest_wrong_axis, "over the reference set"),
        (nearest_mean_distance, "averages the distances"),
        (nearest_manhattan, "Manhattan"),
        (nearest_unclamped, "Clamp it at 0"),
    ],
}


# --------------------------------------------------------------------------- tests
class TestSelfCheckRules(SelfCheckRules):
    reference = REFERENCE
    wrong_with_messages = WRONG_WITH_MESSAGES


def test_numpy_answers_are_accepted_where_no_gradient_is_needed():
    def kl_numpy(mu, logvar):
        mu, logvar = mu.numpy().astype("float64"), logvar.numpy().astype("float64")
        return 0.5 * (mu ** 2 + __import__("numpy").exp(logvar) - 1 - logvar).sum(axis=-1)

    assert grade("8.3", kl_numpy).passed


def test_a_monte_carlo_estimate_with_another_sample_layout_passes():
    def kl_mc_samples_last(mu, logvar, num_samples, generator):
        std = torch.exp(0.5 * logvar)[:, None, :]
        eps = torch.randn(mu.shape[0], num_samples, mu.shape[1], generator=generator)
        z = mu[:, None, :] + std * eps
        log_q = -torch.log(std) - 0.5 * eps ** 2
        log_p = -0.5 * z ** 2
        return (log_q - log_p).sum(dim=-1).mean(dim=1)

    assert grade("8.4", kl_mc_samples_last).passed


def test_discriminator_loss_written_with_softplus_passes():
    def with_softplus(real_logits, fake_logits):
        d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        return d_loss, F.softplus(-fake_logits).mean()

    assert grade("8.5", with_softplus).passed


def test_kl_penalty_in_buggy_loss_is_784_times_too_strong():
    logits, x = torch.zeros(2, 784), torch.full((2, 784), 0.5)
    mu, logvar = torch.zeros(2, 2), torch.zeros(2, 2)
    assert math.isclose(vae_loss(logits, x, mu, logvar).item(),
                        784 * vae_loss_buggy(logits, x, mu, logvar).item(), rel_tol=1e-5)


#: Mutants of the worked answers (tests/mutation.py) that compute what the answer computes,
#: by exercise, with the reason; tests/test_mutation.py leaves them out of the kill rate.
EQUIVALENT_MUTANTS: dict[str, dict[str, str]] = {
    '8.4': {
        'line 9:8: + -> -':
            'mu - std * eps has the distribution of mu + std * eps; the check accepts any Monte Carlo estimate within its sampling error',
    },
    '8.6': {
        'line 9:61: 1 -> 0':
            "bincount's minlength only adds empty classes, and empty classes are dropped",
    },
    '8.10': {
        'line 7:42: > -> >=':
            'at t = 0 the step returns the mean before alpha_bar_prev is used',
        'line 7:46: 0 -> -1':
            'at t = 0 the step returns the mean before alpha_bar_prev is used',
        'line 7:66: 1.0 -> 2.0':
            'at t = 0 the step returns the mean before alpha_bar_prev is used',
        'line 9:12: 0 -> -1':
            'at t = 0, with alpha_bar_prev = 1, the posterior variance is 0: adding 0 * z is returning the mean',
    },
}
