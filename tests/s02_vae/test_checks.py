"""The graders of section 02 against student answers written independently here.

Every correct alternative is written without course_utils' reference functions and must
pass; every plausible wrong answer must fail with 0 points and, where the grader knows the
mistake, with the sentence that teaches it.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_fails, assert_fails_for_secrets, assert_passes, assert_passes_for_secrets
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from course_utils.grading import exercises

LOG_2PI = math.log(2 * math.pi)
pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py: small tensors, busy CPUs


def test_section_02_has_the_six_exercises_and_most_points_beyond_warm_ups():
    ex = exercises("02")
    assert [(e.id, e.function, e.points, e.kind) for e in ex] == [
        ("2.1", "score_function_grad", 2, "build"),
        ("2.2", "negative_elbo_gaussian", 2, "find-the-bug"),
        ("2.3", "negative_elbo_bernoulli", 1, "warm-up"),
        ("2.4", "vae_step", 4, "training-step"),
        ("2.5", "quantize", 2, "warm-up"),
        ("2.6", "vq_loss", 2, "warm-up"),
    ]
    assert sum(e.points for e in ex if e.kind != "warm-up") >= 0.5 * sum(e.points for e in ex)


def test_every_exercise_has_tiered_hints_and_only_the_last_gives_the_formula():
    for e in exercises("02"):
        assert len(e.hints) >= 2, e.id
        for tier in e.tiers[:-1]:
            assert "eps / sigma" not in tier and "exp(0.5 * log_var" not in tier, (e.id, tier)


# --------------------------------------------------------------------------------------
# 2.1 score_function_grad


def sf_log_prob(f, mu, sigma, eps):
    """The score by autograd on Normal.log_prob, per sample, then averaged."""
    mu_, sigma_ = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    z = (mu + sigma * eps).detach()
    log_q = Normal(mu_, sigma_).log_prob(z)
    rows = []
    for i in range(len(z)):
        g = torch.autograd.grad(log_q[i], (mu_, sigma_), retain_graph=True)
        rows.append(torch.stack(g) * f(z[i]))
    return torch.stack(rows).mean(0).detach()


def sf_z_form(f, mu, sigma, eps):
    z = mu + sigma * eps
    fz = f(z)
    return torch.tensor([(fz * (z - mu) / sigma**2).mean(), (fz * ((z - mu) ** 2 / sigma**3 - 1 / sigma)).mean()])


def sf_surrogate(f, mu, sigma, eps):
    """The surrogate loss mean(f(z) log q(z)) with z held fixed: its autograd gradient is the estimate."""
    mu_, sigma_ = mu.clone().requires_grad_(True), sigma.clone().requires_grad_(True)
    z = (mu + sigma * eps).detach()
    surrogate = (f(z) * Normal(mu_, sigma_).log_prob(z)).mean()
    return torch.stack(torch.autograd.grad(surrogate, (mu_, sigma_)))


def sf_float32(f, mu, sigma, eps):
    mu, sigma, eps = mu.float(), sigma.float(), eps.float()
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps).mean() / sigma, (fz * (eps**2 - 1)).mean() / sigma])


SF_RIGHT = [
    sf_z_form,
    sf_surrogate,
    sf_float32,
]


@pytest.mark.parametrize("fn", [sf_log_prob, *SF_RIGHT])  # sf_log_prob (one autograd call per sample) once only
def test_2_1_correct_alternatives_pass(fn):
    assert_passes("2.1", fn)


@pytest.mark.parametrize("fn", SF_RIGHT)
def test_2_1_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("2.1", fn, n=50)


def _sf(mu_score, sigma_score, reduce=torch.mean):
    def fn(f, mu, sigma, eps):
        fz = f(mu + sigma * eps)
        return torch.stack([reduce(fz * mu_score(eps, sigma)), reduce(fz * sigma_score(eps, sigma))])
    return fn


SF_WRONG = {
    "no 1/sigma in d/dmu": (_sf(lambda e, s: e, lambda e, s: (e**2 - 1) / s), "divide by sigma"),
    "no -1 in d/dsigma": (_sf(lambda e, s: e / s, lambda e, s: e**2 / s), "normaliser"),
    "d/dvariance": (_sf(lambda e, s: e / s, lambda e, s: (e**2 - 1) / (2 * s**2)), "variance"),
    "d/dlog sigma": (_sf(lambda e, s: e / s, lambda e, s: e**2 - 1), "with respect to log sigma"),
    "sum over samples": (_sf(lambda e, s: e / s, lambda e, s: (e**2 - 1) / s, torch.sum), "do not sum"),
    "per sample": (lambda f, mu, sigma, eps: torch.stack([f(mu + sigma * eps) * eps / sigma,
                                                          f(mu + sigma * eps) * (eps**2 - 1) / sigma], -1),
                   "shape (2,)"),
    "pathwise instead": (lambda f, mu, sigma, eps: torch.stack([(2 * (mu + sigma * eps)).mean(),
                                                                 (2 * (mu + sigma * eps) * eps).mean()]), None),
}


@pytest.mark.parametrize("name", list(SF_WRONG))
def test_2_1_wrong_answers_fail(name):
    fn, hint = SF_WRONG[name]
    assert_fails("2.1", fn, hint)
    assert_fails_for_secrets("2.1", fn, n=5, hint=hint)


# --------------------------------------------------------------------------------------
# 2.2 negative_elbo_gaussian (find the bug)


def kl_dist(mu_z, log_var_z):
    q = Independent(Normal(mu_z, torch.exp(0.5 * log_var_z)), 1)
    p = Independent(Normal(torch.zeros_like(mu_z), torch.ones_like(mu_z)), 1)
    return kl_divergence(q, p)


def neg_elbo_g_dist(x, mu_x, log_var_x, mu_z, log_var_z):
    return -Normal(mu_x, torch.exp(0.5 * log_var_x)).log_prob(x).sum(-1) + kl_dist(mu_z, log_var_z)


def neg_elbo_g_gaussian_nll(x, mu_x, log_var_x, mu_z, log_var_z):
    nll = F.gaussian_nll_loss(mu_x, x, log_var_x.exp(), full=True, reduction="none").sum(-1)
    return nll + kl_dist(mu_z, log_var_z)


def neg_elbo_g_float32(x, mu_x, log_var_x, mu_z, log_var_z):
    args = [t.float() for t in (x, mu_x, log_var_x, mu_z, log_var_z)]
    return neg_elbo_g_dist(*args)


G_RIGHT = [
    neg_elbo_g_dist,
    neg_elbo_g_gaussian_nll,
    neg_elbo_g_float32,
]


@pytest.mark.parametrize("fn", G_RIGHT)
def test_2_2_correct_alternatives_pass(fn):
    assert_passes("2.2", fn)


@pytest.mark.parametrize("fn", G_RIGHT)
def test_2_2_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("2.2", fn, n=50)


def _nll_terms(x, mu_x, log_var_x):
    return 0.5 * (LOG_2PI + log_var_x) + (x - mu_x) ** 2 / (2 * log_var_x.exp())


G_WRONG = {
    "slide's plus sign": (
        lambda x, m, lv, mz, lvz: -(0.5 * lv + (x - m) ** 2 / (2 * lv.exp())).sum(-1) + kl_dist(mz, lvz),
        "sign slip"),
    "missing constant": (
        lambda x, m, lv, mz, lvz: (0.5 * lv + (x - m) ** 2 / (2 * lv.exp())).sum(-1) + kl_dist(mz, lvz),
        "constant"),
    "log_var as sigma": (
        lambda x, m, lv, mz, lvz: (0.5 * (LOG_2PI + torch.log(lv**2)) + (x - m) ** 2 / (2 * lv**2)).sum(-1)
        + kl_dist(mz, lvz),
        "not sigma"),
    "sum over the batch": (
        lambda x, m, lv, mz, lvz: _nll_terms(x, m, lv).sum() + kl_dist(mz, lvz).sum(), "not over the batch"),
    "sum over the batch axis": (lambda x, m, lv, mz, lvz: _nll_terms(x, m, lv).sum(0), "not over the batch"),
    "mean over pixels": (lambda x, m, lv, mz, lvz: _nll_terms(x, m, lv).mean(-1) + kl_dist(mz, lvz), "average"),
    "gaussian_nll_loss with reduction='sum'": (
        lambda x, m, lv, mz, lvz: F.gaussian_nll_loss(m, x, lv.exp(), full=True, reduction="sum") + kl_dist(mz, lvz),
        "reduction='sum' sums over the batch too"),
    "gaussian_nll_loss with its defaults (mean, no constant)": (
        lambda x, m, lv, mz, lvz: F.gaussian_nll_loss(m, x, lv.exp()) + kl_dist(mz, lvz),
        "unless full=True"),
    "gaussian_nll_loss(full=True) with the default mean": (
        lambda x, m, lv, mz, lvz: F.gaussian_nll_loss(m, x, lv.exp(), full=True) + kl_dist(mz, lvz),
        "averages over everything by default"),
    "KL subtracted": (lambda x, m, lv, mz, lvz: _nll_terms(x, m, lv).sum(-1) - kl_dist(mz, lvz), "added"),
    "the ELBO itself": (lambda x, m, lv, mz, lvz: -(_nll_terms(x, m, lv).sum(-1) + kl_dist(mz, lvz)),
                        "not the ELBO"),
    "no KL": (lambda x, m, lv, mz, lvz: _nll_terms(x, m, lv).sum(-1), "missing the KL"),
    "variance squared": (
        lambda x, m, lv, mz, lvz: (0.5 * (LOG_2PI + lv) + (x - m) ** 2 / (2 * lv.exp() ** 2)).sum(-1)
        + kl_dist(mz, lvz),
        "not exp(log_var_x)^2"),
    "Normal's scale given the variance exp(log_var_x)": (
        lambda x, m, lv, mz, lvz: -Normal(m, lv.exp()).log_prob(x).sum(-1) + kl_dist(mz, lvz),
        "this is still the provided function's behaviour"),
}


@pytest.mark.parametrize("name", list(G_WRONG))
def test_2_2_wrong_answers_fail(name):
    fn, hint = G_WRONG[name]
    assert_fails("2.2", fn, hint)
    assert_fails_for_secrets("2.2", fn, n=5, hint=hint)




def _provided_gaussian():
    """The find-the-bug function exactly as the exercise notebook hands it out (its STUB region)."""
    from course_tools import ROOT

    source = (ROOT / "notebooks" / "02_vae.py").read_text()
    cell = source[source.index('exercise="2.2"'):]
    header = cell[cell.index("def negative_elbo_gaussian"):cell.index("    \"\"\"")]
    body = cell[cell.index("### BEGIN STUB") + len("### BEGIN STUB"):cell.index("    ### END STUB")]
    namespace = {"torch": torch, "math": math}
    exec(header + body, namespace)  # noqa: S102 - the course's own notebook source
    return namespace["negative_elbo_gaussian"]


def test_2_2_the_provided_function_fails_and_is_recognised():
    fn = _provided_gaussian()
    assert_fails("2.2", fn, "this is still the provided function's behaviour")
    assert_fails_for_secrets("2.2", fn, n=5, hint="provided function's behaviour")


def test_2_2_the_provided_function_is_wrong_by_the_log_variance_only():
    """An independent oracle: torch.distributions with sigma^2 = exp(log_var_x) as its scale gives the
    provided function's value, with sigma = exp(log_var_x / 2) the reference's."""
    from course_utils.s02_vae import vae

    g = torch.Generator().manual_seed(0)
    x, mu_x = torch.rand(4, 64, generator=g, dtype=torch.float64), torch.rand(4, 64, generator=g, dtype=torch.float64)
    log_var_x = -2 + 0.5 * torch.randn(4, 64, generator=g, dtype=torch.float64)
    mu_z, log_var_z = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64)
    kl = kl_dist(mu_z, log_var_z)
    torch.testing.assert_close(_provided_gaussian()(x, mu_x, log_var_x, mu_z, log_var_z),
                               -Normal(mu_x, log_var_x.exp()).log_prob(x).sum(-1) + kl)
    torch.testing.assert_close(vae.negative_elbo_gaussian(x, mu_x, log_var_x, mu_z, log_var_z),
                               -Normal(mu_x, (0.5 * log_var_x).exp()).log_prob(x).sum(-1) + kl)
# --------------------------------------------------------------------------------------
# 2.3 negative_elbo_bernoulli


def neg_elbo_b_dist(x, logits, mu_z, log_var_z):
    # Bernoulli.log_prob accepts grey levels (validate_args off): x log p + (1 - x) log(1 - p)
    return -Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1) + kl_dist(mu_z, log_var_z)


def neg_elbo_b_bce(x, logits, mu_z, log_var_z):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    return bce + 0.5 * (log_var_z.exp() + mu_z**2 - 1 - log_var_z).sum(1)


def neg_elbo_b_softplus(x, logits, mu_z, log_var_z):
    # -[x log s(l) + (1-x) log(1-s(l))] = softplus(l) - x l
    return (F.softplus(logits) - x * logits).sum(-1) + kl_dist(mu_z, log_var_z)


def neg_elbo_b_float32(x, logits, mu_z, log_var_z):
    return neg_elbo_b_softplus(x.float(), logits.float(), mu_z.float(), log_var_z.float())


def neg_elbo_b_logsigmoid(x, logits, mu_z, log_var_z):
    log_lik = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)
    return 0.5 * torch.sum(mu_z**2 + log_var_z.exp() - log_var_z - 1, dim=-1) - log_lik.sum(-1)


B_RIGHT = [
    neg_elbo_b_dist,
    neg_elbo_b_bce,
    neg_elbo_b_softplus,
    neg_elbo_b_float32,
    neg_elbo_b_logsigmoid,
]


@pytest.mark.parametrize("fn", B_RIGHT)
def test_2_3_correct_alternatives_pass(fn):
    assert_passes("2.3", fn)


@pytest.mark.parametrize("fn", B_RIGHT)
def test_2_3_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("2.3", fn, n=50)


def _bce(x, logits, **kw):
    return F.binary_cross_entropy_with_logits(logits, x, **kw)


B_WRONG = {
    "default mean reduction": (lambda x, lg, mz, lvz: _bce(x, lg) + kl_dist(mz, lvz), "reduction='none'"),
    "sum reduction": (lambda x, lg, mz, lvz: _bce(x, lg, reduction="sum") + kl_dist(mz, lvz), "batch too"),
    "mean over pixels": (lambda x, lg, mz, lvz: _bce(x, lg, reduction="none").mean(-1) + kl_dist(mz, lvz),
                         "do not average"),
    "sign slip": (lambda x, lg, mz, lvz: -_bce(x, lg, reduction="none").sum(-1) + kl_dist(mz, lvz), "sign slip"),
    "sigmoid twice": (lambda x, lg, mz, lvz: _bce(x, torch.sigmoid(lg), reduction="none").sum(-1) + kl_dist(mz, lvz),
                      "sigmoid applied twice"),
    "logits as probabilities": (
        lambda x, lg, mz, lvz: -(x * torch.log(lg) + (1 - x) * torch.log(1 - lg)).sum(-1) + kl_dist(mz, lvz),
        "log-odds"),
    "no KL": (lambda x, lg, mz, lvz: _bce(x, lg, reduction="none").sum(-1), "missing the KL"),
    "F.binary_cross_entropy on sigmoid(logits) (log clamped at -100)": (
        lambda x, lg, mz, lvz: F.binary_cross_entropy(torch.sigmoid(lg), x, reduction="none").sum(-1)
        + kl_dist(mz, lvz),
        "clamps log(1 - 1) at -100"),
    "unstable log sigmoid": (
        lambda x, lg, mz, lvz: -(x * torch.log(torch.sigmoid(lg)) + (1 - x) * torch.log(1 - torch.sigmoid(lg))).sum(-1)
        + kl_dist(mz, lvz),
        "not finite"),
}


@pytest.mark.parametrize("name", list(B_WRONG))
def test_2_3_wrong_answers_fail(name):
    fn, hint = B_WRONG[name]
    assert_fails("2.3", fn, hint)
    assert_fails_for_secrets("2.3", fn, n=5, hint=hint)


# --------------------------------------------------------------------------------------
# 2.4 vae_step (training step)


def step_by_hand(encoder, decoder, optimizer, x, eps):
    """Bernoulli log-likelihood by torch.distributions, KL by kl_divergence, loss returned as a float."""
    optimizer.zero_grad()
    h = encoder(x)
    j = h.shape[-1] // 2
    mu, log_var = h[:, :j], h[:, j:]
    z = mu + (log_var / 2).exp() * eps
    nll = -Bernoulli(logits=decoder(z), validate_args=False).log_prob(x).sum(-1)
    loss = (nll + kl_dist(mu, log_var)).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_rsample_sum(encoder, decoder, optimizer, x, eps):
    """The loss summed then divided by the batch; zero_grad on the modules; gradients by autograd.grad."""
    params = [*encoder.parameters(), *decoder.parameters()]
    for p in params:
        p.grad = None
    mu, log_var = encoder(x).chunk(2, dim=1)
    std = torch.exp(0.5 * log_var)
    z = torch.addcmul(mu, std, eps)
    total = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="sum") + neg_kl_sum(mu, log_var)
    loss = total / x.shape[0]
    for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
        p.grad = g
    optimizer.step()
    return loss.detach()


def neg_kl_sum(mu, log_var):
    return -0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp())


STEP_RIGHT = [step_by_hand, step_rsample_sum]


@pytest.mark.parametrize("fn", STEP_RIGHT)
def test_2_4_correct_alternatives_pass(fn):
    assert_passes("2.4", fn)


@pytest.mark.parametrize("fn", STEP_RIGHT)
def test_2_4_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("2.4", fn, n=20)


def _step_with(bug):
    """step_by_hand with one mistake."""

    def fn(encoder, decoder, optimizer, x, eps):
        if bug != "no zero_grad":
            optimizer.zero_grad()
        mu, log_var = encoder(x).chunk(2, -1)
        scale = {"log_var as sigma": log_var, "variance as sigma": log_var.exp()}.get(bug, (0.5 * log_var).exp())
        noise = torch.randn_like(eps) if bug == "fresh noise" else eps
        z = mu + scale * noise
        if bug == "detached z":
            z = z.detach()
        bce = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none")
        nll = bce.mean(-1) if bug == "mean over pixels" else bce.sum(-1)
        kl = kl_dist(mu, log_var)
        per_digit = {"KL subtracted": nll - kl, "no KL": nll}.get(bug, nll + kl)
        loss = per_digit.sum() if bug == "batch sum" else per_digit.mean()
        if bug == "ascent":
            (-loss).backward()
        else:
            loss.backward()
        if bug != "no step":
            optimizer.step()
        return loss.detach()

    return fn


STEP_WRONG = {
    "no zero_grad": "gradients accumulate",
    "KL subtracted": "the KL is added",
    "no KL": "missing the KL term",
    "mean over pixels": "do not average",
    "batch sum": "average the loss over the batch",
    "log_var as sigma": "log_var is log sigma^2, not sigma",
    "variance as sigma": "exp(log_var) is the variance",
    "detached z": "do not detach the sample",
    "ascent": "sign slip",
    "fresh noise": "use the eps it is given",
    "no step": "no parameter moved",
}


@pytest.mark.parametrize("name", list(STEP_WRONG))
def test_2_4_wrong_answers_fail(name):
    assert_fails("2.4", _step_with(name), STEP_WRONG[name])


@pytest.mark.parametrize("name", ["no zero_grad", "KL subtracted", "mean over pixels"])
def test_2_4_wrong_answers_fail_under_many_secrets(name):
    assert_fails_for_secrets("2.4", _step_with(name), n=5, hint=STEP_WRONG[name])


def test_2_4_leftover_gradients_survive_the_trip_to_the_graders_sandbox():
    """The grader pickles the arguments (cloudpickle), which drops ``.grad``: the request carries the leftover
    gradients beside them and the sandbox puts them back, or a step without zero_grad would pass there and fail
    in the notebook."""
    import cloudpickle

    from course_tools.autograde.child import _restore_grads
    from course_tools.autograde.sandbox import _leftover_grads
    from course_utils.s02_vae.checks import _step_nets

    enc, dec, opt, x, eps = args = _step_nets(7)
    request = {"op": "call", "args": args, "kwargs": {}, "grads": _leftover_grads(args, {})}
    arrived = cloudpickle.loads(cloudpickle.dumps(request))
    enc2, dec2, opt2, *_ = arrived["args"]
    assert next(enc2.parameters()).grad is None  # what pickling alone delivers
    _restore_grads(arrived)
    for a, b in zip([*enc.parameters(), *dec.parameters()], [*enc2.parameters(), *dec2.parameters()], strict=True):
        assert a.grad is not None and torch.equal(a.grad, b.grad)
    assert opt2.param_groups[0]["params"][0] is next(enc2.parameters())


def test_vae_step_is_one_sgd_step_on_the_autograd_gradient_of_the_negative_elbo():
    """An independent oracle for the reference: the parameters move by -lr times torch.func's gradient of
    the batch-mean -ELBO written with torch.distributions."""
    from torch.func import functional_call, grad

    from course_utils.s02_vae import vae

    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4)).double()
    dec = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 6)).double()
    x, eps = torch.rand(8, 6, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    pe = {k: v.detach().clone() for k, v in enc.named_parameters()}
    pd = {k: v.detach().clone() for k, v in dec.named_parameters()}

    def loss(pe, pd):
        mu, log_var = functional_call(enc, pe, (x,)).chunk(2, -1)
        z = Normal(mu, (0.5 * log_var).exp()).mean + (0.5 * log_var).exp() * eps
        logits = functional_call(dec, pd, (z,))
        return (-Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1) + kl_dist(mu, log_var)).mean()

    ge, gd = grad(loss, argnums=(0, 1))(pe, pd)
    lr = 0.3
    out = vae.vae_step(enc, dec, torch.optim.SGD([*enc.parameters(), *dec.parameters()], lr=lr), x, eps)
    torch.testing.assert_close(out, loss(pe, pd).detach())
    for k, p in enc.named_parameters():
        torch.testing.assert_close(p.detach(), pe[k] - lr * ge[k])
    for k, p in dec.named_parameters():
        torch.testing.assert_close(p.detach(), pd[k] - lr * gd[k])


# --------------------------------------------------------------------------------------
# 2.5 quantize


def q_cdist(z_e, codebook):
    flat = z_e.reshape(-1, z_e.shape[-1])
    idx = torch.cdist(flat, codebook).argmin(-1).reshape(z_e.shape[:-1])
    z_q = codebook[idx]
    return z_e + (z_q - z_e).detach(), idx


def q_expanded(z_e, codebook):
    # ||a - b||^2 = |a|^2 - 2 a.b + |b|^2
    d2 = (z_e**2).sum(-1, keepdim=True) - 2 * z_e @ codebook.T + (codebook**2).sum(-1)
    idx = torch.argmin(d2, dim=-1)
    z_q = F.embedding(idx, codebook)
    return z_q.detach() + z_e - z_e.detach(), idx


def q_one_hot_float32(z_e, codebook):
    z32, c32 = z_e.float(), codebook.float()
    idx = torch.cdist(z32.reshape(-1, z32.shape[-1]), c32).argmin(-1).reshape(z_e.shape[:-1])
    e_k = F.one_hot(idx, len(codebook)).to(codebook.dtype) @ codebook
    return e_k.detach() + (z_e - z_e.detach()), idx


Q_RIGHT = [
    q_cdist,
    q_expanded,
    q_one_hot_float32,
]


@pytest.mark.parametrize("fn", Q_RIGHT)
def test_2_5_correct_alternatives_pass(fn):
    assert_passes("2.5", fn)


@pytest.mark.parametrize("fn", Q_RIGHT)
def test_2_5_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("2.5", fn, n=50)


def _d2(z_e, codebook):
    return ((z_e.unsqueeze(-2) - codebook) ** 2).sum(-1)


def q_codebook_grad_too(z_e, codebook):  # the value e_k and dz_q/dz_e = I, but the gradient reaches the codebook
    idx = _d2(z_e, codebook).argmin(-1)
    return codebook[idx] + (z_e - z_e.detach()), idx


def q_no_detach(z_e, codebook):  # z_e + (e_k - z_e) is e_k: the gradient goes to the codebook, none to z_e
    idx = _d2(z_e, codebook).argmin(-1)
    return z_e + (codebook[idx] - z_e), idx


Q_WRONG = {
    "no straight-through": (lambda z, c: (c[_d2(z, c).argmin(-1)], _d2(z, c).argmin(-1)), "straight through"),
    "argmax": (lambda z, c: (z + (c[_d2(z, c).argmax(-1)] - z).detach(), _d2(z, c).argmax(-1)), "argmin"),
    "dot product": (lambda z, c: (z + (c[(z @ c.T).argmax(-1)] - z).detach(), (z @ c.T).argmax(-1)),
                    "dot product"),
    "z_e returned": (lambda z, c: (z, _d2(z, c).argmin(-1)), "not z_e itself"),
    "all detached": (lambda z, c: (c[_d2(z, c).argmin(-1)].detach(), _d2(z, c).argmin(-1)), "straight through"),
    "a single tensor": (lambda z, c: c[_d2(z, c).argmin(-1)], "pair"),
    "straight-through into the codebook too: e_k + (z_e - sg(z_e))": (q_codebook_grad_too,
                                                                      "the gradient of z_q reaches the codebook"),
    "no detach: z_e + (e_k - z_e)": (q_no_detach, "without .detach()"),
    "sign slip in the detached difference": (lambda z, c: (z + (z - c[_d2(z, c).argmin(-1)]).detach(),
                                                           _d2(z, c).argmin(-1)), "sign slip"),
    "L1 distance": (lambda z, c: (z + (c[(z.unsqueeze(-2) - c).abs().sum(-1).argmin(-1)] - z).detach(),
                                  (z.unsqueeze(-2) - c).abs().sum(-1).argmin(-1)), "L1 distance"),
}


@pytest.mark.parametrize("name", list(Q_WRONG))
def test_2_5_wrong_answers_fail(name):
    fn, hint = Q_WRONG[name]
    assert_fails("2.5", fn, hint)
    assert_fails_for_secrets("2.5", fn, n=5, hint=hint)


def test_2_5_straight_through_into_the_codebook_fails_under_every_secret():
    """e_k + (z_e - sg(z_e)) has the right value and dz_q/dz_e = I, but trains the codebook through z_q
    (it once passed): the check differentiates with respect to the codebook too."""
    assert_fails_for_secrets("2.5", q_codebook_grad_too, n=30, hint="the codebook gets none through z_q")


# --------------------------------------------------------------------------------------
# 2.6 vq_loss


def vq_mse(x, x_rec, z_e, codebook, indices, beta):
    z_q = F.embedding(indices, codebook)
    n = x.shape[0]
    per = lambda a, b: F.mse_loss(a, b, reduction="sum") / n
    return per(x_rec, x), per(z_q, z_e.detach()), beta * per(z_e, z_q.detach())


def vq_rows(x, x_rec, z_e, codebook, indices, beta):
    z_q = codebook[indices]
    sq = lambda a: a.pow(2).flatten(1).sum(1).mean()
    return sq(x - x_rec), sq(z_e.detach() - z_q), beta * sq(z_e - z_q.detach())


def vq_einsum_float32(x, x_rec, z_e, codebook, indices, beta):
    x, x_rec, z_e, codebook = x.float(), x_rec.float(), z_e.float(), codebook.float()
    z_q = codebook[indices]
    n = len(x)
    sq = lambda a: torch.einsum("b...,b...->", a, a) / n
    return sq(x - x_rec), sq(z_q - z_e.detach()), beta * sq(z_q.detach() - z_e)


VQ_RIGHT = [
    vq_mse,
    vq_rows,
    vq_einsum_float32,
]


@pytest.mark.parametrize("fn", VQ_RIGHT)
def test_2_6_correct_alternatives_pass(fn):
    assert_passes("2.6", fn)


@pytest.mark.parametrize("fn", VQ_RIGHT)
def test_2_6_correct_alternatives_pass_under_many_secrets(fn):
    assert_passes_for_secrets("2.6", fn, n=50)


def _vq(codebook_sg=True, commit_sg=True, beta_on="commitment", reduce="rows"):
    def fn(x, x_rec, z_e, codebook, indices, beta):
        z_q = codebook[indices]
        if reduce == "rows":
            sq = lambda a: a.pow(2).flatten(1).sum(1).mean()
        elif reduce == "mean":
            sq = lambda a: a.pow(2).mean()
        elif reduce == "positions":
            sq = lambda a: a.pow(2).sum(-1).mean()
        else:
            sq = lambda a: a.pow(2).sum()
        cb = sq((z_e.detach() if codebook_sg else z_e) - z_q)
        cm = sq(z_e - (z_q.detach() if commit_sg else z_q))
        b_cb, b_cm = (beta, 1.0) if beta_on == "codebook" else ((1.0, 1.0) if beta_on is None else (1.0, beta))
        return sq(x - x_rec), b_cb * cb, b_cm * cm
    return fn


VQ_WRONG = {
    "no sg in the codebook term": (_vq(codebook_sg=False), "detach z_e in it"),
    "no sg in the commitment term": (_vq(commit_sg=False), "detach z_q in it"),
    "no beta": (_vq(beta_on=None), "multiply the commitment term by beta"),
    "beta on the codebook term": (_vq(beta_on="codebook"), "beta weighs the commitment term only"),
    "mean over features": (_vq(reduce="mean"), "sum the squared"),
    "mean over the code positions too": (_vq(reduce="positions"), "sum over the M code positions too"),
    "sum over the batch": (_vq(reduce="sum"), "do not sum over it"),
    "codebook detached too": (
        lambda x, xr, z, c, i, b: (((x - xr) ** 2).sum() / len(x), ((z.detach() - c[i].detach()) ** 2).sum() / len(x),
                                   b * ((z - c[i].detach()) ** 2).sum() / len(x)),
        "without detaching it"),
    "two terms": (lambda x, xr, z, c, i, b: (((x - xr) ** 2).sum(), ((z - c[i]) ** 2).sum()), "three terms"),
}


@pytest.mark.parametrize("name", list(VQ_WRONG))
def test_2_6_wrong_answers_fail(name):
    fn, hint = VQ_WRONG[name]
    assert_fails("2.6", fn, hint)
    assert_fails_for_secrets("2.6", fn, n=5, hint=hint)
