"""Section 01's demos: forward vs reverse KL (:mod:`.kl`), the ELBO ledger (:mod:`.elbo`), and
estimating log p(x) by importance sampling (:mod:`.estimators`)."""

from .elbo import *  # noqa: F403
from .elbo import __all__ as _elbo
from .estimators import *  # noqa: F403
from .estimators import __all__ as _estimators
from .kl import *  # noqa: F403
from .kl import __all__ as _kl

__all__ = [*_kl, *_elbo, *_estimators]
