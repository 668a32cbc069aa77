"""Reference implementations, plots, widget demos and graders for the deep generative models course.

Importing the package loads only the reference math; plotting, widgets and
grading are subpackages imported on demand:

- :mod:`course_utils.divergences`: KL divergences (notebook 01)
- :mod:`course_utils.mixtures`: Gaussian mixtures
- :mod:`course_utils.latent`: latent variable models with exact evidence (notebook 01)
- :mod:`course_utils.elbo`: evidence estimators and the ELBO (notebook 01)
- :mod:`course_utils.plotting`, :mod:`course_utils.widgets`: figures and interactive demos
- :mod:`course_utils.grading`: exercises and checks; :mod:`course_utils.grade`: the grade command
- :mod:`course_utils.build`: generates solutions/ and exercises/ from notebooks/
"""

from . import divergences, elbo, latent, mixtures, validation

__all__ = ["divergences", "elbo", "latent", "mixtures", "validation"]
__version__ = "0.1.0"
