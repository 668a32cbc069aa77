"""GAN demos: the equilibrium (D*, C(g), JSD), GAN Lab, a conditional GAN's labels, AdaIN."""

from __future__ import annotations

import math
from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F

from ..core.nets import mlp
from ..data.digits import digits_data
from ..data.mixtures import GaussianMixture
from ..data.toy2d import labelled_ring, ring_of_gaussians
from ..ui import render
from ..ui.base import FigureDemo
from ..ui.demos import demo
from .adain import adain, colour_digits, instance_stats
from .gan import LOG_4, jsd_on_grid, optimal_discriminator, optimal_value_on_grid
from .gan_training import AdversarialTrainer, gan_loss_fns, mode_coverage, train_cgan_2d

__all__ = [
    "AdaINDemo",
    "CGANLabelDemo",
    "GANEquilibriumDemo",
    "GANLabDemo",
    "adain_demo",
    "cgan_label_demo",
    "gan_equilibrium_demo",
    "gan_lab_demo",
]

C = render.COLORS
FAKE = "#c44e52"
# Quadrature grid wide enough to hold the widest generator's tails (so C(g) = -log 4 + 2 JSD holds to 1e-6);
# only the part within +-7 is drawn.
GRID = torch.linspace(-22.0, 22.0, 1761, dtype=torch.float64)
DX = float(GRID[1] - GRID[0])
SHOWN = GRID.abs() <= 7.0


def data_mixture(separation: float) -> GaussianMixture:
    """The 1-D data density of the equilibrium demo: 0.4 N(-s/2, 0.5^2) + 0.6 N(s/2, 0.7^2)."""
    return GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-separation / 2], [separation / 2]]),
                           torch.tensor([0.25, 0.49]))


