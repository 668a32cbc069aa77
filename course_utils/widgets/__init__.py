"""Interactive demos (ipywidgets + a matplotlib figure rendered to PNG).

Every demo is a :class:`FigureDemo`; a notebook cell ending in ``kl_fit_demo()``
shows it. Widget modules register their demos with :func:`demo`, and this package
imports every module it finds on disk, so::

    from course_utils.widgets import demos
    for spec in demos("01"):
        spec.build(lecture=True)

finds all of section 01's demos. Each factory is also importable from here
(``from course_utils.widgets import kl_fit_demo``). Widgets use only the
ipywidgets API shared by 7.7 (Colab) and 8, and never import the grading code.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import FigureDemo
from .registry import DemoSpec, demo, demos, show_demo

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

# Re-export every registered factory by name (kept in step with the registry, not by hand).
for _spec in demos():
    globals()[_spec.name] = _spec.factory

__all__ = ["DemoSpec", "FigureDemo", "demo", "demos", "show_demo", *(s.name for s in demos())]
