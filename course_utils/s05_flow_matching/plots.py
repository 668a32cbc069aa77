"""Static figures for flows and flow matching (notebook 05): flows of a field, Euler's error, probability paths,
closed-form sampling, the continuity equation, trained flows, their probability path as an animation, guidance.

Each function returns a Figure built with pyplot and closed in pyplot (shown once as a cell's value), except
:func:`animate_flow_path`, which returns the animation as HTML (matplotlib's ``to_jshtml``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..ui.render import COLORS, DPI, canvas_figure, clean_axis, closed, square_axes
from . import flows, probability_paths
from .flow_matching import guidance_statistics

__all__ = [
    "animate_flow_path",
    "plot_flow_closed_form",
    "plot_flow_continuity",
    "plot_flow_guidance",
    "plot_flow_paths",
    "plot_flow_samples",
    "plot_flow_schedulers",
    "plot_flow_snapshots",
    "plot_flow_solver_errors",
]

SAMPLE = "#c44e52"  # generated samples
DATA = COLORS["target"]
GRID = "#8c6d31"  # the deformed grid (brown, as in Lipman et al.'s figures)




def _quiver_grid(lim: float, n: int = 15) -> torch.Tensor:
    _, pts = flows.grid_points(lim * 0.9, n)
    return pts


def plot_flow_snapshots(field: flows.ExampleField, times=(0.0, 0.25, 0.5, 1.0), lim: float = 2.0, n_points: int = 60):
    """The field's arrows and the image of a square grid under its exact flow, at a few times (Lipman et al. fig. 5-6).

    A few starting points are followed along their trajectories (black), ending where the grid's crossings went.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(times), figsize=(2.3 * len(times), 2.5), layout="constrained", dpi=DPI)
    lines = flows.grid_lines(lim * 0.7, 9, 40)
    q = _quiver_grid(lim, 13)
    starts = torch.tensor([[0.3, 0.2], [-1.0, 0.6], [0.9, -1.1], [-0.5, -0.7]], dtype=torch.float64)
    ts = torch.linspace(0, 1, n_points, dtype=torch.float64)
    for ax, t in zip(np.atleast_1d(axes), times, strict=True):
        moved = flows.push_lines(field, lines, t)
        for line in moved:
            ax.plot(line[:, 0], line[:, 1], color=GRID, lw=0.7, alpha=0.8)
        v = field(q, t)
        ax.quiver(q[:, 0], q[:, 1], v[:, 0], v[:, 1], color="#4c72b0", alpha=0.6, angles="xy", width=0.006)
        upto = ts[ts <= t + 1e-12]
        track = torch.stack([field.flow(starts, float(s)) for s in upto])  # (T, 4, 2)
        ax.plot(track[:, :, 0], track[:, :, 1], color="black", lw=1)
        ax.scatter(track[-1, :, 0], track[-1, :, 1], color="black", s=10, zorder=3)
        ax.set_title(f"t = {t:g}", fontsize=9)
        square_axes(ax, lim)
    fig.suptitle(f"{field.name}: {field.formula}", fontsize=9)
    return closed(fig)


