# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · KL divergence, latent variable models and the ELBO
#
# This notebook follows the slides from **"Prerequisite KL divergence"** to the
# **derivation of the ELBO** ("VAE details"). By the end you will have implemented,
# and checked against the reference:
#
# 1. the KL divergence between discrete distributions, and why it is not symmetric;
# 2. the closed-form KL between a diagonal Gaussian and N(0, I), and its Monte Carlo estimate;
# 3. the evidence p(x) of a latent variable model, estimated naively and by importance sampling;
# 4. the ELBO, and the identity log p(x) = ELBO + KL(q(z|x) || p(z|x)).
#
# **Notation.** Gaussians are written N(mean, variance) throughout, as in
# `course_utils`: N(μ, σ²). (The slides sometimes write N(μ, σ) with σ a standard deviation.)
# Logarithms are natural, so divergences are in nats.
#
# **Exercises.** Each exercise cell defines a function with a `# YOUR CODE HERE` stub.
# Replace the stub, run the cell, then run the `check(...)` cell below it: it prints one
# line (`passed`, or what looks wrong). Cells further down use the reference
# implementations from `course_utils`, so the notebook runs even if an exercise is unfinished.
# Stuck? `hint("1.3")` prints a hint, a little more each time you call it (the last one gives
# the formula). The last cell prints your score, each exercise's kind, and the hints you used
# (information, never a penalty).
#
# **How your notebook is graded.** The grader takes only the exercise cells from your notebook
# and runs them with the other cells as the course provides them, then checks each function on
# fresh inputs. So write everything an exercise needs inside its own cell (cells you add are not
# graded), and keep each exercise's function name and arguments as given. Your function must do
# the exercise's work itself: one that calls `course_utils`' own answer to that exercise scores 0,
# and `check(...)` says so at once. The provided functions, and your answers (or the course's) to
# other exercises, are yours to use where an exercise builds on them. Each student's notebook is
# graded on inputs of its own, so outputs copied from a classmate fail.

# %%
import math

import torch

from course_utils.data import mixtures
from course_utils.grading import check, hint, score_table
from course_utils.s01_kl_elbo import divergences, elbo, importance, latent
from course_utils.s01_kl_elbo.plots import plot_evidence_estimators, plot_kl_asymmetry, plot_kl_mc_convergence
from course_utils.s01_kl_elbo.widgets import elbo_ledger_demo, evidence_estimator_demo, kl_fit_demo

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

# %% [markdown]
# ## 1. The Kullback-Leibler divergence
#
# For two distributions p and q of the same variable y (slide "Prerequisite KL divergence"):
#
# $$D_{KL}(p \,\|\, q) = \int p(y) \log \frac{p(y)}{q(y)}\, dy
# \qquad\text{or, for discrete } y,\qquad
# D_{KL}(p \,\|\, q) = \sum_i p(y_i) \log \frac{p(y_i)}{q(y_i)}.$$
#
# A term with $p(y_i) = 0$ contributes nothing (the limit of $u \log u$ at 0 is 0);
# a term with $q(y_i) = 0 < p(y_i)$ makes the divergence infinite.
#
# ### Exercise 1.1 (1 pt): discrete KL
# Write `kl_discrete(p, q)` for tensors of shape `(..., K)` whose rows are distributions
# over K outcomes. Return one divergence per row, shape `(...)`.

# %% exercise="1.1" kind="warm-up"
def kl_discrete(p, q):
    """D_KL(p || q) along the last axis. p, q: (..., K) -> (...)."""
    ### BEGIN SOLUTION
    ratio = torch.where(p > 0, torch.log(p) - torch.log(q), torch.zeros_like(p))
    return (p * ratio).sum(-1)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.1", kl_discrete)

# %% [markdown]
# **Non-negative, zero only when p = q.** The slide's argument is Jensen's inequality
# for the convex function $-\log$:
#
# $$D_{KL}(p\|q) = -E_p\Big[\log \frac{q}{p}\Big] \ \ge\ -\log E_p\Big[\frac{q}{p}\Big]
# = -\log \sum_i q(y_i) = 0.$$
#
# Let us test it on many random pairs, and look at the asymmetry the slide mentions.

