"""Static figures of notebook 02: gradient estimators, VAE training, digits, latent space, likelihoods, codebooks.

Each function returns a Figure built with pyplot and closed in pyplot (shown once as a cell's value).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..ui.render import COLORS, clean_axis, single_thread_torch
from .reparam import TEST_FUNCTIONS, estimator_race

__all__ = [
    "plot_estimator_variance",
    "plot_vae_losses",
    "plot_digit_rows",
    "plot_latent_space",
    "plot_pixel_likelihoods",
    "plot_codebook_usage",
]

#: One colour per digit class 0..9 (matplotlib's tab10).
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
SCORE_COLOR, PATH_COLOR = COLORS["prior"], COLORS["proposal"]


def plot_estimator_variance(function: str = "square", mu: float = 0.5, sigma: float = 1.0,
                            ns=(1, 4, 16, 64, 256, 1024), repeats: int = 400, seed: int = 0):
    r"""Variance of the score-function and the reparametrized estimates of :math:`\nabla_{\mu,\sigma}E_q[f]` vs N.

    Both fall like 1/N (unbiased averages); the gap between the lines is the variance ratio.

    Returns:
        A Figure with 2 axes (d/dmu, d/dsigma).
    """
    import matplotlib.pyplot as plt

    with single_thread_torch():
        races = [estimator_race(function, mu, sigma, int(n), repeats, seed) for n in ns]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.0), layout="constrained")
    label = TEST_FUNCTIONS[function].label
    for k, (ax, name) in enumerate(zip(axes, ("∂/∂μ", "∂/∂σ"), strict=True)):
        ax.loglog(ns, [float(r.score[:, k].var()) for r in races], "o-", color=SCORE_COLOR,
                  label="score function (REINFORCE)")
        ax.loglog(ns, [float(r.pathwise[:, k].var()) for r in races], "o-", color=PATH_COLOR,
                  label="reparametrized")
        ax.set_xlabel("samples per estimate N")
        ax.set_ylabel("variance of the estimate")
        ax.set_title(f"{name} E[{label}], μ = {mu:g}, σ = {sigma:g}", fontsize=10)
        clean_axis(ax)
    axes[0].legend(fontsize=8, frameon=False)
    plt.close(fig)
    return fig


def _smooth(values: np.ndarray, width: int = 25) -> np.ndarray:
    if len(values) < width:
        return values
    kernel = np.ones(width) / width
    return np.convolve(values, kernel, mode="valid")


def plot_vae_losses(runs: dict):
    r"""Training curves split into their terms: :math:`-\log p(x|z)`, KL, and their sum -ELBO (batch means, smoothed).

    Args:
        runs: label -> a run with ``recon`` and ``kl`` histories (a :class:`~.vae.TrainingRun`).

    Returns:
        A Figure with 3 axes.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 2.9), layout="constrained")
    styles = ["-", "--", ":", "-."]
    for i, (label, run) in enumerate(runs.items()):
        recon, kl = run.recon.numpy(), run.kl.numpy()
        for ax, values, color in zip(axes, (recon, kl, recon + kl), (COLORS["q"], COLORS["kl"], COLORS["elbo"]),
                                     strict=True):
            y = _smooth(values)
            ax.plot(np.arange(len(y)) + (len(values) - len(y)), y, color=color, ls=styles[i % 4], lw=1.4,
                    label=label)
    for ax, title in zip(axes, ("reconstruction  −log p(x|z)", "KL(q(z|x) ‖ p(z))", "−ELBO (their sum)"),
                         strict=True):
        ax.set_title(title + "  (nats)", fontsize=9)
        ax.set_xlabel("step")
        clean_axis(ax)
    if len(runs) > 1:
        axes[0].legend(fontsize=8, frameon=False)
    plt.close(fig)
    return fig


