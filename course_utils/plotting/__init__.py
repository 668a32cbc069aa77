"""Static figures for the notebooks, and the rendering helpers the widgets share.

One module per idea:

- :mod:`.kl`: :func:`plot_kl_mc_convergence`, :func:`plot_kl_asymmetry`.
- :mod:`.estimators`: :func:`plot_evidence_estimators`.
- :mod:`.render`: colours, axis cleanup, figure -> PNG, the frozen background.

Importing this package does not import pyplot (the widgets build their figures
without it); the plot functions import it when called.
"""

from __future__ import annotations

from .estimators import plot_evidence_estimators
from .kl import plot_kl_asymmetry, plot_kl_mc_convergence
from .render import COLORS

__all__ = ["COLORS", "plot_evidence_estimators", "plot_kl_asymmetry", "plot_kl_mc_convergence"]
