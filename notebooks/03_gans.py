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
# # 03 · GANs: the minimax game, its equilibrium, and the GAN family
#
# This notebook follows the slides from **"Generative Adversarial Networks - GANs"** (Goodfellow et al. 2014)
# to **StyleGAN** (the Wasserstein GAN has its own notebook). By the end you will have implemented, and
# checked against the reference:
#
# 1. the density-ratio view of the optimal discriminator $D^*$, the value $C(g) = -\log 4 + 2\,\mathrm{JSD}(p_X, p_\theta)$,
#    the JSD itself, and a prediction of C(g) that you then measure;
# 2. the discriminator's cross-entropy loss, and one full alternating training step of a GAN;
# 3. the least-squares GAN losses with the constants a, b, c, and the Pix2Pix generator objective;
# 4. the CycleGAN objective: two adversarial terms and the cycle-consistency loss;
# 5. adaptive instance normalisation (AdaIN), the building block of StyleGAN.
#
# Along the way you will train small GANs on a ring of 8 Gaussians, watch them succeed, collapse
# and oscillate, condition one on a label, and translate between two unpaired point clouds.
#
# **Notation.** Gaussians are written N(mean, variance) throughout: N(μ, σ²). Logarithms are natural,
# so divergences are in nats. $p_X$ is the data density, $p_\theta$ the density of $g_\theta(z)$,
# $z \sim p_z = \mathcal N(0, I)$, and $D_\phi(x) \in [0, 1]$ the probability that x is real.
#
# **Exercises.** Each exercise cell defines a function with a `# YOUR CODE HERE` stub. Replace the stub,
# run the cell, then run the `check(...)` cell below it: it prints one line (`passed`, or what looks wrong).
# Stuck? `hint("3.4")` gives one more hint each time you call it (the score table counts them). Cells further down use the reference
# implementations from `course_utils`, so the notebook runs even if an exercise is unfinished.
# The last cell prints your score.
#
# **How your notebook is graded**: as in notebook 01. Only the exercise cells are taken, each
# function is checked on inputs of your own, and a function that calls `course_utils`' own answer
# to its exercise scores 0 (the provided functions and other exercises' answers are yours to use).

# %%
import math

import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from course_utils.data.digits import digits_data
from course_utils.data.mixtures import GaussianMixture
from course_utils.grading import check, hint, score_table
from course_utils.metrics import w2_exact
from course_utils.s03_gans import adain as adain_lib
from course_utils.s03_gans import cyclegan, gan, gan_training
from course_utils.s03_gans.plots import (plot_adain_grid, plot_cgan_samples, plot_cyclegan, plot_gan_snapshots,
                                         plot_generator_gradients, plot_optimal_discriminator, plot_sample_quality)
from course_utils.s03_gans.widgets import adain_demo, cgan_label_demo, gan_equilibrium_demo, gan_lab_demo

torch.manual_seed(0)

# %% [markdown]
# ## 1. The minimax game and its equilibrium
#
# A generator $g_\theta: \mathbb R^q \to \mathbb R^n$ maps noise to samples; a discriminator
# $D_\phi: \mathbb R^n \to [0, 1]$ says how likely a sample is to be real. The slide's game
# ("Loss function (Goodfellow et al. 2014)") is
#
# $$\min_\theta \max_\phi\ L(D_\phi, g_\theta) = E_{x \sim p_X}[\log D_\phi(x)] + E_{z \sim p_z}[\log(1 - D_\phi(g_\theta(z)))].$$
#
# For a fixed g, $L$ is a binary cross-entropy for D: real data labelled 1, fakes labelled 0.
# Writing the second expectation under $p_\theta$, $L = \int p_X \log D + p_\theta \log(1 - D)\,dx$,
# and maximising $a \log y + b \log(1 - y)$ pointwise (its maximum is at $y = a/(a+b)$) gives the
# **optimal discriminator**
#
# $$D^*(x) = \frac{p_X(x)}{p_X(x) + p_\theta(x)}.$$
#
# **The density-ratio view.** Rearranged, $D^*$ says how much likelier x is under the data than under
# the generator: its odds are the density ratio,
#
# $$\frac{D^*(x)}{1 - D^*(x)} = \frac{p_X(x)}{p_\theta(x)}.$$
#
# So a discriminator, trained only to tell real from fake, is also an estimator of $p_X / p_\theta$, a
# quantity neither network ever writes down. One use: importance sampling, which turns samples of
# $p_\theta$ into expectations under $p_X$, since $E_{p_X}[f] = E_{p_\theta}[(p_X / p_\theta)\, f]$
# (the idea behind discriminator rejection sampling, Azadi et al. 2019).
#
# ### Exercise 3.1 (2 pts): data expectations from generator samples
# `fake_logits` (shape `(n,)`) are a discriminator's logits $l_j$ ($D = \sigma(l)$) on n samples
# $x_j \sim p_\theta$, and `values` holds $f(x_j)$, shape `(n,)` or `(n, k)`. Return the estimate of
# $E_{p_X}[f]$ (shape `()` or `(k,)`) with self-normalised weights: weights proportional to the density
# ratio that sum to 1 (a trained D gives the ratio only up to a constant). The check also uses a confident
# discriminator, float32 logits near 100, where `exp` overflows: your weights must stay finite.

