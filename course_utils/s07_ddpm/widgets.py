"""Section 07 demos (DDPM and DDIM): schedules at a chosen t, the reverse process as an animation, DDIM's
quality against its steps, the steps x eta sampler with the probability-flow ODE's Euler path, a Tweedie lens.

Demos that need trained models take them as arguments (the notebook passes its own); built alone (the demo
page, ``make bench``, the tests) they train small ones once per process (:func:`demo_runs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.patches import Circle

from ..data.digits import load_digits_split
from ..data.toy2d import eight_gaussians
from ..ui import render
from ..ui.base import FigureDemo
from ..ui.demos import demo
from .ddim import (
    DDIMQuality,
    ddim_quality,
    ddim_sample,
    euler_sigma_path,
    mixture_posterior,
    mixture_x0_mean,
    pf_ode_sample,
)
from .diffusion import DDPMRun, make_schedule, predict_x0, signed_to_pixels, train_ddpm_2d, train_ddpm_digits

__all__ = [
    "DDIMEtaDemo",
    "DDIMStepsDemo",
    "DDPMReverseDemo",
    "DDPMScheduleDemo",
    "DemoRuns",
    "TweedieLensDemo",
    "ddim_eta_demo",
    "ddim_steps_demo",
    "ddpm_reverse_demo",
    "ddpm_schedule_demo",
    "ddpm_tweedie_demo",
    "clear_demo_cache",
    "demo_runs",
]

C = render.COLORS
MODEL = "#c44e52"
LIM = 3.2
#: Training steps of the demos' own models (the notebook's recipes, :data:`~.diffusion.RECIPE_2D` and
#: ``RECIPE_DIGITS``, train 600 and 400): a demo page must load in seconds, so these are rougher (the learning
#: rate still decays to zero over the shorter runs). Tests may lower them (then call :func:`clear_demo_cache`).
DEMO_STEPS = {"2d": 400, "digits": 200}
STEP_CHOICES = (1, 2, 3, 5, 10, 20, 50, 100, 200)
#: The reverse-process demo's traces show the last this many frames (10 steps each).
TRAIL_FRAMES = 10
#: The Tweedie lens draws the network's x0_hat(x, s) only where abar_s >= this: dividing by a smaller
#: sqrt(abar_s) multiplies the network's small errors into noise.
NET_PATH_MIN_ABAR = 0.05


@dataclass(frozen=True)
class DemoRuns:
    """The two trained DDPMs the demos use, and the 2-D target they learned."""

    run_2d: DDPMRun
    run_digits: DDPMRun
    target: object


def clear_demo_cache() -> None:
    """Forget the demos' own models and what was computed from them (after changing :data:`DEMO_STEPS`)."""
    for cached in (demo_runs, _default_reverse_paths, _default_quality, _default_ode_solution):
        cached.cache_clear()


@lru_cache(maxsize=1)
def demo_runs() -> DemoRuns:
    """Train the demos' models once per process: the eight Gaussians and the digits (linear schedule, T = 1000)."""
    target = eight_gaussians()
    gen = torch.Generator().manual_seed(10)
    schedule = make_schedule("linear")
    run_2d = train_ddpm_2d(lambda n: target.sample(n, gen).float(), schedule, steps=DEMO_STEPS["2d"], progress=False)
    run_digits = train_ddpm_digits(load_digits_split().x_train, schedule, steps=DEMO_STEPS["digits"], progress=False)
    return DemoRuns(run_2d, run_digits, target)


@lru_cache(maxsize=1)
def _default_reverse_paths(n_shown: int = 400, n_digits: int = 16):
    """The demos' models sampled once with their paths (every 10 steps): (path_2d, path_digits, steps)."""
    runs = demo_runs()
    _, (path_2d, steps) = runs.run_2d.sample(n_shown, seed=3, return_path=True, path_every=10)
    _, (path_digits, _) = runs.run_digits.sample(n_digits, seed=4, return_path=True, path_every=10)
    return path_2d, path_digits, steps


@lru_cache(maxsize=1)
def _default_quality() -> DDIMQuality:
    """The steps demo's table for the demos' own models (smaller batches than the notebook's: a demo page is light)."""
    runs = demo_runs()
    return ddim_quality(runs.run_2d, runs.run_digits, runs.target, n_2d=300, n_digits=100)


