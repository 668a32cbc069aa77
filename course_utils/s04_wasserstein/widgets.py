"""Wasserstein demos: the parallel lines (KL, JS, W against theta), the slides' earth mover example with
movable pieces, optimal transport between two point clouds, and the critic's heatmap over the exact plan."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection

from ..data.toy2d import ring_of_gaussians
from ..ui import render
from ..ui.base import FigureDemo
from ..ui.demos import demo
from .plots import MU_COLOR, NU_COLOR, arc_widths, critic_heatmap, transport_arc_paths
from .transport import cost_matrix, plan_lines, solve_ot_lp, solve_ot_pot, uniform_weights
from .wasserstein import PiecewiseUniform, blurred_parallel_lines, monotone_coupling
from .wgan import train_critic

__all__ = [
    "CriticDemo",
    "EarthMoverDemo",
    "ParallelLinesDemo",
    "Transport2DDemo",
    "critic_demo",
    "earth_mover_demo",
    "parallel_lines_demo",
    "transport_2d_demo",
]

C = render.COLORS
JS_COLOR, KL_COLOR = "#55a868", "#c44e52"


# --- the parallel lines ------------------------------------------------------------------------

THETAS = torch.linspace(-2.0, 2.0, 161, dtype=torch.float64)
KL_CAP = 2.2  # where an infinite (or large) KL is drawn


class ParallelLinesDemo(FigureDemo):
    """Arjovsky et al.'s example 1: P_0 on the line x = 0, P_theta on x = theta; KL, JS and W against theta.

    Attributes (after each redraw): ``values`` of the divergences at the current theta (a ParallelLines).
    """

    title = "Parallel lines: why W rather than JS"
    caption = ("predict first: with the curves hidden, guess how JS and W change as theta moves, then show them. "
               "JS stays at log 2 whatever the distance (no gradient for the generator), W = |theta| keeps "
               "pointing home. Add noise (sigma) and JS becomes smooth, but flat again once the lines are apart.")
    figsize = (9.0, 3.3)
    secondary = ("sigma",)

    def _make_controls(self):
        s = self._style()
        return {
            "theta": widgets.FloatSlider(value=0.8, min=-2.0, max=2.0, step=0.05, description="theta", style=s),
            "show_curves": widgets.Checkbox(value=True, description="show the curves", style=s),
            "sigma": widgets.FloatSlider(value=0.0, min=0.0, max=0.5, step=0.05, description="noise sigma", style=s),
        }

    def _build_figure(self):
        ax = self.fig.add_axes([0.03, 0.12, 0.28, 0.74])
        curves = self.fig.add_axes([0.40, 0.14, 0.57, 0.72])
        ax.set_xlim(-2.4, 2.4)
        ax.set_ylim(-0.15, 1.2)
        ax.set_yticks([])
        ax.set_title("the two distributions", fontsize=9)
        render.clean_axis(ax)
        zs = np.linspace(0.0, 1.0, 60)
        self._zs = zs
        self.p0 = ax.scatter(np.zeros(60), zs, s=10, color=MU_COLOR, lw=0, label="$P_0$")
        self.pt = ax.scatter(np.zeros(60), zs, s=10, color=NU_COLOR, lw=0, label=r"$P_\theta$")
        self.arrows = ax.quiver(np.zeros(5), np.linspace(0.1, 0.9, 5), np.zeros(5), np.zeros(5), angles="xy",
                                scale_units="xy", scale=1.0, width=0.01, color="#555")
        ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
        t = THETAS.numpy()
        (self.w_line,) = curves.plot(t, np.abs(t), color="#222", lw=2, label=r"$W = |\theta|$")
        (self.js_line,) = curves.plot(t, t, color=JS_COLOR, lw=2, label="JS (nats)")
        (self.kl_line,) = curves.plot(t, t, color=KL_COLOR, lw=2, ls="--", label=f"KL (capped at {KL_CAP})")
        self.markers = [curves.plot([0], [0], "o", color=c, ms=7)[0] for c in ("#222", JS_COLOR, KL_COLOR)]
        curves.axhline(math.log(2), color=C["muted"], lw=0.8, ls=":")
        curves.text(2.0, math.log(2) + 0.03, "log 2", fontsize=7, ha="right", color=C["muted"])
        curves.set_xlim(-2.05, 2.05)
        curves.set_ylim(-0.05, KL_CAP + 0.15)
        curves.set_xlabel(r"$\theta$")
        curves.legend(loc="upper center", ncol=3, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.16))
        render.clean_axis(curves)
        self.live = [self.p0, self.pt, self.arrows, self.w_line, self.js_line, self.kl_line, *self.markers]

    def _curves(self, sigma: float):
        if getattr(self, "_cached_sigma", None) != sigma:
            self._cached = blurred_parallel_lines(THETAS, sigma)
            self._cached_sigma = sigma
        return self._cached

    def _update(self):
        v = self.values
        theta, sigma = v["theta"], v["sigma"]
        curves = self._curves(sigma)
        here = blurred_parallel_lines(torch.tensor([theta], dtype=torch.float64), sigma)
        self.divergences = here
        jitter = sigma * np.random.default_rng(0).standard_normal((2, len(self._zs)))
        self.p0.set_offsets(np.column_stack([jitter[0], self._zs]))
        self.pt.set_offsets(np.column_stack([theta + jitter[1], self._zs]))
        self.arrows.set_UVC(np.full(5, theta * 0.92), np.zeros(5))
        self.arrows.set_offsets(np.column_stack([np.full(5, 0.04 * np.sign(theta)), np.linspace(0.1, 0.9, 5)]))
        t = THETAS.numpy()
        kl = np.minimum(curves.kl.numpy(), KL_CAP)
        js = curves.js.numpy()
        if sigma == 0:  # the point theta = 0 sits off the curve: draw the curves with a gap there
            js, kl = np.where(t == 0, np.nan, js), np.where(t == 0, np.nan, kl)
        self.js_line.set_ydata(js)
        self.kl_line.set_ydata(kl)
        for line in (self.w_line, self.js_line, self.kl_line):
            line.set_visible(v["show_curves"])
        values = (float(here.w[0]), float(here.js[0]), min(float(here.kl[0]), KL_CAP))
        for marker, y in zip(self.markers, values, strict=True):
            marker.set_data([theta], [y])
        kl_text = "∞" if math.isinf(float(here.kl[0])) else f"{float(here.kl[0]):.3f}"
        dw = "sign(θ) = " + (f"{np.sign(theta):+.0f}" if theta else "undefined (0)")
        self.readout.value = (f"θ = {theta:+.2f}, σ = {sigma:.2f}: &nbsp; W = {float(here.w[0]):.3f} &nbsp; "
                              f"JS = {float(here.js[0]):.4f} (log 2 = {math.log(2):.4f}) &nbsp; KL = {kl_text} "
                              f"&nbsp; TV = {float(here.tv[0]):.3f} &nbsp; · &nbsp; dW/dθ = {dw}")


@demo(section="04", title="Parallel lines: KL, JS and W against the distance theta", order=1)
def parallel_lines_demo(lecture: bool = False) -> ParallelLinesDemo:
    """Slide theta between two parallel lines: JS is stuck at log 2, W = |theta| is not."""
    return ParallelLinesDemo(lecture=lecture)


# --- the slides' earth mover example --------------------------------------------------------------

EM_LO, EM_HI = 0.0, 13.0
EM_GRID = torch.linspace(EM_LO, EM_HI, 1301, dtype=torch.float64)
MASSES = (0.25, 0.25, 0.5)


class EarthMoverDemo(FigureDemo):
    """The slides' W = 3 example with movable pieces: densities and the sorted plan's arcs (as wide as the
    mass they carry) above, the CDFs and the area between them (= W1) below.

    Attributes (after each redraw): ``mu``, ``nu`` (PiecewiseUniform), ``plan`` (TransportSegments), ``w1``.
    """

    title = "Earth mover's distance: the slides' example, movable"
    caption = ("move the pink pieces (masses 1/4, 1/4, 1/2) and the blue target: the arcs show where each piece's "
               "mass goes under the sorted plan, and the grey area between the CDFs is always the plan's cost. "
               "Start values: the slides' W = 3. Try putting a pink piece inside the blue one.")
    figsize = (9.0, 4.6)
    secondary = ("width", "target_width")

    def _make_controls(self):
        s = self._style()
        slider = lambda v, d, lo=0.0, hi=11.0: widgets.FloatSlider(value=v, min=lo, max=hi, step=0.25,  # noqa: E731
                                                                   description=d, style=s)
        return {
            "piece1": slider(1.0, "piece 1 (1/4) at"),
            "piece2": slider(3.0, "piece 2 (1/4) at"),
            "piece3": slider(9.0, "piece 3 (1/2) at"),
            "target": slider(5.0, "blue piece at"),
            "width": slider(1.0, "pink widths", 0.25, 2.0),
            "target_width": slider(2.0, "blue width", 0.5, 4.0),
        }

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["piece1"], c["piece2"], c["piece3"]]),
                widgets.HBox([c["target"], c["width"], c["target_width"]])]

    def _build_figure(self):
        top = self.fig.add_axes([0.06, 0.50, 0.92, 0.42])
        bottom = self.fig.add_axes([0.06, 0.08, 0.92, 0.33])
        x = EM_GRID.numpy()
        zeros = np.zeros_like(x)
        self._x = x
        self.mu_fill = render.filled_area(top, x, zeros, color=MU_COLOR, alpha=0.5, lw=0)
        self.nu_fill = render.filled_area(top, x, zeros, color=NU_COLOR, alpha=0.5, lw=0)
        self.arcs = LineCollection([], colors="#444", alpha=0.75)
        top.add_collection(self.arcs)
        self.heads = top.scatter(np.zeros(1), np.zeros(1), marker="v", s=28, color="#444", zorder=3)
        self.labels = [top.text(0, 0, "", fontsize=7, ha="center", va="bottom") for _ in range(6)]
        top.set_xlim(EM_LO, EM_HI)
        top.set_ylim(0, 2.2)
        top.set_yticks([0, 0.5, 1.0])
        top.set_title("densities (pink: μ, blue: μ′) and the sorted plan; arc width = mass moved", fontsize=9)
        render.clean_axis(top)
        self.area = render.filled_area(bottom, x, zeros, color="#999", alpha=0.45, lw=0)
        (self.f_line,) = bottom.plot(x, zeros, color=MU_COLOR, lw=1.8, label="F (μ)")
        (self.g_line,) = bottom.plot(x, zeros, color=NU_COLOR, lw=1.8, label="G (μ′)")
        bottom.set_xlim(EM_LO, EM_HI)
        bottom.set_ylim(-0.03, 1.05)
        bottom.legend(loc="lower right", fontsize=8, frameon=False)
        self.area_text = bottom.text(0.2, 0.8, "", fontsize=10)
        render.clean_axis(bottom)
        self.live = [self.mu_fill, self.nu_fill, self.arcs, self.heads, *self.labels, self.area, self.f_line,
                     self.g_line, self.area_text]

    def _update(self):
        v = self.values
        w, tw = v["width"], v["target_width"]
        starts = torch.tensor([v["piece1"], v["piece2"], v["piece3"]], dtype=torch.float64)
        self.mu = PiecewiseUniform(torch.stack([starts, starts + w], 1), torch.tensor(MASSES, dtype=torch.float64))
        self.nu = PiecewiseUniform(torch.tensor([[v["target"], v["target"] + tw]]), torch.tensor([1.0]))
        self.plan = monotone_coupling(self.mu, self.nu)
        self.w1 = float(self.plan.cost.sum())
        p, q = self.mu.density_on_grid(EM_GRID).numpy(), self.nu.density_on_grid(EM_GRID).numpy()
        render.set_filled_area(self.mu_fill, self._x, p)
        render.set_filled_area(self.nu_fill, self._x, q)
        starts_, ends = self.plan.source.mean(1).numpy(), self.plan.target.mean(1).numpy()
        base = max(p.max(), q.max()) + 0.05
        self.arcs.set_segments(transport_arc_paths(starts_, ends, base=base, height=0.1))
        self.arcs.set_linewidths(arc_widths(self.plan.mass))
        self.heads.set_offsets(np.column_stack([ends, np.full(len(ends), base)]))
        for i, label in enumerate(self.labels):
            if i < len(starts_):
                s, t = starts_[i], ends[i]
                label.set_position(((s + t) / 2, base + max(0.1 * abs(t - s), 0.04) + 0.02))
                label.set_text(f"{float(self.plan.mass[i]):.3g}·{float(self.plan.cost[i] / self.plan.mass[i]):.2f}")
            else:
                label.set_text("")
        f, g = self.mu.cdf(EM_GRID).numpy(), self.nu.cdf(EM_GRID).numpy()
        render.set_filled_area(self.area, self._x, g, f)
        self.f_line.set_ydata(f)
        self.g_line.set_ydata(g)
        self.area_text.set_text(f"area between the CDFs = W1 = {self.w1:.3f}")
        terms = " + ".join(f"{float(m):.3g}×{float(c / m):.3g}" for m, c in zip(self.plan.mass, self.plan.cost,
                                                                                 strict=True))
        self.readout.value = (f"W1(μ, μ′) = ∫|F − G| = <b>{self.w1:.4f}</b> &nbsp; = Σ mass × mean distance = "
                              f"{terms} &nbsp; (mean of μ {self.mu.mean:.2f}, of μ′ {self.nu.mean:.2f})")


@demo(section="04", title="Earth mover's distance: the slides' W = 3 example with movable pieces", order=2)
def earth_mover_demo(lecture: bool = False) -> EarthMoverDemo:
    """Move and reshape the slides' pieces; the sorted plan, the CDFs and W1 follow."""
    return EarthMoverDemo(lecture=lecture)