class GANEquilibriumDemo(FigureDemo):
    """Move the generator's Gaussian p_theta against a data mixture p_X; see D*, C(g) and the JSD.

    Attributes (after each redraw): d_star (G,), value C(g), jsd, both in nats.
    """

    title = "The GAN equilibrium: D*, C(g) and the JSD"
    caption = ("move and widen the generator's density: D* is 1/2 where the two densities agree, near 1 where only "
               "data lives; C(g) and -log 4 + 2 JSD are always equal, and reach -log 4 only when p_theta = p_X "
               "(try separation 0, mean 0, std 0.63: p_X is then two centred Gaussians, so C(g) comes within 0.001 "
               "of -log 4 without reaching it).")
    figsize = (9.0, 3.3)
    secondary = ("separation",)

    def _make_controls(self):
        s = self._style()
        return {
            "mean": widgets.FloatSlider(value=-2.5, min=-4.0, max=4.0, step=0.05, description="generator mean",
                                        style=s),
            "std": widgets.FloatSlider(value=0.6, min=0.4, max=3.0, step=0.01, description="generator std",
                                       style=s),
            "separation": widgets.FloatSlider(value=3.0, min=0.0, max=6.0, step=0.1, description="data separation",
                                              style=s),
        }

    def _build_figure(self):
        ax = self.fig.add_axes([0.05, 0.12, 0.58, 0.72])
        bars = self.fig.add_axes([0.70, 0.12, 0.28, 0.72])
        x = GRID[SHOWN].numpy()
        self._x = x
        zeros = np.zeros_like(x)
        self.p_fill = render.filled_area(ax, x, zeros, color=C["target"], alpha=0.3, lw=0)
        (self.p_line,) = ax.plot(x, zeros, color=C["target"], lw=1.2, label="data $p_X$")
        (self.g_line,) = ax.plot(x, zeros, color=FAKE, lw=1.8, label=r"generator $p_\theta$")
        (self.d_line,) = ax.plot(x, zeros, color="#222", lw=1.8, ls="--", label="D*(x)")
        ax.axhline(0.5, color=C["muted"], lw=0.8, ls=":")
        ax.set_xlim(-7, 7)
        ax.set_ylim(0, 1.1)
        ax.set_xticks([-6, -3, 0, 3, 6])
        render.clean_axis(ax)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, fontsize=8, frameon=False)
        self.bars = bars.barh([1.0, 0.0], [0.0, 0.0], left=-LOG_4, height=0.5, color=[FAKE, C["target"]])
        bars.text(-LOG_4, 1.32, "C(g) = max_D L(D, g)", fontsize=8)
        bars.text(-LOG_4, 0.32, "-log 4 + 2 JSD", fontsize=8)
        bars.axvline(-LOG_4, color="#222", lw=1)
        bars.set_xlim(-LOG_4 - 0.05, 0.05)
        bars.set_ylim(-0.5, 1.7)
        bars.set_xticks([-LOG_4, -1.0, -0.5, 0.0], ["-log 4", "-1", "-0.5", "0"])
        render.clean_axis(bars, yticks=False)
        bars.spines["left"].set_visible(False)
        bars.set_title("the value at the optimal D (nats)", fontsize=9)
        self.values_text = [bars.text(-0.02, y, "", fontsize=8, ha="right", va="center", color="white",
                                      fontweight="bold") for y in (1.0, 0.0)]
        self.live = [self.p_fill, self.p_line, self.g_line, self.d_line, *self.bars, *self.values_text]

    def _update(self):
        v = self.values
        p_x = data_mixture(v["separation"]).log_prob(GRID).exp()
        var = v["std"] ** 2
        p_t = torch.exp(-0.5 * (GRID - v["mean"]) ** 2 / var) / math.sqrt(2 * math.pi * var)
        self.d_star = optimal_discriminator(p_x, p_t)
        self.value = float(optimal_value_on_grid(p_x, p_t, DX))
        self.jsd = float(jsd_on_grid(p_x, p_t, DX))
        render.set_filled_area(self.p_fill, self._x, p_x[SHOWN].numpy())
        self.p_line.set_ydata(p_x[SHOWN].numpy())
        self.g_line.set_ydata(p_t[SHOWN].numpy())
        self.d_line.set_ydata(self.d_star[SHOWN].numpy())
        identity = -LOG_4 + 2 * self.jsd
        for bar, text, value in zip(self.bars, self.values_text, (self.value, identity), strict=True):
            bar.set_width(value + LOG_4)
            text.set_text(f"{value:.3f}")
            text.set_x(max(value - 0.02, -LOG_4 + 0.35))
        self.readout.value = (f"C(g) = {self.value:.4f} &nbsp; JSD(p_X, p_θ) = {self.jsd:.4f} nats &nbsp; "
                              f"-log 4 + 2 JSD = {identity:.4f} &nbsp; (-log 4 = {-LOG_4:.4f})")


@demo(section="03", title="The GAN equilibrium: the optimal discriminator, C(g) and the JSD", order=1)
def gan_equilibrium_demo(lecture: bool = False) -> GANEquilibriumDemo:
    """Move a generator Gaussian against a 1-D data mixture: D*, C(g) = -log 4 + 2 JSD live."""
    return GANEquilibriumDemo(lecture=lecture)


# --- GAN Lab ---------------------------------------------------------------------------------

LIM = 3.0
HEAT = 48
HISTORY = 400


