"""Section 05's trained models are registered for make bench and return what it judges (short budgets here)."""

from __future__ import annotations

import torch
import tqdm.auto  # noqa: F401

from course_utils.core import trained
from course_utils.s05_flow_matching import models as section05
from course_utils.s05_flow_matching.flow_matching import TRAINING, labelled_eight_gaussians

# The first Adam of a process imports torch._dynamo (seconds on a busy machine) and fit imports tqdm: not trained.
torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def test_the_models_are_registered():
    specs = {s.name: s for s in trained.course_models("05")}
    assert set(specs) == {"flow_moons", "flow_eight_gaussians", "flow_checkerboard", "guided_flow_ring"}
    assert all(s.kind == "2d" for s in specs.values())
    assert set(TRAINING) == {"moons", "eight_gaussians", "checkerboard"}


def test_a_flow_model_with_a_tiny_budget_returns_samples_and_its_target():
    spec = next(s for s in trained.course_models("05") if s.name == "flow_moons")
    result = spec.train(0.3)  # the budget stops training after a few steps
    assert result.samples.shape == (trained.N_SAMPLE_SETS * trained.N_SAMPLES, 2) and result.train_seconds < 2.0
    assert result.target(7).shape == (7, 2)


def test_the_guided_model_samples_every_label_equally():
    result = section05.guided_flow_ring(0.3)
    assert result.samples.shape == (trained.N_SAMPLE_SETS * trained.N_SAMPLES, 2)
    torch.manual_seed(0)  # make bench seeds the global generator the same way before drawing targets
    draws = result.target(2000)
    mixture, labels = labelled_eight_gaussians()
    counts = labels[torch.cdist(draws, mixture.means).argmin(1)].bincount(minlength=4)
    assert counts.tolist() == [500, 500, 500, 500]  # a quarter of the target per label, like the samples
    assert section05._per_label(lambda y, k: torch.full((k, 2), float(y)), 7, 4)[:, 0].tolist() == [0, 0, 1, 1, 2, 2, 3]
