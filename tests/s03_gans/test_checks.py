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
from helpers import assert_fails, assert_fails_for_secrets, assert_passes, assert_passes_for_secrets
from scipy.spatial.distance import jensenshannon
from torch.distributions import Categorical

from course_utils.grading import exercises

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: small tensors, busy CPUs


def test_section_03_exercises():
    assert [(e.id, e.function, e.points, e.kind) for e in exercises("03")] == [
        ("3.1", "reweighted_mean", 2, "build"),
        ("3.2", "optimal_value", 2, "warm-up"),
        ("3.3", "jsd_discrete", 1, "warm-up"),
        ("3.4", "predict_value_shifted", 2, "predict"),
        ("3.5", "discriminator_loss", 1, "warm-up"),
        ("3.6", "gan_step", 4, "training-step"),
        ("3.7", "lsgan_losses", 1, "warm-up"),
        ("3.8", "pix2pix_generator_loss", 2, "build"),
        ("3.9", "cyclegan_terms", 2, "warm-up"),
        ("3.10", "adain", 2, "warm-up"),
    ]
    assert all(e.hint and len(e.hints) >= 2 for e in exercises("03"))
    points = {kind: sum(e.points for e in exercises("03") if e.kind == kind) for kind in ("warm-up",)}
    total = sum(e.points for e in exercises("03"))
    assert 1 - points["warm-up"] / total >= 0.5


# --- 3.1 the density-ratio view ---------------------------------------------------------------

def rw_softmax(logits, values):
    return torch.softmax(logits, 0) @ values


def rw_shifted_odds(logits, values):
    """The odds D / (1 - D), computed after subtracting the largest logit (same ratio, no overflow)."""
    w = torch.exp(logits - logits.max())
    w = w / w.sum()
    return (w[:, None] * values.reshape(len(w), -1)).sum(0).reshape(values.shape[1:])


def rw_numpy_logsumexp(logits, values):
    from scipy.special import logsumexp

    lg = logits.double().numpy()
    w = np.exp(lg - logsumexp(lg))
    return torch.from_numpy(np.tensordot(w, values.double().numpy(), axes=1))


@pytest.mark.parametrize("fn", [rw_softmax, rw_shifted_odds, rw_numpy_logsumexp])
def test_3_1_passes(fn):
    assert_passes("3.1", fn)


def test_3_1_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.1", rw_shifted_odds, n=50)


def _rw_weights(weights):
    def fn(logits, values):
        w = weights(logits)
        return (w / w.sum()) @ values
    return fn


@pytest.mark.parametrize("fn, hint", [
    (lambda lg, v: v.mean(0), "plain mean under p_theta"),
    (_rw_weights(torch.sigmoid), "those weights are D, a probability"),
    (_rw_weights(lambda lg: torch.exp(-lg)), "the inverse ratio"),
    (_rw_weights(lambda lg: 1 - torch.sigmoid(lg)), "those weights are 1 - D"),
    (lambda lg, v: (torch.exp(lg)[:, None] * v).mean(0) if v.ndim == 2 else (torch.exp(lg) * v).mean(),
     "divide by their sum, not by n"),
    (_rw_weights(torch.exp), "exp(l) is inf in float32 beyond l = 88"),
])
def test_3_1_fails(fn, hint):
    assert_fails("3.1", fn, hint)

# --- 3.2 C(g) ----------------------------------------------------------------------------

def c_xlogy(px, pt, dx):
    """log D* and log(1 - D*) as ratios of densities: no 1 - D* to round to 0 in the tails."""
    total = px + pt
    return (torch.xlogy(px, px / total) + torch.xlogy(pt, pt / total)).sum() * dx


def c_log_densities(px, pt, dx):
    """log D* = log p_X - log(p_X + p_theta), log(1 - D*) = log p_theta - log(p_X + p_theta)."""
    log_total = torch.log(px + pt)
    return (px * (torch.log(px) - log_total) + pt * (torch.log(pt) - log_total)).sum() * dx


def c_own_discriminator(px, pt, dx):
    """With 3.1's D* (the course's answer to another exercise is the student's to use)."""
    from course_utils.s03_gans.gan import optimal_discriminator

    d = optimal_discriminator(px, pt)
    return (torch.xlogy(px, d) + torch.xlogy(pt, pt / (px + pt))).sum() * dx


