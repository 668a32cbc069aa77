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
# # 02 · The reparametrization trick, the Gaussian VAE and VQ-VAE
#
# This notebook follows the slides from **"VAE - reparametrization trick"** through
# **"Learning discrete distributions: VQ-VAE"**. By the end you will have implemented, and
# checked against the reference:
#
# 1. the score-function gradient estimator, which the reparametrized sample $z = \mu + \sigma \odot \epsilon$
#    replaces (and when it should not);
# 2. the negative ELBO of the Gaussian VAE of the slides (by fixing a buggy one), and of a Bernoulli decoder;
# 3. one whole training step of a VAE;
# 4. nearest-codeword quantization with the straight-through gradient, and the VQ-VAE loss
#    with its stop-gradients.
#
# Along the way we train a VAE on 8x8 digits in a few seconds, explore its latent space, weigh
# its KL term with β, and train a small VQ-VAE.
#
# **Notation.** Gaussians are written N(mean, variance): $\mathcal N(\mu, \sigma^2)$, with σ a
# standard deviation (the slides sometimes write N(μ, σ)). Encoders output the **log-variance**
# `log_var` $= \log \sigma^2$. Logarithms are natural: ELBOs are in nats. $p(z) = \mathcal N(0, I)$,
# $q_\phi(z|x)$ is the encoder, $p_\theta(x|z)$ the decoder. As in the lecture, **D** is the number of pixels
# ($x \in \mathbb R^D$, D = 64) and **J** the number of latent dimensions ($z \in \mathbb R^J$); the VQ-VAE's
# codewords have size C (see NOTATION.md).
#
# **Exercises** work as in notebook 01: replace the stub, run the cell, then its `check(...)` cell;
# `hint("2.1")` gives one more hint each time you call it. Exercise 2.2 hands you a function with one
# mistake to find and fix.
# Cells further down use the reference implementations from `course_utils`, so the notebook runs
# even if an exercise is unfinished. The grader takes only the exercise cells from your notebook:
# keep each function's name and arguments, and everything it needs inside its cell.

# %%
import math

import torch

from course_utils.data import digits
from course_utils.grading import check, hint, score_table
from course_utils.s01_kl_elbo import divergences
from course_utils.s02_vae import reparam, vae, vq
from course_utils.s02_vae.plots import (plot_codebook_usage, plot_digit_rows, plot_estimator_variance,
                                        plot_latent_space, plot_pixel_likelihoods, plot_vae_losses)
from course_utils.s02_vae.widgets import beta_vae_demo, estimator_race_demo, latent_explorer_demo, vq_codebook_demo

torch.manual_seed(0)

# %% [markdown]
# ## 1. Why sampling blocks gradients
#
# The ELBO contains an expectation under the encoder, $E_{q_\phi(z|x)}[\log p_\theta(x|z)]$, that we
# estimate by sampling z. To train the encoder we need its gradient with respect to φ, that is with
# respect to the mean μ and standard deviation σ of q. But a sample is just a number: the operation
# "draw $z \sim \mathcal N(\mu, \sigma^2)$" has no derivative with respect to μ and σ
# (slide "VAE - reparametrization trick": *not possible to propagate the gradient through stochastic units*).

# %% tags=["nbval-check-output"]
mu = torch.tensor(0.5, requires_grad=True)
sigma = torch.tensor(1.0, requires_grad=True)
q = torch.distributions.Normal(mu, sigma)
z_sampled = q.sample()          # a draw: cut off from mu and sigma
z_reparam = q.rsample()         # mu + sigma * eps: the reparametrized draw
print("sample()  requires grad:", z_sampled.requires_grad)
print("rsample() requires grad:", z_reparam.requires_grad)

