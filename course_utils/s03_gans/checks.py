"""Checks for notebook 03: GANs, the minimax game, its equilibrium, and the GAN family.

Each check calls the student's function on inputs drawn from a fixed-seed generator,
compares with the reference in :mod:`~.gan`, :mod:`~.cyclegan`
and :mod:`~.adain`, and names the likely mistake when it can.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..data.mixtures import GaussianMixture
from ..grading.compare import (
    Mistake,
    call_with_grad,
    call_with_state,
    clone_args,
    copy_with_grads,
    expect_close,
    flat_state,
    generator,
    seeded_module,
    to_plain_tensor,
    with_leftover_grads,
)
from ..grading.core import CheckFailed, register
from ..s01_kl_elbo import divergences
from . import adain, cyclegan, gan, gan_training

SECTION = "03"
LOG4 = math.log(4.0)


def _grid_densities(seed: int):
    """A 1-D data mixture and a generator Gaussian on a grid: (p_x, p_theta, dx), float64.

    The generator is wider than either data component (variance 1 to 1.6, mean in [-1, 1]), so on
    the grid p_theta / p_X stays above e^-14 for every seed: D* never rounds to 1 here, and a correct
    answer in any form passes. The tails where it does round are one fixed, announced case of 3.2
    (:func:`_hostile_tails`), not an accident of the hidden seed.
    """
    g = generator(seed)
    grid = torch.linspace(-8.0, 8.0, 801, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    shift = float(torch.rand((), generator=g, dtype=torch.float64))
    p_x = GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-2.0 + shift], [1.5]]),
                          torch.tensor([0.5, 0.8])).log_prob(grid).exp()
    mean = 2 * float(torch.rand((), generator=g, dtype=torch.float64)) - 1
    var = 1.0 + 0.6 * float(torch.rand((), generator=g, dtype=torch.float64))
    p_theta = torch.exp(-0.5 * (grid - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)
    return p_x, p_theta, dx


def _hostile_tails():
    """The notebook's example N(-3, 0.36) against its data mixture on [-7, 7]: (p_x, p_theta, dx).

    Where the narrow generator's density is below 1e-16 of the data's (475 of the 1401 points),
    D* = p_X / (p_X + p_theta) rounds to 1, so log(1 - D*) is -inf and p_theta log(1 - D*) too,
    although the integrand's true value there is about 0. C(g) = -0.2671.
    """
    grid = torch.linspace(-7.0, 7.0, 1401, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    p_x = GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-1.5], [1.5]]),
                          torch.tensor([0.25, 0.49])).log_prob(grid).exp()
    p_theta = torch.exp(-0.5 * (grid + 3.0) ** 2 / 0.36) / math.sqrt(2 * math.pi * 0.36)
    return p_x, p_theta, dx


@register(
    "3.1", SECTION, "The density-ratio view: data expectations from generator samples", 2, "reweighted_mean",
    "a discriminator tells how much likelier x is under the data than under the generator: use that to reweight "
    "the generator's samples",
    reference=gan.reweighted_mean, kind="build",
    hints=(
        "the odds D / (1 - D) of the optimal discriminator are the density ratio p_X / p_theta; with D = sigmoid(l), "
        "write the odds in terms of the logit l",
        "E_pX[f] = E_ptheta[(p_X / p_theta) f]: weight each f(x_j) by its odds, then divide by the sum of the "
        "weights so that they sum to 1 (self-normalised importance sampling; the odds are only right up to a "
        "constant). exp overflows in float32 once l > 88: normalise without forming exp(l) alone",
        "w = torch.softmax(fake_logits, 0), which is exp(l_j) / sum_k exp(l_k) without overflow; return w @ values "
        "(the same as (w[:, None] * values).sum(0) for values of shape (n, k))",
    ),
)
def check_reweighted_mean(fn) -> None:
    """Exercise 3.1: compares with :func:`~course_utils.s03_gans.gan.reweighted_mean`."""
    g = generator(31)
    n = 200
    logits = 1.5 * torch.randn(n, generator=g, dtype=torch.float64)
    # features that depend on the logit, so that reweighting changes the answer
    values = torch.randn(n, 3, generator=g, dtype=torch.float64) + logits[:, None] * torch.tensor(
        [1.0, -0.5, 0.25], dtype=torch.float64)
    ref = gan.reweighted_mean(logits, values)
    d = torch.sigmoid(logits)

    def normalised(w):
        return (w / w.sum()) @ values

    mistakes = [
        Mistake(values.mean(0), "that is the plain mean under p_theta: weight each sample by how much likelier it is "
                                "under the data than under the generator"),
        Mistake(normalised(d), "those weights are D, a probability: the density ratio p_X / p_theta is D's odds, "
                               "D / (1 - D)"),
        Mistake(normalised(torch.exp(-logits)), "those weights are p_theta / p_X, the inverse ratio: D is the "
                                                "probability that x is REAL, so its odds are p_X / p_theta"),
        Mistake(normalised(1 - d), "those weights are 1 - D: the density ratio p_X / p_theta is D's odds"),
        Mistake((torch.exp(logits)[:, None] * values).mean(0),
                "normalise the weights: divide by their sum, not by n (D's odds give p_X / p_theta only up to a "
                "constant, and self-normalised weights sum to 1)"),
        Mistake((torch.exp(logits)[:, None] * values).sum(0), "normalise the weights so that they sum to 1"),
        Mistake(normalised(d / (1 - d)).sum(), "return one estimate per feature, shape (k,)"),
    ]
    what = "200 generator samples with 3 features"
    expect_close(fn(*clone_args(logits, values)), ref, what=what, mistakes=mistakes)
    one = values[:, 1].contiguous()
    expect_close(fn(*clone_args(logits, one)), gan.reweighted_mean(logits, one), what="values of shape (200,)",
                 mistakes=[Mistake(values.mean(0)[1], "weight each sample by the density ratio")])
    expect_close(fn(*clone_args(torch.zeros(n, dtype=torch.float64), values)), values.mean(0),
                 what="D = 1/2 on every sample (p_theta = p_X: the weights are equal)")
    confident = (logits + 95.0).float()
    what = "a confident discriminator: float32 logits between about 90 and 100 (exp overflows past 88)"
    got = to_plain_tensor(fn(confident, values.float()))
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed(f"on {what}: you returned {got.flatten()[0].item():g}: exp(l) is inf in float32 beyond "
                          "l = 88, and inf / inf is nan. The weights only need the logits up to a common shift: "
                          "subtract max(l) before exp, or use torch.softmax")
    expect_close(got, gan.reweighted_mean(confident.double(), values.float().double()), what=what,
                 rtol=1e-4, atol=1e-4)


@register(
    "3.2", SECTION, "C(g), the value at the optimal discriminator", 2, "optimal_value",
    "the generator faces the best discriminator: find D* for these two densities and put it into the game's value",
    reference=gan.optimal_value_on_grid,
    hints=(
        "L(D, g) = int p_X log D + p_theta log(1 - D) dx is maximised pointwise: a log y + b log(1 - y) peaks at "
        "y = a / (a + b); an integral on an evenly spaced grid is a sum times dx; natural logs",
        "write 1 - D* as p_theta / (p_X + p_theta), not as a subtraction (it rounds to 0 in the tails), and use "
        "torch.xlogy(a, b) = a log b, which is 0 where a = 0",
        "D* = p_x / (p_x + p_theta); return (torch.xlogy(p_x, D*) + torch.xlogy(p_theta, p_theta / (p_x + p_theta)))"
        ".sum() * dx",
    ),
)
def check_optimal_value(fn) -> None:
    """Exercise 3.2: compares with :func:`~course_utils.s03_gans.gan.optimal_value_on_grid`."""
    p_x, p_theta, dx = _grid_densities(32)
    ref = gan.optimal_value_on_grid(p_x, p_theta, dx)
    d = p_x / (p_x + p_theta)
    jsd = gan.jsd_on_grid(p_x, p_theta, dx)
    mistakes = [
        Mistake(ref / dx, "multiply the sum by dx: an expectation under a density is an integral"),
        Mistake(-ref, "sign slip: C(g) = E_pX[log D*] + E_ptheta[log(1 - D*)] is <= 0 (at least -log 4)"),
        Mistake(ref / math.log(2), "use natural logs (nats), not log base 2"),
        Mistake((p_x * torch.log(d) + p_theta * torch.log(d)).sum() * dx,
                "the fake term is E_ptheta[log(1 - D*)], not log D*"),
        Mistake((p_x * d + p_theta * (1 - d)).sum() * dx, "you forgot the logs: E[log D*], not E[D*]"),
        Mistake(-LOG4 + jsd, "the identity is C(g) = -log 4 + 2 JSD: twice the JSD"),
        Mistake(2 * jsd, "you dropped the constant: C(g) = -log 4 + 2 JSD, and C = -log 4 at equilibrium"),
        Mistake((p_x * torch.log(d)).sum() * dx, "add the second expectation, E_ptheta[log(1 - D*)]"),
        Mistake(ref / (dx * len(p_x)), "an integral is a sum times dx, not a mean over the grid points"),
    ]
    expect_close(fn(*clone_args(p_x, p_theta), dx), ref, what="a data mixture and a generator Gaussian",
                 mistakes=mistakes, rtol=1e-4, atol=1e-5)
    expect_close(fn(*clone_args(p_x, p_x), dx), torch.tensor(-LOG4, dtype=torch.float64),
                 what="p_theta = p_X (C must be -log 4)", rtol=1e-4, atol=1e-4)
    p_x, p_theta, dx = _hostile_tails()
    what = "the tails of N(-3, 0.36) against the data (the notebook's example, where D* rounds to 1)"
    got = to_plain_tensor(fn(*clone_args(p_x, p_theta), dx))
    if got.numel() == 1 and not bool(torch.isfinite(got).all()):
        raise CheckFailed(f"on {what}: you returned {got.item():g}. Where p_theta is below 1e-16 of p_X, "
                          "D* = p_X / (p_X + p_theta) rounds to 1 in floating point, so log(1 - D*) = log 0 = -inf "
                          "although p_theta log(1 - D*) is about 0 there: compute 1 - D* as p_theta / (p_X + p_theta) "
                          "(no subtraction) and use torch.xlogy(a, b) = a log b, which also makes 0 * log 0 = 0")
    expect_close(got, gan.optimal_value_on_grid(p_x, p_theta, dx), what=what, rtol=1e-4, atol=1e-5)


def _dirichlet(shape, g) -> torch.Tensor:
    x = -torch.log(torch.rand(*shape, generator=g, dtype=torch.float64))
    return x / x.sum(-1, keepdim=True)


@register(
    "3.3", SECTION, "JSD between two discrete distributions", 1, "jsd_discrete",
    "the JSD compares each distribution with their mixture, not with each other",
    reference=gan.jsd_discrete,
    hints=(
        "the mixture is m = (p + q) / 2; the JSD averages two KL divergences, each to m; sum over the last axis",
        "a term with p_i = 0 must count as 0 (0 log 0 = 0): torch.xlogy(p, p) - torch.xlogy(p, m) does that",
        "JSD = 1/2 sum_i p_i log(p_i / m_i) + 1/2 sum_i q_i log(q_i / m_i), with m = (p + q) / 2",
    ),
)
def check_jsd_discrete(fn) -> None:
    """Exercise 3.3: compares with :func:`~course_utils.s03_gans.gan.jsd_discrete`."""
    g = generator(33)
    p, q = _dirichlet((12, 6), g), _dirichlet((12, 6), g)
    ref = gan.jsd_discrete(p, q)
    m = 0.5 * (p + q)
    kl_pm, kl_qm = divergences.kl_discrete(p, m), divergences.kl_discrete(q, m)
    mistakes = [
        Mistake(kl_pm + kl_qm, "you are missing the 1/2: the JSD averages the two KLs"),
        Mistake(divergences.kl_discrete(p, q), "that is D_KL(p || q): compare each one with the mixture m"),
        Mistake(0.5 * (divergences.kl_discrete(p, q) + divergences.kl_discrete(q, p)),
                "that is the symmetrised KL: compare each distribution with the mixture m = (p + q) / 2"),
        Mistake(ref.sqrt(), "that is the Jensen-Shannon distance (scipy's jensenshannon): the divergence is "
                "its square"),
        Mistake(ref / math.log(2), "use natural logs (nats), not log base 2"),
        Mistake(0.5 * (p * torch.log(p / (p + q)) + q * torch.log(q / (p + q))).sum(-1),
                "the mixture is m = (p + q) / 2: you left out the 1/2 inside the log"),
        Mistake(ref.sum(), "return one divergence per row, shape (12,), not the sum over the batch"),
    ]
    expect_close(fn(*clone_args(p, q)), ref, what="a batch of 12 pairs of distributions over 6 outcomes",
                 mistakes=mistakes)
    expect_close(fn(*clone_args(p, p)), torch.zeros(12, dtype=torch.float64), what="p = q (the JSD is 0)")
    disjoint_p = torch.tensor([[0.5, 0.5, 0.0, 0.0]], dtype=torch.float64)
    disjoint_q = torch.tensor([[0.0, 0.0, 0.25, 0.75]], dtype=torch.float64)
    got = to_plain_tensor(fn(*clone_args(disjoint_p, disjoint_q)))
    if bool(torch.isnan(got).any()):
        raise CheckFailed("with zeros in p or q you returned nan: 0 * log 0 must count as 0 "
                          "(use torch.where or torch.xlogy)")
    expect_close(got, torch.full((1,), math.log(2), dtype=torch.float64),
                 what="distributions with disjoint supports (the JSD is log 2, its largest value)")


@register(
    "3.4", SECTION, "Predict C(g) for two shifted uniforms", 2, "predict_value_shifted",
    "draw the two densities and mark where each one is alone and where they overlap: what is D* in each region?",
    reference=gan.shifted_uniforms_value, kind="predict",
    hints=(
        "where only p_X is positive, D* = 1 and log D* = 0; where only p_theta is, 1 - D* = 1: those regions add "
        "nothing. Only the overlap, of length 1 - s while s < 1, contributes",
        "on the overlap both densities are 1 and D* = 1/2: each of the two expectations gets (1 - s) log(1/2); "
        "and once s >= 1 the supports are disjoint",
        "C = -log 4 * max(0, 1 - s), i.e. -log 4 + 2 JSD with JSD = log 2 * min(1, s)",
    ),
)
def check_predict_value_shifted(fn) -> None:
    """Exercise 3.4: compares with :func:`~course_utils.s03_gans.gan.shifted_uniforms_value`."""
    g = generator(34)
    u = torch.rand(3, generator=g, dtype=torch.float64).tolist()
    shifts = [0.0, 0.1 + 0.35 * u[0], 0.5 + 0.4 * u[1], 1.2 + 1.5 * u[2]]
    for s in shifts:
        ref = gan.shifted_uniforms_value(s)
        jsd = math.log(2) * min(1.0, s)
        mistakes = [
            Mistake(torch.tensor(-(1 - s) * math.log(4)),
                    "past s = 1 nothing overlaps: D* is 1 on p_X's support and 0 on p_theta's, both logs are 0, "
                    "and C = 0 (it never exceeds 0)"),
            Mistake(torch.tensor(-LOG4), "C = -log 4 only where the supports coincide: the parts where one density is "
                                         "alone contribute log 1 = 0"),
            Mistake(torch.tensor(-math.log(2) * max(0.0, 1 - s)), "on the overlap D* = 1/2 in BOTH expectations: "
                                                                   "each contributes (1 - s) log(1/2)"),
            Mistake(torch.tensor(jsd), "that is the JSD: C(g) = -log 4 + 2 JSD"),
            Mistake(torch.tensor(2 * jsd), "that is 2 JSD: C(g) = -log 4 + 2 JSD"),
            Mistake(torch.tensor(-LOG4 + jsd), "C(g) = -log 4 + 2 JSD: twice the JSD"),
            Mistake(torch.tensor(-LOG4 * s), "the overlap has length 1 - s, not s: at s = 0 the densities coincide "
                                             "and C = -log 4"),
        ]
        got = fn(s)
        expect_close(got, torch.tensor(ref, dtype=torch.float64), what=f"shift s = {s:.3f}", mistakes=mistakes,
                     rtol=1e-4, atol=1e-4)


def _logits(seed: int, m: int, k: int):
    g = generator(seed)
    return 2.5 * torch.randn(m, generator=g, dtype=torch.float64), 2.5 * torch.randn(k, generator=g,
                                                                                     dtype=torch.float64)


def _check_gradient(fn, args, wrt, what):
    """The loss must carry gradients to its inputs (no .item(), no detach)."""
    value, grads = call_with_grad(fn, *args, wrt=wrt)
    if grads is None or any(gr is None for gr in grads):
        raise CheckFailed(f"on {what}: no gradient reaches the logits: compute the loss with torch operations "
                          "on the arguments (no .item(), .detach() or numpy), or the networks cannot train")
    return value, grads


@register(
    "3.5", SECTION, "The discriminator loss (binary cross-entropy)", 1, "discriminator_loss",
    "D maximises L(D, g): return what it minimises, estimating each expectation on its own batch",
    reference=gan.discriminator_loss,
    hints=(
        "D = sigmoid(logit). Real data carries the label 1 and fakes the label 0: the loss is a binary "
        "cross-entropy, one batch mean per expectation, added",
        "log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l) stay finite for any logit "
        "(F.logsigmoid, F.softplus, F.binary_cross_entropy_with_logits)",
        "return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()",
    ),
)
def check_discriminator_loss(fn) -> None:
    """Exercise 3.5: compares with :func:`~course_utils.s03_gans.gan.discriminator_loss`."""
    real, fake = _logits(33, 64, 48)
    ref = gan.discriminator_loss(real, fake)
    dr, df = torch.sigmoid(real), torch.sigmoid(fake)
    mistakes = [
        Mistake(-ref, "sign slip: return the loss to MINIMISE, -L(D, g) (a cross-entropy is >= 0)"),
        Mistake(gan.discriminator_loss(fake, real), "real and fake are swapped: D should say 1 on real data"),
        Mistake(-(torch.log(dr).mean() + torch.log(df).mean()),
                "on fakes the term is log(1 - D(g(z))): D must learn to say 0 there"),
        Mistake(-(dr.mean() + (1 - df).mean()), "you forgot the logs: a cross-entropy averages -log D"),
        Mistake(F.softplus(-real).sum() + F.softplus(fake).sum(), "average over each batch, do not sum"),
        Mistake(torch.cat([F.softplus(-real), F.softplus(fake)]).mean(),
                "average each expectation over its own batch, then add the two: L(D, g) has two expectations"),
        Mistake(F.softplus(-real).mean() - F.softplus(fake).mean(),
                "the fake term is -log(1 - D): with D = sigmoid(l), that is +softplus(l)"),
        Mistake(0.5 * ref, "no factor 1/2: -L(D, g) adds the two expectations (some code halves D's loss, "
                           "the slide's objective does not)"),
    ]
    value, _ = _check_gradient(fn, clone_args(real, fake), (0, 1), "64 real and 48 fake logits")
    expect_close(value, ref, what="64 real and 48 fake logits", mistakes=mistakes)
    zero = torch.zeros(5, dtype=torch.float64)
    expect_close(fn(zero, zero.clone()), torch.tensor(2 * math.log(2.0), dtype=torch.float64),
                 what="all logits 0 (D = 1/2 everywhere: the loss is 2 log 2 = log 4)")


#: The check's plain SGD learning rates (no momentum: a parameter's change is exactly -lr * its gradient).
_LR_G, _LR_D = 0.2, 0.3


def _gan_case(seed: int):
    """Tiny float64 networks whose weights follow the hidden seed, a real batch (16, 2) and noise (12, 2)."""
    g = generator(seed)
    gen = seeded_module(lambda: nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double(), g)
    disc = seeded_module(lambda: nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double(), g)
    x_real = 1.0 + 0.5 * torch.randn(16, 2, generator=g, dtype=torch.float64)
    z = torch.randn(12, 2, generator=g, dtype=torch.float64)
    for net in (gen, disc):  # gradients left over from an earlier step: a step must zero them first
        with_leftover_grads(net, g)
    return gen, disc, x_real, z


def _fresh(gen, disc):
    """Copies of the two networks, their leftover gradients in place, and a plain SGD optimiser over each."""
    gen, disc = copy_with_grads(gen), copy_with_grads(disc)
    return gen, disc, torch.optim.SGD(gen.parameters(), lr=_LR_G), torch.optim.SGD(disc.parameters(), lr=_LR_D)


def _gan_variant(gen, disc, x_real, z, *, detach=True, zero_g=True, zero_d=True, stale=False,
                 g_loss="nonsaturating", swap=False, d_moves=False, half=False):
    """A GAN step with one realistic bug switched on; returns (flat g params, flat D params)."""
    gen, disc, opt_g, opt_d = _fresh(gen, disc)
    losses = {"nonsaturating": lambda s: F.softplus(-s).mean(), "minimax": lambda s: -F.softplus(s).mean(),
              "wrong_sign": lambda s: -F.softplus(-s).mean(), "sum": lambda s: F.softplus(-s).sum()}
    fake = gen(z)
    if stale:  # g's gradient from D's outputs before D's update
        stale_grads = torch.autograd.grad(losses[g_loss](disc(fake)), list(gen.parameters()), retain_graph=True)
    real_l, fake_l = disc(x_real), disc(fake.detach() if detach else fake)
    loss_d = gan.discriminator_loss(fake_l, real_l) if swap else gan.discriminator_loss(real_l, fake_l)
    if zero_d:
        opt_d.zero_grad()
    (0.5 * loss_d if half else loss_d).backward(retain_graph=not detach)
    opt_d.step()
    if zero_g:
        opt_g.zero_grad()
    if stale:
        for p, gr in zip(gen.parameters(), stale_grads, strict=True):
            p.grad = gr.clone()
    else:
        losses[g_loss](disc(fake)).backward()
    opt_g.step()
    if d_moves:
        opt_d.step()
    with torch.no_grad():
        return (torch.cat([p.flatten() for p in gen.state_dict().values()]),
                torch.cat([p.flatten() for p in disc.state_dict().values()]))


@register(
    "3.6", SECTION, "One alternating GAN step", 4, "gan_step",
    "first one step of D on its loss, then one step of g on the non-saturating loss: think about which network "
    "each backward pass reaches, and which D scores g's loss must see",
    reference=gan_training.gan_step, kind="training-step",
    hints=(
        "D's step: its loss (exercise 3.5) on D(x_real) and D(g(z)); a backward pass through D(g(z)) also reaches "
        "g's weights, so stop it there (fake.detach()) or zero g's gradients before g's own step. Zero each "
        "optimiser's gradients before its backward pass",
        "g's step comes after opt_D.step(): score the fakes with the UPDATED D (call D again; the logits computed "
        "before D's step are stale), use the non-saturating loss -log D(g(z)), and step only opt_G",
        "fake = G(z); loss_d = discriminator_loss(D(x_real), D(fake.detach())); opt_D.zero_grad(); "
        "loss_d.backward(); opt_D.step(); loss_g = -F.logsigmoid(D(fake)).mean(); opt_G.zero_grad(); "
        "loss_g.backward(); opt_G.step(); return loss_d.item(), loss_g.item()",
    ),
)
def check_gan_step(fn) -> None:
    """Exercise 3.6: compares with :func:`~course_utils.s03_gans.gan_training.gan_step`.

    Runs the student's step and the reference on identical copies of tiny seeded networks with plain
    SGD (lr 0.2 for g, 0.3 for D, no momentum), whose parameters hold gradients left over from an
    earlier step (the grader's sandbox receives them too), then compares every parameter of D, every parameter of
    g and the two returned losses; the buggy variants of :func:`_gan_variant` name the mistake.
    """
    gen, disc, x_real, z = _gan_case(36)
    g_ref, d_ref, opt_g, opt_d = _fresh(gen, disc)
    ref_losses = gan_training.gan_step(g_ref, d_ref, opt_g, opt_d, x_real.clone(), z.clone())
    ref_g, ref_d = flat_state(g_ref.state_dict()), flat_state(d_ref.state_dict())
    g_mine, d_mine, opt_g, opt_d = _fresh(gen, disc)
    try:
        value, after = call_with_state(fn, g_mine, d_mine, opt_g, opt_d, *clone_args(x_real, z))
    except Exception as err:
        _explain_autograd_error(err)
        raise
    if not isinstance(after[0], dict) or not isinstance(after[1], dict):
        raise CheckFailed("the networks could not be read back after your step")
    got_g, got_d = flat_state(after[0]), flat_state(after[1])
    what = "tiny seeded networks with plain SGD (lr_G = 0.2, lr_D = 0.3)"
    start_g, start_d = flat_state(gen.state_dict()), flat_state(disc.state_dict())

    def variant(**bug):
        return _gan_variant(gen, disc, x_real, z, **bug)

    d_mistakes = [
        Mistake(start_d, "D did not move: take one optimiser step on D's loss first (opt_D.step())"),
        Mistake(variant(zero_d=False)[1], "D's step also applied gradients left over from before: call "
                                          "opt_D.zero_grad() before D's backward pass"),
        Mistake(variant(swap=True)[1], "D's labels are swapped: D's loss gives real data the label 1 and fakes 0"),
        Mistake(variant(d_moves=True)[1], "D moved again during g's step: only opt_G.step() belongs there "
                                          "(g's loss also leaves gradients in D, which must not move D)"),
        Mistake(variant(half=True)[1], "D's step is half the reference's: D's loss adds the two expectations, "
                                       "no factor 1/2"),
    ]
    expect_close(got_d, ref_d, what=f"{what}: D's parameters after the step", mistakes=d_mistakes)
    g_mistakes = [
        Mistake(start_g, "g did not move: after D's step, take one optimiser step on g's loss (opt_G.step())"),
        Mistake(variant(detach=False, zero_g=False)[0],
                "g also moved along the gradient of D's loss: the D step's backward pass reached g through the "
                "fakes. Detach the fakes in D's step, or zero g's gradients before g's backward pass"),
        Mistake(variant(zero_g=False)[0],
                "g's step also applied gradients left over from before (and those D's steps left in g): call "
                "opt_G.zero_grad() before g's backward pass"),
        Mistake(variant(stale=True)[0],
                "g's step used D's scores from BEFORE D's update (stale outputs, or g stepped first): after "
                "opt_D.step(), score the fakes with D again"),
        Mistake(variant(g_loss="minimax")[0], "that is the saturating loss log(1 - D(g(z))): use the non-saturating "
                                               "loss -log D(g(z))"),
        Mistake(variant(g_loss="wrong_sign")[0], "g moved the wrong way: g MINIMISES -log D(g(z))"),
        Mistake(variant(g_loss="sum")[0], "g's loss averages over the batch, do not sum"),
    ]
    expect_close(got_g, ref_g, what=f"{what}: g's parameters after the step", mistakes=g_mistakes)
    if isinstance(value, torch.Tensor) and to_plain_tensor(value).numel() == 2:
        value = tuple(to_plain_tensor(value).flatten())
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise CheckFailed("the networks are right: now return the pair (loss_d, loss_g)")
    expect_close(value[0], ref_losses[0], what=f"{what}: the returned loss_d (D's loss before its step)")
    expect_close(value[1], ref_losses[1], what=f"{what}: the returned loss_g (g's loss, scored by the updated D)",
                 mistakes=[Mistake(torch.tensor(variant_loss_g_stale(gen, disc, z)),
                                   "return g's loss as scored by the UPDATED D (the one g's step used)")])


def _explain_autograd_error(err: Exception) -> None:
    """Turn the two autograd errors a GAN step typically raises into what they mean here."""
    if isinstance(err, NotImplementedError):
        return
    text = str(err)
    if "modified by an inplace operation" in text:
        raise CheckFailed("your step raised autograd's 'modified by an inplace operation' error: g's loss went back "
                          "through D's outputs computed BEFORE opt_D.step() changed D's weights in place (stale "
                          "outputs). Score the fakes with D again after D's step") from None
    if "backward through the graph a second time" in text:
        raise CheckFailed("your step raised autograd's 'backward through the graph a second time' error: D's "
                          "backward pass went through g(z) and freed that part of the graph. In D's step use the "
                          "detached fakes (fake.detach()): D's loss must not reach g anyway") from None


def variant_loss_g_stale(gen, disc, z) -> float:
    """g's non-saturating loss scored by D before its update (the value a stale step returns)."""
    with torch.no_grad():
        return float(F.softplus(-disc(gen(z))).mean())


@register(
    "3.7", SECTION, "Least-squares GAN losses", 1, "lsgan_losses",
    "each network pulls D's scores towards its own target value: a squared gap to that target, batch-averaged",
    reference=gan.lsgan_losses,
    hints=(
        "D wants its scores on real data near b and on generated data near a; g wants D's scores on its samples "
        "near c. D's loss has two expectations, g's one",
        "each expectation is a batch mean of a squared gap; no sigmoid, no log, no factor 1/2 (the slide's form); "
        "keep torch operations so that gradients reach d_real and d_fake",
        "loss_D = ((d_real - b) ** 2).mean() + ((d_fake - a) ** 2).mean(); loss_g = ((d_fake - c) ** 2).mean()",
    ),
)
def check_lsgan_losses(fn) -> None:
    """Exercise 3.7: compares with :func:`~course_utils.s03_gans.gan.lsgan_losses`."""
    g = generator(35)
    d_real = torch.randn(50, generator=g, dtype=torch.float64)
    d_fake = torch.randn(30, generator=g, dtype=torch.float64)
    for a, b, c in ((-1.0, 1.0, 0.0), (0.0, 1.0, 1.0)):
        ref = gan.lsgan_losses(d_real, d_fake, a, b, c)
        got = fn(*clone_args(d_real, d_fake), a, b, c)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed("return a pair (loss_D, loss_g)")
        what = f"a = {a:g}, b = {b:g}, c = {c:g}"
        d_mistakes = [
            Mistake(((d_real - a) ** 2).mean() + ((d_fake - b) ** 2).mean(),
                    "a and b are swapped: b is the target for real data, a for generated data"),
            Mistake((d_real - b).abs().mean() + (d_fake - a).abs().mean(), "square the gaps, not their absolute value"),
            Mistake(((d_real - b) ** 2).sum() + ((d_fake - a) ** 2).sum(), "average over each batch, do not sum"),
            Mistake(((d_real - b) ** 2).mean() + (d_fake - a).mean(),
                    "square the fake term too: E[(D(g(z)) - a)^2]"),
            Mistake(0.5 * ref.discriminator, "the slide's L(D) has no factor 1/2"),
        ]
        g_mistakes = [
            Mistake(((d_fake - a) ** 2).mean(), "g's target is c (what g wants D to believe), not a"),
            Mistake(((d_fake - b) ** 2).mean(), "g's target is c, not b"),
            Mistake(-((d_fake - a) ** 2).mean(), "L(g) = E[(D(g(z)) - c)^2] is minimised: no minus sign"),
            Mistake(((d_fake - c) ** 2).sum(), "average over the batch, do not sum"),
            Mistake(0.5 * ref.generator, "the slide's L(g) has no factor 1/2"),
        ]
        expect_close(got[0], ref.discriminator, what=f"{what} (loss_D)", mistakes=d_mistakes)
        expect_close(got[1], ref.generator, what=f"{what} (loss_g)", mistakes=g_mistakes)
    # Both losses train a network: their gradients must reach the scores (no .item(), .detach() or numpy).
    a, b, c = 0.0, 1.0, 1.0
    for i, wrt, name, expected in (
        (0, (0, 1), "loss_D", (2 * (d_real - b) / len(d_real), 2 * (d_fake - a) / len(d_fake))),
        (1, (1,), "loss_g", (2 * (d_fake - c) / len(d_fake),)),
    ):
        _, grads = call_with_grad(fn, *clone_args(d_real, d_fake), a, b, c, wrt=wrt, output=i)
        what = f"a = {a:g}, b = {b:g}, c = {c:g}: the gradient of {name}"
        if grads is None or any(gr is None for gr in grads):
            raise CheckFailed(f"on {what}: no gradient reaches D's scores: compute {name} with torch operations "
                              "on d_real and d_fake (no .item(), .detach() or numpy), or the networks cannot train")
        for gr, ex, arg in zip(grads, expected, ("d_real", "d_fake")[wrt[0]:], strict=True):
            expect_close(gr, ex, what=f"{what} with respect to {arg}")


@register(
    "3.8", SECTION, "The Pix2Pix generator objective", 2, "pix2pix_generator_loss",
    "the slide's objective has two parts for G: fooling the conditional discriminator, and staying close to the "
    "paired target; write G's side of each as a loss to minimise",
    reference=gan.pix2pix_generator_loss, kind="build",
    hints=(
        "G's adversarial part is the conditional GAN's generator term, in the non-saturating form used in practice "
        "(exercise 3.6); the second part is lambda times the expected L1 distance between the target y and G's output",
        "the L1 norm of one output sums |.| over all of its entries (every axis but the batch); the expectation is a "
        "batch mean. lambda weighs only the L1 part. Keep torch operations: the loss trains G through both arguments",
        "-F.logsigmoid(fake_logits).mean() + l1_weight * (target - fake).abs().flatten(1).sum(1).mean()",
    ),
)
def check_pix2pix_generator_loss(fn) -> None:
    """Exercise 3.8: compares with :func:`~course_utils.s03_gans.gan.pix2pix_generator_loss`."""
    g = generator(38)
    logits = 2.0 * torch.randn(6, generator=g, dtype=torch.float64)
    fake = torch.randn(6, 2, 4, 4, generator=g, dtype=torch.float64)
    target = fake + 0.5 * torch.randn(6, 2, 4, 4, generator=g, dtype=torch.float64)
    lam = 0.5 + float(torch.rand((), generator=g, dtype=torch.float64))
    ref = gan.pix2pix_generator_loss(logits, fake, target, lam)
    adv, l1 = F.softplus(-logits).mean(), (target - fake).abs().flatten(1).sum(1).mean()
    mistakes = [
        Mistake(adv, "add the L1 term: lambda times the expected L1 distance between y and G's output"),
        Mistake(lam * l1, "add the adversarial term: G must also fool the discriminator"),
        Mistake(-F.softplus(logits).mean() + lam * l1, "that is the saturating adversarial term log(1 - D): use the "
                                                        "non-saturating -log D(x, G(x))"),
        Mistake(F.softplus(logits).mean() + lam * l1, "that is D's side (label 0 on fakes): G wants D to say 1, "
                                                       "-log D(x, G(x))"),
        Mistake(adv + lam * (target - fake).abs().mean(), "the L1 norm of an output sums |.| over its entries; "
                                                          "only the expectation is a batch mean"),
        Mistake(adv + lam * ((target - fake) ** 2).flatten(1).sum(1).mean(),
                "the slide's reconstruction term is the L1 norm, not the squared error (L1 blurs less)"),
        Mistake(lam * adv + l1, "lambda weighs the L1 term, not the adversarial one"),
        Mistake(adv + l1, "multiply the L1 term by lambda"),
        Mistake(adv + lam * (target - fake).abs().sum(), "average the L1 norms over the batch, do not sum"),
    ]
    what = f"6 outputs of shape (2, 4, 4), lambda = {lam:.3f}"
    value, grads = call_with_grad(fn, *clone_args(logits, fake, target), lam, wrt=(0, 1))
    expect_close(value, ref, what=what, mistakes=mistakes)
    if grads is None or any(gr is None for gr in grads):
        raise CheckFailed(f"on {what}: no gradient reaches the logits or G's output: compute the loss with torch "
                          "operations on the arguments (no .item(), .detach() or numpy), or G cannot train")
    lg = logits.clone().requires_grad_(True)
    fk = fake.clone().requires_grad_(True)
    ref_grads = torch.autograd.grad(gan.pix2pix_generator_loss(lg, fk, target, lam), [lg, fk])
    expect_close(grads[0], ref_grads[0], what=f"{what}: the gradient with respect to the logits")
    expect_close(grads[1], ref_grads[1], what=f"{what}: the gradient with respect to G's output")
    expect_close(fn(*clone_args(logits, fake, target), 0.0), adv, what="lambda = 0 (only the adversarial term)")


def _cycle_case(seed: int):
    g = generator(seed)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    y = 1.0 + torch.randn(30, 2, generator=g, dtype=torch.float64)
    # Built without initialisation and filled from g (torch.nn.Linear's default init would draw from torch's
    # global random state, which the hidden seed does not reach).
    nets = [torch.nn.utils.skip_init(torch.nn.Linear, 2, k, dtype=torch.float64) for k in (2, 2, 1, 1)]
    gm, fm, dxm, dym = nets
    with torch.no_grad():
        for net in nets:
            for p in net.parameters():
                p.copy_((2 * torch.rand(p.shape, generator=g, dtype=torch.float64) - 1) / math.sqrt(2))
        fm.weight.add_(0.3 * torch.eye(2, dtype=torch.float64))
    return x, y, gm, fm, dxm, dym


@register(
    "3.9", SECTION, "CycleGAN: adversarial and cycle-consistency terms", 2, "cyclegan_terms",
    "each discriminator judges real points of its own domain against translated ones; the cycle term translates "
    "there and back",
    reference=cyclegan.cyclegan_terms,
    hints=(
        "g maps X to Y, so D_Y judges y (real, target 1) and g(x) (translated, target 0) with squared gaps, as in "
        "the least-squares GAN (a = 0, b = 1); f and D_X the same way in the other direction. Mind the slide's slip",
        "the cycle goes x -> g(x) -> f(g(x)), compared with x, and y -> f(y) -> g(f(y)), compared with y: an L1 norm "
        "summing |.| over the 2 coordinates, then a batch mean, for each direction",
        "adv_g = ((d_y(y) - 1) ** 2).mean() + (d_y(g(x)) ** 2).mean(); adv_f likewise with d_x, x, f(y); "
        "cycle = (f(g(x)) - x).abs().sum(-1).mean() + (g(f(y)) - y).abs().sum(-1).mean()",
    ),
)
def check_cyclegan_terms(fn) -> None:
    """Exercise 3.9: compares with :func:`~course_utils.s03_gans.cyclegan.cyclegan_terms`."""
    x, y, gm, fm, dxm, dym = _cycle_case(36)
    ref = cyclegan.cyclegan_terms(x, y, gm, fm, dxm, dym)
    # Each term trains networks: L(g, D_Y) trains D_Y, L(f, D_X) trains D_X, L_cycle trains g and f.
    trains = ((0, (5,), "L(g, D_Y)", "D_Y"), (1, (4,), "L(f, D_X)", "D_X"), (2, (2, 3), "L_cycle", "g and f"))
    nets = (x, y, gm, fm, dxm, dym)
    ref_grads = [torch.autograd.grad(ref[i], [p for k in wrt for p in nets[k].parameters()])
                 for i, wrt, _, _ in trains]
    with torch.no_grad():
        ref = tuple(t.detach() for t in ref)
        gx, fy = gm(x), fm(y)
        fgx, gfy = fm(gx), gm(fy)
        l1 = lambda a, b: (a - b).abs().sum(-1).mean()  # noqa: E731
        adv_mistakes_g = [
            Mistake(((dym(y) - 1) ** 2).mean() + dym(gx).mean(),
                    "the slide's slip: the fake term is squared too, E[D_Y(g(x))^2] (see the note on the slides)"),
            Mistake(((dxm(y) - 1) ** 2).mean() + (dxm(gx) ** 2).mean(),
                    "g translates into Y, so its discriminator is D_Y, not D_X"),
            Mistake((dym(y) ** 2).mean() + ((dym(gx) - 1) ** 2).mean(),
                    "targets swapped: D_Y should say 1 on real y and 0 on translated g(x)"),
            Mistake(((dym(y) - 1) ** 2).mean() + ((dym(gx) - 1) ** 2).mean(),
                    "that is the generator's side: D_Y's term pushes D_Y(g(x)) to 0, E[D_Y(g(x))^2]"),
        ]
        adv_mistakes_f = [
            Mistake(((dxm(x) - 1) ** 2).mean() + dxm(fy).mean(),
                    "the slide's slip: the fake term is squared too, E[D_X(f(y))^2]"),
            Mistake(((dym(x) - 1) ** 2).mean() + (dym(fy) ** 2).mean(),
                    "f translates into X, so its discriminator is D_X, not D_Y"),
        ]
        cycle_mistakes = [
            Mistake(((fgx - x) ** 2).sum(-1).mean() + ((gfy - y) ** 2).sum(-1).mean(),
                    "use the L1 norm |.| as in the slide, not the squared error"),
            Mistake((fgx - x).abs().mean() + (gfy - y).abs().mean(),
                    "the L1 norm sums |.| over the coordinates; only the expectation is a batch mean"),
            Mistake((fgx - x).norm(dim=-1).mean() + (gfy - y).norm(dim=-1).mean(),
                    "that is the Euclidean norm: the L1 norm sums the absolute values of the coordinates"),
            Mistake(l1(fgx, x), "add the backward cycle y -> f(y) -> g(f(y)) ~ y"),
            Mistake(l1(gfy, y), "add the forward cycle x -> g(x) -> f(g(x)) ~ x"),
            Mistake(l1(gm(fm(x)), x) + l1(fm(gm(y)), y),
                    "the order of the maps: x lives in X, so the forward cycle is f(g(x)) (first g: X -> Y)"),
            Mistake(l1(gx, x) + l1(fy, y), "the cycle goes there AND back: compare f(g(x)) with x"),
        ]
    got = fn(*clone_args(x, y), gm, fm, dxm, dym)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailed("return a triple (L(g, D_Y), L(f, D_X), L_cycle)")
    what = "40 points of X, 30 of Y and linear maps"
    expect_close(got[0], ref[0], what=f"{what}: L(g, D_Y)", mistakes=adv_mistakes_g)
    expect_close(got[1], ref[1], what=f"{what}: L(f, D_X)", mistakes=adv_mistakes_f)
    expect_close(got[2], ref[2], what=f"{what}: L_cycle", mistakes=cycle_mistakes)
    for (i, wrt, name, net_names), expected in zip(trains, ref_grads, strict=True):
        _, grads = call_with_grad(fn, *clone_args(x, y), gm, fm, dxm, dym, wrt=wrt, output=i)
        flat = None if grads is None else [gr for group in grads for gr in group]
        if flat is None or any(gr is None for gr in flat):
            raise CheckFailed(f"on {what}: {name} has the right value, but no gradient reaches the weights of "
                              f"{net_names}, which this term trains: compute it with torch operations on the "
                              "networks' outputs (no .item(), .detach() or torch.no_grad())")
        expect_close(torch.cat([to_plain_tensor(gr).flatten() for gr in flat]),
                     torch.cat([gr.flatten() for gr in expected]),
                     what=f"{what}: the gradient of {name} with respect to the weights of {net_names} "
                          "(is part of it detached?)")


@register(
    "3.10", SECTION, "Adaptive instance normalisation (AdaIN)", 2, "adain",
    "x keeps its normalised pattern and takes y's statistics: which statistics, over which axes?",
    reference=adain.adain,
    hints=(
        "mu and sigma are per image and per channel: reduce over the last two axes only (dims (2, 3), keepdim=True)",
        "sigma is the square root of the biased variance plus eps = 1e-5 (unbiased=False: divide by H*W); "
        "standardise x with its own statistics, then give it y's",
        "sigma_y * (x - mu_x) / sigma_x + mu_y, with mu = t.mean((2, 3), keepdim=True) and "
        "sigma = (t.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()",
    ),
)
def check_adain(fn) -> None:
    """Exercise 3.10: compares with :func:`~course_utils.s03_gans.adain.adain`."""
    g = generator(37)
    x = 2.0 + 1.5 * torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64)
    y = -1.0 + 0.5 * torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64) * torch.arange(
        1, 4, dtype=torch.float64).reshape(1, 3, 1, 1)
    eps = adain.EPS
    ref = adain.adain(x, y, eps)

    def with_stats(mx, sx, my, sy):
        return sy * (x - mx) / sx + my

    def stats(t, dims, unbiased=False):
        return t.mean(dims, keepdim=True), (t.var(dims, keepdim=True, unbiased=unbiased) + eps).sqrt()

    (mx, sx), (my, sy) = stats(x, (2, 3)), stats(y, (2, 3))
    (bmx, bsx), (bmy, bsy) = stats(x, (0, 2, 3)), stats(y, (0, 2, 3))
    (cmx, csx), (cmy, csy) = stats(x, (1, 2, 3)), stats(y, (1, 2, 3))
    umx, usx = stats(x, (2, 3), True)
    mistakes = [
        Mistake(with_stats(bmx, bsx, bmy, bsy), "those are batch-norm statistics (over N, H, W): AdaIN uses each "
                                                "image's own statistics, over H and W only"),
        Mistake(with_stats(cmx, csx, cmy, csy), "the statistics are per channel: average over H and W, not over C"),
        Mistake(with_stats(mx, sx**2, my, sy**2), "sigma is the standard deviation (sqrt of the variance), "
                                                  "not the variance"),
        Mistake(sx * (y - my) / sy + mx, "x and y are swapped: x is the content, its statistics are replaced "
                                         "by the style y's"),
        Mistake(sy * (x - mx) + my, "normalise x first: divide (x - mu(x)) by sigma(x)"),
        Mistake(sy * x / sx + my, "subtract mu(x) before scaling"),
    ]
    got = to_plain_tensor(fn(*clone_args(x, y)))
    expect_close(got, ref, what="x, y of shape (4, 3, 8, 8)", mistakes=mistakes, rtol=1e-4, atol=1e-4)
    got_mu, got_sigma = adain.instance_stats(got, 0.0)
    expect_close(got_mu, my, what="the means of the output (they must be y's)", rtol=1e-4, atol=1e-4)
    y2 = 3.0 * torch.randn(4, 3, 5, 6, generator=g, dtype=torch.float64)
    (umy2, usy2) = stats(y2, (2, 3), True)
    biased = [Mistake(usy2 * (x - umx) / usx + umy2, "use the biased variance (divide by H*W, unbiased=False), as "
                                                     "instance normalisation does: with x and y of different sizes "
                                                     "the two conventions no longer cancel")]
    expect_close(fn(*clone_args(x, y2)), adain.adain(x, y2, eps), what="a style of another size, (4, 3, 5, 6)",
                 mistakes=biased, rtol=1e-4, atol=1e-4)
