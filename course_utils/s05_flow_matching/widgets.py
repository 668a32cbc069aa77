"""Flow demos (notebook 05): a vector field and its flow, the (t, x) lens, the continuity panel,
a t-scrubber over a learned field, and classifier-free guidance.

Every demo renders a Figure built once and updates its artists in place; trajectories are
computed once and the sliders only look them up, except where a redraw must integrate
(the flow field's Euler path, guidance at a new w, both cached).
"""

from __future__ import annotations

import math
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection

from ..core import ode
from ..data import toy2d as data
from ..data.mixtures import GaussianMixture
from ..ui import render
from ..ui.base import FigureDemo
from ..ui.demos import demo
from . import flow_matching, flows, probability_paths

__all__ = [
    "ContinuityDemo",
    "FlowFieldDemo",
    "FlowScrubDemo",
    "GuidanceDemo",
    "ProbabilityLensDemo",
    "flow_continuity_demo",
    "flow_field_demo",
    "flow_guidance_demo",
    "flow_lens_demo",
    "flow_scrub_demo",
]

C = render.COLORS
SAMPLE = "#c44e52"
GRID_COLOR = "#8c6d31"


def capped_arrows(v: torch.Tensor, length: float, speed: float) -> np.ndarray:
    """Arrows for a quiver (n, 2): the direction of v, drawn ``length * tanh(|v| / speed)`` long.

    Faster still means longer, but a fast corner of the plot no longer covers the rest (speeds above
    ``speed`` all look about ``length`` long).
    """
    norm = v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (v / norm * length * torch.tanh(norm / speed)).double().numpy()



# --- 1. a vector field, its trajectories and its flow -----------------------------------------

FIELD_LIM = 2.2
N_TRACK = 41  # times at which a dropped point's exact trajectory is drawn


