r"""The course's one training loop, and the registry of its trained models.

:func:`fit` is the loop every section reuses: Adam on ``loss_fn(model, batch)``,

.. math:: \theta \leftarrow \mathrm{Adam}\big(\theta, \nabla_\theta\, \mathcal L(\theta; x_{\text{batch}})\big)

with a progress bar, a loss history, an optional time budget, and a clear error
when the loss stops being a finite scalar.

Each section that trains a model registers the function that trains it::

    @course_model(name="flow_2d", section="05", kind="2d")
    def flow_2d(seconds_budget: float) -> TrainedModel: ...

in a module ``course_utils/models/<section>_*.py``. :func:`course_models` imports
every module of :mod:`course_utils.models` (when the package exists) and lists what
registered itself, so ``make bench`` finds every trained model with no hand-kept list.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import math
import pkgutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "KINDS",
    "MODELS_PACKAGE",
    "N_SAMPLES",
    "N_SAMPLE_SETS",
    "ModelSpec",
    "TrainedModel",
    "WeightAverage",
    "course_model",
    "course_models",
    "cosine_decay",
    "discover_models",
    "fit",
    "one_thread",
]

#: What a trained model is judged on: "2d" (W2 to its target), "digits" (a digits classifier).
KINDS = ("2d", "digits")
#: The package whose modules register the course's trained models.
MODELS_PACKAGE = "course_utils.models"
#: How many samples a model function should return: ``make bench`` compares this many with its target.
N_SAMPLES = 2000
#: How many sets of N_SAMPLES a 2-D model may return: ``make bench`` judges each against its own target draw, since
#: W2 between two 2,000-point draws of a multimodal target varies by tens of percent from draw to draw.
N_SAMPLE_SETS = 3
DIGIT_PIXELS = 64


# --- the training loop -----------------------------------------------------------------


@contextmanager
def one_thread():
    """Run torch on one thread inside the block, restoring the setting afterwards.

    The course's networks and demos work on tiny tensors, where the thread pool only adds
    latency: on a 2-core machine a (1024, 2) @ (2, 10) matmul took ~16 ms on 2 threads and
    ~0.3 ms on one, and small MLPs train faster on one thread (much faster on a busy machine).
    """
    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


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
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1:
            raise ValueError(f"decay must be a number in [0, 1), got {decay!r}")
        self.decay = float(decay)
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
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the number of Adam updates), got {steps!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive finite number (the Adam learning rate), got {lr!r}")
    if max_seconds is not None and (
        isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0
    ):
        raise ValueError(f"max_seconds must be a positive number of seconds or None, got {max_seconds!r}")
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


# --- the registry of trained models ----------------------------------------------------


@dataclass
class TrainedModel:
    """What a registered model function returns: samples behind its figure, and how long it trained.

    Attributes:
        samples: samples drawn from the trained model, shape (n, d); n >= :data:`N_SAMPLES`
            for ``make bench`` (k * N_SAMPLES, k <= :data:`N_SAMPLE_SETS`: k separate sets, which
            ``make bench`` averages over). d = 2 for kind "2d"; d = 64 (8x8 pixels in [0, 1]) for "digits".
        train_seconds: wall time of the training itself.
        target: kind "2d": draws n fresh samples of the distribution the model learns,
            ``target(n) -> (n, 2)``.
        reconstructions: kind "digits", optional: reconstructions of real digits, shape (k, 64).
        labels: the true labels (k,) of the reconstructed digits; given with ``reconstructions``.
    """

    samples: Tensor
    train_seconds: float
    target: Callable[[int], Tensor] | None = None
    reconstructions: Tensor | None = None
    labels: Tensor | None = None

    def check(self, kind: str, name: str = "model") -> None:
        """Raise a ValueError naming what is wrong, if this result does not fit ``kind``."""
        if not isinstance(self.samples, Tensor) or self.samples.ndim != 2 or len(self.samples) == 0:
            shape = tuple(self.samples.shape) if isinstance(self.samples, Tensor) else type(self.samples).__name__
            raise ValueError(f"{name}: samples must be a tensor of shape (n, d), got {shape}")
        if not isinstance(self.train_seconds, (int, float)) or not self.train_seconds >= 0:
            raise ValueError(f"{name}: train_seconds must be a number >= 0, got {self.train_seconds!r}")
        if kind == "2d":
            if self.samples.shape[1] != 2:
                raise ValueError(f"{name}: a 2d model's samples have shape (n, 2), got {tuple(self.samples.shape)}")
            if not callable(self.target):
                raise ValueError(f"{name}: a 2d model must give target, a function n -> (n, 2) target samples")
        elif kind == "digits":
            if self.samples.shape[1] != DIGIT_PIXELS:
                raise ValueError(f"{name}: a digits model's samples have shape (n, 64), "
                                 f"got {tuple(self.samples.shape)}")
            if (self.reconstructions is None) != (self.labels is None):
                raise ValueError(f"{name}: give reconstructions and labels together")
            if self.reconstructions is not None:
                r, y = self.reconstructions, self.labels
                if r.ndim != 2 or r.shape[1] != DIGIT_PIXELS or y.shape != (len(r),):
                    raise ValueError(f"{name}: reconstructions (k, 64) and labels (k,) expected, "
                                     f"got {tuple(r.shape)} and {tuple(y.shape)}")


@dataclass(frozen=True)
class ModelSpec:
    """One registered trained model.

    Attributes:
        name: unique name, e.g. ``"flow_2d"`` (also the file name of its saved samples).
        section: the course section, two digits ("05").
        kind: "2d" or "digits" (see :data:`KINDS`): what ``make bench`` measures.
        factory: ``factory(seconds_budget) -> TrainedModel``.
    """

    name: str
    section: str
    kind: str
    factory: Callable[[float], TrainedModel]

    def train(self, seconds_budget: float) -> TrainedModel:
        """Run the model function with a time budget; check what it returns."""
        result = self.factory(seconds_budget)
        if not isinstance(result, TrainedModel):
            raise TypeError(f"model {self.name!r} must return a TrainedModel, got {type(result).__name__}")
        result.check(self.kind, self.name)
        return result


_REGISTRY: dict[str, ModelSpec] = {}


def course_model(*, name: str, section: str, kind: str):
    """Decorator registering a function ``f(seconds_budget: float) -> TrainedModel``; returns f unchanged.

    A module reload replaces the entry; two different functions with one name raise.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier (it names build/samples/<name>.npy), got {name!r}")
    section = str(section)
    section = section.zfill(2) if section.isdigit() else section

    def register(factory):
        if not callable(factory):
            raise TypeError("@course_model decorates a function f(seconds_budget) -> TrainedModel")
        old = _REGISTRY.get(name)
        where = lambda f: (getattr(f, "__module__", None), getattr(f, "__qualname__", None))
        if old is not None and where(old.factory) != where(factory):
            raise ValueError(f"a model named {name!r} is already registered by "
                             f"{old.factory.__module__}.{old.factory.__qualname__}")
        _REGISTRY[name] = ModelSpec(name, section, kind, factory)
        return factory

    return register


def discover_models(package: str = MODELS_PACKAGE) -> list[str]:
    """Import every module of ``package`` (so that they register their models); [] if it does not exist.

    Returns the names of the modules imported. An error inside a module is raised, not hidden.
    """
    try:
        found = importlib.util.find_spec(package)
    except ModuleNotFoundError:  # a parent package is missing
        found = None
    if found is None:
        return []
    pkg = importlib.import_module(package)
    names = []
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
            names.append(info.name)
    return names


def course_models(section: str | None = None, discover: bool = True) -> list[ModelSpec]:
    """Registered trained models, ordered by section then name; only ``section``'s if given.

    With ``discover`` (the default), first imports every module of :data:`MODELS_PACKAGE`.
    """
    if discover:
        discover_models()
    specs = list(_REGISTRY.values())
    if section is not None:
        wanted = str(section).zfill(2) if str(section).isdigit() else str(section)
        specs = [s for s in specs if s.section == wanted]
    return sorted(specs, key=lambda s: (s.section, s.name))
