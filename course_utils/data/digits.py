r"""The 8x8 digits of scikit-learn as the course's small image data set (offline, 1,797 images).

Taught in notebook ``02_vae``. A digit is a flattened 8x8 image, 64 pixels scaled from the
raw grey levels 0..16 to [0, 1] (``pixels / 16``, :func:`digits_data`). The train/test split is
the one the digits classifier of :mod:`course_utils.metrics` uses (3/4 train, 1/4 held out, stratified,
``random_state=0``), so held-out reconstructions are digits neither the model nor the
judge has seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from ..core.validation import as_tensor

__all__ = ["DIGITS_SCALE", "DigitsSplit", "N_PIXELS", "SIDE", "as_images", "digits_data", "load_digits_split",
           "minibatches"]

SIDE = 8
N_PIXELS = SIDE * SIDE
#: Raw digit pixels are grey levels 0..16; models and the classifier see ``pixels / DIGITS_SCALE``.
DIGITS_SCALE = 16.0


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: pixels (1797, 64) in [0, 1] (float64) and labels (1797,) in 0..9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data / DIGITS_SCALE, digits.target.astype(np.int64)


@dataclass(frozen=True)
class DigitsSplit:
    """The digits split in two.

    Attributes:
        x_train: training pixels, shape (1347, 64), float32 in [0, 1].
        y_train: their labels 0..9, shape (1347,), int64.
        x_test: held-out pixels, shape (450, 64).
        y_test: their labels, shape (450,).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


@lru_cache(maxsize=2)
def load_digits_split(dtype: torch.dtype = torch.float32) -> DigitsSplit:
    """The 1,797 digits, split 3/4 train, 1/4 test (stratified, fixed), pixels in [0, 1]."""
    from sklearn.model_selection import train_test_split

    x, y = digits_data()
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    t = lambda a: torch.as_tensor(a, dtype=dtype)
    return DigitsSplit(t(x_tr), torch.as_tensor(y_tr), t(x_te), torch.as_tensor(y_te))


def as_images(x) -> Tensor:
    """Flattened digits (..., 64) -> images (..., 8, 8)."""
    x = as_tensor(x, "x")
    if x.ndim == 0 or x.shape[-1] != N_PIXELS:
        raise ValueError(f"x must hold flattened 8x8 digits, shape (..., {N_PIXELS}), got {tuple(x.shape)}")
    return x.reshape(*x.shape[:-1], SIDE, SIDE)


def minibatches(x: Tensor, batch_size: int, seed: int = 0) -> Callable[[], Tensor]:
    """A function returning a fresh random minibatch of rows of ``x`` (with replacement) at each call.

    The draws come from their own generator, so training is reproducible for a seed.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x must have shape (n, d) with n >= 1, got {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    return lambda: x[torch.randint(0, len(x), (batch_size,), generator=g)]