# %% tags=["nbval-check-output"]
p = torch.distributions.Dirichlet(torch.ones(6)).sample((10_000,))
q = torch.distributions.Dirichlet(torch.ones(6)).sample((10_000,))
kl_pq = divergences.kl_discrete(p, q)
print(f"smallest of 10,000 random D_KL(p||q): {kl_pq.min():.4f} (>= 0)")
print(f"D_KL(p||p) for the same rows:         {divergences.kl_discrete(p, p).abs().max():.4f}")

p1 = torch.tensor([0.5, 0.5])
q1 = torch.tensor([0.9, 0.1])
print(f"D_KL(p||q) = {divergences.kl_discrete(p1, q1):.4f}, "
      f"D_KL(q||p) = {divergences.kl_discrete(q1, p1):.4f}: not symmetric")

# %% [markdown]
# ## 2. Which way round? Forward and reverse KL
#
# Fit a single Gaussian q to a bimodal p. The two directions ask different things:
#
# - **forward** $D_{KL}(p\|q) = E_p[\log p - \log q]$ punishes q for being small where p has
#   mass, so q spreads to **cover both modes** (mass-covering). Minimising it over Gaussians is
#   maximum likelihood under p: q matches p's mean and variance.
# - **reverse** $D_{KL}(q\|p) = E_q[\log q - \log p]$ punishes q for putting mass where p has
#   none, so q **locks onto one mode** (mode-seeking). This is the direction of the ELBO below.
#
# ### Exercise 1.2 (2 pts): the forward-KL fit
# For a 1-D mixture $p = \sum_k \pi_k \mathcal N(m_k, s_k^2)$, return the mean and variance
# of the Gaussian that minimises $D_{KL}(p\|q)$: p's own mean and variance.

# %% exercise="1.2" kind="warm-up"
def forward_kl_fit(weights, means, variances):
    """weights, means, variances: (K,) -> (mean, var) of the moment-matched Gaussian."""
    ### BEGIN SOLUTION
    mean = (weights * means).sum()
    var = (weights * (variances + means**2)).sum() - mean**2
    return mean, var
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.2", forward_kl_fit)

# %% [markdown]
# Here is one target with both fits; the legends give both divergences of each fit.

# %%
plot_kl_asymmetry()

# %% [markdown]
# **Try it.** Move the modes apart and watch the forward fit widen while the reverse fit
# stays on one mode. The legend gives both divergences for each fit: each fit is best in
# its own direction and poor in the other.

# %%
kl_fit_demo()

# %% [markdown]
# ## 3. The Gaussian KL in closed form, and by Monte Carlo
#
# The VAE's regulariser is the KL between $q = \mathcal N(\mu, \mathrm{diag}(\sigma^2))$ and the
# prior $\mathcal N(0, I)$. The slides ("VAE - instantiation example") compute, in one dimension,
#
# $$\int q \log p = -\tfrac12 \log 2\pi - \tfrac12(\mu^2 + \sigma^2), \qquad
# \int q \log q = -\tfrac12 \log 2\pi - \tfrac12(1 + \log \sigma^2),$$
#
# and, since both are diagonal, summing over the J latent coordinates gives
#
# $$-D_{KL}(q\,\|\,\mathcal N(0, I)) = \frac12 \sum_{j=1}^J \big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big).$$
#
# ### Exercise 1.3 (2 pts): Gaussian KL to N(0, I)
# Encoders output the **log-variance** `log_var` $= \log\sigma^2$ (it can be any real number).
# Given `mu` and `log_var` of shape `(batch, J)`, return $D_{KL} \ge 0$ for each row, shape `(batch,)`.

# %% exercise="1.3" kind="warm-up"
def kl_gaussian_std_normal(mu, log_var):
    """D_KL(N(mu, exp(log_var)) || N(0, I)). mu, log_var: (batch, J) -> (batch,)."""
    ### BEGIN SOLUTION
    return 0.5 * (log_var.exp() + mu**2 - 1.0 - log_var).sum(-1)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.3", kl_gaussian_std_normal)