class GANLabDemo(FigureDemo):
    """GAN Lab in a notebook: a small GAN on the ring of 8 Gaussians, trained only on a button or Play.

    Left: D's belief that a point is real as a heatmap, real points (blue), the generator's samples from a
    fixed noise batch (red) and the gradient arrows that move them. Right: the losses of the last steps.
    Attributes: ``step_count``, ``history`` {"d", "g"}, ``generator``, ``discriminator``.
    """

    title = "GAN Lab: a GAN on a ring of 8 Gaussians"
    caption = ("press Play (or 'step both'): D's heatmap turns red around the fakes, the arrows push them up the "
               "heatmap towards the data. Switch to minimax when D is confident and watch the arrows shrink "
               "(saturation); step D or G alone to see each half of the game.")
    figsize = (9.0, 4.0)
    secondary = ("lr", "steps_per_frame")

    def __init__(self, *, lecture: bool = False, seed: int = 0):
        self.seed = seed
        self.target = ring_of_gaussians()
        g = torch.Generator().manual_seed(seed + 10)
        self.real_shown = self.target.sample(300, g).float()
        self.fixed_z = torch.randn(200, 2, generator=g)
        axis = torch.linspace(-LIM, LIM, HEAT)
        yy, xx = torch.meshgrid(axis, axis, indexing="ij")
        self.heat_points = torch.stack([xx.flatten(), yy.flatten()], 1)
        self.play = widgets.Play(value=0, min=0, max=100_000, step=1, interval=150, description="play")
        self.play.observe(lambda change: self._guarded(self.advance), names="value")
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "loss": widgets.Dropdown(options=[("non-saturating", "nonsaturating"), ("minimax (saturating)", "minimax"),
                                              ("least squares", "least_squares")],
                                     value="nonsaturating", description="loss", style=s),
            "lr": widgets.FloatLogSlider(value=1e-3, base=10, min=-4, max=-2, step=0.25, description="learning rate",
                                         style=s),
            "steps_per_frame": widgets.IntSlider(value=10, min=1, max=40, description="steps per frame", style=s),
            "arrows": widgets.Checkbox(value=True, description="gradient arrows", style=s),
        }

    def _make_buttons(self):
        buttons = {
            "step_d": widgets.Button(description="step D", tooltip="one discriminator update"),
            "step_g": widgets.Button(description="step G", tooltip="one generator update"),
            "step_both": widgets.Button(description="step both ×20", tooltip="20 alternating updates"),
            "reset": widgets.Button(description="reset", tooltip="fresh networks"),
        }
        buttons["step_d"].on_click(self._on_click(lambda: self._train(lambda: self.trainer.step_d())))
        buttons["step_g"].on_click(self._on_click(lambda: self._train(lambda: self.trainer.step_g())))
        buttons["step_both"].on_click(self._on_click(lambda: self._train(lambda: self.trainer.step(20))))
        buttons["reset"].on_click(self._on_click(self.reset))
        return buttons

    def _control_rows(self):
        c = self.controls
        return [widgets.HBox([c["loss"], c["arrows"], c["lr"], c["steps_per_frame"]]),
                widgets.HBox([self.play, *self.buttons.values()])]

    # --- training state ----------------------------------------------------------------------
    def _reset_networks(self):
        torch.manual_seed(self.seed)
        self.generator, self.discriminator = mlp(2, 2, 64), mlp(2, 1, 64)
        self.data_gen = torch.Generator().manual_seed(self.seed + 1)
        self.noise = torch.Generator().manual_seed(self.seed + 2)
        self.step_count = 0
        self.history = {"d": [], "g": []}
        self._make_trainer()

    def _make_trainer(self):
        kind, lr = self.controls["loss"].value, self.controls["lr"].value
        d_loss, g_loss = gan_loss_fns(self.generator, self.discriminator,
                                      lambda n: self.target.sample(n, self.data_gen).float(), kind, 128, 2, self.noise)
        self.trainer = AdversarialTrainer([self.discriminator], [self.generator], d_loss, g_loss, lr, lr)
        self._trainer_key = (kind, lr)

    def _train(self, action):
        if (self.controls["loss"].value, self.controls["lr"].value) != self._trainer_key:
            self._make_trainer()  # a new loss or learning rate: same networks, fresh optimisers
        before = {k: len(self.trainer.history[k]) for k in ("d", "g")}
        with render.single_thread_torch():
            action()
        for k in ("d", "g"):
            new = self.trainer.history[k][before[k]:]
            self.history[k].extend(new)
            self.step_count += len(new)
        self.redraw()

    def advance(self):
        """One Play frame: ``steps_per_frame`` alternating updates, then a redraw."""
        self._train(lambda: self.trainer.step(self.controls["steps_per_frame"].value))

    def reset(self):
        self.play.playing = False
        self._reset_networks()
        self.redraw()

    # --- figure ---------------------------------------------------------------------------------
    def _build_figure(self):
        import matplotlib.colors as mcolors

        ax = self.fig.add_axes([0.01, 0.03, 0.48, 0.86])
        lossax = self.fig.add_axes([0.58, 0.14, 0.40, 0.70])
        cmap = mcolors.LinearSegmentedColormap.from_list("dlab", ["#f4a6a6", "#ffffff", "#9cc3e6"])
        self.heat = ax.imshow(np.zeros((HEAT, HEAT)), extent=(-LIM, LIM, -LIM, LIM), origin="lower", cmap=cmap,
                              vmin=0, vmax=1, interpolation="bilinear")
        r = self.real_shown.numpy()
        ax.scatter(r[:, 0], r[:, 1], s=5, color=C["target"], lw=0, label="real")
        self.fakes = ax.scatter(np.zeros(200), np.zeros(200), s=7, color=FAKE, lw=0, label="fake g(z)")
        self.arrows = ax.quiver(np.zeros(200), np.zeros(200), np.zeros(200), np.zeros(200), angles="xy",
                                scale_units="xy", scale=1.0, width=0.004, color="#7a1f1f")
        ax.set_xlim(-LIM, LIM)
        ax.set_ylim(-LIM, LIM)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False)
        ax.text(1.0, 1.02, "heatmap: D(x), blue = 'real'", transform=ax.transAxes, ha="right", fontsize=7)
        (self.d_curve,) = lossax.plot([], [], color=C["target"], lw=1, label="D loss")
        (self.g_curve,) = lossax.plot([], [], color=FAKE, lw=1, label="G loss")
        lossax.set_xlim(0, HISTORY)
        lossax.set_ylim(-2.0, 3.0)
        lossax.set_xlabel(f"last {HISTORY} updates")
        lossax.axhline(0, color=C["muted"], lw=0.6)
        lossax.legend(fontsize=8, frameon=False, loc="upper right")
        render.clean_axis(lossax)
        self.status = self.fig.text(0.58, 0.93, "", fontsize=9)
        self.live = [self.heat, self.fakes, self.arrows, self.d_curve, self.g_curve, self.status]

    def _fake_gradients(self, fakes):
        """-d(generator loss of each fake)/d(fake): the direction g's update moves each sample."""
        x = fakes.detach().clone().requires_grad_(True)
        out = self.discriminator(x)
        kind = self.controls["loss"].value
        if kind == "minimax":
            per = -F.softplus(out)
        elif kind == "nonsaturating":
            per = F.softplus(-out)
        else:
            per = (out - 1) ** 2
        (grad,) = torch.autograd.grad(per.sum(), x)
        return -grad

    def _update(self):
        if not hasattr(self, "trainer"):
            self._reset_networks()
        v = self.values
        with torch.no_grad():
            out = self.discriminator(self.heat_points).reshape(HEAT, HEAT)
            belief = out.clamp(0, 1) if v["loss"] == "least_squares" else torch.sigmoid(out)
            fakes = self.generator(self.fixed_z)
        self.heat.set_data(belief.numpy())
        f = fakes.numpy()
        self.fakes.set_offsets(f)
        move = self._fake_gradients(fakes) * 0.15
        norm = move.norm(dim=1, keepdim=True)
        move = move * (0.8 / norm).clamp(max=1.0)  # cap long arrows, keep short ones short
        self.arrows.set_offsets(f)
        self.arrows.set_UVC(move[:, 0].numpy(), move[:, 1].numpy())
        self.arrows.set_visible(v["arrows"])
        for curve, key in ((self.d_curve, "d"), (self.g_curve, "g")):
            h = self.history[key][-HISTORY:]
            curve.set_data(np.arange(len(h)), np.clip(h, -2.0, 3.0))
        self.coverage = mode_coverage(fakes, self.target)
        self.status.set_text(f"updates {self.step_count} · {v['loss']} · lr {v['lr']:.1e} · "
                             f"{v['steps_per_frame']} steps/frame")
        last = {k: (f"{self.history[k][-1]:.3f}" if self.history[k] else "-") for k in ("d", "g")}
        self.readout.value = (f"D loss {last['d']}, G loss {last['g']} &nbsp; modes covered by the fakes: "
                              f"{self.coverage.covered}/8 &nbsp; mean arrow length {float(norm.mean()):.3f}")