def _ode_solution(run: DDPMRun, x_T: torch.Tensor) -> torch.Tensor:
    """An accurate solution of the probability-flow ODE from x_T: RK4 with 200 steps (800 network calls)."""
    return pf_ode_sample(run.model, x_T, run.schedule, n_steps=200, method="rk4").float()


@lru_cache(maxsize=2)
def _default_ode_solution(n: int) -> torch.Tensor:
    run = demo_runs().run_2d
    return _ode_solution(run, run.noise(n, seed=11))



def _data_points(target, n: int = 800, seed: int = 0) -> np.ndarray:
    return target.sample(n, torch.Generator().manual_seed(seed)).float().numpy()


# --- 1. schedules ------------------------------------------------------------------------------------


class DDPMScheduleDemo(FigureDemo):
    """abar_t and the SNR of the linear and cosine schedules, and what x_t looks like at the chosen t."""

    title = "Noise schedules: abar_t, the SNR, a digit and a point cloud at step t"
    caption = ("slide t: the digit and the eight Gaussians fade into N(0, I) as abar_t falls. Compare the schedules "
               "at t = 300: the linear one has already destroyed most of the signal (log SNR < 0), the cosine one "
               "keeps it until much later. At t = 1000 both are pure noise.")
    figsize = (9.0, 3.1)
    secondary = ("digit",)

    def __init__(self, *, lecture: bool = False):
        self.schedules = {name: make_schedule(name) for name in ("linear", "cosine")}
        split = load_digits_split()
        self.digits = split.x_test[:40].double() * 2 - 1
        self.digit_eps = torch.randn(1, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        self.cloud = torch.from_numpy(_data_points(eight_gaussians(), 600)).double()
        self.cloud_eps = torch.randn(600, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "t": widgets.IntSlider(value=250, min=0, max=1000, step=10, description="step t", style=s),
            "schedule": widgets.ToggleButtons(options=["linear", "cosine"], value="linear", description="schedule",
                                              style={"button_width": "70px", **s}),
            "digit": widgets.IntSlider(value=0, min=0, max=39, description="digit", style=s),
        }

    def _build_figure(self):
        ax_a = self.fig.add_axes([0.06, 0.57, 0.36, 0.33])
        ax_s = self.fig.add_axes([0.06, 0.13, 0.36, 0.33])
        t = np.arange(0, 1001)
        self.markers = {}
        for name, sched in self.schedules.items():
            abar = np.concatenate([[1.0], sched.abar.numpy()])
            color = "#4c72b0" if name == "linear" else "#dd8452"
            ax_a.plot(t, abar, color=color, lw=1.5, label=name)
            ax_s.plot(t[1:], np.log10(sched.snr.numpy()), color=color, lw=1.5)
            self.markers[name] = (ax_a.plot([0], [1], "o", color=color, ms=5)[0],
                                  ax_s.plot([1], [0], "o", color=color, ms=5)[0])
        self.vlines = [ax.axvline(0, color="#222", lw=0.8) for ax in (ax_a, ax_s)]
        ax_a.set_ylabel("abar_t", fontsize=8)
        ax_s.set_ylabel("log10 SNR", fontsize=8)
        ax_s.axhline(0, color=C["muted"], lw=0.6, ls=":")
        ax_s.set_ylim(-6, 5)
        ax_a.set_xticks([])
        ax_s.set_xlabel("step t", fontsize=8)
        ax_a.legend(fontsize=7, frameon=False, loc="upper right")
        for ax in (ax_a, ax_s):
            ax.set_xlim(0, 1000)
            ax.tick_params(labelsize=7)
            render.clean_axis(ax)
        ax_d = self.fig.add_axes([0.47, 0.1, 0.2, 0.76])
        ax_d.axis("off")
        self.digit_title = ax_d.set_title("", fontsize=8, y=1.01)
        self.digit_image = ax_d.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax_c = self.fig.add_axes([0.71, 0.06, 0.27, 0.84])
        render.square_axes(ax_c, LIM)
        ax_c.add_patch(Circle((0, 0), 2.0, fill=False, color=C["muted"], ls="--", lw=0.8))
        ax_c.set_title("eight Gaussians at t (dashed: 2 sd of N(0, I))", fontsize=7)
        self.points = ax_c.scatter(np.zeros(600), np.zeros(600), s=3, color=C["target"], lw=0)
        self.live = [*self.vlines, *(m for pair in self.markers.values() for m in pair), self.digit_image,
                     self.digit_title, self.points]

    def _abar(self, name: str, t: int) -> float:
        return 1.0 if t == 0 else float(self.schedules[name].abar[t - 1])

    def _update(self):
        v = self.values
        t = v["t"]
        for line in self.vlines:
            line.set_xdata([t, t])
        for name, (m_a, m_s) in self.markers.items():
            a = self._abar(name, t)
            m_a.set_data([t], [a])
            m_s.set_data([max(t, 1)], [math.log10(max(a, 1e-12) / max(1 - a, 1e-12)) if t else 5.0])
        a = self._abar(v["schedule"], t)
        x0 = self.digits[v["digit"]][None]
        x_t = math.sqrt(a) * x0 + math.sqrt(1 - a) * self.digit_eps
        self.digit_image.set_data(signed_to_pixels(x_t).reshape(8, 8).numpy())
        self.digit_title.set_text(f"a digit at t = {t} ({v['schedule']})")
        self.points.set_offsets((math.sqrt(a) * self.cloud + math.sqrt(1 - a) * self.cloud_eps).numpy())
        self.abar = a
        other = "cosine" if v["schedule"] == "linear" else "linear"
        snr = a / (1 - a) if a < 1 else float("inf")
        self.readout.value = (f"t = {t}, {v['schedule']}: abar_t = {a:.4g}, signal sqrt(abar_t) = {math.sqrt(a):.3f}, "
                              f"noise sd sqrt(1 - abar_t) = {math.sqrt(1 - a):.3f}, SNR = {snr:.3g} &nbsp; "
                              f"({other} at the same t: abar_t = {self._abar(other, t):.4g})")


@demo(section="07", title="Noise schedules: abar_t, the SNR, a digit and a point cloud at step t", order=1)
def ddpm_schedule_demo(lecture: bool = False) -> DDPMScheduleDemo:
    """Linear vs cosine schedule: abar_t and log SNR, a digit and the eight Gaussians noised to step t."""
    return DDPMScheduleDemo(lecture=lecture)


# --- 2. the reverse process ---------------------------------------------------------------------------


class DDPMReverseDemo(FigureDemo):
    """The ancestral sampler's trajectory, looked up frame by frame: 2-D points and digits from x_T to x_0."""

    title = "The reverse process: from noise to data, step by step"
    caption = ("press play (or drag the step): the cloud stays shapeless for hundreds of steps, then condenses onto "
               "the eight modes only in the last few hundred steps; the digits appear just as late. The traces "
               "follow a few points over their last 100 steps: every step adds fresh noise.")
    figsize = (9.0, 3.4)
    secondary = ("trails",)

    def __init__(self, *, lecture: bool = False, path_2d=None, path_digits=None, steps=None, target=None,
                 n_shown: int = 600, n_digits: int = 16):
        if path_2d is None or path_digits is None or steps is None:
            path_2d, path_digits, steps = _default_reverse_paths()
            target = demo_runs().target
        self.path_2d = path_2d[:, :n_shown].float().numpy()
        self.path_digits = signed_to_pixels(path_digits[:, :n_digits]).numpy()
        self.steps = [int(s) for s in steps]
        self.data = _data_points(target if target is not None else eight_gaussians())
        self.trail_ids = np.arange(0, self.path_2d.shape[1], max(1, self.path_2d.shape[1] // 12))[:12]
        self.play = widgets.Play(value=0, min=0, max=len(self.steps) - 1, step=1, interval=120, description="play")
        self.play.observe(lambda change: self._guarded(lambda: setattr(self.controls["frame"], "value",
                                                                       change["new"])), names="value")
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "frame": widgets.IntSlider(value=0, min=0, max=len(self.steps) - 1, description="frame", style=s,
                                       readout=False),
            "trails": widgets.Checkbox(value=True, description="trails", style=s),
        }

    def _control_rows(self):
        return [widgets.HBox([self.play, self.controls["frame"], self.controls["trails"]])]

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.4, 0.85])
        render.square_axes(ax, LIM)
        ax.scatter(self.data[:, 0], self.data[:, 1], s=3, color=C["target"], alpha=0.25, lw=0)
        self.points = ax.scatter(np.zeros(self.path_2d.shape[1]), np.zeros(self.path_2d.shape[1]), s=3, color=MODEL,
                                 lw=0)
        self.trails = LineCollection([], colors="#333", linewidths=0.7, alpha=0.8)
        ax.add_collection(self.trails)
        self.status = ax.set_title("", fontsize=9, y=1.01)  # a fixed y: no automatic title placement
        ax_d = self.fig.add_axes([0.45, 0.05, 0.53, 0.8])
        ax_d.axis("off")
        per_row = 8
        self.per_row = per_row
        self.digit_image = ax_d.imshow(render.digit_grid(self.path_digits[0], per_row), cmap="gray_r", vmin=0, vmax=1,
                                       interpolation="nearest")
        ax_d.set_title("digits, same steps", fontsize=9)
        self.live = [self.points, self.trails, self.status, self.digit_image]

    def _update(self):
        v = self.values
        k = v["frame"]
        t = self.steps[k]
        self.points.set_offsets(self.path_2d[k])
        first = max(0, k - TRAIL_FRAMES)
        self.trails.set_segments([self.path_2d[first: k + 1, i] for i in self.trail_ids] if v["trails"] else [])
        self.digit_image.set_data(render.digit_grid(self.path_digits[k], self.per_row))
        self.status.set_text(f"x_t at t = {t}" + ("  (x_T ~ N(0, I))" if k == 0 else "  (samples)" if t == 0 else ""))
        spread = float(np.linalg.norm(self.path_2d[k], axis=1).mean())
        self.readout.value = (f"step t = {t} (frame {k} of {len(self.steps) - 1}); "
                              f"mean distance to the origin {spread:.2f}")


