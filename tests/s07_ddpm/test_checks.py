"""The graders of section 07 against student answers written independently here.

Every correct alternative is written without course_utils' reference functions and must pass;
every plausible wrong answer must fail with 0 points and, where the grader knows the mistake,
with the sentence that teaches it: sqrt(alpha_t) where sqrt(abar_t) belongs, sigma_t = beta_t,
noise at the last step, t off by one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fails, assert_passes, assert_passes_for_secrets

from course_utils.grading import exercises

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_section_07_exercises():
    assert [(e.id, e.function, e.points) for e in exercises("07")] == [
        ("7.1", "alpha_bar", 1),
        ("7.2", "q_sample", 2),
        ("7.3", "ddpm_loss", 2),
        ("7.4", "ancestral_step", 3),
        ("7.5", "ddim_step", 2),
        ("7.6", "eps_to_score", 1),
    ]
    assert all(e.hint for e in exercises("07"))


# --- 7.1 abar ----------------------------------------------------------------------------------------

def abar_loop(betas):
    out, prod = [], 1.0
    for b in betas.tolist():
        prod *= 1 - b
        out.append(prod)
    return torch.tensor(out, dtype=torch.float64)


def abar_log1p(betas):
    return torch.exp(torch.cumsum(torch.log1p(-betas), 0))


@pytest.mark.parametrize("fn", [
    lambda b: torch.cumprod(1 - b, dim=0),
    abar_log1p,
    lambda b: np.cumprod(1 - b.numpy()),
    abar_loop,
])
def test_7_1_passes(fn):
    assert_passes("7.1", fn)


def test_7_1_passes_under_many_secrets():
    assert_passes_for_secrets("7.1", abar_log1p, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda b: torch.cumprod(b, 0), "not the beta_s"),
    (lambda b: 1 - torch.cumprod(1 - b, 0), "1 - abar_t"),
    (lambda b: torch.cat([torch.ones(1, dtype=b.dtype), torch.cumprod(1 - b, 0)[:-1]]), "off by one"),
    (lambda b: 1 - b, "alpha_t alone"),
    (lambda b: torch.exp(-torch.cumsum(b, 0)), "approximation"),
    (lambda b: torch.cumprod(torch.sqrt(1 - b), 0), "sqrt(abar_t)"),
    (lambda b: torch.prod(1 - b), "shape (T,)"),
    (lambda b: torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0), "expected shape"),
])
def test_7_1_fails(fn, hint):
    assert_fails("7.1", fn, hint)


# --- 7.2 q_sample -----------------------------------------------------------------------------------

def q_gather(x0, t, eps, betas):
    abar = torch.cumprod(1 - betas, 0)
    a = abar.gather(0, t - 1).unsqueeze(1)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def q_padded(x0, t, eps, betas):
    """abar with abar_0 = 1 prepended, so that padded[t] is abar_t: another correct indexing."""
    padded = torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, 0)])
    a = padded[t].reshape(-1, 1)
    return torch.sqrt(a) * x0 + torch.sqrt(1 - a) * eps


def q_numpy(x0, t, eps, betas):
    abar = np.cumprod(1 - betas.numpy())[t.numpy() - 1][:, None]
    return np.sqrt(abar) * x0.numpy() + np.sqrt(1 - abar) * eps.numpy()


def q_with(mean_coef, noise_coef, index=lambda t: t - 1, abar_fn=lambda b: torch.cumprod(1 - b, 0)):
    def fn(x0, t, eps, betas):
        a = abar_fn(betas)[index(t).clamp(0, len(betas) - 1)][:, None]
        return mean_coef(a) * x0 + noise_coef(a) * eps

    return fn


@pytest.mark.parametrize("fn", [q_gather, q_padded, q_numpy])
def test_7_2_passes(fn):
    assert_passes("7.2", fn)


def test_7_2_passes_under_many_secrets():
    assert_passes_for_secrets("7.2", q_padded, n=50)


@pytest.mark.parametrize("fn, hint", [
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), abar_fn=lambda b: 1 - b), "sqrt(alpha_t)"),
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), index=lambda t: t), "off by one"),
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), index=lambda t: t - 2), "off by one"),
    (q_with(torch.sqrt, lambda a: 1 - a), "VARIANCE"),
    (q_with(lambda a: a, lambda a: torch.sqrt(1 - a)), "sqrt(abar_t) x_0"),
    (q_with(lambda a: 1.0, lambda a: torch.sqrt(1 - a)), "signal shrinks"),
    (q_with(lambda a: torch.sqrt(1 - a), torch.sqrt), "swapped"),
    (lambda x0, t, eps, betas: x0 + eps, None),
])
def test_7_2_fails(fn, hint):
    assert_fails("7.2", fn, hint)


def test_7_2_hard_coded_linear_schedule_fails():
    ho = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)

    def hard_coded(x0, t, eps, betas):
        a = ho[t - 1][:, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * eps

    assert_fails("7.2", hard_coded)


# --- 7.3 the loss -------------------------------------------------------------------------------------

def loss_mse_sum(eps_model, x0, t, eps, betas):
    abar = torch.cumprod(1 - betas, 0)[t - 1].unsqueeze(-1)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    return F.mse_loss(eps_model(x_t, t), eps, reduction="sum") / x0.shape[0]


def loss_einsum(eps_model, x0, t, eps, betas):
    abar = torch.cumprod(1 - betas, 0)
    a = abar[t - 1, None]
    diff = eps - eps_model(torch.sqrt(a) * x0 + torch.sqrt(1 - a) * eps, t)
    return torch.einsum("nd,nd->n", diff, diff).mean()


def loss_vector_norm(eps_model, x0, t, eps, betas):
    alphas = 1 - betas
    abar = torch.stack([alphas[:k].prod() for k in t.tolist()])[:, None]
    x_t = abar**0.5 * x0 + (1 - abar) ** 0.5 * eps
    return (torch.linalg.vector_norm(eps - eps_model(x_t, t), dim=1) ** 2).mean()


@pytest.mark.parametrize("fn", [loss_mse_sum, loss_einsum, loss_vector_norm])
def test_7_3_passes(fn):
    assert_passes("7.3", fn)


def test_7_3_passes_under_many_secrets():
    assert_passes_for_secrets("7.3", loss_einsum, n=50)


def loss_with(x_t_fn=None, target="eps", reduce="sum-mean", t_arg=lambda t: t, detach=False):
    def fn(eps_model, x0, t, eps, betas):
        abar = torch.cumprod(1 - betas, 0)[t - 1][:, None]
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps if x_t_fn is None else x_t_fn(x0, t, eps, betas)
        out = eps_model(x_t, t_arg(t))
        goal = eps if target == "eps" else x0
        sq = (goal - out) ** 2
        loss = {"sum-mean": sq.sum(1).mean(), "mean": sq.mean(), "sum": sq.sum(),
                "norm": (goal - out).norm(dim=1).mean()}[reduce]
        return loss.detach() if detach else loss

    return fn


@pytest.mark.parametrize("fn, hint", [
    (loss_with(x_t_fn=lambda x0, t, eps, b: x0), "NOISY point"),
    (loss_with(target="x0"), "predicts the noise"),
    (loss_with(reduce="mean"), "F.mse_loss also divides by d"),
    (loss_with(reduce="sum"), "do not sum"),
    (loss_with(reduce="norm"), "square the norm"),
    (loss_with(x_t_fn=lambda x0, t, eps, b: (1 - b[t - 1, None]).sqrt() * x0 + b[t - 1, None].sqrt() * eps),
     "sqrt(alpha_t)"),
    (loss_with(x_t_fn=lambda x0, t, eps, b: q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), index=lambda s: s)(
        x0, t, eps, b)), "off by one"),
    (loss_with(t_arg=lambda t: t / 1000), "not t / T"),
    (loss_with(t_arg=lambda t: t - 1), "not t - 1"),
    (loss_with(detach=True), "no gradient"),
])
def test_7_3_fails(fn, hint):
    assert_fails("7.3", fn, hint)


# --- 7.4 the ancestral step ---------------------------------------------------------------------------

def step_ok(x_t, t, eps_hat, z, betas):
    alphas = 1 - betas
    abar = torch.cumprod(alphas, 0)
    a, ab, b = alphas[t - 1], abar[t - 1], betas[t - 1]
    mean = (x_t - (1 - a) / torch.sqrt(1 - ab) * eps_hat) / torch.sqrt(a)
    sigma = torch.sqrt(b) if t > 1 else 0.0
    return mean + sigma * z


def step_via_posterior(x_t, t, eps_hat, z, betas):
    """The same step written as q(x_{t-1} | x_t, x0_hat)'s mean plus sqrt(beta_t) z: a correct alternative."""
    abar = torch.cumprod(1 - betas, 0)
    ab = abar[t - 1]
    ab_prev = abar[t - 2] if t > 1 else torch.ones((), dtype=betas.dtype)
    b = betas[t - 1]
    x0 = (x_t - (1 - ab).sqrt() * eps_hat) / ab.sqrt()
    mean = ab_prev.sqrt() * b / (1 - ab) * x0 + (1 - b).sqrt() * (1 - ab_prev) / (1 - ab) * x_t
    noise = b.sqrt() * z * (t > 1)
    return mean + noise