@demo(section="03", title="GAN Lab: train a GAN on 2-D data step by step", order=2, simulates=True)
def gan_lab_demo(lecture: bool = False) -> GANLabDemo:
    """Play / step D / step G on a small GAN; heatmap, fixed-noise fakes, gradient arrows, loss choice."""
    return GANLabDemo(lecture=lecture)


# --- conditional GAN ---------------------------------------------------------------------------

N_SEEDS = 10
N_MAX = 1000


@lru_cache(maxsize=1)
def _quick_cgan():
    mixture, labels = labelled_ring()
    return train_cgan_2d(mixture, labels, steps=600, progress=False), mixture, labels


class CGANLabelDemo(FigureDemo):
    """Pick a label y: samples of g(z | y) (red) over the data of that label (blue). Only looks samples up."""

    title = "Conditional GAN: one generator, one label at a time"
    caption = ("choose a label: the same generator, given another one-hot y, puts its samples on that label's "
               "modes; more samples or another noise seed show how much of each mode it covers.")
    figsize = (6.0, 3.6)
    secondary = ("seed",)

    def __init__(self, *, lecture: bool = False, run=None, mixture=None, component_labels=None):
        if run is None:
            run, mixture, component_labels = _quick_cgan()
        self.run, self.mixture, self.component_labels = run, mixture, component_labels
        self.samples = {(y, s): run.sample(y, N_MAX, seed=s).numpy()
                        for y in range(run.n_labels) for s in range(N_SEEDS)}
        g = torch.Generator().manual_seed(0)
        self.data = mixture.sample(1500, g).float()
        self.data_labels = component_labels[torch.cdist(self.data.double(), mixture.means).argmin(1)]
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "label": widgets.ToggleButtons(options=list(range(self.run.n_labels)), value=0, description="label y",
                                           style={"button_width": "40px", **s}),
            "n": widgets.IntSlider(value=300, min=20, max=N_MAX, step=20, description="samples", style=s),
            "seed": widgets.IntSlider(value=0, min=0, max=N_SEEDS - 1, description="noise seed", style=s),
        }

    def _build_figure(self):
        ax = self.fig.add_axes([0.02, 0.03, 0.55, 0.92])
        self.bar_ax = self.fig.add_axes([0.66, 0.15, 0.32, 0.70])
        d = self.data.numpy()
        self.others = ax.scatter(d[:, 0], d[:, 1], s=3, color=C["muted"], alpha=0.3, lw=0)
        self.mine = ax.scatter(d[:, 0], d[:, 1], s=4, color=C["target"], lw=0)
        self.fakes = ax.scatter(np.zeros(1), np.zeros(1), s=5, color=FAKE, lw=0)
        ax.set_xlim(-LIM, LIM)
        ax.set_ylim(-LIM, LIM)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        k = len(self.mixture.weights)
        self.count_bars = self.bar_ax.bar(range(k), np.zeros(k), color=FAKE)
        self.bar_ax.set_xticks(range(k))
        self.bar_ax.set_xlabel("mode of the ring")
        self.bar_ax.set_ylim(0, 1.0)
        self.bar_ax.set_title("share of samples per mode", fontsize=8)
        render.clean_axis(self.bar_ax)
        self.live = [self.mine, self.fakes, *self.count_bars]

    def _update(self):
        v = self.values
        s = self.samples[(v["label"], v["seed"])][: v["n"]]
        self.fakes.set_offsets(s)
        mask = (self.data_labels == v["label"]).numpy()
        self.mine.set_offsets(self.data.numpy()[mask])
        cover = mode_coverage(torch.from_numpy(s), self.mixture)
        shares = cover.counts.numpy() / len(s)
        for bar, share in zip(self.count_bars, shares, strict=True):
            bar.set_height(share)
        modes = [int(k) for k in torch.nonzero(self.component_labels == v["label"]).flatten()]
        self.readout.value = (f"label {v['label']} owns modes {modes}; its {len(s)} samples land "
                              f"{100 * shares[modes].sum():.0f}% on them")


