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
# 1. the optimal discriminator $D^*$, the value $C(g) = -\log 4 + 2\,\mathrm{JSD}(p_X, p_\theta)$, and the JSD itself;
# 2. the discriminator's cross-entropy loss and the non-saturating generator loss;
# 3. the least-squares GAN losses with the constants a, b, c;
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
# **Exercises.** Each exercise cell defines a function with a `# YOUR CODE HERE` stub.
# Replace the stub, run the cell, then run the `check(...)` cell below it: it prints one
# line (`passed`, or what looks wrong). Cells further down use the reference
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
# ### Exercise 3.1 (1 pt): the optimal discriminator
# Given the two densities evaluated on the same points (tensors of the same shape), return $D^*$ there.

# %% exercise="3.1" kind="warm-up"
def optimal_discriminator(p_x, p_theta):
    """D*(x) = p_X(x) / (p_X(x) + p_theta(x)), elementwise; same shape as the inputs."""
    ### BEGIN SOLUTION
    return p_x / (p_x + p_theta)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.1", optimal_discriminator)

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
# (shape `(G,)`). Return $C(g) = \int p_X \log D^* + p_\theta \log(1 - D^*)\, dx$ as a scalar,
# approximating the integral by a sum times dx. You may call your `optimal_discriminator` from exercise 3.1.
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
# **The identity, numerically.** A data mixture $p_X = 0.4\,\mathcal N(-1.5, 0.25) + 0.6\,\mathcal N(1.5, 0.49)$
# and three generator Gaussians. We compute $C(g)$ with `gan.optimal_value_on_grid` and the JSD
# independently with SciPy (`jensenshannon` returns the square root of the JSD; base e gives nats).

# %% tags=["nbval-check-output"]
grid = torch.linspace(-7.0, 7.0, 1401, dtype=torch.float64)
dx = float(grid[1] - grid[0])
p_x = GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-1.5], [1.5]]),
                      torch.tensor([0.25, 0.49])).log_prob(grid).exp()


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
# The Jensen-Shannon divergence compares each distribution with their mixture $m = (p + q)/2$:
#
# $$\mathrm{JSD}(p, q) = \tfrac12 D_{KL}(p \,\|\, m) + \tfrac12 D_{KL}(q \,\|\, m).$$
#
# Unlike the KL it is symmetric and always finite: it lies between 0 (p = q) and log 2 (disjoint
# supports). Write `jsd_discrete(p, q)` for tensors of shape `(..., K)` whose rows are distributions,
# returning one JSD per row in nats, shape `(...)`. A term with $p_i = 0$ contributes 0.

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
# **Try it.** Move and widen the generator's density. *Predict first*: where is $D^*$ above 1/2,
# and what happens to $C(g)$ when the generator covers only one of the two modes?

# %%
gan_equilibrium_demo()

# %% [markdown]
# ## 2. Training losses: the discriminator, and the non-saturating generator
#
# In practice D outputs a **logit** $l$ and $D = \sigma(l)$. Maximising $L$ over D is minimising
# the binary cross-entropy, each expectation estimated by a batch mean:
#
# $$\mathcal L_D = -\frac1m \sum_{i=1}^m \log D(x_i) - \frac1{m'} \sum_{j=1}^{m'} \log\big(1 - D(g(z_j))\big).$$
#
# With logits, $\log \sigma(l) = -\mathrm{softplus}(-l)$ and $\log(1 - \sigma(l)) = -\mathrm{softplus}(l)$
# are the stable forms (`F.logsigmoid`, `F.binary_cross_entropy_with_logits`).
#
# ### Exercise 3.4 (2 pts): the discriminator loss
# `real_logits` (shape `(m,)`) and `fake_logits` (shape `(m',)`, m' may differ) are D's logits on a
# real and a generated batch. Return $\mathcal L_D$ (a scalar tensor that gradients can flow through).