# %% [markdown]
# **The trick.** Write the sample as a deterministic function of the parameters and of a noise whose
# distribution does not depend on them:
#
# $$z = g_\phi(x, \epsilon) = \mu_z(x) + \sigma_z(x) \odot \epsilon, \qquad \epsilon \sim \mathcal N(0, I).$$
#
# The sampling moves into an *input* ε; the derivatives $\partial z/\partial \mu = 1$ and
# $\partial z / \partial \sigma = \epsilon$ exist, and backpropagation passes through z. An encoder outputs
# `log_var` $= \log\sigma^2$, so $\sigma = \exp(\tfrac12 \log\sigma^2)$ (`reparam.reparametrize`):

# %% tags=["nbval-check-output"]
mu_z, log_var_z = torch.zeros(1, 2, requires_grad=True), torch.full((1, 2), math.log(4.0), requires_grad=True)
z = reparam.reparametrize(mu_z, log_var_z, eps=torch.tensor([[1.0, -0.5]]))
z.sum().backward()
print("z =", z.detach().tolist(), " dz/dmu =", mu_z.grad.tolist(), " dz/dlog_var =", log_var_z.grad.tolist())

# %% [markdown]
# **The estimator that needs no trick.** There is another unbiased gradient, which only evaluates f
# (it is how reinforcement learning differentiates through sampled actions, "REINFORCE"). Since
# $\nabla_\theta q = q\,\nabla_\theta \log q$,
#
# $$\nabla_\theta E_q[f(z)] = \int f(z)\,\nabla_\theta q(z)\,dz = E_q\big[f(z)\,\nabla_\theta \log q(z)\big],$$
#
# where here $q(z) = \mathcal N(z; \mu, \sigma^2) = \frac{1}{\sqrt{2\pi\sigma^2}}\exp\big(-\frac{(z - \mu)^2}{2\sigma^2}\big)$
# and θ = (μ, σ). The right-hand side is an expectation under q: a Monte Carlo average over samples
# $z_n = \mu + \sigma\epsilon_n$ estimates it.
#
# ### Exercise 2.1 (2 pts): build the score-function estimate
# For a function `f` (elementwise), scalars `mu`, `sigma` (σ a standard deviation) and N standard
# normal draws `eps` of shape `(N,)`, return the score-function estimate of
# $(\partial_\mu, \partial_\sigma)\,E_q[f(z)]$ from these N samples, a tensor of shape `(2,)`. You
# need the two derivatives of $\log q$: work them out from the density above.

# %% exercise="2.1" kind="build"
def score_function_grad(f, mu, sigma, eps):
    """Score-function estimate of (d/dmu, d/dsigma) E_{N(mu, sigma^2)}[f(z)] from N draws eps: (N,) -> (2,)."""
    ### BEGIN SOLUTION
    fz = f(mu + sigma * eps)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps**2 - 1) / sigma).mean()])
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("2.1", score_function_grad)

# %% [markdown]
# The reparametrized estimate of the same gradient is $\frac1N\sum_n f'(z_n)\,(1, \epsilon_n)$:
# what autograd computes through $z = \mu + \sigma\epsilon$ (`reparam.pathwise_grad`).

# %% [markdown]
# **Race them.** For $f(z) = z^2$ the exact answer is known: $E[z^2] = \mu^2 + \sigma^2$ (the
# slides' "second-order moment of a Gaussian"), so $\nabla = (2\mu, 2\sigma)$. Here are 400
# independent estimates from N = 16 samples each, by both estimators, on the same noise:

# %% tags=["nbval-check-output"]
race = reparam.estimator_race("square", mu=0.5, sigma=1.0, n=16, repeats=400, seed=0)
print(f"exact gradient (2 mu, 2 sigma):   {race.exact[0]:.3f}, {race.exact[1]:.3f}")
for name, est in (("score function", race.score), ("reparametrized", race.pathwise)):
    print(f"{name:<16} mean {est[:, 0].mean():6.3f}, {est[:, 1].mean():6.3f}   "
          f"sd {est[:, 0].std():6.3f}, {est[:, 1].std():6.3f}")
