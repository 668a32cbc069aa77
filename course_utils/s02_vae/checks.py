"""Checks for notebook 02: the reparametrization trick, the Gaussian VAE and VQ-VAE.

Each check calls the student's function on inputs drawn from a fixed-seed generator,
compares with the reference in :mod:`~.reparam`, :mod:`~.vae` and
:mod:`~.vq`, and names the likely mistake. Gradients are taken with
``call_with_grad`` only, so the checks run unchanged in the class grader's sandbox.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..grading.compare import (
    Mistake,
    call_with_grad,
    call_with_state,
    clone_args,
    expect_close,
    flat_state,
    generator,
    seeded_module,
    to_plain_tensor,
    with_leftover_grads,
)
from ..grading.core import CheckFailed, register
from ..s01_kl_elbo.divergences import kl_std_normal
from . import reparam, vae, vq

SECTION = "02"
F64 = torch.float64
LOG_2PI = math.log(2 * math.pi)


def _randn(g, *shape, scale=1.0, shift=0.0):
    return shift + scale * torch.randn(*shape, generator=g, dtype=F64)


def _no_grad(grad) -> bool:
    """No gradient reached that argument (None, or zeros everywhere)."""
    return grad is None or not bool(to_plain_tensor(grad).abs().gt(0).any())


# --------------------------------------------------------------------------------------
# 2.1 the score-function estimator (build: the notebook gives the identity and the density)


def _square(z):
    return z**2


def _sin2(z):
    return torch.sin(2 * z)


@register(
    "2.1", SECTION, "The score-function (REINFORCE) gradient estimate", 2, "score_function_grad",
    "the identity above turns the gradient into an expectation you can estimate with samples: "
    "what does it ask you to multiply f(z_n) by?",
    reference=reparam.score_function_grad, kind="build",
    hints=(
        "write down log N(z; mu, sigma^2) with its normalising constant, then differentiate it once with "
        "respect to mu and once with respect to sigma (sigma appears twice: in the normaliser and in the "
        "exponent); the samples are z_n = mu + sigma * eps_n",
        "express both derivatives with eps_n = (z_n - mu) / sigma, weight f(z_n) by each, and average over n: "
        "the estimate has shape (2,)",
        "d/dmu log q(z) = eps / sigma and d/dsigma log q(z) = (eps^2 - 1) / sigma, so the estimate is "
        "torch.stack([(f(z) * eps / sigma).mean(), (f(z) * (eps**2 - 1) / sigma).mean()])",
    ),
)
def check_score_function_grad(fn) -> None:
    """Exercise 2.1: compares with :func:`~course_utils.s02_vae.reparam.score_function_grad`."""
    g = generator(22)
    for f, mu, sigma, n in ((_square, 0.4, 0.8, 5000), (_sin2, -0.3, 1.3, 3000)):
        eps = _randn(g, n)
        mu_t, sigma_t = torch.tensor(mu, dtype=F64), torch.tensor(sigma, dtype=F64)
        ref = reparam.score_function_grad(f, mu_t, sigma_t, eps)
        fz = f(mu + sigma * eps)
        d_mu, d_sigma = fz * eps / sigma, fz * (eps**2 - 1) / sigma
        mistakes = [
            Mistake(torch.stack([(fz * eps).mean(), d_sigma.mean()]),
                    "d/dmu log q(z) = (z - mu) / sigma^2 = eps / sigma: divide by sigma"),
            Mistake(torch.stack([d_mu.mean(), (fz * eps**2 / sigma).mean()]),
                    "d/dsigma log q(z) = (eps^2 - 1) / sigma: the -1/sigma comes from the normaliser 1/sigma"),
            Mistake(torch.stack([d_mu.mean(), (fz * (eps**2 - 1) / (2 * sigma**2)).mean()]),
                    "that is the derivative with respect to the variance sigma^2; differentiate with respect to "
                    "sigma: (eps^2 - 1) / sigma"),
            Mistake(torch.stack([d_mu.mean(), (fz * (eps**2 - 1)).mean()]),
                    "that is the derivative with respect to log sigma; differentiate with respect to sigma: "
                    "(eps^2 - 1) / sigma"),
            Mistake(torch.stack([d_mu.sum(), d_sigma.sum()]), "average over the N samples, do not sum"),
            Mistake(torch.stack([d_mu, d_sigma], -1), "return the estimate (the mean over the samples), shape (2,)"),
            Mistake(torch.stack([(fz * eps * sigma).mean(), (fz * (eps**2 - 1) * sigma).mean()]),
                    "the score is d/dtheta log q(z): eps / sigma and (eps^2 - 1) / sigma (divide by sigma)"),
        ]
        label = "f(z) = z^2" if f is _square else "f(z) = sin(2z)"
        expect_close(fn(f, mu_t.clone(), sigma_t.clone(), eps.clone()), ref,
                     what=f"{label}, mu = {mu}, sigma = {sigma}, N = {n}", mistakes=mistakes)


# --------------------------------------------------------------------------------------
# 2.2 and 2.3: the negative ELBO, Gaussian (find the bug) and Bernoulli decoders


def _gaussian_case(seed: int, batch: int = 32, d: int = 64, j: int = 4):
    g = generator(seed)
    x = torch.rand(batch, d, generator=g, dtype=F64)
    mu_x = torch.sigmoid(_randn(g, batch, d))
    log_var_x = _randn(g, batch, d, scale=0.5, shift=-2.0)
    mu_z, log_var_z = _randn(g, batch, j), _randn(g, batch, j, scale=0.5, shift=-0.5)
    return x, mu_x, log_var_x, mu_z, log_var_z


PROVIDED_GAUSSIAN = ("this is still the provided function's behaviour: its KL term is right, so look at the "
                     "reconstruction term, and at what each decoder output it uses stands for")


@register(
    "2.2", SECTION, "Find the bug: the negative ELBO with a Gaussian decoder", 2, "negative_elbo_gaussian",
    "the provided -ELBO is off by many nats; try it on a case you can work out by hand (x = mu_x, every "
    "log_var_x = log 0.01, mu_z = log_var_z = 0) before reading it line by line",
    reference=vae.negative_elbo_gaussian, kind="find-the-bug",
    hints=(
        "the KL line is right (compare it with notebook 01's kl_std_normal); the mistake is in the "
        "reconstruction term: check each quantity against what the decoder outputs mean (log_var_x is "
        "log sigma^2)",
        "the line that computes sigma_x: at log_var_x = log 0.01 it should give 0.1, what does it give?",
        "sigma_x = exp(log_var_x) is the variance sigma^2; the standard deviation is "
        "sigma_x = torch.exp(0.5 * log_var_x)",
    ),
)
def check_negative_elbo_gaussian(fn) -> None:
    """Exercise 2.2: compares with :func:`~course_utils.s02_vae.vae.negative_elbo_gaussian`."""
    x, mu_x, log_var_x, mu_z, log_var_z = _gaussian_case(23)
    ref = vae.negative_elbo_gaussian(x, mu_x, log_var_x, mu_z, log_var_z)
    kl = kl_std_normal(mu_z, log_var_z)
    var = log_var_x.exp()
    sq = (x - mu_x) ** 2
    per_pixel = 0.5 * (LOG_2PI + log_var_x) + sq / (2 * var)  # -log N per pixel
    nll = per_pixel.sum(-1)
    slide = (0.5 * log_var_x + sq / (2 * var)).sum(-1)  # the slide's "Reproduction term", sign dropped
    sigma_as_logvar = (0.5 * (LOG_2PI + torch.log(log_var_x**2)) + sq / (2 * log_var_x**2)).sum(-1)
    mistakes = [
        Mistake(-slide + kl, "sign slip (the slide's 'Reproduction term' has it too): log p(x|z) = "
                "-sum_j [1/2 log(2 pi sigma_j^2) + (x_j - mu_j)^2 / (2 sigma_j^2)], so -log p(x|z) is a plus sum"),
        Mistake(-(nll) + kl, "sign slip: log p(x|z) = -sum_j [...], so -ELBO = +sum_j [1/2 log(2 pi sigma_j^2) + "
                "(x_j - mu_j)^2 / (2 sigma_j^2)] + KL (the slide's 'Reproduction term' drops this minus)"),
        Mistake(slide + kl, "the constant 1/2 log(2 pi) per pixel is missing: it changes no gradient, but "
                "the ELBO in nats needs it (64 pixels: 58.8 nats)"),
        Mistake(nll - kl, "-ELBO = -log p(x|z) + KL: the KL is added, not subtracted"),
        Mistake(-(nll + kl), "return the negative ELBO (the loss that training minimises), not the ELBO"),
        Mistake(nll, "you are missing the KL term D_KL(q(z|x) || p(z))"),
        Mistake(sigma_as_logvar + kl, "log_var_x is log sigma^2, not sigma: sigma^2 = exp(log_var_x)"),
        Mistake((0.5 * (LOG_2PI + log_var_x) + sq / (2 * var**2)).sum(-1) + kl,
                "the variance is exp(log_var_x), not exp(log_var_x)^2"),
        Mistake((0.5 * LOG_2PI + log_var_x + sq / (2 * var**2)).sum(-1) + kl, PROVIDED_GAUSSIAN),
        Mistake((0.5 * (LOG_2PI + log_var_x) + sq / 2).sum(-1) + kl,
                "divide the squared error by 2 sigma^2 = 2 exp(log_var_x)"),
        Mistake((0.5 * (LOG_2PI + log_var_x) + sq / (2 * log_var_x)).sum(-1) + kl,
                "log_var_x is log sigma^2, not sigma^2: divide by 2 exp(log_var_x)"),
        Mistake(per_pixel.mean(-1) + kl, "sum the log-likelihood over the 64 pixels (a product of "
                "independent pixels), do not average"),
        Mistake(nll.sum() + kl.sum(), "return one value per digit, shape (32,): sum over the features, "
                "not over the batch"),
        Mistake(nll.mean() + kl.mean(), "return one value per digit, shape (32,), not the batch mean"),
        Mistake(nll.sum() + kl, "reduction='sum' sums over the batch too: use reduction='none', then .sum(-1) "
                "over the pixels of each digit"),
        Mistake(per_pixel.mean() + kl, "F.gaussian_nll_loss averages over everything by default: use "
                "reduction='none', then .sum(-1) over the pixels of each digit"),
        Mistake((0.5 * log_var_x + sq / (2 * var)).mean() + kl, "F.gaussian_nll_loss averages over everything "
                "by default and drops the constant 1/2 log(2 pi) unless full=True: use full=True, "
                "reduction='none', then .sum(-1) over the pixels"),
        Mistake(nll + kl.sum(), "the KL is one value per digit too: sum it over the J latent dimensions only"),
        Mistake(per_pixel.sum(0), "sum over the features (last axis), not over the batch"),
    ]
    expect_close(fn(*clone_args(x, mu_x, log_var_x, mu_z, log_var_z)), ref,
                 what="a batch of 32 digits of 64 pixels, J = 4", mistakes=mistakes, rtol=1e-5, atol=1e-5)
    x1 = mu_x[:2].clone()
    zeros = torch.zeros(2, 4, dtype=F64)
    want = torch.full((2,), 0.5 * 64 * LOG_2PI, dtype=F64) + 0.5 * log_var_x[:2].sum(-1)
    provided = torch.full((2,), 0.5 * 64 * LOG_2PI, dtype=F64) + log_var_x[:2].sum(-1)
    expect_close(fn(x1, mu_x[:2].clone(), log_var_x[:2].clone(), zeros, zeros.clone()), want,
                 what="x = mu_x and q(z|x) = p(z) (only the constant and the log-variances remain)",
                 mistakes=[Mistake(provided, PROVIDED_GAUSSIAN)])


@register(
    "2.3", SECTION, "Negative ELBO with a Bernoulli decoder", 1, "negative_elbo_bernoulli",
    "the same two terms as exercise 2.2, with the Bernoulli decoder's log-likelihood in place of the "
    "Gaussian one",
    reference=vae.negative_elbo_bernoulli,
    hints=(
        "-log p(x|z) is the binary cross-entropy between x and p = sigmoid(logits), summed over the pixels "
        "of each digit; torch.nn.functional has a version that takes the logits themselves (stable)",
        "F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(-1) + "
        "0.5 * (log_var_z.exp() + mu_z**2 - 1 - log_var_z).sum(-1)",
    ),
)
def check_negative_elbo_bernoulli(fn) -> None:
    """Exercise 2.3: compares with :func:`~course_utils.s02_vae.vae.negative_elbo_bernoulli`."""
    g = generator(24)
    x = torch.rand(32, 64, generator=g, dtype=F64)
    logits = _randn(g, 32, 64, scale=2.0)
    mu_z, log_var_z = _randn(g, 32, 4), _randn(g, 32, 4, scale=0.5, shift=-0.5)
    ref = vae.negative_elbo_bernoulli(x, logits, mu_z, log_var_z)
    kl = kl_std_normal(mu_z, log_var_z)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    p = torch.sigmoid(logits)
    mistakes = [
        Mistake(bce.mean() + kl, "binary_cross_entropy(_with_logits) averages over everything by default: "
                "use reduction='none', then sum over the pixels of each digit"),
        Mistake(bce.sum() + kl, "reduction='sum' sums over the batch too: use reduction='none', "
                "then .sum(-1) over the pixels"),
        Mistake(bce.mean(-1) + kl, "sum over the 64 pixels (independent Bernoullis multiply), do not average"),
        Mistake(-bce.sum(-1) + kl, "sign slip: -log p(x|z) = -sum_j [x_j log p_j + (1 - x_j) log(1 - p_j)] "
                "is >= 0"),
        Mistake(bce.sum(-1) - kl, "-ELBO = -log p(x|z) + KL: the KL is added"),
        Mistake(-(bce.sum(-1) + kl), "return the negative ELBO (the loss), not the ELBO"),
        Mistake(bce.sum(-1), "you are missing the KL term"),
        Mistake(F.binary_cross_entropy_with_logits(p, x, reduction="none").sum(-1) + kl,
                "sigmoid applied twice: binary_cross_entropy_with_logits takes the logits themselves"),
        Mistake(-(x * torch.log(logits) + (1 - x) * torch.log(1 - logits)).sum(-1) + kl,
                "logits are log-odds, not probabilities: p = sigmoid(logits)"),
        Mistake(bce.sum() + kl.sum(), "return one value per digit, shape (32,), not the sum over the batch"),
        Mistake(bce.sum(0), "sum over the pixels (last axis), not over the batch"),
    ]
    expect_close(fn(*clone_args(x, logits, mu_z, log_var_z)), ref, what="32 grey-level digits, J = 4",
                 mistakes=mistakes, rtol=1e-5, atol=1e-5)
    binary = (x > 0.5).to(F64)
    big = torch.tensor([[30.0, -30.0, 60.0]], dtype=F64).repeat(2, 1)
    xb = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=F64)
    zeros = torch.zeros(2, 4, dtype=F64)
    got = to_plain_tensor(fn(xb, big.clone(), zeros, zeros.clone()))
    if got.shape == (2,) and not bool(torch.isfinite(got).all()):
        raise CheckFailed("with logits of +-30 or 60 your result is not finite: log(sigmoid(l)) underflows; "
                          "use F.binary_cross_entropy_with_logits or F.logsigmoid")
    clamped = F.binary_cross_entropy(torch.sigmoid(big), xb, reduction="none").sum(-1)  # log clamped at -100
    expect_close(got, vae.negative_elbo_bernoulli(xb, big, zeros, zeros), rtol=1e-4, atol=1e-4,
                 what="large logits (+-30, 60): compute log sigmoid stably",
                 mistakes=[Mistake(clamped, "sigmoid(60) rounds to 1, and F.binary_cross_entropy clamps log(1 - 1) "
                                   "at -100: use F.binary_cross_entropy_with_logits on the logits themselves")])
    expect_close(fn(*clone_args(binary, logits, mu_z, log_var_z)),
                 vae.negative_elbo_bernoulli(binary, logits, mu_z, log_var_z), what="binary (0/1) digits")


# --------------------------------------------------------------------------------------
# 2.4 one training step of a VAE (Bernoulli decoder)


def _step_nets(seed: int, d: int = 12, j: int = 3, hidden: int = 10):
    """Identical copies for identical seeds (the hidden seed, in grading): (encoder, decoder, SGD optimizer, x, eps),
    all float64, the networks holding gradients left over from an earlier step."""
    g = generator(seed)
    enc = seeded_module(lambda: nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 2 * j)).to(F64), g)
    dec = seeded_module(lambda: nn.Sequential(nn.Linear(j, hidden), nn.Tanh(), nn.Linear(hidden, d)).to(F64), g)
    with_leftover_grads(enc, g, scale=1.0)  # a step that forgets zero_grad applies these too
    with_leftover_grads(dec, g, scale=1.0)
    opt = torch.optim.SGD([*enc.parameters(), *dec.parameters()], lr=0.5)
    x = torch.rand(16, d, generator=g, dtype=F64)
    eps = torch.randn(16, j, generator=g, dtype=F64)
    return enc, dec, opt, x, eps


def _buggy_step(bug: str):
    """A VAE step with one realistic mistake (for the messages that name it)."""

    def step(encoder, decoder, optimizer, x, eps):
        if bug != "no zero_grad":
            optimizer.zero_grad()
        mu, log_var = encoder(x).chunk(2, -1)
        scale = {"sigma = log_var": log_var, "sigma = variance": log_var.exp(),
                 "z = mu": torch.zeros_like(log_var)}.get(bug, torch.exp(0.5 * log_var))
        z = mu + scale * eps
        if bug == "z detached":
            z = z.detach()
        bce = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none")
        recon = bce.mean(-1) if bug == "pixel mean" else bce.sum(-1)
        kl = kl_std_normal(mu, log_var)
        per_digit = {"no KL": recon, "KL subtracted": recon - kl}.get(bug, recon + kl)
        loss = per_digit.sum() if bug == "batch sum" else per_digit.mean()
        if bug == "ascent":
            loss = -loss
        loss.backward()
        optimizer.step()
        return (-loss if bug == "ascent" else loss).detach()

    return step


STEP_BUGS = {
    "no zero_grad": "gradients accumulate: the parameters moved by this step's gradient plus the one left over "
                    "from the previous step (clear them before backward)",
    "KL subtracted": "-ELBO = -log p(x|z) + KL: the KL is added (your step pushes q(z|x) away from the prior)",
    "no KL": "you are missing the KL term D_KL(q(z|x) || p(z)): without it the encoder is a plain "
             "autoencoder's",
    "pixel mean": "sum -log p(x|z) over the pixels of each digit (independent pixels multiply), do not average "
                  "them: the mean weighs the reconstruction D times less than the KL",
    "batch sum": "average the loss over the batch: the sum makes every step B times larger",
    "sigma = log_var": "log_var is log sigma^2, not sigma: sigma = exp(log_var / 2)",
    "sigma = variance": "exp(log_var) is the variance sigma^2: scale eps by the standard deviation",
    "z = mu": "z = mu is no sample: use the given eps (the reparametrized sample), or the encoder's variance "
              "learns from the KL alone",
    "z detached": "no gradient reaches the encoder through z: do not detach the sample (that is what the "
                  "reparametrization is for)",
    "ascent": "sign slip: minimise -ELBO (gradient descent on the loss), or the step climbs the loss",
}


@register(
    "2.4", SECTION, "One training step of a VAE", 4, "vae_step",
    "chain what you have built: encode, sample z with the given noise, decode, the loss of exercise 2.3 "
    "averaged over the batch, then one optimizer step",
    reference=vae.vae_step, kind="training-step",
    hints=(
        "the encoder's output holds mu_z and log_var_z side by side (.chunk(2, -1)); z must be built from "
        "them and from eps so that the gradient reaches the encoder; the decoder's output is the logits",
        "the order of a PyTorch step: optimizer.zero_grad(), loss.backward(), optimizer.step(); the loss is "
        "one number, the batch mean of the per-digit -ELBO (a sum over pixels plus a sum over latent "
        "dimensions); return it detached",
        "optimizer.zero_grad(); mu, log_var = encoder(x).chunk(2, -1); z = mu + torch.exp(0.5 * log_var) * eps; "
        "loss = (F.binary_cross_entropy_with_logits(decoder(z), x, reduction='none').sum(-1) + "
        "0.5 * (log_var.exp() + mu**2 - 1 - log_var).sum(-1)).mean(); loss.backward(); optimizer.step(); "
        "return loss.detach()",
    ),
)
def check_vae_step(fn) -> None:
    """Exercise 2.4: compares with :func:`~course_utils.s02_vae.vae.vae_step`.

    On a tiny seeded encoder and decoder (12 pixels, J = 3, float64) with plain SGD, so that every
    parameter's change is exactly -lr times its gradient: the student's step and the reference's run
    on identical copies, and every parameter after the step and the returned loss must agree.
    The networks start with gradients left over from an earlier pass, as in a training loop.
    """
    g = generator(204)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
    enc0, dec0, *_ = _step_nets(seed)
    before = torch.cat([flat_state(enc0.state_dict()), flat_state(dec0.state_dict())])
    ref_enc, ref_dec, ref_opt, *_ = ref_args = _step_nets(seed)
    ref_loss = vae.vae_step(*ref_args)
    ref_after = torch.cat([flat_state(ref_enc.state_dict()), flat_state(ref_dec.state_dict())])
    mistakes_params, mistakes_loss = [], []
    for bug, says in STEP_BUGS.items():
        enc, dec, opt, xb, eb = _step_nets(seed)
        loss = _buggy_step(bug)(enc, dec, opt, xb, eb)
        moved = torch.cat([flat_state(enc.state_dict()), flat_state(dec.state_dict())]) - before
        mistakes_params.append(Mistake(moved, says))
        mistakes_loss.append(Mistake(loss, says))
    n_enc = flat_state(enc0.state_dict()).numel()

    value, after = call_with_state(fn, *_step_nets(seed))
    if not isinstance(after, (tuple, list)) or len(after) != 5 or not all(isinstance(a, dict) for a in after[:2]):
        raise CheckFailed("could not read the networks back after your step")
    if any(set(a) != set(m.state_dict()) for a, m in zip(after[:2], (enc0, dec0), strict=True)):
        raise CheckFailed("your step changed the networks' structure: update their parameters only")
    got_after = torch.cat([flat_state(after[0]), flat_state(after[1])])
    what = "a tiny VAE (12 pixels, J = 3, 16 digits), plain SGD (lr 0.5)"
    if bool(torch.equal(got_after, before)):
        raise CheckFailed(f"on {what}: no parameter moved: backpropagate the loss, then call optimizer.step()")
    if bool(torch.equal(got_after[:n_enc], before[:n_enc])):
        raise CheckFailed(f"on {what}: the decoder moved but the encoder did not: build z from the encoder's "
                          "mu and log_var (not detached) and add the KL term")
    delta = got_after - before
    try:
        expect_close(delta, ref_after - before, what=f"{what}: every parameter's change in one step",
                     mistakes=mistakes_params, rtol=1e-4, atol=1e-9)
    except CheckFailed:
        _, again = call_with_state(fn, *_step_nets(seed))
        if isinstance(again, (tuple, list)) and len(again) == 5 and all(isinstance(a, dict) for a in again[:2]):
            if not torch.equal(torch.cat([flat_state(again[0]), flat_state(again[1])]), got_after):
                raise CheckFailed(f"on {what}: two identical calls moved the parameters differently: your step "
                                  "draws its own noise; use the eps it is given") from None
        raise
    expect_close(value, ref_loss, what=f"{what}: the returned loss (the batch mean of -ELBO before the step)",
                 mistakes=mistakes_loss, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------------------
# 2.5 nearest-codeword quantization with the straight-through gradient


@register(
    "2.5", SECTION, "Nearest-codeword quantization, straight-through", 2, "quantize",
    "the nearest codeword of each vector, then a z_q whose value is that codeword but whose gradient "
    "goes to z_e alone (none to the codebook)",
    reference=vq.quantize,
    hints=(
        "squared distances from every z_e vector to every codeword: broadcast z_e.unsqueeze(-2) (..., 1, C) "
        "against the codebook (K, C), sum over the last axis, then argmin over the K codewords",
        "a value that is e_k with the derivative of z_e: add to z_e a correction that carries no gradient, "
        "z_q = z_e + (e_k - z_e).detach()",
    ),
)
def check_quantize(fn) -> None:
    """Exercise 2.5: compares with :func:`~course_utils.s02_vae.vq.quantize`."""
    g = generator(25)
    codebook = _randn(g, 10, 3)
    z_e = _randn(g, 64, 3, scale=1.2)
    ref_q, ref_idx = vq.quantize(z_e, codebook)
    d2 = (z_e[:, None, :] - codebook[None]).pow(2).sum(-1)
    cot = _randn(g, 64, 3)
    got, grads = call_with_grad(fn, *clone_args(z_e, codebook), wrt=(0, 1), cotangent=cot, output=0)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed("return a pair (z_q, indices)")
    idx_mistakes = [
        Mistake(d2.argmax(-1), "the nearest codeword minimises the distance: argmin, not argmax"),
        Mistake((z_e @ codebook.T).argmax(-1), "the largest dot product is not the nearest codeword (codewords "
                "have different lengths): use squared distances ||z_e - e_k||^2"),
        Mistake((z_e[:, None, :] - codebook[None]).abs().sum(-1).argmin(-1), "that is the nearest codeword in "
                "the L1 distance (sum of |differences|): use squared Euclidean distances ||z_e - e_k||^2"),
    ]
    expect_close(got[1], ref_idx, what="64 vectors z_e of size 3, K = 10 codewords (the indices)",
                 mistakes=idx_mistakes, atol=0)
    expect_close(got[0], ref_q, what="64 vectors z_e of size 3, K = 10 codewords (the value of z_q = e_k)",
                 mistakes=[Mistake(z_e, "the value of z_q must be the codeword e_k, not z_e itself"),
                           Mistake(2 * z_e - ref_q, "sign slip: z_e + (e_k - z_e).detach() has the value e_k, "
                                   "z_e + (z_e - e_k).detach() has the value 2 z_e - e_k")])
    no_grad = ("the gradient does not reach z_e: codebook[k] cuts it, so copy it straight through, "
               "z_q = z_e + (e_k - z_e).detach()")
    if grads is None:
        raise CheckFailed(no_grad)
    grad_z_e, grad_codebook = grads
    # dz_q/dcodebook is 0: only the codebook term of the loss (exercise 2.6) trains the codebook
    to_codebook = not _no_grad(grad_codebook)
    if _no_grad(grad_z_e):
        if to_codebook:
            raise CheckFailed("the gradient of z_q goes to the codebook and none reaches z_e (codebook[k] is e_k "
                              "itself, and so is z_e + (e_k - z_e) without .detach()): copy it straight through, "
                              "z_q = z_e + (e_k - z_e).detach()")
        raise CheckFailed(no_grad)
    expect_close(grad_z_e, cot, what="the gradient reaching z_e (straight-through: dL/dz_e = dL/dz_q)")
    if to_codebook:
        raise CheckFailed("the gradient of z_q reaches the codebook (e_k is not detached): the straight-through "
                          "estimator copies the gradient of z_q to z_e only, and the codebook gets none through z_q "
                          "(the codebook term of the loss, exercise 2.6, trains it); write "
                          "z_q = z_e + (e_k - z_e).detach()")
    z3 = _randn(g, 8, 4, 3)
    got3 = fn(*clone_args(z3, codebook))
    ref3 = vq.quantize(z3, codebook)
    expect_close(got3[1], ref3.indices, what="z_e of shape (8, 4, 3): M = 4 vectors per digit (the indices)",
                 atol=0)
    expect_close(got3[0], ref3.z_q, what="z_e of shape (8, 4, 3): M = 4 vectors per digit")


# --------------------------------------------------------------------------------------
# 2.6 the VQ-VAE loss and its stop-gradients


@register(
    "2.6", SECTION, "The VQ-VAE loss with its stop-gradients", 2, "vq_loss",
    "three squared norms (summed over features, averaged over the batch); .detach() is the stop-gradient sg, "
    "and z_q is the codebook row of each index",
    reference=vq.vq_loss,
    hints=(
        "each term must train only what the slide says: the reconstruction term the decoder (and, through "
        "x_rec, everything before it), the codebook term the codewords, the commitment term the encoder; "
        "detach whatever must not move",
        "recon = ((x - x_rec)**2).sum() / B; codebook_term = ((z_e.detach() - z_q)**2).sum() / B; "
        "commitment = beta * ((z_e - z_q.detach())**2).sum() / B, with z_q = codebook[indices] and B the batch",
    ),
)
def check_vq_loss(fn) -> None:
    """Exercise 2.6: compares with :func:`~course_utils.s02_vae.vq.vq_loss`."""
    g = generator(26)
    x = torch.rand(16, 64, generator=g, dtype=F64)
    x_rec = torch.rand(16, 64, generator=g, dtype=F64)
    codebook = _randn(g, 8, 2)
    z_e = _randn(g, 16, 4, 2)
    indices = vq.nearest_codeword(z_e, codebook)
    beta = 0.3
    ref = vq.vq_loss(x, x_rec, z_e, codebook, indices, beta)
    z_q = codebook[indices]
    diff = (z_e - z_q).pow(2)
    rdiff = (x - x_rec).pow(2)
    sq = diff.sum((1, 2)).mean()
    args = (x, x_rec, z_e, codebook, indices, beta)
    got = fn(*clone_args(*args))
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise CheckFailed("return three terms (recon, codebook_term, commitment)")
    what = "a batch of 16 digits, M = 4 latent vectors of size 2, K = 8, beta = 0.3"
    common = [
        Mistake(diff.mean(), "sum the squared differences over the features (a squared norm), then average "
                "over the batch"),
        Mistake(diff.sum(), "average over the batch, do not sum over it"),
        Mistake(diff.sum((1, 2)).sqrt().mean(), "the slide's terms are squared norms: do not take the square root"),
        Mistake(diff.sum(-1).mean(), "each digit's squared norm runs over all M x D entries of z_e(x): sum over "
                "the M code positions too (.sum(-1).mean() averages over them), then average over the batch only"),
    ]
    expect_close(got[0], ref.recon, what=f"{what} (the reconstruction term)", mistakes=[
        Mistake(rdiff.mean(), "sum the squared errors over the pixels, then average over the batch"),
        Mistake(rdiff.sum(), "average over the batch, do not sum over it"),
    ])
    expect_close(got[1], ref.codebook, what=f"{what} (the codebook term)",
                 mistakes=[Mistake(beta * sq, "beta weighs the commitment term only"), *common])
    expect_close(got[2], ref.commitment, what=f"{what} (the commitment term)",
                 mistakes=[Mistake(sq, "multiply the commitment term by beta"),
                           *[Mistake(beta * m.value, m.says) for m in common]])
    names = ("x_rec", "z_e", "the codebook")
    for term, name, trains in ((0, "reconstruction", (True, False, False)),
                               (1, "codebook", (False, False, True)),
                               (2, "commitment", (False, True, False))):
        _, grads = call_with_grad(fn, *clone_args(*args), wrt=(1, 2, 3), output=term)
        if grads is None:
            fix = {"reconstruction": "compute it from x_rec as given",
                   "codebook": "take z_q = codebook[indices] without detaching it (detach z_e only)",
                   "commitment": "detach z_q only, not z_e"}
            raise CheckFailed(f"the {name} term carries no gradient at all, so it trains nothing: {fix[name]}")
        for grad, arg, should in zip(grads, names, trains, strict=True):
            if should and _no_grad(grad):
                fix = {"x_rec": "use x_rec as given", "z_e": "detach z_q only: ||z_e - sg(z_q)||^2",
                       "the codebook": "detach z_e only, and take z_q = codebook[indices] (not a detached copy)"}
                raise CheckFailed(f"the {name} term must train {arg}, but no gradient reaches it: {fix[arg]}")
            if not should and not _no_grad(grad):
                why = {("codebook", "z_e"): "the codebook term ||sg(z_e) - z_q||^2 must not move the encoder: "
                                            "detach z_e in it",
                       ("commitment", "the codebook"): "the commitment term ||z_e - sg(z_q)||^2 must not move the "
                                                       "codebook: detach z_q in it"}
                raise CheckFailed(why.get((name, arg), f"the {name} term must not send a gradient to {arg}"))
    _, grads = call_with_grad(fn, *clone_args(*args), wrt=(2, 3), output=2)
    expect_close(grads[0], 2 * beta * (z_e - z_q) / 16, what="the gradient of the commitment term with "
                 "respect to z_e (2 beta (z_e - z_q) / batch)")
