"""Checks for notebook 06: SDEs, Brownian motion, Langevin dynamics and score matching.

Each check calls the student's function on inputs drawn from a fixed-seed generator,
compares with the reference in :mod:`~.sde`, :mod:`~.langevin`,
:mod:`course_utils.s05_flow_matching.probability_paths` and :mod:`~.score_matching`, and names the likely
mistake when it can (h where sqrt(h) belongs, a noise not matched to the step, the score's
sign, beta_t where beta_t^2 belongs, ...).
"""

from __future__ import annotations

import math

import torch

from ..core.nets import TimeMLP
from ..data.mixtures import GaussianMixture
from ..grading.compare import (
    Mistake,
    call_with_grad,
    clone_args,
    expect_close,
    generator,
    seeded_module,
    to_plain_tensor,
)
from ..grading.core import CheckFailed, register
from ..s05_flow_matching import probability_paths
from . import langevin, score_matching, sde

SECTION = "06"


def _f64(*shape, g, scale=1.0):
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


def _time_mlp(g: torch.Generator, **kwargs) -> TimeMLP:
    """A TimeMLP whose weights are drawn from ``g`` (see :func:`~course_utils.grading.compare.seeded_module`)."""
    return seeded_module(lambda: TimeMLP(**kwargs), g)


# --- 6.1 Brownian paths ----------------------------------------------------------------------------


def _zero_row(w: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.zeros_like(w[:1]), w], dim=0)


@register(
    "6.1", SECTION, "Simulating Brownian paths", 1, "brownian_paths",
    "start at W_0 = 0 and add one increment sqrt(h) * eps[k] per step (a cumulative sum over the time axis, "
    "axis 0); return n_steps + 1 rows",
    reference=sde.brownian_paths,
)
def check_brownian_paths(fn) -> None:
    """Exercise 6.1: compares with :func:`~course_utils.s06_sde_langevin.sde.brownian_paths`."""
    g = generator(61)
    for n_steps, n, d, h in ((50, 30, 2, 0.02), (8, 5, 1, 0.25)):
        eps = _f64(n_steps, n, d, g=g)
        ref = sde.brownian_paths(eps, h)
        mistakes = [
            Mistake(_zero_row((h * eps).cumsum(0)), "h where sqrt(h) belongs: an increment W_{t+h} - W_t has "
                                                    "variance h, so it is sqrt(h) * eps"),
            Mistake((math.sqrt(h) * eps).cumsum(0), "start the path at W_0 = 0: return n_steps + 1 rows, the "
                                                    "first one zero"),
            Mistake(_zero_row(math.sqrt(h) * eps), "add the increments up: W_{t+h} = W_t + sqrt(h) eps "
                                                   "is a cumulative sum over time"),
            Mistake(_zero_row((math.sqrt(h) * eps).cumsum(1)), "sum over time (axis 0), not over the paths"),
            Mistake(_zero_row((math.sqrt(h) * eps).cumsum(0))[:-1], "return all n_steps + 1 times, from W_0 = 0 "
                                                                    "to W_{n h}"),
        ]
        expect_close(fn(*clone_args(eps), h), ref, what=f"eps of shape {(n_steps, n, d)} and h = {h}",
                     mistakes=mistakes)


# --- 6.2 one Euler-Maruyama step --------------------------------------------------------------------


def _em_drift(x, t):
    """A drift that depends on x and t: v_t(x) = -1.5 x + 2 sin(3 t); t a number or a tensor (n, 1)."""
    t = torch.as_tensor(t, dtype=x.dtype)
    return -1.5 * x + 2.0 * torch.sin(3.0 * t) * torch.ones_like(x)