print("variance ratio (score / reparametrized):", [round(float(r), 1) for r in race.variance_ratio()])

# %% [markdown]
# Both are unbiased (their means sit on the exact value) and both variances fall like 1/N; here the
# reparametrized one is several times smaller at every N: it uses the slope f', not only the values f.

# %%
plot_estimator_variance()

# %% [markdown]
# **Is the reparametrized estimator always better?** No. *Predict first*: at μ = 0.5, σ = 1, which
# estimator of $\partial_\mu E[\sin 2z]$ has the smaller variance? Then measure. Each row below is the
# ratio Var(score function) / Var(reparametrized) of a one-sample estimate (20,000 draws): averaging N
# samples divides both variances by N, so the ratio holds at every N. **Below 1, the score function wins.**

# %% tags=["nbval-check-output"]
table = reparam.variance_ratio_table(mu=0.5, sigmas=(0.25, 0.5, 1.0, 2.0))
print(f"{'f(z)':<8}{'sigma':>6}   ratio d/dmu  ratio d/dsigma   with baseline b = E[f]: d/dmu  d/dsigma")
for row in table:
    r, rb = row.ratio(), row.ratio(baseline=True)
    flag = "  <- score function wins" if bool((r < 1).any()) else ""
    print(f"{reparam.TEST_FUNCTIONS[row.function].label:<8}{row.sigma:>6g}   {r[0]:11.3f}  {r[1]:14.3f}"
          f"   {rb[0]:27.3f}  {rb[1]:8.3f}{flag}")

# %% [markdown]
# For the smooth, slowly varying $z^2$ and $e^z$ the reparametrized estimator wins everywhere. For the
# wiggly $\sin 2z$ it loses from σ ≈ 0.5 on: its samples $f'(z) = 2\cos 2z$ swing between −2 and 2 across the
# wide q, while the score function's $f(z)\,\epsilon/\sigma$ shrinks with 1/σ (at σ = 1 its variance is about
# 0.25x the reparametrized one for ∂/∂μ, at σ = 2 about 0.06x). At small σ the score function's 1/σ
# explodes instead. The rule of thumb "reparametrize" is about the VAE's case: smooth decoders, small σ.
#
# **Baselines (control variates).** Since $E_q[\nabla_\theta \log q] = 0$, subtracting any constant b from
# f leaves the score-function estimate unbiased: $E_q[(f(z) - b)\,\nabla_\theta \log q(z)]$. With b close to
# the typical f, the terms shrink: the last two columns use b = E_q[f]; it helps for $z^2$ and $e^z$ (up to
# 9x at σ = 0.25), but it is not the best baseline everywhere (for $\sin 2z$ at σ = 0.5 it hurts). REINFORCE
# in practice learns b, or uses several samples' mean ("leave-one-out").
#
# **Try it.** Change the function, N and (in the second row) μ and σ; the readout gives the variance
# ratio. With $\sin 2z$, shrink σ to 0.2 and then widen it to 2.

# %%
estimator_race_demo()

