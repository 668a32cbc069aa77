"""The shared base of every demo: controls -> recompute -> update artists -> PNG.

A :class:`FigureDemo` owns one :class:`matplotlib.figure.Figure` built once with
fixed size and axis limits. Each control change updates the artists in place and
re-renders the figure into an ``ipywidgets.Image``, which works the same in
Jupyter, JupyterLab, VS Code and Colab (no ipympl, no pyplot).

Subclasses set ``title``, ``caption``, ``figsize`` and ``secondary``, and implement

- ``_make_controls()`` -> dict of value widgets (sliders, dropdowns, toggles),
- ``_make_buttons()`` -> dict of ``ipywidgets.Button`` (optional),
- ``_build_figure()`` -> create axes and artists on ``self.fig``, and list in
  ``self.live`` the artists that ``_update`` changes,
- ``_update()`` -> recompute from ``self.values`` and move the artists.

Everything not in ``self.live`` (ticks, titles, legends, fixed labels) is drawn once
into a background image (:class:`~course_utils.ui.render.FrozenBackground`);
text is most of matplotlib's drawing time, so this is what keeps a redraw fast.
After changing something static (axis limits, a title), call ``self.background.refresh()``.
"""

from __future__ import annotations

import html
from contextlib import contextmanager

import ipywidgets as widgets

from . import render

__all__ = ["FigureDemo"]


class FigureDemo:
    """Base class of the course's interactive demos.

    Attributes:
        ui: the ipywidgets container to display.
        controls: name -> value widget; moving one redraws.
        buttons: name -> Button.
        image: the ``ipywidgets.Image`` holding the rendered PNG.
        readout: an HTML line with the numbers behind the picture.
        caption: a short "what to try" sentence, shown under the figure.
        fig: the matplotlib Figure (built once).
        lecture: whether the lecture preset (secondary controls hidden) is on.
    """

    title: str = ""
    caption: str = ""
    figsize: tuple[float, float] = (9.0, 3.4)
    dpi: int = render.DPI
    #: names of controls that the lecture preset hides
    secondary: tuple[str, ...] = ()

    def __init__(self, *, lecture: bool = False):
        self.lecture = lecture
        self._hold_depth = 0
        self._dirty = False
        self.last_error: Exception | None = None
        self.fig = render.canvas_figure(self.figsize, self.dpi)
        self.controls: dict[str, widgets.ValueWidget] = self._make_controls()
        self.buttons: dict[str, widgets.Button] = self._make_buttons()
        self.live: list = []
        self._build_figure()
        self.background = render.FrozenBackground(self.fig, self.live)
        width, height = render.pixel_size(self.fig)
        self.image = widgets.Image(
            format="png", layout=widgets.Layout(width=f"{width}px", height=f"{height}px")
        )
        self.readout = widgets.HTML()
        self.caption_html = widgets.HTML(
            f"<span style='color:#555'><b>Try:</b> {html.escape(self.caption)}</span>"
        )
        for name in self.secondary if lecture else ():
            self.controls[name].layout.display = "none"
        for control in self.controls.values():
            control.observe(self._on_control_change, names="value")
        self.ui = widgets.VBox(
            [*self._control_rows(), self.image, self.readout, self.caption_html]
        )
        self.redraw()

    # --- to implement -------------------------------------------------------------
    def _make_controls(self) -> dict[str, widgets.ValueWidget]:
        raise NotImplementedError

    def _make_buttons(self) -> dict[str, widgets.Button]:
        return {}

    def _build_figure(self) -> None:
        raise NotImplementedError

    def _update(self) -> None:
        raise NotImplementedError

    # --- shared machinery -----------------------------------------------------------
    @property
    def values(self) -> dict:
        """The current value of every control."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        """Recompute from the current control values and render into ``self.image``.

        Inside :meth:`hold` the redraw is deferred to the end of the block.
        """
        if self._hold_depth:
            self._dirty = True
            return
        self._dirty = False
        with render.single_thread_torch():
            self._update()
        self.image.value = render.figure_png(self.fig)

    @contextmanager
    def hold(self):
        """Set several controls at once with a single redraw at the end."""
        self._hold_depth += 1
        try:
            yield self
        finally:
            self._hold_depth -= 1
            if not self._hold_depth and self._dirty:
                self.redraw()

    def _on_control_change(self, change) -> None:
        self._guarded(self.redraw)

    def _guarded(self, action) -> None:
        """Run a callback; show any error in the readout, then re-raise (never fail silently)."""
        try:
            with render.single_thread_torch():
                action()
            self.last_error = None
        except Exception as err:
            self.last_error = err
            self.readout.value = (
                f"<span style='color:#b00'>error: {html.escape(type(err).__name__)}: "
                f"{html.escape(str(err))}</span>"
            )
            raise

    def _on_click(self, action):
        """Wrap ``action()`` as a Button callback (buttons pass themselves; ignored)."""
        return lambda _button: self._guarded(action)

    @staticmethod
    def _style() -> dict:
        return {"description_width": "initial"}

    def _control_rows(self) -> list[widgets.Widget]:
        """Controls on one row, buttons on the next; subclasses may arrange differently."""
        rows = [widgets.HBox(list(self.controls.values()))]
        if self.buttons:
            rows.append(widgets.HBox(list(self.buttons.values())))
        return rows

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.ui)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.title!r} {self.values}>"