# %% exercise="3.4" kind="warm-up"
def discriminator_loss(real_logits, fake_logits):
    """-L(D, g) on a batch: BCE with label 1 on real, label 0 on fake, each batch-averaged -> scalar."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.4", discriminator_loss)

# %% [markdown]
# **Saturation.** The slide's note: early in training the fakes are poor, D rejects them
# ($D(g(z)) \approx 0$), and $\log(1 - D(g(z)))$ is flat there: its gradient with respect to the
# logit is $-D$, nearly zero. Maximising $\log D(g(z))$ instead, i.e. minimising $-\log D(g(z))$,
# has the same fixed point but a gradient $-(1 - D)$, largest exactly when the generator is worst.
#
# ### Exercise 3.5 (1 pt): the non-saturating generator loss
# Given D's logits on a batch of fakes, shape `(m,)`, return $-\frac1m\sum_j \log D(g(z_j))$.

# %% exercise="3.5" kind="warm-up"
def generator_loss_nonsaturating(fake_logits):
    """-E[log D(g(z))] from logits, batch-averaged -> scalar."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(fake_logits).mean()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.5", generator_loss_nonsaturating)

# %%
plot_generator_gradients()

# %% [markdown]
# ## 3. Training a GAN on a ring of 8 Gaussians
#
# The target is 8 Gaussians N(m_k, 0.01 I) on a circle of radius 2. Generator and discriminator
# are MLPs (3 hidden layers of 64 units, LeakyReLU), z ~ N(0, I_2). `gan_training.train_gan_2d`
# alternates one Adam step on $\mathcal L_D$ and one on the generator's loss (the slides' "practical
# training algorithm"), with a learning rate that decays linearly so that the game settles. The same
# trainer (`gan_training.AdversarialTrainer`) runs every GAN of this notebook and the GAN Lab below.

# %%
target = gan_training.ring_of_gaussians()
good = gan_training.train_gan_2d(target, "nonsaturating", steps=1500, lr=2e-3, seed=0, snapshot_every=300)
print(f"trained {len(good.trainer.history['g'])} steps in {good.seconds:.1f} s")
plot_gan_snapshots(good, target)

# %% [markdown]
# **Is it any good?** There is "no natural criterion" (slide "Training GANs: evaluation"), but on a
# 2-D target we know the truth. Two measures: how many of the 8 modes receive a fair share of the
# samples (at least a quarter of 1/8 within 3 standard deviations), and the exact 2-Wasserstein
# distance between 1000 generated points and 1000 fresh target points (`metrics.w2_exact`), next to
# the W2 between two independent draws of the data (the best a perfect model can do at this size).

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
# **Mode collapse and oscillation.** The slides warn of two pathologies. A learning rate five
# times larger with Adam's default momentum (β₁ = 0.9) and no decay provokes them: the generator
# puts all its samples on one or two modes, and the discriminator's reaction chases it to another
# mode, again and again. The run is seeded, so it collapses the same way every time.