class FlowFieldDemo(FigureDemo):
    """A time-dependent field as arrows, a square grid deformed by its flow at time t, and dropped points.

    Left: v_t (arrows), the image of the grid under Phi_t (brown), the trajectories of the dropped points
    from 0 to t (black) and of the current point (exact: blue line; Euler with n steps: red dots).
    Right: the current point's two coordinates against time, exact and Euler.
    Attributes: ``dropped`` (k, 2) starting points; ``euler_error`` at t = 1 for the current point.
    """

    title = "Vector field, trajectories and flow"
    caption = ("slide t: the arrows change (the field depends on time) and the grid bends with the flow Phi_t; "
               "move the starting point and 'drop' it to keep its trajectory. Fewer Euler steps: the red dots "
               "leave the exact curve (spiral, 3 steps).")
    figsize = (9.0, 4.0)
    secondary = ("n_steps", "grid")

    def __init__(self, *, lecture: bool = False):
        self.dropped = torch.zeros(0, 2, dtype=torch.float64)
        self._rng = torch.Generator().manual_seed(5)
        _, self.q = flows.grid_points(FIELD_LIM * 0.92, 13)
        self.lines = flows.grid_lines(1.6, 9, 40)
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "field": widgets.Dropdown(options=list(flows.EXAMPLE_FIELDS), value="spiral", description="field",
                                      style=s),
            "t": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.02, description="time t", style=s),
            "x0": widgets.FloatSlider(value=0.3, min=-2.0, max=2.0, step=0.05, description="start x", style=s),
            "y0": widgets.FloatSlider(value=0.2, min=-2.0, max=2.0, step=0.05, description="start y", style=s),
            "n_steps": widgets.IntSlider(value=8, min=1, max=40, description="Euler steps on [0, 1]", style=s),
            "grid": widgets.Checkbox(value=True, description="deformed grid", style=s),
        }

    def _make_buttons(self):
        buttons = {
            "drop": widgets.Button(description="drop this point", tooltip="keep its trajectory on the plot"),
            "drop_many": widgets.Button(description="drop 20 random", tooltip="20 random starting points"),
            "clear": widgets.Button(description="clear", tooltip="remove the dropped points"),
        }
        buttons["drop"].on_click(self._on_click(self.drop_current))
        buttons["drop_many"].on_click(self._on_click(self.drop_random))
        buttons["clear"].on_click(self._on_click(self.clear))
        return buttons

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["field"], c["t"], c["grid"]]), widgets.HBox([c["x0"], c["y0"], c["n_steps"]]),
                widgets.HBox(list(self.buttons.values()))]

    def drop_current(self):
        v = self.values
        self.dropped = torch.cat([self.dropped, torch.tensor([[v["x0"], v["y0"]]], dtype=torch.float64)])
        self.redraw()

    def drop_random(self):
        new = (torch.rand(20, 2, generator=self._rng, dtype=torch.float64) * 2 - 1) * 2.0
        self.dropped = torch.cat([self.dropped, new])
        self.redraw()

    def clear(self):
        self.dropped = torch.zeros(0, 2, dtype=torch.float64)
        self.redraw()

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.46, 0.88])
        tax = self.fig.add_axes([0.57, 0.14, 0.41, 0.72])
        q = self.q.numpy()
        self.arrows = ax.quiver(q[:, 0], q[:, 1], np.zeros(len(q)), np.zeros(len(q)), color=C["target"], alpha=0.55,
                                angles="xy", scale_units="xy", scale=1.0, width=0.005)
        self.grid_art = LineCollection([], colors=GRID_COLOR, linewidths=0.7, alpha=0.85)
        ax.add_collection(self.grid_art)
        self.tracks = LineCollection([], colors="#222", linewidths=0.8, alpha=0.7)
        ax.add_collection(self.tracks)
        self.heads = ax.scatter(np.zeros(1), np.zeros(1), s=10, color="#222", zorder=3)
        (self.exact_line,) = ax.plot([], [], color=C["target"], lw=2)
        (self.euler_line,) = ax.plot([], [], "o-", color=SAMPLE, lw=1, ms=3)
        self.start = ax.scatter([0.0], [0.0], s=40, marker="s", color="#222", zorder=4)
        self.now = ax.scatter([0.0], [0.0], s=50, color=C["target"], edgecolor="white", zorder=5)
        render.square_axes(ax, FIELD_LIM)
        self.label = ax.text(0.02, 1.02, "", transform=ax.transAxes, fontsize=8)
        tt = np.linspace(0, 1, N_TRACK)
        (self.ex1,) = tax.plot(tt, np.zeros_like(tt), color=C["target"], lw=2, label="exact x(t)")
        (self.ex2,) = tax.plot(tt, np.zeros_like(tt), color=C["target"], lw=2, ls="--", label="exact y(t)")
        (self.eu1,) = tax.plot([], [], "o", color=SAMPLE, ms=3, label="Euler")
        (self.eu2,) = tax.plot([], [], "o", color=SAMPLE, ms=3)
        self.tline = tax.axvline(0.5, color=C["muted"], lw=1)
        tax.set_xlim(0, 1)
        tax.set_ylim(-2.6, 2.6)
        tax.set_xlabel("t")
        tax.set_title("the trajectory t -> x(t) of the current point", fontsize=9)
        tax.legend(fontsize=7, frameon=False, loc="lower left", ncol=3)
        render.clean_axis(tax)
        self.live = [self.arrows, self.grid_art, self.tracks, self.heads, self.exact_line, self.euler_line,
                     self.start, self.now, self.label, self.ex1, self.ex2, self.eu1, self.eu2, self.tline]

    def _update(self):
        v = self.values
        field = flows.example_field(v["field"])
        t = float(v["t"])
        vel = capped_arrows(field(self.q, t), 0.3, 4.0)
        self.arrows.set_UVC(vel[:, 0], vel[:, 1])
        self.grid_art.set_segments(list(flows.push_lines(field, self.lines, t).numpy()) if v["grid"] else [])
        self.grid_art.set_visible(v["grid"])
        times = torch.linspace(0, 1, N_TRACK, dtype=torch.float64)
        upto = times[times <= t + 1e-9]
        if len(self.dropped):
            track = torch.stack([field.flow(self.dropped, float(s)) for s in upto], dim=1)  # (k, T, 2)
            self.tracks.set_segments(list(track.numpy()))
            self.heads.set_offsets(track[:, -1].numpy())
        else:
            self.tracks.set_segments([])
            self.heads.set_offsets(np.zeros((0, 2)))
        x0 = torch.tensor([[v["x0"], v["y0"]]], dtype=torch.float64)
        exact = torch.cat([field.flow(x0, float(s)) for s in times])                  # (N_TRACK, 2)
        n = v["n_steps"]
        euler = ode.integrate(field, x0, 0.0, 1.0, n, "euler", return_path=True)[:, 0]  # (n + 1, 2)
        grid_t = np.linspace(0, 1, n + 1)
        shown = grid_t <= t + 1e-9
        self.exact_line.set_data(exact[times <= t + 1e-9, 0].numpy(), exact[times <= t + 1e-9, 1].numpy())
        self.euler_line.set_data(euler[shown, 0].numpy(), euler[shown, 1].numpy())
        self.start.set_offsets(x0.numpy())
        self.now.set_offsets(field.flow(x0, t).numpy())
        self.label.set_text(f"{field.formula}    t = {t:.2f}")
        self.ex1.set_ydata(exact[:, 0].numpy())
        self.ex2.set_ydata(exact[:, 1].numpy())
        self.eu1.set_data(grid_t, euler[:, 0].numpy())
        self.eu2.set_data(grid_t, euler[:, 1].numpy())
        self.tline.set_xdata([t, t])
        self.euler_error = float((euler[-1] - exact[-1]).norm())
        self.readout.value = (f"Phi_t(x0) = ({float(self.now.get_offsets()[0][0]):.3f}, "
                              f"{float(self.now.get_offsets()[0][1]):.3f}) &nbsp; Euler with h = 1/{n}: error at t = 1 "
                              f"= {self.euler_error:.3g} &nbsp; dropped points: {len(self.dropped)}")


