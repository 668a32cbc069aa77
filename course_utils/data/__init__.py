"""Data made in code or shipped offline: the 2-D toy targets (:mod:`.toy2d`), Gaussian mixtures
(:mod:`.mixtures`), and scikit-learn's 8x8 digits (:mod:`.digits`).

The 2-D targets are re-exported here (``from course_utils.data import eight_gaussians``).
"""

from .toy2d import *  # noqa: F403 - the 2-D targets, the package's main entry point
from .toy2d import __all__  # noqa: F401