def c_from_scipy_jsd(px, pt, dx):
    from scipy.spatial.distance import jensenshannon

    js = jensenshannon(px.numpy() * dx, pt.numpy() * dx, base=math.e) ** 2
    return -math.log(4) + 2 * js


def c_trapezoid(px, pt, dx):
    m = (px + pt) / 2
    integrand = px * torch.log(px / m) + pt * torch.log(pt / m)
    return -math.log(4) + float(np.trapezoid(integrand.numpy(), dx=dx))


@pytest.mark.parametrize("fn", [c_xlogy, c_log_densities, c_own_discriminator, c_from_scipy_jsd, c_trapezoid])
def test_3_2_passes(fn):
    assert_passes("3.2", fn)


@pytest.mark.parametrize("fn", [c_xlogy, c_log_densities])
def test_3_2_tail_finite_rewrites_pass_for_many_secrets(fn):
    assert_passes_for_secrets("3.2", fn, n=50)


def c_naive(px, pt, dx):
    """The textbook form: right on paper, -inf where D* rounds to 1."""
    d = px / (px + pt)
    return (px * torch.log(d) + pt * torch.log(1 - d)).sum() * dx


def c_naive_log1p(px, pt, dx):
    d = px / (px + pt)
    return (px * torch.log(d) + pt * torch.log1p(-d)).sum() * dx


def c_naive_xlogy(px, pt, dx):
    """xlogy does not help once 1 - D* has rounded to 0: p_theta > 0 there, so p_theta log 0 = -inf."""
    d = px / (px + pt)
    return (torch.xlogy(px, d) + torch.xlogy(pt, 1 - d)).sum() * dx


@pytest.mark.parametrize("fn", [c_naive, c_naive_log1p, c_naive_xlogy])
def test_3_2_forms_that_are_not_finite_in_the_tails_fail_on_the_announced_case_only(fn):
    """They are right on every random case (no hidden seed reaches the tails by chance), and every
    student is told the same thing: the named case of N(-3, 0.36), and why."""
    r = assert_fails("3.2", fn, "the tails of N(-3, 0.36)")
    assert "rounds to 1" in r.message and "-inf" in r.message and "torch.xlogy" in r.message
    assert_fails_for_secrets("3.2", fn, n=50, hint="the tails of N(-3, 0.36)")


def test_3_2_random_cases_keep_d_star_away_from_1_under_every_secret():
    from helpers import grading_secret

    from course_utils.grading.core import _current
    from course_utils.s03_gans.checks import _grid_densities

    token = _current.set("3.2")
    try:
        for k in range(200):
            with grading_secret(f"secret-{k}", f"student-{k % 7}"):
                px, pt, _ = _grid_densities(32)
            assert float((1 - px / (px + pt)).min()) > 1e-7
    finally:
        _current.reset(token)


def test_3_2_the_announced_case_is_the_notebooks_example():
    from course_utils.s03_gans.checks import _hostile_tails

    px, pt, dx = _hostile_tails()
    assert float(c_xlogy(px, pt, dx)) == pytest.approx(-0.2671, abs=1e-4)
    assert float(c_naive(px, pt, dx)) == -math.inf


def test_3_2_nan_in_the_tails_is_told_the_same():
    def nan_form(px, pt, dx):  # 0 * log 0 where p_theta underflows, and log(1 - D*) = -inf where it does not
        d = px / (px + pt)
        out = c_xlogy(px, pt, dx)
        return out if float((1 - d).min()) > 0 else torch.tensor(math.nan, dtype=torch.float64)

    r = assert_fails("3.2", nan_form, "you returned nan")
    assert "rounds to 1" in r.message


