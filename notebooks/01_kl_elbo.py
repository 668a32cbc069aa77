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
# 4. the ELBO, derived, and the identity log p(x) = ELBO + KL(q(z|x) || p(z|x));
# 5. why log p̂(x) is biased low, and the importance-weighted bounds that close the gap as K grows.
#
# **Notation.** Gaussians are written N(mean, variance) throughout, as in
# `course_utils`: N(μ, σ²). (The slides sometimes write N(μ, σ) with σ a standard deviation.)
# Logarithms are natural, so divergences are in nats.
#
# **Exercises.** Most exercise cells define a function with a `# YOUR CODE HERE` stub: replace
# the stub. Exercise 1.4 instead hands you a working-looking function with one mistake
# (`# FIND THE BUG`): fix it. Exercise 1.7 asks for a prediction, before the cells below it
# measure the answer. Run the cell, then run the `check(...)` cell below it: it prints one
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
# ### Exercise 1.2 (1 pt): the forward-KL fit
# For a 1-D mixture $p = \sum_k \pi_k \mathcal N(m_k, s_k^2)$, return the mean and variance
# of the Gaussian q that minimises $D_{KL}(p\|q)$.

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
# where $q = \mathcal N(\mu, \sigma^2)$ and $p = \mathcal N(0, 1)$. In J dimensions both are
# diagonal: their coordinates are independent.
#
# ### Exercise 1.3 (2 pts): Gaussian KL to N(0, I)
# Assemble $D_{KL}(q\,\|\,\mathcal N(0, I))$ for a J-dimensional diagonal q from the two integrals above.
# Encoders output the **log-variance** `log_var` $= \log\sigma^2$ (it can be any real number).
# Given `mu` and `log_var` of shape `(batch, J)`, return $D_{KL} \ge 0$ for each row, shape `(batch,)`.

# %% exercise="1.3" kind="build"
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
# ### Exercise 1.4 (2 pts): find the bug in a Monte Carlo KL
# A colleague wrote `kl_monte_carlo(mu, log_var, eps)`: for the same q and p as in exercise 1.3,
# it turns standard normal draws `eps` of shape `(N, batch, J)` into samples of q and averages
# the log-ratio over the N draws, one estimate per row (shape `(batch,)`). It runs, returns the
# right shape, and is wrong: it has one realistic mistake. Test it first (in a new cell, against
# your closed form of exercise 1.3, with a large N), then find the mistake and fix it.

# %% exercise="1.4" kind="find-the-bug"
def kl_monte_carlo(mu, log_var, eps):
    """Monte Carlo D_KL(N(mu, exp(log_var)) || N(0, I)). mu, log_var: (batch, J); eps: (N, batch, J) -> (batch,)."""
    ### BEGIN SOLUTION
    z = mu + torch.exp(0.5 * log_var) * eps
    log_q = -0.5 * (math.log(2 * math.pi) + log_var + (z - mu) ** 2 / log_var.exp()).sum(-1)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    return (log_q - log_p).mean(0)
    ### END SOLUTION
    ### BEGIN STUB
    z = mu + torch.exp(log_var) * eps
    log_q = -0.5 * (math.log(2 * math.pi) + log_var + (z - mu) ** 2 / log_var.exp()).sum(-1)
    log_p = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    return (log_q - log_p).mean(0)
    ### END STUB


# %% tags=["nbval-check-output"]
check("1.4", kl_monte_carlo)

# %% [markdown]
# The course's version (`divergences.kl_std_normal_mc`) against the closed form
# (`divergences.kl_std_normal`), for one q in two dimensions:

# %% tags=["nbval-check-output"]
mu_q, log_var_q = torch.tensor([[0.5, -1.0]]), torch.log(torch.tensor([[0.5, 2.0]]))
exact_kl = divergences.kl_std_normal(mu_q, log_var_q)[0]
for n in (10, 1_000, 100_000):
    eps = torch.randn(n, 1, 2, generator=torch.Generator().manual_seed(3))
    print(f"N = {n:>7,}: estimate {divergences.kl_std_normal_mc(mu_q, log_var_q, eps)[0]:.4f}, "
          f"closed form {exact_kl:.4f}")

# %% [markdown]
# The estimate is unbiased and its error falls like $1/\sqrt N$: watch it converge to the
# closed form (the band is ± 2 standard errors).

# %%
plot_kl_mc_convergence()