# %% exercise="3.1" kind="build"
def reweighted_mean(fake_logits, values):
    """Estimate of E_pX[f] from generator samples: fake_logits (n,), values (n,) or (n, k) -> () or (k,)."""
    ### BEGIN SOLUTION
    weights = torch.softmax(fake_logits, 0)  # e^l / sum e^l: the odds D / (1 - D), normalised, without overflow
    return weights @ values
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.1", reweighted_mean)

# %% [markdown]
# **Measured.** The data mixture $p_X = 0.4\,\mathcal N(-1.5, 0.25) + 0.6\,\mathcal N(1.5, 0.49)$ (used again
# below) and a generator $p_\theta = \mathcal N(0.3, 2.25)$. We draw 20,000 samples of $p_\theta$ only,
# give them the logits of the optimal discriminator, $\log p_X - \log p_\theta$, and estimate two data
# expectations with `gan.reweighted_mean`, next to their exact values and the plain sample mean.

# %% tags=["nbval-check-output"]
data_1d = GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-1.5], [1.5]]), torch.tensor([0.25, 0.49]))
gen_1d = torch.distributions.Normal(torch.tensor(0.3, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64))
x_fake = gen_1d.sample((20000,))
logits_star = data_1d.log_prob(x_fake) - gen_1d.log_prob(x_fake)  # the logit of D*: log(D* / (1 - D*))
f_values = torch.stack([x_fake**2, (x_fake > 0).double()], 1)  # f(x) = x^2 and f(x) = 1{x > 0}
components = torch.distributions.Normal(torch.tensor([-1.5, 1.5], dtype=torch.float64),
                                        torch.tensor([0.5, 0.7], dtype=torch.float64))
exact = [float((torch.tensor([0.4, 0.6]) * (components.variance + components.mean**2)).sum()),
         float((torch.tensor([0.4, 0.6]) * (1 - components.cdf(torch.zeros(2, dtype=torch.float64)))).sum())]
for name, est, plain, true in zip(("E[x^2]", "P(x > 0)"), gan.reweighted_mean(logits_star, f_values),
                                  f_values.mean(0), exact, strict=True):
    print(f"{name:<9} reweighted {est:.3f}   exact under p_X {true:.3f}   plain mean under p_theta {plain:.3f}")

# %% [markdown]
# Plugging $D^*$ back in gives the value the generator faces, $C(g) = \max_D L(D, g) = L(D^*, g)$:
#
# $$C(g) = E_{p_X}\Big[\log \frac{p_X}{p_X + p_\theta}\Big] + E_{p_\theta}\Big[\log \frac{p_\theta}{p_X + p_\theta}\Big]
# = -\log 4 + D_{KL}\Big(p_X \,\Big\|\, \frac{p_X + p_\theta}{2}\Big) + D_{KL}\Big(p_\theta \,\Big\|\, \frac{p_X + p_\theta}{2}\Big)
# = -\log 4 + 2\,\mathrm{JSD}(p_X, p_\theta).$$
#
# Since the JSD is $\ge 0$ and zero only when $p_\theta = p_X$, the best generator is the data
# distribution, where $D^* = 1/2$ everywhere and $C = -\log 4$.
#
# ### Exercise 3.2 (2 pts): C(g) on a grid
# `p_x` and `p_theta` hold the two densities on an evenly spaced 1-D grid with spacing `dx`
# (shape `(G,)`). Return the value the generator faces, $C(g) = \max_D L(D, g)$, as a scalar,
# approximating the integral by a sum times dx.
#
# The check also uses the tails of N(-3, 0.36) against the data (the example below), where $D^*$ rounds
# to 1 in floating point: your form must stay finite there.

# %% exercise="3.2" kind="warm-up"
def optimal_value(p_x, p_theta, dx):
    """C(g) = L(D*, g) by quadrature; p_x, p_theta: (G,), dx: grid spacing -> scalar."""
    ### BEGIN SOLUTION
    d = p_x / (p_x + p_theta)  # D*
    one_minus_d = p_theta / (p_x + p_theta)  # 1 - D* without a subtraction (1 - d rounds to 0 in the tails)
    # torch.xlogy(a, b) = a log b, and 0 where a = 0
    return (torch.xlogy(p_x, d) + torch.xlogy(p_theta, one_minus_d)).sum() * dx
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.2", optimal_value)

# %% [markdown]
# **The identity, numerically.** The data mixture $p_X$ of exercise 3.1 on a grid, and three generator Gaussians. We compute $C(g)$ with `gan.optimal_value_on_grid` and the JSD
# independently with SciPy (`jensenshannon` returns the square root of the JSD; base e gives nats).

