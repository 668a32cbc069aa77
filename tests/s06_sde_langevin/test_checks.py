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
        ("6.1", "euler_maruyama_step", 1),
        ("6.2", "mixture_score", 2),
        ("6.3", "langevin_sampler", 2),
        ("6.4", "predict_stationary_variance", 2),
        ("6.5", "score_to_velocity", 2),
        ("6.6", "dsm_step", 3),
    ]
    assert all(e.hint and len(e.hints) >= 2 for e in exercises("06"))
    kinds = {e.id: e.kind for e in exercises("06")}
    assert kinds == {"6.1": "warm-up", "6.2": "build", "6.3": "find-the-bug", "6.4": "predict", "6.5": "build",
                     "6.6": "training-step"}
    points = {e.id: e.points for e in exercises("06")}
    assert sum(p for i, p in points.items() if kinds[i] != "warm-up") >= 0.5 * sum(points.values())


# --- 6.1 one Euler-Maruyama step ---------------------------------------------------------------------


def em_tensor_time(drift, x, t, h, sigma_t, eps):
    tt = torch.full((x.shape[0], 1), t, dtype=x.dtype)
    return x + drift(x, tt) * h + sigma_t * torch.sqrt(torch.tensor(h)) * eps


@pytest.mark.parametrize("fn", [
    lambda drift, x, t, h, sigma_t, eps: x + h * drift(x, t) + math.sqrt(h) * sigma_t * eps,
    em_tensor_time,
])
def test_6_1_passes(fn):
    assert_passes("6.1", fn)


def test_6_1_passes_under_many_secrets():
    assert_passes_for_secrets("6.1", em_tensor_time, n=50)


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
def test_6_1_fails(fn, hint):
    assert_fails("6.1", fn, hint)


# --- 6.2 the score of a Gaussian mixture ---------------------------------------------------------


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
def test_6_2_passes(fn):
    assert_passes("6.2", fn)


def test_6_2_passes_under_many_secrets():
    assert_passes_for_secrets("6.2", score_autograd, n=50)


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
def test_6_2_fails(fn, hint):
    assert_fails("6.2", fn, hint)


# --- 6.3 find the bug: the Langevin sampler -----------------------------------------------------------


def sampler_loop(score, x0, eta, xi):
    x = x0
    for k in range(xi.shape[0]):
        x = x + eta * score(x) + (2 * eta) ** 0.5 * xi[k]
    return x


def sampler_addcmul(score, x0, eta, xi):
    x = x0.clone()
    noise = torch.sqrt(torch.tensor(2.0 * eta, dtype=x0.dtype))
    for xi_k in xi.unbind(0):
        x = torch.addcmul(x + eta * score(x), noise, xi_k)
    return x


@pytest.mark.parametrize("fn", [sampler_loop, sampler_addcmul])
def test_6_3_passes(fn):
    assert_passes("6.3", fn)


def test_6_3_passes_under_many_secrets():
    assert_passes_for_secrets("6.3", sampler_addcmul, n=50)


def _sampler(noise, drift=1.0, first=0):
    def fn(score, x0, eta, xi):
        x = x0
        for xi_k in xi[first:]:
            x = x + drift * eta * score(x) + noise(eta) * xi_k
        return x

    return fn


def test_6_3_the_provided_sampler_fails_and_is_named():
    from course_utils.grading.core import get

    provided = _sampler(lambda eta: math.sqrt(2 * 0.01))
    r = assert_fails("6.3", provided, "still the provided function's behaviour")
    assert "sqrt(2 * eta)" not in r.message  # the check does not hand over the fix
    assert_fails_for_secrets("6.3", provided, n=10, hint="still the provided function's behaviour")
    assert "sqrt(2 * eta)" not in get("6.3").hint and "sqrt(2 * eta)" in get("6.3").hints[-1]


def langevin_half_step(score, x0, eta, xi):
    """The other convention: (eta / 2) on the score, sqrt(eta) on the noise."""
    return _sampler(lambda e: math.sqrt(e))(lambda x: 0.5 * score(x), x0, eta, xi)


@pytest.mark.parametrize("fn, hint", [
    (langevin_half_step, "the other convention"),
    (_sampler(lambda eta: math.sqrt(2 * 0.05)), "still the provided function's behaviour"),
    (_sampler(lambda eta: math.sqrt(eta)), "twice the step"),
    (_sampler(lambda eta: eta), "not like the step"),
    (_sampler(lambda eta: 2 * eta), "square root of the step"),
    (_sampler(lambda eta: math.sqrt(2 * eta), drift=-1.0), "sign"),
    (_sampler(lambda eta: 0.0), "keep the noise"),
    (_sampler(lambda eta: math.sqrt(2 * eta), first=1), "the first one included"),
    (lambda score, x0, eta, xi: x0 + eta * score(x0) + math.sqrt(2 * eta) * xi.sum(0), None),
])
def test_6_3_fails(fn, hint):
    assert_fails("6.3", fn, hint)