# %% [markdown]
# ## 2. The Gaussian VAE of the slides
#
# Slide "VAE - instantiation example": $p(z) = \mathcal N(0, I)$,
# $q_\phi(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))$ with $z \in \mathbb R^J$, and
# $p_\theta(x|z) = \mathcal N(\mu(z), \mathrm{diag}\,\sigma^2(z))$ with $x \in \mathbb R^D$; encoder and
# decoder are one-hidden-layer MLPs with tanh units (`vae.VAE`). The ELBO is
#
# $$V_L(\theta, \phi; x) = -D_{KL}(q_\phi(z|x)\,\|\,p(z)) + E_{q_\phi(z|x)}[\log p_\theta(x|z)],$$
#
# with the KL in closed form (notebook 01, `divergences.kl_std_normal`) and the reconstruction term
# estimated with one reparametrized sample per digit, where
#
# $$\log p_\theta(x|z) = -\sum_{j=1}^D \Big[\tfrac12 \log(2\pi\sigma_j^2(z)) + \frac{(x_j - \mu_j(z))^2}{2\sigma_j^2(z)}\Big].$$
#
# > **Note on the slides.** The "Loss / Reproduction term" slide writes this sum without its minus
# > sign and without the $2\pi$ (the earlier slide has the minus). The minus matters for the
# > direction of training; the constant $\tfrac D2 \log 2\pi$ changes no gradient but is needed to
# > report the ELBO in nats. Likewise, training *maximises* the ELBO (the reconstruction
# > log-likelihood), i.e. minimises the reconstruction error: $\theta \leftarrow \theta + \text{lr}\,\nabla_\theta V_L$,
# > or gradient **descent on −ELBO**, which is what we do.
#
# ### Exercise 2.2 (2 pts): find the bug in a Gaussian-decoder loss
# A colleague wrote the loss below for this VAE: given digits `x`, the decoder's outputs `mu_x`,
# `log_var_x` at the sampled z (all `(batch, D)`) and the encoder's `mu_z`, `log_var_z` (`(batch, J)`),
# it should return $-V_L$ for each digit, shape `(batch,)`. Its training curves looked plausible, but
# its ELBOs disagree with `vae.elbo_per_digit` by tens of nats. It has **one** mistake: find it and fix it.
# (Test it first on a case you can work out by hand.)

# %% exercise="2.2" kind="find-the-bug"
def negative_elbo_gaussian(x, mu_x, log_var_x, mu_z, log_var_z):
    """-ELBO of each digit: -log p(x|z) with the Gaussian decoder, plus KL(q(z|x) || p(z)); -> (batch,)."""
    ### BEGIN SOLUTION
    sigma_x = torch.exp(0.5 * log_var_x)
    nll = (0.5 * math.log(2 * math.pi) + torch.log(sigma_x) + (x - mu_x) ** 2 / (2 * sigma_x**2)).sum(-1)
    kl = 0.5 * (torch.exp(log_var_z) + mu_z**2 - 1 - log_var_z).sum(-1)
    return nll + kl
    ### END SOLUTION
    ### BEGIN STUB
    sigma_x = torch.exp(log_var_x)
    nll = (0.5 * math.log(2 * math.pi) + torch.log(sigma_x) + (x - mu_x) ** 2 / (2 * sigma_x**2)).sum(-1)
    kl = 0.5 * (torch.exp(log_var_z) + mu_z**2 - 1 - log_var_z).sum(-1)
    return nll + kl
    ### END STUB


# %% tags=["nbval-check-output"]
check("2.2", negative_elbo_gaussian)

# %% [markdown]
# **The data.** scikit-learn's 1,797 handwritten digits, 8x8 grey levels 0..16 scaled to [0, 1]
# (`digits.load_digits_split`, offline), split 3/4 for training and 1/4 held out.

# %% tags=["nbval-check-output"]
split = digits.load_digits_split()
print("train:", tuple(split.x_train.shape), " test:", tuple(split.x_test.shape),
      f" pixels in [{split.x_train.min():.0f}, {split.x_train.max():.0f}]")

# %% [markdown]
# **Training.** `vae.train_vae` runs the course's training loop (`training.fit`, Adam): at each step
# a minibatch of 128 digits, one ε per digit, and a step down the batch mean of $-V_L$. J = 8.

# %%
run_g = vae.train_vae(split.x_train, latent_dim=8, likelihood="gaussian", steps=800)
print(f"trained in {run_g.seconds:.1f} s")

# %% [markdown]
# The loss split into its two terms: the reconstruction term falls fast; the KL first rises (the
# encoder starts using its latent code, paying nats for every bit of information about x), then levels off.

# %%
plot_vae_losses({"Gaussian decoder": run_g})

# %% [markdown]
# Held-out digits, their reconstructions (decoder mean at $z = \mu(x)$) and decoder means at draws
# $z \sim p(z)$ from the prior: new digits.

