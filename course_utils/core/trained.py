"""The registry of the course's trained models, which ``make bench`` measures.

Each section that trains a model registers the function that trains it, in its
``models`` module (``course_utils/s05_flow_matching/models.py``)::

    @course_model(name="flow_moons", section="05", kind="2d")
    def flow_moons(seconds_budget: float) -> TrainedModel: ...

:func:`course_models` imports every section's ``models`` module and lists what registered
itself, so ``make bench`` finds every trained model with no hand-kept list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from .registry import Registry, defined_by, discover, section_id

__all__ = [
    "KINDS",
    "N_SAMPLES",
    "N_SAMPLE_SETS",
    "ModelSpec",
    "TrainedModel",
    "course_model",
    "course_models",
]

#: What a trained model is judged on: "2d" (W2 to its target), "digits" (a digits classifier).
KINDS = ("2d", "digits")
#: How many samples a model function should return: ``make bench`` compares this many with its target.
N_SAMPLES = 2000
#: How many sets of N_SAMPLES a 2-D model may return: ``make bench`` judges each against its own target draw, since
#: W2 between two 2,000-point draws of a multimodal target varies by tens of percent from draw to draw.
N_SAMPLE_SETS = 3
DIGIT_PIXELS = 64



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


#: The course's trained models, by name.
MODELS: Registry[ModelSpec] = Registry("model", key=lambda s: s.name, order=lambda s: (s.section, s.name),
                                       origin=lambda s: defined_by(s.factory))


def course_model(*, name: str, section: str, kind: str):
    """Decorator registering a function ``f(seconds_budget: float) -> TrainedModel``; returns f unchanged.

    A module reload replaces the entry; two different functions with one name raise.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier (it names build/samples/<name>.npy), got {name!r}")
    section = section_id(section)

    def register(factory):
        if not callable(factory):
            raise TypeError("@course_model decorates a function f(seconds_budget) -> TrainedModel")
        MODELS.add(ModelSpec(name, section, kind, factory))
        return factory

    return register


def course_models(section: str | None = None, discover_sections: bool = True) -> list[ModelSpec]:
    """Registered trained models, ordered by section then name; only ``section``'s if given.

    With ``discover_sections`` (the default), first imports every section's ``models`` module.
    """
    if discover_sections:
        discover("models")
    return MODELS.all(section)
