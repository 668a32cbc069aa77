"""Static figures for notebook 04 (Wasserstein distance, optimal transport, WGAN), and the drawing
helpers the section's widgets share (transport arcs, plan lines, the critic's heatmap).

Each ``plot_*`` function returns a Figure built with pyplot and closed in pyplot (shown once as a
cell's value).
"""

from __future__ import annotations

import numpy as np
import torch

from ..ui.render import COLORS, clean_axis, closed
from .transport import plan_lines
from .wasserstein import monotone_coupling, optimal_critic_1d, parallel_lines

__all__ = [
    "MU_COLOR",
    "NU_COLOR",
    "plot_critic_fits",
    "plot_earth_mover",
    "plot_parallel_lines",
    "plot_sorted_coupling",
    "plot_transport_plans",
    "plot_wgan_estimates",
    "transport_arc_paths",
]

#: The slides' colours: pink for mu (what is moved), blue for mu' (where it goes).
MU_COLOR = "#d4609a"
NU_COLOR = COLORS["target"]
FAKE = "#c44e52"



def transport_arc_paths(start, end, base: float = 0.0, height: float = 0.35, n: int = 24) -> list[np.ndarray]:
    """Arcs (parabolas above ``base``) from each start to each end on a line: a list of (n, 2) paths.

    ``height`` is the top of an arc as a fraction of its span (at least 0.04 in data units).
    """
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    s = np.linspace(0.0, 1.0, n)
    paths = []
    for a, b in zip(start, end, strict=True):
        top = max(height * abs(b - a), 0.04)
        paths.append(np.column_stack([a + (b - a) * s, base + 4 * top * s * (1 - s)]))
    return paths


def arc_widths(mass, scale: float = 14.0) -> np.ndarray:
    """Line widths (points) proportional to the mass an arc carries."""
    return scale * np.asarray(mass, dtype=float)


def plot_earth_mover(mu, nu, lo: float = 0.0, hi: float = 11.0, n: int = 1101):
    """The slides' example: densities with the sorted plan's arcs, the CDFs with the area W1 between them,
    and the optimal 1-D critic f* of the dual, whose mean gap is W1 too."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    grid = torch.linspace(lo, hi, n, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    p, q = mu.density_on_grid(grid), nu.density_on_grid(grid)
    f_cdf, g_cdf = mu.cdf(grid), nu.cdf(grid)
    plan = monotone_coupling(mu, nu)
    w1 = float(plan.cost.sum())
    critic = optimal_critic_1d(p, q, dx)
    x = grid.numpy()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.1), layout="constrained")
    ax = axes[0]
    ax.fill_between(x, p.numpy(), step="mid", color=MU_COLOR, alpha=0.45, lw=0, label=r"$\mu$")
    ax.fill_between(x, q.numpy(), step="mid", color=NU_COLOR, alpha=0.45, lw=0, label=r"$\mu'$")
    starts, ends = plan.source.mean(1).numpy(), plan.target.mean(1).numpy()
    arcs = transport_arc_paths(starts, ends, base=0.55, height=0.12)
    ax.add_collection(LineCollection(arcs, linewidths=arc_widths(plan.mass), colors="#555", alpha=0.7))
    ax.scatter(ends, np.full(len(ends), 0.55), marker="v", color="#555", s=25, zorder=3)
    for s, t, m, c in zip(starts, ends, plan.mass.tolist(), plan.cost.tolist(), strict=True):
        ax.text((s + t) / 2, 0.57 + max(0.12 * abs(t - s), 0.04), f"mass {m:g}\ncost {c:.3g}", ha="center",
                va="bottom", fontsize=6.5)
    ax.set_ylim(0, 1.3)
    ax.set_title("densities and the sorted plan (arc width = mass)", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax = axes[1]
    ax.plot(x, f_cdf.numpy(), color=MU_COLOR, lw=1.8, label=r"$F$ ($\mu$)")
    ax.plot(x, g_cdf.numpy(), color=NU_COLOR, lw=1.8, label=r"$G$ ($\mu'$)")
    ax.fill_between(x, f_cdf.numpy(), g_cdf.numpy(), color="#999", alpha=0.35, lw=0,
                    label=rf"area $\int|F - G| = {w1:.3f}$")
    ax.set_title(r"CDFs: $W_1 = \int |F - G|\,dt$", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax = axes[2]
    gap = float((critic * p).sum() * dx - (critic * q).sum() * dx)
    ax.plot(x, critic.numpy(), color="#222", lw=1.8, label=rf"$f^*$: $E_\mu f^* - E_{{\mu'}} f^* = {gap:.3f}$")
    ax.fill_between(x, critic.numpy().min(), critic.numpy().min() + p.numpy(), color=MU_COLOR, alpha=0.3, lw=0)
    ax.fill_between(x, critic.numpy().min(), critic.numpy().min() + q.numpy(), color=NU_COLOR, alpha=0.3, lw=0)
    ax.set_title(r"the optimal critic: slope $\mathrm{sign}(G - F)$", fontsize=9)
    ax.legend(fontsize=8, frameon=False, loc="upper center")
    for a in axes:
        a.set_xlim(lo, hi)
        clean_axis(a)
    return closed(fig)


def plot_sorted_coupling(x, y, n_show: int = 40):
    """Two 1-D samples (top row x, bottom row y) linked by the pairing as given and by sorting.

    The sorted pairing's mean |x - y| is W1; the given order's is larger."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    x, y = np.asarray(x, dtype=float)[:n_show], np.asarray(y, dtype=float)[:n_show]
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.4), layout="constrained", sharex=True)
    for ax, (title, xs, ys) in zip(axes, (("pairs in the order drawn", x, y),
                                          ("sorted: the i-th smallest to the i-th smallest", np.sort(x), np.sort(y))),
                                   strict=True):
        segments = [[(a, 1.0), (b, 0.0)] for a, b in zip(xs, ys, strict=True)]
        ax.add_collection(LineCollection(segments, colors="#777", linewidths=0.8))
        ax.scatter(xs, np.ones_like(xs), color=MU_COLOR, s=14, zorder=3)
        ax.scatter(ys, np.zeros_like(ys), color=NU_COLOR, s=14, zorder=3)
        ax.set_title(f"{title}: mean |x - y| = {np.abs(xs - ys).mean():.3f}", fontsize=9)
        ax.set_yticks([0, 1], ["y", "x"])
        ax.set_ylim(-0.3, 1.3)
        clean_axis(ax)
    return closed(fig)


