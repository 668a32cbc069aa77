"""The graders of section 04 against student answers written independently here.

Every correct alternative is written without course_utils' reference functions and must
pass; every plausible wrong answer must fail with 0 points and, where the grader knows the
mistake, with the sentence that teaches it.
"""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fails, assert_passes, assert_passes_for_secrets
from scipy.integrate import cumulative_trapezoid
from scipy.stats import wasserstein_distance

from course_utils.grading import exercises

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: small tensors, busy CPUs


def test_section_04_exercises():
    assert [(e.id, e.function, e.points) for e in exercises("04")] == [
        ("4.1", "w1_on_grid", 2),
        ("4.2", "w1_samples", 1),
        ("4.3", "transport_cost", 1),
        ("4.4", "critic_loss", 1),
        ("4.5", "clip_weights", 1),
        ("4.6", "gradient_penalty", 3),
    ]
    assert all(e.hint for e in exercises("04"))


def test_a_student_error_that_mentions_gradients_is_reported_as_it_is():
    def broken(critic, c):
        raise RuntimeError("element 0 of tensors does not require grad")

    r = assert_fails("4.5", broken)
    assert "RuntimeError" in r.message


# --- 4.1 W1 on a grid --------------------------------------------------------------------------

def w1_grid_cumsum(p, q, dx):
    f, g = torch.cumsum(p, 0) * dx, torch.cumsum(q, 0) * dx
    return (f - g).abs().sum() * dx


def w1_grid_trapezoid(p, q, dx):
    """Cumulative trapezoid CDFs (SciPy) and a trapezoid integral (NumPy): a different quadrature."""
    f = cumulative_trapezoid(p.numpy(), dx=dx, initial=0.0)
    g = cumulative_trapezoid(q.numpy(), dx=dx, initial=0.0)
    return float(np.trapezoid(np.abs(f - g), dx=dx))


def w1_grid_scipy(p, q, dx):
    """SciPy's weighted W1 between the grid points (weights = the cells' masses)."""
    t = np.arange(len(p)) * dx
    return wasserstein_distance(t, t, p.numpy(), q.numpy())


def w1_grid_quantiles(p, q, dx):
    """Through the quantile functions: integral over u of |F^-1(u) - G^-1(u)|."""
    t = np.arange(len(p)) * dx
    f, g = np.cumsum(p.numpy()) * dx, np.cumsum(q.numpy()) * dx
    u = (np.arange(20_000) + 0.5) / 20_000
    return float(np.abs(np.interp(u, f, t) - np.interp(u, g, t)).mean())


@pytest.mark.parametrize("fn", [w1_grid_cumsum, w1_grid_trapezoid, w1_grid_scipy, w1_grid_quantiles],
                         ids=["cumsum", "trapezoid", "scipy", "quantiles"])
def test_4_1_passes(fn):
    assert_passes("4.1", fn)


def _cdfs(p, q, dx):
    return torch.cumsum(p, 0) * dx, torch.cumsum(q, 0) * dx


@pytest.mark.parametrize("fn, hint", [
    (lambda p, q, dx: (torch.cumsum(p, 0) - torch.cumsum(q, 0)).abs().sum() * dx, "multiply by dx twice"),
    (lambda p, q, dx: (torch.cumsum(p, 0) - torch.cumsum(q, 0)).abs().sum(), "no dx anywhere"),
    (lambda p, q, dx: (p - q).abs().sum() * dx, "compares the densities point by point"),
    (lambda p, q, dx: (_cdfs(p, q, dx)[0] - _cdfs(p, q, dx)[1]).sum() * dx, "keep the absolute value"),
    (lambda p, q, dx: ((_cdfs(p, q, dx)[0] - _cdfs(p, q, dx)[1]) ** 2).sum() * dx, "Cramér"),
    (lambda p, q, dx: (_cdfs(p, q, dx)[0] - _cdfs(p, q, dx)[1]).abs().max(), "Kolmogorov-Smirnov"),
    (lambda p, q, dx: (_cdfs(p, q, dx)[0] - _cdfs(p, q, dx)[1]).abs() * dx, "not the integrand"),
    (lambda p, q, dx: torch.tensor(3.0, dtype=torch.float64), "three pieces against one wide piece"),
])
def test_4_1_fails(fn, hint):
    assert_fails("4.1", fn, hint)


def test_4_1_slides_case_rejects_the_signed_integral_whose_value_is_0():
    r = assert_fails("4.1", lambda p, q, dx: (_cdfs(p, q, dx)[0] - _cdfs(p, q, dx)[1]).sum() * dx)
    assert "the slides' example" in r.message and "difference of the means" in r.message


@pytest.mark.parametrize("fn", [w1_grid_trapezoid, w1_grid_scipy], ids=["trapezoid", "scipy"])
def test_4_1_rewrites_pass_for_many_secrets(fn):
    assert_passes_for_secrets("4.1", fn, n=50)


