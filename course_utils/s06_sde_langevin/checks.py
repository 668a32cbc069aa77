"""Checks for notebook 06: SDEs, Brownian motion, Langevin dynamics and score matching.

Each check calls the student's function on inputs drawn from a fixed-seed generator,
compares with the reference in :mod:`~.sde`, :mod:`~.langevin`,
:mod:`course_utils.s05_flow_matching.probability_paths` and :mod:`~.score_matching`, and names the likely
mistake when it can (h where sqrt(h) belongs, a noise not matched to the step, the score's
sign, beta_t where beta_t^2 belongs, ...).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ..core.threads import one_thread
from ..data.mixtures import GaussianMixture
from ..grading.compare import (
    Mistake,
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
from ..s05_flow_matching import probability_paths
from . import langevin, score_matching, sde

SECTION = "06"


def _on_one_thread(check):
    """Run a check on one torch thread: its tensors are tiny, and on a busy machine the pool costs seconds."""

    @functools.wraps(check)
    def run(fn) -> None:
        with one_thread():
            check(fn)

    return run


def _f64(*shape, g, scale=1.0):
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


# --- 6.1 one Euler-Maruyama step --------------------------------------------------------------------


def _em_drift(x, t):
    """A drift that depends on x and t: v_t(x) = -1.5 x + 2 sin(3 t); t a number or a tensor (n, 1)."""
    t = torch.as_tensor(t, dtype=x.dtype)
    return -1.5 * x + 2.0 * torch.sin(3.0 * t) * torch.ones_like(x)


@register(
    "6.1", SECTION, "One Euler-Maruyama step", 1, "euler_maruyama_step",
    "over one step h, the drift moves the point as Euler's method would; the noise is sigma_t times the Brownian "
    "increment W_{t+h} - W_t: what is that increment's variance?",
    reference=sde.euler_maruyama_step, kind="warm-up",
    hints=(
        "the drift is evaluated at the current point and time (an explicit step) and multiplied by h; "
        "W_{t+h} - W_t ~ N(0, h I), so it is sqrt(h) * eps, and sigma_t multiplies it as it is (a standard deviation)",
        "X_{t+h} = X_t + h * drift(X_t, t) + sqrt(h) * sigma_t * eps",
    ),
)
@_on_one_thread
def check_euler_maruyama_step(fn) -> None:
    """Exercise 6.1: compares with :func:`~course_utils.s06_sde_langevin.sde.euler_maruyama_step`."""
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


# --- 6.2 the score of a Gaussian mixture -----------------------------------------------------------


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
    "6.2", SECTION, "The score of a Gaussian mixture", 2, "mixture_score",
    "log p(x) is the log of a sum over the components: differentiate it with the chain rule, and look at what "
    "weights each component's own score",
    reference=sde.mixture_score, kind="build",
    hints=(
        "write log p(x) = log sum_k exp(a_k(x)) with a_k(x) = log pi_k + log N(x; m_k, s_k^2 I). The gradient of a "
        "log-sum-exp is sum_k softmax_k(a(x)) grad a_k(x): the softmax is the responsibility r_k(x) = p(k | x)",
        "grad a_k(x) is the score of component k alone, (m_k - x) / s_k^2; the responsibilities need all of "
        "a_k, the normalising constant -(d/2) log(2 pi s_k^2) included (it differs between components)",
        "grad log p(x) = sum_k r_k(x) (m_k - x) / s_k^2, r = softmax_k(log pi_k - (d/2) log(2 pi s_k^2) "
        "- ||x - m_k||^2 / (2 s_k^2))",
    ),
)
@_on_one_thread
def check_mixture_score(fn) -> None:
    """Exercise 6.2: compares with :func:`~course_utils.s06_sde_langevin.sde.mixture_score`."""
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



# --- 6.3 find the bug: the Langevin sampler ----------------------------------------------------------


_LANGEVIN_TARGET = GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-1.0, 0.5], [1.5, -0.5]]),
                                   torch.tensor([0.5, 0.3]))


LANGEVIN_CONVENTION = (
    "that is the other convention for the step, X + (eta / 2) grad log p(X) + sqrt(eta) xi (Welling & Teh, Song & "
    "Ermon), a convention slip rather than a wrong chain: it is this notebook's step with eta / 2 in place of eta. "
    "The notebook writes the drift as the score times the step eta")

#: The provided (buggy) sampler's noise constant: the slide's "alpha a small constant".
_SLIDE_ALPHA = 0.01


def _langevin_score(x):
    """The score of a fixed 2-D mixture of two Gaussians, shape (n, 2)."""
    return _LANGEVIN_TARGET.score(x).to(torch.as_tensor(x).dtype)


def _sampler_variant(x0, eta, xi, *, noise, drift=1.0, steps=None):
    """The Langevin loop with a chosen noise scale and drift factor, over ``xi[steps]``."""
    x = x0.clone()
    for xi_k in (xi if steps is None else xi[steps]):
        x = x + drift * eta * _langevin_score(x) + noise * xi_k
    return x


@register(
    "6.3", SECTION, "Find the bug: a Langevin sampler", 2, "langevin_sampler",
    "run the provided sampler with two different steps eta and look at the size of its noise: which density does "
    "it sample? Compare with the note on the slides",
    reference=langevin.langevin_sampler, kind="find-the-bug",
    hints=(
        "the sampler follows the slide: its noise scale is a constant, set once, that does not change with the "
        "step. The drift eta * grad log p is right; a chain whose noise does not match its step samples a "
        "tempered density p^(eta / alpha), not p",
        "the noise of each step must have variance 2 eta (matched to the step): replace the slide's constant "
        "alpha by eta, and nothing else",
        "x = x + eta * score(x) + math.sqrt(2 * eta) * xi_k for each xi_k in xi; return x",
    ),
)
@_on_one_thread
def check_langevin_sampler(fn) -> None:
    """Exercise 6.3: compares with :func:`~course_utils.s06_sde_langevin.langevin.langevin_sampler`.

    First one step at two step sizes, to see whether the noise follows the step; then 6 steps from 40 points
    at two step sizes, against the reference and the provided sampler's behaviour.
    """
    g = generator(63)
    x0 = _f64(40, 2, g=g, scale=1.5)
    xi = _f64(6, 40, 2, g=g)
    etas = (0.05 + 0.1 * float(torch.rand(1, generator=g)), 0.3 + 0.2 * float(torch.rand(1, generator=g)))
    one = [to_plain_tensor(fn(_langevin_score, x0.clone(), eta, xi[:1].clone())) for eta in etas]
    if all(o.shape == x0.shape for o in one):
        noise = [o - x0 - eta * _langevin_score(x0) for o, eta in zip(one, etas, strict=True)]
        refs = [langevin.langevin_sampler(_langevin_score, x0, eta, xi[:1]) for eta in etas]
        wrong = not all(torch.allclose(o, r) for o, r in zip(one, refs, strict=True))
        if wrong and torch.allclose(noise[0], noise[1]) and not torch.allclose(noise[0], torch.zeros_like(x0)):
            raise CheckFailed("this is still the provided function's behaviour: with the drift right, the noise of "
                              "a step does not change with eta. A noise scale not matched to the step samples a "
                              "tempered density, not p (see the note on the slides)")
    for eta in etas:
        ref = langevin.langevin_sampler(_langevin_score, x0, eta, xi)
        mistakes = [
            Mistake(_sampler_variant(x0, eta, xi, noise=math.sqrt(2 * _SLIDE_ALPHA)),
                    "this is still the provided function's behaviour: its noise does not follow the step eta"),
            Mistake(_sampler_variant(x0, eta / 2, xi, noise=math.sqrt(eta)), LANGEVIN_CONVENTION),
            Mistake(_sampler_variant(x0, eta, xi, noise=math.sqrt(eta)), "the noise's variance is twice the step"),
            Mistake(_sampler_variant(x0, eta, xi, noise=eta), "the noise's standard deviation grows like the square "
                                                              "root of the step, not like the step"),
            Mistake(_sampler_variant(x0, eta, xi, noise=2 * eta), "the noise's standard deviation grows like the "
                                                                  "square root of the step"),
            Mistake(_sampler_variant(x0, eta, xi, noise=math.sqrt(2 * eta), drift=-1.0),
                    "the drift's sign: the chain climbs log p"),
            Mistake(_sampler_variant(x0, eta, xi, noise=0.0), "keep the noise: without it the chain only climbs to a "
                                                              "mode"),
            Mistake(_sampler_variant(x0, eta, xi, noise=math.sqrt(2 * eta), steps=slice(1, None)),
                    "take one step per row of xi: all K of them, the first one included"),
        ]
        expect_close(fn(_langevin_score, x0.clone(), eta, xi.clone()), ref,
                     what=f"6 steps from 40 points of a 2-D mixture with eta = {eta:.3f}", mistakes=mistakes)
    expect_close(fn(_langevin_score, x0.clone(), etas[0], xi[:0].clone()), x0,
                 what="K = 0 steps (the sampler returns its start)")


# --- 6.4 predict the stationary variance of Langevin on a Gaussian -----------------------------------------


@register(
    "6.4", SECTION, "Predict the variance a Langevin chain settles at", 2, "predict_stationary_variance",
    "on a Gaussian the chain is linear, X' = a X + b + noise: once it is stationary, X' and X have the same "
    "variance. Write that equation and solve it",
    reference=langevin.gaussian_stationary_variance, kind="predict",
    hints=(
        "with the score -(x - m) / s^2 the step is X' = (1 - eta / s^2) X + eta m / s^2 + sqrt(2 alpha) xi; the "
        "constant does not change a variance, and the noise is independent of X",
        "so v = (1 - eta / s^2)^2 v + 2 alpha: solve for v (it exists only while |1 - eta / s^2| < 1)",
        "v = 2 alpha / (1 - (1 - eta / s^2)^2) = (alpha / eta) s^2 / (1 - eta / (2 s^2))",
    ),
)
@_on_one_thread
def check_predict_stationary_variance(fn) -> None:
    """Exercise 6.4: compares with :func:`~course_utils.s06_sde_langevin.langevin.gaussian_stationary_variance`."""
    g = generator(64)
    u = torch.rand(4, 3, generator=g, dtype=torch.float64).tolist()
    cases = [(0.3 + 1.5 * a, (0.05 + 0.4 * b) * 2 * (0.3 + 1.5 * a), c) for a, b, c in u]
    cases[-1] = (cases[-1][0], 1.5 * cases[-1][0] + 0.3 * cases[-1][0] * u[-1][1], cases[-1][2])  # a large step
    for k, (var, eta, c) in enumerate(cases):
        alpha = eta * (1.0 if k == 1 else 0.5 + 1.5 * c)  # one matched chain (alpha = eta), the others not
        ref = langevin.gaussian_stationary_variance(var, eta, alpha)
        a = 1 - eta / var
        mistakes = [
            Mistake(torch.tensor(alpha / eta * var), "that is the limit of small steps (the tempered Gaussian's "
                                                     "variance): at a finite step the chain overshoots, which adds "
                                                     "variance"),
            Mistake(torch.tensor(var), "that is p's own variance s^2: the chain reaches it only for small matched "
                                       "steps"),
            Mistake(torch.tensor(2 * alpha / (1 - a)), "the factor (1 - eta / s^2) multiplies X, so it multiplies "
                                                        "the variance squared"),
            Mistake(torch.tensor(alpha / (1 - a**2)), "the noise sqrt(2 alpha) xi has variance 2 alpha"),
            Mistake(torch.tensor(math.sqrt(2 * alpha) / (1 - a**2)), "the noise sqrt(2 alpha) xi has variance "
                                                                      "2 alpha (square the standard deviation)"),
            Mistake(torch.tensor(eta / alpha * var / (1 - eta / (2 * var))), "the temperature is alpha / eta: more "
                                                                              "noise, more variance"),
            Mistake(torch.tensor(math.sqrt(ref)), "return the variance, not the standard deviation"),
        ]
        expect_close(fn(var, eta, alpha), torch.tensor(ref, dtype=torch.float64),
                     what=f"s^2 = {var:.3f}, eta = {eta:.3f}, alpha = {alpha:.3f}", mistakes=mistakes,
                     rtol=1e-4, atol=1e-6)


# --- 6.5 score -> velocity on a Gaussian path ----------------------------------------------------------


@register(
    "6.5", SECTION, "Converting a score into a velocity", 2, "score_to_velocity",
    "both the score (Tweedie) and the velocity are written with the posterior mean E[z | x]: solve one for "
    "E[z | x] and put it into the other",
    reference=probability_paths.score_to_velocity, kind="build",
    hints=(
        "from Tweedie, alpha_t E[z | x] = x + beta_t^2 * score, so x - alpha_t E[z | x] = -beta_t^2 * score; "
        "substitute both into u_t = d_alpha_t E[z | x] + (d_beta_t / beta_t) (x - alpha_t E[z | x])",
        "E[z | x] = (x + beta_t^2 score) / alpha_t: the first term gives (d_alpha_t / alpha_t)(x + beta_t^2 score), "
        "the second - d_beta_t beta_t score. Collect the terms in x and in the score",
        "u_t(x) = (d_alpha_t / alpha_t) x + (beta_t^2 d_alpha_t / alpha_t - d_beta_t beta_t) score",
    ),
)
@_on_one_thread
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



# --- 6.6 one step of weighted denoising score matching --------------------------------------------------

_LR_DSM = 0.05


class _TinyScoreNet(nn.Module):
    """A float64 score network s(x (n, 2), t (n, 1)) -> (n, 2): an MLP on [x, t, cos(pi t)], 12 tanh units."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 12), nn.Tanh(), nn.Linear(12, 2)).double()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1).expand(x.shape[0], 1)
        return 3.0 * self.net(torch.cat([x, t, torch.cos(math.pi * t)], dim=1))


