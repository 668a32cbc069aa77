"""The graders of section 07 against student answers written independently here.

Every correct alternative is written without course_utils' reference functions and must pass;
every plausible wrong answer must fail with 0 points and, where the grader knows the mistake,
with the sentence that teaches it: sqrt(alpha_t) where sqrt(abar_t) belongs, sigma_t = beta_t,
noise at the last step, t off by one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fails, assert_fails_for_secrets, assert_passes, assert_passes_for_secrets

from course_utils.grading import exercises

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_section_07_exercises():
    assert [(e.id, e.function, e.points) for e in exercises("07")] == [
        ("7.1", "q_sample", 1),
        ("7.2", "ddpm_train_step", 3),
        ("7.3", "ancestral_step", 3),
        ("7.4", "ddim_step", 3),
        ("7.5", "eps_to_score", 1),
    ]
    assert all(e.hint and len(e.hints) >= 2 for e in exercises("07"))
    kinds = {e.id: e.kind for e in exercises("07")}
    assert kinds == {"7.1": "warm-up", "7.2": "training-step", "7.3": "find-the-bug", "7.4": "build",
                     "7.5": "warm-up"}
    points = {e.id: e.points for e in exercises("07")}
    assert sum(p for i, p in points.items() if kinds[i] != "warm-up") >= 0.5 * sum(points.values())


# --- 7.1 q_sample (abar computed from the betas) --------------------------------------------------------

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


def q_loop(x0, t, eps, betas):
    """abar by an explicit running product, one row at a time: another correct answer."""
    rows = []
    for i, step in enumerate(t.tolist()):
        a = 1.0
        for b in betas[:step].tolist():
            a *= 1 - b
        rows.append(a**0.5 * x0[i] + (1 - a) ** 0.5 * eps[i])
    return torch.stack(rows)


@pytest.mark.parametrize("fn", [q_gather, q_padded, q_numpy, q_loop])
def test_7_1_passes(fn):
    assert_passes("7.1", fn)


def test_7_1_passes_under_many_secrets():
    assert_passes_for_secrets("7.1", q_padded, n=50)


@pytest.mark.parametrize("fn, hint", [
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), abar_fn=lambda b: 1 - b), "sqrt(alpha_t)"),
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), index=lambda t: t), "off by one"),
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), index=lambda t: t - 2), "off by one"),
    (q_with(torch.sqrt, lambda a: 1 - a), "VARIANCE"),
    (q_with(lambda a: a, lambda a: torch.sqrt(1 - a)), "sqrt(abar_t) x_0"),
    (q_with(lambda a: 1.0, lambda a: torch.sqrt(1 - a)), "signal shrinks"),
    (q_with(lambda a: torch.sqrt(1 - a), torch.sqrt), "swapped"),
    (lambda x0, t, eps, betas: x0 + eps, None),
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), abar_fn=lambda b: torch.cumprod(b, 0)), "not the beta_s"),
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), abar_fn=lambda b: torch.exp(-torch.cumsum(b, 0))),
     "approximation"),
    (q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), abar_fn=lambda b: torch.cumprod(torch.sqrt(1 - b), 0)),
     "not of their square roots"),
])
def test_7_1_fails(fn, hint):
    assert_fails("7.1", fn, hint)


def test_7_1_hard_coded_linear_schedule_fails():
    ho = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)

    def hard_coded(x0, t, eps, betas):
        a = ho[t - 1][:, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * eps

    assert_fails("7.1", hard_coded)


# --- 7.2 one training step ------------------------------------------------------------------------------

def train_ok(eps_model, optimizer, x0, t, eps, betas):
    abar = torch.cumprod(1 - betas, 0)[t - 1].unsqueeze(-1)
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    loss = F.mse_loss(eps_model(x_t, t), eps, reduction="sum") / x0.shape[0]
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train_set_to_none_einsum(eps_model, optimizer, x0, t, eps, betas):
    """Gradients cleared through the parameters, an einsum loss, a tensor returned: another correct step."""
    for p in eps_model.parameters():
        p.grad = None
    a = torch.exp(torch.cumsum(torch.log1p(-betas), 0))[t - 1, None]
    diff = eps - eps_model(torch.sqrt(a) * x0 + torch.sqrt(1 - a) * eps, t)
    loss = torch.einsum("nd,nd->n", diff, diff).mean()
    loss.backward()
    optimizer.step()
    return loss.detach()


def train_manual_sgd_free(eps_model, optimizer, x0, t, eps, betas):
    """zero_grad via the model, the norm squared via vector_norm: another correct step."""
    alphas = 1 - betas
    abar = torch.stack([alphas[:k].prod() for k in t.tolist()])[:, None]
    x_t = abar**0.5 * x0 + (1 - abar) ** 0.5 * eps
    loss = (torch.linalg.vector_norm(eps - eps_model(x_t, t), dim=1) ** 2).mean()
    eps_model.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@pytest.mark.parametrize("fn", [train_ok, train_set_to_none_einsum, train_manual_sgd_free])
def test_7_2_passes(fn):
    assert_passes("7.2", fn)


def test_7_2_passes_under_many_secrets():
    assert_passes_for_secrets("7.2", train_set_to_none_einsum, n=30)


def train_with(x_t_fn=None, target="eps", reduce="sum-mean", t_arg=lambda t: t, zero=True, step=True,
               zero_after_backward=False, late_loss=False):
    def fn(eps_model, optimizer, x0, t, eps, betas):
        abar = torch.cumprod(1 - betas, 0)[t - 1][:, None]
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps if x_t_fn is None else x_t_fn(x0, t, eps, betas)
        out = eps_model(x_t, t_arg(t))
        goal = eps if target == "eps" else x0
        sq = (goal - out) ** 2
        loss = {"sum-mean": sq.sum(1).mean(), "mean": sq.mean(), "sum": sq.sum()}[reduce]
        if zero:
            optimizer.zero_grad()
        loss.backward()
        if zero_after_backward:
            optimizer.zero_grad()
        if step:
            optimizer.step()
        if late_loss:
            with torch.no_grad():
                return float(((eps - eps_model(x_t, t)) ** 2).sum(1).mean())
        return loss.item()

    return fn


@pytest.mark.parametrize("fn, hint", [
    (train_with(zero=False), "left over"),
    (train_with(step=False), "did not move"),
    (train_with(zero_after_backward=True), "did not move"),
    (train_with(x_t_fn=lambda x0, t, eps, b: x0), "NOISY point"),
    (train_with(target="x0"), "predicts the noise"),
    (train_with(reduce="mean"), "d times too small"),
    (train_with(reduce="sum"), "n times too large"),
    (train_with(x_t_fn=lambda x0, t, eps, b: (1 - b[t - 1, None]).sqrt() * x0 + b[t - 1, None].sqrt() * eps),
     "sqrt(alpha_t)"),
    (train_with(x_t_fn=lambda x0, t, eps, b: q_with(torch.sqrt, lambda a: torch.sqrt(1 - a), index=lambda s: s)(
        x0, t, eps, b)), "off by one"),
    (train_with(x_t_fn=lambda x0, t, eps, b: q_with(lambda a: a, lambda a: 1 - a)(x0, t, eps, b)), "square roots"),
    (train_with(t_arg=lambda t: t / 1000), "not t / T"),
    (train_with(t_arg=lambda t: t - 1), "not t - 1"),
    (train_with(late_loss=True), "AFTER the step"),
])
def test_7_2_fails(fn, hint):
    assert_fails("7.2", fn, hint)


def test_7_2_reference_step_is_one_sgd_step_on_the_autograd_gradient_of_the_loss():
    """Oracle: the reference's parameter change equals -lr * autograd's gradient of eps_loss (computed
    independently here from the kernel), whatever gradients the parameters held before."""
    from course_utils.s07_ddpm import diffusion as dm
    from course_utils.s07_ddpm.checks import ToyNoiseModel

    s = dm.make_schedule("linear", T=50)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randn(16, 3, generator=g, dtype=torch.float64)
    t = torch.randint(1, 51, (16,), generator=g)
    model = ToyNoiseModel(3, 1)
    before = [p.detach().clone() for p in model.parameters()]
    a = torch.cumprod(1 - s.betas, 0)[t - 1][:, None]
    loss = ((eps - model(a.sqrt() * x0 + (1 - a).sqrt() * eps, t)) ** 2).sum(1).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    for p in model.parameters():
        p.grad = torch.ones_like(p)  # leftovers the step must clear
    value = dm.ddpm_train_step(model, torch.optim.SGD(model.parameters(), lr=0.1), x0, t, eps, s)
    assert value == pytest.approx(float(loss.detach()))
    for p, b, gr in zip(model.parameters(), before, grads, strict=True):
        assert torch.allclose(p.detach(), b - 0.1 * gr, atol=1e-12)


# --- 7.3 find the bug in the ancestral step--------------------------------------------------------------------

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
def test_7_3_passes(fn):
    assert_passes("7.3", fn)


def test_7_3_passes_under_many_secrets():
    assert_passes_for_secrets("7.3", step_via_posterior, n=50)


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
    (step_with(sigma=lambda b, bt: b), "still the provided function's behaviour"),
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
def test_7_3_fails(fn, hint):
    assert_fails("7.3", fn, hint)


def test_7_3_the_slides_loop_fails_at_the_last_step_with_its_own_message():
    """Right sigma, but noise at t = 1 (the slide's loop): passes t > 1, fails at t = 1 with the Algorithm 2 hint."""
    r = assert_fails("7.3", step_with(last_noise=True))
    assert "t = 1" in r.message and "Algorithm 2" in r.message


# --- 7.4 build the DDIM step ----------------------------------------------------------------------------------

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
def test_7_4_passes(fn):
    assert_passes("7.4", fn)


def test_7_4_passes_under_many_secrets():
    assert_passes_for_secrets("7.4", ddim_euler_sigma, n=50)


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
def test_7_4_fails(fn, hint):
    assert_fails("7.4", fn, hint)


# --- 7.5 eps -> score -----------------------------------------------------------------------------------

def score_ok(eps_hat, t, betas):
    abar = torch.cumprod(1 - betas, 0)[t - 1]
    return -eps_hat / torch.sqrt(1 - abar)[:, None]


def score_rsqrt(eps_hat, t, betas):
    abar = torch.exp(torch.cumsum(torch.log1p(-betas), 0))
    return -eps_hat * torch.rsqrt(1 - abar[t - 1]).unsqueeze(1)


@pytest.mark.parametrize("fn", [score_ok, score_rsqrt])
def test_7_5_passes(fn):
    assert_passes("7.5", fn)


def test_7_5_passes_under_many_secrets():
    assert_passes_for_secrets("7.5", score_rsqrt, n=50)


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
def test_7_5_fails(fn, hint):
    assert_fails("7.5", fn, hint)


# --- 7.3 the provided (buggy) step --------------------------------------------------------------------------

def provided_step(x_t, t, eps_hat, z, betas):
    """What the exercise notebook hands out (the mistake: the variance beta_t used as the noise's scale)."""
    alphas = 1 - betas
    abar = torch.cumprod(alphas, dim=0)
    mean = (x_t - (1 - alphas[t - 1]) / (1 - abar[t - 1]).sqrt() * eps_hat) / alphas[t - 1].sqrt()
    if t == 1:
        return mean
    return mean + betas[t - 1] * z


def test_7_3_the_provided_function_fails_and_is_recognised_without_giving_the_fix():
    r = assert_fails("7.3", provided_step, "still the provided function's behaviour")
    assert "sqrt(beta_t) z" not in r.message and ".sqrt()" not in r.message
    assert_fails_for_secrets("7.3", provided_step, n=5, hint="still the provided function's behaviour")


def test_7_3_the_provided_function_is_the_one_in_the_exercise_notebook():
    import json

    from course_tools import ROOT

    nb = json.loads((ROOT / "exercises" / "07_ddpm.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("exercise") == "7.3")
    namespace = {"torch": torch}
    exec("".join(cell["source"]), namespace)  # noqa: S102 - the course's own handed-out code
    g = torch.Generator().manual_seed(0)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    x_t, eps_hat, z = (torch.randn(5, 2, generator=g, dtype=torch.float64) for _ in range(3))
    for t in (1, 2, 500):
        assert torch.allclose(namespace["ancestral_step"](x_t, t, eps_hat, z, betas),
                              provided_step(x_t, t, eps_hat, z, betas))


def test_7_3_the_provided_step_adds_too_little_noise():
    """What the exercise text asks the student to measure: with eps_hat = 0 at t = T, the provided step's spread
    is beta_T = 0.02 per coordinate around the mean, the reference's sqrt(beta_T) = 0.141."""
    from course_utils.s07_ddpm import diffusion as dm

    s = dm.make_schedule("linear")
    z = torch.randn(20_000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    zeros = torch.zeros_like(z)
    assert float(provided_step(zeros, s.T, zeros, z, s.betas).std()) == pytest.approx(0.02, rel=0.03)
    assert float(dm.ancestral_step(zeros, s.T, zeros, z, s).std()) == pytest.approx(math.sqrt(0.02), rel=0.03)