# --- 6.4 predict the stationary variance ------------------------------------------------------------


def variance_fixed_point(var, eta, alpha):
    """Iterate v <- (1 - eta/var)^2 v + 2 alpha to its fixed point (no closed form used)."""
    v = 0.0
    for _ in range(20_000):
        v = (1 - eta / var) ** 2 * v + 2 * alpha
    return v


def variance_closed_form(var, eta, alpha):
    return alpha / eta * var / (1 - eta / (2 * var))


@pytest.mark.parametrize("fn", [variance_fixed_point, variance_closed_form,
                                lambda var, eta, alpha: torch.tensor(variance_closed_form(var, eta, alpha))])
def test_6_4_passes(fn):
    assert_passes("6.4", fn)


def test_6_4_passes_under_many_secrets():
    assert_passes_for_secrets("6.4", variance_closed_form, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda var, eta, alpha: alpha / eta * var, "limit of small steps"),
    (lambda var, eta, alpha: var, "p's own variance"),
    (lambda var, eta, alpha: 2 * alpha / (eta / var), "variance squared"),
    (lambda var, eta, alpha: alpha / (1 - (1 - eta / var) ** 2), "has variance 2 alpha"),
    (lambda var, eta, alpha: eta / alpha * var / (1 - eta / (2 * var)), "the temperature is alpha / eta"),
    (lambda var, eta, alpha: variance_closed_form(var, eta, alpha) ** 0.5, "not the standard deviation"),
    (lambda var, eta, alpha: "0.5", None),
    (lambda var, eta, alpha: None, None),
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


# --- 6.6 one step of weighted denoising score matching ---------------------------------------------------


def dsm_step_direct(score_model, optimizer, z, t, eps, alpha_t, beta_t):
    x = alpha_t * z + beta_t * eps
    loss = ((beta_t / alpha_t) ** 2 * ((score_model(x, t) + eps / beta_t) ** 2).sum(-1, keepdim=True)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def dsm_step_velocity_form(score_model, optimizer, z, t, eps, alpha_t, beta_t):
    """The same loss written as || (beta_t / alpha_t) s + eps / alpha_t ||^2, zero_grad(set_to_none=False)."""
    optimizer.zero_grad(set_to_none=False)
    x = alpha_t * z + beta_t * eps
    residual = beta_t / alpha_t * score_model(x, t) + eps / alpha_t
    loss = F.mse_loss(residual, torch.zeros_like(residual), reduction="sum") / len(z)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@pytest.mark.parametrize("fn", [dsm_step_direct, dsm_step_velocity_form])
def test_6_6_passes(fn):
    assert_passes("6.6", fn)


def test_6_6_passes_under_many_secrets():
    assert_passes_for_secrets("6.6", dsm_step_velocity_form, n=30)


def _step(weight=lambda a, b: (b / a) ** 2, zero=True, steps=1, reduce="mean", at_data=False, ret=None):
    def fn(score_model, optimizer, z, t, eps, a, b):
        if zero:
            optimizer.zero_grad()
        x = z if at_data else a * z + b * eps
        per = weight(a, b).reshape(-1) * ((score_model(x, t) + eps / b) ** 2).sum(-1)
        loss = per.mean() if reduce == "mean" else per.sum()
        loss.backward()
        for _ in range(steps):
            optimizer.step()
        return loss.item() if ret is None else ret

    return fn


@pytest.mark.parametrize("fn, hint", [
    (_step(weight=lambda a, b: torch.ones_like(a)), "unweighted loss"),
    (_step(weight=lambda a, b: (a / b) ** 2), "upside down"),
    (_step(weight=lambda a, b: b**2), "noise prediction"),
    (_step(zero=False), "zero_grad"),
    (_step(steps=2), "ran twice"),
    (_step(steps=0), "did not move"),
    (_step(reduce="sum"), "do not sum"),
    (_step(at_data=True), "not at the data z"),
    (_step(ret=0.0), "the returned loss"),
])
def test_6_6_fails(fn, hint):
    assert_fails("6.6", fn, hint)


def test_6_6_a_step_that_forgets_zero_grad_fails_under_many_secrets():
    assert_fails_for_secrets("6.6", _step(zero=False), n=10, hint="zero_grad")