# %% [markdown]
# **Negative estimates of a KL?** At small n the band above reaches below 0: an estimate from a
# few draws can be negative, although $D_{KL} \ge 0$. Nothing is wrong: a single draw's log-ratio
# $\log q(z) - \log p(z)$ is negative wherever $p(z) > q(z)$, which happens for some z whenever
# $q \ne p$ (both integrate to 1). Only the *expectation* of the log-ratio is $\ge 0$ (Jensen, section 1). One draw per estimate:

# %% tags=["nbval-check-output"]
eps = torch.randn(1, 100_000, 2, generator=torch.Generator().manual_seed(4))
single = divergences.kl_std_normal_mc(mu_q.expand(100_000, 2), log_var_q.expand(100_000, 2), eps)
print(f"100,000 one-draw estimates: {100 * (single < 0).double().mean():.1f}% are negative; "
      f"their mean is {single.mean():.4f} ± {single.std() / 100_000 ** 0.5:.4f} (closed form {exact_kl:.4f})")

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
# ### Exercise 1.5 (1 pt): importance-sampling estimate of log p(x)
# Given `log_joint` ($z \mapsto \log p(x, z)$), `log_q` and K samples `z` of q (shape `(K, q)`), return
# the log of the estimate above, $\log \hat p_K(x)$. Log densities of real models are large negative
# numbers (around −1000 for a 64-pixel image), whose exponentials are 0 in floating point: never
# leave log space.

# %% exercise="1.5" kind="warm-up"
def importance_log_evidence(log_joint, log_q, z):
    """log p_hat_K(x) from K samples z of q, shape (K, q) -> scalar."""
    ### BEGIN SOLUTION
    log_w = log_joint(z) - log_q(z)
    return torch.logsumexp(log_w, dim=0) - math.log(z.shape[0])
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.5", importance_log_evidence)

# %% [markdown]
# Five estimates from each proposal, K = 64 samples each (`importance.evidence_estimates`, three
# Gaussian proposals: the prior, a diagonal q near the posterior, and the exact posterior):

# %% tags=["nbval-check-output"]
proposals = importance.evidence_proposals(model, x_obs)
for prop in proposals.values():
    runs = importance.evidence_estimates(model, x_obs, prop, K=64, n=5, generator=torch.Generator().manual_seed(5))
    print(f"{prop.label:<38}" + " ".join(f"{v:8.3f}" for v in runs.tolist()))

# %% [markdown]
# ## 5. The evidence lower bound
#
# The importance-sampling identity holds for any q(z|x) that is positive where p(x, z) is. Two
# steps turn it into the ELBO (slides, "VAE details").
#
# **Step 1: Jensen.** $\log$ is concave, so $\log E[W] \ge E[\log W]$ for any positive random W. With
# $W = p_\theta(x, z)/q(z|x)$, $z \sim q$:
#
# $$\log p_\theta(x) = \log E_{q(z|x)}\Big[\frac{p_\theta(x, z)}{q(z|x)}\Big]
# \ \ge\ E_{q(z|x)}\big[\log p_\theta(x, z) - \log q(z|x)\big] =: V_L(\theta, \phi; x) = \text{ELBO}.$$
#
# **Step 2: the exact gap.** Jensen says how, not how much. Bayes' rule,
# $p_\theta(x, z) = p_\theta(z|x)\,p_\theta(x)$, splits the integrand for every z:
#
# $$\log p_\theta(x, z) - \log q(z|x) = \log p_\theta(x) - \big[\log q(z|x) - \log p_\theta(z|x)\big].$$
#
# $\log p_\theta(x)$ does not depend on z; the bracket's expectation under q is a KL. Taking $E_q$:
#
# $$\log p_\theta(x) = \underbrace{E_{q(z|x)}\big[\log p_\theta(x, z) - \log q(z|x)\big]}_{\text{ELBO}}
# \; + \; D_{KL}\big(q(z|x)\,\|\,p_\theta(z|x)\big).$$
#
# Since the KL is $\ge 0$, the ELBO is a lower bound of $\log p(x)$, tight exactly when q is the
# posterior; and it needs no $p(z|x)$. Maximising the ELBO over q minimises the **reverse** KL to
# the posterior (section 2: mode-seeking). Rewriting $\log p(x, z) = \log p(x|z) + \log p(z)$ gives the
# VAE form $V_L = -D_{KL}(q(z|x)\|p(z)) + E_q[\log p(x|z)]$.
#
# ### Exercise 1.6 (2 pts): a reparametrized ELBO estimate
# For $q = \mathcal N(\mu, \mathrm{diag}(\mathrm{var}))$ (`mu`, `var` of shape `(q,)`), estimate the ELBO
# from K samples of q made from the given standard normal draws `eps` (shape `(K, q)`). Make the
# samples from `mu` and `var` themselves, so that gradients reach them (the reparametrization trick
# of the next notebook).

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
# **Amortisation.** Above, q was fitted for *one* observation: its own $\mu$ and var. A dataset of
# a million x would need a million such fits, and a new x yet another. A VAE instead **amortises**
# inference: one encoder network $q_\phi(z|x) = \mathcal N(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x))$ maps
# every x to its q in one forward pass, and $\phi$ is trained on the ELBO averaged over the data.
# The price is a gap that splits in two:
#
# $$\log p(x) - \text{ELBO}(q_\phi(\cdot|x)) = \underbrace{\log p(x) - \max_{q \in \mathcal Q} \text{ELBO}(q)}_{\text{approximation gap}}
# + \underbrace{\max_{q \in \mathcal Q} \text{ELBO}(q) - \text{ELBO}(q_\phi(\cdot|x))}_{\text{amortisation gap}},$$
#
# with $\mathcal Q$ the family (here diagonal Gaussians). For the linear-Gaussian model the best diagonal
# q is known (the posterior mean, and variances $1/\Lambda_{jj}$ with $\Lambda = I + W^\top W / s^2$ the
# posterior precision), so the approximation gap can be computed. Its posterior mean is linear in x
# and its covariance the same for every x, so an affine encoder reaches that best q for every x: no
# amortisation gap here. A neural decoder (notebook 02) has neither property.