def plot_digit_rows(rows: dict, n: int = 12):
    """Rows of 8x8 digits, one row per entry of ``rows`` (label -> pixels (k, 64) in [0, 1])."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(0.55 * n + 1.6, 0.75 * len(rows) + 0.2), squeeze=False)
    for ax, (label, pixels) in zip(axes[:, 0], rows.items(), strict=True):
        imgs = torch.as_tensor(pixels)[:n].detach().reshape(-1, 8, 8).clamp(0, 1).numpy()
        strip = np.concatenate([np.pad(im, 1, constant_values=1.0) for im in imgs], axis=1)
        ax.imshow(strip, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        for side in ax.spines.values():
            side.set_visible(False)
    fig.subplots_adjust(left=0.16, right=0.99, top=0.98, bottom=0.02, hspace=0.15)
    plt.close(fig)
    return fig


@torch.no_grad()
def plot_latent_space(model, x, y, n_ellipses: int = 40, lim: float = 3.5):
    r"""Encoded digits of a 2-D latent VAE: posterior means coloured by class, a few posterior
    1-sd ellipses, over the prior's 1 and 2 sd circles.

    Returns:
        A Figure with 1 axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    mu, log_var = model.encode(x)
    mu, sd = mu.numpy(), torch.exp(0.5 * log_var).numpy()
    y = np.asarray(y)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
    for r in (1, 2):
        ax.add_patch(plt.Circle((0, 0), r, fill=False, ls="--", color=COLORS["muted"], lw=1))
    for i in range(min(n_ellipses, len(mu))):
        ax.add_patch(Ellipse(mu[i], 2 * sd[i, 0], 2 * sd[i, 1], color=CLASS_COLORS[y[i]], alpha=0.25, lw=0))
    ax.scatter(mu[:, 0], mu[:, 1], c=[CLASS_COLORS[k] for k in y], s=8, alpha=0.8, lw=0)
    for k in range(10):
        if (y == k).any():
            cx, cy = np.median(mu[y == k], axis=0)
            ax.text(cx, cy, str(k), fontsize=12, fontweight="bold", ha="center", va="center",
                    color=CLASS_COLORS[k], bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title("posterior means μ(x) of test digits; dashed: prior 1 and 2 sd", fontsize=9)
    clean_axis(ax)
    plt.close(fig)
    return fig


def plot_pixel_likelihoods(sigma: float = 0.1):
    r"""What each decoder's likelihood says about one pixel x, as a function of the decoder's output m.

    Bernoulli: :math:`x \log m + (1 - x)\log(1 - m)`, <= 0, best at m = x but never above
    :math:`-H(x)` for grey x. Gaussian with std sigma: :math:`-\tfrac12\log(2\pi\sigma^2) - (x - m)^2/(2\sigma^2)`,
    a log-*density*, positive near m = x when sigma is small.

    Returns:
        A Figure with 2 axes.
    """
    import matplotlib.pyplot as plt

    m = np.linspace(0.005, 0.995, 300)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.0), layout="constrained")
    for x, color in ((0.0, COLORS["target"]), (0.5, COLORS["forward"]), (1.0, COLORS["reverse"])):
        bern = x * np.log(m) + (1 - x) * np.log(1 - m)
        gauss = -0.5 * math.log(2 * math.pi * sigma**2) - (x - m) ** 2 / (2 * sigma**2)
        axes[0].plot(m, bern, color=color, label=f"x = {x:g}")
        axes[1].plot(m, gauss, color=color, label=f"x = {x:g}")
    axes[0].set_ylim(-5, 0.5)
    axes[1].set_ylim(-15, 2.5)
    axes[1].axhline(0, color=COLORS["muted"], lw=0.8)
    axes[0].set_title("Bernoulli: log p(x | m)  (≤ 0)", fontsize=10)
    axes[1].set_title(f"Gaussian, σ = {sigma:g}: log N(x; m, σ²)  (can be > 0)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("decoder output m (the predicted mean)")
        ax.legend(fontsize=8, frameon=False)
        clean_axis(ax)
    axes[0].set_ylabel("nats for one pixel")
    plt.close(fig)
    return fig


def plot_codebook_usage(usages: dict):
    """Bars of codeword usage, dead codes (never chosen) marked with a red x, perplexity in each title.

    Args:
        usages: label -> counts per codeword, shape (K,).

    Returns:
        A Figure with one axes per entry.
    """
    import matplotlib.pyplot as plt

    from .vq import perplexity

    fig, axes = plt.subplots(1, len(usages), figsize=(4.6 * len(usages), 2.8), layout="constrained",
                             squeeze=False)
    for ax, (label, counts) in zip(axes[0], usages.items(), strict=True):
        counts = torch.as_tensor(counts)
        share = (counts / counts.sum()).numpy()
        k = np.arange(len(share))
        dead = share == 0
        ax.bar(k, share, color=COLORS["proposal"], width=0.8)
        ax.plot(k[dead], np.zeros(dead.sum()), "x", color=COLORS["kl"], ms=7, mew=2, label="dead code")
        ax.axhline(1 / len(share), color=COLORS["muted"], ls="--", lw=1, label="uniform use")
        ax.set_title(f"{label}: perplexity {perplexity(counts):.1f} of {len(share)}, {int(dead.sum())} dead",
                     fontsize=9)
        ax.set_xlabel("codeword k")
        ax.set_ylabel("share of choices")
        ax.legend(fontsize=7, frameon=False)
        clean_axis(ax)
    plt.close(fig)
    return fig