def step_numpy(x_t, t, eps_hat, z, betas):
    b = betas.numpy()
    a = 1 - b
    ab = np.cumprod(a)
    z = np.zeros_like(z.numpy()) if t == 1 else z.numpy()
    return (x_t.numpy() - b[t - 1] / np.sqrt(1 - ab[t - 1]) * eps_hat.numpy()) / np.sqrt(a[t - 1]) \
        + np.sqrt(b[t - 1]) * z


@pytest.mark.parametrize("fn", [step_ok, step_via_posterior, step_numpy])
def test_7_4_passes(fn):
    assert_passes("7.4", fn)


def test_7_4_passes_under_many_secrets():
    assert_passes_for_secrets("7.4", step_via_posterior, n=50)


def step_with(sigma=lambda b, bt: torch.sqrt(b), last_noise=False, divide="alpha", coef_sqrt=True, index=0,
              posterior=False, noise_sign=1.0, eps_sign=-1.0):
    def fn(x_t, t, eps_hat, z, betas):
        alphas = 1 - betas
        abar = torch.cumprod(alphas, 0)
        i = t - 1 + index
        a, ab, b = alphas[i], abar[i], betas[i]
        coef = (1 - a) / (torch.sqrt(1 - ab) if coef_sqrt else (1 - ab))
        mean = (x_t + eps_sign * coef * eps_hat) / torch.sqrt(a if divide == "alpha" else ab)
        ab_prev = abar[i - 1] if i > 0 else torch.ones((), dtype=betas.dtype)
        bt = (1 - ab_prev) / (1 - ab) * b
        s = sigma(b, bt)
        if t == 1 and not last_noise:
            s = 0.0
        return mean + noise_sign * s * z

    return fn


