"""Static figures of notebook 01: the KL divergence (Monte Carlo convergence, asymmetry), and the spread of
Monte Carlo estimates of log p(x) against the sample size K.

Each function returns a Figure built with pyplot and then closed in pyplot: it is
shown once when it is the value of a notebook cell (or with ``display(fig)``), and
never a second time by the inline backend.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..data.mixtures import bimodal_target, moment_match
from ..ui.render import COLORS, PROPOSAL_COLORS, clean_axis, single_thread_torch
from .divergences import kl_monte_carlo, kl_normal, kl_on_grid, kl_std_normal
from .elbo import fit_gaussian_reverse_kl, log_normal_diag, reparametrize
from .importance import evidence_estimates, evidence_proposals, linear_gaussian_example

__all__ = ["plot_evidence_estimators", "plot_kl_asymmetry", "plot_kl_mc_convergence"]


def _f64(values) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float64)


def plot_kl_mc_convergence(
    mu_q=(0.5, -1.0),
    var_q=(0.5, 2.0),
    mu_p=None,
    var_p=None,
    n_max: int = 10_000,
    n_points: int = 40,
    seed: int = 1,
):
    r"""Monte Carlo estimate of :math:`D_{KL}(q \| p)` against the number of samples n.

    q and p are diagonal Gaussians (p = N(0, I) unless ``mu_p``/``var_p`` are given).
    Left: the estimate from the first n samples of q (``kl_monte_carlo``), at log-spaced
    n, with a +-2 standard error band and the closed form as a horizontal line.
    Right: the absolute error and the standard error on log-log axes; both fall like
    :math:`1/\sqrt n` (a slope of -1/2).

    At small n the estimate can be negative although the KL is not: one draw's log-ratio
    :math:`\log q(z) - \log p(z)` is negative wherever p(z) > q(z); only its expectation is >= 0.

    Returns:
        A Figure with 2 axes.
    """
    import matplotlib.pyplot as plt

    mu_q, var_q = _f64(mu_q), _f64(var_q)
    if mu_p is None:
        mu_p, var_p = torch.zeros_like(mu_q), torch.ones_like(var_q)
        exact = float(kl_std_normal(mu_q[None], torch.log(var_q)[None])[0])
    else:
        mu_p = _f64(mu_p)
        var_p = torch.ones_like(mu_p) if var_p is None else _f64(var_p)
        exact = float(kl_normal(mu_q, var_q, mu_p, var_p))

    log_q = lambda z: log_normal_diag(z, mu_q, var_q)
    log_p = lambda z: log_normal_diag(z, mu_p, var_p)
    g = torch.Generator().manual_seed(seed)
    with single_thread_torch():
        eps = torch.randn(n_max, mu_q.shape[0], generator=g, dtype=torch.float64)
        z = reparametrize(mu_q, var_q, eps)
        ratio = (log_q(z) - log_p(z)).numpy()
        ns = np.unique(np.logspace(0, math.log10(n_max), n_points).astype(int))
        est = np.array([float(kl_monte_carlo(log_q, log_p, z[:n])) for n in ns])
    se = np.array([ratio[:n].std(ddof=1) / math.sqrt(n) if n > 1 else np.nan for n in ns])

    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(9, 3.3), layout="constrained")
    c = COLORS["q"]
    ax.fill_between(ns, est - 2 * se, est + 2 * se, color=c, alpha=0.2, lw=0,
                    label="± 2 standard errors")
    ax.plot(ns, est, color=c, lw=1.5, label="Monte Carlo estimate")
    ax.axhline(exact, color=COLORS["truth"], lw=1.5, ls="--", label=f"closed form = {exact:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("number of samples n")
    ax.set_ylabel("KL(q ‖ p)  (nats)")
    ax.set_ylim(exact - 1.5, exact + 1.5)
    ax.legend(fontsize=8, frameon=False)
    clean_axis(ax)

    err = np.abs(est - exact)
    ax_err.loglog(ns, np.where(err > 0, err, np.nan), color=c, lw=1.2, label="|estimate − exact|")
    ax_err.loglog(ns, se, color=COLORS["muted"], lw=1.5, label="standard error")
    ref = ratio.std() / np.sqrt(ns)
    ax_err.loglog(ns, ref, color=COLORS["truth"], lw=1, ls=":", label="sd / √n (slope −½)")
    ax_err.set_xlabel("number of samples n")
    ax_err.set_ylabel("error (nats)")
    ax_err.legend(fontsize=8, frameon=False)
    clean_axis(ax_err)
    plt.close(fig)
    return fig


def plot_kl_asymmetry(separation: float = 4.0, left_weight: float = 0.6, width: float = 0.6):
    r"""Forward and reverse KL fits of a Gaussian to a two-mode mixture p, with all four KLs.

    Left: the forward fit (moment matching, ``mixtures.moment_match``) covers both
    modes. Right: reverse-KL fits (``elbo.fit_gaussian_reverse_kl``) started at each
    mode settle on that mode. Legends give :math:`D_{KL}(p\|q)` and :math:`D_{KL}(q\|p)`
    for every fit (``divergences.kl_on_grid``).

    Returns:
        A Figure with 2 axes.
    """
    import matplotlib.pyplot as plt

    z = torch.linspace(-20.0, 20.0, 801, dtype=torch.float64)
    dz = float(z[1] - z[0])
    p = bimodal_target(separation, left_weight, width)
    log_p = p.log_prob(z)
    log_gauss = lambda mu, var: log_normal_diag(z[:, None], _f64([mu]), _f64([var]))

    def label(name, log_q):
        fwd, rev = float(kl_on_grid(log_p, log_q, dz)), float(kl_on_grid(log_q, log_p, dz))
        return f"{name}: KL(p‖q) = {fwd:.2f}, KL(q‖p) = {rev:.2f}"

    with single_thread_torch():
        mean, cov = moment_match(p)
        fits = [("forward fit", COLORS["forward"], "--", float(mean[0]), float(cov[0, 0]))]
        for k, side in enumerate(("left", "right")):
            mu, var = fit_gaussian_reverse_kl(log_p, z, float(p.means[k, 0]), float(p.variances[k]))
            style = "-" if k == 0 else "-."
            fits.append((f"reverse fit from {side} mode", COLORS["reverse"], style, mu, var))

    shown = (z > -7) & (z < 7)
    x = z[shown].numpy()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True, layout="constrained")
    for ax, title, group in zip(
        axes, ["forward KL: mass-covering", "reverse KL: mode-seeking"], [fits[:1], fits[1:]],
        strict=True,
    ):
        ax.fill_between(x, log_p[shown].exp().numpy(), color=COLORS["target"], alpha=0.25, lw=0)
        ax.plot(x, log_p[shown].exp().numpy(), color=COLORS["target"], lw=1.5, label="target p")
        for name, color, style, mu, var in group:
            log_q = log_gauss(mu, var)
            ax.plot(x, log_q[shown].exp().numpy(), color=color, ls=style, lw=2,
                    label=label(name, log_q))
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
        ax.set_ylim(0, 1.25)
        clean_axis(ax, yticks=False)
    plt.close(fig)
    return fig


# --- evidence estimators ----------------------------------------------------------------------


def plot_evidence_estimators(
    Ks=(1, 4, 16, 64, 256, 1024),
    n_rep: int = 200,
    proposals=("prior", "q"),
    seed: int = 0,
    model=None,
    x=None,
):
    r"""Naive Monte Carlo vs importance sampling: estimates of log p(x) against K.

    For a LinearGaussianLVM (default: :func:`~.importance.linear_gaussian_example`) and
    each proposal (one panel each: by default the prior p(z), i.e. naive Monte
    Carlo, and a diagonal q near the posterior), ``n_rep`` estimates
    :math:`\log \frac1K \sum_k p(x, z_k)/q(z_k)` are drawn per K. Each panel shows,
    relative to the exact log p(x) (the line at 0): the 5-95 % and 25-75 % quantile
    bands, the median, the mean with a +-2 standard error bar, and the proposal's ELBO.
    The K = 1 estimate is one log-weight, whose expectation is the ELBO: the K = 1 mean
    estimates it within its standard error (the legend gives both numbers), not exactly.
    :math:`\hat p_K` is unbiased, :math:`\log \hat p_K` is biased low (Jensen), by less as K grows.
    Each panel has its own y scale: naive Monte Carlo errs by tens of nats where q errs
    by tenths.

    Returns:
        A Figure with one axes per proposal.
    """
    import matplotlib.pyplot as plt

    if model is None:
        model, x = linear_gaussian_example(seed)
    log_evidence = float(model.log_evidence(x))
    candidates = evidence_proposals(model, x)
    g = torch.Generator().manual_seed(seed + 1)
    Ks = np.asarray(Ks)
    with single_thread_torch():
        est = {
            key: np.stack([
                evidence_estimates(model, x, candidates[key], int(K), n_rep, g).numpy()
                for K in Ks
            ]) - log_evidence
            for key in proposals
        }

    fig, axes = plt.subplots(
        1, len(proposals), figsize=(4.5 * len(proposals), 3.3), layout="constrained", squeeze=False
    )
    for ax, key in zip(axes[0], proposals, strict=True):
        e, color = est[key], PROPOSAL_COLORS[key]
        q05, q25, q50, q75, q95 = np.quantile(e, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
        ax.fill_between(Ks, q05, q95, color=color, alpha=0.15, lw=0, label="5–95 %")
        ax.fill_between(Ks, q25, q75, color=color, alpha=0.35, lw=0, label="25–75 %")
        ax.plot(Ks, q50, color=color, lw=1.5, marker="o", ms=3, label="median")
        mean, se = e.mean(1), e.std(1, ddof=1) / math.sqrt(e.shape[1])
        ax.errorbar(Ks, mean, yerr=2 * se, color=color, lw=1, ls=":", marker="x", ms=4, capsize=2,
                    label=f"mean ± 2 s.e. (K = 1: {mean[0]:+.2f} ± {se[0]:.2f})")
        ax.axhline(0.0, color=COLORS["truth"], lw=1.5, label="true log p(x)")
        elbo_gap = candidates[key].elbo - log_evidence
        ax.axhline(elbo_gap, color=color, lw=1, ls="--", label=f"ELBO = E[K = 1 estimate] ({elbo_gap:+.2f})")
        ax.set_xscale("log", base=2)
        ax.set_xticks(Ks, [str(k) for k in Ks])
        ax.set_xlabel("K (samples per estimate)")
        ax.set_ylabel("estimate − log p(x)  (nats)")
        ax.set_title(candidates[key].label, fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        clean_axis(ax)
    plt.close(fig)
    return fig