@pytest.mark.parametrize("fn, hint", [
    (lambda px, pt, dx: c_xlogy(px, pt, dx) / dx, "multiply the sum by dx"),
    (lambda px, pt, dx: -c_xlogy(px, pt, dx), "sign slip"),
    (lambda px, pt, dx: c_xlogy(px, pt, dx) / math.log(2), "natural logs"),
    (lambda px, pt, dx: (torch.xlogy(px + pt, px / (px + pt))).sum() * dx, "not log D*"),
    (lambda px, pt, dx: -math.log(4) + (c_from_scipy_jsd(px, pt, dx) + math.log(4)) / 2, "twice the JSD"),
    (lambda px, pt, dx: c_from_scipy_jsd(px, pt, dx) + math.log(4), "dropped the constant"),
    (lambda px, pt, dx: (px * torch.log(px / (px + pt))).sum() * dx, "second expectation"),
    (lambda px, pt, dx: (torch.xlogy(px, px / (px + pt)) + torch.xlogy(pt, pt / (px + pt))).mean(),
     "not a mean over the grid points"),
    (lambda px, pt, dx: ((px / (px + pt)) * px + (pt / (px + pt)) * pt).sum() * dx, "forgot the logs"),
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
def test_3_3_passes(fn):
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
def test_3_3_fails(fn, hint):
    assert_fails("3.3", fn, hint)


def test_3_3_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.3", _jsd_via_entropies, n=50)


# --- 3.4 predict C(g) for shifted uniforms --------------------------------------------------------

def predict_by_cases(s):
    return 0.0 if s >= 1 else -(1 - s) * math.log(4)


def predict_by_jsd(s):
    """-log 4 + 2 JSD, the JSD written as the mass each density has alone, times log 2."""
    return -math.log(4) + 2 * math.log(2) * min(s, 1.0)


def predict_by_quadrature(s):
    """Measured instead of predicted: C(g) on a fine grid (an honest, if slow, way to the same number)."""
    grid = torch.linspace(-1.0, 5.0, 600_001, dtype=torch.float64)[:-1] + 0.5e-5
    px = ((grid >= 0) & (grid < 1)).double()
    pt = ((grid >= s) & (grid < s + 1)).double()
    total = px + pt
    return float((torch.xlogy(px, px / total.clamp_min(1e-300)) + torch.xlogy(pt, pt / total.clamp_min(1e-300)))
                 .sum() * 1e-5)


@pytest.mark.parametrize("fn", [predict_by_cases, predict_by_jsd, predict_by_quadrature])
def test_3_4_passes(fn):
    assert_passes("3.4", fn)


def test_3_4_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.4", predict_by_jsd, n=50)


@pytest.mark.parametrize("fn, hint", [
    (lambda s: -(1 - s) * math.log(4), "past s = 1 nothing overlaps"),
    (lambda s: -math.log(4), "only where the supports coincide"),
    (lambda s: -math.log(2) * max(0.0, 1 - s), "in BOTH expectations"),
    (lambda s: math.log(2) * min(1.0, s), "that is the JSD"),
    (lambda s: -math.log(4) + math.log(2) * min(1.0, s), "twice the JSD"),
    (lambda s: str(predict_by_cases(s)), "should return a tensor"),
    (lambda s: [predict_by_cases(s)], "expected shape ()"),
])
def test_3_4_fails(fn, hint):
    assert_fails("3.4", fn, hint)


def test_3_4_the_announced_value_is_the_quadrature_of_the_notebook():
    from course_utils.s03_gans.gan import optimal_value_on_grid, shifted_uniforms_value

    for s in (0.0, 0.25, 0.6, 1.0, 1.7):
        assert shifted_uniforms_value(s) == pytest.approx(predict_by_quadrature(s), abs=1e-4)
    grid = torch.linspace(-1.0, 4.0, 50_001, dtype=torch.float64)
    px = ((grid >= 0) & (grid <= 1)).double()
    pt = ((grid >= 0.4) & (grid <= 1.4)).double()
    assert float(optimal_value_on_grid(px, pt, 1e-4)) == pytest.approx(shifted_uniforms_value(0.4), abs=1e-3)

# --- 3.5 discriminator loss -----------------------------------------------------------------

@pytest.mark.parametrize("fn", [
    lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
    + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),
    lambda r, f: -(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean()),
    lambda r, f: -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()),
    lambda r, f: F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
    + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)),
])
def test_3_5_passes(fn):
    assert_passes("3.5", fn)


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
    (lambda r, f: 0.5 * (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                         + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))), "no factor 1/2"),
])
def test_3_5_fails(fn, hint):
    assert_fails("3.5", fn, hint)


def test_3_5_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.5", lambda r, f: -(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean()), n=50)


# --- 3.6 one alternating GAN step -------------------------------------------------------------

def bce(logits, label):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(label)))


def step_bce(G, D, opt_G, opt_D, x_real, z):
    """Written with BCE-with-logits and labels, and g(z) computed afresh for g's step."""
    fake = G(z)
    loss_d = bce(D(x_real), 1) + bce(D(fake.detach()), 0)
    opt_D.zero_grad()
    loss_d.backward()
    opt_D.step()
    opt_G.zero_grad()
    loss_g = bce(D(G(z)), 1)
    loss_g.backward()
    opt_G.step()
    return loss_d.item(), loss_g.item()


