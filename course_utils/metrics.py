r"""How good is a trained generative model? The reference measures ``make bench`` reports.

- :func:`w2_exact`: the exact 2-Wasserstein distance between two point clouds (2-D models);
- :func:`digits_quality`: how far a digits model's samples are from real held-out digits (a Frechet distance in
  the feature space of a small classifier of real digits), beside the same distance for a real draw of the same
  size, and their ratio; :func:`digits_controls` gives the controls (real, blurred, the mean digit plus noise,
  noise, one class) that the ratio's budget :data:`DIGITS_QUALITY_BUDGET` was chosen from;
- :func:`digits_classifier`, :func:`digits_scores`: a classifier trained on real 8x8 digits
  judges a digits model's reconstructions (accuracy). Its class coverage of samples is blind (uniform or binary
  noise covers 9 or 10 of the 10 classes): judge samples with :func:`digits_quality`.

Digits are the 8x8 images of :func:`sklearn.datasets.load_digits`, flattened to 64 pixels
and scaled to [0, 1] (the raw 0..16 grey levels divided by :data:`DIGITS_SCALE`), the way
the course's digits models see them.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from .core.validation import as_tensor
from .data.digits import DIGITS_SCALE, N_PIXELS, digits_data

__all__ = [
    "DIGITS_QUALITY_BUDGET",
    "DIGITS_SCALE",
    "DigitsClassifier",
    "DigitsQuality",
    "digits_classifier",
    "digits_controls",
    "digits_data",
    "digits_quality",
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




# --- a digits quality measure validated by controls ---------------------------------------------------

#: The most :attr:`DigitsQuality.ratio` may be: generated digits at most this many times as far from held-out real
#: digits as a draw of real held-out digits of the same size. Chosen from the controls of :func:`digits_controls`
#: (seeds 0-3): real draws score 0.95-1.27 (n = 100 to 450), digits blurred by 0.7 pixel 3.75-3.9 at n = 200 and
#: 5.0 at n = 450, the mean digit plus noise 4.9 to 6.6, noise 7.6 to 10; the course's models (``make bench``,
#: n = 450) 2.0 to 2.7, the Gaussian VAE's blurry decoder means nearest to it.
DIGITS_QUALITY_BUDGET = 3.0
#: Smallest sample :func:`digits_quality` accepts: the features' covariance (64 x 64) needs more points than features.
DIGITS_QUALITY_MIN_N = 100
#: Width of the feature layer (the hidden layer of the MLP that :func:`digits_quality` reads digits with).
DIGITS_FEATURES = 64
#: The fixed seeds of the real draws that :attr:`DigitsQuality.real_distance` averages over.
_REAL_DRAW_SEEDS = (101, 102, 103)
#: Blur width (pixels) and noise level of :func:`digits_controls`.
_BLUR_SIGMA, _MEAN_NOISE_SD = 0.7, 0.2


@dataclass(frozen=True)
class _DigitsJudge:
    """What :func:`digits_quality` compares with, built once per process (:func:`_digits_judge`)."""

    w: np.ndarray  # (64, DIGITS_FEATURES) first-layer weights of the MLP
    b: np.ndarray  # (DIGITS_FEATURES,)
    heldout_accuracy: float  # the MLP's accuracy on the pool digits (it never saw them)
    train_mean: np.ndarray  # (64,) the mean digit of the MLP's training digits
    ref_mean: np.ndarray  # (DIGITS_FEATURES,) features of the reference digits: mean ...
    ref_cov: np.ndarray  # (DIGITS_FEATURES, DIGITS_FEATURES) ... and covariance
    pool: np.ndarray  # (450, 64) held-out digits: the real draws and the controls
    pool_labels: np.ndarray  # (450,)
    fit_pixels: np.ndarray  # (898, 64) the digits the MLP was trained on
    ref_pixels: np.ndarray  # (449, 64) the reference digits

    def features(self, pixels: np.ndarray) -> np.ndarray:
        """The MLP's hidden layer, ReLU(pixels @ w + b): (n, 64) -> (n, DIGITS_FEATURES)."""
        return np.maximum(pixels @ self.w + self.b, 0.0)