@demo(section="07", title="The reverse process: from noise to data, step by step", order=2)
def ddpm_reverse_demo(lecture: bool = False, path_2d=None, path_digits=None, steps=None,
                      target=None) -> DDPMReverseDemo:
    """Play the ancestral sampler's trajectory (precomputed): 2-D samples and digits at each step t."""
    return DDPMReverseDemo(lecture=lecture, path_2d=path_2d, path_digits=path_digits, steps=steps, target=target)


# --- 3. DDIM: quality against steps ------------------------------------------------------------------


class DDIMStepsDemo(FigureDemo):
    """DDIM samples of both models for a chosen number of steps, looked up, beside their distance to the ODE."""

    title = "DDIM: sample quality against the number of steps"
    caption = ("slide the number of steps: one step jumps from x_T straight to x0_hat, dividing by sqrt(abar_T) = "
               "0.006, so the 2-D points fly off the plot and the digits' pixels saturate (clipped noise); by 10 "
               "to 20 steps the modes and digits are back, for a fiftieth of the 1000 network calls of ancestral "
               "sampling.")
    figsize = (9.0, 3.2)

    def __init__(self, *, lecture: bool = False, quality: DDIMQuality | None = None, target=None):
        if quality is None:
            quality, target = _default_quality(), demo_runs().target
        self.quality = quality
        self.steps = sorted(quality.ode_gap)
        self.data = _data_points(target if target is not None else eight_gaussians())
        super().__init__(lecture=lecture)

    def _make_controls(self):
        return {"steps": widgets.SelectionSlider(options=self.steps, value=self.steps[len(self.steps) // 2],
                                                 description="DDIM steps", style=self._style())}

    def _build_figure(self):
        q = self.quality
        ax = self.fig.add_axes([0.01, 0.04, 0.3, 0.84])
        render.square_axes(ax, LIM)
        ax.scatter(self.data[:, 0], self.data[:, 1], s=3, color=C["target"], alpha=0.25, lw=0)
        n = next(iter(q.sweep_2d.samples.values())).shape[0]
        self.points = ax.scatter(np.zeros(n), np.zeros(n), s=3, color=MODEL, lw=0)
        ax.set_title("2-D samples (red) over data", fontsize=8)
        ax_d = self.fig.add_axes([0.33, 0.06, 0.3, 0.8])
        ax_d.axis("off")
        self.digit_image = ax_d.imshow(render.digit_grid(np.zeros((24, 64)), 6), cmap="gray_r", vmin=0, vmax=1,
                                       interpolation="nearest")
        ax_d.set_title("digit samples", fontsize=8)
        ax_q = self.fig.add_axes([0.71, 0.17, 0.27, 0.68])
        ax_q.loglog(self.steps, [q.ode_gap[k] for k in self.steps], "o-", color=MODEL, ms=3, lw=1)
        ax_q.set_xlabel("steps", fontsize=8)
        ax_q.set_title("mean distance to the ODE's solution", fontsize=8)
        ax_q.tick_params(labelsize=7)
        render.clean_axis(ax_q)
        (self.marker,) = ax_q.plot([self.steps[0]], [q.ode_gap[self.steps[0]]], "o", color="#222", ms=7, mfc="none")
        self.live = [self.points, self.digit_image, self.marker]

    def _update(self):
        q, k = self.quality, self.values["steps"]
        self.points.set_offsets(q.sweep_2d.samples[k].float().numpy())
        self.digit_image.set_data(render.digit_grid(signed_to_pixels(q.sweep_digits.samples[k][:24]).numpy(), 6))
        self.marker.set_data([k], [q.ode_gap[k]])
        self.readout.value = (f"{k} steps: mean distance to the ODE's solution {q.ode_gap[k]:.3f}, 2-D batch "
                              f"sampled in "
                              f"{1000 * q.sweep_2d.seconds[k]:.0f} ms; digits: distance ratio to real digits "
                              f"{q.digits[k].ratio:.2f} (real digits about 1, budget {q.digits[k].budget:g}), "
                              f"{100 * q.saturated[k]:.0f}% of pixels saturated")


@demo(section="07", title="DDIM: sample quality against the number of steps", order=3)
def ddim_steps_demo(lecture: bool = False, quality: DDIMQuality | None = None, target=None) -> DDIMStepsDemo:
    """Look up DDIM samples (2-D and digits) for 1 to 1000 steps, with their distance to the ODE's solution."""
    return DDIMStepsDemo(lecture=lecture, quality=quality, target=target)


# --- 4. steps x eta, with the probability-flow ODE's Euler path -------------------------------------------


class DDIMEtaDemo(FigureDemo):
    """DDIM(steps, eta) from one shared starting noise, with Euler's method on the probability-flow ODE overlaid.

    Attributes: ``x_T`` (n, 2), the shared starting noise; ``exact`` (n, 2), the accurate solution of the ODE
    from it (RK4 with 200 steps, :func:`~.ddim.pf_ode_sample`); after each redraw, ``gap_euler``
    (mean distance between the DDIM and Euler end points) and ``gap_ode`` (mean distance to ``exact``).
    """

    title = "DDIM's steps and eta, against Euler's method on the probability-flow ODE"
    caption = ("at eta = 0 the dashed Euler paths lie exactly under DDIM's (a gap of about 1e-7, float rounding): "
               "DDIM is Euler's method on the probability-flow ODE. More steps move both towards the exact ODE "
               "solution (right). Raise eta: DDIM adds fresh noise at each step and leaves the ODE's paths; "
               "eta = 1 is DDPM-like sampling.")
    figsize = (9.0, 3.6)
    secondary = ("euler",)

    def __init__(self, *, lecture: bool = False, run_2d: DDPMRun | None = None, target=None, n: int = 300,
                 n_paths: int = 14, x_T: torch.Tensor | None = None, exact: torch.Tensor | None = None):
        if exact is not None and (x_T is None or tuple(exact.shape) != tuple(x_T.shape)):
            raise ValueError("exact is the ODE solution from x_T: pass both, of the same shape (n, 2)")
        own = run_2d is None
        if own:
            runs = demo_runs()
            run_2d, target = runs.run_2d, runs.target
        self.run, self.schedule = run_2d, run_2d.schedule
        self.x_T = run_2d.noise(n, seed=11) if x_T is None else x_T.float()
        self.n_paths = min(n_paths, len(self.x_T))
        self.data = _data_points(target if target is not None else eight_gaussians())
        if exact is not None:
            self.exact = exact.float()
        elif own and x_T is None:
            self.exact = _default_ode_solution(n)
        else:
            self.exact = _ode_solution(run_2d, self.x_T)
        with render.single_thread_torch():
            self.curve = {k: self._gap(ddim_sample(run_2d.model, self.x_T, self.schedule, k)) for k in STEP_CHOICES}
        super().__init__(lecture=lecture)

    def _gap(self, x: torch.Tensor) -> float:
        return float((x.float() - self.exact).norm(dim=1).mean())

    def _make_controls(self):
        s = self._style()
        return {
            "eta": widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.1, description="eta", style=s),
            "steps": widgets.SelectionSlider(options=list(STEP_CHOICES), value=10, description="steps", style=s),
            "euler": widgets.Checkbox(value=True, description="Euler paths", style=s),
        }

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.5, 0.87])
        render.square_axes(ax, LIM)
        ax.scatter(self.data[:, 0], self.data[:, 1], s=3, color=C["target"], alpha=0.2, lw=0)
        starts = self.x_T[: self.n_paths].numpy()
        ax.scatter(starts[:, 0], starts[:, 1], s=8, color="#777", lw=0)
        self.points = ax.scatter(np.zeros(len(self.x_T)), np.zeros(len(self.x_T)), s=4, color=MODEL, lw=0)
        self.ddim_paths = LineCollection([], colors=MODEL, linewidths=1.2)
        self.euler_paths = LineCollection([], colors="#111", linewidths=1.0, linestyles="--")
        ax.add_collection(self.ddim_paths)
        ax.add_collection(self.euler_paths)
        ax.set_title("DDIM (red) and Euler on the PF-ODE (dashed), from shared noise (grey)", fontsize=8)
        ax_g = self.fig.add_axes([0.6, 0.16, 0.38, 0.7])
        ks = list(self.curve)
        ax_g.loglog(ks, [max(self.curve[k], 1e-9) for k in ks], "o-", color=MODEL, ms=3, lw=1,
                    label="DDIM, eta = 0")
        ax_g.set_xlabel("steps", fontsize=8)
        ax_g.set_ylabel("mean |x_0 - x_0 of the exact ODE|", fontsize=7)
        ax_g.tick_params(labelsize=7)
        ax_g.set_ylim(min(self.curve.values()) / 3, 10)
        render.clean_axis(ax_g)
        (self.marker,) = ax_g.plot([10], [1.0], "o", color="#222", ms=8, mfc="none", label="current (steps, eta)")
        ax_g.legend(fontsize=7, frameon=False, loc="upper right")
        self.live = [self.points, self.ddim_paths, self.euler_paths, self.marker]

    def _update(self):
        v = self.values
        k, eta = v["steps"], v["eta"]
        gen = torch.Generator().manual_seed(100)  # the same z at every redraw: only steps and eta change
        x0, path = ddim_sample(self.run.model, self.x_T, self.schedule, k, eta, gen, return_path=True)
        euler = euler_sigma_path(self.run.model, self.x_T, self.schedule, k)
        self.gap_euler = float((x0 - euler[-1]).norm(dim=1).mean())
        self.gap_ode = self._gap(x0)
        p = path[:, : self.n_paths].numpy()
        e = euler[:, : self.n_paths].numpy()
        self.points.set_offsets(x0.numpy())
        self.ddim_paths.set_segments([p[:, i] for i in range(self.n_paths)])
        self.euler_paths.set_segments([e[:, i] for i in range(self.n_paths)] if v["euler"] else [])
        self.marker.set_data([k], [max(self.gap_ode, 1e-9)])
        self.readout.value = (f"{k} steps, eta = {eta:.1f}: DDIM vs Euler on the PF-ODE (same steps, same start): "
                              f"mean gap <b>{self.gap_euler:.1e}</b>; DDIM vs the accurate ODE solution: "
                              f"{self.gap_ode:.3f}")