# --- 4.2 W1 from samples ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda x, y: (torch.sort(x).values - torch.sort(y).values).abs().mean(),
    lambda x, y: wasserstein_distance(x.numpy(), y.numpy()),
    lambda x, y: float(np.mean(np.abs(np.sort(x.numpy()) - np.sort(y.numpy())))),
    lambda x, y: ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)),
                         np.abs(x.numpy()[:, None] - y.numpy()[None, :])),
], ids=["torch-sort", "scipy", "numpy", "pot"])
def test_4_2_passes(fn):
    assert_passes("4.2", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda x, y: (x - y).abs().mean(), "sort both samples first"),
    (lambda x, y: (torch.sort(x).values - y).abs().mean(), "sort y too"),
    (lambda x, y: (torch.sort(x).values - torch.sort(y, descending=True).values).abs().mean(), "same (increasing)"),
    (lambda x, y: (x.mean() - y.mean()).abs(), "gap between the means"),
    (lambda x, y: ((torch.sort(x).values - torch.sort(y).values) ** 2).mean().sqrt(), "that is W2"),
    (lambda x, y: (torch.sort(x).values - torch.sort(y).values).abs().sum(), "do not sum"),
    (lambda x, y: (torch.sort(x).values - torch.sort(y).values).abs().max(), "not their maximum"),
])
def test_4_2_fails(fn, hint):
    assert_fails("4.2", fn, hint)


def test_4_2_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("4.2", lambda x, y: float(np.mean(np.abs(np.sort(x.numpy()) - np.sort(y.numpy())))),
                              n=50)


# --- 4.3 the transport cost of a plan ----------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda plan, x, y: (plan * torch.cdist(x, y)).sum(),
    lambda plan, x, y: (plan * ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).sqrt()).sum(),
    lambda plan, x, y: float(np.sum(plan.numpy() * ot.dist(x.numpy(), y.numpy(), metric="euclidean"))),
    lambda plan, x, y: torch.einsum("ij,ij->", plan, torch.linalg.vector_norm(x[:, None] - y[None], dim=-1)),
], ids=["cdist", "broadcast", "pot-dist", "einsum"])
def test_4_3_passes(fn):
    assert_passes("4.3", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda plan, x, y: (plan * torch.cdist(x, y) ** 2).sum(), "not its square"),
    (lambda plan, x, y: (plan * (x[:, None, :] - y[None, :, :]).abs().sum(-1)).sum(), "not the L1 distance"),
    (lambda plan, x, y: (plan * torch.cdist(x, y)).mean(), "do not average"),
    (lambda plan, x, y: torch.cdist(x, y).mean(), "weight each distance"),
    (lambda plan, x, y: (plan.T * torch.cdist(x, y)).sum() if plan.shape[0] == plan.shape[1]
     else (plan * torch.cdist(x, y)).sum(), "do not transpose"),
])
def test_4_3_fails(fn, hint):
    assert_fails("4.3", fn, hint)


def test_4_3_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("4.3", lambda plan, x, y: torch.einsum(
        "ij,ij->", plan, torch.linalg.vector_norm(x[:, None] - y[None], dim=-1)), n=50)


# --- 4.4 the critic loss --------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda r, f: f.mean() - r.mean(),
    lambda r, f: -(r.mean() - f.mean()),
    lambda r, f: f.sum() / f.numel() - r.sum() / r.numel(),
    lambda r, f: torch.mean(f.flatten()) - torch.mean(r.flatten()),
])
def test_4_4_passes(fn):
    assert_passes("4.4", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda r, f: r.mean() - f.mean(), "objective the critic MAXIMISES"),
    (lambda r, f: f.abs().mean() - r.abs().mean(), "no absolute values"),
    (lambda r, f: r.abs().mean() - f.abs().mean(), "no absolute values"),
    (lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(), "cross-entropy"),
    (lambda r, f: torch.cat([f, -r]).mean(), "its own size"),
    (lambda r, f: f.sum() - r.sum(), "do not sum"),
    (lambda r, f: -f.mean(), "generator's loss"),
    (lambda r, f: torch.tensor((f.mean() - r.mean()).item(), dtype=torch.float64), "no gradient reaches"),
    (lambda r, f: (f.mean() - r.mean()).detach(), "no gradient reaches"),
])
def test_4_4_fails(fn, hint):
    assert_fails("4.4", fn, hint)


def test_4_4_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("4.4", lambda r, f: f.sum() / f.numel() - r.sum() / r.numel(), n=50)


# --- 4.5 weight clipping ----------------------------------------------------------------------------

def clip_in_place(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)
    return list(critic.parameters())


def clip_through_data(critic, c):
    for p in critic.parameters():
        p.data = torch.clamp(p.data, min=-c, max=c)
    return [p for p in critic.parameters()]


