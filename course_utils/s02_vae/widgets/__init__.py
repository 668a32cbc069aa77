"""Section 02's demos: the estimator race, the latent explorer and beta-VAE (:mod:`.vae`), and the
VQ-VAE codebook lab (:mod:`.vq`)."""

from .vae import *  # noqa: F403
from .vae import __all__ as _vae
from .vq import *  # noqa: F403
from .vq import __all__ as _vq

__all__ = [*_vae, *_vq]