# %%
model_g = run_g.model
elbo_g = vae.elbo_per_digit(model_g, split.x_test, n_samples=16)
print(f"test-set ELBO, Gaussian decoder: {elbo_g.mean():.1f} nats per digit")
plot_digit_rows({"test digits": split.x_test, "reconstructions": model_g.reconstruct(split.x_test),
                 "prior samples": model_g.sample(12, seed=1)})

# %% [markdown]
# ## 3. The latent space
#
# With J = 2 we can look at the latent space itself. `vae.beta_family` trains five small 2-D
# models at once (one per β, below; `torch.func.vmap` runs them side by side in one loop). Each test
# digit's posterior mean $\mu(x)$ is a point, coloured by its class; the shaded ellipses are some
# posteriors' 1-sd regions; the dashed circles are the prior's 1 and 2 sd.

# %%
family = vae.beta_family()
model_2d = next(r.model for r in family if r.beta == 1.0)
plot_latent_space(model_2d, split.x_test, split.y_test)

# %% [markdown]
# **Try it.** Move z and watch the decoded digit change. Where the classes meet, the decoder
# blends them; far outside the prior's circles it was never trained.

# %%
latent_explorer_demo(model=model_2d)

# %% [markdown]
# **β.** Weighing the KL, $-\log p(x|z) + \beta\, D_{KL}(q(z|x)\|p(z))$, trades reconstruction for
# a latent space shaped like the prior (β = 1 is the ELBO; β > 1 is the "β-VAE"). The models are
# already trained; the slider only looks them up. *Predict first*: what happens to the KL at β = 10?

# %% tags=["nbval-check-output"]
x_test, eps_test = split.x_test, torch.randn(len(split.x_test), 2, generator=torch.Generator().manual_seed(0))
for r in family:
    with torch.no_grad():
        t = r.model.terms(x_test, eps_test)
    use = vae.latent_usage(r.model, x_test)
    print(f"beta = {r.beta:>4g}:  KL {t.kl.mean():5.2f} nats = {' + '.join(f'{k:.2f}' for k in use.kl)} "
          f"per latent dimension;  spread of the means Var[mu_j(x)] {use.spread[0]:.2f}, {use.spread[1]:.2f};  "
          f"noise E[sigma_j^2(x)] {use.noise[0]:.2f}, {use.noise[1]:.2f}")

# %% [markdown]
# **Posterior collapse.** As β grows, the KL becomes the expensive term and the encoder gives in: at β = 10 the
# KL is about 0.2 nats per digit (0.1 per latent dimension; about 4 at β = 1), so $q(z|x)$ is nearly the prior
# for every digit. The other two numbers say why z tells little: the posterior noise $\sigma_j^2 \approx 0.8$ now
# dwarfs the spread of the digits' means (0.24 and 0.13, against 1.3 and a noise of 0.03 to 0.04 at β = 1),
# so a sample z barely says which digit it came from, and the decoder falls back on average digits. This is
# **posterior collapse**; pushed further, a dimension's means stop moving at all (the "active units" count of
# Burda et al., `LatentUsage.active`, drops). It also happens at β = 1 with a decoder strong enough to model x
# without z (an autoregressive one); remedies are KL annealing (β from 0 up to 1) and "free bits" (no KL
# penalty below a few nats per dimension).

# %%
beta_vae_demo(runs=family)

# %% [markdown]
# ## 4. Bernoulli or Gaussian decoder?
#
# Pixel intensities live in [0, 1]. Two common likelihoods:
#
# - **Gaussian** (the slides'): $x_j \sim \mathcal N(\mu_j(z), \sigma_j^2(z))$. A *density* on real
#   numbers: with a small σ its log can be positive, so the ELBO can be positive too. Our decoder
#   floors σ at 0.05, or pixels that are always 0 would drive σ to 0 and the likelihood to infinity.
# - **Bernoulli**: $x_j \sim \mathrm{Bernoulli}(p_j(z))$, $p_j = \mathrm{sigmoid}(\ell_j)$ from logits
#   ℓ: $\log p(x|z) = \sum_j x_j \log p_j + (1 - x_j)\log(1 - p_j)$, the binary cross-entropy. A
#   *probability* of binary pixels, always ≤ 0; for grey levels it is a loss that is best at
#   $p_j = x_j$ but not a normalised likelihood (for $x = 0.5$ its best value is $-\log 2$, not 0).