def clip_copy_back(critic, c):
    params = [p for _, p in critic.named_parameters()]
    with torch.no_grad():
        for p in params:
            p.copy_(torch.where(p > c, c, torch.where(p < -c, -c, p)))
    return params


def clip_data_in_place(critic, c):
    for p in critic.parameters():
        p.data.clamp_(min=-c, max=c)
    return list(critic.parameters())


@pytest.mark.parametrize("fn", [clip_in_place, clip_through_data, clip_copy_back, clip_data_in_place])
def test_4_5_passes(fn):
    assert_passes("4.5", fn)


@pytest.mark.parametrize("fn", [clip_copy_back, clip_data_in_place])
def test_4_5_rewrites_pass_for_many_secrets(fn):
    assert_passes_for_secrets("4.5", fn, n=50)


def clip_copies(critic, c):
    """Right values, returned, but the critic that training goes on with is not clipped."""
    return [torch.clamp(p.detach(), -c, c) for p in critic.parameters()]


def clip_data_copies(critic, c):
    return [p.data.clamp(-c, c) for p in critic.parameters()]


def test_4_5_clipped_copies_fail_and_are_told_the_critic_did_not_change():
    for fn in (clip_copies, clip_data_copies):
        r = assert_fails("4.5", fn, "you returned clipped copies, but the critic itself did not change")
        assert "in place" in r.message


def clip_grad_value(critic, c):
    torch.nn.utils.clip_grad_value_(critic.parameters(), c)
    return list(critic.parameters())


def test_4_5_clip_grad_value_is_told_it_clips_gradients_not_weights():
    r = assert_fails("4.5", clip_grad_value, "clip_grad_value_ clips gradients, not weights")
    assert "p.clamp_(-c, c)" in r.message and "torch.no_grad()" in r.message
    assert not r.message.startswith("your function raised")


def clip_gradients(critic, c):
    torch.nn.utils.clip_grad_value_(critic.parameters(), c)
    return list(critic.parameters())


def clip_weights_only(critic, c):
    with torch.no_grad():
        for name, p in critic.named_parameters():
            if name.endswith("weight"):
                p.clamp_(-c, c)
    return list(critic.parameters())


def clip_positive(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(0, c)
    return list(critic.parameters())


def zero_outside(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p[p.abs() > c] = 0.0
    return list(critic.parameters())


def rescale_by_norm(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(min(1.0, c / float(p.norm())))
    return list(critic.parameters())


def clip_gradient_tensors(critic, c):
    for p in critic.parameters():
        p.grad.clamp_(-c, c)
    return list(critic.parameters())


def clip_and_return_nothing(critic, c):
    clip_in_place(critic, c)


def clip_not_in_place(critic, c):
    for p in critic.parameters():
        p.data.clamp(-c, c)  # a new tensor, thrown away
    return list(critic.parameters())


def clip_grad_norm(critic, c):
    torch.nn.utils.clip_grad_norm_(critic.parameters(), c)
    return list(critic.parameters())


def clip_then_return_old_values(critic, c):
    before = [p.detach().clone() for p in critic.parameters()]
    clip_in_place(critic, c)
    return before


def clip_then_return_first_layers(critic, c):
    return clip_in_place(critic, c)[:2]


@pytest.mark.parametrize("fn, hint", [
    (clip_gradients, "gradients, not weights"),
    (clip_gradient_tensors, "gradients, not weights"),
    (clip_grad_norm, "the weights did not change"),
    (clip_not_in_place, "the weights did not change"),
    (clip_then_return_old_values, "holds the values from before clipping"),
    (clip_weights_only, "clip the biases too"),
    (clip_positive, "symmetric interval"),
    (zero_outside, "not 0"),
    (rescale_by_norm, "each entry separately"),
    (clip_and_return_nothing, "return the critic's parameters"),
    (clip_then_return_first_layers, "return a list of the critic's"),
])
def test_4_5_fails(fn, hint):
    assert_fails("4.5", fn, hint)


# --- 4.6 the gradient penalty ------------------------------------------------------------------------

def gp_autograd(critic, x_real, x_fake, eps):
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((g.norm(dim=1) - 1) ** 2).mean()


def gp_functorch(critic, x_real, x_fake, eps):
    """torch.func: the gradient of f at each interpolate, with vmap."""
    x_hat = eps * x_real + (1 - eps) * x_fake
    grads = torch.func.vmap(torch.func.grad(lambda p: critic(p[None]).squeeze()))(x_hat)
    return ((torch.linalg.vector_norm(grads, dim=1) - 1) ** 2).mean()


def gp_lerp(critic, x_real, x_fake, eps):
    x_hat = torch.lerp(x_fake, x_real, eps).detach().requires_grad_()
    out = critic(x_hat)
    (g,) = torch.autograd.grad(out, x_hat, grad_outputs=torch.ones_like(out), create_graph=True)
    return (g.pow(2).sum(1).sqrt() - 1).pow(2).mean()


@pytest.mark.parametrize("fn", [gp_autograd, gp_functorch, gp_lerp], ids=["autograd", "functorch", "lerp"])
def test_4_6_passes(fn):
    assert_passes("4.6", fn)


def _input_grad(critic, pts, create_graph=True):
    pts = pts.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(pts).sum(), pts, create_graph=create_graph)
    return g


def _hat(x_real, x_fake, eps):
    return eps * x_real + (1 - eps) * x_fake


def gp_of_the_mean_score(critic, x_real, x_fake, eps):
    """Differentiates the batch's mean score: each sample's gradient comes out divided by the batch size."""
    x_hat = _hat(x_real, x_fake, eps).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat).mean(), x_hat, create_graph=True)
    return ((g.norm(dim=1) - 1) ** 2).mean()


