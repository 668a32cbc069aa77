"""Estimating log p(x) by importance sampling: naive Monte Carlo vs a good proposal."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ...ui import render
from ...ui.base import FigureDemo
from ...ui.demos import demo
from ..importance import evidence_estimates, evidence_proposals, linear_gaussian_example

__all__ = ["EvidenceEstimatorDemo", "evidence_estimator_demo"]

C = render.COLORS
PROPOSAL_COLORS = render.PROPOSAL_COLORS
WIDE = (-40.0, 5.0)  # x range of the top strip, relative to log p(x)
ZOOM = (-2.5, 1.0)  # bottom strip
MAX_SHOWN = 2000  # dots drawn per configuration (statistics use every estimate)


class EvidenceEstimatorDemo(FigureDemo):
    """Draw importance-sampling estimates of log p(x) for a fixed LinearGaussianLVM.

    Estimates are kept per (proposal, K), so switching back to a setting shows its
    earlier draws again, and the readout table compares every setting tried.

    Attributes:
        model, x: the model and the observed x.
        log_evidence: the exact log p(x).
        proposals: key -> :class:`~.importance.GaussianProposal`.
        history: (proposal key, K) -> list of estimates.
    """

    title = "Estimating log p(x): naive Monte Carlo vs importance sampling"
    caption = (
        "'draw 100' with the prior at K = 1, then switch to q: the spread shrinks from tens of "
        "nats to about one. Raise K: both tighten and their mean climbs to log p(x) from "
        "below; the exact posterior hits log p(x) with every single sample."
    )
    figsize = (9.0, 3.6)

    def __init__(self, *, lecture: bool = False, seed: int = 0):
        self.model, self.x = linear_gaussian_example(seed)
        self.log_evidence = float(self.model.log_evidence(self.x))
        self.proposals = evidence_proposals(self.model, self.x)
        self.history: dict[tuple[str, int], list[float]] = {}
        self._jitter: dict[tuple[str, int], list[float]] = {}
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.k_label = widgets.Label()
        super().__init__(lecture=lecture)

    @property
    def K(self) -> int:
        """Samples per estimate: 2 ** (the log2_K slider)."""
        return 2 ** self.controls["log2_K"].value

    @property
    def config(self) -> tuple[str, int]:
        return self.controls["proposal"].value, self.K

    def _make_controls(self):
        style = self._style()
        return {
            "proposal": widgets.Dropdown(
                options=[(p.label, key) for key, p in self.proposals.items()],
                value="prior", description="proposal", style=style,
                layout=widgets.Layout(width="340px"),
            ),
            "log2_K": widgets.IntSlider(
                value=0, min=0, max=10, description="log₂ K", style=style,
            ),
        }

    def _make_buttons(self):
        buttons = {
            "draw_1": widgets.Button(description="draw 1"),
            "draw_100": widgets.Button(description="draw 100"),
            "clear": widgets.Button(description="clear", tooltip="forget this setting's draws"),
        }
        buttons["draw_1"].on_click(self._on_click(lambda: self.draw(1)))
        buttons["draw_100"].on_click(self._on_click(lambda: self.draw(100)))
        buttons["clear"].on_click(self._on_click(self.clear))
        return buttons

    def _control_rows(self):
        c = self.controls
        return [
            widgets.HBox([c["proposal"], c["log2_K"], self.k_label]),
            widgets.HBox(list(self.buttons.values())),
        ]

    # --- estimates ------------------------------------------------------------------
    def estimates(self, n: int = 1) -> list[float]:
        """``n`` independent importance-sampling estimates of log p(x), current proposal and K."""
        proposal = self.proposals[self.controls["proposal"].value]
        return evidence_estimates(self.model, self.x, proposal, self.K, n, self.generator).tolist()

    def draw(self, n: int = 1) -> None:
        """Add ``n`` estimates for the current setting and redraw."""
        values = self.history.setdefault(self.config, [])
        jitter = self._jitter.setdefault(self.config, [])
        values.extend(self.estimates(n))
        rng = np.random.default_rng(len(jitter))
        jitter.extend(rng.uniform(0.12, 0.88, n).tolist())
        self.redraw()

    def clear(self) -> None:
        """Forget the estimates of the current setting."""
        self.history.pop(self.config, None)
        self._jitter.pop(self.config, None)
        self.redraw()

    def stats(self, config: tuple[str, int] | None = None) -> dict:
        """{"n", "mean", "sd"} of the estimates for ``config`` (default: the current one)."""
        values = np.asarray(self.history.get(config or self.config, []))
        if values.size == 0:
            return {"n": 0, "mean": float("nan"), "sd": float("nan")}
        sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
        return {"n": int(values.size), "mean": float(values.mean()), "sd": sd}

    # --- figure ---------------------------------------------------------------------
    def _build_figure(self):
        fig = self.fig
        lp = self.log_evidence
        self.panels = []
        for rect, (lo, hi), title in [
            ([0.03, 0.55, 0.94, 0.27], WIDE, "wide view"),
            ([0.03, 0.10, 0.94, 0.27], ZOOM, "zoom"),
        ]:
            ax = fig.add_axes(rect)
            ax.set_xlim(lp + lo, lp + hi)
            ax.set_ylim(0, 1)
            render.clean_axis(ax, yticks=False)
            ax.spines["left"].set_visible(False)
            ax.axvline(lp, color=C["truth"], lw=2, zorder=3)
            ax.text(0.0, 1.02, title, transform=ax.transAxes, fontsize=8, color="#555")
            panel = {
                "ax": ax,
                "lo": lp + lo,
                "hi": lp + hi,
                "band": ax.add_patch(
                    Rectangle((lp, 0), 0, 1, transform=ax.get_xaxis_transform(), alpha=0.15, lw=0)
                ),
                "dots": ax.scatter([], [], s=14, alpha=0.45, lw=0, zorder=2),
                "mean": ax.axvline(lp, lw=1.5, zorder=4),
                "elbo": ax.axvline(lp, lw=1.5, ls="--", zorder=4),
                "below": ax.text(lp + lo, 0.5, "", fontsize=8, ha="left", va="center",
                                 color="#333", zorder=5),
                "above": ax.text(lp + hi, 0.5, "", fontsize=8, ha="right", va="center",
                                 color="#333", zorder=5),
            }
            self.panels.append(panel)
        top = self.panels[0]["ax"]
        handles = [
            Line2D([], [], color=C["truth"], lw=2, label=f"true log p(x) = {lp:.2f}"),
            Line2D([], [], color=C["muted"], lw=1.5, ls="--", label="ELBO of the proposal"),
            Line2D([], [], color=C["muted"], marker="o", ls="none", label="one estimate"),
            Patch(color=C["muted"], alpha=0.4, label="running mean ± 1 sd"),
        ]
        top.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.12), ncol=4,
                   fontsize=8, frameon=False, borderaxespad=0.0)
        self.info = fig.text(0.97, 0.975, "", ha="right", va="top", fontsize=8)
        self.empty = fig.text(0.5, 0.69, "", ha="center", va="center", fontsize=10, color="#777")
        self.live = [self.info, self.empty]
        for panel in self.panels:
            self.live += [panel[k] for k in ("band", "dots", "mean", "elbo", "below", "above")]

    def _update(self):
        key, K = self.config
        self.k_label.value = f"K = {K}"
        color = PROPOSAL_COLORS[key]
        values = np.asarray(self.history.get((key, K), []))[-MAX_SHOWN:]
        jitter = np.asarray(self._jitter.get((key, K), []))[-MAX_SHOWN:]
        st = self.stats((key, K))
        elbo = self.proposals[key].elbo
        for panel in self.panels:
            lo, hi = panel["lo"], panel["hi"]
            shown = np.clip(values, lo, hi)
            dots = panel["dots"]
            dots.set_offsets(np.column_stack([shown, jitter]) if values.size else np.empty((0, 2)))
            dots.set_color(color)
            n_below, n_above = int((values < lo).sum()), int((values > hi).sum())
            panel["below"].set_text(f"◀ {n_below}" if n_below else "")
            panel["above"].set_text(f"{n_above} ▶" if n_above else "")
            panel["elbo"].set_visible(lo <= elbo <= hi)
            panel["elbo"].set_xdata([elbo, elbo])
            panel["elbo"].set_color(color)
            has_mean = st["n"] > 0 and lo <= st["mean"] <= hi
            panel["mean"].set_visible(has_mean)
            panel["band"].set_visible(st["n"] > 1)
            if has_mean:
                panel["mean"].set_xdata([st["mean"], st["mean"]])
                panel["mean"].set_color(color)
            if st["n"] > 1:
                band_lo = max(st["mean"] - st["sd"], lo)
                band_hi = min(st["mean"] + st["sd"], hi)
                panel["band"].set_x(band_lo)
                panel["band"].set_width(max(band_hi - band_lo, 0.0))
                panel["band"].set_color(color)
        lp = self.log_evidence
        self.empty.set_text("" if st["n"] else "press 'draw 1' or 'draw 100'")
        summary = f"{self.proposals[key].label}, K = {K}: n = {st['n']}"
        if st["n"]:
            summary += f", mean − log p(x) = {st['mean'] - lp:+.3f}"
        if st["n"] > 1:
            summary += f", sd = {st['sd']:.3g}"
        summary += f";  ELBO − log p(x) = {elbo - lp:+.3f}"
        self.info.set_text(summary)
        self.readout.value = self._table()

    def _table(self) -> str:
        """HTML table of every setting drawn so far: the variance collapse at a glance."""
        order = list(self.proposals)
        rows = []
        for key, K in sorted(self.history, key=lambda c: (order.index(c[0]), c[1])):
            st = self.stats((key, K))
            if not st["n"]:
                continue
            bold = "font-weight:bold;" if (key, K) == self.config else ""
            sd = f"{st['sd']:.3g}" if st["n"] > 1 else "–"
            rows.append(
                f"<tr style='{bold}'><td>{key}</td><td>{K}</td><td>{st['n']}</td>"
                f"<td>{st['mean'] - self.log_evidence:+.3f}</td><td>{sd}</td></tr>"
            )
        if not rows:
            return "<i>no estimates yet</i>"
        head = (
            "<tr><th>proposal</th><th>K</th><th>n</th><th>mean − log p(x)</th><th>sd</th></tr>"
        )
        cell = "<style>.cu-est td, .cu-est th {padding: 0 8px; text-align: right}</style>"
        return f"{cell}<table class='cu-est'>{head}{''.join(rows)}</table>"


@demo(section="01", title="Estimating log p(x): naive Monte Carlo vs importance sampling", order=3, simulates=True)
def evidence_estimator_demo(lecture: bool = False, seed: int = 0) -> EvidenceEstimatorDemo:
    """Add importance-sampling estimates of log p(x) and watch their spread against K and q."""
    return EvidenceEstimatorDemo(lecture=lecture, seed=seed)