# %% tags=["nbval-check-output"]
grid = torch.linspace(-7.0, 7.0, 1401, dtype=torch.float64)
dx = float(grid[1] - grid[0])
p_x = data_1d.log_prob(grid).exp()


def gaussian_density(mean, var):
    return torch.exp(-0.5 * (grid - mean) ** 2 / var) / math.sqrt(2 * math.pi * var)


generators = {"N(-3, 0.36)": gaussian_density(-3.0, 0.36), "N(0.3, 2.25)": gaussian_density(0.3, 2.25),
              "p_theta = p_X": p_x.clone()}
print(f"{'generator':<16}{'C(g)':>10}{'-log 4 + 2 JSD (scipy)':>26}{'max |D* - 1/2|':>17}")
for name, p_t in generators.items():
    c_g = gan.optimal_value_on_grid(p_x, p_t, dx)
    jsd = jensenshannon((p_x * dx).numpy(), (p_t * dx).numpy(), base=math.e) ** 2
    off_half = (gan.optimal_discriminator(p_x, p_t) - 0.5).abs().max()
    print(f"{name:<16}{c_g:>10.4f}{-math.log(4) + 2 * jsd:>26.4f}{off_half:>17.4f}")
print(f"-log 4 = {-math.log(4):.4f}")

# %% [markdown]
# ### Exercise 3.3 (1 pt): the JSD between two discrete distributions
# The Jensen-Shannon divergence is the one in the identity above: $2\,\mathrm{JSD}$ is the sum of the two KL
# terms, each comparing one distribution with the mixture of both. Unlike the KL it is symmetric and always
# finite: it lies between 0 (p = q) and log 2 (disjoint supports). Write `jsd_discrete(p, q)` for tensors of
# shape `(..., K)` whose rows are distributions, returning one JSD per row in nats, shape `(...)`. A term with
# $p_i = 0$ contributes 0.

# %% exercise="3.3" kind="warm-up"
def jsd_discrete(p, q):
    """JSD(p, q) in nats along the last axis. p, q: (..., K) -> (...)."""
    ### BEGIN SOLUTION
    m = 0.5 * (p + q)
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum(-1)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum(-1)
    return 0.5 * (kl_pm + kl_qm)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.3", jsd_discrete)

# %% [markdown]
# Binned on the grid (each bin's mass is density times dx), the two densities become discrete
# distributions, and the discrete JSD agrees with the quadrature above: the identity holds bin by bin.

# %% tags=["nbval-check-output"]
for name, p_t in generators.items():
    binned = gan.jsd_discrete(p_x * dx / (p_x * dx).sum(), p_t * dx / (p_t * dx).sum())
    print(f"{name:<16} JSD on the grid {gan.jsd_on_grid(p_x, p_t, dx):.4f}   binned {binned:.4f}")

# %%
plot_optimal_discriminator(grid, p_x, list(generators.values())[:2], list(generators)[:2])

# %% [markdown]
# ### Exercise 3.4 (2 pts): predict C(g), then measure it
# Take $p_X = U[0, 1]$ and a generator $p_\theta = U[s, s + 1]$ shifted by $s \ge 0$ (both densities are 1 on
# their interval). Work out on paper what $C(g)$ is as a function of s, using what you know of $D^*$, and
# return your prediction for a given s as a number. No quadrature: the cell below measures it for you,
# after you have committed.

# %% exercise="3.4" kind="predict"
def predict_value_shifted(shift):
    """Your prediction of C(g) for p_X = U[0, 1], p_theta = U[shift, shift + 1] -> a float."""
    ### BEGIN SOLUTION
    # D* = 1/2 on the overlap (length 1 - s while s < 1) and 1 or 0 elsewhere, where the logs are 0
    return -math.log(4) * max(0.0, 1.0 - shift)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.4", predict_value_shifted)

# %% [markdown]
# **Measured** with `gan.optimal_value_on_grid` on a fine grid (the endpoints of the intervals cost a little
# accuracy). Compare with your prediction.

# %% tags=["nbval-check-output"]
u_grid = torch.linspace(-1.0, 5.0, 60001, dtype=torch.float64)
u_dx = float(u_grid[1] - u_grid[0])
p_u = ((u_grid >= 0) & (u_grid < 1)).double()
for s in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 3.0):
    p_s = ((u_grid >= s) & (u_grid < s + 1)).double()
    print(f"s = {s:<5} C(g) = {gan.optimal_value_on_grid(p_u, p_s, u_dx):+.4f}")

# %% [markdown]
# From s = 1 on, C(g) is 0 whatever the shift: once the supports are disjoint, the JSD is stuck at log 2 and
# C gives the generator no direction to move in. Real data and early generators often live on thin,
# barely overlapping sets; this is the motivation of the Wasserstein GAN (notebook 04).

