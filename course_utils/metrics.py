r"""How good is a trained generative model? The reference measures ``make bench`` reports.

- :func:`w2_exact`: the exact 2-Wasserstein distance between two point clouds (2-D models);
- :func:`digits_classifier`, :func:`digits_scores`: a classifier trained on real 8x8 digits
  judges a digits model's reconstructions (accuracy) and samples (class coverage).

Digits are the 8x8 images of :func:`sklearn.datasets.load_digits`, flattened to 64 pixels
and scaled to [0, 1] (the raw 0..16 grey levels divided by :data:`DIGITS_SCALE`), the way
the course's digits models see them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from .core.validation import as_tensor
from .data.digits import DIGITS_SCALE, N_PIXELS, digits_data

__all__ = [
    "DIGITS_SCALE",
    "DigitsClassifier",
    "digits_classifier",
    "digits_data",
    "digits_scores",
    "w2_exact",
]

N_CLASSES = 10


def _cloud(x, name: str) -> np.ndarray:
    """A point cloud as a float64 array of shape (n, d), n >= 1, all finite."""
    t = as_tensor(x, name, torch.float64)
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must be a point cloud of shape (n, d) with n >= 1 points, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or infinite coordinates")
    return t.detach().cpu().numpy()


def w2_exact(x, y) -> float:
    r"""The exact 2-Wasserstein distance between two point clouds with uniform weights.

    .. math::
        W_2(\hat\mu, \hat\nu) = \Big(\min_{P \in \Pi(a, b)} \sum_{i,j} P_{ij}\, \|x_i - y_j\|^2\Big)^{1/2},
        \qquad a = \tfrac1n \mathbf 1_n,\ b = \tfrac1m \mathbf 1_m

    solved as a linear program (POT's network simplex, ``ot.emd2``) in float64. The
    sizes may differ; with n = m the optimal plan is a permutation. Cost: about a
    second for n = m = 2,000.

    Args:
        x: points, shape (n, d).
        y: points, shape (m, d), the same d.

    Returns:
        The distance, a Python float (same units as the coordinates).
    """
    import ot

    a_np, b_np = _cloud(x, "x"), _cloud(y, "y")
    if a_np.shape[1] != b_np.shape[1]:
        raise ValueError(
            f"x and y must be points in the same dimension: x has shape {a_np.shape} (d = {a_np.shape[1]}), "
            f"y has shape {b_np.shape} (d = {b_np.shape[1]})"
        )
    n, m = len(a_np), len(b_np)
    cost = ot.dist(a_np, b_np, metric="sqeuclidean")
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    # The simplex needs O(n m) pivots in the worst case; POT's default cap (1e5) is too low for 2,000 points.
    value, log = ot.emd2(a, b, cost, numItermax=max(1_000_000, 50 * n * m), log=True)
    if log.get("warning"):
        raise RuntimeError(f"the optimal transport solver did not converge: {log['warning']}")
    return math.sqrt(max(float(value), 0.0))


@dataclass(frozen=True)
class DigitsClassifier:
    """A classifier of real digits and how well it does on digits it never saw.

    Attributes:
        model: a fitted sklearn classifier; ``model.predict(pixels (n, 64) in [0, 1]) -> (n,)``.
        heldout_accuracy: its accuracy on the held-out quarter of ``load_digits``.
        n_train, n_heldout: sizes of the two splits.
    """

    model: Any
    heldout_accuracy: float
    n_train: int
    n_heldout: int

    def predict(self, pixels) -> np.ndarray:
        """Predicted labels (n,) of pixels (n, 64) scaled to [0, 1]."""
        return self.model.predict(_digit_pixels(pixels, "pixels"))


@lru_cache(maxsize=1)
def digits_classifier() -> DigitsClassifier:
    """A logistic regression on the pixels of real digits (3/4 train, 1/4 held out, fixed split).

    Trained once per process (well under a second on an idle laptop core) and cached. Held-out accuracy is about 0.97.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    x, y = digits_data()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    model = LogisticRegression(tol=1e-3, max_iter=1000)  # tol 1e-3: a third of the iterations, same accuracy
    model.fit(x_train, y_train)
    accuracy = float((model.predict(x_test) == y_test).mean())
    return DigitsClassifier(model, accuracy, len(y_train), len(y_test))


def _digit_pixels(x, name: str) -> np.ndarray:
    t = as_tensor(x, name, torch.float64)
    if t.ndim != 2 or t.shape[1] != N_PIXELS or t.shape[0] == 0:
        raise ValueError(
            f"{name} must be flattened 8x8 digits, shape (n, {N_PIXELS}) with n >= 1, got {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or infinite pixels")
    return t.detach().cpu().numpy()


def digits_scores(recon=None, labels=None, samples=None, min_fraction: float = 0.02) -> dict:
    r"""Judge a digits model with :func:`digits_classifier`.

    - accuracy: the fraction of reconstructions that the classifier reads as their true label
      (compare with ``classifier_accuracy``, its accuracy on real held-out digits);
    - coverage: the fraction of the 10 classes that the classifier assigns to at least
      ``min_fraction`` of the generated samples (1.0: every digit is generated; 0.1: one digit only);
    - histogram: how many samples fall in each class, a list of 10 counts.

    Args:
        recon: reconstructions, shape (n, 64), pixels in [0, 1]; or None.
        labels: the true labels of the digits reconstructed, shape (n,), integers 0..9; None with ``recon``.
        samples: generated digits, shape (k, 64); or None.
        min_fraction: the share of samples a class needs to count as covered.

    Returns:
        A dict with keys ``accuracy``, ``coverage``, ``histogram`` (None where the input
        was not given) and ``classifier_accuracy``.
    """
    if (recon is None) != (labels is None):
        raise ValueError("pass recon and labels together: the labels are the true classes of the reconstructed digits")
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must lie in (0, 1], got {min_fraction}")
    clf = digits_classifier()
    out: dict = {"accuracy": None, "coverage": None, "histogram": None,
                 "classifier_accuracy": clf.heldout_accuracy}
    if recon is not None:
        pixels = _digit_pixels(recon, "recon")
        y = torch.as_tensor(labels)
        if y.shape != (len(pixels),) or y.is_floating_point() or bool(((y < 0) | (y >= N_CLASSES)).any()):
            raise ValueError(
                f"labels must be integers 0..9 of shape ({len(pixels)},), one per reconstruction; "
                f"got shape {tuple(y.shape)}, dtype {y.dtype}"
            )
        out["accuracy"] = float((clf.model.predict(pixels) == y.cpu().numpy()).mean())
    if samples is not None:
        predicted = clf.model.predict(_digit_pixels(samples, "samples"))
        histogram = np.bincount(predicted, minlength=N_CLASSES)
        out["histogram"] = [int(c) for c in histogram]
        out["coverage"] = float((histogram >= min_fraction * len(predicted)).sum() / N_CLASSES)
    return out