@demo(section="05", title="Vector field, trajectories and the flow of a grid", order=1, simulates=True)
def flow_field_demo(lecture: bool = False) -> FlowFieldDemo:
    """Arrows of a time-dependent field, the grid it deforms, dropped trajectories, Euler against the exact flow."""
    return FlowFieldDemo(lecture=lecture)


# --- 2. the (t, x) lens: conditional paths through a point and the marginal velocity ------------

LENS_POINTS = torch.tensor([[-2.0, 1.2], [-0.4, 2.1], [1.7, 1.4], [2.1, -0.9], [0.3, -1.9], [-1.6, -1.3]],
                           dtype=torch.float64)
LENS_COLORS = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3"]
LENS_LIM = 3.0
HEAT = 64
ARROW_SCALE = 0.25  # arrows show 0.25 x velocity: where a point would move in 0.25 time units


class ProbabilityLensDemo(FigureDemo):
    """Pick a point x and a time t: p_t (heatmap) of a 6-point target, the conditional paths through (t, x)
    (one per target point, opaque in proportion to its posterior weight), their velocities, and the marginal
    velocity u_t(x), their weighted average (red). Attributes: ``weights`` (6,), ``u`` (2,)."""

    title = "The (t, x) lens: conditional paths through a point and the marginal velocity"
    caption = ("move the point: the target points whose conditional path passes near x get the weight (bars), and "
               "the red marginal arrow u_t(x) is their weighted average. Near t = 0 every path is plausible; as t "
               "grows one wins. Tick 'predict first' to guess the red arrow before showing it.")
    figsize = (9.0, 4.1)
    secondary = ("path",)

    def __init__(self, *, lecture: bool = False):
        self.axis, self.pts = flows.grid_points(LENS_LIM, HEAT)
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "t": widgets.FloatSlider(value=0.45, min=0.0, max=0.95, step=0.01, description="time t", style=s),
            "x": widgets.FloatSlider(value=0.4, min=-2.8, max=2.8, step=0.05, description="point x", style=s),
            "y": widgets.FloatSlider(value=0.6, min=-2.8, max=2.8, step=0.05, description="point y", style=s),
            "path": widgets.Dropdown(options=list(probability_paths.GAUSSIAN_PATHS), value="linear", description="path",
                                     style=s),
            "predict": widgets.Checkbox(value=False, description="predict first (hide u_t)", style=s),
        }

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["t"], c["x"], c["y"]]), widgets.HBox([c["path"], c["predict"]])]

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.50, 0.88])
        bax = self.fig.add_axes([0.62, 0.16, 0.36, 0.68])
        self.heat = ax.imshow(np.zeros((HEAT, HEAT)), extent=(-LENS_LIM, LENS_LIM, -LENS_LIM, LENS_LIM),
                              origin="lower", cmap="Greys", vmin=0, vmax=1.5, interpolation="bilinear")
        z = LENS_POINTS.numpy()
        stars = ax.scatter(z[:, 0], z[:, 1], marker="*", s=120, c=LENS_COLORS, edgecolor="black", linewidths=0.5,
                           zorder=4)
        self.cond_paths = LineCollection([], linewidths=1.6)
        ax.add_collection(self.cond_paths)
        self.cond_arrows = ax.quiver(np.zeros(6), np.zeros(6), np.zeros(6), np.zeros(6), color=LENS_COLORS,
                                     angles="xy", scale_units="xy", scale=1.0, width=0.006, zorder=5)
        self.marg_arrow = ax.quiver([0.0], [0.0], [0.0], [0.0], color=SAMPLE, angles="xy", scale_units="xy",
                                    scale=1.0, width=0.014, zorder=6)
        self.point = ax.scatter([0.0], [0.0], s=60, color="white", edgecolor="black", zorder=7)
        render.square_axes(ax, LENS_LIM)
        self.label = ax.text(0.02, 1.02, "", transform=ax.transAxes, fontsize=8)
        self.bars = bax.bar(range(6), np.zeros(6), color=LENS_COLORS)
        bax.set_xticks(range(6), [f"z{i + 1}" for i in range(6)])
        bax.set_ylim(0, 1)
        bax.set_title("posterior weights w_i(x) = p(z_i | x_t = x)", fontsize=9)
        render.clean_axis(bax)
        # the stars sit on the heatmap, which changes: draw them with the live artists, after it
        self.live = [self.heat, stars, self.cond_paths, self.cond_arrows, self.marg_arrow, self.point, self.label,
                     *self.bars]

    def _update(self):
        v = self.values
        t, s = float(v["t"]), probability_paths.gaussian_path(v["path"])
        tt = torch.tensor(t, dtype=torch.float64)
        a, b = float(s.alpha(tt)), float(s.beta(tt))
        sq = ((self.pts[:, None, :] - a * LENS_POINTS[None]) ** 2).sum(-1)
        density = torch.logsumexp(-sq / (2 * b * b), dim=1).exp().reshape(HEAT, HEAT)
        self.heat.set_data((density / density.max()).numpy())
        x = torch.tensor([[v["x"], v["y"]]], dtype=torch.float64)
        self.weights = flow_matching.posterior_weights(x, t, LENS_POINTS, s)[0]
        lines = flow_matching.conditional_paths_through(x[0], t, LENS_POINTS, s)
        colors = [(*_rgb(c), 0.08 + 0.92 * float(w)) for c, w in zip(LENS_COLORS, self.weights, strict=True)]
        self.cond_paths.set_segments(list(lines.numpy()))
        self.cond_paths.set_color(colors)
        u_cond = probability_paths.conditional_velocity(x.expand(6, 2), LENS_POINTS, t, s)
        self.u = (self.weights[:, None] * u_cond).sum(0)
        shown = ARROW_SCALE * u_cond * self.weights[:, None]
        self.cond_arrows.set_offsets(x.expand(6, 2).numpy())
        self.cond_arrows.set_UVC(shown[:, 0].numpy(), shown[:, 1].numpy())
        self.marg_arrow.set_offsets(x.numpy())
        self.marg_arrow.set_UVC([ARROW_SCALE * float(self.u[0])], [ARROW_SCALE * float(self.u[1])])
        self.marg_arrow.set_visible(not v["predict"])
        self.point.set_offsets(x.numpy())
        for bar, w in zip(self.bars, self.weights.tolist(), strict=True):
            bar.set_height(w)
        self.label.set_text(f"p_t ({v['path']} path), t = {t:.2f}; arrows: 0.25 x velocity")
        marginal = "?" if v["predict"] else f"({float(self.u[0]):.2f}, {float(self.u[1]):.2f})"
        self.readout.value = (f"x = ({v['x']:.2f}, {v['y']:.2f}), t = {t:.2f}: u_t(x) = sum_i w_i u_t(x | z_i) = "
                              f"{marginal} &nbsp; largest weight {float(self.weights.max()):.2f} "
                              f"(z{int(self.weights.argmax()) + 1})")