# %% [markdown]
# When no closed form exists, the definition itself is an expectation under q, so it can be
# estimated from samples $z_n \sim q$:
# $\hat D = \frac1N \sum_n [\log q(z_n) - \log p(z_n)]$.
#
# ### Exercise 1.4 (1 pt): Monte Carlo KL
# `log_q` and `log_p` map samples of shape `(N, d)` to log densities of shape `(N,)`;
# `z` holds N samples of q. Return the estimate (a scalar tensor).

# %% exercise="1.4" kind="warm-up"
def kl_monte_carlo(log_q, log_p, z):
    """Monte Carlo estimate of D_KL(q || p) from samples z ~ q of shape (N, d)."""
    ### BEGIN SOLUTION
    return (log_q(z) - log_p(z)).mean()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.4", kl_monte_carlo)

# %% [markdown]
# The estimate is unbiased and its error falls like $1/\sqrt N$: watch it converge to the
# closed form (the band is ± 2 standard errors).

# %%
plot_kl_mc_convergence()

# %% [markdown]
# ## 4. Latent variable models and the evidence
#
# A latent variable model samples $z \sim p(z)$, then $x \sim p_\theta(x|z)$. Training wants the
# **evidence** $p_\theta(x) = \int p_\theta(x|z)\,p(z)\,dz$, usually intractable. Here we use a model
# where it is known exactly: the linear-Gaussian model
#
# $$z \sim \mathcal N(0, I_q), \qquad x\,|\,z \sim \mathcal N(Wz + b,\ s^2 I_n)
# \quad\Rightarrow\quad p(x) = \mathcal N(b,\ WW^\top + s^2 I),$$
#
# with q = 2 latent and n = 10 observed dimensions (the same model drives the plots and the widget below).

# %% tags=["nbval-check-output"]
model, x_obs = importance.linear_gaussian_example(seed=0)
log_px = model.log_evidence(x_obs)
print(f"W: {tuple(model.W.shape)}, noise variance s^2 = {model.noise_var}, observed x: {tuple(x_obs.shape)}")
print(f"exact log p(x) = {log_px:.4f}")

# %% [markdown]
# **Naive Monte Carlo** draws $z_k$ from the prior and averages $p(x|z_k)$. The slides warn
# that most prior samples explain x badly: almost all terms are nearly zero and a few
# dominate. **Importance sampling** draws from a proposal $q(z)$ near the posterior instead:
#
# $$p(x) = E_{q}\Big[\frac{p(x, z)}{q(z)}\Big] \approx \frac1K\sum_{k=1}^K \frac{p(x, z_k)}{q(z_k)},
# \qquad z_k \sim q.$$
#
# The variance is smallest (zero) for $q^*(z) = p(x|z)p(z)/p(x) = p(z|x)$, the posterior.
#
# ### Exercise 1.5 (2 pts): importance-sampling estimate of log p(x)
# Return $\log \frac1K \sum_k w_k$ with $\log w_k = \log p(x, z_k) - \log q(z_k)$. Log-weights of
# real models are large negative numbers (around −1000 for a 64-pixel image): work in log space
# with `torch.logsumexp`.

# %% exercise="1.5" kind="warm-up"
def importance_log_evidence(log_joint, log_q, z):
    """log (1/K) sum_k p(x, z_k) / q(z_k), for z of shape (K, q) drawn from q."""
    ### BEGIN SOLUTION
    log_w = log_joint(z) - log_q(z)
    return torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.5", importance_log_evidence)

# %% [markdown]
# The spread of each estimator over many repetitions, for a growing number of samples K: the
# prior proposal needs far more samples for the same accuracy.

# %%
plot_evidence_estimators()

# %% [markdown]
# Draw estimates one at a time or a hundred at a time, and change the proposal and K.
# *Predict first*: with the exact posterior as proposal, how wide will the histogram be?

# %%
evidence_estimator_demo()

