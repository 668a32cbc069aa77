"""Static figures for GANs (notebook 03): D*, generator gradients, training snapshots, W2, cGAN, CycleGAN, AdaIN.

Each function returns a Figure built with pyplot and closed in pyplot (shown once as a cell's value).
"""

from __future__ import annotations

import numpy as np
import torch

from ..ui.render import COLORS, clean_axis, closed, square_axes
from .adain import adain
from .gan import generator_logit_gradient, jsd_on_grid, optimal_discriminator, optimal_value_on_grid

__all__ = [
    "plot_adain_grid",
    "plot_cgan_samples",
    "plot_cyclegan",
    "plot_gan_snapshots",
    "plot_generator_gradients",
    "plot_optimal_discriminator",
    "plot_sample_quality",
]

FAKE = "#c44e52"
REAL = COLORS["target"]




def plot_optimal_discriminator(grid, p_x, p_theta_list, labels):
    """Left: p_X and each generator density; right: each D* = p_X / (p_X + p_theta) with C(g) and 2 JSD - log 4."""
    import matplotlib.pyplot as plt

    fig, (ax, ax_d) = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    x = grid.numpy()
    dx = float(grid[1] - grid[0])
    ax.fill_between(x, p_x.numpy(), color=REAL, alpha=0.3, lw=0, label="data $p_X$")
    colors = ["#dd8452", "#55a868", "#8172b3"]
    for p_t, label, c in zip(p_theta_list, labels, colors, strict=False):
        ax.plot(x, p_t.numpy(), color=c, lw=1.5, label=label)
        value = float(optimal_value_on_grid(p_x, p_t, dx))
        jsd = float(jsd_on_grid(p_x, p_t, dx))
        ax_d.plot(x, optimal_discriminator(p_x, p_t).numpy(), color=c, lw=1.5,
                  label=f"C = {value:.3f}, -log 4 + 2 JSD = {-np.log(4) + 2 * jsd:.3f}")
    ax_d.axhline(0.5, color=COLORS["muted"], ls=":", lw=1)
    ax.set_title("densities", fontsize=9)
    ax_d.set_title("optimal discriminator D*(x)", fontsize=9)
    ax_d.set_ylim(-0.02, 1.3)
    for a in (ax, ax_d):
        a.legend(fontsize=7, frameon=False, loc="upper left")
        clean_axis(a)
    return closed(fig)


def plot_generator_gradients():
    """|d loss / d logit| of the saturating and non-saturating generator losses against D(g(z))."""
    import matplotlib.pyplot as plt

    d = torch.linspace(0.0, 1.0, 201, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(5.5, 3.2), layout="constrained")
    ax.plot(d, generator_logit_gradient(d, "minimax").abs(), color="#dd8452", lw=2,
            label="minimax: min log(1 - D)  ->  |grad| = D")
    ax.plot(d, generator_logit_gradient(d, "nonsaturating").abs(), color="#55a868", lw=2,
            label="non-saturating: min -log D  ->  |grad| = 1 - D")
    ax.axvspan(0, 0.1, color=FAKE, alpha=0.1)
    ax.text(0.01, 0.5, "early training:\nD rejects fakes", fontsize=8, color=FAKE)
    ax.set_xlabel("D(g(z)), the discriminator's belief that a fake is real")
    ax.set_ylabel("|gradient| w.r.t. D's logit")
    ax.legend(fontsize=8, frameon=False, loc="upper center")
    clean_axis(ax)
    return closed(fig)


def plot_gan_snapshots(run, target, steps=None, data=None, lim=3.0):
    """The generator's fixed-noise samples at a few training steps, over the target's samples."""
    import matplotlib.pyplot as plt

    steps = list(run.snapshots) if steps is None else steps
    data = target.sample(1000, torch.Generator().manual_seed(0)) if data is None else data
    fig, axes = plt.subplots(1, len(steps), figsize=(1.9 * len(steps), 2.1), layout="constrained")
    for ax, step in zip(np.atleast_1d(axes), steps, strict=True):
        ax.scatter(data[:, 0], data[:, 1], s=2, color=REAL, alpha=0.25, lw=0)
        s = run.snapshots[step].numpy()
        ax.scatter(s[:, 0], s[:, 1], s=3, color=FAKE, lw=0)
        ax.set_title(f"step {step}", fontsize=8)
        square_axes(ax, lim)
    return closed(fig)


