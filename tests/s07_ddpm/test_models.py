"""Section 07's registered models: what make bench finds, and that each returns what its kind needs.

Trained here with a one-second budget (a handful of steps): the shapes and the contract are tested,
not the quality (make bench and the notebook measure that).
"""

from __future__ import annotations

import pytest

from course_utils.core.trained import N_SAMPLE_SETS, N_SAMPLES, course_models


def test_section_07_registers_a_2d_and_a_digits_model():
    assert {(s.name, s.kind) for s in course_models("07")} == {("ddpm_eight_gaussians", "2d"),
                                                                ("ddpm_digits", "digits")}


@pytest.mark.parametrize("name", ["ddpm_eight_gaussians", "ddpm_digits"])
def test_each_model_returns_what_its_kind_needs(name):
    spec = next(s for s in course_models("07") if s.name == name)
    result = spec.train(1.0)  # raises if the result does not fit the kind
    assert result.samples.shape == ((N_SAMPLE_SETS * N_SAMPLES, 2) if spec.kind == "2d" else (N_SAMPLES, 64))
    assert result.train_seconds > 0  # the time itself depends on the machine: make bench judges it
    if spec.kind == "digits":
        assert float(result.samples.min()) >= 0 and float(result.samples.max()) <= 1
    else:
        assert result.target(5).shape == (5, 2)