def _draw_plan(ax, x, y, plan, scale: float = 60.0):
    from matplotlib.collections import LineCollection

    segments, mass = plan_lines(plan, x, y)
    ax.add_collection(LineCollection(segments, linewidths=scale * mass, colors="#555", alpha=0.6))
    ax.scatter(x[:, 0], x[:, 1], color=MU_COLOR, s=18, zorder=3, label="x (source)")
    ax.scatter(y[:, 0], y[:, 1], color=NU_COLOR, s=18, zorder=3, label="y (target)")
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_transport_plans(x, y, plans: dict, costs: dict):
    """One panel per plan: lines from x_i to y_j, as wide as the mass P_ij; the title gives its cost."""
    import matplotlib.pyplot as plt

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    fig, axes = plt.subplots(1, len(plans), figsize=(3.6 * len(plans), 3.4), layout="constrained", squeeze=False)
    for ax, (name, plan) in zip(axes[0], plans.items(), strict=True):
        _draw_plan(ax, x, y, plan)
        ax.set_title(f"{name}\ncost {costs[name]:.4f}", fontsize=9)
    axes[0][0].legend(fontsize=7, frameon=False, loc="lower left")
    return closed(fig)


def plot_parallel_lines(theta_max: float = 2.0, theta: float = 0.8):
    """Arjovsky et al.'s example 1: the two lines, then KL, JS and W against theta, then their slopes."""
    import matplotlib.pyplot as plt

    thetas = torch.linspace(-theta_max, theta_max, 401, dtype=torch.float64)
    d = parallel_lines(thetas)
    t = thetas.numpy()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.0), layout="constrained", gridspec_kw={"width_ratios": [0.7, 1, 1]})
    ax = axes[0]
    ax.plot([0, 0], [0, 1], color=MU_COLOR, lw=4, label=r"$P_0$: (0, Z)")
    ax.plot([theta, theta], [0, 1], color=NU_COLOR, lw=4, label=r"$P_\theta$: ($\theta$, Z)")
    for z in np.linspace(0.1, 0.9, 5):
        ax.annotate("", xy=(theta - 0.04, z), xytext=(0.04, z), arrowprops={"arrowstyle": "->", "color": "#555"})
    ax.set_xlim(-0.5, theta + 0.5)
    ax.set_ylim(-0.1, 1.25)
    ax.set_title(rf"Z ~ U[0, 1], $\theta$ = {theta:g}", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper center", ncol=2)
    ax = axes[1]
    apart = t != 0
    ax.plot(t, d.w.numpy(), color="#222", lw=2, label=r"$W = |\theta|$")
    ax.plot(t[apart], d.js.numpy()[apart], color="#55a868", lw=2, label=r"JS = log 2 ($\theta \ne 0$)")
    ax.plot([0], [0], "o", color="#55a868", ms=5)
    ax.plot(t[apart], np.full(apart.sum(), 2.15), color=FAKE, lw=2, ls="--", label=r"KL = $+\infty$ ($\theta \ne 0$)")
    ax.set_ylim(-0.05, 2.3)
    ax.set_xlabel(r"$\theta$")
    ax.set_title("the distance between the two distributions", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="center", bbox_to_anchor=(0.5, 0.62))
    ax = axes[2]
    ax.plot(t, np.sign(t), color="#222", lw=2, label=r"$dW/d\theta = \mathrm{sign}(\theta)$")
    ax.plot(t[apart], np.zeros(apart.sum()), color="#55a868", lw=2, label=r"$dJS/d\theta = 0$")
    ax.set_ylim(-1.3, 1.5)
    ax.set_xlabel(r"$\theta$")
    ax.set_title("what a generator moving theta learns", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    for a in axes[1:]:
        clean_axis(a)
    clean_axis(axes[0], xticks=True, yticks=False)
    return closed(fig)


def critic_heatmap(ax, values, lim: float, cmap: str = "RdBu_r"):
    """The critic's values (G, G) on [-lim, lim]^2 as an image centred on 0 (red = high = 'real')."""
    v = np.asarray(values, dtype=float)
    scale = float(np.abs(v - np.median(v)).max()) or 1.0
    return ax.imshow(v - np.median(v), extent=(-lim, lim, -lim, lim), origin="lower", cmap=cmap, vmin=-scale,
                     vmax=scale, interpolation="bilinear")


def plot_critic_fits(fits: dict, x, y, plan, exact: float, grid_side: int, lim: float):
    """Each trained critic's heatmap, with the exact plan's lines and both clouds; titles give the estimates."""
    import matplotlib.pyplot as plt

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    fig, axes = plt.subplots(1, len(fits), figsize=(3.9 * len(fits), 3.7), layout="constrained", squeeze=False)
    for ax, (name, fit) in zip(axes[0], fits.items(), strict=True):
        last = max(fit.snapshots)
        critic_heatmap(ax, fit.snapshots[last].reshape(grid_side, grid_side), lim)
        _draw_plan(ax, x, y, plan, scale=300.0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(f"{name}\nestimate {fit.estimate:.4f} (rescaled {fit.rescaled:.3f}); exact W1 {exact:.3f}",
                     fontsize=8)
    return closed(fig)


def plot_wgan_estimates(runs: dict, smooth: int = 25):
    """For each WGAN: the critic's KR estimate (a running mean over critic steps) against the exact W1
    between generated and target points (the LP), both per generator step."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), 3.0), layout="constrained", squeeze=False)
    for ax, (name, run) in zip(axes[0], runs.items(), strict=True):
        est = run.estimates.numpy()
        per = max(len(est) // max(len(run.trainer.history["g"]), 1), 1)
        kernel = np.ones(smooth) / smooth
        smoothed = np.convolve(est, kernel, mode="valid") if len(est) >= smooth else est
        steps = (np.arange(len(smoothed)) + (len(est) - len(smoothed))) / per
        ax.plot(steps, smoothed, color=FAKE, lw=1.5, label="critic's estimate (running mean)")
        exact = sorted(run.exact_w1.items())
        ax.plot([k for k, _ in exact], [v for _, v in exact], "o-", color="#222", ms=3, lw=1,
                label="exact W1 (LP, generated vs target)")
        top = 1.6 * max((v for _, v in exact), default=1.0)
        ax.set_ylim(-0.05 * top, top)
        if len(smoothed) and smoothed.max() > top:
            ax.text(0.02, 0.97, f"critic's estimate off the chart early on (up to {smoothed.max():.1f})",
                    transform=ax.transAxes, fontsize=7, va="top", color=FAKE)
        ax.set_xlabel("generator step")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
        clean_axis(ax)
    return closed(fig)