@demo(section="03", title="Conditional GAN: generate per label", order=3)
def cgan_label_demo(lecture: bool = False, run=None, mixture=None, component_labels=None) -> CGANLabelDemo:
    """Choose the label y of a trained conditional GAN (trains a small one once if none is given)."""
    return CGANLabelDemo(lecture=lecture, run=run, mixture=mixture, component_labels=component_labels)


# --- AdaIN ----------------------------------------------------------------------------------

PALETTES = {
    "orange on navy": ((1.0, 0.6, 0.1), (0.05, 0.1, 0.35)),
    "black on yellow": ((0.05, 0.05, 0.05), (1.0, 0.9, 0.3)),
    "white on red": ((1.0, 1.0, 1.0), (0.7, 0.05, 0.1)),
    "green on pink": ((0.1, 0.6, 0.2), (1.0, 0.8, 0.85)),
}


@lru_cache(maxsize=1)
def _digits():
    pixels, labels = digits_data()
    return torch.from_numpy(pixels[:40]), labels[:40]


class AdaINDemo(FigureDemo):
    """AdaIN(x, y) on 3-channel digit images: the content's shape with the style's channel statistics."""

    title = "AdaIN: content from one image, channel statistics from another"
    caption = ("pick a content digit and a style: the output keeps the content's shape but takes each colour "
               "channel's mean and standard deviation from the style (the bars); alpha blends back to the content.")
    figsize = (9.0, 3.0)
    secondary = ("alpha",)

    def __init__(self, *, lecture: bool = False):
        self.pixels, self.labels = _digits()
        super().__init__(lecture=lecture)

    def _make_controls(self):
        s = self._style()
        return {
            "content": widgets.IntSlider(value=0, min=0, max=39, description="content digit", style=s),
            "style": widgets.IntSlider(value=7, min=0, max=39, description="style digit", style=s),
            "palette": widgets.Dropdown(options=list(PALETTES), value="orange on navy", description="style colours",
                                        style=s),
            "alpha": widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="alpha", style=s),
        }

    def _build_figure(self):
        self.images = []
        for i, title in enumerate(("content x", "style y", "AdaIN(x, y)")):
            ax = self.fig.add_axes([0.01 + 0.17 * i, 0.08, 0.155, 0.72])
            ax.axis("off")
            ax.set_title(title, fontsize=9)
            self.images.append(ax.imshow(np.zeros((8, 8, 3)), interpolation="nearest"))
        bars = self.fig.add_axes([0.58, 0.15, 0.40, 0.65])
        xs = np.arange(6)
        self.stat_bars = {}
        for j, (name, color) in enumerate((("content", "#999"), ("style", C["target"]), ("output", FAKE))):
            self.stat_bars[name] = bars.bar(xs + (j - 1) * 0.27, np.zeros(6), width=0.26, color=color, label=name)
        bars.set_xticks(xs, ["μ R", "μ G", "μ B", "σ R", "σ G", "σ B"])
        bars.set_ylim(0, 1.0)
        bars.legend(fontsize=7, frameon=False, ncol=3, loc="upper left")
        bars.set_title("per-channel statistics over the 8x8 pixels", fontsize=9)
        render.clean_axis(bars)
        self.live = [*self.images, *(b for group in self.stat_bars.values() for b in group)]

    def _update(self):
        v = self.values
        ink, paper = PALETTES[v["palette"]]
        x = colour_digits(self.pixels[v["content"]][None], (0.1, 0.1, 0.1), (0.95, 0.95, 0.95))
        y = colour_digits(self.pixels[v["style"]][None], ink, paper)
        out = v["alpha"] * adain(x, y) + (1 - v["alpha"]) * x
        self.output = out
        for img, t in zip(self.images, (x, y, out), strict=True):
            img.set_data(t[0].clamp(0, 1).permute(1, 2, 0).numpy())
        for name, t in (("content", x), ("style", y), ("output", out)):
            mu, sigma = instance_stats(t, 0.0)
            for bar, h in zip(self.stat_bars[name], torch.cat([mu.flatten(), sigma.flatten()]).tolist(), strict=True):
                bar.set_height(h)
        self.readout.value = (f"content: a {self.labels[v['content']]} · style: a {self.labels[v['style']]} in "
                              f"{v['palette']} · alpha {v['alpha']:.2f}")


@demo(section="03", title="AdaIN: mixing content and style statistics", order=4)
def adain_demo(lecture: bool = False) -> AdaINDemo:
    """Mix a content digit with a style digit's channel statistics."""
    return AdaINDemo(lecture=lecture)
