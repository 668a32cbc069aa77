"""Static figures for SDEs, Langevin dynamics and score matching (notebook 06).

Each function returns a Figure built with pyplot and closed in pyplot (shown once as a cell's value).
"""

from __future__ import annotations

import numpy as np
import torch

from ..ui.render import COLORS, clean_axis, closed, square_axes
from .langevin import tempered_marginal
from .sde import ou_marginal

__all__ = [
    "plot_brownian_paths",
    "plot_dsm_loss_floor",
    "plot_langevin_tempering",
    "plot_learned_score",
    "plot_ou_marginals",
    "plot_score_field",
    "plot_score_model_samples",
    "plot_sde_trajectories",
]

PARTICLE = "#c44e52"
ODE_COLOR = "#555555"



def _normal_pdf(x, mean, var):
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)



def _density_grid(mixture, lim, size=150):
    axis = torch.linspace(-lim, lim, size, dtype=torch.float64)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    pts = torch.stack([xx, yy], -1)
    return axis.numpy(), mixture.log_prob(pts).exp().numpy()


def plot_brownian_paths(sample, n_show: int = 25):
    """Brownian paths with the +-2 sqrt(t) band, W_1 against N(0, 1), and two disjoint increments against each other.

    ``sample``: a :class:`~.sde.BrownianSample` of 1-D paths (W of shape (n_steps + 1, n, 1)).
    """
    import matplotlib.pyplot as plt

    t, w = sample.times.numpy(), sample.W[..., 0].numpy()
    fig, (ax, hist, inc) = plt.subplots(1, 3, figsize=(10, 3.0), layout="constrained")
    ax.plot(t, w[:, :n_show], lw=0.7, alpha=0.8)
    ax.fill_between(t, -2 * np.sqrt(t), 2 * np.sqrt(t), color=COLORS["target"], alpha=0.12, lw=0,
                    label="±2 √t")
    ax.set_xlabel("t")
    ax.set_title(f"{n_show} Brownian paths", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    end = w[-1]
    x = np.linspace(-4, 4, 200)
    hist.hist(end, bins=40, density=True, color=COLORS["target"], alpha=0.4, label=f"W_1, {len(end)} paths")
    hist.plot(x, _normal_pdf(x, 0.0, t[-1]), color=COLORS["truth"], lw=1.5, label="N(0, 1)")
    hist.set_title("W_1 ~ N(0, t) at t = 1", fontsize=9)
    hist.legend(fontsize=7, frameon=False)
    mid = len(t) // 2
    a, b = w[mid] - w[0], w[-1] - w[mid]
    inc.scatter(a, b, s=2, color=PARTICLE, alpha=0.3, lw=0)
    inc.set_xlabel(f"W_{t[mid]:.1f} - W_0")
    inc.set_ylabel(f"W_1 - W_{t[mid]:.1f}")
    inc.set_title(f"disjoint increments: correlation {np.corrcoef(a, b)[0, 1]:+.3f}", fontsize=9)
    inc.set_aspect("equal")
    for a_ in (ax, hist, inc):
        clean_axis(a_)
    return closed(fig)


def plot_ou_marginals(times, paths, check_times, theta: float, sigma: float, x0: float, n_show: int = 30):
    """OU paths with the closed-form mean +- 2 std, and the simulated X_t against N(mean_t, var_t) at a few times.

    ``times``: (n_steps + 1,); ``paths``: (n_steps + 1, n, 1) simulated from X_0 = x0.
    """
    import matplotlib.pyplot as plt

    t, x = times.numpy(), paths[..., 0].numpy()
    mean, var = (v.numpy() for v in ou_marginal(times, theta, sigma, x0))
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(9.5, 3.1), layout="constrained")
    ax.plot(t, x[:, :n_show], lw=0.6, alpha=0.6, color=COLORS["muted"])
    ax.plot(t, mean, color=COLORS["truth"], lw=1.5, label="closed-form mean")
    ax.fill_between(t, mean - 2 * np.sqrt(var), mean + 2 * np.sqrt(var), color=COLORS["target"], alpha=0.15, lw=0,
                    label="± 2 std (closed form)")
    ax.set_xlabel("t")
    ax.set_title(f"dX = -{theta:g} X dt + {sigma:g} dW from X_0 = {x0:g}", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    colors = ["#dd8452", "#55a868", "#8172b3", "#c44e52", "#4c72b0"]
    grid = np.linspace(x.min(), x.max(), 300)
    for tc, c in zip(check_times, colors, strict=False):
        i = int(np.argmin(np.abs(t - tc)))
        m, v = (float(a) for a in ou_marginal(float(t[i]), theta, sigma, x0))
        hist.hist(x[i], bins=50, density=True, color=c, alpha=0.3)
        hist.plot(grid, _normal_pdf(grid, m, v), color=c, lw=1.5, label=f"t = {t[i]:.2f}")
    hist.set_title("simulated X_t (bars) vs closed-form N(mean_t, var_t) (lines)", fontsize=9)
    hist.legend(fontsize=7, frameon=False)
    clean_axis(ax)
    clean_axis(hist, yticks=False)
    return closed(fig)


def plot_score_field(mixture, lim: float = 3.5, n_arrows: int = 19):
    """The slides' figure: a 2-D mixture's density (contours) and its score (arrows, length ~ sqrt(|score|))."""
    import matplotlib.pyplot as plt

    axis, dens = _density_grid(mixture, lim)
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    ax.contourf(axis, axis, dens, levels=12, cmap="Blues")
    a = torch.linspace(-lim * 0.92, lim * 0.92, n_arrows, dtype=torch.float64)
    yy, xx = torch.meshgrid(a, a, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    s = mixture.score(pts)
    norm = s.norm(dim=1, keepdim=True).clamp(min=1e-12)
    shown = s / norm * norm.sqrt()
    ax.quiver(pts[:, 0], pts[:, 1], shown[:, 0], shown[:, 1], color=PARTICLE, width=0.004, angles="xy")
    ax.set_title("score ∇log p(x) (arrows) over the density p (contours)", fontsize=9)
    square_axes(ax, lim)
    return closed(fig)


def plot_langevin_tempering(mixture, runs, lim: float = 4.0):
    """For each Langevin run: the histogram of the first coordinate against p and against p^(eta/alpha).

    ``runs``: a list of (title, samples (n, 2), power = eta / alpha).
    """
    import matplotlib.pyplot as plt

    bins = np.linspace(-lim, lim, 41)
    centers = torch.from_numpy(0.5 * (bins[1:] + bins[:-1]))
    other = torch.linspace(-7.0, 7.0, 281, dtype=torch.float64)
    p = tempered_marginal(mixture, 1.0, centers, other).numpy()
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 2.7), layout="constrained", sharey=True)
    for ax, (title, x, power) in zip(np.atleast_1d(axes), runs, strict=True):
        x = x[torch.isfinite(x).all(1)]
        ax.hist(x[:, 0].numpy(), bins=bins, density=True, color=PARTICLE, alpha=0.4, label="chain")
        ax.plot(centers, p, color=COLORS["target"], lw=2, label="p")
        if power != 1.0:
            ax.plot(centers, tempered_marginal(mixture, power, centers, other).numpy(), color=COLORS["truth"], lw=1.5,
                    ls="--", label=f"p^{power:g}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("first coordinate x₁")
        ax.legend(fontsize=7, frameon=False, loc="upper left")
        clean_axis(ax, yticks=False)
    return closed(fig)


def plot_sde_trajectories(mixture, runs, n_show: int = 12, lim: float = 3.2):
    """One column per sigma: a few trajectories (top) and all particles at t = 1 (bottom) over p_1.

    ``runs``: dict sigma -> paths of shape (n_steps + 1, n, 2), all from the same starting points.
    """
    import matplotlib.pyplot as plt

    axis, dens = _density_grid(mixture, lim, 100)
    fig, axes = plt.subplots(2, len(runs), figsize=(2.4 * len(runs), 4.9), layout="constrained", squeeze=False)
    for j, (sigma, path) in enumerate(runs.items()):
        top, bottom = axes[0, j], axes[1, j]
        p = path.numpy()
        for ax in (top, bottom):
            ax.contour(axis, axis, dens, levels=4, colors=COLORS["target"], linewidths=0.6, alpha=0.6)
            square_axes(ax, lim)
        color = ODE_COLOR if sigma == 0 else PARTICLE
        for i in range(min(n_show, p.shape[1])):
            top.plot(p[:, i, 0], p[:, i, 1], lw=0.7, color=color, alpha=0.8)
        bottom.scatter(p[-1, :, 0], p[-1, :, 1], s=2, color=color, lw=0, alpha=0.6)
        log_p = float(mixture.log_prob(path[-1]).mean())
        top.set_title("ODE (σ = 0)" if sigma == 0 else f"SDE, σ = {sigma:g}", fontsize=9)
        bottom.set_title(f"t = 1: mean log p₁ = {log_p:.2f}", fontsize=8)
    return closed(fig)


def plot_dsm_loss_floor(times, floor, weights, labels=("slide's loss (λ = 1)", "λ_t = β_t² / α_t²")):
    """The DSM loss that even the exact score pays at each t, unweighted and weighted (log scale).

    ``times`` (T,); ``floor`` (T,): E||grad log p_t(x) + eps / beta_t||^2 at the exact score;
    ``weights`` (T,): lambda_t.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.0), layout="constrained")
    t = np.asarray(times)
    ax.semilogy(t, np.asarray(floor), color=PARTICLE, lw=2, label=labels[0])
    ax.semilogy(t, np.asarray(floor) * np.asarray(weights), color=COLORS["reverse"], lw=2, label=labels[1])
    ax.set_xlabel("t (0: noise, 1: data)")
    ax.set_ylabel("loss of the exact score")
    ax.set_title("what is left to pay at the optimum, per time", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    clean_axis(ax)
    return closed(fig)


def plot_learned_score(model, mixture_path, times, lim: float = 3.0, n_arrows: int = 13):
    """Exact score (blue) and learned score (red) on a grid at a few times, over the exact p_t.

    ``model``: ``s(x (n, 2), t (n, 1)) -> (n, 2)``; ``mixture_path``: a :class:`~.sde.MixturePath`.
    Arrows are drawn with length ~ sqrt(|score|), the same scale for both.
    """
    import matplotlib.pyplot as plt

    a = torch.linspace(-lim * 0.9, lim * 0.9, n_arrows, dtype=torch.float64)
    yy, xx = torch.meshgrid(a, a, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    fig, axes = plt.subplots(1, len(times), figsize=(2.9 * len(times), 3.1), layout="constrained")
    for ax, t in zip(np.atleast_1d(axes), times, strict=True):
        axis, dens = _density_grid(mixture_path.marginal(t), lim, 100)
        ax.contourf(axis, axis, dens, levels=10, cmap="Blues")
        exact = mixture_path.score(pts, t)
        with torch.no_grad():
            learned = model(pts.float(), torch.full((len(pts), 1), float(t))).double()
        for s, color in ((exact, COLORS["target"]), (learned, PARTICLE)):
            norm = s.norm(dim=1, keepdim=True).clamp(min=1e-12)
            shown = s / norm * norm.sqrt()
            ax.quiver(pts[:, 0], pts[:, 1], shown[:, 0], shown[:, 1], color=color, width=0.005, angles="xy",
                      scale=60, alpha=0.85)
        ax.set_title(f"t = {t:g}: exact (blue), learned (red)", fontsize=8)
        square_axes(ax, lim)
    return closed(fig)


def plot_score_model_samples(losses, samples, data, lim: float = 3.2):
    """The weighted DSM loss during training (smoothed), then one panel per set of samples over the data.

    ``losses`` (steps,); ``samples``: dict title -> (n, 2); ``data``: (m, 2) target samples (grey).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(samples), figsize=(2.9 * (1 + len(samples)), 2.9), layout="constrained")
    loss = np.asarray(losses)
    k = max(1, len(loss) // 60)
    smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
    axes[0].plot(np.arange(len(smooth)) + k // 2, smooth, color=PARTICLE, lw=1.2)
    axes[0].set_xlabel("Adam step")
    axes[0].set_title("weighted DSM loss (moving average)", fontsize=8)
    axes[0].set_ylim(min(smooth) * 0.95, min(smooth) * 1.5 if len(smooth) else 1.0)
    clean_axis(axes[0])
    d = np.asarray(data)
    for ax, (title, x) in zip(axes[1:], samples.items(), strict=True):
        ax.scatter(d[:, 0], d[:, 1], s=2, color=COLORS["muted"], alpha=0.3, lw=0)
        x = np.asarray(x)
        ax.scatter(x[:, 0], x[:, 1], s=2, color=PARTICLE, alpha=0.5, lw=0)
        ax.set_title(title, fontsize=8)
        square_axes(ax, lim)
    return closed(fig)