def plot_sample_quality(rows):
    """Bars of W2 to fresh target samples for each model, beside the data-vs-data W2.

    ``rows``: list of (label, w2, modes covered or None); the first row should be "data vs data".
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 0.5 + 0.45 * len(rows)), layout="constrained")
    labels = [r[0] for r in rows][::-1]
    values = [r[1] for r in rows][::-1]
    colors = [COLORS["muted"] if "data" in lab else FAKE for lab in labels]
    ax.barh(labels, values, color=colors)
    for i, (v, row) in enumerate(zip(values, rows[::-1], strict=True)):
        extra = f"  ({row[2]}/8 modes)" if row[2] is not None else ""
        ax.text(v, i, f" {v:.2f}{extra}", va="center", fontsize=8)
    ax.axvline(rows[0][1], color=COLORS["truth"], ls=":", lw=1)
    ax.set_xlabel("exact W2 to fresh target samples (lower is better)")
    ax.set_xlim(0, max(values) * 1.45)
    clean_axis(ax)
    return closed(fig)


def plot_cgan_samples(run, mixture, component_labels, n=400, lim=3.0):
    """One panel per label: the target points of that label and g(z | y) for it."""
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    data = mixture.sample(2000, g)
    comp = torch.cdist(data, mixture.means).argmin(1)
    fig, axes = plt.subplots(1, run.n_labels, figsize=(2.1 * run.n_labels, 2.3), layout="constrained")
    for label, ax in enumerate(np.atleast_1d(axes)):
        mine = component_labels[comp] == label
        ax.scatter(data[~mine, 0], data[~mine, 1], s=2, color=COLORS["muted"], alpha=0.2, lw=0)
        ax.scatter(data[mine, 0], data[mine, 1], s=2, color=REAL, alpha=0.4, lw=0)
        s = run.sample(label, n, seed=1).numpy()
        ax.scatter(s[:, 0], s[:, 1], s=3, color=FAKE, lw=0)
        ax.set_title(f"y = {label}", fontsize=9)
        square_axes(ax, lim)
    return closed(fig)


def plot_cyclegan(runs, x, x_angle, y, lim=2.2):
    """For each run: g(x) over Y coloured by x's angle (does g keep the order?) and f(g(x)) against x."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 3, figsize=(8.4, 2.8 * len(runs)), layout="constrained", squeeze=False)
    c = x_angle.numpy()
    for row, (title, run) in zip(axes, runs.items(), strict=True):
        with torch.no_grad():
            gx = run.g(x)
            fgx = run.f(gx)
        err = float((fgx - x).abs().sum(-1).mean())
        row[0].scatter(x[:, 0], x[:, 1], c=c, cmap="hsv", s=4, lw=0)
        row[0].set_title(f"{title}: x in X (colour = angle)", fontsize=8)
        row[1].scatter(y[:, 0], y[:, 1], s=2, color=COLORS["muted"], alpha=0.3, lw=0)
        row[1].scatter(gx[:, 0], gx[:, 1], c=c, cmap="hsv", s=4, lw=0)
        row[1].set_title("g(x) over Y (grey)", fontsize=8)
        row[2].scatter(fgx[:, 0], fgx[:, 1], c=c, cmap="hsv", s=4, lw=0)
        row[2].set_title(f"f(g(x)): mean |f(g(x)) - x|_1 = {err:.2f}", fontsize=8)
        for ax in row:
            square_axes(ax, lim)
    return closed(fig)


def plot_adain_grid(contents, styles, alpha: float = 1.0):
    """A table: row 0 the styles, column 0 the contents, each cell AdaIN(content, style). Images (N, 3, 8, 8)."""
    import matplotlib.pyplot as plt

    nc, ns = len(contents), len(styles)
    fig, axes = plt.subplots(nc + 1, ns + 1, figsize=(1.0 * (ns + 1), 1.0 * (nc + 1)), layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    show = lambda ax, img: ax.imshow(img.clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")  # noqa: E731
    for j in range(ns):
        show(axes[0, j + 1], styles[j])
        axes[0, j + 1].set_title("style", fontsize=7)
    for i in range(nc):
        show(axes[i + 1, 0], contents[i])
        axes[i + 1, 0].set_title("content", fontsize=7)
        out = adain(contents[i:i + 1].expand(ns, -1, -1, -1), styles)
        out = alpha * out + (1 - alpha) * contents[i:i + 1]
        for j in range(ns):
            show(axes[i + 1, j + 1], out[j])
    return closed(fig)
