"""course_utils.core.nets: the time embedding's closed form and the network's interface."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.core import nets, ode


def test_sinusoidal_embedding_closed_form():
    t = torch.tensor([0.0, 0.25, 1.0])
    emb = nets.sinusoidal_embedding(t, 6, max_period=100.0, scale=2.0)
    freqs = [100.0 ** (-i / 3) for i in range(3)]
    expected = torch.tensor([[math.sin(2 * ti * f) for f in freqs] + [math.cos(2 * ti * f) for f in freqs]
                             for ti in t.tolist()])
    assert emb.shape == (3, 6)
    assert torch.allclose(emb, expected, atol=1e-6)


def test_time_mlp_shapes_dtype_and_ode_signature():
    torch.manual_seed(0)
    model = nets.TimeMLP(dim=2, width=16, depth=2)
    x = torch.randn(7, 2, dtype=torch.float64)
    out = model(x, torch.full((7, 1), 0.3))
    assert out.shape == (7, 2) and out.dtype == torch.float64
    assert torch.allclose(model(x, 0.3), out)  # a number broadcasts
    assert ode.integrate(model, x, n_steps=3).shape == (7, 2)
    assert nets.TimeMLP(dim=64, width=8, depth=1, time_dim=0)(torch.randn(3, 64), torch.rand(3, 1)).shape == (3, 64)


def test_labels_and_the_null_label():
    torch.manual_seed(0)
    model = nets.TimeMLP(dim=2, width=16, depth=2, n_labels=3)
    x, t = torch.randn(4, 2), torch.rand(4, 1)
    assert torch.allclose(model(x, t), model(x, t, model.null_labels(4)))
    assert not torch.allclose(model(x, t, torch.tensor([0, 1, 2, 0])), model(x, t))
    model(x, t, torch.tensor([0, 1, 2, 0])).sum().backward()
    assert model.label_embedding.weight.grad is not None


def test_bad_input_says_what_was_expected():
    model = nets.TimeMLP(dim=2, width=8, depth=1, n_labels=2)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        model(torch.zeros(3, 3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="labels in 0..2"):
        model(torch.zeros(3, 2), torch.zeros(3, 1), torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match="n_labels=0"):
        nets.TimeMLP(dim=2, width=8, depth=1)(torch.zeros(3, 2), torch.zeros(3, 1), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="even"):
        nets.sinusoidal_embedding(torch.zeros(2), 5)