# %% [markdown]
# **Try it.** Move and widen the generator's density. *Predict first*: where is $D^*$ above 1/2,
# and what happens to $C(g)$ when the generator covers only one of the two modes?

# %%
gan_equilibrium_demo()

# %% [markdown]
# ## 2. Training losses: the discriminator, and the non-saturating generator
#
# In practice D outputs a **logit** $l$ and $D = \sigma(l)$. For a fixed g, maximising $L(D, g)$ over D
# is minimising a binary cross-entropy in which real data carries the label 1 and fakes the label 0; on
# a batch, each expectation becomes a batch mean. With logits, $\log \sigma(l) = -\mathrm{softplus}(-l)$
# and $\log(1 - \sigma(l)) = -\mathrm{softplus}(l)$ are the stable forms (`F.logsigmoid`,
# `F.binary_cross_entropy_with_logits`).
#
# ### Exercise 3.5 (1 pt): the discriminator loss
# `real_logits` (shape `(m,)`) and `fake_logits` (shape `(m',)`, m' may differ) are D's logits on a
# real and a generated batch. Return the loss $\mathcal L_D$ that D minimises (a scalar tensor that
# gradients can flow through).

# %% exercise="3.5" kind="warm-up"
def discriminator_loss(real_logits, fake_logits):
    """-L(D, g) on a batch: BCE with label 1 on real, label 0 on fake, each batch-averaged -> scalar."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.5", discriminator_loss)

# %% [markdown]
# **Saturation.** The slide's note: early in training the fakes are poor, D rejects them
# ($D(g(z)) \approx 0$), and $\log(1 - D(g(z)))$ is flat there: its gradient with respect to the
# logit is $-D$, nearly zero. Maximising $\log D(g(z))$ instead, i.e. minimising $-\log D(g(z))$,
# has the same fixed point but a gradient $-(1 - D)$, largest exactly when the generator is worst.
#
# The plot shows both gradients against D(g(z)): where D rejects the fakes (left), the saturating loss's
# gradient vanishes and the non-saturating one is largest.

# %%
plot_generator_gradients()

# %% [markdown]
# ### Exercise 3.6 (4 pts): one alternating training step
# The slides' "practical training algorithm" alternates: one step of D on its loss with g fixed, then one step
# of g on the non-saturating loss with D fixed. Write `gan_step(G, D, opt_G, opt_D, x_real, z)`: `G` maps noise
# `z` (shape `(m', q)`) to points, `D` maps points to logits of shape `(k, 1)`, `x_real` is a real batch
# (shape `(m, n)`), and `opt_G`, `opt_D` are optimisers over G's and D's parameters. Take one optimiser step
# of each, D first, and return the pair `(loss_d, loss_g)` as floats, each the loss just before its own step.
#
# Two things decide whether the step is right: D's step must not change how g moves, and g's step must be
# judged by the discriminator as it is *after* D's update. The check runs your step on tiny networks with
# plain SGD, compares every parameter of D and of g with the reference's, and names the usual bugs.
# You may call your `discriminator_loss` from exercise 3.5.

# %% exercise="3.6" kind="training-step"
def gan_step(G, D, opt_G, opt_D, x_real, z):
    """One D step, then one g step (non-saturating loss); returns (loss_d, loss_g) as floats."""
    ### BEGIN SOLUTION
    fake = G(z)
    # D's step: the fakes are detached, so D's loss leaves no gradient in G
    loss_d = -F.logsigmoid(D(x_real)).mean() - F.logsigmoid(-D(fake.detach())).mean()
    opt_D.zero_grad()
    loss_d.backward()
    opt_D.step()
    # g's step: D is called again, so its scores come from the updated D
    loss_g = -F.logsigmoid(D(fake)).mean()
    opt_G.zero_grad()
    loss_g.backward()
    opt_G.step()
    return loss_d.item(), loss_g.item()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.6", gan_step)

# %% [markdown]
# ## 3. Training a GAN on a ring of 8 Gaussians
#
# The target is 8 Gaussians N(m_k, 0.01 I) on a circle of radius 2. Generator and discriminator
# are MLPs (3 hidden layers of 64 units, LeakyReLU), z ~ N(0, I_2). `gan_training.train_gan_2d`
# alternates one Adam step on $\mathcal L_D$ and one on the generator's loss, as in your `gan_step` (with
# Adam instead of SGD), with a learning rate that decays linearly so that the game settles. The same
# trainer (`gan_training.AdversarialTrainer`) runs every GAN of this notebook and the GAN Lab below.

# %%
target = gan_training.ring_of_gaussians()
good = gan_training.train_gan_2d(target, "nonsaturating", steps=1000, lr=2e-3, seed=0, snapshot_every=250)
print(f"trained {len(good.trainer.history['g'])} steps in {good.seconds:.1f} s")
plot_gan_snapshots(good, target)

# %% [markdown]
# **Is it any good?** There is "no natural criterion" (slide "Training GANs: evaluation"), but on a
# 2-D target we know the truth. Two measures: how many of the 8 modes receive a fair share of the
# samples (at least a quarter of 1/8 within 3 standard deviations), and the exact 2-Wasserstein
# distance W2 between 1000 generated points and 1000 fresh target points (`metrics.w2_exact`), next to
# the W2 between two independent draws of the data (the best a perfect model can do at this size).
# Between two equal-size point clouds, W2 is the root mean squared distance of the best one-to-one pairing
# of their points: the typical distance each point must travel to turn one cloud into the other (notebook 04
# defines it for distributions and makes it a training objective).

# %%
data_gen = torch.Generator().manual_seed(100)
fresh = lambda: target.sample(1000, data_gen)  # noqa: E731
w2_data = w2_exact(fresh(), fresh())
good_samples = good.sample(1000, seed=1)
quality = [("data vs data", w2_data, None),
           ("GAN, non-saturating", w2_exact(good_samples, fresh()),
            gan_training.mode_coverage(good_samples, target).covered)]
for name, w2, modes in quality:
    print(f"{name:<24} W2 = {w2:.3f}" + (f", modes covered {modes}/8" if modes is not None else ""))

# %% [markdown]
# **Mode collapse and oscillation.** The slides warn of two pathologies. Change four settings at once:
# a learning rate 2.5 times larger (5e-3 instead of 2e-3), Adam's default momentum (β₁ = 0.9 instead of 0.5),
# no decay, and half the batch (128 instead of 256). Read the printed counts (the 512 snapshot samples
# within 3 standard deviations of each mode): this generator never settles on the ring. At most snapshots
# almost none of its samples are near *any* mode, and the few that are sit on one to three neighbouring modes,
# a different place at each snapshot: the discriminator's reaction chases the generator around the ring
# rather than towards the data. The run is seeded, so it fails the same way every time.

# %%
bad = gan_training.train_gan_2d(target, "nonsaturating", steps=400, lr=5e-3, betas=(0.9, 0.999), decay=False,
                                batch=128, seed=0, snapshot_every=100, desc="GAN (bad setting)")
for step, snap in bad.snapshots.items():
    cover = gan_training.mode_coverage(snap, target)
    print(f"step {step:>4}: modes covered {cover.covered}/8, samples per mode {cover.counts.tolist()}")
plot_gan_snapshots(bad, target)

# %% [markdown]
# **GAN Lab.** Train a GAN yourself, step by step: the heatmap is D's belief that a point is real,
# the red points are the generator's images of a fixed batch of noise, the arrows the direction the
# generator's loss pushes each of them. Step D several times alone: the arrows grow. Switch to the
# minimax loss once D is confident: they shrink (saturation).

# %%
gan_lab_demo()

# %% [markdown]
# ## 4. Least-squares GAN (Mao et al. 2017)
#
# The non-saturating loss already gives a strong gradient to fakes that D rejects (section 2). Mao et al.'s
# motivation is the other side of the decision boundary: fakes that D classifies as *real*
# ($D(g(z))$ near 1) but that still lie far from the data. There the non-saturating gradient $-(1 - D)$
# vanishes, so nothing pulls those samples closer to the data. The least-squares GAN replaces the
# cross-entropy by squared errors to target values, which keep penalising a score in proportion to its
# distance from the target:
#
# $$L(D) = E_{x \sim p_X}[(D(x) - b)^2] + E_{z \sim p_z}[(D(g(z)) - a)^2], \qquad L(g) = E_{z \sim p_z}[(D(g(z)) - c)^2],$$
#
# a for generated data, b for real data, c the value g wants D to believe for its samples (the slide's
# example: a = 0, b = c = 1). D outputs a raw score here, no sigmoid.
#
# ### Exercise 3.7 (1 pt): the LSGAN losses
# `d_real` (shape `(m,)`) and `d_fake` (shape `(m',)`) are D's scores. Return the pair `(loss_D, loss_g)`,
# each a batch-averaged scalar that gradients can flow through (each loss trains a network).

# %% exercise="3.7" kind="warm-up"
def lsgan_losses(d_real, d_fake, a, b, c):
    """(L(D), L(g)) of the least-squares GAN with constants a, b, c."""
    ### BEGIN SOLUTION
    loss_d = ((d_real - b) ** 2).mean() + ((d_fake - a) ** 2).mean()
    loss_g = ((d_fake - c) ** 2).mean()
    return loss_d, loss_g
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.7", lsgan_losses)

# %% [markdown]
# The same 2-D run with the least-squares losses (a = 0, b = c = 1), judged the same way (with a
# smaller learning rate, 5e-4: at 2e-3 this game oscillates more, and Adam's β₂ = 0.99).

# %%
lsgan = gan_training.train_gan_2d(target, "least_squares", steps=1000, lr=5e-4, betas=(0.5, 0.99), seed=0,
                                  snapshot_every=500)
ls_samples = lsgan.sample(1000, seed=1)
bad_samples = bad.sample(1000, seed=1)
quality += [("LSGAN (a=0, b=c=1)", w2_exact(ls_samples, fresh()), gan_training.mode_coverage(ls_samples, target).covered),
            ("GAN, bad setting", w2_exact(bad_samples, fresh()), gan_training.mode_coverage(bad_samples, target).covered)]
plot_gan_snapshots(lsgan, target)

# %%
plot_sample_quality(quality)

# %% [markdown]
# **Where the LSGAN's gap is.** The LSGAN reaches all modes, yet its W2 stays above the data's. Two things
# make up such a gap: mass *off the modes* (samples farther than 3 standard deviations from every mode centre;
# a data point is, with probability $e^{-9/2} \approx 1.1\%$), and modes with the wrong weights (measured
# below on the samples near a mode, as the total variation between their share per mode and 1/8). Both are
# counts, free of the sampling noise of W2 between 1000-point draws (about ±0.05 from draw to draw here).
#
# A continuous generator fed a connected latent (z ~ N(0, I)) cannot tear its output into 8 separate pieces:
# some mass must lie on bridges between the modes. How much is forced? Only as much as the generator's
# steepness allows, and the non-saturating GAN, an equally continuous generator, shows how much that can be.

# %% tags=["nbval-check-output"]
print(f"{'':<22}{'off the modes':>14}{'uneven weights (TV)':>21}")
for name, smp in (("data", fresh()), ("GAN, non-saturating", good_samples), ("LSGAN (a=0, b=c=1)", ls_samples)):
    cover = gan_training.mode_coverage(smp, target)
    share = cover.counts / cover.counts.sum()
    print(f"{name:<22}{1 - cover.high_quality:>14.1%}{0.5 * float((share - 1 / 8).abs().sum()):>21.3f}")

# %% [markdown]
# The two generators weigh their modes about equally unevenly; what sets the LSGAN apart is the mass between the
# modes: about half of its samples, twice the non-saturating GAN's quarter. Both are continuous maps of the same
# Gaussian noise, so continuity forces at most the GAN's share: the rest of the LSGAN's gap is a shortfall of
# its training (on this target, at this budget), not a limit of what a generator can represent. The bridges
# are visible in the snapshots above as the thin arcs joining neighbouring modes.

# %% [markdown]
# ## 5. Conditional GAN (Mirza 2014)
#
# Both networks receive the conditioning variable y (here a one-hot label, concatenated to z and to x):
#
# $$\min_g \max_D\ E_{x \sim p_X}[\log D(x \mid y)] + E_{z \sim p_z}[\log(1 - D(g(z \mid y) \mid y))].$$
#
# Our labelled data: the same ring, where label k owns the two opposite modes k and k + 4.
# One generator learns all four conditional distributions: given y, its samples land on y's modes.
# Look closely, though: within a label it may cover only one of the two modes. Conditioning tells
# the generator *where* to go, it does not cure mode collapse.

# %%
labelled, component_labels = gan_training.labelled_ring()
cgan = gan_training.train_cgan_2d(labelled, component_labels, steps=500, seed=0)
plot_cgan_samples(cgan, labelled, component_labels)

# %% [markdown]
# Choose the label: the widget only looks up samples that the trained generator produced once.

# %%
cgan_label_demo(run=cgan, mixture=labelled, component_labels=component_labels)

# %% [markdown]
# **Pix2Pix** (Isola et al. 2017) is a conditional GAN for *paired* image translation: the condition is an
# input image x (a sketch, a label map), and for each x the training set holds the matching output y. The
# discriminator judges pairs (x, output). Since the right answer y is known, the slide adds a
# reconstruction term to the conditional GAN's objective:
#
# $$G^* = \arg\min_G \max_D\ \mathcal L_{cGAN}(G, D) + \lambda\, \mathcal L_{L1}(G), \qquad
# \mathcal L_{L1}(G) = E_{x, y, z}\big[\|y - G(x, z)\|_1\big].$$
#
# The L1 term gets the low frequencies right (an L2 term would too, but blurs more); the adversarial term
# makes the details look real.
#
# ### Exercise 3.8 (2 pts): the Pix2Pix generator objective
# `fake_logits` (shape `(m,)`) are D's logits on the m pairs (x, G(x, z)); `fake` holds the generated outputs
# and `target` the paired ground truths, same shape `(m, ...)` (images: `(m, C, H, W)`); `l1_weight` is
# λ. Return the loss the generator minimises on this batch, a scalar that gradients can flow through, with the
# adversarial part in the form used in practice (section 2).

# %% exercise="3.8" kind="build"
def pix2pix_generator_loss(fake_logits, fake, target, l1_weight):
    """The generator's Pix2Pix loss on a batch -> scalar."""
    ### BEGIN SOLUTION
    adversarial = -F.logsigmoid(fake_logits).mean()  # non-saturating: -log D(x, G(x, z))
    l1 = (target - fake).abs().flatten(1).sum(1).mean()  # ||y - G(x, z)||_1 per output, then the batch mean
    return adversarial + l1_weight * l1
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.8", pix2pix_generator_loss)

