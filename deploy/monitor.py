"""Input-drift monitoring: are the images the service sees still like the training images?

A model is only as good as the match between its inputs and its training data. When the
inputs drift (a new camera, a new scanner, users writing on their phones) accuracy falls,
and no error is raised anywhere. Labels arrive late or never, so a monitor compares what
it *can* see at once, the inputs, with the training distribution:

- a few cheap statistics per image (``image_features``): brightness, ink, where the ink
  sits, how ragged its edges are;
- per statistic, the **population stability index** (``psi``) between the training
  values and a window of live values, and the two-sample **Kolmogorov-Smirnov**
  statistic (``ks_statistic``) with its critical value (``ks_critical_value``);
- ``DriftMonitor`` fits the reference once and raises an alarm when any statistic moves.

NumPy only, so the same code can run inside the service, in a batch job over logged
inputs, or in a notebook.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: PSI rules of thumb used across the credit-scoring and ML-monitoring literature:
#: below 0.1 no meaningful shift, 0.1-0.25 a moderate one worth a look, above 0.25 a major one.
PSI_ALERT = 0.25
PSI_FLOOR = 1e-4  # a bin with no observations counts as this fraction, so the log stays finite


def image_features(images: np.ndarray) -> dict[str, np.ndarray]:
    """Five statistics per image: images (N, 28, 28), pixels 0-255 -> {name: (N,) float64}."""
    x = np.asarray(images, dtype=np.float64) / 255.0  # (N, H, W) in [0, 1]
    n, height, width = x.shape
    mass = x.sum(axis=(1, 2)) + 1e-9  # (N,)
    rows = np.arange(height, dtype=np.float64)
    cols = np.arange(width, dtype=np.float64)
    return {
        "brightness": x.mean(axis=(1, 2)),
        "ink": (x > 0.5).mean(axis=(1, 2)),
        "centre_row": (x.sum(axis=2) @ rows) / mass,
        "centre_col": (x.sum(axis=1) @ cols) / mass,
        # mean absolute difference between horizontal neighbours: noise and blur move it
        "roughness": np.abs(np.diff(x, axis=2)).mean(axis=(1, 2)),
    }


def psi(reference: np.ndarray, live: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``live`` against ``reference`` (1-D samples).

    The bin edges are the reference's quantiles, so each bin holds about 1/bins of the
    reference; PSI = sum over bins of (live% - ref%) * ln(live% / ref%), which is zero
    for identical histograms and grows with any shift, in either direction.
    """
    reference = np.asarray(reference, dtype=np.float64).ravel()
    live = np.asarray(live, dtype=np.float64).ravel()
    inner = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))  # ties merge bins
    ref_share = np.bincount(np.searchsorted(inner, reference, side="right"), minlength=len(inner) + 1)
    live_share = np.bincount(np.searchsorted(inner, live, side="right"), minlength=len(inner) + 1)
    ref_share = np.maximum(ref_share / len(reference), PSI_FLOOR)
    live_share = np.maximum(live_share / len(live), PSI_FLOOR)
    return float(np.sum((live_share - ref_share) * np.log(live_share / ref_share)))


def ks_statistic(reference: np.ndarray, live: np.ndarray) -> float:
    """Largest gap between the two empirical CDFs (the two-sample Kolmogorov-Smirnov D)."""
    reference = np.sort(np.asarray(reference, dtype=np.float64).ravel())
    live = np.sort(np.asarray(live, dtype=np.float64).ravel())
    points = np.concatenate([reference, live])
    cdf_ref = np.searchsorted(reference, points, side="right") / len(reference)
    cdf_live = np.searchsorted(live, points, side="right") / len(live)
    return float(np.max(np.abs(cdf_ref - cdf_live)))


def ks_critical_value(n: int, m: int, alpha: float = 1e-4) -> float:
    """D above which the two samples differ at level ``alpha`` (large-sample approximation)."""
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


@dataclass
class DriftMonitor:
    """Compare windows of live images with a fitted reference, statistic by statistic."""

    psi_alert: float = PSI_ALERT
    #: per statistic. MNIST's test set differs slightly from its training set (other writers):
    #: random windows of 1,000 test images reach 95 % of the critical D at 0.001, 83 % at 1e-4.
    alpha: float = 1e-4
    reference: dict[str, np.ndarray] = field(default_factory=dict)

    def fit(self, images: np.ndarray) -> "DriftMonitor":
        self.reference = image_features(images)
        return self

    def check(self, images: np.ndarray) -> dict:
        """{"drift": bool, "features": {name: {"psi", "ks", "ks_critical", "drift"}}} for one window."""
        if not self.reference:
            raise RuntimeError("call fit(training_images) first")
        live = image_features(images)
        report = {}
        for name, values in live.items():
            ref = self.reference[name]
            score, d = psi(ref, values), ks_statistic(ref, values)
            critical = ks_critical_value(len(ref), len(values), self.alpha)
            report[name] = {"psi": score, "ks": d, "ks_critical": critical,
                            "drift": bool(score > self.psi_alert or d > critical)}
        return {"drift": any(r["drift"] for r in report.values()), "features": report}
