r"""The course's one training loop.

:func:`fit` is the loop every section reuses: Adam on ``loss_fn(model, batch)``,

.. math:: \theta \leftarrow \mathrm{Adam}\big(\theta, \nabla_\theta\, \mathcal L(\theta; x_{\text{batch}})\big)

with a progress bar, a loss history, an optional time budget, a learning-rate schedule, a
:class:`WeightAverage` of the weights on request, and a clear error when the loss stops
being a finite scalar.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import torch
from torch import Tensor

from .validation import check_int, check_number

__all__ = ["LRSchedule", "WeightAverage", "cosine_decay", "fit"]


def _batch_source(batches) -> Callable[[], object]:
    """Turn ``batches`` into a function returning the next batch.

    A tensor, or a tuple of tensors such as ``(x, y)``, is the full batch at every step; a
    callable is called with no arguments; any other iterable is iterated, restarting when it
    runs out if it can (a list, a DataLoader), else raising (a spent generator).
    """
    if isinstance(batches, Tensor) or (
        isinstance(batches, tuple) and batches and all(isinstance(b, Tensor) for b in batches)
    ):
        return lambda: batches
    if callable(batches):
        return batches
    if not isinstance(batches, Iterable):
        raise TypeError(
            "batches must be a tensor or tuple of tensors (the full batch every step), a function "
            f"returning a batch, or an iterable of batches; got {type(batches).__name__}"
        )
    state: dict[str, Iterator] = {"it": iter(batches)}
    restartable = state["it"] is not batches

    def next_batch():
        try:
            return next(state["it"])
        except StopIteration:
            if not restartable:
                raise ValueError(
                    "batches ran out before the last step: pass a function that returns a batch "
                    "(e.g. lambda: target.sample(256)), a list, or a DataLoader"
                ) from None
            state["it"] = iter(batches)
            try:
                return next(state["it"])
            except StopIteration:
                raise ValueError("batches is empty: it yields no batch at all") from None

    return next_batch


#: A learning-rate schedule for :func:`fit`: a name, or ``factor(step, steps) -> float`` multiplying ``lr``.
LRSchedule = Literal["constant", "cosine"] | Callable[[int, int], float]


def cosine_decay(step: int, steps: int) -> float:
    r"""The cosine schedule's factor on the learning rate at update ``step`` (0-based) of ``steps``:
    :math:`\frac12\big(1 + \cos(\pi\, \text{step} / \text{steps})\big)`, 1 at the first update, falling towards 0."""
    return 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))


def _lr_factor(lr_schedule: LRSchedule) -> Callable[[int, int], float] | None:
    if lr_schedule == "constant":
        return None
    if lr_schedule == "cosine":
        return cosine_decay
    if callable(lr_schedule):
        return lr_schedule
    raise ValueError(f"lr_schedule must be 'constant', 'cosine' or a function (step, steps) -> factor, "
                     f"got {lr_schedule!r}")


class WeightAverage:
    r"""An exponential moving average of a model's weights, for :func:`fit` to update after every Adam step:

    .. math:: \bar\theta \leftarrow \gamma_k \bar\theta + (1 - \gamma_k)\,\theta,\qquad
        \gamma_k = \gamma \text{ or, with warm-up, } \min\big(\gamma, \tfrac{1 + k}{10 + k}\big)

    at update k = 1, 2, .... The warm-up lets the average start as nearly a plain mean of the weights so far,
    so that the random initial weights do not linger in it. ``averaged`` is a separate copy of the model
    (eval mode, no gradients): the network that samples.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.99, warmup: bool = False):
        self.decay = check_number(decay, "decay", 0, 1, high_open=True)
        self.warmup = warmup
        self.updates = 0
        self.averaged = copy.deepcopy(model).eval().requires_grad_(False)
        self._src = list(model.parameters())
        self._dst = list(self.averaged.parameters())

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average towards the model's current weights."""
        self.updates += 1
        k = self.updates
        decay = min(self.decay, (1 + k) / (10 + k)) if self.warmup else self.decay
        torch._foreach_lerp_(self._dst, [p.detach() for p in self._src], 1.0 - decay)