def _rgb(hex_color: str) -> tuple[float, float, float]:
    h = hex_color.lstrip("#")
    return tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))


@demo(section="05", title="The (t, x) lens: conditional paths and the marginal velocity", order=2)
def flow_lens_demo(lecture: bool = False) -> ProbabilityLensDemo:
    """Pick (t, x) on the heatmap of p_t: conditional paths through it, posterior weights, the marginal arrow."""
    return ProbabilityLensDemo(lecture=lecture)


# --- 3. the continuity equation ---------------------------------------------------------------

CONT_MIXTURE = GaussianMixture(torch.tensor([0.5, 0.3, 0.2]),
                               torch.tensor([[-1.2, 0.8], [1.3, 0.9], [0.2, -1.3]]),
                               torch.tensor([0.15, 0.25, 0.1]))
CONT_LIM, CONT_N = 3.0, 81
BREAKS = {"scale": "v x 1.5", "swirl": "v + a swirl", "other": "the other path's v"}
SWIRL_CENTRE = (0.8, -0.5)
#: The meter turns red above this ratio; the exact field stays below 0.025 on this grid (discretisation error).
HOLDS_BELOW = 0.05
RED, GREEN = "#c44e52", "#55a868"


def broken_velocity(velocity, how: str, path: str = "linear"):
    """A wrong field for the continuity panel: too fast, plus a swirl about (0.8, -0.5), or the velocity of the
    other scheduler's path (``path`` is the right one)."""
    if how == "scale":
        return lambda x, t: 1.5 * velocity(x, t)
    if how == "swirl":
        cx, cy = SWIRL_CENTRE
        return lambda x, t: velocity(x, t) + torch.stack([-(x[:, 1] - cy), x[:, 0] - cx], dim=1)
    if how == "other":
        other = next(name for name in probability_paths.GAUSSIAN_PATHS if name != path)
        return flows.mixture_path(CONT_MIXTURE, other)[1]
    raise ValueError(f"unknown break {how!r}; expected one of {', '.join(BREAKS)}")


