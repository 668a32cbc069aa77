"""Checks for notebook 01: KL divergence, latent variable models and the ELBO.

Each check calls the student's function on random and edge-case inputs drawn
from a fixed-seed generator, compares with the reference implementation in
:mod:`~.divergences`, :mod:`~.elbo`, :mod:`~.importance` and
:mod:`course_utils.data.mixtures`, and names the likely mistake when it can.
"""

from __future__ import annotations

import math

import torch

from ..data import mixtures
from ..grading.compare import Mistake, call_with_grad, clone_args, expect_close, generator, to_plain_tensor
from ..grading.core import CheckFailed, register
from . import divergences, elbo, importance, latent

SECTION = "01"
LOG_2PI = math.log(2 * math.pi)


def _gen(seed: int) -> torch.Generator:
    return generator(seed)


def _dirichlet(shape, g) -> torch.Tensor:
    x = -torch.log(torch.rand(*shape, generator=g, dtype=torch.float64))
    return x / x.sum(-1, keepdim=True)


@register(
    "1.1", SECTION, "Discrete KL divergence", 1, "kl_discrete",
    "the KL is an expectation under p of a log-ratio: one number per row of outcomes",
    reference=divergences.kl_discrete,
    hints=(
        "which distribution weights the terms, and which axis holds the K outcomes? An outcome with p_i = 0 "
        "contributes nothing, but log 0 gives -inf and 0 * -inf gives nan: keep it out (torch.where or "
        "torch.xlogy)",
        "D_KL(p || q) = sum_i p_i (log p_i - log q_i) over the last axis (dim=-1), with the p_i = 0 terms set to 0",
    ),
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
    "1.2", SECTION, "Forward-KL fit of a Gaussian to a mixture", 1, "forward_kl_fit",
    "the best Gaussian in forward KL matches p's first two moments: what are a mixture's mean and variance?",
    reference=mixtures.moment_match,
    hints=(
        "the mixture's mean weights each component's mean by pi_k. For its variance use var = E[x^2] - mean^2 "
        "(or the law of total variance): what is E[x^2] under one component N(m_k, s_k^2)?",
        "mean = sum_k pi_k m_k; var = sum_k pi_k (s_k^2 + m_k^2) - mean^2 "
        "= sum_k pi_k s_k^2 + sum_k pi_k (m_k - mean)^2",
    ),
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
    "D_KL(q || p) = integral of q log q minus integral of q log p: the slide gives both for one coordinate",
    reference=divergences.kl_std_normal, kind="build",
    hints=(
        "subtract the two integrals: the log 2 pi terms cancel. The J coordinates are independent under q and p, "
        "so the KL of the diagonal Gaussians is the sum of the J one-dimensional KLs; sigma^2 = exp(log_var)",
        "D_KL = 1/2 sum_j (sigma_j^2 + mu_j^2 - 1 - log sigma_j^2) with sigma_j^2 = exp(log_var_j), summed over "
        "the last axis: shape (batch,)",
    ),
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
        Mistake(-ref, "sign slip: D_KL(q || p) = integral of q log q minus integral of q log p, and it is >= 0"),
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


def _buggy_kl_mc(mu, log_var, eps):
    """The provided kl_monte_carlo of exercise 1.4, mistake included: exp(log_var) used as the standard deviation."""
    z = mu + torch.exp(log_var) * eps
    log_q = -0.5 * (LOG_2PI + log_var + (z - mu) ** 2 / log_var.exp()).sum(-1)
    log_p = -0.5 * (LOG_2PI + z**2).sum(-1)
    return (log_q - log_p).mean(0)


@register(
    "1.4", SECTION, "Monte Carlo KL: find the bug", 2, "kl_monte_carlo",
    "for large N the estimate must agree with your closed form of exercise 1.3: compare them, then check where "
    "the draws z come from",
    reference=divergences.kl_std_normal_mc, kind="find-the-bug",
    hints=(
        "the log-densities are right for q = N(mu, exp(log_var)); are the draws z really samples of that q? "
        "Compare z.var(0) with log_var.exp() on many draws",
        "log_var is log sigma^2, so the standard deviation is sigma = exp(log_var / 2), not exp(log_var): "
        "z = mu + torch.exp(0.5 * log_var) * eps (and nothing else changes)",
    ),
)
def check_kl_monte_carlo(fn) -> None:
    """Exercise 1.4: compares with :func:`~course_utils.s01_kl_elbo.divergences.kl_std_normal_mc`."""
    g = _gen(13)
    mu = torch.randn(8, 3, generator=g, dtype=torch.float64)
    log_var = 0.4 + 0.6 * torch.rand(8, 3, generator=g, dtype=torch.float64)
    log_var = log_var * torch.where(torch.rand(8, 3, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    eps = torch.randn(64, 8, 3, generator=g, dtype=torch.float64)
    ref = divergences.kl_std_normal_mc(mu, log_var, eps)
    z = mu + torch.exp(0.5 * log_var) * eps
    ratio = -0.5 * (log_var + eps**2).sum(-1) + 0.5 * (z**2).sum(-1)  # (N, batch): log q - log p
    z_bug = mu + torch.exp(log_var) * eps
    half_fix = (-0.5 * (2 * log_var + (z_bug - mu) ** 2 / (2 * log_var).exp()).sum(-1)
                + 0.5 * (z_bug**2).sum(-1)).mean(0)
    mistakes = [
        Mistake(_buggy_kl_mc(mu, log_var, eps),
                "this is still the provided function's behaviour: with many draws it does not approach your closed "
                "form of exercise 1.3; look at how the draws z are made"),
        Mistake(half_fix, "log q now matches the draws, but the draws come from N(mu, exp(log_var)^2), not from q: "
                "fix the draws, not the density"),
        Mistake(divergences.kl_std_normal(mu, log_var),
                "that is the closed form of exercise 1.3: this function estimates the KL from the given draws eps"),
        Mistake(ratio.sum(0), "average over the N draws (axis 0), do not sum"),
        Mistake(-ratio.mean(0), "sign slip: the estimate averages log q(z) - log p(z) over draws of q"),
        Mistake(ratio.mean(), "return one estimate per row, shape (8,): average over the draws only"),
    ]
    expect_close(fn(*clone_args(mu, log_var, eps)), ref, what="8 rows, J = 3, N = 64 draws", mistakes=mistakes)
    one = eps[:1].clone()
    expect_close(fn(*clone_args(mu, log_var, one)), divergences.kl_std_normal_mc(mu, log_var, one),
                 what="a single draw per row (N = 1: some estimates are negative, and that is right)",
                 mistakes=[Mistake(_buggy_kl_mc(mu, log_var, one), mistakes[0].says)])


@register(
    "1.5", SECTION, "Importance-sampling estimate of log p(x)", 1, "importance_log_evidence",
    "the estimate averages the weights p(x, z_k) / q(z_k), then takes the log: stay in log space throughout",
    reference=elbo.importance_log_evidence,
    hints=(
        "compute log w_k = log p(x, z_k) - log q(z_k) for the K samples; exp(log w_k) underflows to 0 for a real "
        "model, so take the log of the sum of the weights without leaving log space (torch has a log-sum-exp)",
        "log p_hat = torch.logsumexp(log_joint(z) - log_q(z), dim=0) - log K, with K = z.shape[0]",
    ),
)
def check_importance_log_evidence(fn) -> None:
    """Exercise 1.5: compares with :func:`~course_utils.s01_kl_elbo.elbo.importance_log_evidence`."""
    g = _gen(15)
    log_joint = _random_linear_gaussian_joint(g)
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


def _random_linear_gaussian_joint(g: torch.Generator, noise_var: float = 0.5):
    """z (..., 2) -> log p(x, z) of a linear-Gaussian model x | z ~ N(w z, noise_var I), with w (4, 2) and the
    observed x (4,) drawn from ``g`` (the check's hidden inputs)."""
    w = torch.randn(4, 2, generator=g, dtype=torch.float64)
    x = torch.randn(4, generator=g, dtype=torch.float64)
    model = latent.LinearGaussianLVM(w, torch.zeros_like(x), noise_var)
    return lambda z: model.log_joint(x, z)


@register(
    "1.6", SECTION, "Reparametrized ELBO estimate", 2, "elbo_estimate",
    "turn eps into samples of q that depend on mu and var, then estimate the ELBO's expectation by an average",
    reference=elbo.elbo_estimate,
    hints=(
        "a sample of N(mu, var) is mu plus a standard deviation times eps; log q(z) is the log-density of a "
        "diagonal Gaussian, summed over the latent coordinates (constant included: the ELBO is in nats)",
        "z = mu + sqrt(var) * eps; log q(z) = -1/2 sum_j [log(2 pi var_j) + (z_j - mu_j)^2 / var_j]; "
        "return (log_joint(z) - log q(z)).mean()",
    ),
)
def check_elbo_estimate(fn) -> None:
    """Exercise 1.6: compares with :func:`~course_utils.s01_kl_elbo.elbo.elbo_estimate`."""
    g = _gen(14)
    log_joint = _random_linear_gaussian_joint(g)
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




@register(
    "1.7", SECTION, "Predict the mean of log p_hat", 2, "predict_mean_log_estimate",
    "p_hat is an unbiased estimate of p(x); is log p_hat an unbiased estimate of log p(x)? Think of Jensen",
    reference=importance.expected_log_estimate, kind="predict",
    hints=(
        "at K = 1, log p_hat is a single log-weight log p(x, z) - log q(z), z ~ q: you have met its mean in "
        "section 5. With q = p(z|x) every weight is the same number; and as K grows, p_hat tends to p(x)",
        "K = 1: log p(x) - D_KL(q || p(z|x)) (the ELBO); kl_to_posterior = 0 (any K) or K = inf: log p(x)",
    ),
)
def check_predict_mean_log_estimate(fn) -> None:
    """Exercise 1.7: compares with :func:`~course_utils.s01_kl_elbo.importance.expected_log_estimate`."""
    g = _gen(17)

    def draw(low, high):
        return float(low + (high - low) * torch.rand((), generator=g, dtype=torch.float64))

    cases = [(-draw(5.0, 60.0), draw(0.2, 8.0), 1) for _ in range(3)]
    cases += [(-draw(5.0, 60.0), 0.0, 1), (-draw(5.0, 60.0), 0.0, int(draw(2, 200))),
              (-draw(5.0, 60.0), draw(0.2, 8.0), math.inf)]
    for log_px, kl, K in cases:
        ref = importance.expected_log_estimate(log_px, kl, K)
        k_text = "K -> inf" if math.isinf(K) else f"K = {K}"
        q_text = "q = p(z|x)" if kl == 0 else f"KL(q || p(z|x)) = {kl:.3g}"
        mistakes = []
        if K == 1 and kl > 0:
            mistakes = [
                Mistake(torch.tensor(log_px),
                        "p_hat is unbiased, but log p_hat is not: log is concave, so by Jensen "
                        "E[log p_hat] < log E[p_hat] = log p(x) unless every weight is the same"),
                Mistake(torch.tensor(log_px + kl),
                        "sign: by Jensen E[log p_hat] <= log p(x), the mean sits below log p(x)"),
                Mistake(torch.tensor(-kl), "that is the bias, E[log p_hat] - log p(x): return the mean itself"),
            ]
        elif math.isinf(K):
            mistakes = [Mistake(torch.tensor(log_px - kl),
                                "as K grows, p_hat_K averages more weights and tends to p(x) (law of large "
                                "numbers): the bias of log p_hat_K vanishes")]
        got = to_plain_tensor(fn(log_px, kl, K))
        if got.ndim != 0:
            raise CheckFailed(f"for log p(x) = {log_px:.4g}, {q_text}, {k_text}: return one number (a float or a "
                              f"0-d tensor), got shape {tuple(got.shape)}")
        expect_close(got, torch.tensor(ref),
                     what=f"log p(x) = {log_px:.4g}, {q_text}, {k_text}", mistakes=mistakes)


def _iwae_by_hand(log_joint, mu, var, eps, *, sd=None, reduce="iwae"):
    """The K-sample bound and its plausible wrong variants, for the check of exercise 1.8."""
    z = mu + (var.sqrt() if sd is None else sd) * eps
    log_w = log_joint(z) - elbo.log_normal_diag(z, mu, var)
    K = eps.shape[1]
    return {
        "iwae": lambda: (torch.logsumexp(log_w, 1) - math.log(K)).mean(),
        "elbo": lambda: log_w.mean(),
        "pooled": lambda: torch.logsumexp(log_w.flatten(), 0) - math.log(log_w.numel()),
        "swapped": lambda: (torch.logsumexp(log_w, 0) - math.log(eps.shape[0])).mean(),
        "no 1/K": lambda: torch.logsumexp(log_w, 1).mean(),
        "per set": lambda: torch.logsumexp(log_w, 1) - math.log(K),
        "plus log q": lambda: (torch.logsumexp(log_joint(z) + elbo.log_normal_diag(z, mu, var), 1)
                               - math.log(K)).mean(),
        "log of mean": lambda: torch.log(log_w.exp().mean(1)).mean(),
    }[reduce]()


@register(
    "1.8", SECTION, "The importance-weighted bound", 3, "iwae_bound",
    "each of the S sets of K draws gives one estimate log p_hat_K of the kind in exercise 1.5; the bound is "
    "their mean",
    reference=elbo.iwae_bound, kind="build",
    hints=(
        "reparametrize all S * K draws at once from mu, var and eps (shape (S, K, q)) as in exercise 1.6, compute "
        "the log-weights, shape (S, K); average the weights over the K draws of each set in log space, then "
        "average the S results",
        "z = mu + sqrt(var) * eps; log_w = log_joint(z) - log N(z; mu, diag(var)), shape (S, K); "
        "return (torch.logsumexp(log_w, dim=1) - log K).mean()",
    ),
)
def check_iwae_bound(fn) -> None:
    """Exercise 1.8: compares with :func:`~course_utils.s01_kl_elbo.elbo.iwae_bound`."""
    g = _gen(18)
    log_joint = _random_linear_gaussian_joint(g)
    mu = 0.5 * torch.randn(2, generator=g, dtype=torch.float64)
    var = 0.2 + torch.rand(2, generator=g, dtype=torch.float64)
    eps = torch.randn(30, 8, 2, generator=g, dtype=torch.float64)
    ref = elbo.iwae_bound(log_joint, mu, var, eps)

    def by_hand(reduce, **kw):
        return _iwae_by_hand(log_joint, mu, var, eps, reduce=reduce, **kw)

    mistakes = [
        Mistake(by_hand("elbo"), "that is the ELBO estimate (the K = 1 bound): average the K weights of a set "
                "before taking the log"),
        Mistake(by_hand("pooled"), "that is one estimate from all S * K draws pooled: average the K weights of "
                "each set, take the log, then average the S logs"),
        Mistake(by_hand("swapped"), "eps has shape (S, K, q): the K draws of one set lie along axis 1, the S sets "
                "along axis 0"),
        Mistake(by_hand("no 1/K"), "you are missing the 1/K inside the log: subtract log K"),
        Mistake(by_hand("per set"), "return one number: the mean over the S sets"),
        Mistake(by_hand("plus log q"), "sign slip: the weight is p(x, z) / q(z), so log w = log p(x, z) - log q(z)"),
        Mistake(by_hand("iwae", sd=var), "sigma is the square root of the variance: z = mu + sqrt(var) * eps"),
    ]
    got, grads = call_with_grad(fn, log_joint, mu.clone(), var.clone(), eps.clone(), wrt=(1, 2))
    expect_close(got, ref, what="S = 30 sets of K = 8 draws of a 2-D latent", mistakes=mistakes)
    no_grad = ("no gradient reaches {}: build z from mu and var themselves (no .detach(), no torch.no_grad()), "
               "so that the bound can be maximised over q")
    if grads is None:
        raise CheckFailed(no_grad.format("mu and var"))
    for name, grad in zip(("mu", "var"), grads, strict=True):
        if grad is None:
            raise CheckFailed(no_grad.format(name))
    mu_r, var_r = mu.clone().requires_grad_(True), var.clone().requires_grad_(True)
    ref_grads = torch.autograd.grad(elbo.iwae_bound(log_joint, mu_r, var_r, eps), (mu_r, var_r))
    expect_close(grads[0], ref_grads[0], what="the gradient with respect to mu")
    expect_close(grads[1], ref_grads[1], what="the gradient with respect to var")

    def far_joint(z):
        return log_joint(z) - 1000.0

    few = eps[:, :3]
    got = to_plain_tensor(fn(far_joint, mu.clone(), var.clone(), few.clone()))
    far_ref = elbo.iwae_bound(far_joint, mu, var, few)
    if got.ndim == 0 and not bool(torch.isfinite(got)):
        raise CheckFailed("with log-weights near -1000 your bound is not finite: exp underflows; average the "
                          "weights in log space (torch.logsumexp)")
    expect_close(got, far_ref, what="log-weights near -1000, K = 3")
