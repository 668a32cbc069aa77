"""The ELBO ledger: log p(x) = ELBO(q) + KL(q || p(z|x)) for a 1-D latent, q = N(mu, sigma^2)."""

from __future__ import annotations

import dataclasses

import ipywidgets as widgets
import numpy as np
import torch

from ...ui import render
from ...ui.base import FigureDemo
from ...ui.demos import demo
from .. import latent
from ..elbo import fit_gaussian_forward_kl, fit_gaussian_reverse_kl, log_normal_diag

__all__ = ["ElboLedgerDemo", "elbo_ledger_demo", "ledger_models"]

C = render.COLORS
Z_SHOWN = (-4.0, 4.0)
LEDGER_LIMITS = (-10.0, 0.0)  # nats; the same for both models so nothing jumps


def ledger_models() -> dict[str, latent.Latent1D]:
    """The two models of the ledger, on a grid wide enough to hold every q of the sliders.

    The default grid (-6, 6) would cut off q = N(3, 1.5^2), and the ledger's
    ELBO + KL would then fall short of log p(x).
    """
    wide = {"z_min": -12.0, "z_max": 12.0, "n_grid": 2401}
    return {
        "linear": dataclasses.replace(latent.linear_latent_model(), **wide),
        "squared": dataclasses.replace(latent.squared_latent_model(), **wide),
    }