class ContinuityDemo(FigureDemo):
    """Both sides of the continuity equation for the exact path of a 3-component Gaussian mixture, on a grid.

    Panels: p_t with v_t, dp_t/dt, -div(p_t v_t), the residual; a meter of max|residual| / max|dp/dt| that is
    green while the equation holds and red once v is broken. Attribute: ``check`` (the last ContinuityCheck).
    """

    title = "The continuity equation: dp_t/dt = -div(p_t v_t)"
    caption = ("slide t: the two middle maps stay equal and the residual stays near zero (discretisation error only). "
               "Press 'break v': the field no longer moves the mass the way p_t changes, and the meter turns red.")
    figsize = (9.6, 3.3)
    secondary = ("how", "path")

    def _make_controls(self):
        s = self._style()
        return {
            "t": widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, description="time t", style=s),
            "broken": widgets.ToggleButton(value=False, description="break v", tooltip="use a wrong velocity field",
                                           icon="bolt"),
            "how": widgets.Dropdown(options=[(label, key) for key, label in BREAKS.items()], value="scale",
                                    description="break by", style=s),
            "path": widgets.Dropdown(options=list(probability_paths.GAUSSIAN_PATHS), value="linear", description="path",
                                     style=s),
        }

    def _build_figure(self):
        ext = (-CONT_LIM, CONT_LIM, -CONT_LIM, CONT_LIM)
        zeros = np.zeros((CONT_N, CONT_N))
        axes = [self.fig.add_axes([0.01 + 0.245 * i, 0.18, 0.23, 0.64]) for i in range(4)]
        self.p_img = axes[0].imshow(zeros, extent=ext, origin="lower", cmap="Blues", vmin=0, vmax=1)
        _, q = flows.grid_points(CONT_LIM * 0.85, 11)
        self.q = q
        self.arrows = axes[0].quiver(q[:, 0].numpy(), q[:, 1].numpy(), np.zeros(len(q)), np.zeros(len(q)),
                                     color="#333", angles="xy", scale_units="xy", scale=1.0, width=0.006)
        self.imgs = [ax.imshow(zeros, extent=ext, origin="lower", cmap="RdBu_r", vmin=-1, vmax=1) for ax in axes[1:]]
        for ax, name in zip(axes, ("p_t and v_t", "dp_t / dt", "-div(p_t v_t)", "residual"), strict=True):
            ax.set_title(name, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        meter = self.fig.add_axes([0.30, 0.05, 0.45, 0.05])
        meter.set_xlim(-5, 1)
        meter.set_ylim(0, 1)
        meter.set_xticks([-5, -4, -3, -2, -1, 0, 1], ["1e-5", "1e-4", "1e-3", "0.01", "0.1", "1", "10"])
        meter.set_yticks([])
        meter.tick_params(labelsize=7)
        meter.axvline(math.log10(HOLDS_BELOW), color="#333", lw=1)
        self.fig.text(0.01, 0.06, "max|residual| / max|dp/dt|:", fontsize=8)
        self.meter_bar = meter.barh([0.5], [0.0], left=-5, height=1.0, color=GREEN)[0]
        self.status = self.fig.text(0.77, 0.06, "", fontsize=8)
        self.scale_text = self.fig.text(0.01, 0.95, "", fontsize=8)
        self.live = [self.p_img, self.arrows, *self.imgs, self.meter_bar, self.status, self.scale_text]

    def _update(self):
        v = self.values
        density, velocity = flows.mixture_path(CONT_MIXTURE, v["path"])
        if v["broken"]:
            velocity = broken_velocity(velocity, v["how"], v["path"])
        self.check = c = flows.continuity_check(density, velocity, float(v["t"]), CONT_LIM, CONT_N, dt=1e-4)
        self.p_img.set_data((c.density / c.density.max()).numpy())
        vq = capped_arrows(velocity(self.q, float(v["t"])), 0.45, 2.0)
        self.arrows.set_UVC(vq[:, 0], vq[:, 1])
        scale = float(c.dp_dt.abs().max())
        for img, arr in zip(self.imgs, (c.dp_dt, -c.div_flux, c.residual), strict=True):
            img.set_data((arr / scale).numpy())
        rel = c.relative_residual
        ok = rel < HOLDS_BELOW
        self.meter_bar.set_width(min(max(math.log10(max(rel, 1e-12)), -5.0), 1.0) + 5.0)
        self.meter_bar.set_color(GREEN if ok else RED)
        self.status.set_text(("holds" if ok else "BROKEN") + f": {rel:.1e}")
        self.status.set_color(GREEN if ok else RED)
        how = BREAKS[v["how"]]
        broken = f"v broken ({how})" if v["broken"] else f"v = the marginal field (break: {how})"
        self.scale_text.set_text(f"{v['path']} path, t = {v['t']:.2f}; colour scale +-{scale:.2f}; {broken}")
        verdict = "the equation holds up to the grid" if ok else "v does not generate p_t"
        self.readout.value = (f"max |dp/dt| = {scale:.3f}, max |residual| = {float(c.residual.abs().max()):.2e}: "
                              f"ratio {rel:.1e} ({verdict})")


@demo(section="05", title="The continuity equation on a grid (break v to see it fail)", order=3)
def flow_continuity_demo(lecture: bool = False) -> ContinuityDemo:
    """dp_t/dt and -div(p_t v_t) for a Gaussian-mixture path; 'break v' turns the residual meter red."""
    return ContinuityDemo(lecture=lecture)


# --- 4. scrub t over a learned (or exact) field ----------------------------------------------

SCRUB_STEPS = 50
SCRUB_N = 600
SCRUB_LIM = 3.0
SCRUB_TRAILS = 30
N_EXACT_POINTS = 256


@lru_cache(maxsize=1)
def exact_fields() -> dict:
    """Closed-form fields for each 2-D target, no training: the exact marginal field of 256 target points
    (moons, checkerboard), the exact mixture field (eight Gaussians)."""
    fields = {}
    for name in data.TARGETS:
        if name == "eight_gaussians":
            fields[name] = flow_matching.mixture_field(data.eight_gaussians())
        else:
            pts = data.sample_target(name, N_EXACT_POINTS, seed=11).double()
            fields[name] = flow_matching.finite_set_field(pts)
    return fields


class FlowScrubDemo(FigureDemo):
    """Scrub t (or press Play): samples of p_t moving along precomputed trajectories, and the field v_t as arrows.

    ``fields``: name -> vector field ``v(x, t)`` (e.g. trained models); default: closed-form fields
    (:func:`exact_fields`). Trajectories and arrows of every target are computed when the demo is built, so
    that switching the target, like moving t, only looks them up.
    """

    title = "Scrub t: samples of p_t and the velocity field"
    caption = ("drag t (or press Play): the noise at t = 0 is carried by the field to the target at t = 1; the arrows "
               "are v_t at that time. Switch the target; tick 'trails' to follow 30 particles.")
    figsize = (6.4, 4.2)
    secondary = ("trails",)

    def __init__(self, *, lecture: bool = False, fields: dict | None = None, source: str | None = None):
        self.fields = dict(fields) if fields else exact_fields()
        self.source = source or ("the learned network" if fields else
                                 "the exact field (no training): 256 target points, or the mixture")
        self._cache: dict = {}
        _, self.q = flows.grid_points(SCRUB_LIM * 0.9, 13)
        self.q = self.q.float()
        self.x0 = torch.randn(SCRUB_N, 2, generator=torch.Generator().manual_seed(0))
        self.play = widgets.Play(value=0, min=0, max=SCRUB_STEPS, step=1, interval=120, description="play")
        for name in self.fields:
            self.precomputed(name)
        super().__init__(lecture=lecture)
        self.play.observe(lambda change: self._guarded(lambda: self._from_play(change["new"])), names="value")

    def _from_play(self, k: int):
        self.controls["t"].value = round(k / SCRUB_STEPS, 2)

    def _make_controls(self):
        s = self._style()
        return {
            "target": widgets.Dropdown(options=list(self.fields), value=next(iter(self.fields)), description="target",
                                       style=s),
            "t": widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=1 / SCRUB_STEPS, description="time t",
                                     style=s, readout_format=".2f"),
            "trails": widgets.Checkbox(value=False, description="trails", style=s),
        }

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["target"], c["t"], self.play, c["trails"]])]

    def precomputed(self, name: str) -> dict:
        """states (T, n, 2) and arrows (T, q, 2) of one target, computed once."""
        if name not in self._cache:
            field = self.fields[name]
            with torch.no_grad(), render.single_thread_torch():
                states = ode.integrate(field, self.x0, 0.0, 1.0, SCRUB_STEPS, "euler", return_path=True)
                times = ode.time_grid(SCRUB_STEPS).float()
                arrows = torch.stack([field(self.q, torch.full((len(self.q), 1), min(float(s), 0.995)))
                                      for s in times])
            shown = capped_arrows(arrows.reshape(-1, 2).double(), 0.35, 3.0).reshape(arrows.shape)
            self._cache[name] = {"states": states.float().numpy(), "arrows": shown,
                                 "data": (data.sample_target(name, 800, seed=1).numpy() if name in data.TARGETS
                                          else np.zeros((0, 2)))}
        return self._cache[name]

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.02, 0.62, 0.90])
        self.data_dots = ax.scatter(np.zeros(1), np.zeros(1), s=2, color=C["target"], alpha=0.25, lw=0)
        q = self.q.numpy()
        self.arrows = ax.quiver(q[:, 0], q[:, 1], np.zeros(len(q)), np.zeros(len(q)), color="#4c72b0", alpha=0.7,
                                angles="xy", scale_units="xy", scale=1.0, width=0.005)
        self.trails = LineCollection([], colors="#555", linewidths=0.7, alpha=0.8)
        ax.add_collection(self.trails)
        self.dots = ax.scatter(np.zeros(SCRUB_N), np.zeros(SCRUB_N), s=4, color=SAMPLE, lw=0)
        render.square_axes(ax, SCRUB_LIM)
        self.label = ax.text(0.02, 1.02, "", transform=ax.transAxes, fontsize=9)
        self.fig.text(0.66, 0.80, "red: samples x_t\nblue arrows: v_t(x)\nfaint blue: the target", fontsize=8)
        self.src_text = self.fig.text(0.66, 0.55, "", fontsize=8, wrap=True)
        self.live = [self.data_dots, self.arrows, self.trails, self.dots, self.label, self.src_text]

    def _update(self):
        v = self.values
        pre = self.precomputed(v["target"])
        k = int(round(v["t"] * SCRUB_STEPS))
        x = pre["states"][k]
        self.dots.set_offsets(x)
        a = pre["arrows"][k]
        self.arrows.set_UVC(a[:, 0], a[:, 1])
        if v["trails"]:
            self.trails.set_segments(list(np.transpose(pre["states"][: k + 1, :SCRUB_TRAILS], (1, 0, 2))))
        else:
            self.trails.set_segments([])
        self.data_dots.set_offsets(pre["data"])
        self.label.set_text(f"{v['target']}: t = {v['t']:.2f}")
        self.src_text.set_text("field:\n" + "\n".join(_wrap(self.source, 24)))
        self.readout.value = (f"t = {v['t']:.2f} (step {k} of {SCRUB_STEPS}, Euler); mean |x_t| = "
                              f"{float(np.linalg.norm(x, axis=1).mean()):.2f}; field: {self.source}")


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return [*lines, line]


