"""Checks for notebook 04: the Wasserstein distance, optimal transport and WGANs.

Each check calls the student's function on inputs drawn from a fixed-seed generator,
compares with the reference in :mod:`~.wasserstein`, :mod:`~.transport`
and :mod:`~.wgan`, and names the likely mistake when it can.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..core.nets import mlp
from ..grading.compare import (
    Mistake,
    call_with_grad,
    call_with_state,
    clone_args,
    expect_close,
    generator,
    to_plain_tensor,
)
from ..grading.core import CheckFailed, StudentError, register
from . import transport, wasserstein, wgan

SECTION = "04"


# --- 4.1 W1 from densities on a grid ---------------------------------------------------------

def _grid_case(mu, nu, lo: float = 0.0, hi: float = 12.0, n: int = 1201):
    grid = torch.linspace(lo, hi, n, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    return mu.density_on_grid(grid), nu.density_on_grid(grid), dx


def _random_pieces(g):
    """Three pieces for mu and one wide piece for nu, placed so that F - G changes sign."""
    starts = torch.tensor([0.5, 3.5, 7.5], dtype=torch.float64) + 1.5 * torch.rand(3, generator=g, dtype=torch.float64)
    widths = 0.5 + torch.rand(3, generator=g, dtype=torch.float64)
    masses = torch.rand(3, generator=g, dtype=torch.float64) + 0.3
    mu = wasserstein.PiecewiseUniform(torch.stack([starts, starts + widths], 1), masses / masses.sum())
    a = 4.0 + 1.5 * float(torch.rand((), generator=g, dtype=torch.float64))
    nu = wasserstein.PiecewiseUniform(torch.tensor([[a, a + 2.5]]), torch.tensor([1.0]))
    return mu, nu


def _w1_grid_mistakes(p, q, dx, ref):
    f, g_cdf = torch.cumsum(p, 0) * dx, torch.cumsum(q, 0) * dx
    return [
        Mistake(ref / dx, "multiply by dx twice: once inside each CDF (F = cumulative sum of p times dx) and once "
                          "in the integral of |F - G|"),
        Mistake(ref / dx**2, "there is no dx anywhere: each CDF is a cumulative sum times dx, and the integral of "
                             "|F - G| is a sum times dx"),
        Mistake((p - q).abs().sum() * dx, "that compares the densities point by point (the L1 distance between "
                                          "p and q): W1 integrates |F - G|, the gap between the CDFs, so it grows "
                                          "with how far the mass must travel"),
        Mistake((f - g_cdf).sum() * dx, "keep the absolute value inside the integral: without it, the stretches "
                                        "where F > G cancel those where G > F (the signed integral is the "
                                        "difference of the means)"),
        Mistake(-(f - g_cdf).sum() * dx, "keep the absolute value inside the integral: the signed integral is the "
                                         "difference of the means"),
        Mistake(((f - g_cdf) ** 2).sum() * dx, "no square: W1 integrates |F - G| (the square gives the Cramér "
                                               "distance)"),
        Mistake(((f - g_cdf) ** 2).sum().mul(dx).sqrt(), "no square and no square root: W1 = integral of |F - G|"),
        Mistake((f - g_cdf).abs().max(), "that is the largest gap between the CDFs (Kolmogorov-Smirnov): W1 "
                                         "integrates the gap over the whole line"),
        Mistake((f - g_cdf).abs() * dx, "return the integral (a single number), not the integrand at each point"),
    ]


@register(
    "4.1", SECTION, "W1 from two densities on a grid (through the CDFs)", 2, "w1_on_grid",
    "turn each density into its CDF with a cumulative sum times dx (torch.cumsum), then integrate |F - G| "
    "(a sum times dx)",
    reference=wasserstein.w1_on_grid,
)
def check_w1_on_grid(fn) -> None:
    """Exercise 4.1: compares with :func:`~course_utils.s04_wasserstein.wasserstein.w1_on_grid`."""
    mu, nu = wasserstein.slides_example()
    p, q, dx = _grid_case(mu, nu)
    ref = wasserstein.w1_on_grid(p, q, dx)
    what = "the slides' example mu = 1/4 U[1,2] + 1/4 U[3,4] + 1/2 U[9,10], mu' = U[5,7] (W = 3)"
    expect_close(fn(*clone_args(p, q), dx), ref, what=what, mistakes=_w1_grid_mistakes(p, q, dx, ref),
                 rtol=1e-2, atol=1e-3)
    mu2, nu2 = _random_pieces(generator(41))
    p2, q2, dx2 = _grid_case(mu2, nu2, -1.0, 12.0, 1301)
    ref2 = wasserstein.w1_on_grid(p2, q2, dx2)
    expect_close(fn(*clone_args(p2, q2), dx2), ref2, what="three pieces against one wide piece",
                 mistakes=_w1_grid_mistakes(p2, q2, dx2, ref2), rtol=1e-2, atol=1e-3)
    expect_close(fn(*clone_args(p2, p2), dx2), torch.zeros((), dtype=torch.float64),
                 what="two equal densities (W1 = 0)", atol=1e-6)


# --- 4.2 W1 from two samples -------------------------------------------------------------------

@register(
    "4.2", SECTION, "W1 from two samples of the same size (sorting)", 1, "w1_samples",
    "sort both samples (torch.sort): the i-th smallest x is paired with the i-th smallest y; "
    "average the distances |x_(i) - y_(i)| over the n pairs",
    reference=wasserstein.w1_samples,
)
def check_w1_samples(fn) -> None:
    """Exercise 4.2: compares with :func:`~course_utils.s04_wasserstein.wasserstein.w1_samples`."""
    g = generator(42)
    n = 200
    x = 1.5 * torch.randn(n, generator=g, dtype=torch.float64)
    y = -torch.log(torch.rand(n, generator=g, dtype=torch.float64)) - 0.3
    ref = wasserstein.w1_samples(x, y)
    xs, ys = torch.sort(x).values, torch.sort(y).values
    mistakes = [
        Mistake((x - y).abs().mean(), "sort both samples first: pairing x_i with y_i in the order given is a "
                                      "coupling, but not the cheapest one"),
        Mistake((xs - y).abs().mean(), "sort y too: both samples must be in increasing order"),
        Mistake((x - ys).abs().mean(), "sort x too: both samples must be in increasing order"),
        Mistake((xs - ys.flip(0)).abs().mean(), "sort both in the same (increasing) order: the smallest x goes "
                                                "to the smallest y"),
        Mistake((x.mean() - y.mean()).abs(), "that is the gap between the means, only a lower bound on W1: "
                                             "pair the sorted samples"),
        Mistake(((xs - ys) ** 2).mean().sqrt(), "that is W2 (root mean square): W1 averages |x_(i) - y_(i)|"),
        Mistake(((xs - ys) ** 2).mean(), "no square: W1 averages |x_(i) - y_(i)|"),
        Mistake((xs - ys).abs().sum(), "average over the n pairs (each point carries mass 1/n), do not sum"),
        Mistake((xs - ys).abs().max(), "average the distances of the pairs, not their maximum"),
        Mistake((xs - ys).mean().abs(), "take |.| of each pair's distance before averaging"),
    ]
    expect_close(fn(*clone_args(x, y)), ref, what="a Gaussian and an exponential sample of 200 points each",
                 mistakes=mistakes)
    perm = torch.randperm(n, generator=g)
    shifted = (x + 2.5)[perm]
    expect_close(fn(*clone_args(x, shifted)), torch.tensor(2.5, dtype=torch.float64),
                 what="a sample and the same sample shifted by 2.5, shuffled (W1 = 2.5)",
                 mistakes=[Mistake((x - shifted).abs().mean(), "sort both samples first: the order they come in "
                                                              "is arbitrary")])


# --- 4.3 the transport cost of a plan -----------------------------------------------------------

def _plan_case(g, n: int, m: int, d: int):
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) + 1.0
    a = torch.rand(n, generator=g, dtype=torch.float64) + 0.2
    b = torch.rand(m, generator=g, dtype=torch.float64) + 0.2
    a, b = a / a.sum(), b / b.sum()
    best = transport.solve_ot_pot(a, b, transport.cost_matrix(x, y)).plan
    return 0.5 * best + 0.5 * transport.independent_plan(a, b), x, y


def _plan_mistakes(plan, x, y):
    diff = x[:, None, :] - y[None, :, :]
    c = diff.norm(dim=-1)
    out = [
        Mistake((plan * c**2).sum(), "use the distance |x_i - y_j|, not its square (that is the W2 cost)"),
        Mistake((plan * diff.abs().sum(-1)).sum(), "use the Euclidean distance (square root of the sum of squared "
                                                   "coordinate gaps), not the L1 distance"),
        Mistake((plan * c).mean(), "sum mass times distance over all pairs (i, j): the plan's entries already "
                                   "carry the weights, so do not average"),
        Mistake(c.mean(), "weight each distance by the mass the plan moves along it: sum of P_ij |x_i - y_j|"),
        Mistake(c.sum(), "weight each distance by the mass the plan moves along it: sum of P_ij |x_i - y_j|"),
    ]
    if plan.shape[0] == plan.shape[1]:
        out.append(Mistake((plan.T * c).sum(), "P_ij is the mass moved from x_i (row i) to y_j (column j): "
                                               "do not transpose the plan"))
        out.append(Mistake((plan * (x - y).norm(dim=-1)[:, None]).sum(),
                           "the cost of moving mass from x_i to y_j is |x_i - y_j|, for every pair (i, j)"))
    return out


@register(
    "4.3", SECTION, "The transport cost of a plan", 1, "transport_cost",
    "build the matrix of Euclidean distances C_ij = |x_i - y_j| (torch.cdist, or broadcasting), then sum "
    "plan * C over all pairs",
    reference=transport.transport_cost,
)
def check_transport_cost(fn) -> None:
    """Exercise 4.3: compares with :func:`~course_utils.s04_wasserstein.transport.transport_cost`."""
    g = generator(43)
    for n, m, d in ((6, 4, 2), (5, 5, 3)):
        plan, x, y = _plan_case(g, n, m, d)
        ref = transport.transport_cost(plan, x, y)
        expect_close(fn(*clone_args(plan, x, y)), ref, what=f"a plan between {n} and {m} points in {d}-D",
                     mistakes=_plan_mistakes(plan, x, y))
    x = torch.randn(7, 2, generator=g, dtype=torch.float64)
    identity = torch.eye(7, dtype=torch.float64) / 7
    expect_close(fn(identity, x.clone(), x.clone()), torch.zeros((), dtype=torch.float64),
                 what="a plan that leaves every point where it is (cost 0)", atol=1e-9)


# --- 4.4 the critic loss --------------------------------------------------------------------

@register(
    "4.4", SECTION, "The critic loss (Kantorovich-Rubinstein)", 1, "critic_loss",
    "the critic maximises mean f(real) - mean f(fake) (expectations, no absolute values); return its negative, "
    "the loss to minimise",
    reference=wgan.critic_loss,
)
def check_critic_loss(fn) -> None:
    """Exercise 4.4: compares with :func:`~course_utils.s04_wasserstein.wgan.critic_loss`."""
    g = generator(44)
    real = 2.0 * torch.randn(64, generator=g, dtype=torch.float64) + 0.5
    fake = 2.0 * torch.randn(48, generator=g, dtype=torch.float64) - 0.5
    ref = wgan.critic_loss(real, fake)
    mistakes = [
        Mistake(-ref, "that is the objective the critic MAXIMISES, mean f(real) - mean f(fake): return the loss "
                      "to minimise, its negative"),
        Mistake(fake.abs().mean() - real.abs().mean(), "no absolute values (the slides' slip): the duality "
                                                       "compares E[f(x)], not E|f(x)|"),
        Mistake(real.abs().mean() - fake.abs().mean(), "no absolute values (the slides' slip), and return the "
                                                       "loss to minimise: mean f(fake) - mean f(real)"),
        Mistake(F.softplus(-real).mean() + F.softplus(fake).mean(),
                "that is a GAN discriminator's cross-entropy: a critic's scores are not probabilities, so no "
                "sigmoid and no log"),
        Mistake(torch.cat([fake, -real]).mean(), "average each batch over its own size (they differ), then "
                                                 "subtract"),
        Mistake(fake.sum() - real.sum(), "average over each batch, do not sum"),
        Mistake(-fake.mean(), "that is the generator's loss: the critic's loss has both batches"),
    ]
    value, grads = call_with_grad(fn, *clone_args(real, fake), wrt=(0, 1))
    expect_close(value, ref, what="64 real and 48 fake scores", mistakes=mistakes)
    if grads is None or any(gr is None for gr in grads):
        raise CheckFailed("on 64 real and 48 fake scores: the value is right, but no gradient reaches the scores: "
                          "compute the loss with torch operations on the arguments (no .item(), .detach() or "
                          "numpy), or the critic cannot train")
    expect_close(grads[0], torch.full((64,), -1 / 64, dtype=torch.float64),
                 what="the gradient with respect to the real scores (each -1/64)")
    real2, fake2 = torch.randn(32, 1, generator=g, dtype=torch.float64), torch.randn(20, 1, generator=g,
                                                                                     dtype=torch.float64)
    expect_close(fn(*clone_args(real2, fake2)), wgan.critic_loss(real2, fake2),
                 what="scores of shape (32, 1) and (20, 1), as a critic network returns them")


# --- 4.5 weight clipping -----------------------------------------------------------------------

def _critic(seed: int, width: int, scale: float, depth: int = 2) -> torch.nn.Module:
    g = generator(seed)
    net = mlp(2, 1, width, depth).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=torch.float64))
    return net


def _flat(tensors) -> torch.Tensor:
    return torch.cat([to_plain_tensor(t).flatten() for t in tensors])


@register(
    "4.5", SECTION, "One weight-clipping step (Algorithm 1, line 7)", 1, "clip_weights",
    "inside torch.no_grad(), clamp every parameter of the critic (weights and biases) to [-c, c] in place "
    "(p.clamp_), then return list(critic.parameters())",
    reference=wgan.clip_weights,
)
def check_clip_weights(fn) -> None:
    """Exercise 4.5: compares with :func:`~course_utils.s04_wasserstein.wgan.clip_weights`.

    What counts is the critic after the call (Algorithm 1 goes on training it), seen through
    ``call_with_state``; the returned list is checked after that.
    """
    critic, c = _critic(45, 8, 0.08), 0.05  # no gradients: a fresh critic, as after optimiser.zero_grad()
    names = [name for name, _ in critic.named_parameters()]
    params = [p.detach().clone() for p in critic.parameters()]
    ref = _flat(wgan.clip_weights(copy.deepcopy(critic), c))
    kinds = [p.ndim for p in params]
    mistakes = [
        Mistake(_flat(params), "the weights did not change: clip the parameters themselves (p.clamp_ under "
                               "torch.no_grad()), not their gradients"),
        Mistake(_flat([p.clamp(-c, c) if k == 2 else p for p, k in zip(params, kinds, strict=True)]),
                "clip the biases too: Algorithm 1 clips every parameter w of the critic"),
        Mistake(_flat([p.clamp(0, c) for p in params]), "clip to the symmetric interval [-c, c], not [0, c]"),
        Mistake(_flat([torch.where(p.abs() > c, torch.zeros_like(p), p) for p in params]),
                "clip to the boundary: a weight above c becomes c (and below -c becomes -c), not 0"),
        Mistake(_flat([p * min(1.0, c / float(p.norm())) for p in params]),
                "clip each entry separately: w <- clip(w, -c, c), not a rescaling of the whole tensor by its norm"),
    ]
    what = f"a critic whose weights reach {float(_flat(params).abs().max()):.2f}, clipped at c = {c}"
    got, after = _clip_call(fn, copy.deepcopy(critic), c, names)
    if not _same(after, ref):
        if _same(after, _flat(params)) and _params_like(got, params) and _same(_flat(got), ref):
            raise CheckFailed(f"on {what}: you returned clipped copies, but the critic itself did not change: "
                              "Algorithm 1 goes on training the clipped critic, so clamp its parameters in place "
                              "(under torch.no_grad(), p.clamp_(-c, c) for every p in critic.parameters()), then "
                              "return list(critic.parameters())")
        expect_close(after, ref, what=f"{what}: the critic's parameters after your call", mistakes=mistakes)
    if got is None:
        raise CheckFailed("the critic is clipped, but your function returned None: return the critic's parameters "
                          "after clipping, list(critic.parameters())")
    if not isinstance(got, (list, tuple)) or len(got) != len(params):
        raise CheckFailed(f"return a list of the critic's {len(params)} parameters (weights and biases, in "
                          "critic.parameters() order)")
    for i, (t, p) in enumerate(zip(got, params, strict=True)):
        if tuple(to_plain_tensor(t).shape) != tuple(p.shape):
            raise CheckFailed(f"parameter {i} should have shape {tuple(p.shape)}, got "
                              f"{tuple(to_plain_tensor(t).shape)}: return list(critic.parameters())")
    expect_close(_flat(got), ref, what=f"{what}: the parameters you returned", mistakes=[
        Mistake(_flat(params), "the critic is clipped, but the list you returned holds the values from before "
                               "clipping: return list(critic.parameters()) itself (copies taken earlier keep "
                               "the old values)")])
    small = _critic(46, 8, 0.01)
    inside = _flat(small.parameters())
    got, after = _clip_call(fn, copy.deepcopy(small), 1.0, names)
    expect_close(after, inside, what="weights already inside [-c, c]: the critic after your call (nothing may "
                 "change)")
    expect_close(_flat(got), inside, what="weights already inside [-c, c]: the parameters you returned")


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6))


def _params_like(got, params) -> bool:
    """Whether ``got`` is a list of tensors of the parameters' shapes."""
    return isinstance(got, (list, tuple)) and len(got) == len(params) and all(
        isinstance(t, torch.Tensor) and t.shape == p.shape for t, p in zip(got, params, strict=True))


