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
    seeded_module,
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
    "in 1-D, W1 is an area between two curves that you build from p and q: section 2 says which curves",
    reference=wasserstein.w1_on_grid, kind="warm-up",
    hints=("the curves are the two cumulative distribution functions; on an evenly spaced grid an integral is a "
           "sum times dx, and a running integral is a running sum (torch.cumsum) times dx",
           "F = torch.cumsum(p, 0) * dx, G = torch.cumsum(q, 0) * dx, then W1 = (F - G).abs().sum() * dx"),
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


# --- 4.2 predict: a point mass split in two (Monge has no map, Kantorovich has a plan) ------------

def _split_case(g, d: int):
    """x, y1, y2 in d dimensions; on a line (d = 1), x lies between y1 and y2."""
    x = torch.randn(d, generator=g, dtype=torch.float64)
    if d == 1:
        return x, x - 1.0 - 2.0 * torch.rand(1, generator=g, dtype=torch.float64), \
            x + 1.0 + 2.0 * torch.rand(1, generator=g, dtype=torch.float64)
    y1 = x + (1.0 + 2.0 * torch.rand(d, generator=g, dtype=torch.float64)) * torch.sign(
        torch.randn(d, generator=g, dtype=torch.float64))
    y2 = x + (1.0 + 2.0 * torch.rand(d, generator=g, dtype=torch.float64)) * torch.sign(
        torch.randn(d, generator=g, dtype=torch.float64))
    return x, y1, y2


def _split_mistakes(x, y1, y2):
    d1, d2 = (x - y1).norm(), (x - y2).norm()
    return [
        Mistake(torch.minimum(d1, d2), "that sends the whole mass to the nearer point, as a transport map would: "
                                       "then that point receives 1 and the other 0, not 1/2 each. A map cannot "
                                       "split the mass at x; a plan can, and here it must"),
        Mistake(torch.maximum(d1, d2), "that sends the whole mass to the farther point: each of y1, y2 must "
                                       "receive exactly half of it"),
        Mistake(d1 + d2, "each target receives half of the unit mass: every distance is weighted by the mass "
                         "moved along it"),
        Mistake((x - (y1 + y2) / 2).norm(), "that moves the whole mass to the midpoint of y1 and y2, which is "
                                            "not a target: half the mass must reach y1 and half y2"),
        Mistake(0.5 * (d1**2 + d2**2), "W1 weighs each unit of mass by the distance it travels, not its square "
                                       "(that would be W2 squared)"),
        Mistake((0.5 * (d1**2 + d2**2)).sqrt(), "that is W2: W1 weighs the mass by the distance itself"),
        Mistake(torch.zeros((), dtype=torch.float64), "no transport map exists here, but W1 is still defined: "
                                                      "Kantorovich's plans may split the mass, so the infimum is "
                                                      "over a non-empty set"),
    ]


@register(
    "4.2", SECTION, "Predict: a point mass split in two (no transport map)", 2, "predict_split_cost",
    "list every coupling of the two distributions: where can the mass at x go, and how much of it?",
    reference=transport.split_point_mass_cost, kind="predict",
    hints=("a coupling's marginals are fixed: everything leaves x, and each target receives exactly what it holds; "
           "with a single source point there is only one coupling, so the infimum is its cost",
           "the only plan moves 1/2 from x to y1 and 1/2 from x to y2: W1 = |x - y1| / 2 + |x - y2| / 2 "
           "(Euclidean distances, torch.linalg.vector_norm)"),
)
def check_predict_split_cost(fn) -> None:
    """Exercise 4.2: compares with :func:`~course_utils.s04_wasserstein.transport.split_point_mass_cost`."""
    g = generator(402)
    for d, what in ((1, "points on a line"), (2, "points in the plane"), (3, "points in 3-D")):
        x, y1, y2 = _split_case(g, d)
        ref = transport.split_point_mass_cost(x, y1, y2)
        expect_close(fn(*clone_args(x, y1, y2)), ref, what=f"a unit mass at x to half masses at y1, y2 ({what})",
                     mistakes=_split_mistakes(x, y1, y2), rtol=1e-6, atol=1e-6)
    x = torch.randn(2, generator=g, dtype=torch.float64)
    expect_close(fn(*clone_args(x, x, x)), torch.zeros((), dtype=torch.float64),
                 what="both half masses at x itself (nothing moves, W1 = 0)", atol=1e-6)