# %%
plot_pixel_likelihoods()

# %% [markdown]
# ### Exercise 2.3 (1 pt): the negative ELBO with a Bernoulli decoder
# Given `x` in [0, 1] and decoder `logits` (both `(batch, D)`) and the encoder's `mu_z`, `log_var_z`
# (`(batch, J)`), return $-V_L$ per digit, shape `(batch,)`. Logits can be large: compute the
# log-likelihood stably.

# %% exercise="2.3" kind="warm-up"
def negative_elbo_bernoulli(x, logits, mu_z, log_var_z):
    """-ELBO of each digit with a Bernoulli decoder of the given logits; -> (batch,)."""
    ### BEGIN SOLUTION
    log_p = torch.nn.functional.logsigmoid(logits)
    log_1mp = torch.nn.functional.logsigmoid(-logits)
    recon = -(x * log_p + (1 - x) * log_1mp).sum(-1)
    kl = -0.5 * (1 + log_var_z - mu_z**2 - log_var_z.exp()).sum(-1)
    return recon + kl
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("2.3", negative_elbo_bernoulli)

# %% [markdown]
# ### Exercise 2.4 (4 pts): one training step of a VAE
# So far `vae.train_vae` did the training for us. Now write one step of it yourself, for the Bernoulli
# decoder. You get:
#
# - `encoder`, a network from digits `(batch, D)` to `(batch, 2J)`: its first J columns are $\mu_z(x)$,
#   its last J are $\log\sigma_z^2(x)$;
# - `decoder`, a network from z `(batch, J)` to the Bernoulli logits `(batch, D)`;
# - `optimizer`, a `torch.optim` optimizer holding the parameters of both;
# - a batch of digits `x` `(batch, D)` and standard normal noise `eps` `(batch, J)` for its samples.
#
# Take one step of gradient **descent** on the batch mean of $-V_L$ (the Note on the slides above), with
# the sample of this section's trick, and return that loss (a number or a 0-dim tensor, without gradient).
# The networks may still hold gradients from a previous step. The check runs your step on a tiny
# network with plain SGD and compares every parameter after the step with the reference's.

# %% exercise="2.4" kind="training-step"
def vae_step(encoder, decoder, optimizer, x, eps):
    """One optimisation step on the batch mean of -ELBO (Bernoulli decoder); returns the loss."""
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    mu_z, log_var_z = encoder(x).chunk(2, dim=-1)
    z = mu_z + torch.exp(0.5 * log_var_z) * eps
    logits = decoder(z)
    nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    kl = 0.5 * (mu_z**2 + log_var_z.exp() - log_var_z - 1).sum(dim=-1)
    loss = (nll + kl).mean()
    loss.backward()
    optimizer.step()
    return loss.detach()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("2.4", vae_step)

# %% [markdown]
# The reference step `vae.vae_step` at work: `vae.sgd_with_vae_step` calls it 25 times on a fresh VAE's two
# networks, with plain SGD on minibatches of 128 training digits. `vae.train_vae` minimises the same loss
# with Adam (the course's `training.fit`).

# %% tags=["nbval-check-output"]
losses = vae.sgd_with_vae_step(split.x_train, steps=25, lr=0.05, seed=3)
print("batch -ELBO (nats per digit) at steps 0, 8, 16, 24:", [round(float(losses[i]), 1) for i in (0, 8, 16, 24)])

# %% [markdown]
# The same architecture with a Bernoulli decoder, trained by `vae.train_vae` (Adam, 800 steps):

