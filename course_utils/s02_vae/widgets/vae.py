"""Section 02 demos: the estimator race, the latent-space explorer and the beta-VAE slider."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.patches import Circle, Ellipse

from ...core.threads import one_thread
from ...data.digits import load_digits_split
from ...ui import render
from ...ui.base import FigureDemo
from ...ui.demos import demo
from ..plots import CLASS_COLORS, PATH_COLOR, SCORE_COLOR
from ..reparam import TEST_FUNCTIONS, estimator_race
from ..vae import beta_family

__all__ = ["EstimatorRaceDemo", "LatentExplorerDemo", "BetaVAEDemo",
           "estimator_race_demo", "latent_explorer_demo", "beta_vae_demo"]

C = render.COLORS
N_BINS = 40
LIM = 3.5  # latent axes: [-LIM, LIM]^2


# ------------------------------------------------------------------------------------------
# the estimator race


class EstimatorRaceDemo(FigureDemo):
    """Histograms of many gradient estimates of d/dtheta E_q[f(z)], q = N(mu, sigma^2), by both estimators.

    Attributes (after each redraw):
        race: the :class:`~.reparam.EstimatorRace` shown.
        ratio: Var(score function) / Var(reparametrized) of the derivative shown.
    """

    title = "The estimator race: score function vs reparametrization"
    caption = (
        "raise N: both histograms narrow around the true gradient (both are unbiased) and their variance "
        "ratio stays put. Which one is tighter depends on f and σ: for z² and exp(z) the reparametrized one; "
        "for sin(2z) at σ ≥ 1 the score function (ratio below 1: 0.25× at μ = 0.5, σ = 1 for ∂/∂μ); shrink σ "
        "and the score function's variance explodes like 1/σ². A baseline subtracted from f (a control "
        "variate) lowers the score function's variance."
    )
    figsize = (9.0, 3.3)
    secondary = ("mu", "sigma", "derivative")
    repeats = 400

    def _make_controls(self):
        style = self._style()
        return {
            "function": widgets.Dropdown(options=[(tf.label, k) for k, tf in TEST_FUNCTIONS.items()],
                                         value="square", description="f(z) =", style=style,
                                         layout=widgets.Layout(width="170px")),
            "log2_N": widgets.IntSlider(value=4, min=0, max=10, description="log₂ N", style=style),
            "derivative": widgets.ToggleButtons(options=[("∂/∂μ", 0), ("∂/∂σ", 1)], value=0,
                                                description="gradient", style=style),
            "mu": widgets.FloatSlider(value=0.5, min=-1.5, max=1.5, step=0.1, description="μ", style=style),
            "sigma": widgets.FloatSlider(value=1.0, min=0.2, max=2.0, step=0.1, description="σ", style=style),
        }

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["function"], c["log2_N"], c["derivative"]]), widgets.HBox([c["mu"], c["sigma"]])]

    def _build_figure(self):
        self.axes, self.hists, self.truth_lines, self.mean_lines, self.labels = [], [], [], [], []
        for i, (name, color) in enumerate((("score function (REINFORCE)", SCORE_COLOR),
                                           ("reparametrized", PATH_COLOR))):
            ax = self.fig.add_axes([0.04 + 0.49 * i, 0.14, 0.45, 0.70])
            edges = np.linspace(-1, 1, N_BINS + 1)
            hist = ax.stairs(np.zeros(N_BINS), edges, fill=True, color=color, alpha=0.6)
            truth = ax.axvline(0, color=C["truth"], lw=2)
            mean = ax.axvline(0, color=color, lw=1.5, ls="--")
            ax.set_ylim(0, 1.1)
            ax.set_yticks([])
            render.clean_axis(ax)
            ax.spines["left"].set_visible(False)
            ax.set_title(name, fontsize=10, color=color)
            label = ax.text(0.02, 0.97, "", transform=ax.transAxes, fontsize=8, va="top")
            self.axes.append(ax)
            self.hists.append(hist)
            self.truth_lines.append(truth)
            self.mean_lines.append(mean)
            self.labels.append(label)
        self.fig.text(0.5, 0.01, "black: the exact gradient; dashed: the mean of the estimates", ha="center",
                      fontsize=8, color="#555")
        self.live = [*self.hists, *self.truth_lines, *self.mean_lines, *self.labels]
        self._xlim = None

    def _update(self):
        v = self.values
        n = 2 ** v["log2_N"]
        k = v["derivative"]
        self.race = race = estimator_race(v["function"], v["mu"], v["sigma"], n, self.repeats)
        exact = float(race.exact[k])
        est = (race.score[:, k].numpy(), race.pathwise[:, k].numpy())
        half = max(4 * float(est[0].std()), 4 * float(est[1].std()), 1e-6)
        xlim = (exact - half, exact + half)
        edges = np.linspace(*xlim, N_BINS + 1)
        self.ratio = float(race.variance_ratio()[k])
        for i, values in enumerate(est):
            counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), edges)
            self.hists[i].set_data(counts / max(counts.max(), 1), edges)
            self.truth_lines[i].set_xdata([exact, exact])
            self.mean_lines[i].set_xdata([values.mean(), values.mean()])
            self.labels[i].set_text(f"variance {values.var(ddof=1):.3g}\nmean {values.mean():.3f}")
        if xlim != self._xlim:
            for ax in self.axes:
                ax.set_xlim(*xlim)
            self.background.refresh()
            self._xlim = xlim
        name = ("∂/∂μ", "∂/∂σ")[k]
        self.readout.value = (
            f"{name} E[{TEST_FUNCTIONS[v['function']].label}] = <b>{exact:.4f}</b> exactly; "
            f"{self.repeats} estimates from N = {n} samples each: variance ratio score / reparametrized = "
            f"<b>{self.ratio:.3g}×</b> ({'the score function' if self.ratio < 1 else 'the reparametrized one'} "
            "is tighter here)"
        )


@demo(section="02", title="The estimator race: score function vs reparametrization", order=1, simulates=True)
def estimator_race_demo(lecture: bool = False) -> EstimatorRaceDemo:
    """Histograms of score-function and reparametrized gradient estimates, N slider, true-gradient line."""
    return EstimatorRaceDemo(lecture=lecture)


# ------------------------------------------------------------------------------------------
# the latent space explorer


class LatentExplorerDemo(FigureDemo):
    """Slide a point z through a 2-D latent space and see the decoder's digit at z.

    Args:
        model: a trained 2-D latent :class:`~.vae.VAE` (default: the beta = 1 member of
            :func:`~.vae.beta_family`, trained once per process).
        x, y: the digits to place in the latent space (default: the test digits).

    Attributes:
        decoded: the last decoded image, shape (8, 8).
    """

    title = "Latent space explorer"
    caption = (
        "move z across the latent plane: the decoded digit morphs from class to class; go past the "
        "dashed 2-sd circle of the prior, where no digit was encoded, and watch the decoding degrade."
    )
    figsize = (8.0, 3.6)
    secondary = ("ellipses",)

    def __init__(self, *, lecture: bool = False, model=None, x=None, y=None):
        if model is None:
            model = next(r.model for r in beta_family() if r.beta == 1.0)
        if x is None:
            split = load_digits_split()
            x, y = split.x_test, split.y_test
        if model.latent_dim != 2:
            raise ValueError(f"the explorer needs a model with a 2-D latent space, got latent_dim={model.latent_dim}")
        self.model = model
        with torch.no_grad(), one_thread():
            mu, log_var = model.encode(x)
        self._mu, self._sd = mu.numpy(), torch.exp(0.5 * log_var).numpy()
        self._y = np.asarray(y)
        super().__init__(lecture=lecture)

    def _make_controls(self):
        style = self._style()
        return {
            "z1": widgets.FloatSlider(value=0.0, min=-LIM, max=LIM, step=0.05, description="z₁", style=style),
            "z2": widgets.FloatSlider(value=0.0, min=-LIM, max=LIM, step=0.05, description="z₂", style=style),
            "ellipses": widgets.Checkbox(value=False, description="posterior ellipses (1 sd)"),
        }

    def _build_figure(self):
        ax = self.fig.add_axes([0.06, 0.12, 0.50, 0.80])
        colors = [CLASS_COLORS[k] for k in self._y]
        for r in (1, 2):
            ax.add_patch(Circle((0, 0), r, fill=False, ls="--", color=C["muted"], lw=1))
        ax.scatter(self._mu[:, 0], self._mu[:, 1], c=colors, s=6, alpha=0.7, lw=0)
        for k in range(10):
            if (self._y == k).any():
                cx, cy = np.median(self._mu[self._y == k], axis=0)
                ax.text(cx, cy, str(k), fontsize=11, fontweight="bold", color=CLASS_COLORS[k], ha="center",
                        va="center")
        self.ellipses = [ax.add_patch(Ellipse(self._mu[i], 2 * self._sd[i, 0], 2 * self._sd[i, 1], lw=0,
                                              color=CLASS_COLORS[self._y[i]], alpha=0.25))
                         for i in range(min(60, len(self._mu)))]
        (self.marker,) = ax.plot([0], [0], marker="+", ms=16, mew=3, color=C["truth"])
        ax.set_xlim(-LIM, LIM)
        ax.set_ylim(-LIM, LIM)
        ax.set_aspect("equal")
        ax.set_title("encoded test digits μ(x); dashed: prior 1, 2 sd", fontsize=9)
        render.clean_axis(ax)
        img_ax = self.fig.add_axes([0.62, 0.12, 0.34, 0.76])
        self.img = img_ax.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        img_ax.set_xticks([])
        img_ax.set_yticks([])
        self.img_title = img_ax.set_title("", fontsize=10)
        self.live = [self.marker, self.img, self.img_title, *self.ellipses]

    def _update(self):
        v = self.values
        z = torch.tensor([[v["z1"], v["z2"]]], dtype=next(self.model.parameters()).dtype)
        with torch.no_grad():
            self.decoded = self.model.mean(z)[0].reshape(8, 8).numpy()
        self.img.set_data(self.decoded)
        self.marker.set_data([v["z1"]], [v["z2"]])
        for e in self.ellipses:
            e.set_visible(v["ellipses"])
        r = float(np.hypot(v["z1"], v["z2"]))
        self.img_title.set_text(f"decoder mean at z = ({v['z1']:.2f}, {v['z2']:.2f})")
        self.readout.value = (f"|z| = {r:.2f}: prior density relative to its peak "
                              f"exp(−|z|²/2) = {np.exp(-r * r / 2):.3f}")


@demo(section="02", title="Latent space explorer: decode any point of a 2-D latent space", order=2)
def latent_explorer_demo(lecture: bool = False, model=None, x=None, y=None) -> LatentExplorerDemo:
    """Move a point in a 2-D latent space and see the decoded digit live."""
    return LatentExplorerDemo(lecture=lecture, model=model, x=x, y=y)


# ------------------------------------------------------------------------------------------
# beta


class BetaVAEDemo(FigureDemo):
    """Pick beta in -log p(x|z) + beta KL: the latent layout and the reconstructions of precomputed models.

    Args:
        runs: :class:`~.vae.TrainingRun` s of 2-D latent models, one per beta (default:
            :func:`~.vae.beta_family`, trained once per process). The slider only looks up.

    Attributes (after each redraw):
        run: the run shown; stats: {"recon", "kl"} on the test digits (nats, means).
    """

    title = "beta-VAE: the weight of the KL term"
    caption = (
        "slide beta up: the encodings crowd into the prior's circle and the KL falls, but reconstructions "
        "blur and, at beta = 10, forget the digit; slide it down: sharp reconstructions, clusters flung far "
        "from the prior (so prior samples decode badly)."
    )
    figsize = (9.0, 3.6)

    def __init__(self, *, lecture: bool = False, runs=None):
        runs = tuple(beta_family() if runs is None else runs)
        split = load_digits_split()
        x, self._y = split.x_test, split.y_test.numpy()
        self._shown = np.array([int(np.flatnonzero(self._y == k)[0]) for k in range(10)])
        self.runs = {r.beta: r for r in runs}
        self._cache = {}
        with torch.no_grad(), one_thread():
            for beta, r in self.runs.items():
                mu, log_var = r.model.encode(x)
                recon = r.model.mean(mu[self._shown]).numpy()
                eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0), dtype=mu.dtype)
                t = r.model.terms(x, eps)
                self._cache[beta] = (np.clip(mu.numpy(), -LIM, LIM), render.digit_grid(recon),
                                     {"recon": float(t.recon.mean()), "kl": float(t.kl.mean())})
        self._originals = render.digit_grid(x[self._shown].numpy())
        super().__init__(lecture=lecture)

    def _make_controls(self):
        betas = sorted(self.runs)
        value = 1.0 if 1.0 in betas else betas[0]
        return {"beta": widgets.SelectionSlider(options=[(f"{b:g}", b) for b in betas], value=value,
                                                description="β", style=self._style(),
                                                layout=widgets.Layout(width="360px"))}

    def _build_figure(self):
        ax = self.fig.add_axes([0.04, 0.08, 0.36, 0.80])
        for r in (1, 2):
            ax.add_patch(Circle((0, 0), r, fill=False, ls="--", color=C["muted"], lw=1))
        self.scatter = ax.scatter(np.zeros(len(self._y)), np.zeros(len(self._y)), s=6, lw=0, alpha=0.8,
                                  c=[CLASS_COLORS[k] for k in self._y])
        ax.set_xlim(-LIM, LIM)
        ax.set_ylim(-LIM, LIM)
        ax.set_aspect("equal")
        ax.set_xticks([-3, 0, 3])
        ax.set_yticks([-3, 0, 3])
        ax.set_title("test digits' μ(x) (clipped to ±3.5)", fontsize=9)
        render.clean_axis(ax)
        top = self.fig.add_axes([0.45, 0.52, 0.53, 0.32])
        top.imshow(self._originals, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        top.set_title("test digits", fontsize=9)
        bottom = self.fig.add_axes([0.45, 0.10, 0.53, 0.32])
        self.recon_img = bottom.imshow(np.zeros_like(self._originals), cmap="gray_r", vmin=0, vmax=1,
                                       interpolation="nearest")
        self.recon_title = bottom.set_title("", fontsize=9)
        for a in (top, bottom):
            a.set_xticks([])
            a.set_yticks([])
        self.live = [self.scatter, self.recon_img, self.recon_title]

    def _update(self):
        beta = self.values["beta"]
        self.run = self.runs[beta]
        mu, strip, self.stats = self._cache[beta]
        self.scatter.set_offsets(mu)
        self.recon_img.set_data(strip)
        self.recon_title.set_text(f"reconstructions at β = {beta:g} (decoder mean at z = μ(x))")
        self.readout.value = (f"β = {beta:g}: test digits' −log p(x|z) = {self.stats['recon']:.1f} nats, "
                              f"KL = {self.stats['kl']:.2f} nats (means per digit)")


@demo(section="02", title="beta-VAE: trading reconstruction for a prior-shaped latent space", order=3)
def beta_vae_demo(lecture: bool = False, runs=None) -> BetaVAEDemo:
    """Slide beta over precomputed 2-D latent VAEs: latent layout and reconstructions."""
    return BetaVAEDemo(lecture=lecture, runs=runs)