# --- optimal transport between two point clouds ----------------------------------------------------

N_MAX = 40


def _clouds(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The demo's fixed clouds: x two small clusters, y points along an arc (before shifting)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-1.6, -0.6], [-1.0, 1.0]], dtype=torch.float64)
    x = centres[torch.arange(N_MAX) % 2] + 0.35 * torch.randn(N_MAX, 2, generator=g, dtype=torch.float64)
    angle = torch.linspace(-1.2, 1.2, N_MAX, dtype=torch.float64)[torch.randperm(N_MAX, generator=g)]
    y = torch.stack([1.2 * angle.cos(), 1.6 * angle.sin()], 1) + 0.1 * torch.randn(N_MAX, 2, generator=g,
                                                                                  dtype=torch.float64)
    return x, y


class Transport2DDemo(FigureDemo):
    """Exact optimal transport between two clouds of n points (uniform weights): move the blue cloud, see the plan.

    Attributes (after each redraw): ``solution`` (POT's OTSolution), ``lp_cost`` (our LP's optimum), ``cost``.
    """

    title = "Optimal transport between two point clouds"
    caption = ("drag the blue cloud with the sliders: the lines are the optimal plan (exact, a linear program), "
               "the cost is W1. Switch the cost to |x − y|²: the plan changes (W2's plan avoids long moves). "
               "Our own LP (scipy) and POT always agree.")
    figsize = (9.0, 3.8)
    secondary = ("n", "cost")

    def __init__(self, *, lecture: bool = False):
        self.x_all, self.y_all = _clouds()
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "dx": widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description="shift blue x", style=s),
            "dy": widgets.FloatSlider(value=0.0, min=-2.0, max=2.0, step=0.1, description="shift blue y", style=s),
            "n": widgets.IntSlider(value=16, min=4, max=N_MAX, step=2, description="points per cloud", style=s),
            "cost": widgets.Dropdown(options=[("|x − y| (W1)", 1.0), ("|x − y|² (W2²)", 2.0)], value=1.0,
                                     description="cost", style=s),
        }

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.02, 0.62, 0.90])
        bars = self.fig.add_axes([0.70, 0.15, 0.27, 0.65])
        self.lines = LineCollection([], colors="#555", alpha=0.6)
        ax.add_collection(self.lines)
        self.xs = ax.scatter(np.zeros(1), np.zeros(1), color=MU_COLOR, s=22, zorder=3, label="x (fixed)")
        self.ys = ax.scatter(np.zeros(1), np.zeros(1), color=NU_COLOR, s=22, zorder=3, label="y (moved)")
        ax.set_xlim(-3.5, 4.5)
        ax.set_ylim(-3.2, 3.2)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.set_title("the optimal plan: line width = mass moved", fontsize=9)
        self.bars = bars.bar([0, 1], [0, 0], color=[C["muted"], "#222"])
        bars.set_xticks([0, 1], ["independent\nplan a bᵀ", "optimal\nplan"])
        bars.set_ylim(0, 14)
        bars.set_title("transport cost", fontsize=9)
        render.clean_axis(bars)
        self.bar_text = [bars.text(i, 0, "", ha="center", va="bottom", fontsize=8) for i in range(2)]
        self.live = [self.lines, self.xs, self.ys, *self.bars, *self.bar_text]

    def _update(self):
        v = self.values
        n, p = v["n"], v["cost"]
        x = self.x_all[:n]
        y = self.y_all[:n] + torch.tensor([v["dx"], v["dy"]], dtype=torch.float64)
        cost = cost_matrix(x, y, p)
        a = uniform_weights(n)
        self.solution = solve_ot_pot(a, a, cost)
        self.lp_cost = solve_ot_lp(a, a, cost).cost
        self.cost = self.solution.cost
        independent = float(cost.mean())
        segments, mass = plan_lines(self.solution.plan, x, y)
        self.lines.set_segments(segments)
        self.lines.set_linewidths(2.0 * n * mass)
        self.xs.set_offsets(x.numpy())
        self.ys.set_offsets(y.numpy())
        for bar, text, value in zip(self.bars, self.bar_text, (independent, self.cost), strict=True):
            bar.set_height(min(value, 13.5))
            text.set_position((bar.get_x() + bar.get_width() / 2, min(value, 13.5)))
            text.set_text(f"{value:.3f}")
        name = "W1" if p == 1 else "W2²"
        self.readout.value = (f"{name} = {self.cost:.4f} (POT's ot.emd) &nbsp; our LP (scipy linprog): "
                              f"{self.lp_cost:.4f} &nbsp; independent plan: {independent:.4f} &nbsp; "
                              f"{len(mass)} pairs carry mass (a permutation: n = {n})")


