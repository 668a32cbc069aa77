"""Section 02 demo: the VQ-VAE codebook lab (pick codewords, see the decoding, the code regions and usage)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.colors import ListedColormap

from ...core.threads import one_thread
from ...data.digits import load_digits_split
from ...ui import render
from ...ui.base import FigureDemo
from ...ui.demos import demo
from ..vq import codebook_usage, nearest_codeword, perplexity, small_vqvae

__all__ = ["CodebookDemo", "vq_codebook_demo"]

C = render.COLORS
GRID = 120  # pixels per side of the code-region image


class CodebookDemo(FigureDemo):
    """Choose the codeword of each of the M latent positions and see the decoder's digit.

    Left: the 2-D code space, coloured by nearest codeword (the regions the quantizer cuts),
    with the encoder outputs z_e of test digits and the chosen codewords numbered by position.
    Middle: the decoded digit. Right: codeword usage on the training digits, dead codes in red.

    Args:
        run: a trained :class:`~.vq.VQRun` with 2-D codewords (default:
            :func:`~.vq.small_vqvae`, trained once per process).
    """

    title = "VQ-VAE codebook lab"
    caption = (
        "press 'encode a test digit' to load a real digit's codes, then change one position's codeword: "
        "the decoding changes in discrete jumps (there are only K choices per position); red bars are "
        "dead codes that no digit ever picks."
    )
    figsize = (9.6, 3.4)

    def __init__(self, *, lecture: bool = False, run=None):
        self.run = small_vqvae() if run is None else run
        model = self.run.model
        if model.code_dim != 2:
            raise ValueError(f"the codebook lab draws 2-D codewords, got code_dim={model.code_dim}")
        split = load_digits_split()
        self._x_test = split.x_test
        with torch.no_grad(), one_thread():
            self._z_e = model.encode(split.x_test).reshape(-1, 2).numpy()
            self.counts = codebook_usage(model.codes(split.x_train), model.n_codes)
            self._test_codes = model.codes(split.x_test)
        self.codebook = model.codebook.detach().numpy()
        self._next_digit = 1  # the sliders start at test digit 0's codes
        super().__init__(lecture=lecture)

    def _make_controls(self):
        model = self.run.model
        start = self._test_codes[0].tolist()
        return {f"code_{m}": widgets.IntSlider(value=int(start[m]), min=0, max=model.n_codes - 1,
                                               description=f"position {m + 1}", style=self._style(),
                                               layout=widgets.Layout(width="230px"))
                for m in range(model.n_positions)}

    def _make_buttons(self):
        b = widgets.Button(description="encode a test digit", tooltip="set every position to a test digit's codes")
        b.on_click(self._on_click(self.encode_next))
        return {"encode": b}

    def _control_rows(self):
        names = list(self.controls)
        half = (len(names) + 1) // 2
        return [widgets.HBox([self.controls[n] for n in names[:half]]),
                widgets.HBox([self.controls[n] for n in names[half:]] + list(self.buttons.values()))]

    def encode_next(self) -> None:
        """Set the sliders to the codes of the next test digit (one redraw)."""
        codes = self._test_codes[self._next_digit % len(self._test_codes)].tolist()
        self._next_digit += 1
        with self.hold():
            for m, k in enumerate(codes):
                self.controls[f"code_{m}"].value = int(k)

    def _build_figure(self):
        fig, cb, k = self.fig, self.codebook, len(self.codebook)
        lo = np.minimum(self._z_e.min(0), cb.min(0)) - 0.3
        hi = np.maximum(self._z_e.max(0), cb.max(0)) + 0.3
        ax = fig.add_axes([0.03, 0.08, 0.36, 0.82])
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID))
        grid = torch.as_tensor(np.stack([gx, gy], -1), dtype=torch.float32)
        regions = nearest_codeword(grid, torch.as_tensor(cb)).numpy()
        cmap = ListedColormap([render.COLORS["muted"], "#d9d9d9", "#bdbdbd", "#f0f0f0"])
        ax.imshow(regions % 4, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap=cmap, alpha=0.6,
                  interpolation="nearest", aspect="auto")
        ax.scatter(self._z_e[:, 0], self._z_e[:, 1], s=2, color=C["target"], alpha=0.3, lw=0)
        dead = (self.counts == 0).numpy()
        ax.scatter(cb[~dead, 0], cb[~dead, 1], s=14, color=C["truth"], marker="o", lw=0)
        ax.scatter(cb[dead, 0], cb[dead, 1], s=30, color=C["kl"], marker="x")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("code regions, z_e of test digits (blue), codewords", fontsize=8)
        self.chosen = ax.scatter(np.zeros(len(self.controls)), np.zeros(len(self.controls)), s=120,
                                 facecolor="none", edgecolor=C["q"], lw=2)
        self.chosen_labels = [ax.text(0, 0, str(m + 1), color=C["q"], fontsize=9, fontweight="bold")
                              for m in range(len(self.controls))]
        img_ax = fig.add_axes([0.42, 0.10, 0.22, 0.76])
        self.img = img_ax.imshow(np.zeros((8, 8)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        img_ax.set_xticks([])
        img_ax.set_yticks([])
        img_ax.set_title("Dec(z_q) for the chosen codes", fontsize=8)
        bars = fig.add_axes([0.69, 0.14, 0.29, 0.70])
        share = (self.counts / self.counts.sum()).numpy()
        colors = [C["kl"] if d else C["proposal"] for d in dead]
        bars.bar(np.arange(k), np.where(dead, share.max() * 0.03, share), color=colors, width=0.8)
        bars.set_xlabel("codeword k", fontsize=8)
        bars.set_yticks([])
        render.clean_axis(bars)
        bars.spines["left"].set_visible(False)
        bars.set_title(f"usage: perplexity {perplexity(self.counts):.1f} of {k}, {int(dead.sum())} dead",
                       fontsize=8)
        self.bar_marks = bars.scatter(np.zeros(len(self.controls)), np.zeros(len(self.controls)), marker="v",
                                      color=C["q"], s=30, clip_on=False)
        self._bar_top = share.max() * 1.05
        bars.set_ylim(0, share.max() * 1.15)
        self.live = [self.chosen, *self.chosen_labels, self.img, self.bar_marks]

    def _update(self):
        codes = torch.tensor([[self.controls[f"code_{m}"].value for m in range(len(self.controls))]])
        with torch.no_grad():
            self.decoded = self.run.model.decode_codes(codes)[0].reshape(8, 8).numpy()
        self.img.set_data(self.decoded)
        pts = self.codebook[codes[0].numpy()]
        self.chosen.set_offsets(pts)
        for m, (label, p) in enumerate(zip(self.chosen_labels, pts, strict=True)):
            label.set_position((p[0] + 0.06, p[1] + 0.06 + 0.08 * (m % 2)))
        ks = codes[0].numpy()
        self.bar_marks.set_offsets(np.column_stack([ks, np.full(len(ks), self._bar_top)]))
        used = [int(self.counts[k]) for k in ks]
        self.readout.value = ("codes per position: " + ", ".join(f"{m + 1}: k={k} (used {u}×)"
                                                                  for m, (k, u) in enumerate(zip(ks, used,
                                                                                                 strict=True))))


@demo(section="02", title="VQ-VAE codebook lab: pick codewords, see the decoding", order=4)
def vq_codebook_demo(lecture: bool = False, run=None) -> CodebookDemo:
    """Choose a codeword per latent position of a trained VQ-VAE and see its decoding."""
    return CodebookDemo(lecture=lecture, run=run)