_CLAMP_IN_PLACE = ("Algorithm 1 clamps the critic's weights themselves, in place: under torch.no_grad(), "
                   "p.clamp_(-c, c) for every p in critic.parameters()")


def _clip_call(fn, critic, c, names):
    """``fn(critic, c)``: (what it returned, the critic's parameters after the call, flattened in ``names`` order)."""
    try:
        got, after = call_with_state(fn, critic, c)
    except NotImplementedError:
        raise
    except (RuntimeError, AttributeError, StudentError) as err:
        text = str(err)
        if "nested_tensorlist" in text:  # torch.nn.utils.clip_grad_value_ on parameters without gradients
            raise CheckFailed("torch.nn.utils.clip_grad_value_ clips gradients, not weights (it raised a "
                              "RuntimeError here because the check's critic has no gradients yet): "
                              f"{_CLAMP_IN_PLACE}") from None
        if "'NoneType' object has no attribute" in text and any(k in text for k in ("'clamp", "'clip", "'data'")):
            raise CheckFailed("p.grad is None here (the check's critic has no gradients yet), and p.grad.clamp_ "
                              f"would clip gradients, not weights: {_CLAMP_IN_PLACE}") from None
        raise
    state = after[0]
    if not isinstance(state, dict) or any(not isinstance(state.get(n), torch.Tensor) for n in names):
        raise CheckFailed("after your call the critic no longer has its parameters: clamp them in place, "
                          "do not remove or replace them")
    return got, _flat(state[n] for n in names)