def step_no_detach_but_zeroed(G, D, opt_G, opt_D, x_real, z):
    """No detach: D's backward reaches g, but g's gradients are zeroed before its own backward (also right)."""
    fake = G(z)
    loss_d = -(F.logsigmoid(D(x_real)).mean() + F.logsigmoid(-D(fake)).mean())
    opt_D.zero_grad()
    loss_d.backward(retain_graph=True)
    opt_D.step()
    loss_g = -F.logsigmoid(D(fake)).mean()
    opt_G.zero_grad(set_to_none=False)
    loss_g.backward()
    opt_G.step()
    return torch.stack([loss_d.detach(), loss_g.detach()])


def step_manual_sgd(G, D, opt_G, opt_D, x_real, z):
    """Through the optimisers' own step, with torch.autograd.grad instead of backward."""
    fake = G(z).detach()
    loss_d = F.softplus(-D(x_real)).mean() + F.softplus(D(fake)).mean()
    grads = torch.autograd.grad(loss_d, list(D.parameters()))
    for p, gr in zip(D.parameters(), grads, strict=True):
        p.grad = gr
    opt_D.step()
    loss_g = F.softplus(-D(G(z))).mean()
    grads = torch.autograd.grad(loss_g, list(G.parameters()))
    for p, gr in zip(G.parameters(), grads, strict=True):
        p.grad = gr
    opt_G.step()
    return [float(loss_d.detach()), float(loss_g.detach())]


@pytest.mark.parametrize("fn", [step_bce, step_no_detach_but_zeroed, step_manual_sgd])
def test_3_6_passes(fn):
    assert_passes("3.6", fn)


def test_3_6_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.6", step_no_detach_but_zeroed, n=30)


def step_with(*, detach=True, zero_g=True, zero_d=True, stale=False, g_loss=None, swap=False, d_again=False, order="dg",
              ret=None):
    """A GAN step with one realistic bug, written as a student would."""
    g_loss = g_loss or (lambda s: -F.logsigmoid(s).mean())

    def fn(G, D, opt_G, opt_D, x_real, z):
        fake = G(z)
        scores = D(fake)

        def d_step():
            real_s, fake_s = D(x_real), D(fake.detach() if detach else fake)
            loss = bce(fake_s, 1) + bce(real_s, 0) if swap else bce(real_s, 1) + bce(fake_s, 0)
            if zero_d:
                opt_D.zero_grad()
            loss.backward(retain_graph=True)
            opt_D.step()
            return loss

        def g_step():
            loss = g_loss(scores if stale else D(fake))
            if zero_g:
                opt_G.zero_grad()
            loss.backward(retain_graph=True)
            opt_G.step()
            if d_again:
                opt_D.step()
            return loss

        if order == "dg":
            loss_d, loss_g = d_step(), g_step()
        else:
            loss_g, loss_d = g_step(), d_step()
        return ret(loss_d, loss_g) if ret else (loss_d.item(), loss_g.item())

    return fn


@pytest.mark.parametrize("fn, hint", [
    (step_with(detach=False, zero_g=False), "g also moved along the gradient of D's loss"),
    (step_with(zero_g=False), "call opt_G.zero_grad() before g's backward pass"),
    (step_with(zero_d=False), "call opt_D.zero_grad() before D's backward pass"),
    (step_with(stale=True), "'modified by an inplace operation'"),
    (step_with(order="gd"), "BEFORE D's update"),
    (step_with(g_loss=lambda s: F.logsigmoid(-s).mean()), "saturating loss"),
    (step_with(g_loss=lambda s: F.logsigmoid(s).mean()), "the wrong way"),
    (step_with(g_loss=lambda s: -F.logsigmoid(s).sum()), "do not sum"),
    (step_with(swap=True), "D's labels are swapped"),
    (step_with(d_again=True), "D moved again during g's step"),
    (step_with(ret=lambda ld, lg: ld.item()), "return the pair (loss_d, loss_g)"),
    (step_with(ret=lambda ld, lg: (lg.item(), ld.item())), "the returned loss_d"),
    (lambda G, D, opt_G, opt_D, x, z: (0.0, 0.0), "D did not move"),
])
def test_3_6_fails(fn, hint):
    assert_fails("3.6", fn, hint)