# %% [markdown]
# ## 6. Unpaired translation: CycleGAN (Zhu 2017)
#
# Two unaligned sets, X (points near a circle) and Y (points near a square). Two mappings
# $g: X \to Y$, $f: Y \to X$ and two discriminators $D_Y$, $D_X$. Adversarial terms alone make g(x)
# look like Y, but say nothing about *which* y each x becomes. The cycle-consistency loss asks that
# translating there and back returns the start:
#
# $$L_{cycle}(f, g) = E_{p_X}\big[\|f(g(x)) - x\|_1\big] + E_{p_Y}\big[\|g(f(y)) - y\|_1\big],
# \qquad L(g, D_Y, f, D_X) = L(g, D_Y) + L(f, D_X) + L_{cycle}(f, g),$$
#
# with least-squares adversarial terms $L(g, D_Y) = E_{p_Y}[(D_Y(y) - 1)^2] + E_{p_X}[D_Y(g(x))^2]$
# (and the same for $f, D_X$). The discriminators minimise these terms; the generators minimise
# $E[(D_Y(g(x)) - 1)^2] + E[(D_X(f(y)) - 1)^2] + \lambda L_{cycle}$.
#
# > **Note on the slides.** The CycleGAN slide writes the least-squares term as
# > $E[(D_Y(y) - 1)^2] + E[D_Y(G(x))]$. The second expectation must be squared too:
# > $E[D_Y(G(x))^2]$ (Zhu et al. 2017, eq. 1 in its least-squares form). Without the square,
# > D_Y could lower the term without bound by making $D_Y(G(x))$ very negative.
#
# ### Exercise 3.9 (2 pts): the CycleGAN terms
# `x` (shape `(n, 2)`) and `y` (shape `(m, 2)`) are batches of X and Y; `g`, `f`, `d_x`, `d_y` are
# functions (networks) mapping `(k, 2)` to `(k, 2)` (the generators) or `(k, 1)` (the discriminators).
# Return the triple `(L(g, D_Y), L(f, D_X), L_cycle)`: batch means, with the L1 norm summing |.|
# over the two coordinates. You may call your `lsgan_losses` from exercise 3.7 for the adversarial terms.
# Each term must keep its gradients: the check differentiates it with respect to the networks it trains.