# %% [markdown]
# ## 5. The evidence lower bound
#
# The slides' derivation ("VAE details") splits the log-evidence for any q(z|x):
#
# $$\log p_\theta(x) = \underbrace{E_{q(z|x)}\big[\log p_\theta(x, z) - \log q(z|x)\big]}_{V_L(\theta,\phi;x)\ =\ \text{ELBO}}
# \; + \; D_{KL}\big(q(z|x)\,\|\,p_\theta(z|x)\big).$$
#
# Since the KL is $\ge 0$, the ELBO is a lower bound of $\log p(x)$, tight exactly when q is the
# posterior; and it needs no $p(z|x)$. Rewriting $\log p(x, z) = \log p(x|z) + \log p(z)$ gives the
# VAE form $V_L = -D_{KL}(q(z|x)\|p(z)) + E_q[\log p(x|z)]$.
#
# ### Exercise 1.6 (2 pts): a reparametrized ELBO estimate
# For $q = \mathcal N(\mu, \mathrm{diag}(\mathrm{var}))$, draw $z_k = \mu + \sqrt{\mathrm{var}} \odot \epsilon_k$
# from the given standard normal `eps` (shape `(K, q)`), and average
# $\log p(x, z_k) - \log q(z_k)$. Build z from `mu` and `var` themselves, so that gradients reach
# them (the reparametrization trick of the next notebook).

# %% exercise="1.6" kind="warm-up"
def elbo_estimate(log_joint, mu, var, eps):
    """ELBO estimate for q = N(mu, diag(var)); mu, var: (q,), eps: (K, q) -> scalar."""
    ### BEGIN SOLUTION
    z = mu + var.sqrt() * eps
    log_q = -0.5 * (torch.log(2 * math.pi * var) + (z - mu) ** 2 / var).sum(-1)
    return (log_joint(z) - log_q).mean()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.6", elbo_estimate)

# %% [markdown]
# **The identity, numerically.** For the linear-Gaussian model the posterior $p(z|x)$ is a
# Gaussian we know, so every term can be computed: the ELBO exactly (`model.elbo`) and by your
# kind of Monte Carlo estimate (`elbo.elbo_estimate`, with its standard error), the KL to the
# posterior in closed form (`torch.distributions`), and their sum against the exact $\log p(x)$.

# %% tags=["nbval-check-output"]
post_mean, post_cov = model.posterior(x_obs)
posterior = torch.distributions.MultivariateNormal(post_mean, post_cov)
eps = torch.randn(100, 1000, 2, generator=torch.Generator().manual_seed(2))
print(f"{'q':<26}{'ELBO':>9}{'MC ELBO ± s.e.':>18}{'KL(q||p(z|x))':>15}{'sum':>9}{'log p(x)':>10}")
for label, mu, var in [
    ("prior N(0, I)", torch.zeros(2), torch.ones(2)),
    ("shifted, too wide", post_mean + 0.3, 2 * post_cov.diagonal()),
    ("posterior mean, diag var", post_mean, post_cov.diagonal()),
]:
    bound = model.elbo(x_obs, mu, var)
    runs = torch.stack([elbo.elbo_estimate(lambda z: model.log_joint(x_obs, z), mu, var, e) for e in eps])
    gap = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(mu, torch.diag(var)), posterior)
    mc = f"{runs.mean():.2f} ± {runs.std() / len(runs) ** 0.5:.2f}"
    print(f"{label:<26}{bound:>9.3f}{mc:>18}{gap:>15.3f}{bound + gap:>9.3f}{log_px:>10.3f}")

# %% [markdown]
# **The ELBO ledger.** Move q and watch the bar: its total, log p(x), never changes; only the
# split between ELBO and KL does. With the linear model q can reach the posterior and the KL
# vanishes. With the squared model ($x = z^2$ + noise, so $z \approx \pm\sqrt x$) the posterior is
# bimodal: a Gaussian q always leaves a gap. Compare the reverse-KL fit (what maximising the
# ELBO does) with the forward-KL fit.

# %%
elbo_ledger_demo()

# %% [markdown]
# ## Your score
# Re-run the `check` cells after changing an exercise; this table shows the latest result of each.

# %% tags=["nbval-check-output"]
score_table("01")
