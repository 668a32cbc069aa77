"""Checks for notebook 01: KL divergence, latent variable models and the ELBO.

Each check calls the student's function on random and edge-case inputs drawn
from a fixed-seed generator, compares with the reference implementation in
:mod:`~.divergences`, :mod:`~.elbo` and
:mod:`course_utils.data.mixtures`, and names the likely mistake when it can.
"""

from __future__ import annotations

import math

import torch

from ..data import mixtures
from ..grading.compare import Mistake, call_with_grad, clone_args, expect_close, generator, to_plain_tensor
from ..grading.core import CheckFailed, register
from . import divergences, elbo, latent

SECTION = "01"
LOG_2PI = math.log(2 * math.pi)


def _gen(seed: int) -> torch.Generator:
    return generator(seed)


def _dirichlet(shape, g) -> torch.Tensor:
    x = -torch.log(torch.rand(*shape, generator=g, dtype=torch.float64))
    return x / x.sum(-1, keepdim=True)


@register(
    "1.1", SECTION, "Discrete KL divergence", 1, "kl_discrete",
    "weight each log-ratio log(p_i / q_i) by p_i and sum over the last axis; a p_i = 0 term counts as 0",
    reference=divergences.kl_discrete,
)
def check_kl_discrete(fn) -> None:
    """Exercise 1.1: compares with :func:`~course_utils.s01_kl_elbo.divergences.kl_discrete`."""
    g = _gen(11)
    p, q = _dirichlet((16, 5), g), _dirichlet((16, 5), g)
    ref = divergences.kl_discrete(p, q)
    ratio = torch.log(p / q)
    mistakes = [
        Mistake(divergences.kl_discrete(q, p), "that is D_KL(q || p): the expectation is under p, log p/q"),
        Mistake(ratio.sum(-1), "each log-ratio must be weighted by p_i"),
        Mistake(ref / math.log(2), "use the natural log (nats), not log base 2"),
        Mistake(p * ratio, "sum over the last axis (the K outcomes), one divergence per row"),
        Mistake(ref.sum(), "return one divergence per row, shape (16,), not the sum over the batch"),
        Mistake(ref.mean(), "return one divergence per row, shape (16,), not the batch mean "
                "(F.kl_div: reduction='none', then .sum(-1))"),
        Mistake((p * ratio).sum(0), "sum over the last axis (outcomes), not over the batch axis"),
        Mistake(-ref, "sign slip: D_KL = sum p log(p/q) is >= 0"),
    ]
    expect_close(fn(*clone_args(p, q)), ref, what="a batch of 16 distributions over 5 outcomes",
                 mistakes=mistakes)
    expect_close(fn(*clone_args(p[0], q[0])), ref[0], what="a single distribution, shape (5,)")
    expect_close(fn(*clone_args(p, p)), torch.zeros(16), what="p = q (the KL must be 0)")
    p0 = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.25, 0.25, 0.5]], dtype=torch.float64)
    q0 = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    got = to_plain_tensor(fn(*clone_args(p0, q0)))
    if bool(torch.isnan(got).any()):
        raise CheckFailed("with some p_i = 0 you returned nan: 0 * log 0 must count as 0 "
                          "(use torch.where or torch.xlogy)")
    expect_close(got, divergences.kl_discrete(p0, q0), what="distributions with zero entries in p")


@register(
    "1.2", SECTION, "Forward-KL fit of a Gaussian to a mixture", 2, "forward_kl_fit",
    "match p's first two moments; its variance counts each component's own variance and the spread of the means",
    reference=mixtures.moment_match,
)
def check_forward_kl_fit(fn) -> None:
    """Exercise 1.2: compares with :func:`~course_utils.data.mixtures.moment_match`."""
    g = _gen(16)
    cases = [
        (torch.tensor([0.3, 0.7]), torch.tensor([-2.0, 1.5]), torch.tensor([0.25, 0.5])),
        (torch.tensor([0.2, 0.5, 0.3]), torch.tensor([-3.0, 0.0, 4.0]), torch.tensor([1.0, 0.3, 0.6])),
        (torch.tensor([1.0]), torch.tensor([0.7]), torch.tensor([2.0])),
    ]
    w = _dirichlet((4,), g)
    cases.append((w, 3 * torch.randn(4, generator=g, dtype=torch.float64), 0.1 + torch.rand(4, generator=g)))
    for weights, means, variances in cases:
        weights, means, variances = (t.to(torch.float64) for t in (weights, means, variances))
        mix = mixtures.GaussianMixture(weights, means[:, None], variances)
        m_ref, cov_ref = mixtures.moment_match(mix)
        got = fn(*clone_args(weights, means, variances))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise CheckFailed("return a pair (mean, var)")
        what = f"a mixture of {len(weights)} components"
        mistakes_mean = [Mistake(means.mean(), "weight each component mean by pi_k")]
        spread = (weights * (means - m_ref[0]) ** 2).sum()
        mistakes_var = [
            Mistake((weights * variances).sum(),
                    "the components' spread counts too: add sum_k pi_k (m_k - mean)^2"),
            Mistake(spread, "each component's own variance s_k^2 counts too"),
            Mistake((weights * (variances + means**2)).sum(),
                    "that is E[x^2]: subtract the squared mean"),
            Mistake(cov_ref[0, 0].sqrt(), "return the variance, not the standard deviation"),
        ]
        expect_close(got[0], m_ref[0], what=f"{what} (the mean)", mistakes=mistakes_mean)
        expect_close(got[1], cov_ref[0, 0], what=f"{what} (the variance)", mistakes=mistakes_var)