@register(
    "6.2", SECTION, "One Euler-Maruyama step", 1, "euler_maruyama_step",
    "X_{t+h} = X_t + h * drift(X_t, t) + sqrt(h) * sigma_t * eps: the drift is evaluated at the current "
    "point and time, and the noise scales with sqrt(h)",
    reference=sde.euler_maruyama_step,
)
def check_euler_maruyama_step(fn) -> None:
    """Exercise 6.2: compares with :func:`~course_utils.s06_sde_langevin.sde.euler_maruyama_step`."""
    g = generator(62)
    x = _f64(40, 2, g=g, scale=1.5)
    eps = _f64(40, 2, g=g)
    for t, h, sigma_t in ((0.3, 0.05, 0.7), (0.6, 0.2, 2.5), (0.1, 0.1, 0.0)):
        d = _em_drift(x, t)
        ref = x + h * d + math.sqrt(h) * sigma_t * eps
        mistakes = [
            Mistake(x + h * d + h * sigma_t * eps, "h where sqrt(h) belongs: over a step h the Brownian increment "
                                                   "has standard deviation sqrt(h)"),
            Mistake(x + h * d + math.sqrt(h) * sigma_t**2 * eps, "sigma_t multiplies dW as it is (a standard "
                                                                 "deviation), not squared"),
            Mistake(x + d + math.sqrt(h) * sigma_t * eps, "multiply the drift by the step h"),
            Mistake(x + math.sqrt(h) * d + math.sqrt(h) * sigma_t * eps, "the drift term is h * v_t(X_t); sqrt(h) "
                                                                         "is for the noise only"),
            Mistake(x + h * _em_drift(x, t + h) + math.sqrt(h) * sigma_t * eps,
                    "evaluate the drift at the current time t (an explicit step), not at t + h"),
            Mistake(x + h * d + math.sqrt(h) * eps, "scale the noise by sigma_t"),
            Mistake(x + h * d, "add the noise sqrt(h) * sigma_t * eps: without it this is Euler's method for the ODE"),
        ]
        what = f"t = {t}, h = {h}, sigma_t = {sigma_t} and a time-dependent drift"
        expect_close(fn(_em_drift, *clone_args(x), t, h, sigma_t, eps.clone()), ref, what=what,
                     mistakes=mistakes if sigma_t else mistakes[2:5])


# --- 6.3 the score of a Gaussian mixture -----------------------------------------------------------


def _mixture_case(seed: int):
    g = generator(seed)
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    means = _f64(3, 2, g=g, scale=1.5)
    variances = torch.tensor([0.3, 1.0, 0.6], dtype=torch.float64)
    x = _f64(50, 2, g=g, scale=2.0)
    return x, weights, means, variances


def _score_with(x, means, variances, r):
    return (r[..., None] * (means - x[:, None, :]) / variances[:, None]).sum(1)


@register(
    "6.3", SECTION, "The score of a Gaussian mixture", 2, "mixture_score",
    "grad log p(x) = sum_k r_k(x) (m_k - x) / s_k^2, with the responsibilities r_k(x) = p(k | x) "
    "(a softmax of log pi_k + log N(x; m_k, s_k^2 I) over k)",
    reference=sde.mixture_score,
)
def check_mixture_score(fn) -> None:
    """Exercise 6.3: compares with :func:`~course_utils.s06_sde_langevin.sde.mixture_score`."""
    x, weights, means, variances = _mixture_case(63)
    mix = GaussianMixture(weights, means, variances)
    ref = mix.score(x)
    d = x.shape[1]
    sq = ((x[:, None, :] - means) ** 2).sum(-1)
    density = torch.exp(-0.5 * sq / variances) / (2 * math.pi * variances) ** (d / 2)      # (n, K)
    no_pi = density / density.sum(1, keepdim=True)
    no_norm = torch.softmax(torch.log(weights) - 0.5 * sq / variances, dim=1)
    k = len(weights)
    mistakes = [
        Mistake(-ref, "the score's sign: it points towards higher density, sum_k r_k (m_k - x) / s_k^2"),
        Mistake(_score_with(x, means, variances, weights.expand(len(x), k)),
                "weight each component by its responsibility r_k(x) = p(k | x), not by pi_k: the weights depend on x"),
        Mistake(_score_with(x, means, variances, torch.full((len(x), k), 1 / k, dtype=torch.float64)),
                "weight each component by its responsibility r_k(x) = p(k | x), not equally"),
        Mistake(_score_with(x, means, variances, no_pi), "the responsibilities include the mixing weights: "
                                                         "r_k ∝ pi_k N(x; m_k, s_k^2 I)"),
        Mistake(_score_with(x, means, variances, no_norm), "keep the Gaussians' normalising constants "
                                                           "(2 pi s_k^2)^(-d/2) in the responsibilities: they differ "
                                                           "between components"),
        Mistake(_score_with(x, means, variances.sqrt(), mix.responsibilities(x)),
                "divide by the variance s_k^2, not by the standard deviation"),
        Mistake(ref * mix.log_prob(x).exp()[:, None], "that is the gradient of p(x); the score is the gradient of "
                                                      "log p(x), i.e. divided by p(x)"),
    ]
    expect_close(fn(*clone_args(x, weights, means, variances)), ref,
                 what="50 points and a mixture of 3 Gaussians in 2-D", mistakes=mistakes)
    one = GaussianMixture(torch.ones(1, dtype=torch.float64), means[:1], variances[1:2])
    expect_close(fn(*clone_args(x, one.weights, one.means, one.variances)), -(x - means[:1]) / variances[1],
                 what="a single Gaussian N(m, s^2 I) (the score is -(x - m) / s^2)")