@demo(section="04", title="Optimal transport between two point clouds: move one, see the plan", order=3)
def transport_2d_demo(lecture: bool = False) -> Transport2DDemo:
    """Shift one cloud; the exact optimal plan (POT, checked by our LP) and its cost follow."""
    return Transport2DDemo(lecture=lecture)


# --- the critic over the exact plan ------------------------------------------------------------------

CRITIC_LIM = 3.0
CRITIC_SIDE = 48


def critic_grid(side: int = CRITIC_SIDE, lim: float = CRITIC_LIM) -> torch.Tensor:
    """The points (side * side, 2) where the critic demo shows f, row-major from the bottom left."""
    axis = torch.linspace(-lim, lim, side)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], 1)


def critic_problem(n: int = 256, seed: int = 0):
    """The critic demo's two clouds: x from the ring of 8 Gaussians, y from N(0, 0.25 I); the exact plan."""
    g = torch.Generator().manual_seed(seed)
    x = ring_of_gaussians().sample(n, g)
    y = 0.5 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    solution = solve_ot_pot(None, None, cost_matrix(x, y))
    return x, y, solution


class CriticDemo(FigureDemo):
    """Critics trained by weight clipping and by gradient penalty, replayed: the heatmap of f at a chosen
    training step over the exact optimal plan between the two clouds.

    Build it with the notebook's ``fits`` ({"clip": CriticFit, "gp": CriticFit}, trained with a grid from
    :func:`critic_grid`) and clouds, or without: it then trains two small critics once (a few seconds).
    Attributes: ``estimate``, ``rescaled`` and ``exact`` after each redraw.
    """

    title = "The critic over the exact plan: clipping vs gradient penalty"
    caption = ("slide through training: the critic f is high (red) on the ring and low (blue) in the middle; the "
               "exact plan's lines run down its slope. With the gradient penalty its mean gap E f(x) − E f(y) "
               "reaches the exact W1; the clipped critic has the right shape but a tiny slope, so its raw gap is "
               "far too small until divided by its measured slope (the rescaled value).")
    figsize = (9.0, 4.0)
    secondary = ("show_plan",)

    def __init__(self, *, lecture: bool = False, fits=None, x=None, y=None, steps: int = 400):
        if fits is None:
            x, y, solution = critic_problem()
            grid = critic_grid()
            fits = {m: train_critic(x, y, m, steps=steps, grid=grid, snapshot_every=max(steps // 8, 1), progress=False)
                    for m in ("clip", "gp")}
        else:
            solution = solve_ot_pot(None, None, cost_matrix(x, y))
        self.fits, self.x, self.y, self.solution = fits, x, y, solution
        self.exact = solution.cost
        self.steps = {m: sorted(f.snapshots) for m, f in fits.items()}
        self.frames = {(m, step): (f.snapshots[step].numpy(), f.snapshot_estimates[step], f.snapshot_lipschitz[step])
                       for m, f in fits.items() for step in self.steps[m]}
        self.n_frames = min(len(s) for s in self.steps.values())
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "method": widgets.ToggleButtons(options=[("weight clipping", "clip"), ("gradient penalty", "gp")],
                                            value="gp", description="Lipschitz by", style=s),
            "frame": widgets.IntSlider(value=self.n_frames - 1, min=0, max=self.n_frames - 1,
                                       description="training snapshot", style=s),
            "show_plan": widgets.Checkbox(value=True, description="exact plan", style=s),
        }

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.50, 0.88])
        bars = self.fig.add_axes([0.62, 0.15, 0.35, 0.60])
        side = next(iter(self.frames.values()))[0].shape[0]
        self.heat = critic_heatmap(ax, np.zeros((side, side)), CRITIC_LIM)
        segments, mass = plan_lines(self.solution.plan, self.x, self.y)
        self.plan = LineCollection(segments, linewidths=0.3 + 0.3 * len(self.x) * mass, colors="#333", alpha=0.35)
        ax.add_collection(self.plan)
        x, y = np.asarray(self.x), np.asarray(self.y)
        ax.scatter(x[:, 0], x[:, 1], s=4, color="#7a1f1f", lw=0, label="x (ring)")
        ax.scatter(y[:, 0], y[:, 1], s=4, color="#1f3f7a", lw=0, label="y (Gaussian)")
        ax.set_xlim(-CRITIC_LIM, CRITIC_LIM)
        ax.set_ylim(-CRITIC_LIM, CRITIC_LIM)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False)
        self.bars = bars.barh([2, 1, 0], [0, 0, 0], color=[C["muted"], "#dd8452", "#222"])
        bars.set_yticks([2, 1, 0], ["E f(x) − E f(y)", "… / max |∇f|", "exact W1 (LP)"])
        bars.set_xlim(0, 1.3 * self.exact)
        bars.set_title("estimates of W1", fontsize=9)
        render.clean_axis(bars)
        self.bar_text = [bars.text(0, i, "", va="center", fontsize=8) for i in (2, 1, 0)]
        self.status = self.fig.text(0.62, 0.93, "", fontsize=9)
        self.live = [self.heat, self.plan, *self.bars, *self.bar_text, self.status]

    def _update(self):
        v = self.values
        method = v["method"]
        step = self.steps[method][min(v["frame"], len(self.steps[method]) - 1)]
        values, est, slope = self.frames[(method, step)]
        centred = values - np.median(values)
        scale = float(np.abs(centred).max()) or 1.0
        self.heat.set_data(centred)
        self.heat.set_clim(-scale, scale)
        self.plan.set_visible(v["show_plan"])
        self.estimate, self.rescaled = est, est / slope if slope > 0 else math.nan
        for bar, text, value in zip(self.bars, self.bar_text, (est, self.rescaled, self.exact), strict=True):
            bar.set_width(max(value, 0.0))
            text.set_position((max(value, 0.0) + 0.02 * self.exact, text.get_position()[1]))
            text.set_text(f"{value:.4g}")
        name = "weight clipping (c = 0.01)" if method == "clip" else "gradient penalty (λ = 10)"
        self.status.set_text(f"{name}, step {step}")
        self.readout.value = (f"step {step}: E f(x) − E f(y) = {est:.4g}; max |∇f| (grid and clouds) = {slope:.4g}; "
                              f"rescaled estimate {self.rescaled:.4f}; exact W1 = {self.exact:.4f}")


@demo(section="04", title="The critic over the exact plan: weight clipping vs gradient penalty", order=4)
def critic_demo(lecture: bool = False, fits=None, x=None, y=None) -> CriticDemo:
    """Replay two trained critics (clipping, gradient penalty) over the exact optimal plan."""
    return CriticDemo(lecture=lecture, fits=fits, x=x, y=y)