# %%
run_b = vae.train_vae(split.x_train, latent_dim=8, likelihood="bernoulli", steps=800)
model_b = run_b.model
elbo_b = vae.elbo_per_digit(model_b, split.x_test, n_samples=16)
print(f"trained in {run_b.seconds:.1f} s")
print(f"test-set ELBO per digit: Gaussian decoder {elbo_g.mean():7.1f} nats, Bernoulli decoder {elbo_b.mean():7.1f} nats")
plot_digit_rows({"test digits": split.x_test, "Gaussian": model_g.reconstruct(split.x_test),
                 "Bernoulli": model_b.reconstruct(split.x_test),
                 "Bern. samples": model_b.sample(12, seed=1)})

# %% [markdown]
# **Do not compare these two numbers.** The Gaussian ELBO bounds the log of a *density* of 64 real
# pixels (positive: the floored σ = 0.05 gives up to $-\log(0.05\sqrt{2\pi}) \approx 2.1$ nats per
# pixel that is predicted exactly); the Bernoulli one bounds the log-probability of binary pixels
# (≤ 0), applied here to grey levels. Nats compare models with the *same* likelihood on the same data.
# Both decoders make recognisable digits; the Bernoulli one cannot say "this pixel is surely 0.5".

# %% [markdown]
# ## 5. VQ-VAE: a discrete latent space
#
# A VQ-VAE keeps an encoder and a decoder, but quantizes the bottleneck (slide "Learning discrete
# distributions: VQ-VAE"). A **codebook** holds K vectors $e_1, \dots, e_K \in \mathbb R^C$ (C, the code
# size, not to be confused with the D pixels). The encoder's output $z_e(x)$ (here M = 4 vectors of size
# C = 2 per digit) is replaced vector by vector by its **nearest codeword**
#
# $$k = \arg\min_k \|z_e(x) - e_k\|^2, \qquad z_q(x) = e_k,$$
#
# and the decoder sees $z_q$. A digit becomes M integers in $\{0, \dots, K-1\}$.
#
# The argmin has no gradient. The slides' answer, the **straight-through gradient**: copy the
# gradient with respect to $z_q$ to $z_e$, $\nabla_{z_e} L = \nabla_{z_q} L$: in the forward pass $z_q$ must have
# the value $e_k$, in the backward pass the derivative of the identity with respect to $z_e$.
#
# ### Exercise 2.5 (2 pts): quantize, straight-through
# Given `z_e` of shape `(..., C)` and a `codebook` of shape `(K, C)`, return `(z_q, indices)`:
# z_q has z_e's shape and the value of the nearest codewords, with the straight-through gradient to
# z_e (and none to the codebook through z_q: the codebook term of the loss, exercise 2.6, trains it);
# indices has shape `z_e.shape[:-1]`.

# %% exercise="2.5" kind="warm-up"
def quantize(z_e, codebook):
    """Nearest codeword of each vector of z_e (..., C) in codebook (K, C), straight-through -> (z_q, indices)."""
    ### BEGIN SOLUTION
    d2 = ((z_e.unsqueeze(-2) - codebook) ** 2).sum(-1)
    indices = d2.argmin(-1)
    e_k = codebook[indices]
    return z_e + (e_k - z_e).detach(), indices
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("2.5", quantize)