def plot_flow_solver_errors(curves):
    """Log-log error at t = 1 against the step size h, one line per solver, with slope-1, 2 and 4 guides."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.4), layout="constrained", dpi=DPI)
    colors = {"euler": SAMPLE, "midpoint": "#dd8452", "rk4": "#55a868"}
    for c in curves:
        h, e = c.h.numpy(), c.errors.numpy()
        ax.loglog(h, e, "o-", color=colors.get(c.method, "#333"), lw=1.5, ms=4,
                  label=f"{c.method}: slope {c.order:.2f}")
    h = curves[0].h.numpy()
    for p, ls in ((1, ":"), (2, "--"), (4, "-.")):
        ref = curves[0].errors.numpy()[0] * (h / h[0]) ** p
        ax.loglog(h, ref, color=COLORS["muted"], ls=ls, lw=0.8, label=f"h^{p}")
    ax.set_xlabel("step size h = 1 / n")
    ax.set_ylabel("max |x_n - x(1)|")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    clean_axis(ax)
    return closed(fig)


def plot_flow_schedulers(names=("linear", "cosine")):
    """alpha_t and beta_t of each scheduler (solid, dashed), and the std of x_t for a unit-variance x_1."""
    import matplotlib.pyplot as plt

    t = torch.linspace(0, 1, 201, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(5.0, 3.0), layout="constrained", dpi=DPI)
    for name, color in zip(names, ("#4c72b0", "#dd8452", "#55a868"), strict=False):
        s = probability_paths.gaussian_path(name)
        ax.plot(t, s.alpha(t), color=color, lw=2, label=f"{name}: alpha_t")
        ax.plot(t, s.beta(t), color=color, lw=2, ls="--", label=f"{name}: beta_t")
    ax.set_xlabel("t (0 = noise, 1 = data)")
    ax.legend(fontsize=7, frameon=False)
    clean_axis(ax)
    return closed(fig)


def plot_flow_paths(z, x_1, times=(0.0, 0.25, 0.5, 0.75, 1.0), path="linear", n=1000, seed=0, lim=3.0):
    """Top: the conditional path p_t(x | z) for one point z; bottom: the marginal path p_t, x_1 ~ the data (samples)."""
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(seed)
    z = torch.as_tensor(z, dtype=torch.float32).reshape(1, 2)
    fig, axes = plt.subplots(2, len(times), figsize=(1.9 * len(times), 4.0), layout="constrained", dpi=DPI)
    x_1 = x_1[:n]
    for j, t in enumerate(times):
        eps = torch.randn(n, 2, generator=g)
        cond = probability_paths.sample_path(z.expand(n, 2), t, eps, path).x_t
        marg = probability_paths.sample_path(x_1, t, torch.randn(len(x_1), 2, generator=g), path).x_t
        axes[0, j].scatter(cond[:, 0], cond[:, 1], s=2, color=SAMPLE, alpha=0.4, lw=0)
        axes[0, j].scatter(z[:, 0], z[:, 1], marker="*", s=60, color="black")
        axes[1, j].scatter(marg[:, 0], marg[:, 1], s=2, color=DATA, alpha=0.4, lw=0)
        axes[0, j].set_title(f"t = {t:g}", fontsize=9)
        for ax in axes[:, j]:
            square_axes(ax, lim)
    axes[0, 0].set_ylabel("p_t(x | z)", fontsize=9)
    axes[1, 0].set_ylabel("p_t(x)", fontsize=9)
    return closed(fig)


def plot_flow_closed_form(points, trajectories, lim=3.0, n_tracks=60):
    """Trajectories of the exact marginal field of a finite target set (no training), ending on the points.

    ``trajectories``: (T, n, 2) states from t = 0 to 1.
    """
    import matplotlib.pyplot as plt

    fig, (ax, ax_end) = plt.subplots(1, 2, figsize=(7.0, 3.3), layout="constrained", dpi=DPI)
    tr = trajectories.numpy()
    ax.plot(tr[:, :n_tracks, 0], tr[:, :n_tracks, 1], color=COLORS["muted"], lw=0.6, alpha=0.7)
    ax.scatter(tr[0, :, 0], tr[0, :, 1], s=3, color="#333", lw=0, label="x_0 ~ N(0, I)")
    ax.scatter(points[:, 0], points[:, 1], marker="*", s=50, color=DATA, label="target points", zorder=3)
    ax.set_title("trajectories of the exact marginal field", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax_end.scatter(points[:, 0], points[:, 1], marker="*", s=90, color=DATA, zorder=2, label="target points")
    ax_end.scatter(tr[-1, :, 0], tr[-1, :, 1], s=8, color=SAMPLE, zorder=3, label="x_1 after Euler")
    ax_end.set_title("where the samples land (t = 1)", fontsize=9)
    ax_end.legend(fontsize=7, frameon=False, loc="lower left")
    for a in (ax, ax_end):
        square_axes(a, lim)
    return closed(fig)


def plot_flow_continuity(check: flows.ContinuityCheck, title: str = ""):
    """p_t, dp_t/dt, -div(p_t v_t) and their residual on the grid, the last three on one colour scale."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(9.6, 2.7), layout="constrained", dpi=DPI)
    lim = float(check.axis[-1])
    ext = (-lim, lim, -lim, lim)
    scale = float(check.dp_dt.abs().max())
    axes[0].imshow(check.density.numpy(), extent=ext, origin="lower", cmap="Blues")
    panels = ((check.dp_dt, "dp_t / dt"), (-check.div_flux, "-div(p_t v_t)"),
              (check.residual, f"residual (max {check.relative_residual:.1e} of max |dp/dt|)"))
    for ax, (arr, name) in zip(axes[1:], panels, strict=True):
        im = ax.imshow(arr.numpy(), extent=ext, origin="lower", cmap="RdBu_r", vmin=-scale, vmax=scale)
        ax.set_title(name, fontsize=8)
    axes[0].set_title(f"p_t at t = {check.t:g}", fontsize=8)
    fig.colorbar(im, ax=axes[1:], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return closed(fig)


def plot_flow_samples(runs: dict, data: dict, n_tracks: int = 40, lim: float = 3.0, n: int = 1000):
    """One column per trained flow: its samples over the target's, the trajectories of a few, and the loss curve.

    ``runs``: name -> :class:`~.flow_matching.FlowRun`; ``data``: name -> target samples (m, 2).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(runs), figsize=(2.6 * len(runs), 7.4), layout="constrained", dpi=DPI,
                             gridspec_kw={"height_ratios": [1, 1, 0.6]}, squeeze=False)
    for j, (name, run) in enumerate(runs.items()):
        states = run.sample(n, seed=3, return_path=True)
        d = data[name][:n]
        axes[0, j].scatter(d[:, 0], d[:, 1], s=2, color=DATA, alpha=0.3, lw=0)
        axes[0, j].scatter(states[-1, :, 0], states[-1, :, 1], s=2, color=SAMPLE, alpha=0.5, lw=0)
        axes[0, j].set_title(f"{name}: samples (red) vs data", fontsize=8)
        tr = states[:, :n_tracks].numpy()
        axes[1, j].plot(tr[:, :, 0], tr[:, :, 1], color="#555", lw=0.6, alpha=0.8)
        axes[1, j].scatter(tr[0, :, 0], tr[0, :, 1], s=5, color="#333", lw=0)
        axes[1, j].scatter(tr[-1, :, 0], tr[-1, :, 1], s=6, color=SAMPLE, lw=0)
        axes[1, j].set_title("trajectories from t = 0 to 1", fontsize=8)
        for ax in axes[:2, j]:
            square_axes(ax, lim)
        losses = run.losses.numpy()
        k = max(1, len(losses) // 60)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        axes[2, j].plot(losses, color=COLORS["muted"], lw=0.4)
        axes[2, j].plot(np.arange(len(smooth)) + k // 2, smooth, color="#333", lw=1.2)
        axes[2, j].set_xlabel("step", fontsize=8)
        axes[2, j].set_ylim(0, float(np.percentile(losses, 99)) * 1.1)
        axes[2, j].set_title("CFM loss", fontsize=8)
        clean_axis(axes[2, j])
    return closed(fig)


def animate_flow_path(states, times, data=None, frames: int = 11, size: float = 2.6, lim: float = 3.0,
                             dpi: int = 55, fps: int = 4):
    """The probability path p_t of a trained flow as a small animation (HTML from ``to_jshtml``).

    ``states``: (T, n, 2) samples at the grid times ``times`` (T,); ``frames`` of them, evenly spaced, are shown.
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    fig = canvas_figure((size, size), dpi)
    ax = fig.add_axes([0.01, 0.01, 0.98, 0.9])
    if data is not None:
        ax.scatter(data[:, 0], data[:, 1], s=1, color=DATA, alpha=0.15, lw=0)
    pick = np.unique(np.round(np.linspace(0, len(times) - 1, frames)).astype(int))
    dots = ax.scatter(states[0, :, 0], states[0, :, 1], s=1.5, color=SAMPLE, lw=0)
    title = ax.set_title("", fontsize=8)
    square_axes(ax, lim)

    def show(i):
        k = pick[i]
        dots.set_offsets(states[k].numpy())
        title.set_text(f"samples of p_t, t = {float(times[k]):.2f}")
        return (dots, title)

    anim = FuncAnimation(fig, show, frames=len(pick), interval=1000 // fps, blit=False)
    html = anim.to_jshtml(fps=fps, default_mode="once")
    return HTML(html)


def plot_flow_guidance(samples: dict, mixture, component_labels, y: int, lim: float = 3.0):
    """Samples of label y for several guidance scales w (``samples``: w -> (n, 2)), over the data of y."""
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    data = mixture.sample(1500, g)
    mine = component_labels[torch.cdist(data, mixture.means).argmin(1)] == y
    fig, axes = plt.subplots(1, len(samples), figsize=(2.1 * len(samples), 2.4), layout="constrained", dpi=DPI)
    for ax, (w, s) in zip(np.atleast_1d(axes), samples.items(), strict=True):
        ax.scatter(data[~mine, 0], data[~mine, 1], s=2, color=COLORS["muted"], alpha=0.25, lw=0)
        ax.scatter(data[mine, 0], data[mine, 1], s=2, color=DATA, alpha=0.35, lw=0)
        ax.scatter(s[:, 0], s[:, 1], s=3, color=SAMPLE, lw=0)
        stats = guidance_statistics(s, mixture, component_labels, y)
        ax.set_title(f"w = {w:g}: {100 * stats.share:.0f}% on y, spread {stats.spread:.2f}", fontsize=8)
        square_axes(ax, lim)
    return closed(fig)