@lru_cache(maxsize=1)
def _digits_judge() -> _DigitsJudge:
    """Fit the feature extractor on one part of ``load_digits`` and keep the two others apart.

    Three disjoint parts of the 1,797 digits, each stratified by class, fixed seeds:

    - the held-out quarter of :func:`~course_utils.data.digits.load_digits_split` (450 digits, never seen by the
      course's models nor by the MLP): the *pool* of real draws (:attr:`DigitsQuality.real_distance`,
      :func:`digits_controls`);
    - 2/3 of that split's training digits (898): the MLP that gives the features is trained on them;
    - the last 1/3 of them (449): the *reference* the samples are compared with.

    The models train on the second and third parts; the reference is digits that the feature extractor never saw.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    x, y = digits_data()
    x_models, x_pool, y_models, y_pool = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    x_fit, x_ref, y_fit, _ = train_test_split(x_models, y_models, test_size=1 / 3, random_state=0, stratify=y_models)
    # tol 1e-3: ~110 epochs instead of ~340, same held-out accuracy; one thread: faster than a pool shared with work
    mlp = MLPClassifier(hidden_layer_sizes=(DIGITS_FEATURES,), alpha=1e-3, tol=1e-3, max_iter=500, random_state=0)
    with threadpool_limits(1):
        mlp.fit(x_fit, y_fit)
    w, b = mlp.coefs_[0], mlp.intercepts_[0]
    ref = np.maximum(x_ref @ w + b, 0.0)
    return _DigitsJudge(w, b, float(mlp.score(x_pool, y_pool)), x_fit.mean(0), ref.mean(0),
                        np.cov(ref, rowvar=False), x_pool, y_pool, x_fit, x_ref)


def _frechet(mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray) -> float:
    r"""The 2-Wasserstein (Frechet) distance between N(mean1, cov1) and N(mean2, cov2).

    .. math:: d^2 = \|m_1 - m_2\|^2 + \operatorname{tr}\big(\Sigma_1 + \Sigma_2
              - 2 (\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2})^{1/2}\big)

    computed with symmetric eigendecompositions (deterministic, no complex round-off), negative round-off
    eigenvalues clipped to 0.
    """
    vals, vecs = np.linalg.eigh(cov1)
    root1 = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    middle = root1 @ cov2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    d2 = float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * cross)
    return math.sqrt(max(d2, 0.0))


def _distance_to_reference(judge: _DigitsJudge, pixels: np.ndarray) -> float:
    f = judge.features(pixels)
    return _frechet(f.mean(0), np.cov(f, rowvar=False), judge.ref_mean, judge.ref_cov)


def _real_draw(judge: _DigitsJudge, n: int, g: torch.Generator) -> np.ndarray:
    """n digits of the pool: without repeats while n <= 450, with replacement beyond."""
    size = len(judge.pool)
    index = torch.randperm(size, generator=g)[:n] if n <= size else torch.randint(0, size, (n,), generator=g)
    return judge.pool[index.numpy()]


@lru_cache(maxsize=16)
def _real_distance(n: int) -> float:
    judge = _digits_judge()
    return statistics.fmean(_distance_to_reference(judge, _real_draw(judge, n, torch.Generator().manual_seed(s)))
                            for s in _REAL_DRAW_SEEDS)


@dataclass(frozen=True)
class DigitsQuality:
    """How far generated digits are from real ones, beside the same figure for real digits (:func:`digits_quality`).

    Attributes:
        distance: the Frechet distance (feature units) between the samples and the reference real digits.
        real_distance: the same distance for a draw of as many real held-out digits (about what a perfect
            model scores), the mean over three fixed draws.
        ratio: ``distance / real_distance``; about 1 for real digits.
        budget: :data:`DIGITS_QUALITY_BUDGET`, the most ``ratio`` may be.
    """

    distance: float
    real_distance: float
    ratio: float
    budget: float

    @property
    def within_budget(self) -> bool:
        """Whether ``ratio <= budget``."""
        return self.ratio <= self.budget


def _quality_pixels(samples, name: str = "samples") -> np.ndarray:
    t = as_tensor(samples, name, torch.float64)
    if t.ndim != 2 or t.shape[1] != N_PIXELS or t.shape[0] < DIGITS_QUALITY_MIN_N:
        raise ValueError(f"{name} must be flattened 8x8 digits, shape (n, {N_PIXELS}) with n >= "
                         f"{DIGITS_QUALITY_MIN_N}, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} hold NaN or infinite pixels")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must be pixels in [0, 1] (divide raw 0..16 grey levels by {DIGITS_SCALE:g}; "
                         f"map [-1, 1] to [0, 1]), got values in [{lo:.3g}, {hi:.3g}]")
    return t.detach().cpu().numpy()


def digits_quality(samples) -> DigitsQuality:
    r"""Judge generated digits by their distance to real held-out digits, beside real digits' own distance.

    Each digit is read by the hidden layer (64 ReLU units) of a small MLP classifier trained on real digits
    (held-out accuracy about 0.97); the features of the n samples and of the 449 *reference* digits are each
    summarised by a Gaussian (mean, covariance), and ``distance`` is the 2-Wasserstein (Frechet) distance
    between the two Gaussians,

    .. math:: d = \Big(\|m_s - m_r\|^2 + \operatorname{tr}\big(\Sigma_s + \Sigma_r
              - 2 (\Sigma_s^{1/2} \Sigma_r \Sigma_s^{1/2})^{1/2}\big)\Big)^{1/2}

    (the square root of an FID computed in this small network's feature space). The distance shrinks with n
    (a covariance estimated from few points is noisy), so it is reported beside ``real_distance``, the same
    distance for n real held-out digits that neither the MLP nor the course's models saw (the mean of three
    fixed draws; without repeats up to n = 450, with replacement beyond), and judged by their ratio, the way the
    2-D models are judged by a W2 ratio. Controls (:func:`digits_controls`), n = 200: real digits 0.95 to 1.25,
    blurred digits about 3.8, the mean digit plus noise about 5, uniform or binary noise 7.6 to 7.9, a single class
    8.8; the spread grows with n (n = 450: blurred 5.0, noise 10). The budget, :data:`DIGITS_QUALITY_BUDGET`, sits
    between the real draws and the blurred digits.

    The splits of ``load_digits`` are disjoint: the MLP is trained on 898 digits, the reference is 449 others,
    the real draws come from the 450 held-out digits of :func:`~course_utils.data.digits.load_digits_split`
    (see :func:`_digits_judge`).

    Args:
        samples: generated digits, shape (n, 64) with n >= 100, pixels in [0, 1]; tensor or array.

    Returns:
        A :class:`DigitsQuality`. Deterministic; the feature extractor is fitted once per process (about half a
        second, plus scikit-learn's import) and cached, and so is the real figure for each n; then a call takes
        milliseconds on an idle core (0.2 s for n = 500 on a loaded 2-core machine).
    """
    pixels = _quality_pixels(samples)
    judge = _digits_judge()
    distance = _distance_to_reference(judge, pixels)
    real = _real_distance(len(pixels))
    return DigitsQuality(distance, real, distance / real, DIGITS_QUALITY_BUDGET)


def digits_controls(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Digits of known quality, to calibrate :func:`digits_quality`: each (n, 64) float64 in [0, 1].

    - "real": held-out real digits (the pool of the real draws, never the reference), without repeats up to
      n = 450;
    - "blurred": the same real digits, blurred (Gaussian filter, sigma 0.7 pixel, zero beyond the border);
    - "mean digit + noise": the mean training digit plus Gaussian noise of standard deviation 0.2, clipped;
    - "uniform noise": every pixel uniform on [0, 1];
    - "binary noise": every pixel 0 or 1 with probability 1/2 (saturated, like 1-step DDIM samples);
    - "one class": real held-out digits of a single class (zeros), drawn with replacement (mode collapse).

    Args:
        n: how many digits each, n >= 1.
        seed: seeds the draws (a torch generator).
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    from scipy.ndimage import gaussian_filter

    judge = _digits_judge()
    g = torch.Generator().manual_seed(seed)
    real = _real_draw(judge, n, g)
    blurred = gaussian_filter(real.reshape(n, 8, 8), sigma=(0, _BLUR_SIGMA, _BLUR_SIGMA), mode="constant")
    noise = torch.randn(n, N_PIXELS, generator=g, dtype=torch.float64).numpy()
    zeros = judge.pool[judge.pool_labels == 0]
    controls = {
        "real": real,
        "blurred": blurred.reshape(n, N_PIXELS),
        "mean digit + noise": judge.train_mean + _MEAN_NOISE_SD * noise,
        "uniform noise": torch.rand(n, N_PIXELS, generator=g, dtype=torch.float64).numpy(),
        "binary noise": (torch.rand(n, N_PIXELS, generator=g, dtype=torch.float64) < 0.5).double().numpy(),
        "one class": zeros[torch.randint(0, len(zeros), (n,), generator=g).numpy()],
    }
    return {k: torch.as_tensor(np.clip(v, 0.0, 1.0), dtype=torch.float64) for k, v in controls.items()}