@register(
    "1.3", SECTION, "Gaussian KL to N(0, I) in closed form", 2, "kl_gaussian_std_normal",
    "sigma^2 = exp(log_var); use the closed form above and return one KL per row",
    reference=divergences.kl_std_normal,
)
def check_kl_gaussian_std_normal(fn) -> None:
    """Exercise 1.3: compares with :func:`~course_utils.s01_kl_elbo.divergences.kl_std_normal`."""
    g = _gen(12)
    mu = torch.randn(64, 8, generator=g, dtype=torch.float64)
    log_var = 0.8 * torch.randn(64, 8, generator=g, dtype=torch.float64)
    ref = divergences.kl_std_normal(mu, log_var)
    terms = 1 + log_var - mu**2 - log_var.exp()
    std = log_var  # the mistake of reading log_var as a standard deviation
    mistakes = [
        Mistake(-0.5 * terms, "did you sum over the latent dimension?"),
        Mistake(2 * ref, "you are missing the factor 1/2"),
        Mistake(-ref, "sign slip: the slide's formula gives -D_KL; return D_KL >= 0"),
        Mistake(ref.sum(), "return one KL per row, shape (64,), not the sum over the batch"),
        Mistake(ref.mean(), "return one KL per row, shape (64,), not the batch mean"),
        Mistake(-0.5 * terms.mean(-1), "sum over the J latent dimensions, do not average"),
        Mistake(-0.5 * (1 + torch.log(std**2) - mu**2 - std**2).sum(-1),
                "log_var is log sigma^2, not sigma: sigma^2 = exp(log_var)"),
        Mistake(-0.5 * (1 + torch.log(log_var.abs()) - mu**2 - log_var).sum(-1),
                "log_var is log sigma^2, not the variance itself: sigma^2 = exp(log_var)"),
        # what torch.log(log_var) gives: nan in every row with a negative log_var
        Mistake(-0.5 * (1 + torch.log(log_var) - mu**2 - log_var).sum(-1),
                "log_var is log sigma^2, not the variance itself: sigma^2 = exp(log_var)"),
        Mistake(-0.5 * (1 + log_var - mu**2 - log_var.exp() ** 2).sum(-1),
                "the variance is exp(log_var), not exp(log_var)^2"),
        # Normal(mu, log_var.exp()): the variance given where torch.distributions wants the standard deviation
        Mistake(divergences.kl_std_normal(mu, 2 * log_var),
                "exp(log_var) is the variance sigma^2; the standard deviation (Normal's scale) is "
                "sigma = exp(log_var / 2)"),
    ]
    expect_close(fn(*clone_args(mu, log_var)), ref, what="a batch of 64 means and log-variances, J = 8",
                 mistakes=mistakes)
    zeros = torch.zeros(3, 4, dtype=torch.float64)
    expect_close(fn(zeros, zeros.clone()), torch.zeros(3), what="mu = 0, log_var = 0 (q = p, KL = 0)")


def _normal_log_prob(mean: float, var: float):
    """log N(z; mean, var I) for z of shape (N, d)."""
    return lambda z: elbo.log_normal_diag(z, torch.full_like(z[0], mean), torch.full_like(z[0], var))