# --- 4.6 the gradient penalty --------------------------------------------------------------------

def _gp_case(seed: int):
    g = generator(seed)
    critic = _critic(seed, 16, 0.45)
    x_real = torch.randn(32, 2, generator=g, dtype=torch.float64) + torch.tensor([1.5, 0.0], dtype=torch.float64)
    x_fake = torch.randn(32, 2, generator=g, dtype=torch.float64) - torch.tensor([1.5, 0.0], dtype=torch.float64)
    eps = torch.rand(32, 1, generator=g, dtype=torch.float64)
    return critic, x_real, x_fake, eps


def _input_grad(critic, points, reduce=torch.sum):
    x = points.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(reduce(critic(x)), x)
    return grad


def _gp_mistakes(critic, x_real, x_fake, eps):
    x_hat = eps * x_real + (1 - eps) * x_fake
    grad = _input_grad(critic, x_hat)
    norm = grad.norm(dim=1)
    two_sided = lambda gr: ((gr.norm(dim=1) - 1) ** 2).mean()  # noqa: E731
    return [
        Mistake(norm.mean(), "penalise the distance of the gradient norm from 1, (|grad f| - 1)^2, not |grad f| "
                             "itself: the critic should have slope 1, not slope 0"),
        Mistake((norm**2).mean(), "penalise (|grad f| - 1)^2, not |grad f|^2: the target slope is 1"),
        Mistake(((norm**2 - 1) ** 2).mean(), "use the norm |grad f|_2 (the square root of the sum of squares), "
                                             "not its square, inside (|grad f| - 1)^2"),
        Mistake((torch.relu(norm - 1) ** 2).mean(), "that is the one-sided penalty: WGAN-GP penalises slopes "
                                                    "below 1 too, (|grad f| - 1)^2 on both sides"),
        Mistake((grad.norm() - 1) ** 2, "take one gradient norm per sample (norm over dim 1), then average the "
                                        "penalties over the batch"),
        Mistake(((grad.abs().sum(1) - 1) ** 2).mean(), "use the Euclidean norm of the gradient, not the L1 norm"),
        Mistake(two_sided(_input_grad(critic, x_real)), "evaluate the gradient at the interpolates "
                                                        "x_hat = eps x_real + (1 - eps) x_fake, not at the real "
                                                        "points"),
        Mistake(two_sided(_input_grad(critic, x_fake)), "evaluate the gradient at the interpolates "
                                                        "x_hat = eps x_real + (1 - eps) x_fake, not at the fakes"),
        Mistake(two_sided(_input_grad(critic, eps * x_fake + (1 - eps) * x_real)),
                "the interpolate is x_hat = eps * x_real + (1 - eps) * x_fake (eps weighs the real point)"),
        Mistake(10 * two_sided(grad), "return the penalty without its weight lambda (the training multiplies)"),
        Mistake(((norm - 1) ** 2).sum(), "average the penalty over the batch, do not sum"),
        Mistake((norm - 1).mean(), "square the gap: (|grad f| - 1)^2"),
        Mistake(two_sided(_input_grad(critic, x_hat, torch.mean)),
                "differentiate the SUM of the scores, critic(x_hat).sum(), not their mean: each score depends only "
                "on its own x_hat, so the sum's gradient holds each sample's own gradient, while the mean's "
                f"divides every one by the batch size ({len(x_hat)})"),
        Mistake(((grad.norm(dim=0) - 1) ** 2).mean(), "take the norm of each sample's gradient, over the "
                                                      "coordinates (dim=1), not over the batch (dim=0)"),
    ]