# %% exercise="3.9" kind="warm-up"
def cyclegan_terms(x, y, g, f, d_x, d_y):
    """(L(g, D_Y), L(f, D_X), L_cycle(f, g)), each a scalar."""
    ### BEGIN SOLUTION
    adv_g = ((d_y(y) - 1) ** 2).mean() + (d_y(g(x)) ** 2).mean()
    adv_f = ((d_x(x) - 1) ** 2).mean() + (d_x(f(y)) ** 2).mean()
    cycle = (f(g(x)) - x).abs().sum(-1).mean() + (g(f(y)) - y).abs().sum(-1).mean()
    return adv_g, adv_f, cycle
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.9", cyclegan_terms)

# %% [markdown]
# Train the four networks twice from the same seed: with the cycle term (λ = 5) and without it (λ = 0).
# Colour each x by its angle on the circle and follow it through g and back through f.

# %%
domain_gen = torch.Generator().manual_seed(3)
sample_x = lambda n: cyclegan.circle_domain(n, domain_gen)[0]  # noqa: E731
sample_y = lambda n: cyclegan.square_domain(n, domain_gen)[0]  # noqa: E731
cycle_runs = {f"λ = {lam:g}": cyclegan.train_cyclegan(sample_x, sample_y, cycle_weight=lam, steps=350, seed=0)
              for lam in (5.0, 0.0)}
