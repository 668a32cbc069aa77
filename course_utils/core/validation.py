"""Argument checks shared by the reference implementations.

Every reference function validates what it is given and says what it expected,
so that a student who passes a wrong shape or a negative variance reads a
sentence, not a broadcasting error ten frames deep.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "as_points",
    "as_tensor",
    "check_int",
    "check_number",
    "check_positive",
    "check_probabilities",
    "check_same_shape",
    "check_last_dim",
    "check_unit_interval",
    "check_broadcastable",
]


def as_tensor(x, name: str, dtype: torch.dtype | None = None) -> Tensor:
    """Convert ``x`` (tensor, array, list or number) to a floating tensor."""
    try:
        t = torch.as_tensor(x, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a tensor or array of numbers, got {type(x).__name__}") from err
    if not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    return t


def as_points(x, name: str, dim: int | None = None) -> Tensor:
    """``x`` as a floating tensor of points, shape (n, d) (with d = ``dim`` if given); else a ValueError."""
    x = as_tensor(x, name)
    if x.ndim != 2 or (dim is not None and x.shape[1] != dim):
        want = f"(n, {dim})" if dim is not None else "(n, d)"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    return x


def _describe_int(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an int in {low}..{high}"
    if low == 1:
        return "a positive integer"
    if low is not None:
        return f"an int >= {low}"
    return "an int" if high is None else f"an int <= {high}"


def check_int(value, name: str, low: int | None = None, high: int | None = None, what: str | None = None) -> int:
    """Return ``value`` if it is an int (a bool is not) in ``low..high`` (either bound optional); else a ValueError.

    ``what`` says what the number is, e.g. ``check_int(T, "T", 1, what="the number of diffusion steps")``
    raises "T must be a positive integer (the number of diffusion steps), got 0".
    """
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        about = f" ({what})" if what else ""
        raise ValueError(f"{name} must be {_describe_int(low, high)}{about}, got {value!r}")
    return value


def check_number(value, name: str, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, what: str | None = None) -> float:
    """Return ``value`` as a float if it is a finite real number (a bool is not) within the bounds; else a ValueError.

    ``low_open`` / ``high_open`` exclude a bound: ``check_number(lr, "lr", 0, low_open=True)`` asks for lr > 0
    ("lr must be a positive finite number, got -1").
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (low is None or (value > low if low_open else value >= low)) and \
             (high is None or (value < high if high_open else value <= high))
    if not ok:
        if low == 0 and low_open and high is None:
            want = "a positive finite number"
        elif low is not None and high is not None:
            want = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            want = f"a finite number {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            want = f"a finite number {'<' if high_open else '<='} {high:g}"
        else:
            want = "a finite number"
        about = f" ({what})" if what else ""
        raise ValueError(f"{name} must be {want}{about}, got {value!r}")
    return float(value)


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_broadcastable(named: dict[str, Tensor]) -> None:
    """Raise unless the tensors broadcast together; name them and their shapes."""
    try:
        torch.broadcast_shapes(*(t.shape for t in named.values()))
    except RuntimeError:
        shapes = ", ".join(f"{name} {tuple(t.shape)}" for name, t in named.items())
        raise ValueError(f"shapes do not broadcast together: {shapes}") from None


def check_last_dim(x: Tensor, dim: int, name: str) -> None:
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (..., {dim}), got {tuple(x.shape)}")


def check_positive(x: Tensor, name: str, what: str = "a variance") -> None:
    """Raise if any entry of ``x`` is not strictly positive (or is NaN)."""
    if not bool(torch.all(x > 0)):
        bad = x[~(x > 0)].flatten()[0].item()
        raise ValueError(f"{name} is {what} and must be > 0 everywhere; found {bad}")


def check_probabilities(p: Tensor, name: str, atol: float = 1e-5) -> None:
    """Raise unless ``p`` is non-negative and sums to one along its last axis."""
    if p.ndim == 0:
        raise ValueError(f"{name} must be a vector of probabilities with shape (..., K), got a scalar")
    if bool(torch.any(p < 0)) or bool(torch.any(torch.isnan(p))):
        raise ValueError(f"{name} must hold probabilities >= 0; found {p.min().item():.3g}")
    total = p.sum(-1)
    if not torch.allclose(total, torch.ones_like(total), atol=atol):
        worst = total.flatten()[(total.flatten() - 1).abs().argmax()].item()
        raise ValueError(
            f"{name} must sum to 1 along its last axis (a normalised distribution); one row sums to "
            f"{worst:.6g}"
        )


def check_unit_interval(t: Tensor, name: str = "t") -> None:
    if bool(torch.any((t < 0) | (t > 1))) or bool(torch.any(torch.isnan(t))):
        raise ValueError(f"{name} must lie in [0, 1]; got values from {t.min().item():.3g} to {t.max().item():.3g}")