class ElboLedgerDemo(FigureDemo):
    """Move q = N(mu, sigma^2); the exact log p(x) stays put while ELBO and KL trade places.

    Attributes (after each redraw):
        model: the current :class:`~.latent.Latent1D`.
        ledger: {"log_evidence", "elbo", "kl"} in nats, by quadrature.
    """

    title = "The ELBO ledger"
    caption = (
        "move q and watch log p(x) stay fixed while the split between ELBO and KL moves; "
        "'fit q by reverse KL' on the linear model closes the gap (KL = 0); on the squared "
        "model it takes one mode (KL ≈ log 2), or from a wide centred start gets stuck "
        "straddling both; compare with the forward (moment-matching) fit."
    )
    figsize = (9.0, 3.3)

    def __init__(self, *, lecture: bool = False):
        self.models = ledger_models()
        self._cache: dict[str, tuple] = {}
        super().__init__(lecture=lecture)

    def _make_controls(self):
        style = self._style()
        return {
            "model": widgets.Dropdown(
                options=[
                    ("linear: x|z ~ N(z, 0.5), Gaussian posterior", "linear"),
                    ("squared: x|z ~ N(z², 0.3), two-mode posterior", "squared"),
                ],
                value="linear", description="model", style=style,
                layout=widgets.Layout(width="360px"),
            ),
            "mu": widgets.FloatSlider(
                value=-0.5, min=-3.0, max=3.0, step=0.01, description="q mean μ", style=style
            ),
            "sigma": widgets.FloatSlider(
                value=1.0, min=0.05, max=1.5, step=0.01, description="q std σ", style=style
            ),
        }

    def _make_buttons(self):
        buttons = {
            "fit_reverse": widgets.Button(
                description="fit q by reverse KL", tooltip="L-BFGS on KL(q‖p(z|x)) from this q"
            ),
            "fit_forward": widgets.Button(
                description="fit q by forward KL", tooltip="match the posterior's mean and variance"
            ),
        }
        buttons["fit_reverse"].on_click(self._on_click(self.fit_reverse))
        buttons["fit_forward"].on_click(self._on_click(self.fit_forward))
        return buttons

    def _control_rows(self):
        c = self.controls
        return [
            widgets.HBox([c["model"]]),
            widgets.HBox([c["mu"], c["sigma"]]),
            widgets.HBox(list(self.buttons.values())),
        ]

    # --- the math, per model (cached: the posterior does not depend on q) -------------
    def _model_data(self, key: str):
        if key not in self._cache:
            model = self.models[key]
            z = model.z
            self._cache[key] = (model, z, model.log_posterior(), float(model.log_evidence()))
        return self._cache[key]

    def fit_reverse(self) -> None:
        """Set (mu, sigma) to the reverse-KL fit started from the current q."""
        model, z, log_post, _ = self._model_data(self.controls["model"].value)
        mu, var = fit_gaussian_reverse_kl(
            log_post, z, self.controls["mu"].value, self.controls["sigma"].value ** 2
        )
        self._set_q(mu, var)

    def fit_forward(self) -> None:
        """Set (mu, sigma) to the forward-KL fit: the posterior's mean and variance."""
        model, z, log_post, _ = self._model_data(self.controls["model"].value)
        self._set_q(*fit_gaussian_forward_kl(log_post, z))

    def _set_q(self, mu: float, var: float) -> None:
        with self.hold():  # one redraw for both sliders
            self.controls["mu"].value = mu
            self.controls["sigma"].value = var**0.5
            self.redraw()

    # --- figure ---------------------------------------------------------------------
    def _build_figure(self):
        fig = self.fig
        ax = fig.add_axes([0.02, 0.10, 0.60, 0.72])
        led = fig.add_axes([0.76, 0.10, 0.15, 0.72])
        self.ax_density, self.ax_ledger = ax, led
        model = self.models["linear"]
        z = model.z
        shown = (z >= Z_SHOWN[0]) & (z <= Z_SHOWN[1])
        self._shown, self._z_shown = shown, z[shown].numpy()
        x, zeros = self._z_shown, np.zeros(int(shown.sum()))
        ax.plot(x, np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi), color=C["muted"], lw=1, ls=":",
                label="prior p(z)")
        self.post_fill = render.filled_area(ax, x, zeros, color=C["target"], alpha=0.25, lw=0)
        (self.post_line,) = ax.plot(x, zeros, color=C["target"], lw=1.5,
                                    label="exact posterior p(z|x)")
        (self.q_line,) = ax.plot(x, zeros, color=C["q"], lw=2, label="q(z) = N(μ, σ²)")
        ax.set_xlim(*Z_SHOWN)
        ax.set_ylim(0, 2.0)
        ax.set_xticks([-4, -2, 0, 2, 4])
        render.clean_axis(ax, yticks=False)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, fontsize=8,
                  frameon=False, borderaxespad=0.2)

        floor, top = LEDGER_LIMITS
        (self.elbo_bar,) = led.bar([0.0], [0.0], bottom=floor, width=0.6, color=C["elbo"],
                                   alpha=0.8)
        (self.kl_bar,) = led.bar([0.0], [0.0], bottom=floor, width=0.6, color=C["kl"],
                                 alpha=0.8)
        (self.evidence_line,) = led.plot([-0.5, 0.5], [0.0, 0.0], color=C["truth"], lw=2)
        self.evidence_text = led.text(0.36, 0.0, "", fontsize=8, va="bottom", ha="left")
        self.elbo_text = led.text(0.0, floor, "", fontsize=8, va="top", ha="center",
                                  color="white", fontweight="bold")
        self.kl_text = led.text(0.36, floor, "", fontsize=8, va="center", ha="left",
                                color=C["kl"], fontweight="bold")
        led.set_xlim(-0.5, 0.5)
        led.set_ylim(floor, top)
        led.set_xticks([])
        led.set_ylabel("nats", fontsize=9, labelpad=1)
        render.clean_axis(led)
        led.set_title("log p(x) = ELBO + KL", fontsize=9)
        self.live = [
            self.post_fill, self.post_line, self.q_line, self.elbo_bar, self.kl_bar,
            self.evidence_line, self.evidence_text, self.elbo_text, self.kl_text,
        ]

    def _update(self):
        v = self.values
        model, z, log_post, log_evidence = self._model_data(v["model"])
        mu, var = v["mu"], v["sigma"] ** 2
        elbo = float(model.elbo(mu, var))
        kl = float(model.kl_to_posterior(mu, var))
        self.model = model
        self.ledger = {"log_evidence": log_evidence, "elbo": elbo, "kl": kl}

        post = log_post[self._shown].exp().numpy()
        render.set_filled_area(self.post_fill, self._z_shown, post)
        self.post_line.set_ydata(post)
        t = torch.tensor([mu], dtype=torch.float64), torch.tensor([var], dtype=torch.float64)
        q = log_normal_diag(torch.from_numpy(self._z_shown)[:, None], *t).exp().numpy()
        self.q_line.set_ydata(q)

        floor, _ = LEDGER_LIMITS
        elbo_top = max(elbo, floor)
        self.elbo_bar.set_height(elbo_top - floor)
        self.kl_bar.set_y(elbo_top)
        self.kl_bar.set_height(log_evidence - elbo_top)
        self.evidence_line.set_ydata([log_evidence, log_evidence])
        self.evidence_text.set_text(f"log p(x)\n{log_evidence:.2f}")
        self.evidence_text.set_y(log_evidence + 0.1)
        self.kl_text.set_text(f"KL\n{kl:.2f}")
        # mid-segment, but clear of the log p(x) label when the KL segment is thin
        self.kl_text.set_y(min(0.5 * (elbo_top + log_evidence), log_evidence - 0.9))
        if elbo > floor + 1.2:
            self.elbo_text.set_text(f"ELBO\n{elbo:.2f}")
            self.elbo_text.set_y(elbo - 0.1)
        else:
            self.elbo_text.set_text(f"ELBO\n{elbo:.1f}\n↓")
            self.elbo_text.set_y(floor + 1.5)

        self.readout.value = (
            f"log p(x) = <b>{log_evidence:.4f}</b> = ELBO <b>{elbo:.4f}</b> "
            f"+ KL(q‖p(z|x)) <b>{kl:.4f}</b> &nbsp; (q = N({mu:.3f}, {v['sigma']:.3f}²))"
        )


@demo(section="01", title="The ELBO ledger: log p(x) = ELBO + KL(q ‖ p(z|x))", order=2)
def elbo_ledger_demo(lecture: bool = False) -> ElboLedgerDemo:
    """Slide a Gaussian q over the exact posterior of a 1-D model and watch the ledger balance."""
    return ElboLedgerDemo(lecture=lecture)