@pytest.mark.parametrize("fn, hint", [
    (lambda c, r, f, e: _input_grad(c, _hat(r, f, e)).norm(dim=1).mean(), "not |grad f| itself"),
    (lambda c, r, f, e: (_input_grad(c, _hat(r, f, e)).norm(dim=1) ** 2).mean(), "not |grad f|^2"),
    (lambda c, r, f, e: ((_input_grad(c, _hat(r, f, e)) ** 2).sum(1) - 1).pow(2).mean(), "not its square"),
    (lambda c, r, f, e: torch.relu(_input_grad(c, _hat(r, f, e)).norm(dim=1) - 1).pow(2).mean(), "one-sided"),
    (lambda c, r, f, e: (_input_grad(c, _hat(r, f, e)).norm() - 1) ** 2, "one gradient norm per sample"),
    (lambda c, r, f, e: ((_input_grad(c, _hat(r, f, e)).abs().sum(1) - 1) ** 2).mean(), "not the L1 norm"),
    (lambda c, r, f, e: ((_input_grad(c, r).norm(dim=1) - 1) ** 2).mean(), "not at the real points"),
    (lambda c, r, f, e: ((_input_grad(c, f).norm(dim=1) - 1) ** 2).mean(), "not at the fakes"),
    (lambda c, r, f, e: ((_input_grad(c, e * f + (1 - e) * r).norm(dim=1) - 1) ** 2).mean(), "eps weighs the real"),
    (lambda c, r, f, e: 10 * gp_autograd(c, r, f, e), "without its weight lambda"),
    (lambda c, r, f, e: ((_input_grad(c, _hat(r, f, e)).norm(dim=1) - 1) ** 2).sum(), "do not sum"),
    (lambda c, r, f, e: ((_input_grad(c, _hat(r, f, e), create_graph=False).norm(dim=1) - 1) ** 2).mean(),
     "create_graph=True"),
    (gp_of_the_mean_score, "not their mean"),
    (lambda c, r, f, e: ((_input_grad(c, _hat(r, f, e)).norm(dim=0) - 1) ** 2).mean(), "not over the batch (dim=0)"),
])
def test_4_6_fails(fn, hint):
    assert_fails("4.6", fn, hint)


def test_4_6_the_mean_score_slip_is_named_with_the_batch_size():
    r = assert_fails("4.6", gp_of_the_mean_score, "critic(x_hat).sum()")
    assert "batch size (32)" in r.message


def test_4_6_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("4.6", gp_lerp, n=50)


# --- the grader's shifted inputs ------------------------------------------------------------------

CORRECT = {"4.1": w1_grid_cumsum, "4.2": lambda x, y: wasserstein_distance(x.numpy(), y.numpy()),
           "4.3": lambda plan, x, y: (plan * torch.cdist(x, y)).sum(), "4.4": lambda r, f: f.mean() - r.mean(),
           "4.5": clip_in_place, "4.6": gp_autograd}
WRONG = {"4.1": lambda p, q, dx: (p - q).abs().sum() * dx, "4.2": lambda x, y: (x - y).abs().mean(),
         "4.3": lambda plan, x, y: (plan * torch.cdist(x, y) ** 2).sum(), "4.4": lambda r, f: r.mean() - f.mean(),
         "4.5": clip_weights_only,
         "4.6": lambda c, r, f, e: _input_grad(c, _hat(r, f, e)).norm(dim=1).mean()}


@pytest.mark.parametrize("salt", [1, 17, 404])
def test_checks_keep_both_directions_with_the_graders_hidden_salt(salt):
    from course_utils.grading.compare import set_hidden_salt

    set_hidden_salt(salt)
    try:
        for ex_id in CORRECT:
            assert_passes(ex_id, CORRECT[ex_id])
            assert_fails(ex_id, WRONG[ex_id])
    finally:
        set_hidden_salt(0)