# --- 6.4 one Langevin step ------------------------------------------------------------------------


_LANGEVIN_TARGET = GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-1.0, 0.5], [1.5, -0.5]]),
                                   torch.tensor([0.5, 0.3]))


LANGEVIN_CONVENTION = (
    "that is the other convention for the step, X + (eta / 2) grad log p(X) + sqrt(eta) xi (Welling & Teh, Song & "
    "Ermon), a convention slip rather than a wrong chain: it is this notebook's step with eta / 2 in place of eta. "
    "The notebook (like the slide) writes X + eta grad log p(X) + sqrt(2 eta) xi: the score times the step eta, "
    "and a noise of variance 2 eta")


def _langevin_score(x):
    """The score of a fixed 2-D mixture of two Gaussians, shape (n, 2)."""
    return _LANGEVIN_TARGET.score(x).to(torch.as_tensor(x).dtype)


@register(
    "6.4", SECTION, "One Langevin step", 2, "langevin_step",
    "X + eta * score(X) + sqrt(2 * eta) * xi: the drift climbs log p, and the noise must match the step "
    "(its variance is 2 eta)",
    reference=langevin.langevin_step,
)
def check_langevin_step(fn) -> None:
    """Exercise 6.4: compares with :func:`~course_utils.s06_sde_langevin.langevin.langevin_step`."""
    g = generator(64)
    x = _f64(60, 2, g=g, scale=1.5)
    xi = _f64(60, 2, g=g)
    s = _langevin_score(x)
    etas = (0.05, 0.3)
    outs = [to_plain_tensor(fn(_langevin_score, *clone_args(x), eta, xi.clone())) for eta in etas]
    if all(o.shape == x.shape for o in outs):
        noise = [o - x - eta * s for o, eta in zip(outs, etas, strict=True)]
        refs = [langevin.langevin_step(_langevin_score, x, eta, xi) for eta in etas]
        wrong = not all(torch.allclose(o, r) for o, r in zip(outs, refs, strict=True))
        if wrong and torch.allclose(noise[0], noise[1]) and not torch.allclose(noise[0], torch.zeros_like(x)):
            raise CheckFailed("your noise term does not change with the step eta: the noise must be matched to "
                              "the step, sqrt(2 * eta) * xi (a fixed noise scale sqrt(2 alpha) samples a tempered "
                              "density p^(eta/alpha), not p; see the note on the slides)")
    for eta, out in zip(etas, outs, strict=True):
        ref = langevin.langevin_step(_langevin_score, x, eta, xi)
        mistakes = [
            Mistake(x + eta / 2 * s + math.sqrt(eta) * xi, LANGEVIN_CONVENTION),
            Mistake(x + eta * s + math.sqrt(eta) * xi, "the noise is sqrt(2 * eta) * xi: its variance is twice the "
                                                       "step"),
            Mistake(x + eta * s + eta * xi, "h where sqrt(h) belongs: the noise scales with sqrt(2 * eta), not "
                                            "with eta"),
            Mistake(x + eta * s + math.sqrt(2) * eta * xi, "h where sqrt(h) belongs: the noise is sqrt(2 * eta) * xi"),
            Mistake(x + eta * s + 2 * eta * xi, "h where sqrt(h) belongs: the noise is sqrt(2 * eta) * xi"),
            Mistake(x - eta * s + math.sqrt(2 * eta) * xi, "the score's sign: the drift climbs log p, "
                                                           "+ eta * grad log p(X)"),
            Mistake(x + s + math.sqrt(2 * eta) * xi, "multiply the score by the step eta"),
            Mistake(x + eta * s, "add the noise sqrt(2 * eta) * xi: without it the chain only climbs to a mode"),
        ]
        expect_close(out, ref, what=f"60 points of a 2-D mixture and eta = {eta}", mistakes=mistakes)