def test_3_6_a_step_through_a_graph_freed_by_ds_backward_is_told_to_detach():
    def fn(G, D, opt_G, opt_D, x_real, z):
        fake = G(z)
        loss_d = bce(D(x_real), 1) + bce(D(fake), 0)
        opt_D.zero_grad()
        loss_d.backward()
        opt_D.step()
        loss_g = bce(D(fake), 1)
        opt_G.zero_grad()
        loss_g.backward()
        opt_G.step()
        return loss_d.item(), loss_g.item()

    assert_fails("3.6", fn, "use the detached fakes")


def test_3_6_the_check_sees_what_must_not_move():
    """The reference's D step leaves g where it was; its g step leaves D where the D step put it."""
    import copy

    from course_utils.s03_gans import gan_training
    from course_utils.s03_gans.checks import _LR_D, _LR_G, _gan_case

    G, D, x, z = _gan_case(36)
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=_LR_G), torch.optim.SGD(D.parameters(), lr=_LR_D)
    gan_training.gan_step(G, D, opt_g, opt_d, x, z)
    # an independent oracle: D's update from D's loss alone at the initial weights, g's from the updated D
    d_params = list(D0.parameters())
    loss_d = F.softplus(-D0(x)).mean() + F.softplus(D0(G0(z).detach())).mean()
    d_new = [p - _LR_D * gr for p, gr in zip(d_params, torch.autograd.grad(loss_d, d_params), strict=True)]
    for p, q in zip(D.parameters(), d_new, strict=True):
        torch.testing.assert_close(p.detach(), q.detach())
    D1 = copy.deepcopy(D)
    g_params = list(G0.parameters())
    loss_g = F.softplus(-D1(G0(z))).mean()
    g_new = [p - _LR_G * gr for p, gr in zip(g_params, torch.autograd.grad(loss_g, g_params), strict=True)]
    for p, q in zip(G.parameters(), g_new, strict=True):
        torch.testing.assert_close(p.detach(), q.detach())

# --- 3.7 LSGAN --------------------------------------------------------------------------------

def ls_mse(dr, df, a, b, c):
    return (F.mse_loss(dr, torch.full_like(dr, b)) + F.mse_loss(df, torch.full_like(df, a)),
            F.mse_loss(df, torch.full_like(df, c)))


@pytest.mark.parametrize("fn", [
    ls_mse,
    lambda dr, df, a, b, c: [((dr - b) ** 2).mean() + ((df - a) ** 2).mean(), ((df - c) ** 2).mean()],
])
def test_3_7_passes(fn):
    assert_passes("3.7", fn)


@pytest.mark.parametrize("fn, hint", [
    (lambda dr, df, a, b, c: ls_mse(dr, df, b, a, c), "swapped"),
    (lambda dr, df, a, b, c: ((dr - b).abs().mean() + (df - a).abs().mean(), ((df - c) ** 2).mean()), "square"),
    (lambda dr, df, a, b, c: (ls_mse(dr, df, a, b, c)[0], ((df - a) ** 2).mean()), "target is c"),
    (lambda dr, df, a, b, c: (ls_mse(dr, df, a, b, c)[0] / 2, ls_mse(dr, df, a, b, c)[1] / 2), "no factor 1/2"),
    (lambda dr, df, a, b, c: ls_mse(dr, df, a, b, c)[0], "return a pair"),
    (lambda dr, df, a, b, c: (ls_mse(dr, df.detach(), a, b, c)[0], ls_mse(dr, df, a, b, c)[1]),
     "no gradient reaches D's scores"),
    (lambda dr, df, a, b, c: tuple(loss.item() for loss in ls_mse(dr, df, a, b, c)), "no gradient reaches"),
])
def test_3_7_fails(fn, hint):
    assert_fails("3.7", fn, hint)


def test_3_7_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.7", ls_mse, n=50)


# --- 3.8 Pix2Pix generator objective -----------------------------------------------------------

def p2p_bce(logits, fake, target, lam):
    adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    return adv + lam * F.l1_loss(fake, target, reduction="sum") / len(fake)


def p2p_norm(logits, fake, target, lam):
    l1 = torch.linalg.vector_norm((fake - target).reshape(len(fake), -1), ord=1, dim=1).mean()
    return -torch.log(torch.sigmoid(logits)).mean() + lam * l1


