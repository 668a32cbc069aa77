"""SDE and Langevin demos: the Langevin lab, ODE vs SDE for every sigma, and three dynamics with one marginal."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.patches import Circle

from ..core.ode import integrate
from ..data.mixtures import GaussianMixture
from ..data.toy2d import eight_gaussians
from ..ui import render
from ..ui.base import FigureDemo
from ..ui.demos import demo
from . import sde
from .langevin import langevin_chain, max_stable_step, tempered_marginal, two_gaussians

__all__ = [
    "LangevinLabDemo",
    "ODEToSDEDemo",
    "ThreeDynamicsDemo",
    "langevin_lab_demo",
    "ode_to_sde_demo",
    "three_dynamics_demo",
]

C = render.COLORS
PARTICLE = "#c44e52"
ODE_COLOR = "#555555"
DIVERGED = 50.0  # a coordinate beyond this (or not finite) counts as diverged


def _score_fn(mixture: GaussianMixture) -> sde.MixtureScore:
    return sde.MixtureScore(mixture.weights, mixture.means, mixture.variances)


def _grid(lim: float, size: int) -> tuple[np.ndarray, torch.Tensor]:
    axis = torch.linspace(-lim, lim, size, dtype=torch.float64)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return axis.numpy(), torch.stack([xx.flatten(), yy.flatten()], 1)


# --- the Langevin lab ----------------------------------------------------------------------------

LIM = 4.0
N_PARTICLES = 400
K_MAX = 600
BINS = np.linspace(-LIM, LIM, 41)
STARTS = {"broad: N(0, 4 I)": "broad", "one corner: (-3, 3)": "corner"}


class LangevinLabDemo(FigureDemo):
    r"""Langevin dynamics on the lecture's mixture of two Gaussians.

    400 particles follow :math:`X \leftarrow X + \eta \nabla\log p(X) + \sqrt{2\alpha}\,\xi` from a fixed start
    with fixed noise. Left: the particles after K steps over p's contours, and one particle's last step:
    its drift arrow :math:`\eta\nabla\log p` and the disk of radius :math:`\sqrt{2\alpha}` (one standard deviation
    of the noise). Right: the histogram of the first coordinate against p and against the tempered
    :math:`p^{\eta/\alpha}`. Chains are cached per (eta, temperature, start): moving K only looks up.
    Attributes after a redraw: ``x`` (the particles, (400, 2)), ``diverged`` (how many), ``l1_p``, ``l1_tempered``.
    """

    title = "Langevin lab: step, temperature, and one step's drift and noise"
    caption = ("with the noise matched (temperature 1) the histogram follows p; raise the temperature alpha/eta and "
               "it follows the flatter p^(eta/alpha) instead, lower it and the modes sharpen. A larger step biases "
               "the chain long before it breaks (the narrow mode loses mass already at eta = 0.2); past "
               "2 s^2 = 0.9 (s^2 of the wider mode) it diverges. Step K by K to watch one particle's "
               "drift arrow and noise disk.")
    figsize = (9.0, 3.8)
    secondary = ("start",)

    def __init__(self, *, lecture: bool = False, seed: int = 0):
        self.mixture = two_gaussians()
        self.score = _score_fn(self.mixture)
        g = torch.Generator().manual_seed(seed)
        self.starts = {"broad": 2.0 * torch.randn(N_PARTICLES, 2, generator=g, dtype=torch.float64),
                       "corner": torch.tensor([-3.0, 3.0], dtype=torch.float64).expand(N_PARTICLES, 2).clone()}
        self.noise_seed = seed + 1
        self._chains: dict[tuple, torch.Tensor] = {}
        centers = 0.5 * (BINS[1:] + BINS[:-1])
        self.centers = torch.from_numpy(centers)
        self.other = torch.linspace(-7.0, 7.0, 281, dtype=torch.float64)
        self._marginals: dict[float, np.ndarray] = {}
        self.p_marginal = self._tempered(1.0)
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "eta": widgets.FloatLogSlider(value=0.05, base=10, min=-3, max=0.2, step=0.1, description="step η",
                                          readout_format=".3f", style=s),
            "temperature": widgets.FloatSlider(value=1.0, min=0.25, max=4.0, step=0.25,
                                               description="noise α / η (temperature)", style=s),
            "steps": widgets.IntSlider(value=300, min=0, max=K_MAX, step=10, description="steps K", style=s),
            "one_step": widgets.Checkbox(value=True, description="show one step (drift arrow, noise disk)", style=s),
            "start": widgets.Dropdown(options=list(STARTS.items()), value="broad", description="start", style=s),
        }

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["eta"], c["temperature"], c["steps"]]), widgets.HBox([c["one_step"], c["start"]])]

    def chain(self, eta: float, temperature: float, start: str, k: int) -> torch.Tensor:
        """The states 0..k of the cached chain for these settings, shape (k + 1, 400, 2).

        The noise comes from one seeded generator, so a longer chain extends a shorter one; a chain is
        computed to at least twice the length cached before (at most K_MAX), so sweeping K costs little.
        """
        key = (round(eta, 10), round(temperature, 10), start)
        have = self._chains.get(key)
        if have is None or len(have) <= k:
            length = min(K_MAX, max(k, 2 * (len(have) - 1) if have is not None else k, 50))
            g = torch.Generator().manual_seed(self.noise_seed)
            path = langevin_chain(self.score, self.starts[start], eta, length, alpha=temperature * eta,
                                  generator=g, return_path=True)
            if len(self._chains) > 8:
                self._chains.clear()
            self._chains[key] = have = path
        return have[: k + 1]

    def _build_figure(self):
        ax = self.fig.add_axes([0.01, 0.03, 0.44, 0.88])
        hist = self.fig.add_axes([0.54, 0.13, 0.44, 0.72])
        axis, pts = _grid(LIM, 120)
        dens = self.mixture.log_prob(pts).exp().reshape(120, 120).numpy()
        ax.contour(axis, axis, dens, levels=6, colors=C["target"], linewidths=0.8, alpha=0.7)
        self.points = ax.scatter(np.zeros(N_PARTICLES), np.zeros(N_PARTICLES), s=4, color=PARTICLE, lw=0, alpha=0.6)
        (self.trail,) = ax.plot([], [], color="#222", lw=0.8, alpha=0.7)
        (self.hero,) = ax.plot([0], [0], "o", color="#222", ms=5)
        self.arrow = ax.quiver([0.0], [0.0], [0.0], [0.0], angles="xy", scale_units="xy", scale=1.0, width=0.008,
                               color="#1b7837", zorder=5)
        self.disk = Circle((0.0, 0.0), 0.1, facecolor="#1b7837", alpha=0.18, edgecolor="#1b7837", lw=1)
        ax.add_patch(self.disk)
        (self.next_point,) = ax.plot([0], [0], "x", color="#1b7837", ms=6, mew=1.5)
        ax.set_xlim(-LIM, LIM)
        ax.set_ylim(-LIM, LIM)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.02, 0.98, "contours: p", transform=ax.transAxes, va="top", fontsize=8, color=C["target"])
        ax.text(0.98, 0.02, "arrow: η ∇log p · disk: radius √(2α)", transform=ax.transAxes, ha="right", fontsize=7,
                color="#1b7837")
        width = BINS[1] - BINS[0]
        self.bars = hist.bar(self.centers.numpy(), np.zeros(len(self.centers)), width=width * 0.95,
                             color=PARTICLE, alpha=0.45, label="particles (1st coordinate)")
        hist.plot(self.centers.numpy(), self.p_marginal, color=C["target"], lw=2, label="p")
        (self.tempered_line,) = hist.plot(self.centers.numpy(), self.p_marginal, color="#222", lw=1.5, ls="--",
                                          label="tempered p^(η/α)")
        hist.set_xlim(-LIM, LIM)
        hist.set_ylim(0, 0.8)
        hist.legend(fontsize=7, frameon=False, loc="upper left")
        render.clean_axis(hist, yticks=False)
        self.status = self.fig.text(0.54, 0.93, "", fontsize=9)
        self.alarm = self.fig.text(0.54, 0.87, "", fontsize=9, color="#b00", fontweight="bold")
        self.live = [self.points, self.trail, self.hero, self.arrow, self.disk, self.next_point, *self.bars,
                     self.tempered_line, self.status, self.alarm]

    def _update(self):
        v = self.values
        eta, temp, k = v["eta"], v["temperature"], v["steps"]
        alpha = temp * eta
        path = self.chain(eta, temp, v["start"], k)
        x = path[-1]
        ok = torch.isfinite(x).all(1) & (x.abs() < DIVERGED).all(1)
        self.x, self.diverged = x, int((~ok).sum())
        shown = x[ok].numpy()
        self.points.set_offsets(shown if len(shown) else np.zeros((0, 2)))
        counts, _ = np.histogram(shown[:, 0], bins=BINS)
        density = counts / (max(len(shown), 1) * (BINS[1] - BINS[0]))
        for bar, h in zip(self.bars, np.minimum(density, 0.8), strict=True):
            bar.set_height(h)
        tempered = self._tempered(1.0 / temp)
        self.tempered_line.set_ydata(tempered)
        width = BINS[1] - BINS[0]
        self.l1_p = float(np.abs(density - self.p_marginal).sum() * width)
        self.l1_tempered = float(np.abs(density - tempered).sum() * width)
        # one particle (the first that has not diverged): its last steps, its drift arrow and noise disk
        hero = int(torch.nonzero(ok)[0]) if ok.any() else 0
        hero_path = path[-30:, hero].clamp(-DIVERGED, DIVERGED).numpy()
        here = torch.nan_to_num(path[-1, hero:hero + 1], nan=0.0).clamp(-DIVERGED, DIVERGED)
        drift = eta * self.score(here)
        self.trail.set_data(hero_path[:, 0], hero_path[:, 1])
        self.hero.set_data([float(here[0, 0])], [float(here[0, 1])])
        self.arrow.set_offsets(here.numpy())
        self.arrow.set_UVC([float(drift[0, 0])], [float(drift[0, 1])])
        centre = (here + drift)[0].numpy()
        self.disk.set_center((float(centre[0]), float(centre[1])))
        self.disk.set_radius(math.sqrt(2 * alpha))
        g = torch.Generator().manual_seed(self.noise_seed + 7 + k)
        nxt = centre + math.sqrt(2 * alpha) * torch.randn(2, generator=g, dtype=torch.float64).numpy()
        self.next_point.set_data([nxt[0]], [nxt[1]])
        for artist in (self.arrow, self.disk, self.next_point):
            artist.set_visible(v["one_step"] and bool(ok.any()))
        for artist in (self.trail, self.hero):
            artist.set_visible(bool(ok.any()))
        limit = max_stable_step(float(self.mixture.variances.max()))
        broken = self.diverged > 0 or eta >= limit
        self.status.set_text(f"K = {k} · η = {eta:.3f} · α = {alpha:.3f} · T = α/η = {temp:g}")
        self.alarm.set_text(f"BROKEN: η ≥ 2 s² = {limit:.2f}, {self.diverged} particles diverged" if broken else "")
        left = float((x[ok][:, 0] < 0).double().mean()) if ok.any() else float("nan")
        self.readout.value = (
            f"share of particles with x₁ &lt; 0: {left:.2f} (p: {self._left_share(1.0):.2f}, "
            f"p^(η/α): {self._left_share(1 / temp):.2f}) &nbsp; L1 distance of the histogram to p: {self.l1_p:.2f}, "
            f"to p^(η/α): {self.l1_tempered:.2f} &nbsp; diverged: {self.diverged}/{N_PARTICLES} "
            f"(a Gaussian of variance s² is stable only for η &lt; 2 s² = {limit:.2f} here)")

    def _tempered(self, power: float) -> np.ndarray:
        key = round(power, 10)
        if key not in self._marginals:
            self._marginals[key] = tempered_marginal(self.mixture, power, self.centers, self.other).numpy()
        return self._marginals[key]

    def _left_share(self, power: float) -> float:
        return float((self._tempered(power) * (self.centers < 0).numpy()).sum() * (BINS[1] - BINS[0]))


@demo(section="06", title="Langevin lab: step size, temperature, one step's drift and noise", order=1, simulates=True)
def langevin_lab_demo(lecture: bool = False) -> LangevinLabDemo:
    """Langevin chains on a 2-D mixture: step, noise scale (temperature) and number of steps."""
    return LangevinLabDemo(lecture=lecture)


# --- ODE vs SDE for every sigma -----------------------------------------------------------------

BOX = 3.2
N_SDE = 400
N_STEPS = 200


class ODEToSDEDemo(FigureDemo):
    r"""Theorem 2 with exact fields on eight Gaussians:
    :math:`dX = [u_t + \frac{\sigma^2}{2}\nabla\log p_t]\,dt + \sigma\,dW`.

    The same 400 starting points from :math:`p_{t_{min}}` follow the probability-flow ODE (once) and the SDE with
    the chosen sigma (re-simulated on each change, 200 Euler-Maruyama steps). Left: a few trajectories of each;
    right: where all of them are at t = 1, over the exact :math:`p_1`. Attributes: ``final`` (400, 2) the SDE's
    points at t = 1, ``log_p`` their mean log p_1, ``path_length`` the SDE paths' mean length.
    """

    title = "From ODE to SDE: the same marginals for every σ, different trajectories"
    caption = ("move sigma: the trajectories get rougher and cross each other, yet the cloud at t = 1 keeps the "
               "shape of p_1 (compare its mean log p_1 with the data's). sigma = 0 is the ODE itself.")
    figsize = (9.0, 4.0)
    secondary = ("trails", "sigma_schedule")

    def __init__(self, *, lecture: bool = False, seed: int = 0):
        self.mixture = eight_gaussians()
        self.mp = sde.MixturePath(self.mixture)
        g = torch.Generator().manual_seed(seed)
        self.start = self.mp.marginal(sde.T_MIN).sample(N_SDE, g)
        self.noise_seed = seed + 1
        with render.single_thread_torch():
            self.ode = integrate(self.mp.velocity, self.start, sde.T_MIN, 1.0, N_STEPS, "euler", return_path=True)
            self.data_log_p = float(self.mixture.log_prob(self.mixture.sample(5000, g)).mean())
        self._cache: dict[tuple, torch.Tensor] = {}
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "sigma": widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.25, description="σ", style=s),
            "trails": widgets.IntSlider(value=12, min=2, max=40, description="trajectories shown", style=s),
            "sigma_schedule": widgets.Dropdown(options=[("constant σ_t = σ", "constant"),
                                                        ("σ_t = σ β_t (none at t = 1)", "vanishing")],
                                               value="constant", description="σ_t", style=s),
        }

    def sigma_t(self, sigma: float, schedule: str):
        if schedule == "constant":
            return sigma
        return lambda t: sigma * (1.0 - t)

    def simulate(self, sigma: float, schedule: str) -> torch.Tensor:
        """The SDE's paths from the fixed start, (201, 400, 2); cached per setting."""
        key = (round(sigma, 6), schedule)
        if key not in self._cache:
            if sigma == 0:
                self._cache[key] = self.ode
            else:
                g = torch.Generator().manual_seed(self.noise_seed)
                sig = self.sigma_t(sigma, schedule)
                self._cache[key] = sde.euler_maruyama(self.mp.drift(sig), sig, self.start, sde.T_MIN, 1.0, N_STEPS,
                                                      g, return_path=True)
        return self._cache[key]

    def _build_figure(self):
        left = self.fig.add_axes([0.01, 0.03, 0.47, 0.86])
        right = self.fig.add_axes([0.52, 0.03, 0.47, 0.86])
        axis, pts = _grid(BOX, 100)
        dens = self.mixture.log_prob(pts).exp().reshape(100, 100).numpy()
        for ax, title in ((left, "trajectories from t = 0.01 to 1"), (right, "all 400 particles at t = 1")):
            ax.imshow(dens, extent=(-BOX, BOX, -BOX, BOX), origin="lower", cmap="Blues", alpha=0.6,
                      vmin=0, vmax=float(dens.max()))
            ax.set_xlim(-BOX, BOX)
            ax.set_ylim(-BOX, BOX)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=9)
        self.ode_lines = LineCollection([], colors=ODE_COLOR, linewidths=0.9, linestyles="--")
        self.sde_lines = LineCollection([], colors=PARTICLE, linewidths=0.9, alpha=0.9)
        left.add_collection(self.ode_lines)
        left.add_collection(self.sde_lines)
        left.plot([], [], color=ODE_COLOR, ls="--", label="ODE (σ = 0)")
        left.plot([], [], color=PARTICLE, label="SDE")
        left.legend(fontsize=7, frameon=False, loc="lower left")
        self.ode_end = right.scatter(np.zeros(N_SDE), np.zeros(N_SDE), s=5, color=ODE_COLOR, lw=0, alpha=0.5,
                                     label="ODE")
        self.sde_end = right.scatter(np.zeros(N_SDE), np.zeros(N_SDE), s=6, color=PARTICLE, lw=0, label="SDE")
        right.legend(fontsize=7, frameon=False, loc="lower left")
        self.live = [self.ode_lines, self.sde_lines, self.ode_end, self.sde_end]

    def _update(self):
        v = self.values
        paths_ = self.simulate(v["sigma"], v["sigma_schedule"])
        k = v["trails"]
        self.sde_lines.set_segments(list(paths_[:, :k].permute(1, 0, 2).numpy()))
        self.ode_lines.set_segments(list(self.ode[:, :k].permute(1, 0, 2).numpy()))
        self.final = paths_[-1]
        self.ode_end.set_offsets(self.ode[-1].numpy())
        self.sde_end.set_offsets(self.final.numpy())
        self.log_p = float(self.mixture.log_prob(self.final).mean())
        ode_log_p = float(self.mixture.log_prob(self.ode[-1]).mean())
        self.path_length = float((paths_[1:] - paths_[:-1]).norm(dim=-1).sum(0).mean())
        ode_length = float((self.ode[1:] - self.ode[:-1]).norm(dim=-1).sum(0).mean())
        shares = torch.cdist(self.final, self.mixture.means).argmin(1).bincount(minlength=8) / N_SDE
        self.readout.value = (
            f"at t = 1, mean log p₁: SDE {self.log_p:.2f}, ODE {ode_log_p:.2f}, data {self.data_log_p:.2f} &nbsp; "
            f"share per mode {shares.min():.2f}–{shares.max():.2f} (1/8 = 0.125) &nbsp; mean path length: "
            f"SDE {self.path_length:.1f}, ODE {ode_length:.1f}")