# --- 6.5 score -> velocity on a Gaussian path ----------------------------------------------------------


@register(
    "6.5", SECTION, "Converting a score into a velocity", 2, "score_to_velocity",
    "u_t(x) = (d_alpha_t / alpha_t) x + (beta_t^2 d_alpha_t / alpha_t - d_beta_t beta_t) score",
    reference=probability_paths.score_to_velocity,
)
def check_score_to_velocity(fn) -> None:
    """Exercise 6.5: compares with :func:`~course_utils.s05_flow_matching.probability_paths.score_to_velocity`."""
    g = generator(65)
    n = 40
    x, score = _f64(n, 2, g=g, scale=1.5), _f64(n, 2, g=g, scale=2.0)
    t = 0.05 + 0.9 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    for name in ("linear", "cosine"):
        s = probability_paths.gaussian_path(name)
        a, b, da, db = s.alpha(t), s.beta(t), s.d_alpha(t), s.d_beta(t)
        ref = probability_paths.score_to_velocity(score, x, t, name)
        mistakes = [
            Mistake(da / a * x + (b * da / a - db * b) * score, "beta_t where beta_t^2 belongs: the score's "
                                                                "coefficient is beta_t^2 d_alpha_t / alpha_t - "
                                                                "d_beta_t beta_t"),
            Mistake(da / a * x + (b**2 * da / a + db * b) * score, "the sign of the d_beta_t term: "
                                                                   "- d_beta_t beta_t (positive, as d_beta_t < 0)"),
            Mistake((b**2 * da / a - db * b) * score, "add the term (d_alpha_t / alpha_t) x"),
            Mistake(a / da * x + (b**2 * da / a - db * b) * score, "the coefficient of x is d_alpha_t / alpha_t"),
            Mistake(da / a * x + b**2 * da / a * score, "the score's coefficient has two terms: "
                                                        "beta_t^2 d_alpha_t / alpha_t - d_beta_t beta_t"),
            Mistake(probability_paths.velocity_to_score(score, x, t, name),
                    "that is the inverse conversion, velocity -> score"),
        ]
        got = fn(*clone_args(score, x, a, b, da, db))
        expect_close(got, ref, what=f"the {name} path at 40 times in (0.05, 0.95)", mistakes=mistakes)


# --- 6.6 the drift of the SDE with the path's marginals ---------------------------------------------


@register(
    "6.6", SECTION, "The drift of an SDE that follows p_t", 1, "sde_drift",
    "Theorem 2: add (sigma_t^2 / 2) times the score to the velocity",
    reference=sde.sde_drift,
)
def check_sde_drift(fn) -> None:
    """Exercise 6.6: compares with :func:`~course_utils.s06_sde_langevin.sde.sde_drift`."""
    g = generator(66)
    v, score = _f64(30, 2, g=g), _f64(30, 2, g=g, scale=3.0)
    sigma = 0.3 + 1.4 * torch.rand(30, 1, generator=g, dtype=torch.float64)
    for sigma_t, what in ((sigma, "sigma_t of shape (30, 1)"), (0.8, "sigma_t = 0.8")):
        ref = sde.sde_drift(v, score, sigma_t)
        mistakes = [
            Mistake(v + 0.5 * sigma_t * score, "the score is weighted by sigma_t^2 / 2 (the variance), "
                                               "not sigma_t / 2"),
            Mistake(v + sigma_t**2 * score, "keep the 1/2: sigma_t^2 / 2 times the score"),
            Mistake(v - 0.5 * sigma_t**2 * score, "plus the score: the SDE's noise spreads the particles, and the "
                                                  "score term pulls them back up the density"),
            Mistake(v + sigma_t * score, "the weight is sigma_t^2 / 2"),
            Mistake(0.5 * sigma_t**2 * score, "add the velocity u_t(x): the drift is u_t + (sigma_t^2 / 2) score"),
        ]
        expect_close(fn(*clone_args(v, score), sigma_t.clone() if torch.is_tensor(sigma_t) else sigma_t), ref,
                     what=what, mistakes=mistakes)