@pytest.mark.parametrize("fn, hint", [
    (step_with(sigma=lambda b, bt: b), "slide's slip"),
    (step_with(sigma=lambda b, bt: torch.sqrt(bt)), "posterior variance"),
    (step_with(last_noise=True), "no noise at the last step"),
    (step_with(divide="abar"), "not sqrt(abar_t)"),
    (step_with(coef_sqrt=False), "forgot the square root"),
    (step_with(index=1), "off by one"),
    (step_with(index=-1), "off by one"),
    (step_with(noise_sign=-1.0), "do not subtract"),
    (step_with(eps_sign=1.0), "REMOVES the predicted noise"),
    (step_with(sigma=lambda b, bt: 0.0), "add the noise"),
])
def test_7_4_fails(fn, hint):
    assert_fails("7.4", fn, hint)


def test_7_4_the_slides_loop_fails_at_the_last_step_with_its_own_message():
    """Right sigma, but noise at t = 1 (the slide's loop): passes t > 1, fails at t = 1 with the Algorithm 2 hint."""
    r = assert_fails("7.4", step_with(last_noise=True))
    assert "t = 1" in r.message and "Algorithm 2" in r.message


# --- 7.5 the DDIM step ----------------------------------------------------------------------------------

def ddim_ok(x_t, t, t_prev, eps_hat, betas):
    abar = torch.cumprod(1 - betas, 0)
    a_t = abar[t - 1]
    a_prev = abar[t_prev - 1] if t_prev > 0 else torch.tensor(1.0, dtype=betas.dtype)
    x0 = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps_hat


