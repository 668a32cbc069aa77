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
        ("4.2", "predict_split_cost", 2),
        ("4.3", "clip_weights", 1),
        ("4.4", "critic_steps", 4),
        ("4.5", "gradient_penalty", 3),
        ("4.6", "generator_grad", 3),
    ]
    assert all(e.hint and len(e.hints) >= 2 for e in exercises("04"))


def test_section_04_points_come_mostly_from_exercises_beyond_warm_ups():
    total = sum(e.points for e in exercises("04"))
    beyond = sum(e.points for e in exercises("04") if e.kind != "warm-up")
    assert beyond / total >= 0.5, (beyond, total)
    assert {e.kind for e in exercises("04")} >= {"predict", "training-step", "build"}


def test_a_student_error_that_mentions_gradients_is_reported_as_it_is():
    def broken(critic, c):
        raise RuntimeError("element 0 of tensors does not require grad")

    r = assert_fails("4.3", broken)
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


# --- 4.2 predict: a point mass split in two ------------------------------------------------------

def split_by_hand(x, y1, y2):
    return 0.5 * float(torch.dist(x, y1)) + 0.5 * float(torch.dist(x, y2))


def split_via_pot(x, y1, y2):
    """The LP itself (POT): one source of mass 1, two targets of mass 1/2."""
    cost = ot.dist(x.reshape(1, -1).numpy(), torch.stack([y1, y2]).reshape(2, -1).numpy(), metric="euclidean")
    return float(ot.emd2(np.ones(1), np.full(2, 0.5), cost))


def split_to_nearest(x, y1, y2):
    return torch.minimum(torch.dist(x, y1), torch.dist(x, y2))


@pytest.mark.parametrize("fn", [split_by_hand, split_via_pot], ids=["by-hand", "pot"])
def test_4_2_passes(fn):
    assert_passes("4.2", fn)


def test_4_2_the_lp_passes_for_many_secrets():
    assert_passes_for_secrets("4.2", split_via_pot, n=50)


@pytest.mark.parametrize("fn, hint", [
    (split_to_nearest, "as a transport map would"),
    (lambda x, y1, y2: torch.maximum(torch.dist(x, y1), torch.dist(x, y2)), "farther point"),
    (lambda x, y1, y2: torch.dist(x, y1) + torch.dist(x, y2), "weighted by the mass"),
    (lambda x, y1, y2: torch.dist(x, (y1 + y2) / 2), "midpoint"),
    (lambda x, y1, y2: 0.5 * torch.dist(x, y1) ** 2 + 0.5 * torch.dist(x, y2) ** 2, "not its square"),
    (lambda x, y1, y2: 0.0, "W1 is still defined"),
], ids=["nearest", "farther", "no-halves", "midpoint", "squared", "no-map-so-zero"])
def test_4_2_fails(fn, hint):
    assert_fails("4.2", fn, hint)


# --- 4.3 weight clipping ----------------------------------------------------------------------------

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
def test_4_3_passes(fn):
    assert_passes("4.3", fn)


@pytest.mark.parametrize("fn", [clip_copy_back, clip_data_in_place])
def test_4_3_rewrites_pass_for_many_secrets(fn):
    assert_passes_for_secrets("4.3", fn, n=50)


def clip_copies(critic, c):
    """Right values, returned, but the critic that training goes on with is not clipped."""
    return [torch.clamp(p.detach(), -c, c) for p in critic.parameters()]


def clip_data_copies(critic, c):
    return [p.data.clamp(-c, c) for p in critic.parameters()]


def test_4_3_clipped_copies_fail_and_are_told_the_critic_did_not_change():
    for fn in (clip_copies, clip_data_copies):
        r = assert_fails("4.3", fn, "you returned clipped copies, but the critic itself did not change")
        assert "in place" in r.message


def clip_grad_value(critic, c):
    torch.nn.utils.clip_grad_value_(critic.parameters(), c)
    return list(critic.parameters())


def test_4_3_clip_grad_value_is_told_it_clips_gradients_not_weights():
    r = assert_fails("4.3", clip_grad_value, "clip_grad_value_ clips gradients, not weights")
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
def test_4_3_fails(fn, hint):
    assert_fails("4.3", fn, hint)


# --- 4.4 Algorithm 1's critic updates ---------------------------------------------------------------

def critic_steps_loop(critic, opt, x_real, x_fake, c):
    losses = []
    for k in range(len(x_real)):
        opt.zero_grad()
        loss = critic(x_fake[k]).mean() - critic(x_real[k]).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-c, c)
        losses.append(loss.item())
    return torch.tensor(losses)


def critic_steps_other_way(critic, opt, x_real, x_fake, c):
    """One forward pass on both batches, gradients reset to zeros (not None), clipping through .data and
    section 04's clip_weights (another exercise's answer), and the losses as a list of floats."""
    from course_utils.s04_wasserstein.wgan import clip_weights

    out = []
    for real, fake in zip(x_real, x_fake, strict=True):
        scores = critic(torch.cat([real, fake.detach()])).squeeze(1)
        gap = scores[:len(real)].mean() - scores[len(real):].mean()
        opt.zero_grad(set_to_none=False)
        (-gap).backward()
        opt.step()
        clip_weights(critic, c)
        out.append(-float(gap.detach()))
    return out


