"""Reference implementations, plots, widget demos and graders for the deep generative models course.

Importing the package loads only the reference math; plotting, widgets and
grading are subpackages imported on demand:

- :mod:`course_utils.divergences`: KL divergences (notebook 01)
- :mod:`course_utils.mixtures`: Gaussian mixtures
- :mod:`course_utils.latent`: latent variable models with exact evidence (notebook 01)
- :mod:`course_utils.elbo`: evidence estimators and the ELBO (notebook 01)
- :mod:`course_utils.reparam`, :mod:`course_utils.vae`, :mod:`course_utils.vq`, :mod:`course_utils.digits`:
  gradient estimators, the VAE, VQ-VAE and the 8x8 digits (notebook 02)
- :mod:`course_utils.gan`, :mod:`course_utils.gan_training`, :mod:`course_utils.cyclegan`,
  :mod:`course_utils.adain`: the GAN game, its training, CycleGAN and AdaIN (notebook 03)
- :mod:`course_utils.wasserstein`, :mod:`course_utils.transport`, :mod:`course_utils.wgan`: W1, optimal
  transport as a linear program, critics and WGAN training (notebook 04)
- :mod:`course_utils.data`, :mod:`course_utils.paths`, :mod:`course_utils.ode`, :mod:`course_utils.nets`: 2-D toy
  targets, Gaussian probability paths, ODE solvers and the time-conditioned MLP (notebooks 05-07)
- :mod:`course_utils.flows`, :mod:`course_utils.flow_matching`: flows, the continuity equation, flow matching
  and guidance (notebook 05)
- :mod:`course_utils.sde`, :mod:`course_utils.langevin`, :mod:`course_utils.score_matching`: SDEs, Langevin
  dynamics and denoising score matching (notebook 06)
- :mod:`course_utils.diffusion`, :mod:`course_utils.ddim`: DDPM and DDIM (notebook 07)
- :mod:`course_utils.training`: the one training loop and the registry of trained models
  (:mod:`course_utils.models`); :mod:`course_utils.metrics`: exact W2 and digits scores
- :mod:`course_utils.plotting`, :mod:`course_utils.widgets`: figures and interactive demos
- :mod:`course_utils.grading`: exercises and checks; :mod:`course_utils.grade`: the grade command,
  built on :mod:`course_utils.autograde` (sandboxed, parallel class grading)
- :mod:`course_utils.demo`, :mod:`course_utils.bench`: ``make demo`` and ``make bench``
- :mod:`course_utils.build`: generates solutions/ and exercises/ from notebooks/; :mod:`course_utils.colab`,
  :mod:`course_utils.syllabus`, :mod:`course_utils.new_section`: Colab header cells, the README syllabus,
  ``make new-section``
"""

from . import divergences, elbo, latent, mixtures, validation

__all__ = ["divergences", "elbo", "latent", "mixtures", "validation"]
__version__ = "0.1.0"
