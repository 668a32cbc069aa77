"""The graders of section 01 against student answers written independently here.

Every correct alternative below is written without course_utils' reference
functions and must pass; every plausible wrong answer must fail with 0 points and,
where the grader knows the mistake, with the sentence that teaches it.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fails, assert_fails_for_secrets, assert_passes, assert_passes_for_secrets
from scipy.special import rel_entr
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from course_utils.grading import exercises

LOG_2PI = math.log(2 * math.pi)
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: small tensors, busy CPUs


def test_section_01_has_the_eight_exercises():
    assert [(e.id, e.function, e.kind, e.points) for e in exercises("01")] == [
        ("1.1", "kl_discrete", "warm-up", 1),
        ("1.2", "forward_kl_fit", "warm-up", 1),
        ("1.3", "kl_gaussian_std_normal", "build", 2),
        ("1.4", "kl_monte_carlo", "find-the-bug", 2),
        ("1.5", "importance_log_evidence", "warm-up", 1),
        ("1.6", "elbo_estimate", "warm-up", 2),
        ("1.7", "predict_mean_log_estimate", "predict", 2),
        ("1.8", "iwae_bound", "build", 3),
    ]


def test_most_of_the_points_come_from_exercises_that_are_not_warm_ups():
    points = {e.id: e.points for e in exercises("01")}
    beyond = sum(e.points for e in exercises("01") if e.kind != "warm-up")
    assert beyond / sum(points.values()) >= 0.5


@pytest.mark.parametrize("ex_id", [e.id for e in exercises("01")])
def test_hints_come_in_tiers_and_only_the_last_states_the_formula(ex_id):
    from course_utils.grading import get

    tiers = get(ex_id).tiers
    assert len(tiers) >= 3, tiers  # the stub's message and at least two more
    formula_bits = ("logsumexp(", "exp(0.5", "= sum_k", "sqrt(var) * eps", "log p(x) - D_KL", "dim=-1")
    for early in tiers[:-1]:
        assert not any(bit in early for bit in formula_bits), (ex_id, early)


# --------------------------------------------------------------------------------------
# 1.1 kl_discrete(p, q): sum_i p_i log(p_i / q_i) over the last axis, 0 log 0 = 0


def kl_xlogy(p, q):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1)


def kl_categorical(p, q):
    return kl_divergence(Categorical(probs=p), Categorical(probs=q))


def kl_where(p, q):
    safe_p = torch.where(p > 0, p, torch.ones_like(p))
    terms = torch.where(p > 0, p * (safe_p.log() - q.log()), torch.zeros_like(p))
    return torch.sum(terms, dim=-1)


def kl_scipy(p, q):
    return rel_entr(p.numpy(), q.numpy()).sum(axis=-1)  # a numpy array, not a tensor


def kl_float32(p, q):
    p, q = p.float(), q.float()
    return torch.xlogy(p, p / q).sum(-1)


def kl_float32_categorical(p, q):
    return kl_divergence(Categorical(probs=p.float()), Categorical(probs=q.float()))


def kl_torch_kl_div(p, q):  # F.kl_div(input=log q, target=p) is p (log p - log q), 0 where p = 0
    return F.kl_div(q.log(), p, reduction="none").sum(-1)


KL_DISCRETE_RIGHT = [
    kl_xlogy,
    kl_categorical,
    kl_where,
    kl_scipy,
    kl_float32,
    kl_float32_categorical,
    kl_torch_kl_div,
]


@pytest.mark.parametrize("fn", KL_DISCRETE_RIGHT)
def test_1_1_correct_alternatives_pass(fn):
    assert_passes("1.1", fn)


@pytest.mark.parametrize("fn", KL_DISCRETE_RIGHT)
def test_1_1_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.1", fn, n=50)


KL_DISCRETE_WRONG = {
    "reversed KL": (lambda p, q: kl_xlogy(q, p), "D_KL(q || p)"),
    "unweighted log-ratio sum": (lambda p, q: torch.log(p / q).sum(-1), "weighted by p_i"),
    "log base 2": (lambda p, q: kl_xlogy(p, q) / math.log(2), "natural log"),
    "log2 written with torch.log2": (
        lambda p, q: torch.where(p > 0, p * torch.log2(p / q), torch.zeros_like(p)).sum(-1),
        "natural log",
    ),
    "no sum over K": (lambda p, q: torch.xlogy(p, p / q), "sum over the last axis"),
    "sum over everything": (lambda p, q: torch.xlogy(p, p / q).sum(), "not the sum over the batch"),
    "sum over the batch axis": (
        lambda p, q: torch.xlogy(p, p / q).sum(0),
        "not over the batch axis",
    ),
    "naive p log(p/q), nan at p = 0": (
        lambda p, q: (p * torch.log(p / q)).sum(-1),
        "0 * log 0 must count as 0",
    ),
    "sign slip": (lambda p, q: (p * torch.log(q / p)).nan_to_num().sum(-1), "sign slip"),
    "constant": (lambda p, q: torch.zeros(p.shape[:-1]), None),
    "mean instead of sum": (lambda p, q: torch.xlogy(p, p / q).mean(-1), None),
    "F.kl_div with its arguments swapped": (
        lambda p, q: F.kl_div(p.log(), q, reduction="none").sum(-1),
        "D_KL(q || p)",
    ),
    "F.kl_div with reduction='batchmean'": (
        lambda p, q: F.kl_div(q.log(), p, reduction="batchmean"),
        "not the batch mean",
    ),
}


@pytest.mark.parametrize("name", list(KL_DISCRETE_WRONG))
def test_1_1_wrong_answers_fail(name):
    fn, hint = KL_DISCRETE_WRONG[name]
    assert_fails("1.1", fn, hint)
    assert_fails_for_secrets("1.1", fn, n=5, hint=hint)


def test_1_1_input_edits_do_not_leak_into_later_cases():
    def vandal(p, q):
        out = kl_xlogy(p, q)
        p.zero_()
        q.fill_(float("nan"))
        return out

    assert_passes("1.1", vandal)


# --------------------------------------------------------------------------------------
# 1.2 forward_kl_fit(weights, means, variances) -> (mean, var) of the mixture


def fkl_second_moment(weights, means, variances):
    m = (weights * means).sum()
    return m, (weights * (variances + means**2)).sum() - m**2


def fkl_total_variance(weights, means, variances):
    m = weights @ means
    within = weights @ variances
    between = weights @ (means - m) ** 2
    return (m, within + between)


def fkl_distributions(weights, means, variances):
    mix = MixtureSameFamily(Categorical(probs=weights), Normal(means, variances.sqrt()))
    return [mix.mean, mix.variance]


def fkl_python_floats(weights, means, variances):
    m = sum(float(w) * float(mk) for w, mk in zip(weights, means, strict=True))
    second = sum(
        float(w) * (float(v) + float(mk) ** 2)
        for w, mk, v in zip(weights, means, variances, strict=True)
    )
    return m, second - m * m


def fkl_float32(weights, means, variances):
    return fkl_total_variance(weights.float(), means.float(), variances.float())


FORWARD_KL_RIGHT = [
    fkl_second_moment,
    fkl_total_variance,
    fkl_distributions,
    fkl_python_floats,
    fkl_float32,
]


@pytest.mark.parametrize("fn", FORWARD_KL_RIGHT)
def test_1_2_correct_alternatives_pass(fn):
    assert_passes("1.2", fn)


@pytest.mark.parametrize("fn", FORWARD_KL_RIGHT)
def test_1_2_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.2", fn, n=50)


def _fkl_unweighted_mean(w, m, v):
    mean = m.mean()
    return mean, (w * (v + (m - mean) ** 2)).sum()


FORWARD_KL_WRONG = {
    "unweighted mean": (_fkl_unweighted_mean, "weight each component mean by pi_k"),
    "forgot the between-component spread": (
        lambda w, m, v: ((w * m).sum(), (w * v).sum()),
        "spread counts too",
    ),
    "forgot the within-component variance": (
        lambda w, m, v: ((w * m).sum(), (w * (m - (w * m).sum()) ** 2).sum()),
        "own variance",
    ),
    "E[x^2] without subtracting the squared mean": (
        lambda w, m, v: ((w * m).sum(), (w * (v + m**2)).sum()),
        "that is E[x^2]",
    ),
    "standard deviation instead of variance": (
        lambda w, m, v: (fkl_second_moment(w, m, v)[0], fkl_second_moment(w, m, v)[1].sqrt()),
        "not the standard deviation",
    ),
    "a single number instead of a pair": (
        lambda w, m, v: fkl_second_moment(w, m, v)[1],
        "return a pair",
    ),
    "mean and var stacked in one tensor": (
        lambda w, m, v: torch.stack(fkl_second_moment(w, m, v)),
        "return a pair",
    ),
    "swapped (var, mean)": (lambda w, m, v: fkl_second_moment(w, m, v)[::-1], None),
    "constant": (lambda w, m, v: (torch.tensor(0.0), torch.tensor(1.0)), None),
}


@pytest.mark.parametrize("name", list(FORWARD_KL_WRONG))
def test_1_2_wrong_answers_fail(name):
    fn, hint = FORWARD_KL_WRONG[name]
    assert_fails("1.2", fn, hint)
    assert_fails_for_secrets("1.2", fn, n=5, hint=hint)


def test_1_2_input_edits_do_not_leak_into_later_cases():
    def vandal(weights, means, variances):
        out = fkl_second_moment(weights, means, variances)
        weights.fill_(0.5)
        means.zero_()
        variances.mul_(-1)
        return out

    assert_passes("1.2", vandal)


# --------------------------------------------------------------------------------------
# 1.3 kl_gaussian_std_normal(mu, log_var): one KL(N(mu, exp(log_var)) || N(0, I)) per row


def kl_gauss_hand(mu, log_var):
    return 0.5 * (log_var.exp() + mu.pow(2) - 1 - log_var).sum(dim=-1)


def kl_gauss_slide_form(mu, log_var):
    return -0.5 * torch.sum(1 + log_var - mu**2 - torch.exp(log_var), -1)


def kl_gauss_distributions(mu, log_var):
    q = Normal(mu, (0.5 * log_var).exp())
    return kl_divergence(q, Normal(0.0, 1.0)).sum(-1)


def kl_gauss_per_dim_loop(mu, log_var):
    total = torch.zeros(mu.shape[0], dtype=mu.dtype)
    for j in range(mu.shape[1]):
        sigma = torch.exp(0.5 * log_var[:, j])
        total = total + 0.5 * (sigma**2 + mu[:, j] ** 2 - 1) - torch.log(sigma)
    return total


def kl_gauss_float32(mu, log_var):
    return kl_gauss_hand(mu.float(), log_var.float())


KL_GAUSS_RIGHT = [
    kl_gauss_hand,
    kl_gauss_slide_form,
    kl_gauss_distributions,
    kl_gauss_per_dim_loop,
    kl_gauss_float32,
]


@pytest.mark.parametrize("fn", KL_GAUSS_RIGHT)
def test_1_3_correct_alternatives_pass(fn):
    assert_passes("1.3", fn)


@pytest.mark.parametrize("fn", KL_GAUSS_RIGHT)
def test_1_3_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.3", fn, n=50)


def _terms(mu, log_var):
    return log_var.exp() + mu**2 - 1 - log_var


KL_GAUSS_WRONG = {
    "missing 1/2": (lambda mu, lv: _terms(mu, lv).sum(-1), "missing the factor 1/2"),
    "sign slip (the slide's -KL)": (
        lambda mu, lv: 0.5 * (1 + lv - mu**2 - lv.exp()).sum(-1),
        "sign slip",
    ),
    "log_var used as sigma": (
        lambda mu, lv: 0.5 * (lv**2 + mu**2 - 1 - torch.log(lv**2)).sum(-1),
        "not sigma",
    ),
    "log_var used as the variance, |.| inside the log": (
        lambda mu, lv: 0.5 * (lv + mu**2 - 1 - torch.log(lv.abs())).sum(-1),
        "not the variance itself",
    ),
    "log_var used as the variance (nan where log_var < 0)": (
        lambda mu, lv: 0.5 * (lv + mu**2 - 1 - torch.log(lv)).sum(-1),
        "not the variance itself",
    ),
    "variance exp(log_var)^2": (
        lambda mu, lv: 0.5 * (lv.exp() ** 2 + mu**2 - 1 - lv).sum(-1),
        "not exp(log_var)^2",
    ),
    "no sum over J": (
        lambda mu, lv: 0.5 * _terms(mu, lv),
        "did you sum over the latent dimension?",
    ),
    "mean over J": (lambda mu, lv: 0.5 * _terms(mu, lv).mean(-1), "do not average"),
    "sum over the batch": (lambda mu, lv: 0.5 * _terms(mu, lv).sum(), "not the sum over the batch"),
    "mean over the batch": (lambda mu, lv: 0.5 * _terms(mu, lv).sum(-1).mean(), "batch mean"),
    "Normal's scale given the variance exp(log_var)": (
        lambda mu, lv: kl_divergence(Normal(mu, lv.exp()), Normal(0.0, 1.0)).sum(-1),
        "the standard deviation (Normal's scale) is sigma = exp(log_var / 2)",
    ),
    "constant": (lambda mu, lv: torch.zeros(mu.shape[0]), None),
    "sum over the batch axis": (lambda mu, lv: 0.5 * _terms(mu, lv).sum(0), None),
}


@pytest.mark.parametrize("name", list(KL_GAUSS_WRONG))
def test_1_3_wrong_answers_fail(name):
    fn, hint = KL_GAUSS_WRONG[name]
    assert_fails("1.3", fn, hint)
    assert_fails_for_secrets("1.3", fn, n=5, hint=hint)


def test_1_3_input_edits_do_not_leak_into_later_cases():
    def vandal(mu, log_var):
        out = kl_gauss_hand(mu, log_var)
        mu.add_(5.0)
        log_var.mul_(-3.0)
        return out

    assert_passes("1.3", vandal)


# --------------------------------------------------------------------------------------
# 1.4 kl_monte_carlo(mu, log_var, eps): find the bug; the fix draws z = mu + exp(log_var / 2) * eps and
#     averages log q(z) - log N(z; 0, I) over the N draws (axis 0), one estimate per row


def provided_kl_mc(mu, log_var, eps):
    """What the exercise notebook hands out (the mistake: exp(log_var) used as the standard deviation)."""
    z = mu + torch.exp(log_var) * eps
    log_q = -0.5 * (math.log(2 * math.pi) + log_var + (z - mu) ** 2 / log_var.exp()).sum(-1)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    return (log_q - log_p).mean(0)


def kl_mc_fixed(mu, log_var, eps):
    z = mu + torch.exp(0.5 * log_var) * eps
    log_q = -0.5 * (math.log(2 * math.pi) + log_var + (z - mu) ** 2 / log_var.exp()).sum(-1)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    return (log_q - log_p).mean(0)


def kl_mc_distributions(mu, log_var, eps):
    q = Independent(Normal(mu, (0.5 * log_var).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    z = q.base_dist.loc + q.base_dist.scale * eps
    return torch.mean(q.log_prob(z) - p.log_prob(z), dim=0)


def kl_mc_sqrt(mu, log_var, eps):
    sigma = log_var.exp().sqrt()
    z = mu + sigma * eps
    return (0.5 * (z**2 - eps**2) - torch.log(sigma)).sum(-1).mean(0)


def kl_mc_float32(mu, log_var, eps):
    return kl_mc_fixed(mu.float(), log_var.float(), eps.float())


KL_MC_RIGHT = [kl_mc_fixed, kl_mc_distributions, kl_mc_sqrt, kl_mc_float32]


@pytest.mark.parametrize("fn", KL_MC_RIGHT)
def test_1_4_fixed_versions_pass(fn):
    assert_passes("1.4", fn)


@pytest.mark.parametrize("fn", KL_MC_RIGHT)
def test_1_4_fixed_versions_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.4", fn, n=50)


def test_1_4_the_provided_function_fails_and_is_recognised_without_giving_the_fix():
    r = assert_fails("1.4", provided_kl_mc, "still the provided function's behaviour")
    assert "exp(log_var / 2)" not in r.message and "0.5" not in r.message
    assert_fails_for_secrets("1.4", provided_kl_mc, n=5, hint="still the provided function's behaviour")


def test_1_4_the_provided_function_is_the_one_in_the_exercise_notebook():
    import json

    from course_tools import ROOT

    nb = json.loads((ROOT / "exercises" / "01_kl_elbo.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("exercise") == "1.4")
    namespace = {"torch": torch, "math": math}
    exec("".join(cell["source"]), namespace)  # noqa: S102 - the course's own handed-out code
    g = torch.Generator().manual_seed(0)
    mu, log_var = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    eps = torch.randn(10, 4, 3, generator=g)
    assert torch.allclose(namespace["kl_monte_carlo"](mu, log_var, eps), provided_kl_mc(mu, log_var, eps))


def _kl_mc_density_fixed_instead(mu, log_var, eps):
    z = mu + torch.exp(log_var) * eps
    var = torch.exp(2 * log_var)  # makes log q match the draws, of the wrong q
    log_q = -0.5 * (math.log(2 * math.pi) + var.log() + (z - mu) ** 2 / var).sum(-1)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    return (log_q - log_p).mean(0)


KL_MC_WRONG = {
    "the density fixed instead of the draws": (_kl_mc_density_fixed_instead, "fix the draws, not the density"),
    "the closed form instead": (
        lambda mu, lv, eps: 0.5 * (lv.exp() + mu**2 - 1 - lv).sum(-1),
        "closed form of exercise 1.3",
    ),
    "sum over the draws": (lambda mu, lv, eps: kl_mc_fixed(mu, lv, eps) * eps.shape[0], "do not sum"),
    "sign slip": (lambda mu, lv, eps: -kl_mc_fixed(mu, lv, eps), "sign slip"),
    "mean over everything": (lambda mu, lv, eps: kl_mc_fixed(mu, lv, eps).mean(), "one estimate per row"),
    "sigma = log_var / 2": (
        lambda mu, lv, eps: kl_mc_fixed(mu, 2 * torch.log((0.5 * lv).abs() + 1e-3), eps),
        None,
    ),
    "constant": (lambda mu, lv, eps: torch.zeros(mu.shape[0]), None),
}


@pytest.mark.parametrize("name", list(KL_MC_WRONG))
def test_1_4_wrong_answers_fail(name):
    fn, hint = KL_MC_WRONG[name]
    assert_fails("1.4", fn, hint)
    assert_fails_for_secrets("1.4", fn, n=5, hint=hint)


def test_1_4_input_edits_do_not_leak_into_later_cases():
    def vandal(mu, log_var, eps):
        out = kl_mc_fixed(mu, log_var, eps)
        eps.zero_()
        log_var.fill_(3.0)
        return out

    assert_passes("1.4", vandal)


# --------------------------------------------------------------------------------------
# 1.5 importance_log_evidence(log_joint, log_q, z): log (1/K) sum_k exp(log w_k), stably


def ile_logsumexp(log_joint, log_q, z):
    log_w = log_joint(z) - log_q(z)
    return torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])


def ile_max_trick(log_joint, log_q, z):
    log_w = log_joint(z) - log_q(z)
    m = log_w.max()
    return m + torch.log(torch.mean(torch.exp(log_w - m)))


def ile_shifted_logsumexp(log_joint, log_q, z):
    log_w = log_joint(z) - log_q(z)
    return (log_w - math.log(len(log_w))).logsumexp(-1)


def ile_float32(log_joint, log_q, z):
    log_w = (log_joint(z) - log_q(z)).float()
    return torch.logsumexp(log_w, 0) - torch.log(torch.tensor(float(len(log_w))))


IMPORTANCE_RIGHT = [
    ile_logsumexp,
    ile_max_trick,
    ile_shifted_logsumexp,
    ile_float32,
]


@pytest.mark.parametrize("fn", IMPORTANCE_RIGHT)
def test_1_5_correct_alternatives_pass(fn):
    assert_passes("1.5", fn)


@pytest.mark.parametrize("fn", IMPORTANCE_RIGHT)
def test_1_5_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.5", fn, n=50)


IMPORTANCE_WRONG = {
    "mean of the log weights (the ELBO)": (
        lambda lj, lq, z: (lj(z) - lq(z)).mean(),
        "that is the ELBO estimate",
    ),
    "missing -log K": (lambda lj, lq, z: torch.logsumexp(lj(z) - lq(z), 0), "subtract log K"),
    "sign slip on log q": (
        lambda lj, lq, z: torch.logsumexp(lj(z) + lq(z), 0) - math.log(len(z)),
        "sign slip",
    ),
    "log q - log joint": (
        lambda lj, lq, z: torch.logsumexp(lq(z) - lj(z), 0) - math.log(len(z)),
        None,
    ),
    "no reduction": (lambda lj, lq, z: lj(z) - lq(z), "return one number"),
    "naive log(mean(exp))": (
        lambda lj, lq, z: torch.log(torch.mean(torch.exp(lj(z) - lq(z)))),
        "logsumexp",
    ),
    "K counted as z.numel() (K * d)": (
        lambda lj, lq, z: torch.logsumexp(lj(z) - lq(z), 0) - math.log(z.numel()),
        "not z.numel()",
    ),
    "constant": (lambda lj, lq, z: torch.tensor(0.0), None),
}


@pytest.mark.parametrize("name", list(IMPORTANCE_WRONG))
def test_1_5_wrong_answers_fail(name):
    fn, hint = IMPORTANCE_WRONG[name]
    assert_fails("1.5", fn, hint)
    assert_fails_for_secrets("1.5", fn, n=5, hint=hint)


def test_1_5_naive_answer_fails_only_on_the_stability_case():
    r = assert_fails("1.5", IMPORTANCE_WRONG["naive log(mean(exp))"][0], "not finite")
    assert "-1000" in r.message


def test_1_5_input_edits_do_not_leak_into_later_cases():
    def vandal(log_joint, log_q, z):
        out = ile_logsumexp(log_joint, log_q, z)
        z.mul_(100.0)
        return out

    assert_passes("1.5", vandal)


# --------------------------------------------------------------------------------------
# 1.6 elbo_estimate(log_joint, mu, var, eps): mean over K of log p(x, z) - log q(z),
#     z = mu + sqrt(var) * eps, differentiable in mu and var


def elbo_distributions(log_joint, mu, var, eps):
    q = Normal(mu, var.sqrt())
    z = mu + var.sqrt() * eps
    return (log_joint(z) - q.log_prob(z).sum(-1)).mean()


def elbo_hand_eps(log_joint, mu, var, eps):
    std = torch.sqrt(var)
    z = mu + std * eps
    log_q = -0.5 * (eps**2 + torch.log(2 * math.pi * var)).sum(-1)
    return torch.mean(log_joint(z) - log_q)


def elbo_multivariate(log_joint, mu, var, eps):
    z = mu + var.pow(0.5) * eps
    log_q = MultivariateNormal(mu, covariance_matrix=torch.diag(var)).log_prob(z)
    return (log_joint(z) - log_q).sum() / eps.shape[0]


def elbo_log_std(log_joint, mu, var, eps):
    log_std = 0.5 * torch.log(var)
    z = mu + torch.exp(log_std) * eps
    log_q = (-0.5 * LOG_2PI - log_std - 0.5 * ((z - mu) / log_std.exp()) ** 2).sum(-1)
    return (log_joint(z) - log_q).mean()


def elbo_float32(log_joint, mu, var, eps):
    return elbo_distributions(log_joint, mu, var, eps).to(torch.float32)


def elbo_float32_inside(log_joint, mu, var, eps):
    mu32, var32, eps32 = mu.float(), var.float(), eps.float()
    z = mu32 + var32.sqrt() * eps32
    log_q = Normal(mu32, var32.sqrt()).log_prob(z).sum(-1)
    return (log_joint(z.double()) - log_q.double()).mean()


def elbo_two_means_independent(log_joint, mu, var, eps):
    q = Independent(Normal(mu, var.sqrt()), 1)
    z = q.mean + q.stddev * eps
    return torch.mean(log_joint(z)) - torch.mean(q.log_prob(z))


ELBO_RIGHT = [
    elbo_distributions,
    elbo_hand_eps,
    elbo_multivariate,
    elbo_log_std,
    elbo_float32,
    elbo_float32_inside,
    elbo_two_means_independent,
]


@pytest.mark.parametrize("fn", ELBO_RIGHT)
def test_1_6_correct_alternatives_pass(fn):
    assert_passes("1.6", fn)


@pytest.mark.parametrize("fn", ELBO_RIGHT)
def test_1_6_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.6", fn, n=50)


def _log_q(z, mu, var):
    return Normal(mu, var.sqrt()).log_prob(z).sum(-1)


def elbo_mu_detached_in_z(log_joint, mu, var, eps):
    z = mu.detach() + var.sqrt() * eps
    return (log_joint(z) - _log_q(z, mu, var)).mean()


def elbo_mu_detached_everywhere(log_joint, mu, var, eps):
    mu = mu.detach()
    z = mu + var.sqrt() * eps
    return (log_joint(z) - _log_q(z, mu, var)).mean()


def elbo_var_detached_in_z(log_joint, mu, var, eps):
    z = mu + var.detach().sqrt() * eps
    return (log_joint(z) - _log_q(z, mu, var)).mean()


def elbo_no_grad(log_joint, mu, var, eps):
    with torch.no_grad():
        return elbo_distributions(log_joint, mu, var, eps)


def elbo_item(log_joint, mu, var, eps):
    return elbo_distributions(log_joint, mu, var, eps).item()


def _elbo_hand(log_q_terms, scale=torch.sqrt):
    """z = mu + scale(var) * eps, log q(z) = the sum over the latent dimensions of log_q_terms(z, mu, var)."""

    def fn(log_joint, mu, var, eps):
        z = mu + scale(var) * eps
        return (log_joint(z) - log_q_terms(z, mu, var).sum(-1)).mean()

    return fn


def elbo_var_as_sigma_in_z_log_q_with_eps(log_joint, mu, var, eps):
    z = mu + var * eps
    log_q = -0.5 * (eps**2 + torch.log(2 * math.pi * var)).sum(-1)
    return (log_joint(z) - log_q).mean()


ELBO_WRONG = {
    "missing sqrt": (
        lambda lj, mu, var, eps: (lj(mu + var * eps) - _log_q(mu + var * eps, mu, var)).mean(),
        "square root of the variance",
    ),
    "dropped entropy": (
        lambda lj, mu, var, eps: lj(mu + var.sqrt() * eps).mean(),
        "dropped the entropy term",
    ),
    "+ log q": (
        lambda lj, mu, var, eps: (
            lj(mu + var.sqrt() * eps) + _log_q(mu + var.sqrt() * eps, mu, var)
        ).mean(),
        "sign slip",
    ),
    "var used as the std in log q": (
        lambda lj, mu, var, eps: (
            lj(mu + var.sqrt() * eps) - Normal(mu, var).log_prob(mu + var.sqrt() * eps).sum(-1)
        ).mean(),
        "not N(z; mu, var^2)",
    ),
    "sum over K": (
        lambda lj, mu, var, eps: (
            lj(mu + var.sqrt() * eps) - _log_q(mu + var.sqrt() * eps, mu, var)
        ).sum(),
        "do not sum",
    ),
    "no reduction": (
        lambda lj, mu, var, eps: lj(mu + var.sqrt() * eps) - _log_q(mu + var.sqrt() * eps, mu, var),
        "return one number",
    ),
    "mu.detach() in z (right value, wrong gradient)": (
        elbo_mu_detached_in_z,
        "gradient with respect to mu",
    ),
    "mu detached everywhere (no gradient to mu)": (
        elbo_mu_detached_everywhere,
        "no gradient reaches mu",
    ),
    "var.detach() in z (wrong gradient to var)": (
        elbo_var_detached_in_z,
        "gradient with respect to var",
    ),
    "var as sigma in z and in log q (Normal(mu, var))": (
        _elbo_hand(lambda z, m, v: Normal(m, v).log_prob(z), scale=lambda v: v),
        "var is the variance sigma^2, not sigma",
    ),
    "var as sigma in z, log q written with eps": (
        elbo_var_as_sigma_in_z_log_q_with_eps,
        "square root of the variance",
    ),
    "log q normaliser log var (log sigma taken as log var)": (
        _elbo_hand(lambda z, m, v: -((z - m) ** 2) / (2 * v) - 0.5 * LOG_2PI - torch.log(v)),
        "log sigma = 1/2 log var, not log var",
    ),
    "log q exponent divided by var^2": (
        _elbo_hand(lambda z, m, v: -((z - m) ** 2) / (2 * v**2) - 0.5 * torch.log(2 * math.pi * v)),
        "var is already sigma^2, do not square it",
    ),
    "log q exponent divided by sqrt(var)": (
        _elbo_hand(lambda z, m, v: -((z - m) ** 2) / (2 * v.sqrt()) - 0.5 * torch.log(2 * math.pi * v)),
        "divide by the variance, not by sqrt(var)",
    ),
    "log q exponent without its 1/2": (
        _elbo_hand(lambda z, m, v: -((z - m) ** 2) / v - 0.5 * torch.log(2 * math.pi * v)),
        "the 1/2 is missing",
    ),
    "log q without -1/2 log(2 pi)": (
        _elbo_hand(lambda z, m, v: -((z - m) ** 2) / (2 * v) - 0.5 * torch.log(v)),
        "missing its constant -1/2 log(2 pi)",
    ),
    "log q with +1/2 log var": (
        _elbo_hand(lambda z, m, v: -((z - m) ** 2) / (2 * v) - 0.5 * LOG_2PI + 0.5 * torch.log(v)),
        "sign slip in log q",
    ),
    "computed under torch.no_grad()": (elbo_no_grad, "no gradient reaches"),
    "returns .item()": (elbo_item, "no gradient reaches"),
    "constant": (lambda lj, mu, var, eps: torch.tensor(0.0), None),
    "constant that requires grad": (lambda lj, mu, var, eps: (mu * 0).sum(), None),
}


@pytest.mark.parametrize("name", list(ELBO_WRONG))
def test_1_6_wrong_answers_fail(name):
    fn, hint = ELBO_WRONG[name]
    assert_fails("1.6", fn, hint)
    assert_fails_for_secrets("1.6", fn, n=5, hint=hint)


def test_1_6_input_edits_do_not_leak_into_the_gradient_check():
    def vandal(log_joint, mu, var, eps):
        out = elbo_distributions(log_joint, mu, var, eps.clone())
        eps.zero_()
        return out

    assert_passes("1.6", vandal)


# --------------------------------------------------------------------------------------
# 1.7 predict_mean_log_estimate(log_px, kl_to_posterior, K): E[log p_hat_K]: the ELBO at K = 1,
#     log p(x) with the exact posterior (any K) or as K -> inf


def predict_branches(log_px, kl_to_posterior, K):
    if kl_to_posterior == 0 or math.isinf(K):
        return log_px
    return log_px - kl_to_posterior


def predict_tensor(log_px, kl_to_posterior, K):
    return torch.tensor(log_px) - (torch.tensor(kl_to_posterior) if K == 1 else 0.0)


def predict_kl_over_k(log_px, kl_to_posterior, K):  # not the bias for 1 < K < inf, but right where it is asked
    return log_px - kl_to_posterior / K


PREDICT_RIGHT = [predict_branches, predict_tensor, predict_kl_over_k]


@pytest.mark.parametrize("fn", PREDICT_RIGHT)
def test_1_7_correct_predictions_pass(fn):
    assert_passes("1.7", fn)


@pytest.mark.parametrize("fn", PREDICT_RIGHT)
def test_1_7_correct_predictions_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.7", fn, n=50)


PREDICT_WRONG = {
    "unbiased, like p_hat": (lambda lp, kl, K: lp, "log p_hat is not"),
    "above log p(x)": (lambda lp, kl, K: lp + kl if K == 1 else lp, "sits below log p(x)"),
    "the bias instead of the mean": (lambda lp, kl, K: -kl, "that is the bias"),
    "the ELBO at every K": (lambda lp, kl, K: lp - kl, "the bias of log p_hat_K vanishes"),
    "a string": (lambda lp, kl, K: "ELBO", "should return a tensor"),
    "one value per case in a list": (lambda lp, kl, K: [lp, lp], "return one number"),
}


@pytest.mark.parametrize("name", list(PREDICT_WRONG))
def test_1_7_wrong_predictions_fail(name):
    fn, hint = PREDICT_WRONG[name]
    assert_fails("1.7", fn, hint)
    assert_fails_for_secrets("1.7", fn, n=5, hint=hint)


def test_1_7_a_number_copied_from_the_notebook_fails_for_another_student():
    from helpers import grading_secret

    from course_utils.grading import get, run_check

    seen = []

    def spy(log_px, kl, K):
        seen.append(((log_px, kl, K), predict_branches(log_px, kl, K)))
        return seen[-1][1]

    assert_passes("1.7", spy)
    table = dict(seen)
    with grading_secret("secret", "bob"):
        r = run_check(get("1.7"), lambda *a: table.get(a, 0.0))
    assert r.status == "failed"


# --------------------------------------------------------------------------------------
# 1.8 iwae_bound(log_joint, mu, var, eps): mean over the S sets of log (1/K) sum_k w_sk,
#     z = mu + sqrt(var) * eps of shape (S, K, q), differentiable in mu and var


def iwae_logsumexp(log_joint, mu, var, eps):
    z = mu + var.sqrt() * eps
    log_q = Independent(Normal(mu, var.sqrt()), 1).log_prob(z)
    log_w = log_joint(z) - log_q
    return (torch.logsumexp(log_w, dim=1) - math.log(eps.shape[1])).mean()


def iwae_flattened(log_joint, mu, var, eps):
    S, K, d = eps.shape
    z = (mu + torch.sqrt(var) * eps).reshape(S * K, d)
    log_q = -0.5 * (torch.log(2 * math.pi * var) + (z - mu) ** 2 / var).sum(-1)
    log_w = (log_joint(z) - log_q).reshape(S, K)
    m = log_w.max(dim=1, keepdim=True).values
    return (m.squeeze(1) + torch.log(torch.exp(log_w - m).mean(dim=1))).sum() / S


def iwae_by_loop(log_joint, mu, var, eps):
    total = 0.0
    for eps_s in eps:
        z = mu + var**0.5 * eps_s
        log_w = log_joint(z) - MultivariateNormal(mu, torch.diag(var)).log_prob(z)
        total = total + torch.logsumexp(log_w, 0) - math.log(len(log_w))
    return total / len(eps)


IWAE_RIGHT = [iwae_logsumexp, iwae_flattened, iwae_by_loop]


@pytest.mark.parametrize("fn", IWAE_RIGHT)
def test_1_8_correct_alternatives_pass(fn):
    assert_passes("1.8", fn)


@pytest.mark.parametrize("fn", IWAE_RIGHT)
def test_1_8_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("1.8", fn, n=50)


def _iwae_log_w(log_joint, mu, var, eps, sd=None):
    z = mu + (var.sqrt() if sd is None else sd) * eps
    return log_joint(z) - Independent(Normal(mu, var.sqrt()), 1).log_prob(z)


def iwae_detached(log_joint, mu, var, eps):
    return iwae_logsumexp(log_joint, mu.detach(), var.detach(), eps)


IWAE_WRONG = {
    "the ELBO (mean of all log-weights)": (
        lambda lj, mu, var, eps: _iwae_log_w(lj, mu, var, eps).mean(), "that is the ELBO estimate"),
    "all S * K weights pooled": (
        lambda lj, mu, var, eps: _iwae_log_w(lj, mu, var, eps).flatten().logsumexp(0) - math.log(eps[..., 0].numel()),
        "pooled"),
    "axes swapped": (
        lambda lj, mu, var, eps: (_iwae_log_w(lj, mu, var, eps).logsumexp(0) - math.log(eps.shape[0])).mean(),
        "along axis 1"),
    "missing log K": (lambda lj, mu, var, eps: _iwae_log_w(lj, mu, var, eps).logsumexp(1).mean(), "subtract log K"),
    "one value per set": (
        lambda lj, mu, var, eps: _iwae_log_w(lj, mu, var, eps).logsumexp(1) - math.log(eps.shape[1]),
        "return one number"),
    "var used as the standard deviation": (
        lambda lj, mu, var, eps: (_iwae_log_w(lj, mu, var, eps, sd=var).logsumexp(1) - math.log(eps.shape[1])).mean(),
        "square root of the variance"),
    "naive log(mean(exp))": (
        lambda lj, mu, var, eps: torch.log(_iwae_log_w(lj, mu, var, eps).exp().mean(1)).mean(), "not finite"),
    "detached from mu and var": (iwae_detached, "no gradient reaches"),
    "constant": (lambda lj, mu, var, eps: torch.tensor(0.0), None),
}


@pytest.mark.parametrize("name", list(IWAE_WRONG))
def test_1_8_wrong_answers_fail(name):
    fn, hint = IWAE_WRONG[name]
    assert_fails("1.8", fn, hint)
    assert_fails_for_secrets("1.8", fn, n=5, hint=hint)


def test_1_8_input_edits_do_not_leak_into_the_gradient_check():
    def vandal(log_joint, mu, var, eps):
        out = iwae_logsumexp(log_joint, mu, var, eps.clone())
        eps.zero_()
        return out

    assert_passes("1.8", vandal)
