"""course_utils.core.trained: the registry of the course's trained models, which ``make bench`` measures."""

import pytest
import torch

from course_utils.core import trained
from course_utils.core.trained import TrainedModel, course_model, course_models


def _toy_2d(seconds_budget: float) -> TrainedModel:
    target = lambda n: torch.randn(n, 2)
    return TrainedModel(samples=target(10), train_seconds=0.0, target=target)


def test_a_registered_model_is_listed_and_trains(empty_model_registry):
    course_model(name="toy_2d", section="5", kind="2d")(_toy_2d)
    specs = course_models()
    assert [(s.name, s.section, s.kind) for s in specs] == [("toy_2d", "05", "2d")]
    assert course_models(section="05") == specs and course_models(section="06") == []
    result = specs[0].train(1.0)
    assert result.samples.shape == (10, 2)
    course_model(name="toy_2d", section="05", kind="2d")(_toy_2d)  # a module reload replaces
    assert len(course_models()) == 1


def test_the_real_registry_is_left_as_it_was(empty_model_registry):
    assert len(empty_model_registry) == 0 and trained.MODELS is empty_model_registry  # not the course's


def test_course_model_rejects_bad_declarations(empty_model_registry):
    with pytest.raises(ValueError, match="kind must be one of '2d', 'digits'"):
        course_model(name="m", section="05", kind="3d")
    with pytest.raises(ValueError, match="name must be an identifier"):
        course_model(name="my model", section="05", kind="2d")
    course_model(name="m", section="05", kind="2d")(_toy_2d)
    with pytest.raises(ValueError, match="model 'm' is registered twice"):
        course_model(name="m", section="06", kind="2d")(lambda seconds_budget: None)


def test_train_checks_what_the_model_function_returns(empty_model_registry):
    course_model(name="wrong_type", section="05", kind="2d")(lambda seconds_budget: torch.zeros(3, 2))
    course_model(name="wrong_dim", section="05", kind="2d")(
        lambda seconds_budget: TrainedModel(torch.zeros(3, 3), 0.0, target=lambda n: torch.zeros(n, 2)))
    course_model(name="no_target", section="05", kind="2d")(lambda seconds_budget: TrainedModel(torch.zeros(3, 2), 0))
    course_model(name="digits_dim", section="06", kind="digits")(
        lambda seconds_budget: TrainedModel(torch.zeros(3, 2), 0.0))
    course_model(name="lone_recon", section="06", kind="digits")(
        lambda seconds_budget: TrainedModel(torch.zeros(3, 64), 0.0, reconstructions=torch.zeros(3, 64)))
    specs = {s.name: s for s in course_models()}
    with pytest.raises(TypeError, match="must return a TrainedModel"):
        specs["wrong_type"].train(1.0)
    with pytest.raises(ValueError, match=r"wrong_dim: a 2d model's samples have shape \(n, 2\)"):
        specs["wrong_dim"].train(1.0)
    with pytest.raises(ValueError, match="no_target: a 2d model must give target"):
        specs["no_target"].train(1.0)
    with pytest.raises(ValueError, match=r"digits_dim: a digits model's samples have shape \(n, 64\)"):
        specs["digits_dim"].train(1.0)
    with pytest.raises(ValueError, match="give reconstructions and labels together"):
        specs["lone_recon"].train(1.0)


def test_the_course_registry_lists_only_trained_models():
    for spec in course_models():  # whatever sections exist: well-formed entries
        assert spec.kind in trained.KINDS and spec.section.isdigit() and callable(spec.factory)