@demo(section="06", title="From ODE to SDE: one path of marginals for every σ", order=2, simulates=True)
def ode_to_sde_demo(lecture: bool = False) -> ODEToSDEDemo:
    """The probability-flow ODE and the SDE of Theorem 2 on eight Gaussians, with a sigma slider."""
    return ODEToSDEDemo(lecture=lecture)


# --- three dynamics, one marginal ------------------------------------------------------------------

HEAT = 64
N_THREE = 400
THREE_STEPS = 100
SIGMAS = (0.5, 1.0, 2.0)
NAMES = ("forward (noising) SDE\ndata → noise, run from t = 1", "reverse (generative) SDE\nnoise → data",
         "probability-flow ODE\nnoise → data")
COLORS3 = ("#dd8452", PARTICLE, "#55a868")


class ThreeDynamicsDemo(FigureDemo):
    r"""Three dynamics, one marginal: particles of the noising SDE, the generative SDE and the probability-flow ODE
    at the same t, each over the exact :math:`p_t` (eight Gaussians, linear path).

    Trajectories are simulated once per sigma (cached); the t slider and Play only look them up.
    Attributes: ``dynamics`` (the :class:`~.sde.Dynamics`), ``index`` (the time index shown),
    ``log_p`` (mean log p_t of each set of particles) and ``exact_log_p`` (its value under p_t itself).
    """

    title = "Three dynamics, one marginal"
    caption = ("press Play or drag t: the noising SDE starts from the data and runs backwards in t, the other two "
               "start from noise; at every t all three clouds sit on the same p_t. Predict first: untick the "
               "particles, guess where they are, then tick again.")
    figsize = (9.0, 3.6)
    secondary = ("sigma",)

    def __init__(self, *, lecture: bool = False, seed: int = 0):
        self.mixture = eight_gaussians()
        self.seed = seed
        self.mp = sde.MixturePath(self.mixture)
        self._cache: dict[float, sde.Dynamics] = {}
        self.times = torch.linspace(sde.T_MIN, 1.0, THREE_STEPS + 1, dtype=torch.float64)
        self.axis, self.heat_points = _grid(BOX, HEAT)
        self._marginals: dict[int, tuple[np.ndarray, float]] = {}
        self.play = widgets.Play(value=0, min=0, max=THREE_STEPS, step=2, interval=150, description="play")
        self.play.observe(lambda change: self._guarded(lambda: self._to_index(change["new"])), names="value")
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "t": widgets.FloatSlider(value=0.5, min=round(sde.T_MIN, 2), max=1.0, step=0.01, description="t",
                                     readout_format=".2f", style=s),
            "sigma": widgets.Dropdown(options=list(SIGMAS), value=1.0, description="σ (both SDEs)", style=s),
            "particles": widgets.Checkbox(value=True, description="show particles", style=s),
        }

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([self.play, c["t"], c["particles"], c["sigma"]])]

    def _to_index(self, i: int) -> None:
        self.controls["t"].value = round(float(self.times[min(int(i), THREE_STEPS)]), 2)

    def marginal_at(self, i: int) -> tuple[np.ndarray, float]:
        """The exact p_t at time index i: its heatmap (scaled to max 1) and E_{p_t}[log p_t] (2,000 draws); cached."""
        if i not in self._marginals:
            pt = self.mp.marginal(float(self.times[i]))
            dens = pt.log_prob(self.heat_points).exp().reshape(HEAT, HEAT)
            g = torch.Generator().manual_seed(self.seed + 100 + i)
            self._marginals[i] = ((dens / dens.max()).numpy(), float(pt.log_prob(pt.sample(2000, g)).mean()))
        return self._marginals[i]

    def dynamics_for(self, sigma: float) -> sde.Dynamics:
        if sigma not in self._cache:
            self._cache[sigma] = sde.three_dynamics(self.mixture, sigma, N_THREE, THREE_STEPS, seed=self.seed)
        return self._cache[sigma]

    def _build_figure(self):
        self.images, self.clouds = [], []
        for i, (name, color) in enumerate(zip(NAMES, COLORS3, strict=True)):
            ax = self.fig.add_axes([0.005 + i * 0.333, 0.02, 0.32, 0.8])
            self.images.append(ax.imshow(np.zeros((HEAT, HEAT)), extent=(-BOX, BOX, -BOX, BOX), origin="lower",
                                         cmap="Blues", vmin=0, vmax=1.6, interpolation="bilinear"))
            self.clouds.append(ax.scatter(np.zeros(N_THREE), np.zeros(N_THREE), s=4, color=color, lw=0))
            ax.set_xlim(-BOX, BOX)
            ax.set_ylim(-BOX, BOX)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name, fontsize=8)
        self.clock = self.fig.text(0.5, 0.965, "", ha="center", fontsize=9)
        self.live = [*self.images, *self.clouds, self.clock]

    def _update(self):
        v = self.values
        self.dynamics = dyn = self.dynamics_for(v["sigma"])
        self.index = i = int(torch.argmin((self.times - v["t"]).abs()))
        t = float(self.times[i])
        clouds = (dyn.noising[i], dyn.generative[i], dyn.ode[i])
        pt = self.mp.marginal(t)
        self.log_p = [float(pt.log_prob(c).mean()) for c in clouds]
        heat, self.exact_log_p = self.marginal_at(i)
        for image, cloud, points in zip(self.images, self.clouds, clouds, strict=True):
            image.set_data(heat)
            cloud.set_offsets(points.numpy())
            cloud.set_visible(v["particles"])
        self.clock.set_text(f"t = {t:.2f}   (heatmap: the exact p_t;  σ = {v['sigma']:g})")
        names = ("noising SDE", "generative SDE", "ODE")
        parts = ", ".join(f"{n} {lp:.2f}" for n, lp in zip(names, self.log_p, strict=True))
        self.readout.value = (f"mean log p_t of the particles: {parts}; of samples of p_t itself: "
                              f"{self.exact_log_p:.2f}")


@demo(section="06", title="Three dynamics, one marginal: noising SDE, generative SDE, probability-flow ODE",
      order=3, simulates=True)
def three_dynamics_demo(lecture: bool = False) -> ThreeDynamicsDemo:
    """Scrub t (or Play) over precomputed noising-SDE, generative-SDE and ODE particles on the exact p_t."""
    return ThreeDynamicsDemo(lecture=lecture)