# %% tags=["nbval-check-output"]
precision = torch.linalg.inv(post_cov)
best_diag = model.elbo(x_obs, post_mean, 1 / precision.diagonal())
print(f"best diagonal q: ELBO = {best_diag:.4f}, log p(x) = {log_px:.4f}, "
      f"approximation gap = {log_px - best_diag:.4f} nats")

# %% [markdown]
# ## 6. How biased is log p̂? Tighter bounds
#
# The importance-sampling estimate $\hat p_K(x) = \frac1K \sum_k w_k$ is **unbiased**:
# $E[\hat p_K(x)] = p(x)$ for every K and every proposal. We report its log, and the log is not linear.
#
# ### Exercise 1.7 (2 pts): predict the mean of log p̂ before measuring it
# Think first, then write `predict_mean_log_estimate(log_px, kl_to_posterior, K)`: the average of
# $\log \hat p_K(x)$ over many repetitions, for a proposal q with $D_{KL}(q\,\|\,p(z|x))$ =
# `kl_to_posterior`, and the exact `log_px`. The check asks only about cases where the answer is exact:
# K = 1; the exact posterior as proposal (`kl_to_posterior` = 0) with any K; and $K \to \infty$
# (`K = math.inf`). Return a number. The cells below then measure it.

# %% exercise="1.7" kind="predict"
def predict_mean_log_estimate(log_px, kl_to_posterior, K):
    """Mean of log p_hat_K(x) over repeats; K is 1, math.inf, or any K when kl_to_posterior is 0."""
    ### BEGIN SOLUTION
    if K == 1:
        return log_px - kl_to_posterior
    return log_px
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.7", predict_mean_log_estimate)

# %% [markdown]
# **Measured.** 10,000 estimates per setting, for the three proposals of section 4 (each
# proposal's KL to the posterior from `torch.distributions`): the mean of $\log \hat p$ with its
# standard error, the course's prediction (`importance.expected_log_estimate`), and the mean of
# $\hat p / p(x)$, which is 1 for every setting.

# %% tags=["nbval-check-output"]
gen = torch.Generator().manual_seed(6)
print(f"{'proposal':<38}{'K':>5}{'mean log p_hat ± s.e.':>24}{'predicted':>11}{'mean p_hat/p(x)':>17}")
for key, K in [("prior", 1), ("q", 1), ("posterior", 1), ("posterior", 16)]:
    prop = proposals[key]
    runs = importance.evidence_estimates(model, x_obs, prop, K=K, n=10_000, generator=gen)
    kl = float(log_px) - prop.elbo  # each proposal stores its exact ELBO = log p(x) - KL(q || p(z|x))
    predicted = importance.expected_log_estimate(float(log_px), kl if key != "posterior" else 0.0, K)
    ratio = (runs - log_px).exp()
    print(f"{prop.label:<38}{K:>5}{runs.mean():>15.3f} ± {runs.std() / len(runs) ** 0.5:<6.3f}"
          f"{predicted:>11.3f}{ratio.mean():>11.3f} ± {ratio.std() / len(runs) ** 0.5:.3f}")

