"""The graders of section 03 against student answers written independently here.

Every correct alternative is written without course_utils' reference functions and must
pass; every plausible wrong answer must fail with 0 points and, where the grader knows the
mistake, with the sentence that teaches it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fails, assert_passes
from scipy.spatial.distance import jensenshannon
from torch.distributions import Categorical

from course_utils.grading import exercises


def test_section_03_exercises():
    assert [(e.id, e.function, e.points) for e in exercises("03")] == [
        ("3.1", "optimal_discriminator", 1),
        ("3.2", "optimal_value", 2),
        ("3.3", "jsd_discrete", 1),
        ("3.4", "discriminator_loss", 2),
        ("3.5", "generator_loss_nonsaturating", 1),
        ("3.6", "lsgan_losses", 2),
        ("3.7", "cyclegan_terms", 3),
        ("3.8", "adain", 2),
    ]
    assert all(e.hint for e in exercises("03"))


# --- 3.1 D* -------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda px, pt: px / (px + pt),
    lambda px, pt: 1 / (1 + pt / px),
    lambda px, pt: torch.sigmoid(torch.log(px) - torch.log(pt)),
    lambda px, pt: (px.numpy() / (px.numpy() + pt.numpy())),
])
def test_3_1_passes(fn):
    assert_passes("3.1", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda px, pt: pt / (px + pt), "p_X goes in the numerator"),
    (lambda px, pt: px / pt, "density ratio"),
    (lambda px, pt: torch.full_like(px, 0.5), "only at equilibrium"),
    (lambda px, pt: px, None),
])
def test_3_1_fails(fn, hint):
    assert_fails("3.1", fn, hint)


# --- 3.2 C(g) ----------------------------------------------------------------------------

def c_direct(px, pt, dx):
    d = px / (px + pt)
    return (px * torch.log(d) + pt * torch.log1p(-d)).sum() * dx


def c_from_scipy_jsd(px, pt, dx):
    from scipy.spatial.distance import jensenshannon

    js = jensenshannon(px.numpy() * dx, pt.numpy() * dx, base=math.e) ** 2
    return -math.log(4) + 2 * js


def c_trapezoid(px, pt, dx):
    m = (px + pt) / 2
    integrand = px * torch.log(px / m) + pt * torch.log(pt / m)
    return -math.log(4) + float(np.trapezoid(integrand.numpy(), dx=dx))


@pytest.mark.parametrize("fn", [c_direct, c_from_scipy_jsd, c_trapezoid])
def test_3_2_passes(fn):
    assert_passes("3.2", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda px, pt, dx: c_direct(px, pt, dx) / dx, "multiply the sum by dx"),
    (lambda px, pt, dx: -c_direct(px, pt, dx), "sign slip"),
    (lambda px, pt, dx: c_direct(px, pt, dx) / math.log(2), "natural logs"),
    (lambda px, pt, dx: (torch.xlogy(px + pt, px / (px + pt))).sum() * dx, "not log D*"),
    (lambda px, pt, dx: -math.log(4) + (c_from_scipy_jsd(px, pt, dx) + math.log(4)) / 2, "twice the JSD"),
    (lambda px, pt, dx: c_from_scipy_jsd(px, pt, dx) + math.log(4), "dropped the constant"),
    (lambda px, pt, dx: (px * torch.log(px / (px + pt))).sum() * dx, "second expectation"),
])
def test_3_2_fails(fn, hint):
    assert_fails("3.2", fn, hint)


# --- 3.3 JSD between discrete distributions ------------------------------------------------------


def _jsd_scipy(p, q):
    """Written with SciPy: jensenshannon is the distance (the square root), base e for nats."""
    out = jensenshannon(p.numpy(), q.numpy(), base=math.e, axis=-1) ** 2
    return torch.as_tensor(out, dtype=torch.float64)


def _jsd_via_entropies(p, q):
    """JSD = H(m) - (H(p) + H(q)) / 2, from torch.distributions."""
    h = lambda r: Categorical(probs=r).entropy()  # noqa: E731
    return h(0.5 * (p + q)) - 0.5 * (h(p) + h(q))


@pytest.mark.parametrize("fn", [_jsd_scipy, _jsd_via_entropies], ids=["scipy", "entropies"])
def test_jsd_correct_alternatives_pass(fn):
    assert_passes("3.3", fn)


def _kl(p, q):
    return torch.where(p > 0, p * (p / q).log(), torch.zeros_like(p)).sum(-1)


@pytest.mark.parametrize("fn, hint", [
    (lambda p, q: _kl(p, (p + q) / 2) + _kl(q, (p + q) / 2), "missing the 1/2"),
    (lambda p, q: _kl(p, q), "that is D_KL(p || q)"),
    (lambda p, q: _jsd_scipy(p, q).sqrt(), "Jensen-Shannon distance"),
    (lambda p, q: _jsd_scipy(p, q) / math.log(2), "natural logs"),
    (lambda p, q: _jsd_scipy(p, q).sum(), "one divergence per row"),
    (lambda p, q: 0.5 * (_kl(p, p + q) + _kl(q, p + q)), "the 1/2 inside the log"),
    (lambda p, q: 0.5 * ((p * (2 * p / (p + q)).log()).sum(-1) + (q * (2 * q / (p + q)).log()).sum(-1)), "nan"),
])
def test_jsd_wrong_answers_fail(fn, hint):
    assert_fails("3.3", fn, hint)


# --- 3.4 discriminator loss -----------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
    + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),
    lambda r, f: -(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean()),
    lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()),
    lambda r, f: F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
    + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)),
])
def test_3_3_passes(fn):
    assert_passes("3.4", fn)


def d_ref(r, f):
    return F.softplus(-r).mean() + F.softplus(f).mean()


@pytest.mark.parametrize("fn, hint", [
    (lambda r, f: -d_ref(r, f), "sign slip"),
    (lambda r, f: d_ref(f, r), "swapped"),
    (lambda r, f: -(F.logsigmoid(r).mean() + F.logsigmoid(f).mean()), "log(1 - D(g(z)))"),
    (lambda r, f: -(torch.sigmoid(r).mean() + (1 - torch.sigmoid(f)).mean()), "forgot the logs"),
    (lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(), "do not sum"),
    (lambda r, f: F.binary_cross_entropy_with_logits(torch.cat([r, f]), torch.cat([torch.ones_like(r),
                                                                                   torch.zeros_like(f)])),
     "each expectation over its own batch"),
    (lambda r, f: d_ref(r, f).detach(), "no gradient"),
])
def test_3_3_fails(fn, hint):
    assert_fails("3.4", fn, hint)


# --- 3.5 non-saturating generator loss -----------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda f: -F.logsigmoid(f).mean(),
    lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)),
    lambda f: -torch.log(torch.sigmoid(f)).mean(),
])
def test_3_4_passes(fn):
    assert_passes("3.5", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda f: torch.log(1 - torch.sigmoid(f)).mean(), "saturating"),
    (lambda f: F.logsigmoid(f).mean(), "sign slip"),
    (lambda f: -torch.sigmoid(f).mean(), "forgot the log"),
    (lambda f: -F.logsigmoid(f).sum(), "do not sum"),
    (lambda f: -torch.log(1 - torch.sigmoid(f)).mean(), "-log(1 - D)"),
    (lambda f: -F.logsigmoid(f).mean().detach(), "no gradient"),
])
def test_3_4_fails(fn, hint):
    assert_fails("3.5", fn, hint)


# --- 3.6 LSGAN --------------------------------------------------------------------------------

def ls_mse(dr, df, a, b, c):
    return (F.mse_loss(dr, torch.full_like(dr, b)) + F.mse_loss(df, torch.full_like(df, a)),
            F.mse_loss(df, torch.full_like(df, c)))


@pytest.mark.parametrize("fn", [
    ls_mse,
    lambda dr, df, a, b, c: [((dr - b) ** 2).mean() + ((df - a) ** 2).mean(), ((df - c) ** 2).mean()],
])
def test_3_5_passes(fn):
    assert_passes("3.6", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda dr, df, a, b, c: ls_mse(dr, df, b, a, c), "swapped"),
    (lambda dr, df, a, b, c: ((dr - b).abs().mean() + (df - a).abs().mean(), ((df - c) ** 2).mean()), "square"),
    (lambda dr, df, a, b, c: (ls_mse(dr, df, a, b, c)[0], ((df - a) ** 2).mean()), "target is c"),
    (lambda dr, df, a, b, c: (ls_mse(dr, df, a, b, c)[0] / 2, ls_mse(dr, df, a, b, c)[1] / 2), "no factor 1/2"),
    (lambda dr, df, a, b, c: ls_mse(dr, df, a, b, c)[0], "return a pair"),
])
def test_3_5_fails(fn, hint):
    assert_fails("3.6", fn, hint)


# --- 3.7 CycleGAN -------------------------------------------------------------------------------

def cyc_ok(x, y, g, f, d_x, d_y):
    adv_g = F.mse_loss(d_y(y), torch.ones_like(d_y(y))) + F.mse_loss(d_y(g(x)), torch.zeros_like(d_y(g(x))))
    adv_f = ((d_x(x) - 1) ** 2).mean() + d_x(f(y)).pow(2).mean()
    cycle = torch.linalg.vector_norm(f(g(x)) - x, ord=1, dim=1).mean() + (g(f(y)) - y).abs().sum(1).mean()
    return adv_g, adv_f, cycle


def cyc_with(**changes):
    def fn(x, y, g, f, d_x, d_y):
        adv_g, adv_f, cycle = cyc_ok(x, y, g, f, d_x, d_y)
        terms = {"adv_g": adv_g, "adv_f": adv_f, "cycle": cycle}
        for key, make in changes.items():
            terms[key] = make(x, y, g, f, d_x, d_y)
        return terms["adv_g"], terms["adv_f"], terms["cycle"]

    return fn


def test_3_6_passes():
    assert_passes("3.7", cyc_ok)


@pytest.mark.parametrize("fn, hint", [
    (cyc_with(adv_g=lambda x, y, g, f, dx, dy: ((dy(y) - 1) ** 2).mean() + dy(g(x)).mean()), "slide's slip"),
    (cyc_with(adv_f=lambda x, y, g, f, dx, dy: ((dx(x) - 1) ** 2).mean() + dx(f(y)).mean()), "slide's slip"),
    (cyc_with(adv_g=lambda x, y, g, f, dx, dy: ((dx(y) - 1) ** 2).mean() + (dx(g(x)) ** 2).mean()), "D_Y, not D_X"),
    (cyc_with(cycle=lambda x, y, g, f, dx, dy: F.mse_loss(f(g(x)), x) * 2 + F.mse_loss(g(f(y)), y) * 2),
     "not the squared error"),
    (cyc_with(cycle=lambda x, y, g, f, dx, dy: F.l1_loss(f(g(x)), x) + F.l1_loss(g(f(y)), y)),
     "sums |.| over the coordinates"),
    (cyc_with(cycle=lambda x, y, g, f, dx, dy: (f(g(x)) - x).abs().sum(1).mean()), "backward cycle"),
    (cyc_with(cycle=lambda x, y, g, f, dx, dy: (g(f(x)) - x).abs().sum(1).mean() + (f(g(y)) - y).abs().sum(1).mean()),
     "order of the maps"),
    (lambda *args: cyc_ok(*args)[:2], "return a triple"),
])
def test_3_6_fails(fn, hint):
    assert_fails("3.7", fn, hint)


# --- 3.8 AdaIN -----------------------------------------------------------------------------------

def adain_instance_norm(x, y):
    mu_y = y.mean((2, 3), keepdim=True)
    sigma_y = (y.var((2, 3), unbiased=False, keepdim=True) + 1e-5).sqrt()
    return sigma_y * F.instance_norm(x, eps=1e-5) + mu_y


def adain_std_plus_eps(x, y):
    def stats(t):
        flat = t.flatten(2)
        return flat.mean(-1)[..., None, None], flat.std(-1, unbiased=False)[..., None, None] + 1e-5

    (mx, sx), (my, sy) = stats(x), stats(y)
    return (x - mx) / sx * sy + my


def adain_numpy(x, y):
    xn, yn = x.numpy(), y.numpy()
    mx, sx = xn.mean((2, 3), keepdims=True), xn.std((2, 3), keepdims=True)
    my, sy = yn.mean((2, 3), keepdims=True), yn.std((2, 3), keepdims=True)
    return torch.from_numpy(sy * (xn - mx) / sx + my)


@pytest.mark.parametrize("fn", [adain_instance_norm, adain_std_plus_eps, adain_numpy])
def test_3_7_passes(fn):
    assert_passes("3.8", fn)


def _adain_dims(dims, unbiased=False, power=1.0):
    def fn(x, y):
        mx, my = x.mean(dims, keepdim=True), y.mean(dims, keepdim=True)
        sx = (x.var(dims, keepdim=True, unbiased=unbiased) + 1e-5).sqrt() ** power
        sy = (y.var(dims, keepdim=True, unbiased=unbiased) + 1e-5).sqrt() ** power
        return sy * (x - mx) / sx + my

    return fn


@pytest.mark.parametrize("fn, hint", [
    (_adain_dims((0, 2, 3)), "batch-norm statistics"),
    (_adain_dims((1, 2, 3)), "per channel"),
    (_adain_dims((2, 3), power=2.0), "not the variance"),
    (_adain_dims((2, 3), unbiased=True), "biased variance"),
    (lambda x, y: adain_instance_norm(y, x), "swapped"),
    (lambda x, y: y.std((2, 3), keepdim=True, unbiased=False) * (x - x.mean((2, 3), keepdim=True))
     + y.mean((2, 3), keepdim=True), "normalise x first"),
])
def test_3_7_fails(fn, hint):
    assert_fails("3.8", fn, hint)
