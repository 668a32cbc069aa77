"""Static figures of notebook 07 (DDPM and DDIM): the chain and its kernel, schedules, the time embedding,
the reverse process, DDIM's quality against its steps, the flow matching view, and the ODE gaps.

Each function returns a Figure built with pyplot and closed in pyplot (shown once as a cell's value).
The digit rows reuse :func:`course_utils.s02_vae.plots.plot_digit_rows` (notebook 02).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..core.nets import sinusoidal_embedding
from ..s05_flow_matching.probability_paths import gaussian_path
from ..ui.render import COLORS, clean_axis, closed, single_thread_torch, square_axes
from .ddim import DDPMPath, flow_time
from .diffusion import NoiseSchedule, diffusion_kernel, forward_chain, q_sample

__all__ = [
    "plot_ddim_ode_gaps",
    "plot_ddim_quality",
    "plot_ddpm_chain_vs_kernel",
    "plot_ddpm_flow_convention",
    "plot_ddpm_reverse",
    "plot_ddpm_schedules",
    "plot_ddpm_time_embedding",
]

DATA, MODEL = COLORS["target"], "#c44e52"
SCHEDULE_COLORS = {"linear": "#4c72b0", "cosine": "#dd8452"}




def plot_ddpm_chain_vs_kernel(x0, schedule: NoiseSchedule, ts=(10, 100, 500), n: int = 5000, seed: int = 0):
    r"""First coordinate of x_t from one x0 (1, d): n runs of the forward chain against n draws of the kernel,
    with the kernel's density :math:`\mathcal N(\sqrt{\bar\alpha_t} x_0, 1 - \bar\alpha_t)` on top."""
    import matplotlib.pyplot as plt

    x0 = torch.as_tensor(x0, dtype=torch.float64).reshape(1, -1)
    start = x0.expand(n, -1)
    with single_thread_torch():
        path = forward_chain(start, schedule, max(ts), torch.Generator().manual_seed(seed), return_path=True)
        direct = {t: q_sample(start, t, torch.randn(start.shape, generator=torch.Generator().manual_seed(seed + t),
                                                    dtype=torch.float64), schedule) for t in ts}
    fig, axes = plt.subplots(1, len(ts), figsize=(3.1 * len(ts), 2.6), layout="constrained")
    for ax, t in zip(np.atleast_1d(axes), ts, strict=True):
        k = diffusion_kernel(x0, t, schedule)
        mean, sd = float(k.mean[0, 0]), math.sqrt(float(k.variance[0, 0]))
        bins = np.linspace(mean - 4 * sd, mean + 4 * sd, 40)
        ax.hist(path[t][:, 0].numpy(), bins=bins, density=True, color=DATA, alpha=0.5, label="iterating the chain")
        ax.hist(direct[t][:, 0].numpy(), bins=bins, density=True, histtype="step", color=MODEL, lw=1.5,
                label="sampling q(x_t | x_0)")
        grid = np.linspace(bins[0], bins[-1], 200)
        ax.plot(grid, np.exp(-0.5 * ((grid - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)), color="#222",
                lw=1, ls="--", label="N(sqrt(abar) x0, 1 - abar)")
        ax.set_title(f"t = {t}: abar_t = {float(schedule.abar[t - 1]):.3g}", fontsize=9)
        ax.set_yticks([])
        clean_axis(ax)
    np.atleast_1d(axes)[0].legend(fontsize=7, frameon=False, loc="upper left")
    return closed(fig)


def plot_ddpm_schedules(schedules: dict):
    r"""For each schedule (name -> :class:`Schedule`): :math:`\beta_t`, :math:`\bar\alpha_t`, :math:`\log_{10}` SNR."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), layout="constrained")
    for name, s in schedules.items():
        t = np.arange(1, s.T + 1)
        color = SCHEDULE_COLORS.get(name, "#555")
        axes[0].plot(t, s.betas.numpy(), color=color, label=name)
        axes[1].plot(t, s.abar.numpy(), color=color, label=name)
        axes[2].plot(t, np.log10(s.snr.numpy()), color=color, label=name)
    axes[0].set_ylim(0, 0.05)
    for ax, title in zip(axes, (r"$\beta_t$ (cosine's last steps are clipped, off scale)", r"$\bar\alpha_t$",
                                r"$\log_{10}$ SNR $= \log_{10} \bar\alpha_t / (1 - \bar\alpha_t)$"), strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step t")
        clean_axis(ax)
    axes[2].axhline(0, color=COLORS["muted"], lw=0.8, ls=":")
    axes[1].legend(fontsize=8, frameon=False)
    return closed(fig)


def plot_ddpm_time_embedding(dim: int = 32, T: int = 1000):
    """The sinusoidal embedding of the steps t = 1..T (one row per step): what the network sees of t."""
    import matplotlib.pyplot as plt

    t = torch.arange(1, T + 1, dtype=torch.float32)
    emb = sinusoidal_embedding(t, dim, scale=1.0).numpy()
    fig, ax = plt.subplots(figsize=(7, 2.6), layout="constrained")
    im = ax.imshow(emb.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, extent=(1, T, dim - 0.5, -0.5),
                   interpolation="nearest")
    ax.set_xlabel("step t")
    ax.set_ylabel("embedding entry")
    ax.set_title(f"sinusoidal time embedding, {dim} entries: sin(t w_i) then cos(t w_i), w_i = 10000^(-2i/{dim})",
                 fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return closed(fig)


def plot_ddpm_reverse(path, steps, data, shown=(1000, 500, 250, 100, 50, 0), lim: float = 3.2):
    """2-D reverse process: the samples at a few steps t (path (k, n, 2) at ``steps`` (k,)), over the data."""
    import matplotlib.pyplot as plt

    steps = [int(s) for s in steps]
    d = torch.as_tensor(data).numpy()
    fig, axes = plt.subplots(1, len(shown), figsize=(1.9 * len(shown), 2.1), layout="constrained")
    for ax, t in zip(np.atleast_1d(axes), shown, strict=True):
        x = path[steps.index(t)].numpy()
        ax.scatter(d[:, 0], d[:, 1], s=2, color=DATA, alpha=0.2, lw=0)
        ax.scatter(x[:, 0], x[:, 1], s=2, color=MODEL, lw=0)
        ax.set_title(f"x_t, t = {t}", fontsize=8)
        square_axes(ax, lim)
    return closed(fig)


def plot_ddim_quality(ode_gap: dict, digits_ratio: dict | None = None, budget: float | None = None,
                      seconds: dict | None = None):
    r"""DDIM's sample quality against its number of steps.

    Args:
        ode_gap: {steps: mean distance of the 2-D samples to the accurate probability-flow ODE solution from the
            same starting noise}, drawn on log-log axes with a 1/steps guide (Euler's order).
        digits_ratio: {steps: :func:`course_utils.metrics.digits_quality`'s ratio for the digit samples} (real
            digits score about 1); budget: the ratio a model must stay under.
        seconds: {steps: sampling time of the 2-D batch}.
    """
    import matplotlib.pyplot as plt

    n_axes = 2 if digits_ratio else 1
    fig, axes = plt.subplots(1, n_axes, figsize=(4.6 * n_axes, 2.9), layout="constrained", squeeze=False)
    ax = axes[0, 0]
    ks = sorted(ode_gap)
    ax.loglog(ks, [ode_gap[k] for k in ks], "o-", color=MODEL, label="DDIM (eta = 0)")
    k_mid = ks[len(ks) // 2]
    ax.loglog(ks, [ode_gap[k_mid] * k_mid / k for k in ks], color=COLORS["truth"], ls=":", lw=1,
              label="1 / steps")
    ax.set_xlabel("DDIM steps (network calls)")
    ax.set_ylabel("mean distance to the ODE's solution")
    ax.set_title("2-D: eight Gaussians, same x_T", fontsize=9)
    if seconds:
        for k in ks[::2]:
            ax.annotate(f"{seconds[k] * 1000:.0f} ms", (k, ode_gap[k]), fontsize=6, xytext=(3, 4),
                        textcoords="offset points")
    ax.legend(fontsize=7, frameon=False)
    clean_axis(ax)
    if digits_ratio:
        ax = axes[0, 1]
        ks = sorted(digits_ratio)
        ax.loglog(ks, [digits_ratio[k] for k in ks], "o-", color=MODEL, label="DDIM samples")
        ax.axhline(1.0, color=COLORS["truth"], ls=":", lw=1, label="real digits (about 1)")
        if budget is not None:
            ax.axhline(budget, color=COLORS["reverse"], ls="--", lw=1, label=f"budget {budget:g}")
        ax.set_xlabel("DDIM steps")
        ax.set_ylabel("distance ratio to real digits")
        ax.set_title("8x8 digits", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="upper right")
        clean_axis(ax)
    return closed(fig)


def plot_ddpm_flow_convention(schedule: NoiseSchedule):
    r"""DDPM's :math:`\alpha = \sqrt{\bar\alpha_t}`, :math:`\beta = \sqrt{1 - \bar\alpha_t}` against flow time
    :math:`t_{flow} = 1 - t/T`, beside the linear and cosine Gaussian paths of
    :mod:`course_utils.s05_flow_matching.probability_paths`."""
    import matplotlib.pyplot as plt

    s = DDPMPath(schedule)
    tf = torch.linspace(0, 1, 401, dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.9), layout="constrained")
    styles = {"ddpm": ("-", 2.0), "linear": ("--", 1.2), "cosine": (":", 1.4)}
    for name, sched in (("ddpm", s), ("linear", gaussian_path("linear")), ("cosine", gaussian_path("cosine"))):
        ls, lw = styles[name]
        label = f"DDPM ({schedule.name}, T = {schedule.T})" if name == "ddpm" else f"paths: {name}"
        axes[0].plot(tf, sched.alpha(tf), color=DATA, ls=ls, lw=lw, label=f"alpha, {label}")
        axes[0].plot(tf, sched.beta(tf), color=MODEL, ls=ls, lw=lw, label=f"beta, {label}")
    steps = torch.tensor([1000, 750, 500, 250, 100])
    axes[0].scatter(flow_time(steps, schedule.T), schedule.abar[steps - 1].sqrt(), color="#222", s=12, zorder=3,
                    label="sqrt(abar_t) at t = 1000, 750, 500, 250, 100")
    axes[0].set_xlabel("flow time t_flow = 1 - t / T (0: noise, 1: data)")
    axes[0].set_title("x = alpha x_1 + beta eps", fontsize=9)
    axes[0].legend(fontsize=6, frameon=False, loc="center left")
    axes[1].plot(tf, (s.alpha(tf) / s.beta(tf).clamp(min=1e-12)).log10(), color=DATA, lw=2, label="DDPM")
    lin = gaussian_path("linear")
    axes[1].plot(tf[1:-1], (lin.alpha(tf[1:-1]) / lin.beta(tf[1:-1])).log10(), color=DATA, ls="--", lw=1.2,
                 label="paths: linear")
    axes[1].set_ylim(-3, 3)
    axes[1].set_xlabel("flow time t_flow")
    axes[1].set_title("log10 alpha / beta (half the log SNR)", fontsize=9)
    axes[1].legend(fontsize=7, frameon=False)
    for ax in axes:
        clean_axis(ax)
    return closed(fig)


def plot_ddim_ode_gaps(gaps: dict):
    """Mean distance of each sampler's output to an accurate solution of the probability-flow ODE, against steps.

    ``gaps``: label -> {steps: mean distance}.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.0), layout="constrained")
    colors = [MODEL, DATA, COLORS["reverse"]]
    for (label, values), color in zip(gaps.items(), colors, strict=False):
        ks = sorted(values)
        ax.loglog(ks, [max(values[k], 1e-12) for k in ks], "o-", color=color, label=label)
    ax.set_xlabel("steps (network calls)")
    ax.set_ylabel("mean |x - x_ODE| at t = 0")
    ax.set_title("discretisation error of the probability-flow ODE", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    clean_axis(ax)
    return closed(fig)