x_show, x_angle = cyclegan.circle_domain(600, torch.Generator().manual_seed(4))
y_show, _ = cyclegan.square_domain(600, torch.Generator().manual_seed(5))
plot_cyclegan(cycle_runs, x_show, x_angle, y_show)

# %% tags=["nbval-check-output"]
with torch.no_grad():
    for name, run in cycle_runs.items():
        g_x = run.g(x_show)
        turn = torch.atan2(g_x[:, 1], g_x[:, 0]) - x_angle  # how far round g moves each point
        mean_turn = torch.atan2(turn.sin().mean(), turn.cos().mean())
        agreement = torch.hypot(turn.sin().mean(), turn.cos().mean())  # 1: every point turns by the same angle
        round_trip = (run.f(g_x) - x_show).abs().sum(1).mean()
        print(f"{name}: g turns x by {math.degrees(mean_turn):+4.0f} degrees on average (agreement {agreement:.2f}), "
              f"round-trip error {round_trip:.2f}")

# %% [markdown]
# Both versions land g(x) on the square: the adversarial terms do their job. Without the cycle term
# nothing ties g and f together: each maps its domain onto the other's shape, but with its own
# arbitrary correspondence (a rotation or a reflection, here), so f(g(x)) lands elsewhere on the circle
# and the round-trip error is large. With it, f undoes g: the translation keeps track of *which* x
# became which y, the property unpaired translation needs.
#
# What the cycle term does **not** do is choose that correspondence. Look at the colours at λ = 5: g sends
# the circle to the square with a turn of nearly half a revolution, not to the nearest points. Any bijection
# from the circle onto the square, composed with its inverse, is perfectly cycle-consistent, so the loss is
# as happy with that turn as with the "obvious" map; which one training finds depends on the initialisation.
# The round-trip error below measures consistency, not whether the correspondence is the one we had in mind.

