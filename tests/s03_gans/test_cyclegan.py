"""cyclegan: the corrected least-squares term, the cycle loss, the domains, a short run."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.s03_gans import cyclegan


def test_ls_term_squares_both_parts_the_errata_form():
    d_real, d_fake = torch.tensor([1.0, 0.0]), torch.tensor([-2.0, 2.0])
    # E[(D(y) - 1)^2] + E[D(G(x))^2] = (0 + 1)/2 + (4 + 4)/2
    assert float(cyclegan.ls_adversarial_term(d_real, d_fake)) == pytest.approx(0.5 + 4.0)
    # the slide's slip E[D(G(x))] would give 0.5 + 0: a D that outputs -inf on fakes would win
    assert float(cyclegan.ls_adversarial_term(d_real, d_fake)) != pytest.approx(0.5 + float(d_fake.mean()))


def test_cycle_loss_is_zero_for_inverse_maps_and_l1_otherwise():
    x, y = torch.randn(20, 2), torch.randn(10, 2)
    a = torch.tensor([[2.0, 1.0], [0.0, 1.0]])
    g, f = (lambda t: t @ a.T), (lambda t: t @ torch.linalg.inv(a).T)
    assert float(cyclegan.cycle_consistency_loss(x, y, g, f)) == pytest.approx(0.0, abs=1e-5)
    ident, shift = (lambda t: t), (lambda t: t + torch.tensor([1.0, -2.0]))
    # f(g(x)) - x = (1, -2) for every point: L1 norm 3, twice (both cycles)
    assert float(cyclegan.cycle_consistency_loss(x, y, shift, ident)) == pytest.approx(6.0)


def test_terms_are_a_named_triple():
    x, y = torch.randn(8, 2), torch.randn(6, 2)
    ident, zero = (lambda t: t), (lambda t: torch.zeros(len(t), 1))
    terms = cyclegan.cyclegan_terms(x, y, ident, ident, zero, zero)
    assert float(terms.adv_g) == pytest.approx(1.0) and float(terms.adv_f) == pytest.approx(1.0)
    assert float(terms.cycle) == pytest.approx(0.0)
    assert len(tuple(terms)) == 3


def test_domains_lie_on_their_shapes():
    g = torch.Generator().manual_seed(0)
    x, angle = cyclegan.circle_domain(500, g, noise=0.0)
    assert torch.allclose(x.norm(dim=1), torch.ones(500), atol=1e-5)
    assert float(angle.min()) >= 0 and float(angle.max()) < 2 * math.pi
    y, _ = cyclegan.square_domain(500, g, half_side=1.5, noise=0.0)
    assert torch.allclose(y.abs().max(dim=1).values, torch.full((500,), 1.5), atol=1e-5)


def test_a_short_run_trains_four_networks():
    g = torch.Generator().manual_seed(0)
    run = cyclegan.train_cyclegan(lambda n: cyclegan.circle_domain(n, g)[0],
                                  lambda n: cyclegan.square_domain(n, g)[0], steps=30, width=16, batch=32,
                                  progress=False)
    assert len(run.trainer.history["d"]) == 30 and run.cycle_weight == 5.0
    assert run.g(torch.zeros(3, 2)).shape == (3, 2)
