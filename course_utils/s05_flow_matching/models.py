"""Section 05's trained models: a flow matching model per 2-D target, and the guided flow on the labelled ring.

Each trains with the settings the notebook ``05_flow_matching`` uses (:data:`~.flow_matching.TRAINING`,
:data:`~.flow_matching.GUIDED_TRAINING`), stopping early if the time budget runs out, and samples
three sets of 2,000 points with the course's sampler (the midpoint rule, 50 steps).
"""

from __future__ import annotations

import torch

from ..core.trained import N_SAMPLE_SETS, N_SAMPLES, TrainedModel, course_model
from ..data.toy2d import sample_target
from .flow_matching import (
    GUIDED_TRAINING,
    TRAINING,
    class_mixture,
    labelled_eight_gaussians,
    train_flow,
    train_guided_flow,
)

#: The guided model is sampled with the plain guided field (w = 1), a quarter of the samples per label, and judged
#: against the labelled data drawn the same way (a quarter per label): the ratio then measures how well each label's
#: field reproduces that label's data, not the luck of the label counts.
GUIDED_W = 1.0


def _per_label(draw, n: int, n_labels: int):
    """n points, the same number per label (the remainder from the first labels), ``draw(y, k) -> (k, 2)``."""
    counts = [n // n_labels + (y < n % n_labels) for y in range(n_labels)]
    return torch.cat([draw(y, k) for y, k in enumerate(counts) if k])


def _flow(name: str, seconds_budget: float) -> TrainedModel:
    run = train_flow(name, progress=False, max_seconds=0.95 * seconds_budget, **TRAINING[name])
    return TrainedModel(run.sample(N_SAMPLE_SETS * N_SAMPLES, seed=7).double(), run.seconds,
                        target=lambda n: sample_target(name, n, seed=None).double())


@course_model(name="flow_moons", section="05", kind="2d")
def flow_moons(seconds_budget: float) -> TrainedModel:
    """Conditional flow matching (linear path) on two moons."""
    return _flow("moons", seconds_budget)


@course_model(name="flow_eight_gaussians", section="05", kind="2d")
def flow_eight_gaussians(seconds_budget: float) -> TrainedModel:
    """Conditional flow matching (linear path) on eight Gaussians."""
    return _flow("eight_gaussians", seconds_budget)


@course_model(name="flow_checkerboard", section="05", kind="2d")
def flow_checkerboard(seconds_budget: float) -> TrainedModel:
    """Conditional flow matching (linear path) on the checkerboard."""
    return _flow("checkerboard", seconds_budget)


@course_model(name="guided_flow_ring", section="05", kind="2d")
def guided_flow_ring(seconds_budget: float) -> TrainedModel:
    """Guided flow matching with label dropout on the labelled 8 Gaussians (label k owns modes 2k and 2k + 1);
    500 samples of each label at w = 1 against 500 draws of each label's data, in each of three sets."""
    mixture, labels = labelled_eight_gaussians()
    run = train_guided_flow(mixture, labels, progress=False, max_seconds=0.95 * seconds_budget, **GUIDED_TRAINING)
    n_labels = run.n_labels
    samples = torch.cat([_per_label(lambda y, k, s=s: run.sample(y, GUIDED_W, k, seed=7 + n_labels * s + y).double(),
                                    N_SAMPLES, n_labels) for s in range(N_SAMPLE_SETS)])
    own = [class_mixture(mixture, labels, y) for y in range(n_labels)]
    return TrainedModel(samples, run.seconds,
                        target=lambda n: _per_label(lambda y, k: own[y].sample(k), n, n_labels))
