"""Forward vs reverse KL: mass-covering vs mode-seeking Gaussian fits to a bimodal target."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from ...data.mixtures import bimodal_target, moment_match
from ...ui import render
from ...ui.base import FigureDemo
from ...ui.demos import demo
from ..divergences import kl_on_grid
from ..elbo import fit_gaussian_reverse_kl, log_normal_diag

__all__ = ["KLFitDemo", "kl_fit_demo"]

C = render.COLORS
# Quadrature grid: wide enough to hold the forward fit (std up to ~4) in its tails.
GRID = torch.linspace(-20.0, 20.0, 801, dtype=torch.float64)
DZ = float(GRID[1] - GRID[0])
SHOWN = (GRID >= -6.5) & (GRID <= 6.5)
KL_MAX = 4.0  # nats shown on the bar panel; longer bars are clipped and labelled


def _log_gaussian(mu: float, var: float) -> torch.Tensor:
    """log N(z; mu, var) on GRID."""
    t = torch.tensor([mu], dtype=torch.float64), torch.tensor([var], dtype=torch.float64)
    return log_normal_diag(GRID[:, None], *t)


class KLFitDemo(FigureDemo):
    """Gaussian fits to a two-mode mixture: forward KL (moment matching) vs reverse KL (L-BFGS).

    Attributes (after each redraw):
        target: the GaussianMixture p.
        forward_fit, reverse_fit: (mean, variance) of the two fitted Gaussians.
        kls: {"forward": (KL(p||q), KL(q||p)), "reverse": (KL(p||q), KL(q||p))} in nats.
    """

    title = "Forward vs reverse KL"
    caption = (
        "pull the modes apart: the forward fit stretches over both (mass-covering), the "
        "reverse fit locks onto one (mode-seeking); switch its start to the other mode, "
        "and watch each fit win only in its own KL direction."
    )
    figsize = (9.0, 3.3)
    secondary = ("width",)

    def _make_controls(self):
        style = self._style()
        return {
            "separation": widgets.FloatSlider(
                value=4.0, min=0.0, max=7.0, step=0.1, description="mode separation",
                style=style, continuous_update=True,
            ),
            "weight": widgets.FloatSlider(
                value=0.6, min=0.05, max=0.95, step=0.01, description="left weight", style=style
            ),
            "width": widgets.FloatSlider(
                value=0.6, min=0.4, max=1.2, step=0.05, description="mode std", style=style
            ),
            "start": widgets.ToggleButtons(
                options=[("left mode", "left"), ("right mode", "right")], value="left",
                description="reverse-KL start", style=style,
            ),
        }

    def _control_rows(self):
        c = self.controls
        return [
            widgets.HBox([c["separation"], c["weight"], c["width"]]),
            widgets.HBox([c["start"]]),
        ]

    def _build_figure(self):
        fig = self.fig
        ax = fig.add_axes([0.02, 0.10, 0.60, 0.72])
        bars = fig.add_axes([0.67, 0.10, 0.31, 0.72])
        self.ax_density, self.ax_kl = ax, bars
        x = GRID[SHOWN].numpy()
        self._x = x
        zeros = np.zeros_like(x)
        self.p_fill = render.filled_area(ax, x, zeros, color=C["target"], alpha=0.25, lw=0)
        (self.p_line,) = ax.plot(x, zeros, color=C["target"], lw=1.5, label="target p")
        (self.fwd_line,) = ax.plot(
            x, zeros, color=C["forward"], lw=2, ls="--", label="forward-KL fit (moment match)"
        )
        (self.rev_line,) = ax.plot(x, zeros, color=C["reverse"], lw=2, label="reverse-KL fit")
        (self.start_mark,) = ax.plot(
            [0.0], [0.0], marker="^", ms=9, color=C["reverse"], clip_on=False, ls="none",
            label="reverse-KL start",
        )
        ax.set_xlim(-6.5, 6.5)
        ax.set_ylim(0, 1.1)
        ax.set_xticks([-6, -3, 0, 3, 6])
        render.clean_axis(ax, yticks=False)
        ax.legend(
            loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, fontsize=8, frameon=False,
            borderaxespad=0.2,
        )

        # Four bars: each fit in both directions; the direction it minimises is solid.
        self._bar_rows = [
            ("forward", 0, "forward fit: KL(p‖q)"),
            ("forward", 1, "forward fit: KL(q‖p)"),
            ("reverse", 0, "reverse fit: KL(p‖q)"),
            ("reverse", 1, "reverse fit: KL(q‖p)"),
        ]
        ys = [3.55, 2.65, 1.35, 0.45]
        minimised = [True, False, False, True]
        colors = [C[fit] for fit, _, _ in self._bar_rows]
        self.kl_bars = bars.barh(ys, [0.0] * 4, height=0.4, color=colors)
        for bar, solid in zip(self.kl_bars, minimised, strict=True):
            bar.set_alpha(1.0 if solid else 0.4)
        for (_, _, label), y in zip(self._bar_rows, ys, strict=True):
            bars.text(0.03, y + 0.24, label, va="bottom", ha="left", fontsize=8)
        self.kl_values = [
            bars.text(0.0, y, "", va="center", ha="left", fontsize=8, fontweight="bold")
            for y in ys
        ]
        bars.set_xlim(0, KL_MAX)
        bars.set_ylim(0.1, 4.25)
        bars.set_xticks(range(int(KL_MAX) + 1))
        render.clean_axis(bars, yticks=False)
        bars.spines["left"].set_visible(False)
        bars.set_title("KL in nats (solid: the fit's own objective)", fontsize=9)
        self.live = [
            self.p_fill, self.p_line, self.fwd_line, self.rev_line, self.start_mark,
            *self.kl_bars, *self.kl_values,
        ]

    def _update(self):
        v = self.values
        p = bimodal_target(v["separation"], v["weight"], v["width"])
        self.target = p
        log_p = p.log_prob(GRID)

        mean, cov = moment_match(p)
        self.forward_fit = (float(mean[0]), float(cov[0, 0]))
        # Reverse KL from the chosen mode, every time: the answer depends on the start
        # (that is the lesson), so it must not depend on the slider history. Cold fits
        # from a mode take ~1-10 ms, so no warm start is needed.
        start = 0 if v["start"] == "left" else 1
        mu0, var0 = float(p.means[start, 0]), float(p.variances[start])
        self.reverse_fit = fit_gaussian_reverse_kl(log_p, GRID, mu0, var0)

        log_fwd, log_rev = _log_gaussian(*self.forward_fit), _log_gaussian(*self.reverse_fit)
        both = lambda log_q: (  # (KL(p||q), KL(q||p))
            float(kl_on_grid(log_p, log_q, DZ)), float(kl_on_grid(log_q, log_p, DZ))
        )
        self.kls = {"forward": both(log_fwd), "reverse": both(log_rev)}

        shown = log_p[SHOWN].exp().numpy()
        render.set_filled_area(self.p_fill, self._x, shown)
        self.p_line.set_ydata(shown)
        self.fwd_line.set_ydata(log_fwd[SHOWN].exp().numpy())
        self.rev_line.set_ydata(log_rev[SHOWN].exp().numpy())
        self.start_mark.set_data([mu0], [0.0])

        for bar, text, (fit, direction, _) in zip(
            self.kl_bars, self.kl_values, self._bar_rows, strict=True
        ):
            value = self.kls[fit][direction]
            bar.set_width(min(value, KL_MAX))
            text.set_text(f"{value:.2f}" + (" →" if value > KL_MAX else ""))
            if value > 0.8 * KL_MAX:  # no room right of the bar: write inside its end
                text.set_x(min(value, KL_MAX) - 0.05)
                text.set_ha("right")
            else:
                text.set_x(value + 0.05)
                text.set_ha("left")

        (kf_pq, kf_qp), (kr_pq, kr_qp) = self.kls["forward"], self.kls["reverse"]
        (mf, vf), (mr, vr) = self.forward_fit, self.reverse_fit
        self.readout.value = (
            f"<b>forward fit</b> q = N({mf:.2f}, {np.sqrt(vf):.2f}²): "
            f"KL(p‖q) = {kf_pq:.3f}, KL(q‖p) = {kf_qp:.3f} &nbsp;|&nbsp; "
            f"<b>reverse fit</b> q = N({mr:.2f}, {np.sqrt(vr):.2f}²): "
            f"KL(q‖p) = {kr_qp:.3f}, KL(p‖q) = {kr_pq:.3f}"
        )


@demo(section="01", title="Forward vs reverse KL: mass-covering vs mode-seeking", order=1)
def kl_fit_demo(lecture: bool = False) -> KLFitDemo:
    """Fit a Gaussian to a bimodal mixture by forward and by reverse KL, side by side."""
    return KLFitDemo(lecture=lecture)