def _check_fit_args(model, loss_fn, steps, lr, max_seconds) -> list[torch.nn.Parameter]:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"model ({type(model).__name__}) has no trainable parameters")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(model, batch) -> scalar, got {type(loss_fn).__name__}")
    check_int(steps, "steps", 1, what="the number of Adam updates")
    check_number(lr, "lr", 0, low_open=True, what="the Adam learning rate")
    if max_seconds is not None:
        check_number(max_seconds, "max_seconds", 0, low_open=True, what="a time budget in seconds, or None")
    return params


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, object], Tensor],
    batches,
    steps: int,
    lr: float = 1e-3,
    progress: bool = True,
    desc: str = "training",
    max_seconds: float | None = None,
    lr_schedule: LRSchedule = "constant",
    average: WeightAverage | None = None,
) -> Tensor:
    r"""Train ``model`` with Adam: ``steps`` updates, each on one batch.

    At step t: draw a batch :math:`x_t`, compute the scalar loss
    :math:`\mathcal L_t = \texttt{loss\_fn}(\text{model}, x_t)`, backpropagate, take one Adam step.

    Args:
        model: the module whose trainable parameters are optimised (left in the
            train/eval mode it had).
        loss_fn: ``loss_fn(model, batch) -> Tensor`` of shape () to minimise.
        batches: a function returning a fresh batch (``lambda: target.sample(256)``); a
            tensor, or a tuple of tensors ``(x, y)``, used whole at every step; or a list,
            DataLoader or other iterable of batches (restarted when it runs out, if it can be).
        steps: number of Adam updates, a positive int.
        lr: Adam's learning rate.
        progress: show a tqdm progress bar with the running loss.
        desc: the progress bar's label.
        max_seconds: a time budget: stop early, before a step that (at the mean step time
            so far) would end past it; the history is then shorter than ``steps``.
            None: always run every step.
        lr_schedule: ``"constant"``; ``"cosine"``: the rate at step k is ``lr * cosine_decay(k, steps)``,
            from lr down towards 0, for fast early progress and a quiet end; or a function
            ``factor(k, steps)`` of the same kind.
        average: a :class:`WeightAverage` of ``model`` to update after every Adam step.

    Returns:
        The loss at each step taken, a float64 tensor of shape (steps,) (fewer if
        ``max_seconds`` stopped training early).

    Raises:
        FloatingPointError: the loss became NaN or infinite (lower ``lr``?).
    """
    params = _check_fit_args(model, loss_fn, steps, lr, max_seconds)
    factor = _lr_factor(lr_schedule)
    if average is not None and not isinstance(average, WeightAverage):
        raise TypeError(f"average must be a WeightAverage of the model or None, got {type(average).__name__}")
    next_batch = _batch_source(batches)
    from tqdm.auto import tqdm

    optimizer = torch.optim.Adam(params, lr=lr)
    was_training = model.training
    model.train()
    history: list[float] = []
    start = time.perf_counter()
    try:
        with tqdm(total=steps, desc=desc, disable=not progress, file=sys.stderr, leave=False) as bar:
            for step in range(steps):
                loss = loss_fn(model, next_batch())
                if not isinstance(loss, Tensor) or loss.ndim != 0:
                    shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
                    raise ValueError(f"loss_fn must return a scalar tensor (shape ()), got {shape}: "
                                     "did you forget .mean() over the batch?")
                if not loss.requires_grad:
                    raise ValueError("the loss does not depend on the model's parameters (no gradient): "
                                     "does loss_fn call the model?")
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"the loss became {value} at step {step} of {steps}: "
                                             f"try a smaller lr (now {lr:g})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if factor is not None:
                    for group in optimizer.param_groups:
                        group["lr"] = lr * factor(step, steps)
                optimizer.step()
                if average is not None:
                    average.update()
                history.append(value)
                bar.update(1)
                if step % 25 == 0 or step == steps - 1:
                    bar.set_postfix(loss=f"{value:.4g}", refresh=False)
                elapsed = time.perf_counter() - start
                if max_seconds is not None and elapsed + elapsed / (step + 1) > max_seconds:
                    break  # another step (at the mean step time so far) would overrun the budget
    finally:
        model.train(was_training)
    return torch.tensor(history, dtype=torch.float64)