# --- 6.7 denoising score matching -------------------------------------------------------------------


def _dsm_case(seed: int):
    g = generator(seed)
    n = 64
    z = _f64(n, 2, g=g, scale=1.5)
    eps = _f64(n, 2, g=g)
    t = 0.05 + 0.9 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    model = _time_mlp(g, dim=2, width=16, depth=1, time_dim=8)
    with torch.no_grad():
        model.net[-1].weight.mul_(20.0)  # a score of the size of eps / beta_t, so that each slip shows
    return model, z, t, eps


@register(
    "6.7", SECTION, "The denoising score matching loss", 2, "dsm_loss",
    "x = alpha_t z + beta_t eps; the conditional score there is -eps / beta_t; average "
    "||score_model(x, t) + eps / beta_t||^2 (summed over coordinates) over the batch",
    reference=score_matching.dsm_loss,
)
def check_dsm_loss(fn) -> None:
    """Exercise 6.7: compares with :func:`~course_utils.s06_sde_langevin.score_matching.dsm_loss`."""
    model, z, t, eps = _dsm_case(67)
    s = probability_paths.gaussian_path("linear")
    a, b = s.alpha(t), s.beta(t)
    ref = score_matching.dsm_loss(model, z, t, eps, a, b)
    with torch.no_grad():
        x = a * z + b * eps
        sx = model(x, t)
        sq = lambda r: (r**2).sum(-1).mean()  # noqa: E731
        mistakes = [
            Mistake(sq(sx + eps), "beta_t where beta_t^2 belongs: the conditional score is -(x - alpha_t z) / "
                                  "beta_t^2 = -eps / beta_t"),
            Mistake(sq(sx + eps / b**2), "x - alpha_t z = beta_t eps, so the conditional score -(x - alpha_t z) / "
                                         "beta_t^2 is -eps / beta_t: one power of beta_t cancels"),
            Mistake(sq(sx - eps / b), "the sign: the conditional score is -eps / beta_t, so the loss is "
                                      "||s + eps / beta_t||^2"),
            Mistake(((sx + eps / b) ** 2).mean(), "the squared norm sums over the coordinates; only the batch "
                                                  "is averaged"),
            Mistake(((sx + eps / b) ** 2).sum(-1).sum(), "average over the batch, do not sum"),
            Mistake(sq(b * sx + eps), "that is the loss weighted by beta_t^2 (noise prediction); the slide's "
                                      "loss has no weight"),
            Mistake(sq(model(z, t) + eps / b), "evaluate the network at the noisy point x = alpha_t z + beta_t eps, "
                                               "not at the data z"),
            Mistake(sq(model(z + b * eps, t) + eps / b), "x = alpha_t z + beta_t eps: you left out alpha_t"),
        ]
    value, grads = call_with_grad(fn, model, *clone_args(z, t, eps, a, b), wrt=(0,))
    if grads is None or all(gr is None for gr in grads[0]):
        raise CheckFailed("no gradient reaches the network's parameters: compute the loss with torch operations "
                          "on score_model's output (no .item(), .detach() or numpy), or it cannot train")
    expect_close(value, ref.detach(), what="a batch of 64 points of the linear path and a small network",
                 mistakes=mistakes, rtol=1e-4, atol=1e-6)
    cosine = probability_paths.gaussian_path("cosine")
    expect_close(fn(model, *clone_args(z, t, eps), cosine.alpha(t), cosine.beta(t)),
                 score_matching.dsm_loss(model, z, t, eps, cosine.alpha(t), cosine.beta(t)).detach(),
                 what="the same batch on the cosine path", rtol=1e-4, atol=1e-6)