def _critic_steps_with(bug):
    def steps(critic, opt, x_real, x_fake, c):
        losses = []
        pairs = zip(x_real, x_fake, strict=True)
        if bug == "one step":
            pairs = [(x_real.flatten(0, 1), x_fake.flatten(0, 1))]
        for real, fake in pairs:
            if bug != "no zero_grad":
                opt.zero_grad()
            if bug == "clip first":
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-c, c)
            if bug == "sign":
                loss = critic(real).mean() - critic(fake).mean()
            elif bug == "abs":
                loss = critic(fake).abs().mean() - critic(real).abs().mean()
            else:
                loss = critic(fake).mean() - critic(real).mean()
            loss.backward()
            opt.step()
            if bug == "copy":
                _ = [p.detach().clamp(-c, c) for p in critic.parameters()]
            elif bug not in ("clip first", "no step"):
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-c, c)
            losses.append(-loss.item() if bug == "gap" else loss.item())
        return torch.tensor(losses)

    return steps


critic_steps_clip_first = _critic_steps_with("clip first")


@pytest.mark.parametrize("fn", [critic_steps_loop, critic_steps_other_way], ids=["loop", "other-way"])
def test_4_4_passes(fn):
    assert_passes("4.4", fn)


def test_4_4_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("4.4", critic_steps_other_way, n=30)


@pytest.mark.parametrize("bug, hint", [
    ("sign", "the critic went the wrong way"),
    ("abs", "no absolute values"),
    ("clip first", "the clipping comes before the update"),
    ("copy", "a clipped copy leaves the critic as it was"),
    ("no zero_grad", "zero them (opt.zero_grad()) before each backward pass"),
    ("one step", "make n_critic updates"),
    ("gap", "return the loss the optimiser minimised"),
])
def test_4_4_fails(bug, hint):
    assert_fails("4.4", _critic_steps_with(bug), hint)


def test_4_4_a_critic_that_never_steps_is_told_so():
    def no_step(critic, opt, x_real, x_fake, c):
        return torch.stack([critic(f).mean() - critic(r).mean() for r, f in zip(x_real, x_fake, strict=True)]).detach()

    assert_fails("4.4", no_step, "did not change")


# --- 4.5 the gradient penalty ------------------------------------------------------------------------

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
def test_4_5_passes(fn):
    assert_passes("4.5", fn)


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
def test_4_5_fails(fn, hint):
    assert_fails("4.5", fn, hint)


def test_4_5_the_mean_score_slip_is_named_with_the_batch_size():
    r = assert_fails("4.5", gp_of_the_mean_score, "critic(x_hat).sum()")
    assert "batch size (32)" in r.message


def test_4_5_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("4.5", gp_lerp, n=50)


# --- 4.6 build: the generator's gradient through the critic -------------------------------------------

def gen_grad_autograd(critic, x_fake):
    x = x_fake.detach().clone().requires_grad_(True)
    loss = -critic(x).mean()
    return torch.autograd.grad(loss, x)[0]


def gen_grad_func(critic, x_fake):
    """Per-point gradients of the score with torch.func (vmap of grad), then the loss's -1/m."""
    def score(point):
        return critic(point.unsqueeze(0)).squeeze()

    return -torch.func.vmap(torch.func.grad(score))(x_fake) / len(x_fake)


@pytest.mark.parametrize("fn", [gen_grad_autograd, gen_grad_func], ids=["autograd", "torch.func"])
def test_4_6_passes(fn):
    assert_passes("4.6", fn)


def test_4_6_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("4.6", gen_grad_func, n=50)


def _nonsaturating(critic, x_fake):
    x = x_fake.detach().clone().requires_grad_(True)
    return torch.autograd.grad(F.softplus(-critic(x)).mean(), x)[0]


@pytest.mark.parametrize("fn, hint", [
    (lambda c, x: -gen_grad_autograd(c, x), "wrong sign"),
    (lambda c, x: gen_grad_autograd(c, x) * len(x), "divide by the batch size"),
    (lambda c, x: -gen_grad_autograd(c, x) * len(x), "two slips"),
    (_nonsaturating, "non-saturating"),
    (lambda c, x: gen_grad_autograd(c, x) / gen_grad_autograd(c, x).norm(dim=1, keepdim=True) / len(x),
     "do not normalise"),
], ids=["sign", "sum", "both", "non-saturating", "normalised"])
def test_4_6_fails(fn, hint):
    assert_fails("4.6", fn, hint)


# --- the grader's shifted inputs ------------------------------------------------------------------

CORRECT = {"4.1": w1_grid_cumsum, "4.2": split_by_hand, "4.3": clip_in_place, "4.4": critic_steps_loop,
           "4.5": gp_autograd, "4.6": gen_grad_autograd}
WRONG = {"4.1": lambda p, q, dx: (p - q).abs().sum() * dx, "4.2": split_to_nearest,
         "4.3": clip_weights_only, "4.4": critic_steps_clip_first,
         "4.5": lambda c, r, f, e: _input_grad(c, _hat(r, f, e)).norm(dim=1).mean(),
         "4.6": lambda c, x: -gen_grad_autograd(c, x)}


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