# --- 4.3 weight clipping -----------------------------------------------------------------------

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
    "4.3", SECTION, "One weight-clipping step (Algorithm 1, line 7)", 1, "clip_weights",
    "Algorithm 1 changes the critic's parameters themselves (every one of them), not their gradients and not "
    "copies; it is not part of the model's computation",
    reference=wgan.clip_weights, kind="warm-up",
    hints=("loop over critic.parameters() (weights and biases) inside torch.no_grad(), and use an in-place "
           "tensor method (its name ends in an underscore)",
           "with torch.no_grad(): for p in critic.parameters(): p.clamp_(-c, c); then return "
           "list(critic.parameters())"),
)
def check_clip_weights(fn) -> None:
    """Exercise 4.3: compares with :func:`~course_utils.s04_wasserstein.wgan.clip_weights`.

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


# --- 4.4 Algorithm 1's critic updates (a training step) -----------------------------------------

_N_CRITIC, _LR, _CLIP = 3, 0.3, 0.3


def _critic_case(seed: int, lr: float = _LR):
    """A seeded critic 2 -> 8 -> 8 -> 1 (float64), plain SGD over it, and n_critic real and fake batches."""
    g = generator(seed)
    critic = seeded_module(lambda: mlp(2, 1, 8, 2).double(), g)
    opt = torch.optim.SGD(critic.parameters(), lr=lr)
    shift = torch.tensor([1.5, 0.5], dtype=torch.float64)
    x_real = torch.randn(_N_CRITIC, 16, 2, generator=g, dtype=torch.float64) + shift
    x_fake = 0.7 * torch.randn(_N_CRITIC, 12, 2, generator=g, dtype=torch.float64) - shift
    return critic, opt, x_real, x_fake


def _clamp_all(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)


def _buggy_critic_steps(critic, opt, x_real, x_fake, c, bug: str):
    """Algorithm 1's inner loop with one realistic mistake (``bug``), for the check's messages."""
    losses = []
    batches = [(x_real.reshape(-1, x_real.shape[-1]), x_fake.reshape(-1, x_fake.shape[-1]))] if bug == "one step" \
        else list(zip(x_real, x_fake, strict=True))
    for real, fake in batches:
        if bug != "no zero_grad":
            opt.zero_grad()
        if bug == "clip before":
            _clamp_all(critic, c)
        f_real, f_fake = critic(real)[:, 0], critic(fake)[:, 0]
        loss = {"sign": f_real.mean() - f_fake.mean(),
                "abs": f_fake.abs().mean() - f_real.abs().mean(),
                "cross-entropy": F.softplus(-f_real).mean() + F.softplus(f_fake).mean(),
                "sum": f_fake.sum() - f_real.sum()}.get(bug, f_fake.mean() - f_real.mean())
        loss.backward()
        opt.step()
        if bug not in ("no clip", "clip before"):
            _clamp_all(critic, c)
        losses.append(float(loss.detach()))
    return torch.tensor(losses, dtype=torch.float64)


_CRITIC_BUGS = {
    "sign": "the critic went the wrong way: it must ASCEND the gap mean f(real) - mean f(fake), so the loss an "
            "optimiser minimises is its negative, mean f(fake) - mean f(real)",
    "abs": "no absolute values (the slides' slip): the Kantorovich-Rubinstein gap compares E[f(x)], not E|f(x)|",
    "cross-entropy": "that trains a GAN discriminator (sigmoid and log): a critic's scores are not probabilities, "
                     "its loss is linear in them",
    "sum": "average the scores over each batch (a mean, as in the expectations), do not sum them: the step "
           "grows with the batch size",
    "no clip": "the weights after the updates are not clipped: after each update, clamp the critic's own "
               "parameters to [-c, c] in place (a clipped copy leaves the critic as it was)",
    "clip before": "the clipping comes before the update: Algorithm 1 clips after each step (line 7 comes after "
                   "line 6), so the weights the step pushed beyond c are never brought back",
    "no zero_grad": "the gradients accumulate from one update to the next: PyTorch adds each backward pass into "
                    "p.grad, so zero them (opt.zero_grad()) before each backward pass",
    "one step": "make n_critic updates, one per batch pair (x_real[k], x_fake[k]), not one update on all the "
                "points together",
}


def _critic_state(critic) -> torch.Tensor:
    return _flat(p.detach() for p in critic.parameters())


def _critic_step_call(fn, seed: int, names):
    critic, opt, x_real, x_fake = _critic_case(seed)
    got, after = call_with_state(fn, critic, opt, x_real, x_fake, _CLIP)
    state = after[0]
    if not isinstance(state, dict) or any(not isinstance(state.get(n), torch.Tensor) for n in names):
        raise CheckFailed("after your call the critic no longer has its parameters: update them with the "
                          "optimiser (opt.step()) and clamp them in place; do not remove or replace them")
    return got, _flat(state[n] for n in names)


@register(
    "4.4", SECTION, "Algorithm 1's critic updates (WGAN, weight clipping)", 4, "critic_steps",
    "one update per batch pair: the critic moves to widen the Kantorovich-Rubinstein gap between real and "
    "generated scores, through the optimiser you are given, and leaves each update as a clipped critic",
    reference=wgan.critic_steps, kind="training-step",
    hints=("each update: reset the gradients, compute the loss the optimiser must MINIMISE (the critic maximises "
           "the gap), backward, step, then clip; record the loss of each update",
           "for k in range(len(x_real)): opt.zero_grad(); loss = critic(x_fake[k]).mean() - "
           "critic(x_real[k]).mean(); loss.backward(); opt.step(); then, under torch.no_grad(), p.clamp_(-c, c) "
           "for every p in critic.parameters(); return torch.tensor of the losses (floats, before each step)"),
)
def check_critic_steps(fn) -> None:
    """Exercise 4.4: compares with :func:`~course_utils.s04_wasserstein.wgan.critic_steps`.

    A seeded critic (2 -> 8 -> 8 -> 1, float64) and plain SGD (no momentum: a parameter moves by
    exactly -lr * grad, so a wrong gradient shows); every parameter after the student's updates is
    compared with the reference's on an identical copy, then the returned losses.
    """
    seed = 404
    critic, opt, x_real, x_fake = _critic_case(seed)
    names = [name for name, _ in critic.named_parameters()]
    before = _critic_state(critic)
    ref_losses = wgan.critic_steps(critic, opt, x_real, x_fake, _CLIP)
    ref = _critic_state(critic)
    mistakes = [Mistake(before, "the critic's parameters did not change: step the optimiser you are given "
                                "(opt.step() after loss.backward()) and clip the critic's own parameters")]
    for bug, says in _CRITIC_BUGS.items():
        wrong, wrong_opt, r, f = _critic_case(seed)
        _buggy_critic_steps(wrong, wrong_opt, r, f, _CLIP, bug)
        mistakes.append(Mistake(_critic_state(wrong), says))
    what = (f"{_N_CRITIC} updates of a critic (2 -> 8 -> 8 -> 1) with SGD (lr {_LR}), c = {_CLIP}, "
            "batches of 16 real and 12 generated points")
    got, after = _critic_step_call(fn, seed, names)
    expect_close(after, ref, what=f"{what}: the critic's parameters after your call", mistakes=mistakes,
                 rtol=1e-6, atol=1e-9)
    expect_close(got, ref_losses, what=f"{what}: the losses you returned", mistakes=[
        Mistake(-ref_losses, "return the loss the optimiser minimised, mean f(fake) - mean f(real) (the negative "
                             "of the gap)"),
    ], rtol=1e-6, atol=1e-9)


# --- 4.5 the gradient penalty --------------------------------------------------------------------

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
    "4.5", SECTION, "The gradient penalty (WGAN-GP)", 3, "gradient_penalty",
    "the penalty looks at the critic's slope (its gradient with respect to its input) at points between the "
    "real and the generated batch; it must stay differentiable with respect to the critic's weights",
    reference=wgan.gradient_penalty, kind="warm-up",
    hints=("build the interpolates from eps, make them a leaf that requires gradients, and ask "
           "torch.autograd.grad for the gradient of the scores' sum with create_graph=True",
           "x_hat = (eps * x_real + (1 - eps) * x_fake).detach().requires_grad_(True); "
           "(grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True); "
           "return ((grad.norm(dim=1) - 1) ** 2).mean()"),
)
def check_gradient_penalty(fn) -> None:
    """Exercise 4.5: compares with :func:`~course_utils.s04_wasserstein.wgan.gradient_penalty`."""
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


# --- 4.6 build: the generator's gradient through the critic ---------------------------------------

def _gen_grad_mistakes(critic, x_fake):
    m = len(x_fake)
    slope = _input_grad(critic, x_fake)  # grad f at each point, (m, d)
    x = x_fake.detach().clone().requires_grad_(True)
    scores = critic(x)[:, 0]
    (non_saturating,) = torch.autograd.grad(F.softplus(-scores).mean(), x)
    return [
        Mistake(slope / m, "wrong sign: that is the direction the samples MOVE (up the critic's slope), minus the "
                           "gradient. The generator's loss is -E[f(g(z))], so its gradient is minus the critic's "
                           "slope, over m"),
        Mistake(-slope, "the loss is a mean over the batch, so each generated point carries 1/m of it: divide by "
                        "the batch size"),
        Mistake(slope, "two slips: the generator's loss is MINUS the critic's mean score, and a mean gives each "
                       "point 1/m"),
        Mistake(-slope / slope.norm(dim=1, keepdim=True).clamp_min(1e-12) / m,
                "do not normalise the critic's slope: its size is part of the gradient (for a 1-Lipschitz "
                "critic it is at most 1)"),
        Mistake(non_saturating, "that is the non-saturating GAN loss -log sigmoid(f): a critic's score is not a "
                                "logit, the WGAN generator's loss is linear in it"),
        Mistake(-slope.mean(0, keepdim=True).expand_as(slope) / 1.0,
                "return one gradient per generated point (shape (m, d)), each point's own"),
    ]


@register(
    "4.6", SECTION, "Build: the generator's gradient through the critic", 3, "generator_grad",
    "write down the generator's loss on the batch (section 7: what does line 10 of Algorithm 1 descend?), then "
    "differentiate it with respect to the generated points, not the weights",
    reference=wgan.generator_grad, kind="build",
    hints=("make the generated points a leaf that requires gradients (x_fake.detach().clone().requires_grad_()), "
           "evaluate the loss through the critic, and ask torch.autograd.grad for its gradient with respect to "
           "those points",
           "loss = -critic(x).mean() (the mean over the m points); grad = torch.autograd.grad(loss, x)[0], which "
           "is -(1/m) grad f(x_i) in row i"),
)
def check_generator_grad(fn) -> None:
    """Exercise 4.6: compares with :func:`~course_utils.s04_wasserstein.wgan.generator_grad`."""
    g = generator(406)
    critic = seeded_module(lambda: mlp(2, 1, 16, 2).double(), g)
    x_fake = 1.5 * torch.randn(24, 2, generator=g, dtype=torch.float64)
    ref = wgan.generator_grad(critic, x_fake)
    what = "a critic (2 -> 16 -> 16 -> 1) and 24 generated points"
    expect_close(fn(copy.deepcopy(critic), x_fake.clone()), ref, what=what,
                 mistakes=_gen_grad_mistakes(critic, x_fake), rtol=1e-6, atol=1e-9)
    linear = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        linear.weight.copy_(torch.randn(1, 3, generator=g, dtype=torch.float64))
        linear.bias.copy_(torch.randn(1, generator=g, dtype=torch.float64))
    x3 = torch.randn(10, 3, generator=g, dtype=torch.float64)
    expect_close(fn(copy.deepcopy(linear), x3.clone()), wgan.generator_grad(linear, x3),
                 what="a linear critic f(x) = w.x + b on 10 points in 3-D (every row is -w / 10)",
                 mistakes=_gen_grad_mistakes(linear, x3), rtol=1e-6, atol=1e-9)
