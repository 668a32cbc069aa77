"""Reference implementations, plots, widget demos and checks for the deep generative models course.

The package is built in floors; each imports only the floors below it::

    course_utils/
      core/        validation, threads (one_thread), fit (the training loop), trained (the trained-model
                   registry), registry (sections and discovery), nets, ode
      data/        toy2d (every 2-D target), mixtures (Gaussian mixtures), digits (the 8x8 digits)
      metrics.py   how good a trained model is (exact W2, the digits classifier)
      ui/          render (figure helpers), base (FigureDemo), demos (the demo registry)
      grading/     the check machinery: core, compare, notebook (check, score_table)
      s01_kl_elbo/ ... s07_ddpm/
                   one folder per lecture section: its math modules, plots, widgets, checks
                   (its graded exercises) and models (its trained models for ``make bench``)

A section imports the floors and the math of earlier sections, never their plots or widgets;
the math imports no plots, widgets or grading. ``.importlinter`` declares these rules and
``make check`` enforces them (import-linter). Importing this package loads nothing but these names.

The instructor's tools (build, grade, bench, demo server) are the separate package
``course_tools``; nothing here imports it.

Old module names (``course_utils.diffusion``, ``course_utils.widgets``, ...) still import, as
the same modules under their new names (:mod:`course_utils._legacy`), so a notebook saved
before the reorganisation runs unchanged.
"""

from . import _legacy

__version__ = "0.1.0"

_legacy.install()


def __getattr__(name: str):
    """``course_utils.divergences`` as an attribute (the old flat layout): import it on first use."""
    module = _legacy.attribute(name)
    if module is None:
        raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
    return module
