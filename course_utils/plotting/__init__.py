"""Static figures for the notebooks, and the rendering helpers the widgets share.

One module per idea (``kl``, ``estimators``, ... one or more per section), each
listing its plot functions in ``__all__``; this package imports every module it
finds on disk and re-exports those names, so a new section's plots need no edit
here: ``from course_utils.plotting import plot_kl_asymmetry``.
:mod:`.render` holds the colours, axis cleanup, figure -> PNG and the frozen background.

Importing this package does not import pyplot (the widgets build their figures
without it); the plot functions import it when called.
"""

from __future__ import annotations

import importlib
import pkgutil

from .render import COLORS

__all__ = ["COLORS"]

for _info in pkgutil.iter_modules(__path__):
    if _info.name.startswith("_") or _info.name == "render":
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_module, "__all__", ()):
        if _name in globals() and globals()[_name] is not getattr(_module, _name):
            raise ImportError(f"course_utils.plotting.{_info.name} exports {_name}, which another module exports too")
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