@register(
    "1.4", SECTION, "Monte Carlo estimate of the KL", 1, "kl_monte_carlo",
    "the KL is an expectation under q, and z holds samples of q",
    reference=divergences.kl_monte_carlo,
)
def check_kl_monte_carlo(fn) -> None:
    """Exercise 1.4: compares with :func:`~course_utils.s01_kl_elbo.divergences.kl_monte_carlo`."""
    g = _gen(13)
    z = 0.5 + 0.7 * torch.randn(500, 3, generator=g, dtype=torch.float64)
    log_q, log_p = _normal_log_prob(0.5, 0.49), _normal_log_prob(0.0, 1.0)
    ratio = log_q(z) - log_p(z)
    ref = divergences.kl_monte_carlo(log_q, log_p, z)
    mistakes = [
        Mistake(-ref, "sign slip: average log q - log p, the samples come from q"),
        Mistake(ratio.sum(), "average over the samples (divide by N), do not sum"),
        Mistake(ratio, "return one number, the average over the N samples"),
        Mistake(torch.exp(ratio).mean(), "average the log-ratios themselves, not their exponentials"),
        Mistake(ratio.sum() / z.numel(), "divide by the number of samples N = z.shape[0], not by z.numel() "
                "(z has shape (N, d): N samples of dimension d)"),
    ]
    expect_close(fn(log_q, log_p, z.clone()), ref, what="500 samples of a 3-D Gaussian q",
                 mistakes=mistakes)
    z1 = z[:1].clone()
    expect_close(fn(log_q, log_p, z1), ref.new_tensor(float(ratio[0])), what="a single sample")


@register(
    "1.5", SECTION, "Importance-sampling estimate of log p(x)", 2, "importance_log_evidence",
    "compute the log-weights, then average the weights in log space with torch.logsumexp",
    reference=elbo.importance_log_evidence,
)
def check_importance_log_evidence(fn) -> None:
    """Exercise 1.5: compares with :func:`~course_utils.s01_kl_elbo.elbo.importance_log_evidence`."""
    g = _gen(15)
    w = torch.randn(4, 2, generator=g, dtype=torch.float64)
    x = torch.randn(4, generator=g, dtype=torch.float64)
    log_joint = _linear_gaussian_joint(x, w, 0.5)
    mu, var = torch.tensor([0.2, 0.1], dtype=torch.float64), torch.tensor([0.5, 0.6], dtype=torch.float64)
    def log_q(z):
        return elbo.log_normal_diag(z, mu, var)
    z = mu + var.sqrt() * torch.randn(200, 2, generator=g, dtype=torch.float64)
    ref = elbo.importance_log_evidence(log_joint, log_q, z)
    log_w = log_joint(z) - log_q(z)
    mistakes = [
        Mistake(log_w.mean(), "that is the ELBO estimate: average the weights w_k, then take the log"),
        Mistake(torch.logsumexp(log_w, 0), "you are missing the 1/K: subtract log K"),
        Mistake(torch.logsumexp(log_joint(z) + log_q(z), 0) - math.log(200),
                "sign slip: the weight is p(x, z) / q(z), so log w = log_joint - log_q"),
        Mistake(log_w, "return one number, not one per sample"),
        Mistake(torch.logsumexp(log_w, 0) - math.log(z.numel()),
                "K is the number of samples z.shape[0], not z.numel() (z has shape (K, d))"),
    ]
    expect_close(fn(log_joint, log_q, z.clone()), ref, what="K = 200 samples from q", mistakes=mistakes)
    def far_joint(z):
        return log_joint(z) - 1000.0
    got = to_plain_tensor(fn(far_joint, log_q, z.clone()))
    if got.ndim == 0 and not bool(torch.isfinite(got)):
        raise CheckFailed("with log-weights near -1000 your estimate is not finite: exp underflows; "
                          "use torch.logsumexp(log_w, 0) - log K")
    expect_close(got, ref - 1000.0, what="log-weights near -1000 (a 64-pixel likelihood is that small)")


def _linear_gaussian_joint(x: torch.Tensor, w: torch.Tensor, noise_var: float):
    """z (K, q) -> log p(x, z) of the linear-Gaussian model x | z ~ N(w z, noise_var I)."""
    model = latent.LinearGaussianLVM(w, torch.zeros_like(x), noise_var)
    return lambda z: model.log_joint(x, z)


