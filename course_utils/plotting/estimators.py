"""Static figure: the spread of Monte Carlo estimates of log p(x) against the sample size K."""

from __future__ import annotations

import numpy as np
import torch

from ..importance import evidence_estimates, evidence_proposals, linear_gaussian_example
from .render import COLORS, PROPOSAL_COLORS, clean_axis, single_thread_torch

__all__ = ["plot_evidence_estimators"]


def plot_evidence_estimators(
    Ks=(1, 4, 16, 64, 256, 1024),
    n_rep: int = 200,
    proposals=("prior", "q"),
    seed: int = 0,
    model=None,
    x=None,
):
    r"""Naive Monte Carlo vs importance sampling: estimates of log p(x) against K.

    For a LinearGaussianLVM (default: :func:`course_utils.importance.linear_gaussian_example`) and
    each proposal (one panel each: by default the prior p(z), i.e. naive Monte
    Carlo, and a diagonal q near the posterior), ``n_rep`` estimates
    :math:`\log \frac1K \sum_k p(x, z_k)/q(z_k)` are drawn per K. Each panel shows,
    relative to the exact log p(x) (the line at 0): the 5-95 % and 25-75 % quantile
    bands, the median and the mean, and the proposal's ELBO (the mean at K = 1).
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
        ax.plot(Ks, e.mean(1), color=color, lw=1, ls=":", marker="x", ms=4, label="mean")
        ax.axhline(0.0, color=COLORS["truth"], lw=1.5, label="true log p(x)")
        ax.axhline(candidates[key].elbo - log_evidence, color=color, lw=1, ls="--", label="ELBO")
        ax.set_xscale("log", base=2)
        ax.set_xticks(Ks, [str(k) for k in Ks])
        ax.set_xlabel("K (samples per estimate)")
        ax.set_ylabel("estimate − log p(x)  (nats)")
        ax.set_title(candidates[key].label, fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        clean_axis(ax)
    plt.close(fig)
    return fig