# %% [markdown]
# ## 7. Adaptive instance normalisation and StyleGAN
#
# Batch normalisation standardises each channel with statistics averaged over the whole batch
# (and the H x W positions): every image is pulled towards one common "style". AdaIN (Huang 2017)
# instead takes each image's own statistics, per channel, over its H x W positions, and replaces
# those of a content input x by those of a style input y:
#
# $$\mathrm{AdaIN}(x, y) = \sigma(y) \Big(\frac{x - \mu(x)}{\sigma(x)}\Big) + \mu(y),
# \qquad \mu_{nc}(x) = \frac1{HW}\sum_{h,w} x_{nchw}, \quad \sigma_{nc}(x) = \sqrt{\frac1{HW}\sum_{h,w}(x_{nchw} - \mu_{nc})^2 + \epsilon}.$$
#
# ### Exercise 3.10 (2 pts): AdaIN
# `x` has shape `(N, C, H, W)`; `y` has shape `(N, C, H', W')` (its H', W' may differ). Use the
# biased variance (divide by HW, as instance normalisation does) and ε = 1e-5 inside the square root.

# %% exercise="3.10" kind="warm-up"
def adain(x, y):
    """AdaIN(x, y): x's per-image, per-channel statistics replaced by y's; shape of x."""
    ### BEGIN SOLUTION
    mu_x, mu_y = x.mean((2, 3), keepdim=True), y.mean((2, 3), keepdim=True)
    sigma_x = (x.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    sigma_y = (y.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    return sigma_y * (x - mu_x) / sigma_x + mu_y
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.10", adain)

# %% [markdown]
# On images the channels are colours: AdaIN gives a grey content digit the colours and contrast of a
# coloured style digit, while its shape (the normalised pattern) stays. Here the 8x8 digits of
# `sklearn.datasets.load_digits` (offline), painted in colours; each cell is `adain_lib.adain(content, style)`.

# %% tags=["nbval-check-output"]
pixels, digit_labels = digits_data()
pixels = torch.from_numpy(pixels)
contents = adain_lib.colour_digits(pixels[[0, 1, 2]], (0.1, 0.1, 0.1), (0.95, 0.95, 0.95))
styles = adain_lib.colour_digits(pixels[[13, 17, 25, 30]],
                                 torch.tensor([[1.0, 0.6, 0.1], [0.05, 0.05, 0.05], [1.0, 1.0, 1.0], [0.1, 0.6, 0.2]]),
                                 torch.tensor([[0.05, 0.1, 0.35], [1.0, 0.9, 0.3], [0.7, 0.05, 0.1], [1.0, 0.8, 0.85]]))
mixed = adain_lib.adain(contents[:1].expand(4, -1, -1, -1), styles)
mu_out, sigma_out = adain_lib.instance_stats(mixed, 0.0)
mu_style, sigma_style = adain_lib.instance_stats(styles, 0.0)
print(f"largest gap between the output's and the style's channel means: {(mu_out - mu_style).abs().max():.2e}, "
      f"stds: {(sigma_out - sigma_style).abs().max():.2e}")

# %%
plot_adain_grid(contents, styles)

# %% [markdown]
# **Try it.** Mix any content digit with any style; alpha blends the result with the content
# (out = α AdaIN(x, y) + (1 − α) x, Huang's content-style trade-off).

# %%
adain_demo()

# %% [markdown]
# **Where StyleGAN uses it** (Karras et al. 2019). A mapping network turns z into a latent w; at every
# resolution of the generator, a learned affine map ("A" on the slide) turns w into the per-channel
# scale and bias that AdaIN applies to the feature maps, instead of taking them from a style image.
# Styles injected at coarse resolutions control pose and shape, at fine ones colour and texture;
# single-channel noise images, broadcast to all feature maps, add stochastic detail.
# (StyleGAN2 later replaced AdaIN by weight demodulation, and StyleGAN3 removed aliasing.)
#
# As the slides conclude: making GANs work is hard, and papers are full of tricks. You saw a few here:
# the non-saturating loss, Adam with β₁ = 0.5, a decaying learning rate, and what happens without them.

# %% [markdown]
# ## Your score
# Re-run the `check` cells after changing an exercise; this table shows the latest result of each.

# %% tags=["nbval-check-output"]
score_table("03")