def _dsm_case(seed: int, path: str):
    """A tiny float64 score network seeded by the hidden seed, a batch on ``path``, and leftover gradients."""
    g = generator(seed)
    n = 48
    z = _f64(n, 2, g=g, scale=1.5)
    eps = _f64(n, 2, g=g)
    t = 0.08 + 0.84 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    model = seeded_module(_TinyScoreNet, g)
    with_leftover_grads(model, g)
    s = probability_paths.gaussian_path(path)
    return model, z, t, eps, s.alpha(t), s.beta(t)


def _fresh_dsm(model):
    """A copy of the network with its leftover gradients in place, and a plain SGD optimiser (no momentum)."""
    model = copy_with_grads(model)
    return model, torch.optim.SGD(model.parameters(), lr=_LR_DSM)


def _dsm_variant(model, z, t, eps, a, b, *, weight, zero=True, steps=1, reduce="mean", sign=1.0, at_data=False):
    """A DSM step with one realistic bug; returns the flat parameters after it."""
    net, opt = _fresh_dsm(model)
    x = z if at_data else a * z + b * eps
    per = ((net(x, t) + sign * eps / b) ** 2).sum(-1) * weight.reshape(-1)
    loss = per.mean() if reduce == "mean" else per.sum()
    if zero:
        opt.zero_grad()
    loss.backward()
    for _ in range(steps):
        opt.step()
    with torch.no_grad():
        return flat_state(net.state_dict())


