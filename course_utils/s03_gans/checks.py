"""Checks for notebook 03: GANs, the minimax game, its equilibrium, and the GAN family.

Each check calls the student's function on inputs drawn from a fixed-seed generator,
compares with the reference in :mod:`~.gan`, :mod:`~.cyclegan`
and :mod:`~.adain`, and names the likely mistake when it can.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.mixtures import GaussianMixture
from ..grading.compare import Mistake, call_with_grad, clone_args, expect_close, generator, to_plain_tensor
from ..grading.core import CheckFailed, register
from ..s01_kl_elbo import divergences
from . import adain, cyclegan, gan

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
    "3.1", SECTION, "The optimal discriminator D*", 1, "optimal_discriminator",
    "for a fixed generator, D* is the probability that x is real: compare how much of the density at x is p_X",
    reference=gan.optimal_discriminator,
)
def check_optimal_discriminator(fn) -> None:
    """Exercise 3.1: compares with :func:`~course_utils.s03_gans.gan.optimal_discriminator`."""
    p_x, p_theta, _ = _grid_densities(31)
    ref = gan.optimal_discriminator(p_x, p_theta)
    mistakes = [
        Mistake(p_theta / (p_x + p_theta), "that is 1 - D*: D(x) is the probability that x comes from the DATA, "
                                           "so p_X goes in the numerator"),
        Mistake(p_x / p_theta, "that is the density ratio p_X / p_theta = D* / (1 - D*); D* = p_X / (p_X + p_theta)"),
        Mistake(torch.full_like(p_x, 0.5), "D* = 1/2 only at equilibrium (p_theta = p_X); here the densities differ"),
    ]
    expect_close(fn(*clone_args(p_x, p_theta)), ref, what="a data mixture and a generator Gaussian on 801 grid points",
                 mistakes=mistakes)
    expect_close(fn(*clone_args(p_x, p_x)), torch.full_like(p_x, 0.5), what="p_theta = p_X (the equilibrium)")


@register(
    "3.2", SECTION, "C(g), the value at the optimal discriminator", 2, "optimal_value",
    "plug D* into L(D, g) and integrate both expectations on the grid (a sum times dx); keep natural logs",
    reference=gan.optimal_value_on_grid,
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
    "compare each distribution with their mixture m = (p + q) / 2 and average the two KLs; a p_i = 0 term counts as 0",
    reference=gan.jsd_discrete,
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
    "3.4", SECTION, "The discriminator loss (binary cross-entropy)", 2, "discriminator_loss",
    "D = sigmoid(logit); the loss is -L(D, g): minus the batch mean of log D on real data, minus the batch mean of "
    "log(1 - D) on fakes",
    reference=gan.discriminator_loss,
)
def check_discriminator_loss(fn) -> None:
    """Exercise 3.4: compares with :func:`~course_utils.s03_gans.gan.discriminator_loss`."""
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


@register(
    "3.5", SECTION, "The non-saturating generator loss", 1, "generator_loss_nonsaturating",
    "instead of minimising log(1 - D(g(z))), the generator maximises log D(g(z)): write it as a loss to minimise",
    reference=gan.generator_loss,
)
def check_generator_loss(fn) -> None:
    """Exercise 3.5: compares with :func:`~course_utils.s03_gans.gan.generator_loss`."""
    _, fake = _logits(34, 2, 40)
    ref = gan.generator_loss(fake, "nonsaturating")
    d = torch.sigmoid(fake)
    mistakes = [
        Mistake(torch.log(1 - d).mean(), "that is the saturating (minimax) loss log(1 - D): the non-saturating loss "
                                         "is -log D(g(z))"),
        Mistake(-torch.log(1 - d).mean(), "that is -log(1 - D): the generator wants D(g(z)) large, minimise -log D"),
        Mistake(-ref, "sign slip: minimise -log D(g(z)) (it is >= 0)"),
        Mistake(-d.mean(), "you forgot the log: -log D(g(z)), not -D"),
        Mistake(F.softplus(-fake).sum(), "average over the batch, do not sum"),
    ]
    value, _ = _check_gradient(fn, clone_args(fake), (0,), "40 fake logits")
    expect_close(value, ref, what="40 fake logits", mistakes=mistakes)


@register(
    "3.6", SECTION, "Least-squares GAN losses", 2, "lsgan_losses",
    "a is D's target for generated data, b for real data, c what g wants D to say on its samples; "
    "square each gap and average over the batch",
    reference=gan.lsgan_losses,
)
def check_lsgan_losses(fn) -> None:
    """Exercise 3.6: compares with :func:`~course_utils.s03_gans.gan.lsgan_losses`."""
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
    "3.7", SECTION, "CycleGAN: adversarial and cycle-consistency terms", 3, "cyclegan_terms",
    "D_Y judges y (real) and g(x) (translated) with squared gaps to 1 and to 0; the cycle term goes "
    "x -> g -> f -> back to x and y -> f -> g -> back to y, with an L1 norm over coordinates and a batch mean",
    reference=cyclegan.cyclegan_terms,
)
def check_cyclegan_terms(fn) -> None:
    """Exercise 3.7: compares with :func:`~course_utils.s03_gans.cyclegan.cyclegan_terms`."""
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
    "3.8", SECTION, "Adaptive instance normalisation (AdaIN)", 2, "adain",
    "compute each image's per-channel mean and standard deviation over the H x W positions (keepdim helps "
    "broadcasting), normalise x with its own, then scale and shift with y's",
    reference=adain.adain,
)
def check_adain(fn) -> None:
    """Exercise 3.8: compares with :func:`~course_utils.s03_gans.adain.adain`."""
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