@demo(section="07", title="DDIM's steps and eta, against Euler's method on the probability-flow ODE", order=4,
      simulates=True)
def ddim_eta_demo(lecture: bool = False, run_2d: DDPMRun | None = None, target=None, x_T=None,
                  exact=None) -> DDIMEtaDemo:
    """Steps x eta DDIM sampler from shared noise, the PF-ODE's Euler paths overlaid and the gap printed.

    ``x_T`` (n, 2): the shared starting noise (default ``run_2d.noise(300, seed=11)``); ``exact`` (n, 2): the
    accurate ODE solution from it, when already computed (else RK4 with 200 steps here).
    """
    return DDIMEtaDemo(lecture=lecture, run_2d=run_2d, target=target, x_T=x_T, exact=exact)


# --- 5. the Tweedie lens --------------------------------------------------------------------------------


class TweedieLensDemo(FigureDemo):
    """Pick a noisy point x and a step t: Tweedie's estimate E[x_0 | x_t = x], exact and the network's.

    The heatmap is the exact marginal p_t of the eight Gaussians; the curve is x0_hat(x, s) for every
    step s from T down to 1 at the chosen point. Attributes: ``x0_exact``, ``x0_net`` (2,), ``weights`` (8,).
    """

    title = "A Tweedie lens: the best guess of x_0 from a noisy point"
    caption = ("predict first: where is the best guess of x_0 for a point seen at t = 1000? Then slide t down: "
               "x0_hat starts at the data mean (0, 0), and as the noise shrinks the posterior weights (right) pick "
               "one mode and x0_hat moves onto it. Move the point between two modes to watch them compete.")
    figsize = (9.0, 3.6)
    secondary = ("network",)
    grid_n = 56

    def __init__(self, *, lecture: bool = False, run_2d: DDPMRun | None = None, mixture=None):
        if run_2d is None:
            runs = demo_runs()
            run_2d, mixture = runs.run_2d, runs.target
        self.run, self.schedule = run_2d, run_2d.schedule
        self.mixture = mixture if mixture is not None else eight_gaussians()
        axis = torch.linspace(-LIM, LIM, self.grid_n, dtype=torch.float64)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        self.grid = torch.stack([xx.flatten(), yy.flatten()], 1)
        self.all_steps = torch.arange(self.schedule.T, 0, -1)
        self._path_key = None
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "x": widgets.FloatSlider(value=1.2, min=-3.0, max=3.0, step=0.1, description="point x", style=s),
            "y": widgets.FloatSlider(value=0.9, min=-3.0, max=3.0, step=0.1, description="point y", style=s),
            "t": widgets.IntSlider(value=700, min=1, max=self.schedule.T, step=1, description="step t", style=s),
            "network": widgets.Checkbox(value=True, description="network's estimate", style=s),
        }

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["x"], c["y"]]), widgets.HBox([c["t"], c["network"]])]

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.5, 0.87])
        self.heat = ax.imshow(np.zeros((self.grid_n, self.grid_n)), extent=(-LIM, LIM, -LIM, LIM), origin="lower",
                              cmap="Blues", vmin=0, vmax=1, interpolation="bilinear")
        render.square_axes(ax, LIM)
        m = self.mixture.means.numpy()
        modes = ax.scatter(m[:, 0], m[:, 1], s=25, facecolors="none", edgecolors="#555", lw=0.8)
        (mean_star,) = ax.plot([0], [0], "*", color="#555", ms=9, label="data mean")
        (self.exact_path,) = ax.plot([], [], color="#222", lw=1.2, label="exact x0_hat(x, s),\ns = T..1")
        (self.net_path,) = ax.plot([], [], color=MODEL, lw=1.0, ls="--", label="network's, where\nabar_s >= 0.05")
        (self.point,) = ax.plot([0], [0], "o", color="#e8a33c", ms=8, mec="#222", label="noisy point x")
        (self.exact_now,) = ax.plot([0], [0], "X", color="#222", ms=9)
        (self.net_now,) = ax.plot([0], [0], "P", color=MODEL, ms=8)
        self.status = ax.set_title("", fontsize=8, y=1.01)  # a fixed y: no automatic title placement
        # the legend sits outside the heatmap, so it can stay in the (cheap) frozen background
        ax.legend(fontsize=6, frameon=False, loc="lower left", bbox_to_anchor=(1.0, 0.0))
        ax_w = self.fig.add_axes([0.66, 0.16, 0.32, 0.7])
        k = len(self.mixture.weights)
        self.bars = ax_w.bar(range(k), np.zeros(k), color=C["target"])
        ax_w.set_ylim(0, 1)
        ax_w.set_xticks(range(k))
        ax_w.set_xlabel("mode k of the eight Gaussians", fontsize=8)
        ax_w.set_title("posterior weights p(k | x_t = x)", fontsize=8)
        ax_w.axhline(1 / k, color=C["muted"], ls=":", lw=0.8)
        ax_w.tick_params(labelsize=7)
        render.clean_axis(ax_w)
        # everything on the heatmap is live: the frozen background is drawn below the live artists
        self.live = [self.heat, modes, mean_star, self.exact_path, self.net_path, self.point, self.exact_now,
                     self.net_now, self.status, *self.bars]

    def _paths(self, x: torch.Tensor):
        """x0_hat(x, s) for s = T..1, exact and the network's: (T, 2) each; cached per point."""
        key = tuple(x.tolist())
        if key != self._path_key:
            rep = x.expand(self.schedule.T, 2)
            self._exact = mixture_x0_mean(rep, self.all_steps, self.mixture, self.schedule).numpy()
            with torch.no_grad():
                eps = self.run.model(rep.float(), self.all_steps)
            self._net = predict_x0(rep.float(), self.all_steps, eps, self.schedule).numpy()
            self._net_shown = (self.schedule.abar[self.all_steps - 1] >= NET_PATH_MIN_ABAR).numpy()
            self._path_key = key
        return self._exact, self._net

    def _update(self):
        v = self.values
        t = v["t"]
        x = torch.tensor([[v["x"], v["y"]]], dtype=torch.float64)
        exact, net = self._paths(x)
        i = self.schedule.T - t                     # row of step t (rows run from T down to 1)
        a = float(self.schedule.abar[t - 1])
        var = a * self.mixture.variances + 1 - a
        sq = ((self.grid[:, None, :] - math.sqrt(a) * self.mixture.means[None]) ** 2).sum(-1)
        density = (self.mixture.weights * torch.exp(-0.5 * sq / var) / (2 * math.pi * var)).sum(1)
        self.heat.set_data((density / density.max()).reshape(self.grid_n, self.grid_n).numpy())
        self.exact_path.set_data(exact[:, 0], exact[:, 1])
        self.net_path.set_data(net[self._net_shown, 0], net[self._net_shown, 1])
        for artist in (self.net_path, self.net_now):
            artist.set_visible(v["network"])
        self.point.set_data([v["x"]], [v["y"]])
        self.exact_now.set_data([exact[i, 0]], [exact[i, 1]])
        self.net_now.set_data([net[i, 0]], [net[i, 1]])
        weights, _ = mixture_posterior(x, t, self.mixture, self.schedule)
        self.weights = weights[0]
        for bar, w in zip(self.bars, self.weights.tolist(), strict=True):
            bar.set_height(w)
        self.x0_exact, self.x0_net = torch.from_numpy(exact[i]), torch.from_numpy(net[i])
        self.status.set_text(f"p_t at t = {t} (abar_t = {a:.3g}) and x0_hat at the point")
        self.readout.value = (f"t = {t}: exact x0_hat = ({exact[i, 0]:.2f}, {exact[i, 1]:.2f}), network's "
                              f"({net[i, 0]:.2f}, {net[i, 1]:.2f}); distance from the data mean "
                              f"{float(np.linalg.norm(exact[i])):.2f}; most likely mode {int(self.weights.argmax())} "
                              f"(weight {float(self.weights.max()):.2f})")


@demo(section="07", title="A Tweedie lens: the best guess of x_0 from a noisy point", order=5)
def ddpm_tweedie_demo(lecture: bool = False, run_2d: DDPMRun | None = None, mixture=None) -> TweedieLensDemo:
    """Pick a noisy point and a step: exact and learned E[x_0 | x_t] over the exact p_t, and the mode weights."""
    return TweedieLensDemo(lecture=lecture, run_2d=run_2d, mixture=mixture)