@register(
    "1.6", SECTION, "Reparametrized ELBO estimate", 2, "elbo_estimate",
    "reparametrize z from mu, var and eps, then average log p(x, z) - log q(z) over the samples",
    reference=elbo.elbo_estimate,
)
def check_elbo_estimate(fn) -> None:
    """Exercise 1.6: compares with :func:`~course_utils.s01_kl_elbo.elbo.elbo_estimate`."""
    g = _gen(14)
    w = torch.randn(4, 2, generator=g, dtype=torch.float64)
    x = torch.randn(4, generator=g, dtype=torch.float64)
    log_joint = _linear_gaussian_joint(x, w, 0.5)
    mu = torch.tensor([0.3, -0.2], dtype=torch.float64)
    var = torch.tensor([0.4, 0.9], dtype=torch.float64)
    eps = torch.randn(256, 2, generator=g, dtype=torch.float64)
    ref = elbo.elbo_estimate(log_joint, mu, var, eps)
    z = mu + var.sqrt() * eps
    z_var = mu + var * eps
    log_q = elbo.log_normal_diag(z, mu, var)
    sq = (z - mu) ** 2

    def by_hand(exponent, normaliser):  # mean of log p(x, z) - log q(z), log q(z) = sum_j -exponent - normaliser
        return (log_joint(z) + (exponent + normaliser).sum(-1)).mean()

    sigma_slip = "sigma is the square root of the variance: z = mu + sqrt(var) * eps"
    mistakes = [
        Mistake((log_joint(z_var) - elbo.log_normal_diag(z_var, mu, var)).mean(), sigma_slip),
        Mistake((log_joint(z_var) - log_q).mean(), sigma_slip),  # log q written with eps, right; z wrong
        Mistake((log_joint(z_var) - elbo.log_normal_diag(z_var, mu, var**2)).mean(),
                "var is the variance sigma^2, not sigma: with sigma = sqrt(var), z = mu + sqrt(var) * eps "
                "and log q(z) = log N(z; mu, var)"),
        Mistake(by_hand(sq / (2 * var), 0.5 * LOG_2PI + var.log()),
                "the normaliser of log N(z; mu, var) is 1/2 log(2 pi var): log sigma = 1/2 log var, not log var"),
        Mistake(by_hand(sq / (2 * var**2), 0.5 * (LOG_2PI + var.log())),
                "the exponent of N(z; mu, var) is -(z - mu)^2 / (2 var): var is already sigma^2, do not square it"),
        Mistake(by_hand(sq / (2 * var.sqrt()), 0.5 * (LOG_2PI + var.log())),
                "the exponent of N(z; mu, var) is -(z - mu)^2 / (2 var): divide by the variance, not by sqrt(var)"),
        Mistake(by_hand(sq / var, 0.5 * (LOG_2PI + var.log())),
                "the exponent of N(z; mu, var) is -(z - mu)^2 / (2 var): the 1/2 is missing"),
        Mistake(by_hand(sq / (2 * var), 0.5 * var.log()),
                "log q(z) is missing its constant -1/2 log(2 pi) per latent dimension: the ELBO in nats needs it"),
        Mistake(by_hand(sq / (2 * var), 0.5 * (LOG_2PI - var.log())),
                "sign slip in log q: log N(z; mu, var) = -1/2 log(2 pi var) - (z - mu)^2 / (2 var)"),
        Mistake(log_joint(z).mean(), "you dropped the entropy term: subtract log q(z)"),
        Mistake((log_joint(z) + log_q).mean(), "sign slip: the ELBO is E_q[log p(x, z) - log q(z)]"),
        Mistake((log_joint(z) - elbo.log_normal_diag(z, mu, var**2)).mean(),
                "var is a variance: log q(z) = log N(z; mu, var), not N(z; mu, var^2)"),
        Mistake((log_joint(z) - log_q).sum(), "average over the K samples, do not sum"),
        Mistake(log_joint(z) - log_q, "return one number: the average over the K samples"),
    ]
    got, grads = call_with_grad(fn, log_joint, mu.clone(), var.clone(), eps.clone(), wrt=(1, 2))
    expect_close(got, ref, what="a 2-D latent, K = 256 samples", mistakes=mistakes)
    no_grad = ("no gradient reaches {}: build z = mu + sqrt(var) * eps from the arguments themselves "
               "(no .detach(), no torch.no_grad())")
    if grads is None:
        raise CheckFailed(no_grad.format("mu and var"))
    grad_mu, grad_var = grads
    for name, grad in (("mu", grad_mu), ("var", grad_var)):
        if grad is None:
            raise CheckFailed(no_grad.format(name))
    mu_r, var_r = mu.clone().requires_grad_(True), var.clone().requires_grad_(True)
    ref_grads = torch.autograd.grad(elbo.elbo_estimate(log_joint, mu_r, var_r, eps), (mu_r, var_r))
    expect_close(grad_mu, ref_grads[0], what="the gradient with respect to mu")
    expect_close(grad_var, ref_grads[1], what="the gradient with respect to var")