def ddim_euler_sigma(x_t, t, t_prev, eps_hat, betas):
    """Euler's method on d x_bar / d sigma = eps: the same step, computed another way."""
    padded = torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, 0)])
    a_t, a_prev = padded[t], padded[t_prev]
    sig = lambda a: ((1 - a) / a).sqrt()  # noqa: E731
    x_bar = x_t / a_t.sqrt() + (sig(a_prev) - sig(a_t)) * eps_hat
    return a_prev.sqrt() * x_bar


@pytest.mark.parametrize("fn", [ddim_ok, ddim_euler_sigma])
def test_7_5_passes(fn):
    assert_passes("7.5", fn)


def test_7_5_passes_under_many_secrets():
    assert_passes_for_secrets("7.5", ddim_euler_sigma, n=50)


def ddim_with(wrap_zero=False, abar_fn=lambda b: torch.cumprod(1 - b, 0), x0_fn=None, to_t_minus_1=False,
              direction=lambda a: (1 - a).sqrt(), index=0, direction_at_t=False, x0_sign=-1.0):
    def fn(x_t, t, t_prev, eps_hat, betas):
        abar = abar_fn(betas)
        a_t = abar[t - 1 + index]
        target = t - 1 if to_t_minus_1 else t_prev
        if target > 0 or wrap_zero:
            a_prev = abar[target - 1 + index]
        else:
            a_prev = torch.tensor(1.0, dtype=betas.dtype)
        a_for_x0 = a_t if x0_fn is None else x0_fn(betas)[t - 1]
        x0 = (x_t + x0_sign * (1 - a_for_x0).sqrt() * eps_hat) / a_for_x0.sqrt()
        return a_prev.sqrt() * x0 + direction(a_t if direction_at_t else a_prev) * eps_hat

    return fn


@pytest.mark.parametrize("fn, hint", [
    (ddim_with(wrap_zero=True), "abar[-1]"),
    (ddim_with(x0_fn=lambda b: 1 - b), "not alpha_t"),
    (ddim_with(to_t_minus_1=True), "jump to t_prev"),
    (ddim_with(direction=lambda a: 0.0), "direction back to x_t"),
    (ddim_with(direction=lambda a: 1 - a), "is a variance"),
    (ddim_with(index=1), "off by one"),
    (ddim_with(direction_at_t=True), "with abar at t_prev, not at t"),
    (ddim_with(x0_sign=1.0), "x0_hat removes the noise"),
])
def test_7_5_fails(fn, hint):
    assert_fails("7.5", fn, hint)


# --- 7.6 eps -> score -----------------------------------------------------------------------------------

def score_ok(eps_hat, t, betas):
    abar = torch.cumprod(1 - betas, 0)[t - 1]
    return -eps_hat / torch.sqrt(1 - abar)[:, None]


def score_rsqrt(eps_hat, t, betas):
    abar = torch.exp(torch.cumsum(torch.log1p(-betas), 0))
    return -eps_hat * torch.rsqrt(1 - abar[t - 1]).unsqueeze(1)


@pytest.mark.parametrize("fn", [score_ok, score_rsqrt])
def test_7_6_passes(fn):
    assert_passes("7.6", fn)


def test_7_6_passes_under_many_secrets():
    assert_passes_for_secrets("7.6", score_rsqrt, n=50)


def score_with(f, abar_fn=lambda b: torch.cumprod(1 - b, 0), index=lambda t: t - 1):
    def fn(eps_hat, t, betas):
        a = abar_fn(betas)[index(t).clamp(max=len(betas) - 1)][:, None]
        return f(eps_hat, a)

    return fn


@pytest.mark.parametrize("fn, hint", [
    (score_with(lambda e, a: -e / (1 - a)), "not the variance"),
    (score_with(lambda e, a: e / (1 - a).sqrt()), "sign"),
    (score_with(lambda e, a: -e * (1 - a).sqrt()), "do not multiply"),
    (score_with(lambda e, a: -e / a.sqrt()), "not sqrt(abar_t)"),
    (score_with(lambda e, a: -e / (1 - a).sqrt(), abar_fn=lambda b: 1 - b), "sqrt(alpha_t)"),
    (score_with(lambda e, a: -e / (1 - a).sqrt(), index=lambda t: t), "off by one"),
])
def test_7_6_fails(fn, hint):
    assert_fails("7.6", fn, hint)