# %% [markdown]
# **The loss** of the slide, with sg the stop-gradient (`.detach()` in PyTorch):
#
# $$L = \underbrace{\|x - \mathrm{Dec}(z_q(x))\|^2}_{\text{decoder and encoder}}
# + \underbrace{\|sg(z_e(x)) - z_q(x)\|^2}_{\text{codebook}}
# + \beta\,\underbrace{\|z_e(x) - sg(z_q(x))\|^2}_{\text{encoder (commitment)}}$$
#
# The reconstruction term reaches the encoder only through the straight-through copy; the codebook
# term pulls the chosen codewords toward the encoder's outputs; the commitment term keeps the
# encoder's outputs near their codewords (the codebook learns more slowly than the encoder).
#
# ### Exercise 2.6 (2 pts): the VQ-VAE loss with its stop-gradients
# Given `x` and `x_rec` = Dec(z_q) (`(batch, D)`), `z_e` (`(batch, M, C)`), the `codebook` (`(K, C)`),
# the chosen `indices` (`(batch, M)`) and `beta`, return the three terms `(recon, codebook_term,
# commitment)`, each a squared norm per digit (summed over all its features) averaged over the batch,
# the commitment already multiplied by β. Take $z_q$ = `codebook[indices]`.

# %% exercise="2.6" kind="warm-up"
def vq_loss(x, x_rec, z_e, codebook, indices, beta):
    """The three terms of the slide's VQ-VAE loss, (recon, codebook_term, commitment), each a batch mean."""
    ### BEGIN SOLUTION
    z_q = codebook[indices]
    batch = x.shape[0]
    recon = ((x - x_rec) ** 2).sum() / batch
    codebook_term = ((z_e.detach() - z_q) ** 2).sum() / batch
    commitment = beta * ((z_e - z_q.detach()) ** 2).sum() / batch
    return recon, codebook_term, commitment
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("2.6", vq_loss)

# %% [markdown]
# **Who trains what.** On a toy VQ-VAE (`vq.VQVAE`), backpropagate each term alone and see which
# parts receive a gradient:

# %% tags=["nbval-check-output"]
toy = vq.VQVAE(n_positions=4, code_dim=2, n_codes=8, seed=0)
x_toy = split.x_train[:16]
parts = {"encoder": toy.encoder, "codebook": toy.codebook, "decoder": toy.decoder}
for name in ("recon", "codebook", "commitment"):
    toy.zero_grad()
    getattr(toy.loss_terms(x_toy, beta=0.25), name).backward()
    trained = [p for p, m in parts.items()
               if any(q.grad is not None and q.grad.abs().sum() > 0 for q in ([m] if isinstance(m, torch.Tensor) else m.parameters()))]
    print(f"{name:<11} term trains: {', '.join(trained)}")

# %% [markdown]
# **Training** with `vq.train_vqvae` (K = 32 codewords of size 2, M = 4 positions, β = 0.25). The
# codewords start at the encoder's outputs for random digits. A second model starts its codewords
# far away (random, scale 3): a codeword that is never the nearest gets no gradient from any term and
# stays **dead**. The **perplexity** $\exp(-\sum_k p_k \log p_k)$ of the usage shares $p_k$ counts the
# codewords effectively used.

# %%
run_vq = vq.train_vqvae(split.x_train, steps=600)
run_far = vq.train_vqvae(split.x_train, steps=300, init_from_data=False, init_scale=3.0, seed=1)
print(f"trained in {run_vq.seconds:.1f} s and {run_far.seconds:.1f} s")
plot_codebook_usage({"codewords from data": run_vq.usage(split.x_train),
                     "far random codewords": run_far.usage(split.x_train)})

# %%
plot_digit_rows({"test digits": split.x_test, "VQ-VAE recon.": run_vq.model.reconstruct(split.x_test),
                 "random codes": run_vq.sample(split.x_train, 12, seed=1)})

# %% [markdown]
# The last row decodes codes drawn position by position from their frequencies: a crude prior. The
# VQ-VAE paper learns a prior over code tuples with an autoregressive model (PixelCNN); DALL-E
# learns one with a transformer over a discrete VAE's codes.
#
# **Try it.** Load a test digit's codes, then change one position's codeword and watch the decoding
# jump; the left panel shows the regions of the 2-D code space that each codeword owns.

# %%
vq_codebook_demo(run=run_vq)

# %% [markdown]
# ## Your score
# Re-run the `check` cells after changing an exercise; this table shows the latest result of each.

# %% tags=["nbval-check-output"]
score_table("02")