@demo(section="05", title="Scrub t: samples of p_t and the velocity field", order=4)
def flow_scrub_demo(lecture: bool = False, fields: dict | None = None, source: str | None = None) -> FlowScrubDemo:
    """Scrub t over precomputed trajectories of a (learned, or by default exact) field; Play animates."""
    return FlowScrubDemo(lecture=lecture, fields=fields, source=source)


# --- 5. classifier-free guidance --------------------------------------------------------------

GUIDE_N = 500
GUIDE_STEPS = 25
GUIDE_LIM = 3.2
GUIDE_TRAILS = 25
DATA_STD = 0.2  # the labelled eight Gaussians' standard deviation


class GuidanceDemo(FigureDemo):
    """Classifier-free guidance: pick the label y and the scale w; samples from fixed noise (red) over the data.

    The field is (1 - w) v_t(x) + w v_t(x | y): a trained guided network (``run``), or the exact fields of the
    labelled mixture. Results are cached per (field, y, w). Attributes: ``samples`` (n, 2), and their ``share``,
    ``spread`` and ``drift`` (see :class:`~.flow_matching.GuidanceStats`).
    """

    title = "Classifier-free guidance: the label y and the scale w"
    caption = ("w = 0 ignores the label (all 8 modes), w = 1 samples the label's two modes, w > 1 pushes the samples "
               "away from the other labels: they concentrate (and drift outwards). Same noise for every w: follow a "
               "point with 'trails'.")
    figsize = (8.4, 3.9)
    secondary = ("trails",)

    def __init__(self, *, lecture: bool = False, run=None):
        self.run = run
        if run is not None:
            self.mixture, self.component_labels = run.mixture, run.component_labels
        else:
            self.mixture, self.component_labels = flow_matching.labelled_eight_gaussians()
        self.n_labels = int(self.component_labels.max()) + 1
        g = torch.Generator().manual_seed(0)
        self.data = self.mixture.sample(1200, g).float()
        self.data_labels = self.component_labels[torch.cdist(self.data.double(), self.mixture.means).argmin(1)]
        self._cache: dict = {}
        self._curve: dict = {}
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        controls = {
            "label": widgets.ToggleButtons(options=list(range(self.n_labels)), value=0, description="label y",
                                           style={"button_width": "36px", **s}),
            "w": widgets.FloatSlider(value=1.0, min=0.0, max=5.0, step=0.25, description="guidance w", style=s),
            "trails": widgets.Checkbox(value=False, description="trails", style=s),
        }
        if self.run is not None:
            controls["field"] = widgets.Dropdown(options=[("learned network", "learned"), ("exact fields", "exact")],
                                                 value="learned", description="field", style=s)
        return controls

    def _field(self, kind: str, y: int, w: float):
        if kind == "learned":
            return flow_matching.guided_field(self.run.model, y, w)
        return flow_matching.exact_guided_field(self.mixture, self.component_labels, y, w)

    def trajectories(self, kind: str, y: int, w: float) -> np.ndarray:
        """States (GUIDE_STEPS + 1, n, 2) from the fixed noise, cached."""
        key = (kind, y, round(w, 4))
        if key not in self._cache:
            states = flow_matching.sample_field(self._field(kind, y, w), GUIDE_N, seed=1, n_steps=GUIDE_STEPS,
                                                method="midpoint", return_path=True)
            self._cache[key] = states.float().numpy()
        return self._cache[key]

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.50, 0.88])
        cax = self.fig.add_axes([0.62, 0.16, 0.36, 0.68])
        d = self.data.numpy()
        self.others = ax.scatter(d[:, 0], d[:, 1], s=3, color=C["muted"], alpha=0.3, lw=0)
        self.mine = ax.scatter(d[:, 0], d[:, 1], s=3, color=C["target"], alpha=0.5, lw=0)
        self.trails = LineCollection([], colors="#555", linewidths=0.6, alpha=0.8)
        ax.add_collection(self.trails)
        self.dots = ax.scatter(np.zeros(GUIDE_N), np.zeros(GUIDE_N), s=5, color=SAMPLE, lw=0)
        render.square_axes(ax, GUIDE_LIM)
        self.label = ax.text(0.02, 1.02, "", transform=ax.transAxes, fontsize=9)
        (self.curve,) = cax.plot([], [], "o-", color=SAMPLE, ms=3, lw=1)
        self.marker = cax.scatter([1.0], [0.0], s=60, color="black", zorder=3)
        cax.set_xlim(-0.1, 5.1)
        cax.set_ylim(0, 0.45)
        cax.set_xlabel("guidance scale w")
        cax.set_title("spread of the samples around their modes' centres", fontsize=9)
        render.clean_axis(cax)
        self.live = [self.mine, self.trails, self.dots, self.label, self.curve, self.marker]

    def _update(self):
        v = self.values
        kind = v.get("field", "exact")
        y, w = int(v["label"]), float(v["w"])
        states = self.trajectories(kind, y, w)
        self.samples = torch.from_numpy(states[-1])
        self.dots.set_offsets(states[-1])
        self.trails.set_segments(list(np.transpose(states[:, :GUIDE_TRAILS], (1, 0, 2))) if v["trails"] else [])
        mask = (self.data_labels == y).numpy()
        self.mine.set_offsets(self.data.numpy()[mask])
        stats = flow_matching.guidance_statistics(self.samples, self.mixture, self.component_labels, y)
        self.share, self.spread, self.drift = stats.share, stats.spread, stats.drift
        curve = self._curve.setdefault((kind, y), {})
        curve[w] = self.spread
        ws = sorted(curve)
        self.curve.set_data(ws, [min(curve[k], 0.44) for k in ws])
        self.marker.set_offsets([[w, min(self.spread, 0.44)]])
        field = "learned network" if kind == "learned" else "exact fields"
        self.label.set_text(f"y = {y}, w = {w:g} ({field})")
        self.readout.value = (f"(1 - w) v(x) + w v(x | y) with w = {w:g}: {100 * self.share:.0f}% of the samples are "
                              f"nearest a mode of label {y}; spread {self.spread:.3f} (data: "
                              f"{math.sqrt(2) * DATA_STD:.2f}); pushed {self.drift:.2f} away from the modes' centres")


@demo(section="05", title="Classifier-free guidance: label y and scale w", order=5, simulates=True)
def flow_guidance_demo(lecture: bool = False, run=None) -> GuidanceDemo:
    """Pick a label and a guidance scale; samples from fixed noise with the exact or a learned guided field."""
    return GuidanceDemo(lecture=lecture, run=run)