# %% [markdown]
# So $\hat p$ is unbiased while $\log \hat p$ is **biased low** (Jensen again), by exactly the KL at
# K = 1. Every mean of $\hat p / p(x)$ is 1 within its standard error; the prior's is the noisiest,
# because a few rare, huge weights carry it. The figure shows the estimates for growing K, relative to the
# exact $\log p(x)$ (the line at 0): each mean (with ± 2 standard errors) starts near the proposal's
# ELBO at K = 1 (the legend gives both, so the sampling noise of 200 repetitions is visible) and
# climbs towards 0; the prior needs far more samples than q for the same accuracy.

# %%
plot_evidence_estimators()

# %% [markdown]
# Draw estimates one at a time or a hundred at a time, and change the proposal and K.
# *Predict first*: with the exact posterior as proposal, how wide will the histogram be?

# %%
evidence_estimator_demo()

# %% [markdown]
# **Tighter bounds.** Jensen's inequality applied to $\hat p_K$ instead of a single weight gives a
# lower bound for every K: $\mathcal L_K = E[\log \hat p_K(x)] \le \log E[\hat p_K(x)] = \log p(x)$, and
# $\mathcal L_1$ is the ELBO. Burda et al. (2016, "Importance weighted autoencoders") show that the
# bounds grow with K: $\text{ELBO} = \mathcal L_1 \le \mathcal L_K \le \mathcal L_{2K} \le \log p(x)$. A model trained on
# $\mathcal L_K$ (an IWAE) needs it as a differentiable function of q's parameters.
#
# ### Exercise 1.8 (3 pts): the importance-weighted bound
# For $q = \mathcal N(\mu, \mathrm{diag}(\mathrm{var}))$, `eps` of shape `(S, K, q)` holds S independent sets
# of K standard normal draws. Each set gives one estimate $\log \hat p_K(x)$; return the estimate of
# $\mathcal L_K$ they make together, a scalar through which gradients reach `mu` and `var`. Your
# exercises 1.5 and 1.6 hold the ingredients (and `elbo.log_normal_diag` is provided).

# %% exercise="1.8" kind="build"
def iwae_bound(log_joint, mu, var, eps):
    """Estimate of L_K for q = N(mu, diag(var)); mu, var: (q,), eps: (S, K, q) -> scalar."""
    ### BEGIN SOLUTION
    z = mu + var.sqrt() * eps
    log_w = log_joint(z) - elbo.log_normal_diag(z, mu, var)
    return (torch.logsumexp(log_w, dim=1) - math.log(eps.shape[1])).mean()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("1.8", iwae_bound)

# %% [markdown]
# **The chain, numerically**, for the diagonal q of section 4: 3,000 sets of 256 draws, whose first K
# draws make each set's $\log \hat p_K$ (`elbo.log_mean_exp` of the log-weights, what `elbo.iwae_bound`
# averages), each with its standard error. The bound climbs from the exact ELBO towards the exact
# $\log p(x)$, and stays below it: at K = 256 the gap is a few thousandths of a nat.

# %% tags=["nbval-check-output"]
q_prop = proposals["q"]
z = q_prop.sample((3_000, 256), torch.Generator().manual_seed(9))
log_w = model.log_joint(x_obs, z) - q_prop.log_prob(z)  # (3000, 256)
print(f"exact ELBO of q:  {q_prop.elbo:9.4f}")
for K in (1, 4, 16, 64, 256):
    per_set = elbo.log_mean_exp(log_w[:, :K], dim=1)
    print(f"L_K, K = {K:>3}:     {per_set.mean():9.4f} ± {per_set.std() / len(per_set) ** 0.5:.4f} (s.e.)")
print(f"exact log p(x):   {log_px:9.4f}")

# %% [markdown]
# ## Your score
# Re-run the `check` cells after changing an exercise; this table shows the latest result of each.

# %% tags=["nbval-check-output"]
score_table("01")
