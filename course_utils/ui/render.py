"""Shared rendering helpers: one colour set, axis cleanup, and fast figure -> PNG.

The widgets build a :class:`matplotlib.figure.Figure` once (no pyplot, so nothing
leaks into a notebook's inline output), update its artists in place and call
:func:`figure_png` on every change. The static plots use the same colours and
axis cleanup so the notebook and the demos look alike.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from ..core.threads import one_thread

__all__ = [
    "COLORS",
    "FrozenBackground",
    "PROPOSAL_COLORS",
    "DPI",
    "band_xy",
    "canvas_figure",
    "clean_axis",
    "closed",
    "figure_png",
    "filled_area",
    "pixel_size",
    "set_filled_area",
    "single_thread_torch",
    "square_axes",
]

#: Modest resolution: PNG encoding time grows with the pixel count.
DPI = 80

#: One meaning, one colour, across every plot and demo of the course.
COLORS = {
    "target": "#4c72b0",  # the density being approximated: p(x), p(z|x)
    "forward": "#dd8452",  # forward-KL (moment-matching) fit
    "reverse": "#55a868",  # reverse-KL (mode-seeking) fit
    "q": "#c44e52",  # the variational / proposal density the student moves
    "elbo": "#4c72b0",
    "kl": "#c44e52",
    "truth": "#222222",  # exact values: log p(x), closed-form KL
    "prior": "#8172b3",  # naive Monte Carlo (proposal = prior)
    "proposal": "#55a868",  # importance sampling with a good q
    "posterior": "#4c72b0",  # the exact posterior as a proposal
    "muted": "#9a9a9a",
}

#: Colours of the importance-sampling proposals of the evidence estimators.
PROPOSAL_COLORS = {
    "prior": COLORS["prior"],
    "q": COLORS["proposal"],
    "posterior": COLORS["posterior"],
}


class _Backdrop(Artist):
    """A pixel-exact RGBA image drawn at the figure's origin (no resampling, unlike figimage)."""

    def __init__(self, rgba: np.ndarray):
        super().__init__()
        self.rgba = rgba
        self.set_zorder(-1)

    def draw(self, renderer):
        if not self.get_visible():
            return
        gc = renderer.new_gc()
        renderer.draw_image(gc, 0, 0, self.rgba)
        gc.restore()


class FrozenBackground:
    """Draw a figure's unchanging artists once, so that each redraw only draws the live ones.

    Text (tick labels, titles, legends) is most of matplotlib's drawing time. With fixed
    axis limits it never changes, so :meth:`refresh` renders everything except ``live``
    into an image, hides those static artists and puts the image behind the axes as a
    backdrop. A normal ``fig.canvas.print_png`` then costs the compositing of one
    image plus the live artists. Call :meth:`refresh` after changing anything static
    (limits, titles); a live artist can be added with :meth:`add_live`.

    The backdrop is pixel-exact at the figure's own size and dpi: render with
    :func:`figure_png` (or ``savefig`` at ``dpi=fig.dpi``, without ``bbox_inches``).
    """

    def __init__(self, fig: Figure, live):
        self.fig = fig
        self.live = list(live)
        self._static: list = []
        self._image = None
        self.refresh()

    def add_live(self, *artists) -> None:
        self.live.extend(artists)
        self.refresh()

    def _candidates(self) -> list:
        fig = self.fig
        found = [child for ax in fig.axes for child in ax.get_children()]
        return found + list(fig.texts) + list(fig.legends) + list(fig.lines) + list(fig.patches)

    def refresh(self) -> None:
        """Re-render the static layer (after changing limits, labels or titles)."""
        for artist in self._static:
            artist.set_visible(True)
        if self._image is not None:
            self._image.remove()
            self._image = None
        live_ids = {id(a) for a in self.live}
        shown = [a.get_visible() for a in self.live]
        for artist in self.live:
            artist.set_visible(False)
        self.fig.canvas.draw()
        background = np.array(self.fig.canvas.buffer_rgba())
        self._static = [
            a for a in self._candidates() if id(a) not in live_ids and a.get_visible()
        ]
        for artist in self._static:
            artist.set_visible(False)
        for artist, visible in zip(self.live, shown, strict=True):
            artist.set_visible(visible)
        self._image = _Backdrop(background[::-1].copy())
        self.fig.add_artist(self._image)


def canvas_figure(figsize: tuple[float, float], dpi: int = DPI) -> Figure:
    """A Figure with its own Agg canvas, independent of pyplot and of any backend."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def pixel_size(fig: Figure) -> tuple[int, int]:
    """(width, height) of the rendered PNG in pixels."""
    w, h = fig.get_size_inches() * fig.dpi
    return int(round(w)), int(round(h))


def figure_png(fig: Figure, compress_level: int = 1) -> bytes:
    """Render ``fig`` to PNG bytes at its own size (no tight bbox, so the size never changes).

    A low zlib ``compress_level`` keeps encoding cheap; the files stay small
    because plots are mostly flat colour.
    """
    buf = io.BytesIO()
    fig.canvas.print_png(buf, pil_kwargs={"compress_level": compress_level})
    return buf.getvalue()


def clean_axis(ax: Axes, *, xticks: bool = True, yticks: bool = True) -> Axes:
    """Hide the top and right spines, and the ticks that teach nothing."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    if not xticks:
        ax.set_xticks([])
    if not yticks:
        ax.set_yticks([])
    return ax


def square_axes(ax: Axes, lim: float) -> Axes:
    """A square, tick-free view of [-lim, lim]^2: the frame of every 2-D point cloud and vector field."""
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def closed(fig: Figure) -> Figure:
    """Close a pyplot figure and return it: a plot function's figure then shows once, as its cell's result."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


def band_xy(x, lower, upper) -> np.ndarray:
    """Vertices (2G, 2) of the polygon between two curves over the same x (a fill_between)."""
    x = np.asarray(x, dtype=float)
    lower = np.broadcast_to(np.asarray(lower, dtype=float), x.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=float), x.shape)
    return np.concatenate([np.column_stack([x, upper]), np.column_stack([x[::-1], lower[::-1]])])


def filled_area(ax: Axes, x, upper, lower=0.0, **kwargs) -> Polygon:
    """Add a fill between ``lower`` and ``upper`` that :func:`set_filled_area` can update."""
    poly = Polygon(band_xy(x, lower, upper), closed=True, **kwargs)
    ax.add_patch(poly)
    return poly


def set_filled_area(poly: Polygon, x, upper, lower=0.0) -> None:
    """Move a fill made by :func:`filled_area` in place (no new artist)."""
    poly.set_xy(band_xy(x, lower, upper))


#: Run torch on one thread inside a block (the demos' tiny tensors): the math layer's helper.
single_thread_torch = one_thread


def digit_grid(pixels, per_row: int | None = None) -> np.ndarray:
    """Flattened 8x8 digits (k, 64) -> one image: rows of ``per_row`` digits (all in one row by default),
    with a 1-pixel blank gap between neighbours; a short last row is padded with blank tiles.

    Returns an array of shape (9 rows - 1, 9 per_row - 1) for ``imshow``.
    """
    p = np.asarray(pixels, dtype=float).reshape(-1, 8, 8)
    per_row = len(p) if per_row is None else per_row
    n_rows = max(1, math.ceil(len(p) / per_row))
    out = np.zeros((9 * n_rows - 1, 9 * per_row - 1))
    for k, image in enumerate(p):
        r, c = divmod(k, per_row)
        out[9 * r:9 * r + 8, 9 * c:9 * c + 8] = image
    return out