@pytest.mark.parametrize("fn", [p2p_bce, p2p_norm])
def test_3_8_passes(fn):
    assert_passes("3.8", fn)


def test_3_8_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.8", p2p_bce, n=50)


def _adv(lg):
    return -F.logsigmoid(lg).mean()


@pytest.mark.parametrize("fn, hint", [
    (lambda lg, f, t, lam: _adv(lg), "add the L1 term"),
    (lambda lg, f, t, lam: _adv(lg) + lam * F.l1_loss(f, t), "only the expectation is a batch mean"),
    (lambda lg, f, t, lam: _adv(lg) + lam * F.mse_loss(f, t, reduction="sum") / len(f), "not the squared error"),
    (lambda lg, f, t, lam: F.logsigmoid(-lg).mean() + lam * F.l1_loss(f, t, reduction="sum") / len(f), "saturating"),
    (lambda lg, f, t, lam: lam * _adv(lg) + F.l1_loss(f, t, reduction="sum") / len(f), "not the adversarial one"),
    (lambda lg, f, t, lam: -F.logsigmoid(-lg).mean() + lam * F.l1_loss(f, t, reduction="sum") / len(f),
     "that is D's side"),
    (lambda lg, f, t, lam: p2p_bce(lg.detach(), f.detach(), t, lam), "no gradient reaches"),
    (lambda lg, f, t, lam: p2p_bce(lg, f.detach(), t, lam), "G cannot train"),
])
def test_3_8_fails(fn, hint):
    assert_fails("3.8", fn, hint)

# --- 3.9 CycleGAN -------------------------------------------------------------------------------

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


def cyc_with_own_lsgan(x, y, g, f, d_x, d_y):
    """The adversarial terms through 3.6's losses (a = 0, b = 1); the cycle with torch.linalg."""
    from course_utils.s03_gans.gan import lsgan_losses

    adv_g = lsgan_losses(d_y(y), d_y(g(x)), 0.0, 1.0, 1.0)[0]
    adv_f = lsgan_losses(d_x(x), d_x(f(y)), 0.0, 1.0, 1.0)[0]
    cycle = sum(torch.linalg.vector_norm(back - start, ord=1, dim=-1).mean()
                for back, start in ((f(g(x)), x), (g(f(y)), y)))
    return adv_g, adv_f, cycle


@pytest.mark.parametrize("fn", [cyc_ok, cyc_with_own_lsgan])
def test_3_9_passes(fn):
    assert_passes("3.9", fn)


def test_3_9_rewrite_passes_for_many_secrets_and_leaves_torchs_global_random_state_alone():
    state = torch.random.get_rng_state()
    assert_passes_for_secrets("3.9", cyc_with_own_lsgan, n=50)
    assert torch.equal(torch.random.get_rng_state(), state)


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
    (lambda *args: tuple(t.item() for t in cyc_ok(*args)), "no gradient reaches the weights of D_Y"),
    (cyc_with(cycle=lambda x, y, g, f, dx, dy: cyc_ok(x, y, g, f, dx, dy)[2].detach()),
     "no gradient reaches the weights of g and f"),
    (cyc_with(cycle=lambda x, y, g, f, dx, dy: (f(g(x).detach()) - x).abs().sum(1).mean()
              + (g(f(y).detach()) - y).abs().sum(1).mean()), "is part of it detached?"),
    (cyc_with(adv_g=lambda x, y, g, f, dx, dy: ((dy(y).detach() - 1) ** 2).mean() + (dy(g(x)) ** 2).mean()),
     "is part of it detached?"),
])
def test_3_9_fails(fn, hint):
    assert_fails("3.9", fn, hint)


def test_3_9_discriminator_terms_may_detach_the_generators_output():
    """L(g, D_Y) trains D_Y: a student who stops its gradient at g(x), as D's update does, is right."""
    assert_passes("3.9", cyc_with(adv_g=lambda x, y, g, f, dx, dy: ((dy(y) - 1) ** 2).mean()
                                  + (dy(g(x).detach()) ** 2).mean()))


# --- 3.10 AdaIN -----------------------------------------------------------------------------------

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
def test_3_10_passes(fn):
    assert_passes("3.10", fn)


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
def test_3_10_fails(fn, hint):
    assert_fails("3.10", fn, hint)


def test_3_10_rewrite_passes_for_many_secrets():
    assert_passes_for_secrets("3.10", adain_instance_norm, n=50)