@register(
    "4.6", SECTION, "The gradient penalty (WGAN-GP)", 3, "gradient_penalty",
    "form x_hat = eps * x_real + (1 - eps) * x_fake, make it require gradients, take "
    "torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True), then average (|grad|_2 - 1)^2 over "
    "the batch",
    reference=wgan.gradient_penalty,
)
def check_gradient_penalty(fn) -> None:
    """Exercise 4.6: compares with :func:`~course_utils.s04_wasserstein.wgan.gradient_penalty`."""
    critic, x_real, x_fake, eps = _gp_case(46)
    reference = copy.deepcopy(critic)
    ref = wgan.gradient_penalty(reference, x_real, x_fake, eps)
    params = list(reference.parameters())
    ref_grads = [torch.zeros_like(p) if gr is None else gr  # the last bias does not change the slope
                 for gr, p in zip(torch.autograd.grad(ref, params, allow_unused=True), params, strict=True)]
    what = "a critic (2 -> 16 -> 16 -> 1) and 32 real and fake points"
    mistakes = [Mistake(m.value.detach(), m.says) for m in _gp_mistakes(critic, x_real, x_fake, eps)]
    value, grads = call_with_grad(fn, copy.deepcopy(critic), *clone_args(x_real, x_fake, eps), wrt=(0,))
    expect_close(value, ref.detach(), what=what, mistakes=mistakes, rtol=1e-4, atol=1e-6)
    if grads is None or all(gr is None for gr in grads[0]):
        raise CheckFailed(f"on {what}: the value is right, but no gradient reaches the critic's weights: pass "
                          "create_graph=True to torch.autograd.grad, or the penalty cannot train the critic")
    got = [gr if gr is not None else torch.zeros_like(r) for gr, r in zip(grads[0], ref_grads, strict=True)]
    expect_close(_flat(got), _flat(ref_grads), what=f"{what}: the penalty's gradient with respect to the critic's "
                 "weights", rtol=1e-4, atol=1e-6)
    slope_one = torch.nn.Linear(2, 1).double()
    with torch.no_grad():
        slope_one.weight.copy_(torch.tensor([[0.6, 0.8]], dtype=torch.float64))
    expect_close(fn(slope_one, *clone_args(x_real, x_fake, eps)), torch.zeros((), dtype=torch.float64),
                 what="a linear critic with gradient norm exactly 1 (penalty 0)", atol=1e-9)