# %%
bad = gan_training.train_gan_2d(target, "nonsaturating", steps=600, lr=5e-3, betas=(0.9, 0.999), decay=False,
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
# A fake that D classifies correctly but lies far from the data still gets a vanishing cross-entropy
# gradient. The least-squares GAN replaces the cross-entropy by squared errors to target values:
#
# $$L(D) = E_{x \sim p_X}[(D(x) - b)^2] + E_{z \sim p_z}[(D(g(z)) - a)^2], \qquad L(g) = E_{z \sim p_z}[(D(g(z)) - c)^2],$$
#
# a for generated data, b for real data, c the value g wants D to believe for its samples (the slide's
# example: a = 0, b = c = 1). D outputs a raw score here, no sigmoid.
#
# ### Exercise 3.6 (2 pts): the LSGAN losses
# `d_real` (shape `(m,)`) and `d_fake` (shape `(m',)`) are D's scores. Return the pair `(loss_D, loss_g)`,
# each a batch-averaged scalar that gradients can flow through (each loss trains a network).

# %% exercise="3.6" kind="warm-up"
def lsgan_losses(d_real, d_fake, a, b, c):
    """(L(D), L(g)) of the least-squares GAN with constants a, b, c."""
    ### BEGIN SOLUTION
    loss_d = ((d_real - b) ** 2).mean() + ((d_fake - a) ** 2).mean()
    loss_g = ((d_fake - c) ** 2).mean()
    return loss_d, loss_g
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.6", lsgan_losses)

# %% [markdown]
# The same 2-D run with the least-squares losses (a = 0, b = c = 1), judged the same way (with a
# smaller learning rate, 5e-4: at 2e-3 this game oscillates more). On this target it reaches all or
# nearly all modes but with uneven weights, so its W2 stays above the cross-entropy GAN's.

# %%
lsgan = gan_training.train_gan_2d(target, "least_squares", steps=1500, lr=5e-4, seed=0, snapshot_every=500)
ls_samples = lsgan.sample(1000, seed=1)
bad_samples = bad.sample(1000, seed=1)
quality += [("LSGAN (a=0, b=c=1)", w2_exact(ls_samples, fresh()), gan_training.mode_coverage(ls_samples, target).covered),
            ("GAN, bad setting", w2_exact(bad_samples, fresh()), gan_training.mode_coverage(bad_samples, target).covered)]
plot_gan_snapshots(lsgan, target)

# %%
plot_sample_quality(quality)

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
cgan = gan_training.train_cgan_2d(labelled, component_labels, steps=800, seed=0)
plot_cgan_samples(cgan, labelled, component_labels)

# %% [markdown]
# Choose the label: the widget only looks up samples that the trained generator produced once.

# %%
cgan_label_demo(run=cgan, mixture=labelled, component_labels=component_labels)

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
# ### Exercise 3.7 (3 pts): the CycleGAN terms
# `x` (shape `(n, 2)`) and `y` (shape `(m, 2)`) are batches of X and Y; `g`, `f`, `d_x`, `d_y` are
# functions (networks) mapping `(k, 2)` to `(k, 2)` (the generators) or `(k, 1)` (the discriminators).
# Return the triple `(L(g, D_Y), L(f, D_X), L_cycle)`: batch means, with the L1 norm summing |.|
# over the two coordinates. You may call your `lsgan_losses` from exercise 3.6 for the adversarial terms.
# Each term must keep its gradients: the check differentiates it with respect to the networks it trains.

# %% exercise="3.7" kind="warm-up"
def cyclegan_terms(x, y, g, f, d_x, d_y):
    """(L(g, D_Y), L(f, D_X), L_cycle(f, g)), each a scalar."""
    ### BEGIN SOLUTION
    adv_g = ((d_y(y) - 1) ** 2).mean() + (d_y(g(x)) ** 2).mean()
    adv_f = ((d_x(x) - 1) ** 2).mean() + (d_x(f(y)) ** 2).mean()
    cycle = (f(g(x)) - x).abs().sum(-1).mean() + (g(f(y)) - y).abs().sum(-1).mean()
    return adv_g, adv_f, cycle
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.7", cyclegan_terms)

# %% [markdown]
# Train the four networks twice from the same seed: with the cycle term (λ = 5) and without it (λ = 0).
# Colour each x by its angle on the circle and follow it through g and back through f.

# %%
domain_gen = torch.Generator().manual_seed(3)
sample_x = lambda n: cyclegan.circle_domain(n, domain_gen)[0]  # noqa: E731
sample_y = lambda n: cyclegan.square_domain(n, domain_gen)[0]  # noqa: E731
cycle_runs = {f"λ = {lam:g}": cyclegan.train_cyclegan(sample_x, sample_y, cycle_weight=lam, steps=500, seed=0)
              for lam in (5.0, 0.0)}
x_show, x_angle = cyclegan.circle_domain(600, torch.Generator().manual_seed(4))
y_show, _ = cyclegan.square_domain(600, torch.Generator().manual_seed(5))
plot_cyclegan(cycle_runs, x_show, x_angle, y_show)

# %% [markdown]
# Both versions land g(x) on the square: the adversarial terms do their job. Without the cycle term
# nothing ties g and f together: each maps its domain onto the other's shape, but with its own
# arbitrary correspondence (a rotation or a reflection, here), so f(g(x)) lands elsewhere on the circle
# and the round-trip error is large. With it, f undoes g: the translation keeps track of *which* x
# became which y, the property unpaired translation needs.

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
# ### Exercise 3.8 (2 pts): AdaIN
# `x` has shape `(N, C, H, W)`; `y` has shape `(N, C, H', W')` (its H', W' may differ). Use the
# biased variance (divide by HW, as instance normalisation does) and ε = 1e-5 inside the square root.

# %% exercise="3.8" kind="warm-up"
def adain(x, y):
    """AdaIN(x, y): x's per-image, per-channel statistics replaced by y's; shape of x."""
    ### BEGIN SOLUTION
    mu_x, mu_y = x.mean((2, 3), keepdim=True), y.mean((2, 3), keepdim=True)
    sigma_x = (x.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    sigma_y = (y.var((2, 3), keepdim=True, unbiased=False) + 1e-5).sqrt()
    return sigma_y * (x - mu_x) / sigma_x + mu_y
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("3.8", adain)

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