@register(
    "6.6", SECTION, "One step of weighted denoising score matching", 3, "dsm_step",
    "one optimisation step: the loss of the slide at the noisy points, each sample weighted by the lambda_t "
    "chosen above, then the usual three optimiser calls",
    reference=score_matching.dsm_step, kind="training-step",
    hints=(
        "form x = alpha_t z + beta_t eps; the target is the conditional score there, -eps / beta_t; weight each "
        "sample's squared error (summed over coordinates) by lambda_t = beta_t^2 / alpha_t^2 and average over "
        "the batch",
        "zero the optimiser's gradients first (the network may hold gradients from an earlier step), then "
        "backward, then ONE optimizer.step(); return the loss as a float",
        "x = alpha_t * z + beta_t * eps; loss = (beta_t**2 / alpha_t**2 * ((score_model(x, t) + eps / beta_t)**2)"
        ".sum(-1, keepdim=True)).mean(); optimizer.zero_grad(); loss.backward(); optimizer.step(); "
        "return loss.item()",
    ),
)
@_on_one_thread
def check_dsm_step(fn) -> None:
    """Exercise 6.6: compares with :func:`~course_utils.s06_sde_langevin.score_matching.dsm_step`.

    Runs the student's step and the reference on identical copies of a tiny seeded network (float64) with
    plain SGD (lr 0.05, no momentum: a parameter's change is exactly -lr times its gradient), whose
    parameters hold gradients left over from an earlier step, on the linear and the cosine path; compares
    every parameter and the returned loss, and names the bug with :func:`_dsm_variant`.
    """
    for seed, path in ((66, "linear"), (660, "cosine")):
        model, z, t, eps, a, b = _dsm_case(seed, path)
        ref_net, ref_opt = _fresh_dsm(model)
        ref_loss = score_matching.dsm_step(ref_net, ref_opt, *clone_args(z, t, eps, a, b))
        ref = flat_state(ref_net.state_dict())
        net, opt = _fresh_dsm(model)
        value, after = call_with_state(fn, net, opt, *clone_args(z, t, eps, a, b))
        if not isinstance(after[0], dict):
            raise CheckFailed("the network could not be read back after your step")
        got = flat_state(after[0])
        lam = b**2 / a**2
        one = torch.ones_like(t)

        case = (model, z, t, eps, a, b)

        def variant(case=case, lam=lam, **bug):
            return _dsm_variant(*case, **{"weight": lam, **bug})

        mistakes = [
            Mistake(flat_state(model.state_dict()), "the network did not move: take one optimiser step "
                                                "(optimizer.step()) after loss.backward()"),
            Mistake(variant(weight=one), "that is the slide's unweighted loss: weight each sample by the lambda_t "
                                         "chosen in the notebook"),
            Mistake(variant(weight=a**2 / b**2), "the weight is upside down: lambda_t = beta_t^2 / alpha_t^2, small "
                                                  "near the data where the target eps / beta_t is large"),
            Mistake(variant(weight=b**2), "that is the weight beta_t^2 (noise prediction); this notebook uses "
                                          "lambda_t = beta_t^2 / alpha_t^2"),
            Mistake(variant(weight=b / a), "lambda_t = beta_t^2 / alpha_t^2 (squared)"),
            Mistake(variant(zero=False), "the step also applied gradients left over from before: call "
                                         "optimizer.zero_grad() before loss.backward()"),
            Mistake(variant(steps=2), "one optimiser step per call: optimizer.step() ran twice"),
            Mistake(variant(reduce="sum"), "average the weighted errors over the batch, do not sum"),
            Mistake(variant(sign=-1.0), "the target is the conditional score -eps / beta_t: the error is "
                                        "s(x, t) + eps / beta_t"),
            Mistake(variant(at_data=True), "evaluate the network at the noisy point x = alpha_t z + beta_t eps, not "
                                           "at the data z"),
        ]
        what = f"a tiny seeded network with plain SGD (lr {_LR_DSM}) on the {path} path"
        expect_close(got, ref, what=f"{what}: the parameters after the step", mistakes=mistakes)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            value = value.detach()
        expect_close(value, torch.tensor(ref_loss, dtype=torch.float64),
                     what=f"{what}: the returned loss (the weighted loss before the step)", rtol=1e-5, atol=1e-8)
