"""The graders of section 06 against student answers written independently here.

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
from helpers import assert_fails, assert_fails_for_secrets, assert_passes, assert_passes_for_secrets
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from course_utils.grading import exercises

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: small tensors, busy CPUs


def test_section_06_exercises():
    assert [(e.id, e.function, e.points) for e in exercises("06")] == [
        ("6.1", "brownian_paths", 1),
        ("6.2", "euler_maruyama_step", 1),
        ("6.3", "mixture_score", 2),
        ("6.4", "langevin_step", 2),
        ("6.5", "score_to_velocity", 2),
        ("6.6", "sde_drift", 1),
        ("6.7", "dsm_loss", 2),
    ]
    assert all(e.hint for e in exercises("06"))


# --- 6.1 Brownian paths ---------------------------------------------------------------------------


def bm_loop(eps, h):
    w = [torch.zeros_like(eps[0])]
    for e in eps:
        w.append(w[-1] + h**0.5 * e)
    return torch.stack(w)


def bm_numpy(eps, h):
    e = eps.numpy()
    return np.concatenate([np.zeros((1, *e.shape[1:])), np.cumsum(np.sqrt(h) * e, axis=0)])


def bm_pad(eps, h):
    return F.pad(torch.cumsum(eps * math.sqrt(h), dim=0), (0, 0, 0, 0, 1, 0))


@pytest.mark.parametrize("fn", [bm_loop, bm_numpy, bm_pad])
def test_6_1_passes(fn):
    assert_passes("6.1", fn)


def test_6_1_passes_under_many_secrets():
    assert_passes_for_secrets("6.1", bm_numpy, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda eps, h: bm_loop(eps, h * h), "h where sqrt(h) belongs"),
    (lambda eps, h: torch.cumsum(math.sqrt(h) * eps, 0), "start the path at W_0 = 0"),
    (lambda eps, h: bm_pad(eps, h)[1:] - bm_pad(eps, h)[:-1], None),
    (lambda eps, h: F.pad(math.sqrt(h) * eps, (0, 0, 0, 0, 1, 0)), "add the increments up"),
    (lambda eps, h: F.pad(torch.cumsum(eps * math.sqrt(h), dim=1), (0, 0, 0, 0, 1, 0)), "not over the paths"),
    (lambda eps, h: bm_loop(eps, h)[:-1], "n_steps + 1"),
    (lambda eps, h: bm_loop(eps, 1.0), None),
])
def test_6_1_fails(fn, hint):
    assert_fails("6.1", fn, hint)


# --- 6.2 Euler-Maruyama step ---------------------------------------------------------------------


def em_tensor_time(drift, x, t, h, sigma_t, eps):
    tt = torch.full((x.shape[0], 1), t, dtype=x.dtype)
    return x + drift(x, tt) * h + sigma_t * torch.sqrt(torch.tensor(h)) * eps


@pytest.mark.parametrize("fn", [
    lambda drift, x, t, h, sigma_t, eps: x + h * drift(x, t) + math.sqrt(h) * sigma_t * eps,
    em_tensor_time,
])
def test_6_2_passes(fn):
    assert_passes("6.2", fn)


def test_6_2_passes_under_many_secrets():
    assert_passes_for_secrets("6.2", em_tensor_time, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda drift, x, t, h, s, eps: x + h * drift(x, t) + h * s * eps, "h where sqrt(h) belongs"),
    (lambda drift, x, t, h, s, eps: x + h * drift(x, t) + math.sqrt(h) * s**2 * eps, "not squared"),
    (lambda drift, x, t, h, s, eps: x + drift(x, t) + math.sqrt(h) * s * eps, "multiply the drift by the step"),
    (lambda drift, x, t, h, s, eps: x + h * drift(x, t + h) + math.sqrt(h) * s * eps, "current time t"),
    (lambda drift, x, t, h, s, eps: x + h * drift(x, t) + math.sqrt(h) * eps, "scale the noise by sigma_t"),
    (lambda drift, x, t, h, s, eps: x + h * drift(x, t), "add the noise"),
    (lambda drift, x, t, h, s, eps: x + math.sqrt(h) * drift(x, t) + math.sqrt(h) * s * eps,
     "sqrt(h) is for the noise"),
])
def test_6_2_fails(fn, hint):
    assert_fails("6.2", fn, hint)


# --- 6.3 the score of a Gaussian mixture ---------------------------------------------------------


def score_formula(x, weights, means, variances):
    d = x.shape[1]
    log_comp = (torch.log(weights) - 0.5 * d * torch.log(2 * math.pi * variances)
                - 0.5 * ((x[:, None] - means) ** 2).sum(-1) / variances)
    r = torch.softmax(log_comp, dim=1)
    return torch.einsum("nk,nkd->nd", r / variances, means[None] - x[:, None])


def score_autograd(x, weights, means, variances):
    scales = variances.sqrt()[:, None].expand_as(means)
    mix = MixtureSameFamily(Categorical(probs=weights), Independent(Normal(means, scales), 1))
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(mix.log_prob(x).sum(), x)
    return grad


def score_numpy(x, weights, means, variances):
    xn, w, m, v = (t.numpy() for t in (x, weights, means, variances))
    diff = xn[:, None, :] - m[None]
    dens = w * np.exp(-0.5 * (diff**2).sum(-1) / v) / (2 * np.pi * v) ** (xn.shape[1] / 2)
    r = dens / dens.sum(1, keepdims=True)
    return -(r[..., None] * diff / v[None, :, None]).sum(1)


@pytest.mark.parametrize("fn", [score_formula, score_autograd, score_numpy])
def test_6_3_passes(fn):
    assert_passes("6.3", fn)


def test_6_3_passes_under_many_secrets():
    assert_passes_for_secrets("6.3", score_autograd, n=50)


def _r(x, weights, means, variances, normalise=True, use_pi=True):
    d = x.shape[1]
    log_comp = -0.5 * ((x[:, None] - means) ** 2).sum(-1) / variances
    if normalise:
        log_comp = log_comp - 0.5 * d * torch.log(2 * math.pi * variances)
    if use_pi:
        log_comp = log_comp + torch.log(weights)
    return torch.softmax(log_comp, dim=1)


@pytest.mark.parametrize("fn, hint", [
    (lambda x, w, m, v: -score_formula(x, w, m, v), "sign"),
    (lambda x, w, m, v: torch.einsum("k,nkd->nd", w / v, m[None] - x[:, None]), "not by pi_k"),
    (lambda x, w, m, v: torch.einsum("nk,nkd->nd", _r(x, w, m, v, use_pi=False) / v, m[None] - x[:, None]),
     "include the mixing weights"),
    (lambda x, w, m, v: torch.einsum("nk,nkd->nd", _r(x, w, m, v, normalise=False) / v, m[None] - x[:, None]),
     "normalising constants"),
    (lambda x, w, m, v: torch.einsum("nk,nkd->nd", _r(x, w, m, v) / v.sqrt(), m[None] - x[:, None]),
     "not by the standard deviation"),
    (lambda x, w, m, v: score_formula(x, w, m, v) * torch.logsumexp(
        torch.log(w) - torch.log(2 * math.pi * v) - 0.5 * ((x[:, None] - m) ** 2).sum(-1) / v, 1).exp()[:, None],
     "gradient of p(x)"),
    (lambda x, w, m, v: (m.mean(0) - x), None),
])
def test_6_3_fails(fn, hint):
    assert_fails("6.3", fn, hint)


# --- 6.4 one Langevin step -------------------------------------------------------------------------


def langevin_addcmul(score, x, eta, xi):
    return torch.addcmul(x + eta * score(x), torch.sqrt(torch.tensor(2.0 * eta)), xi)


@pytest.mark.parametrize("fn", [
    lambda score, x, eta, xi: x + eta * score(x) + (2 * eta) ** 0.5 * xi,
    langevin_addcmul,
])
def test_6_4_passes(fn):
    assert_passes("6.4", fn)


def test_6_4_passes_under_many_secrets():
    assert_passes_for_secrets("6.4", langevin_addcmul, n=50)


def langevin_half_step(score, x, eta, xi):
    """The other convention: (eta / 2) on the score, sqrt(eta) on the noise."""
    return x + eta / 2 * score(x) + math.sqrt(eta) * xi


def test_6_4_the_other_convention_is_named_a_convention_slip_and_the_notebooks_is_given():
    r = assert_fails("6.4", langevin_half_step, "the other convention")
    assert "X + (eta / 2) grad log p(X) + sqrt(eta) xi" in r.message and "convention slip" in r.message
    assert "The notebook (like the slide) writes X + eta grad log p(X) + sqrt(2 eta) xi" in r.message
    assert_fails_for_secrets("6.4", langevin_half_step, n=10, hint="the other convention")


@pytest.mark.parametrize("fn, hint", [
    (lambda score, x, eta, xi: x + eta * score(x) + math.sqrt(eta) * xi, "twice the step"),
    (lambda score, x, eta, xi: x + eta * score(x) + eta * xi, "h where sqrt(h) belongs"),
    (lambda score, x, eta, xi: x + eta * score(x) + math.sqrt(2) * eta * xi, "h where sqrt(h) belongs"),
    (lambda score, x, eta, xi: x + eta * score(x) + math.sqrt(2 * 0.01) * xi, "does not change with the step"),
    (lambda score, x, eta, xi: x + eta * score(x) + math.sqrt(2 * 0.05) * xi, "does not change with the step"),
    (lambda score, x, eta, xi: x - eta * score(x) + math.sqrt(2 * eta) * xi, "sign"),
    (lambda score, x, eta, xi: x + score(x) + math.sqrt(2 * eta) * xi, "multiply the score by the step"),
    (lambda score, x, eta, xi: x + eta * score(x), "add the noise"),
])
def test_6_4_fails(fn, hint):
    assert_fails("6.4", fn, hint)


# --- 6.5 score -> velocity --------------------------------------------------------------------------


def s2v_direct(score, x, a, b, da, db):
    return da / a * x + (b**2 * da / a - db * b) * score


def s2v_factored(score, x, a, b, da, db):
    """u = (d_alpha / alpha)(x + beta^2 s) - d_beta beta s: the posterior mean of z, then its velocity."""
    return da / a * (x + b**2 * score) - db * b * score


@pytest.mark.parametrize("fn", [s2v_direct, s2v_factored])
def test_6_5_passes(fn):
    assert_passes("6.5", fn)


def test_6_5_passes_under_many_secrets():
    assert_passes_for_secrets("6.5", s2v_factored, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda s, x, a, b, da, db: da / a * x + (b * da / a - db * b) * s, "beta_t where beta_t^2 belongs"),
    (lambda s, x, a, b, da, db: da / a * x + (b**2 * da / a + db * b) * s, "sign"),
    (lambda s, x, a, b, da, db: (b**2 * da / a - db * b) * s, "add the term"),
    (lambda s, x, a, b, da, db: (s - da / a * x) / (b**2 * da / a - db * b), "inverse conversion"),
    (lambda s, x, a, b, da, db: x / a + (1 - a) / a * s, None),  # the linear path's formula everywhere
])
def test_6_5_fails(fn, hint):
    assert_fails("6.5", fn, hint)


# --- 6.6 the SDE drift -------------------------------------------------------------------------------


def drift_addcmul(v, s, sigma):
    return torch.addcmul(v, torch.as_tensor(sigma, dtype=v.dtype) ** 2 * 0.5, s)


@pytest.mark.parametrize("fn", [lambda v, s, sigma: v + sigma**2 / 2 * s, drift_addcmul])
def test_6_6_passes(fn):
    assert_passes("6.6", fn)


def test_6_6_passes_under_many_secrets():
    assert_passes_for_secrets("6.6", drift_addcmul, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda v, s, sigma: v + sigma / 2 * s, "not sigma_t / 2"),
    (lambda v, s, sigma: v + sigma**2 * s, "keep the 1/2"),
    (lambda v, s, sigma: v - sigma**2 / 2 * s, "plus the score"),
    (lambda v, s, sigma: sigma**2 / 2 * s, "add the velocity"),
])
def test_6_6_fails(fn, hint):
    assert_fails("6.6", fn, hint)


# --- 6.7 denoising score matching ----------------------------------------------------------------------


def dsm_direct(score_model, z, t, eps, alpha_t, beta_t):
    x = alpha_t * z + beta_t * eps
    return ((score_model(x, t) + eps / beta_t) ** 2).sum(-1).mean()


def dsm_conditional_score(score_model, z, t, eps, alpha_t, beta_t):
    x = alpha_t * z + beta_t * eps
    target = -(x - alpha_t * z) / beta_t**2
    return F.mse_loss(score_model(x, t), target, reduction="sum") / len(z)


@pytest.mark.parametrize("fn", [dsm_direct, dsm_conditional_score])
def test_6_7_passes(fn):
    assert_passes("6.7", fn)


def test_6_7_passes_under_many_secrets():
    assert_passes_for_secrets("6.7", dsm_conditional_score, n=50)


def _dsm(target, reduce=lambda r: (r**2).sum(-1).mean(), where=None):
    def fn(score_model, z, t, eps, a, b):
        x = a * z + b * eps
        s = score_model(where(z, eps, a, b) if where else x, t)
        return reduce(s - target(x, z, eps, a, b))

    return fn


@pytest.mark.parametrize("fn, hint", [
    (_dsm(lambda x, z, eps, a, b: -(x - a * z) / b), "beta_t where beta_t^2 belongs"),
    (_dsm(lambda x, z, eps, a, b: -eps / b**2), "one power of beta_t cancels"),
    (_dsm(lambda x, z, eps, a, b: eps / b), "the sign"),
    (_dsm(lambda x, z, eps, a, b: -eps / b, reduce=lambda r: (r**2).mean()), "sums over the coordinates"),
    (_dsm(lambda x, z, eps, a, b: -eps / b, reduce=lambda r: (r**2).sum()), "do not sum"),
    (lambda m, z, t, eps, a, b: ((b * m(a * z + b * eps, t) + eps) ** 2).sum(-1).mean(), "weighted by beta_t^2"),
    (_dsm(lambda x, z, eps, a, b: -eps / b, where=lambda z, eps, a, b: z), "not at the data z"),
    (_dsm(lambda x, z, eps, a, b: -eps / b, where=lambda z, eps, a, b: z + b * eps), "left out alpha_t"),
    (lambda m, z, t, eps, a, b: dsm_direct(m, z, t, eps, a, b).detach(), "no gradient"),
])
def test_6_7_fails(fn, hint):
    assert_fails("6.7", fn, hint)
