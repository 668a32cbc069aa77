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
# # 07 · Denoising diffusion: DDPM, DDIM, and the bridge to flow matching
#
# This notebook follows the slides from **"Denoising diffusion model"** to the end of the diffusion part
# (Ho et al. 2020), then goes one step further: DDIM, and how DDPM fits the flow matching and score
# matching pictures of the earlier notebooks. By the end you will have, and checked against the reference:
#
# 1. sampled the diffusion kernel $q(x_t \mid x_0)$ from a noise schedule;
# 2. written one DDPM training step (noise prediction) on a real network and optimiser;
# 3. found the bug in a provided step of the sampling algorithm (ancestral sampling);
# 4. built DDIM's step yourself from "keep the marginals, reuse the predicted noise";
# 5. converted a noise prediction into a score.
#
# Along the way you will train two small diffusion models, on a 2-D target and on 8x8 digits, watch
# them turn noise into data, sample them 50 times faster with DDIM, and see DDIM appear as Euler's
# method on an ODE.
#
# **Notation.** Gaussians are written N(mean, variance) throughout: $\mathcal N(\mu, \sigma^2)$.
# **DDPM runs time the other way from flow matching**: $x_0$ is data and $x_T$ is noise, and t is a
# whole step, $t = 1, \dots, T$. The slides write $\alpha_t$ for DDPM's per-step factor and
# $\beta_t = 1 - \alpha_t$ for the variance added at step t; $\bar\alpha_t = \prod_{s=1}^t \alpha_s$.
# (The first slide's Gaussian path $\mathcal N(\alpha_t z, \beta_t^2 I)$ uses the same letters for the flow
# matching coefficients of notebook 05: section 5 maps one convention onto the other.)
#
# **Exercises** work as in the other notebooks: replace the stub, run the cell, then its `check(...)` cell.
# Cells further down use the reference implementations from `course_utils`, so the notebook runs even
# if an exercise is unfinished. The grader takes only the exercise cells from your notebook: keep each
# function's name and arguments, and everything it needs inside its cell.

# %%
import math
import time

import torch
from scipy.stats import ks_2samp

from course_utils.core import ode
from course_utils.data import eight_gaussians
from course_utils.data.digits import load_digits_split
from course_utils.grading import check, hint, score_table
from course_utils.metrics import digits_quality, w2_exact
from course_utils.s02_vae.plots import plot_digit_rows
from course_utils.s05_flow_matching import probability_paths
from course_utils.s07_ddpm import ddim, diffusion
from course_utils.s07_ddpm.plots import (plot_ddim_ode_gaps, plot_ddim_quality, plot_ddpm_chain_vs_kernel,
                                         plot_ddpm_flow_convention, plot_ddpm_reverse, plot_ddpm_schedules,
                                         plot_ddpm_time_embedding)
from course_utils.s07_ddpm.widgets import (ddim_eta_demo, ddim_steps_demo, ddpm_reverse_demo, ddpm_schedule_demo,
                                           ddpm_tweedie_demo)

torch.manual_seed(0)
notebook_start = time.perf_counter()

# %% [markdown]
# ## 1. The forward process: a Markov chain that adds noise
#
# A denoising diffusion model is built from two Markov chains (slide "Denoising Diffusion Probabilistic
# Models - DDPM"): a hand-designed **forward chain** that turns data into noise, and a learned
# **reverse chain** that turns noise back into data. The forward chain starts at a data point
# $x_0 \sim q(x_0)$ and adds a little Gaussian noise at each step (the slide's transition kernel):
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\big(x_t;\ \sqrt{\alpha_t}\, x_{t-1},\ (1 - \alpha_t) I\big),
# \qquad x_t = \sqrt{\alpha_t}\, x_{t-1} + \sqrt{1 - \alpha_t}\, \varepsilon, \quad \varepsilon \sim \mathcal N(0, I).$$
#
# Shrinking by $\sqrt{\alpha_t}$ while adding variance $1 - \alpha_t$ keeps the total variance near 1
# ("variance preserving"), so after enough steps $q(x_T)$ is close to $\mathcal N(0, I)$ whatever the data.
# Ho et al. use T = 1000 steps with $\beta_t = 1 - \alpha_t$ rising linearly from $\beta_1 = 10^{-4}$ to
# $\beta_T = 0.02$ (the slides' earlier example, T = 2000 with $\alpha$ from $1 - 10^{-4}$ to $1 - 10^{-2}$,
# is the same kind of schedule).
#
# **Indexing.** The lecture counts steps from 1 to T; Python tensors start at 0. Throughout this notebook
# the schedule is a tensor `betas` of shape `(T,)` whose entry `t - 1` is $\beta_t$: `betas[0]` is
# $\beta_1$ and `betas[T - 1]` is $\beta_T$. The same holds for every tensor derived from it.

# %%
schedule = diffusion.make_schedule("linear")  # Ho et al.: T = 1000, beta rising from 1e-4 to 0.02
betas = schedule.betas                        # float64, shape (T,); betas[t - 1] is beta_t
T = schedule.T
print(f"T = {T}, beta_1 = betas[0] = {betas[0]:.4g}, beta_T = betas[T - 1] = {betas[T - 1]:.4g}")

# %% [markdown]
# **The diffusion kernel.** Two steps of the chain compose into one Gaussian: substituting
# $x_{t-1} = \sqrt{\alpha_{t-1}} x_{t-2} + \sqrt{1 - \alpha_{t-1}}\,\varepsilon'$,
#
# $$x_t = \sqrt{\alpha_t \alpha_{t-1}}\, x_{t-2} + \underbrace{\sqrt{\alpha_t (1 - \alpha_{t-1})}\,\varepsilon'
# + \sqrt{1 - \alpha_t}\,\varepsilon}_{\text{variance } \alpha_t(1 - \alpha_{t-1}) + 1 - \alpha_t\, =\, 1 - \alpha_t \alpha_{t-1}},$$
#
# and by induction the forward process can be sampled at any t in closed form (slide "Forward process -
# Diffusion kernel"):
#
# $$q(x_t \mid x_0) = \mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big),
# \qquad \bar\alpha_t = \prod_{s=1}^t \alpha_s = \prod_{s=1}^t (1 - \beta_s).$$
#
# The lecture's values for Ho et al.'s schedule: $\bar\alpha_T \approx 4.04 \cdot 10^{-5}$ and
# $\bar\alpha_{500} \approx 0.0786$ (both pinned by the course's unit tests).

# %% tags=["nbval-check-output"]
abar = diffusion.alpha_bar(betas)
print(f"abar_T   = abar[T - 1] = {abar[T - 1]:.3e}   (the lecture: about 4.04e-5)")
print(f"abar_500 = abar[499]   = {abar[499]:.4f}      (the lecture: about 0.0786; abar[500] = {abar[500]:.4f} "
      "is abar_501)")
print(f"x_T = {abar[T - 1].sqrt():.4f} x_0 + {(1 - abar[T - 1]).sqrt():.6f} eps: almost, not exactly, pure noise")

# %% [markdown]
# ### Exercise 7.1 (1 pt): sampling the diffusion kernel
# Sampling $x_t$ from $x_0$ must not run the chain t times: draw it from the kernel in one go. Given data `x0`
# of shape `(n, d)`, one step per row `t` (an integer tensor of shape `(n,)`, values in 1..T), standard
# normal noise `eps` of shape `(n, d)` and only `betas` (compute $\bar\alpha$ yourself), return the sample
# $x_t$ of $q(x_t \mid x_0)$ that uses this `eps` (the reparametrisation trick of notebook 02), shape `(n, d)`.
# Each row has its own t.

# %% exercise="7.1" kind="warm-up"
def q_sample(x0, t, eps, betas):
    """A sample of q(x_t | x_0) driven by eps, row by row; x0, eps: (n, d); t: (n,) in 1..T -> (n, d)."""
    ### BEGIN SOLUTION
    abar = torch.cumprod(1 - betas, dim=0)[t - 1][:, None]
    return abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("7.1", q_sample)

# %% [markdown]
# **Iterating the chain or sampling the kernel: the same distribution.** From one point $x_0$, run the
# chain 200 times one step at a time (`diffusion.forward_chain`) for 20,000 copies, and draw 20,000 samples
# of the kernel directly (`diffusion.q_sample`). Their means and variances agree with
# $\sqrt{\bar\alpha_t} x_0$ and $1 - \bar\alpha_t$ to Monte Carlo accuracy, and a two-sample
# Kolmogorov-Smirnov test cannot tell them apart.

# %%
x0_point = torch.tensor([[1.5, -1.0]], dtype=torch.float64)
n_copies, t_check = 20_000, 200
chain = diffusion.forward_chain(x0_point.expand(n_copies, 2), schedule, t_check, torch.Generator().manual_seed(1))
direct = diffusion.q_sample(x0_point.expand(n_copies, 2), t_check,
                            torch.randn(n_copies, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64),
                            schedule)
kernel = diffusion.diffusion_kernel(x0_point, t_check, schedule)
print(f"t = {t_check}: {'':<20}{'mean':>18}{'variance':>20}")
for name, x in (("iterating the chain", chain), ("sampling the kernel", direct)):
    print(f"  {name:<24} ({x[:, 0].mean():6.3f}, {x[:, 1].mean():6.3f})   ({x[:, 0].var():.3f}, {x[:, 1].var():.3f})")
print(f"  {'q(x_t | x_0) exactly':<24} ({kernel.mean[0, 0]:6.3f}, {kernel.mean[0, 1]:6.3f})   "
      f"({kernel.variance[0, 0]:.3f}, {kernel.variance[0, 0]:.3f})")
print(f"  two-sample KS test on the first coordinate: p = {ks_2samp(chain[:, 0], direct[:, 0]).pvalue:.2f}")

# %%
plot_ddpm_chain_vs_kernel(x0_point, schedule, ts=(10, 100, 500))

# %% [markdown]
# ## 2. Noise schedules: how fast the signal fades
#
# The schedule decides how quickly $x_t$ forgets $x_0$. A useful gauge is the **signal-to-noise ratio**
# of $x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\varepsilon$:
# $\mathrm{SNR}(t) = \bar\alpha_t / (1 - \bar\alpha_t)$. Ho et al.'s linear schedule destroys the signal
# fairly early, leaving many steps that only shuffle noise; the **cosine schedule** of Nichol & Dhariwal
# (2021) defines $\bar\alpha_t = f(t)/f(0)$ with $f(t) = \cos^2\big(\frac{t/T + s}{1 + s}\frac\pi2\big)$,
# s = 0.008, so that the SNR falls more evenly.

# %% tags=["nbval-check-output"]
schedules = {"linear": schedule, "cosine": diffusion.make_schedule("cosine")}
for name, s in schedules.items():
    half = int((s.abar < 0.5).nonzero()[0]) + 1
    print(f"{name:<7}: abar_t falls below 1/2 (SNR < 1) at t = {half:4d}; abar_T = {s.abar[-1]:.2e}")

# %%
plot_ddpm_schedules(schedules)

# %% [markdown]
# **Try it.** *Predict first*: at t = 300, which schedule still shows the digit? Then slide t.

# %%
ddpm_schedule_demo()

# %% [markdown]
# ## 3. The reverse process, its training and its sampling algorithm
#
# Generation runs the chain backwards: $q(x_{0:T}) = q(x_T) \prod_t q(x_{t-1} \mid x_t)$. The true
# reverse kernels $q(x_{t-1} \mid x_t)$ depend on the whole data distribution (they can be multimodal), so
# DDPM approximates them with Gaussians (slide "Reverse denoising process"):
#
# $$p_\theta(x_{0:T}) = p(x_T) \prod_{t=1}^T p_\theta(x_{t-1} \mid x_t), \qquad p(x_T) = \mathcal N(0, I),
# \qquad p_\theta(x_{t-1} \mid x_t) = \mathcal N\big(\mu_\theta(x_t, t),\ \sigma_t^2 I\big).$$
#
# What makes this learnable: **given** $x_0$, the reverse step is a Gaussian in closed form (Bayes' rule
# on two Gaussians, `diffusion.q_posterior`):
#
# $$q(x_{t-1} \mid x_t, x_0) = \mathcal N\big(\tilde\mu_t,\ \tilde\beta_t I\big),\quad
# \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
# + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t,\quad
# \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\,\beta_t .$$
#
# Writing $x_0$ through the noise, $x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\varepsilon)/\sqrt{\bar\alpha_t}$,
# turns $\tilde\mu_t$ into $\frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}\varepsilon\big)$:
# a network $\varepsilon_\theta(x_t, t)$ that **predicts the noise** gives the mean. Ho et al. found that the
# resulting loss (a weighted sum of KL terms of the ELBO) works best with its weights dropped: the
# regression $\|\varepsilon - \varepsilon_\theta(x_t, t)\|^2$ of the slides.
#
# > **Note on the slides.** The reverse-process slide says $\sigma_t$ "is simply set to $1 - \alpha_t$" in
# > Ho et al. 2020. It is the **variance** that is set: $\sigma_t^2 = \beta_t = 1 - \alpha_t$, so the noise
# > added at each step has standard deviation $\sqrt{\beta_t}$. (Ho et al.'s other choice,
# > $\sigma_t^2 = \tilde\beta_t$, gives similar samples: the two differ only at the last few steps.)

# %% tags=["nbval-check-output"]
print(f"{'t':>5}{'beta_t':>12}{'beta tilde_t':>15}{'ratio':>8}")
for t in (2, 10, 100, 1000):
    print(f"{t:>5}{betas[t - 1]:>12.3e}{schedule.posterior_variance[t - 1]:>15.3e}"
          f"{schedule.posterior_variance[t - 1] / betas[t - 1]:>8.3f}")

# %% [markdown]
# **The training algorithm** (slide "Training and sampling algorithms"): repeat
# - $x_0 \sim q(x_0)$, $t \sim \mathrm{Uniform}\{1, \dots, T\}$, $\varepsilon \sim \mathcal N(0, I)$;
# - $x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\,\varepsilon$;
# - take a gradient step on $\|\varepsilon - \varepsilon_\theta(x_t, t)\|^2$.
#
# ### Exercise 7.2 (3 pts): one DDPM training step
# Write the body of that loop for one batch whose draws are given: a noise predictor `eps_model` (an
# `nn.Module`, called as `eps_model(x_t, t)` with t the integer steps of shape `(n,)`), its `optimizer`, a
# batch `x0` of shape `(n, d)`, its steps `t` (shape `(n,)`, values in 1..T), the noise `eps` (shape
# `(n, d)`) and `betas`. Take **one** optimiser step on the slide's loss, the batch mean of the squared norms
# (each norm sums over the d coordinates), and return the loss the step was taken on, as a float. The
# check runs your step on a small network with plain SGD and compares every parameter afterwards with
# the reference's; like any network mid-training, it arrives with gradients left over from an earlier step.

# %% exercise="7.2" kind="training-step"
def ddpm_train_step(eps_model, optimizer, x0, t, eps, betas):
    """One optimiser step of the DDPM training algorithm on the batch (x0, t, eps); returns the loss (float)."""
    ### BEGIN SOLUTION
    abar = torch.cumprod(1 - betas, dim=0)[t - 1][:, None]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    loss = ((eps - eps_model(x_t, t)) ** 2).sum(dim=-1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("7.2", ddpm_train_step)

# %% [markdown]
# **The network** (slide "Implementation"). Image models use a U-Net with ResNet blocks; ours are small
# MLPs. As on the slide, the parameters are shared by all the steps, and only the time representation
# tells them apart: the step t enters through the transformers' **sinusoidal position embedding**
# (`nets.sinusoidal_embedding`), fast oscillations for fine distinctions between nearby steps, slow ones
# for coarse ones.

# %%
plot_ddpm_time_embedding()

# %% [markdown]
# **Training on a 2-D target.** Eight Gaussians $\mathcal N(m_k, 0.2^2 I)$ on a circle of radius 2
# (`data.eight_gaussians`). `diffusion.train_ddpm_2d` runs the training algorithm above with the course's
# training loop (`training.fit`) on `diffusion.EpsNet`, a residual MLP with 2 blocks of 64 units and the
# embedding of t added inside every block (the slide's U-Net, for vectors). The loss is noisy, each point
# drawing its own t and $\varepsilon$, so the recipe (`diffusion.RECIPE_2D`) takes few steps on large batches:
# 600 Adam steps on batches of 1,536 fresh points, with a learning rate that starts high (0.02) and decays to
# zero along a cosine. The weights that sample are a moving average of the trained ones (Ho et al. keep one
# too): it smooths out the noise of the last updates.

# %%
target = eight_gaussians()
data_gen = torch.Generator().manual_seed(10)
run_2d = diffusion.train_ddpm_2d(lambda n: target.sample(n, data_gen).float(), schedule)
print(f"trained {len(run_2d.losses)} steps in {run_2d.seconds:.1f} s; "
      f"loss over the last 200 steps {run_2d.losses[-200:].mean():.3f} (d = 2)")

# %% [markdown]
# **The sampling algorithm** (slide, from Ho et al. 2020, Algorithm 2): draw $x_T \sim \mathcal N(0, I)$,
# then for t = T, ..., 1:
#
# $$x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{1 - \alpha_t}{\sqrt{1 - \bar\alpha_t}}\,
# \varepsilon_\theta(x_t, t)\Big) + \sigma_t z, \qquad z \sim \mathcal N(0, I),\quad \sigma_t^2 = \beta_t .$$
#
# > **Note on the slides.** The slide's loop draws $z \sim \mathcal N(0, I)$ and adds $\sigma(t) z$ at every
# > step, including the last. Ho et al.'s Algorithm 2 sets **z = 0 at t = 1**: the last step returns the
# > mean, the model's best estimate of $x_0$, instead of adding fresh noise to the finished sample.
#
# ### Exercise 7.3 (3 pts): find the bug in the reverse (ancestral) step
# A classmate wrote one step of the sampling algorithm, and their samples do not look like the data. The
# function below takes `x_t` (shape `(n, d)`), the current step `t` (a
# Python int in 1..T, the same for every point), the network's prediction `eps_hat` (shape `(n, d)`), a
# standard normal draw `z` (shape `(n, d)`) and `betas`, and should return $x_{t-1}$ with
# $\sigma_t^2 = \beta_t$, and no noise when t = 1. It has **one** mistake: find it and fix it (test a
# case where you know the answer, e.g. `eps_hat = 0`, and compare the spread of the output with
# $\sigma_t$).

# %% exercise="7.3" kind="find-the-bug"
def ancestral_step(x_t, t, eps_hat, z, betas):
    """One step of Ho et al.'s Algorithm 2 from step t to t - 1, sigma_t^2 = beta_t; no noise at t = 1."""
    ### BEGIN SOLUTION
    alphas = 1 - betas
    abar = torch.cumprod(alphas, dim=0)
    mean = (x_t - (1 - alphas[t - 1]) / (1 - abar[t - 1]).sqrt() * eps_hat) / alphas[t - 1].sqrt()
    if t == 1:
        return mean
    return mean + betas[t - 1].sqrt() * z
    ### END SOLUTION
    ### BEGIN STUB
    alphas = 1 - betas
    abar = torch.cumprod(alphas, dim=0)
    mean = (x_t - (1 - alphas[t - 1]) / (1 - abar[t - 1]).sqrt() * eps_hat) / alphas[t - 1].sqrt()
    if t == 1:
        return mean
    return mean + betas[t - 1] * z
    ### END STUB


# %% tags=["nbval-check-output"]
check("7.3", ancestral_step)

# %% [markdown]
# **Sampling, T = 1000 network calls.** `run_2d.sample` runs `diffusion.ancestral_sample` (the loop above)
# on 2,000 points and keeps every tenth state. Is it any good? The exact 2-Wasserstein distance between
# the samples and fresh data (`metrics.w2_exact`), beside the distance between two independent draws of
# the data: the best a perfect model can do at this sample size. Both vary from draw to draw by a
# quarter or more (how many points fall in each mode fluctuates), so each is averaged over two draws
# (`make bench` averages three; each distance is a linear program of about a second).

# %%
x_sampled, (path_2d, path_steps) = run_2d.sample(2000, seed=1, return_path=True, path_every=10)
judge_gen = torch.Generator().manual_seed(20)
w2_model = sum(w2_exact(x_sampled.double(), target.sample(2000, judge_gen)) for _ in range(2)) / 2
w2_data = sum(w2_exact(target.sample(2000, judge_gen), target.sample(2000, judge_gen)) for _ in range(2)) / 2
print(f"exact W2, 2,000 samples vs 2,000 fresh data points: {w2_model:.3f}; two data draws: {w2_data:.3f} "
      f"(means of 2); ratio {w2_model / w2_data:.2f} (the course asks for at most 1.25)")
plot_ddpm_reverse(path_2d, path_steps, target.sample(1000, judge_gen))

# %% [markdown]
# **Digits.** The same algorithm on scikit-learn's 8x8 digits, with pixels scaled to [-1, 1] as Ho et al. do
# (slide "Comments"), on a wider `diffusion.EpsNet` (2 blocks of 128 units): 400 Adam steps on batches of 128
# training digits, the learning rate decaying from 0.01 (`diffusion.RECIPE_DIGITS`). 200 samples by the
# ancestral sampler, judged by `metrics.digits_quality`: a small classifier trained on real digits reads
# each digit as 64 features, and the distance between the samples' features and real digits' (a Frechet
# distance, the FID of this small network) is divided by the same distance for 200 real held-out digits.
# At 200 samples (`metrics.digits_controls`), real digits score 0.95 to 1.25, digits blurred by 0.7 pixel
# about 3.8, the mean digit plus noise about 5, uniform noise 7.6 to 7.9; the course's budget is printed below.

# %%
split = load_digits_split()
run_digits = diffusion.train_ddpm_digits(split.x_train, schedule)
digits_sampled, (path_digits, _) = run_digits.sample(200, seed=2, return_path=True, path_every=10)
digit_pixels = diffusion.signed_to_pixels(digits_sampled)
digits_judged = digits_quality(digit_pixels)
print(f"trained {len(run_digits.losses)} steps in {run_digits.seconds:.1f} s")
print(f"200 samples: distance {digits_judged.distance:.2f} to real digits, 200 real held-out digits "
      f"{digits_judged.real_distance:.2f}: ratio {digits_judged.ratio:.2f} (the course asks for at most "
      f"{digits_judged.budget:g})")
plot_digit_rows({"real digits": split.x_test, "DDPM samples": digit_pixels, "": digit_pixels[12:]})

# %% [markdown]
# **The reverse process, as an animation.** Press play: the same runs, looked up frame by frame.
# *Predict first*: at t = 500, halfway, how much structure will you see?

# %%
ddpm_reverse_demo(path_2d=path_2d, path_digits=path_digits, steps=path_steps, target=target)

# %% [markdown]
# Generation is slow (slide "Comments": the original model takes up to 20 h for 50,000 images of 32x32):
# T network calls per sample, here 1000. The rest of the slide lists what came next (conditional models,
# latent diffusion, which runs the same process in an autoencoder's latent space); the last item, DDIM,
# is the next section.
#
# **Conditional and latent diffusion, and the guidance of notebook 05.** A conditional model trains
# $\varepsilon_\theta(x_t, t, y)$ on labelled data, dropping the label y (a null label) for a random part of
# the batches so that the same network also learns the unconditional $\varepsilon_\theta(x_t, t)$. Section 5
# shows that at a fixed step the noise prediction is the score times $-\sqrt{1 - \bar\alpha_t}$, and the
# velocity an affine function of the score; so notebook 05's classifier-free guidance,
# $(1 - w)\, v_t(x) + w\, v_t(x \mid y)$, is the same mixture written with noise predictions,
# $(1 - w)\,\varepsilon_\theta(x_t, t) + w\,\varepsilon_\theta(x_t, t, y)$ (the weights sum to 1, so the affine
# maps commute with it), used in place of $\hat\varepsilon$ in every sampler of this notebook. Latent
# diffusion (Rombach et al. 2022) runs the whole process, guidance included, on the latent codes of an
# autoencoder (notebook 02) instead of on pixels, and decodes the final $x_0$.
#
# ## 4. DDIM: deterministic sampling with far fewer steps
#
# Song et al. (2021) keep the trained $\varepsilon_\theta$ and the marginals $q(x_t \mid x_0)$, but replace
# the Markov forward chain by one whose reverse steps can skip. On a decreasing subsequence
# $T = \tau_0 > \tau_1 > \dots > \tau_n = 0$, one step goes from t to $t' < t$, in two moves:
#
# 1. **estimate the clean point.** The network's $\hat\varepsilon = \varepsilon_\theta(x_t, t)$ stands in for the
#    noise that made $x_t$ from $x_0$ through the kernel of section 1: invert the kernel's sample for $x_0$
#    to get $\hat x_0$ (section 5 shows that this is Tweedie's denoiser);
# 2. **re-noise it to step t'.** Place $\hat x_0$ where the kernel $q(x_{t'} \mid x_0)$ would, so that the
#    marginals are kept, but *with the same noise direction* $\hat\varepsilon$ instead of a fresh draw.
#
# With this choice ($\eta = 0$ below) the sampler is deterministic: one $x_T$, one $x_0$.
#
# ### Exercise 7.4 (3 pts): build DDIM's step ($\eta = 0$)
# Given `x_t` (shape `(n, d)`), the current step `t` and the target step `t_prev` (Python ints,
# $0 \le$ `t_prev` $<$ `t` $\le T$), the prediction `eps_hat` and `betas`, return $x_{t'}$, assembled from
# the two moves above and the kernel. Step 0 is the clean data, $\bar\alpha_0 = 1$: when `t_prev` is 0 the
# step returns $\hat x_0$.

# %% exercise="7.4" kind="build"
def ddim_step(x_t, t, t_prev, eps_hat, betas):
    """Deterministic DDIM from step t to t_prev (0 <= t_prev < t): estimate x_0, re-noise it along eps_hat."""
    ### BEGIN SOLUTION
    abar = torch.cumprod(1 - betas, dim=0)
    abar_now = abar[t - 1]
    abar_next = abar[t_prev - 1] if t_prev > 0 else torch.ones((), dtype=betas.dtype)
    x0_hat = (x_t - (1 - abar_now).sqrt() * eps_hat) / abar_now.sqrt()
    return abar_next.sqrt() * x0_hat + (1 - abar_next).sqrt() * eps_hat
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("7.4", ddim_step)

# %% [markdown]
# **Fresh noise, and $\eta = 1$ is DDPM.** Song et al. also let the step add fresh noise $\sigma z$: it takes
# $\sigma^2$ away from the variance carried by the $\hat\varepsilon$ direction, so the marginals stay the kernel's,
# with $\sigma = \eta\sqrt{\frac{1 - \bar\alpha_{t'}}{1 - \bar\alpha_t}}\sqrt{1 - \frac{\bar\alpha_t}{\bar\alpha_{t'}}}$
# (`ddim.ddim_sigma`; $\eta = 0$ is your step). With every step ($t' = t - 1$) and $\eta = 1$, the DDIM
# noise level is $\sigma^2 = \tilde\beta_t$ and the DDIM mean is DDPM's $\mu_\theta$: the ancestral sampler with Ho et al.'s
# $\sigma_t^2 = \tilde\beta_t$ (the unit tests check the means too).

# %% tags=["nbval-check-output"]
for t in (2, 50, 1000):
    sigma2 = ddim.ddim_sigma(t, t - 1, schedule, eta=1.0) ** 2
    print(f"t = {t:>4}: DDIM sigma^2 (eta = 1) = {float(sigma2):.4e}, beta tilde_t = "
          f"{schedule.posterior_variance[t - 1]:.4e}, beta_t = {betas[t - 1]:.4e}")

# %% [markdown]
# **Quality against steps.** Both models sampled by DDIM ($\eta = 0$, one shared starting noise per model)
# with 1 to 100 steps (`ddim.ddim_quality`). How to judge them? Exact W2 to fresh data cannot rank the step
# counts at this sample size: in an earlier version of this table, on 500 points, it read 0.48 at 5 steps,
# 0.57 at 10, 0.30 at 20 and 0.43 at 200, while two draws of the data alone are 0.2 to 0.4 apart. What the
# step count changes is how well DDIM solves its ODE (section 5), and that can be measured without
# sampling noise: the mean distance of each sample to the accurate solution of the probability-flow ODE
# from the **same** $x_T$ (RK4, 200 steps). It falls steadily, like 1/steps.
# The digits are judged by `metrics.digits_quality`'s ratio (200 samples per step count), and by the share
# of their pixels clipped to 0 or 1.
#
# One step jumps from $x_T$ to $\hat x_0$ at once, dividing by $\sqrt{\bar\alpha_T} \approx 0.0064$: every
# error of $\varepsilon_\theta$ is multiplied by about 150. The 2-D points land far off the plot; the digits,
# clipped to the pixel range, do not blur, they become saturated noise: almost every pixel at 0 or 1 (the
# last column, against real digits' share, whose background is exactly 0), and a distance ratio among the
# noise controls' (at 200 samples the mean digit plus noise scores about 5, uniform noise 7.6 to 7.9), far
# past blurred digits (about 3.8).

# %%
x_T = run_2d.noise(300, seed=11)  # one shared starting noise (300, 2) for the rest of this section
ode_solution = ddim.pf_ode_sample(run_2d.model, x_T, schedule, n_steps=200, method="rk4")  # accurate: RK4
quality = ddim.ddim_quality(run_2d, run_digits, target, steps=(1, 2, 5, 10, 20, 50, 100), x_T=x_T,
                            exact=ode_solution)
print(f"{'steps':>6}{'distance to the ODE (2-D)':>27}{'time (ms)':>11}{'digits ratio':>14}{'saturated pixels':>18}")
for k in sorted(quality.ode_gap):
    print(f"{k:>6}{quality.ode_gap[k]:>27.4f}{1000 * quality.sweep_2d.seconds[k]:>11.0f}"
          f"{quality.digits[k].ratio:>14.2f}{quality.saturated[k]:>18.0%}")
print(f"real held-out digits: ratio about 1, saturated pixels {ddim.saturated_fraction(split.x_test):.0%}; "
      f"ancestral samples (1000 steps): ratio {digits_judged.ratio:.2f}, "
      f"saturated {ddim.saturated_fraction(digit_pixels):.0%}")

# %%
plot_ddim_quality(quality.ode_gap, {k: q.ratio for k, q in quality.digits.items()}, digits_judged.budget,
                  quality.sweep_2d.seconds)

# %%
ddim_steps_demo(quality=quality, target=target)

# %% [markdown]
# **Steps and $\eta$.** From one shared starting noise: DDIM's paths (red) and, dashed, Euler's method on
# the probability-flow ODE of section 5 with the same steps, from the 300 points `x_T` of the table above,
# beside the accurate solution `ode_solution`. The ODE has no $\eta$, so the dashed paths depend only on
# the steps. *Predict first*: when you raise $\eta$, what happens to the red paths, and to
# how far they end from the dashed ones? And at $\eta = 0$, as you add steps?

# %%
ddim_eta_demo(run_2d=run_2d, target=target, x_T=x_T, exact=ode_solution)

# %% [markdown]
# ## 5. How it all connects
#
# ### From noise prediction to score
# The first slide of this part says that a diffusion model's vector field and score can be converted
# into one another after training. The noise prediction is one more form of the same object. The score of
# the kernel, a Gaussian, is
# $\nabla_{x_t} \log q(x_t \mid x_0) = -\frac{x_t - \sqrt{\bar\alpha_t} x_0}{1 - \bar\alpha_t}$. Denoising score
# matching (notebook 06) regresses a network on this target, and the regression's optimum is the score of
# the marginal $q_t$; DDPM's network regresses on the noise $\varepsilon$ instead. Both targets are the same
# quantity up to a factor that depends only on t.
#
# ### Exercise 7.5 (1 pt): from noise prediction to score
# Given `eps_hat` (shape `(n, d)`), its steps `t` (integer tensor of shape `(n,)`) and `betas`, return the
# score $s_\theta(x_t, t) \approx \nabla \log q_t(x_t)$ that the noise prediction stands for, shape `(n, d)`
# (write the kernel's score in terms of the noise that made $x_t$).

# %% exercise="7.5" kind="warm-up"
def eps_to_score(eps_hat, t, betas):
    """The score that the noise prediction eps_hat stands for, row by row; eps_hat: (n, d), t: (n,) -> (n, d)."""
    ### BEGIN SOLUTION
    abar = torch.cumprod(1 - betas, dim=0)[t - 1][:, None]
    return -eps_hat / (1 - abar).sqrt()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("7.5", eps_to_score)

# %% [markdown]
# **Did the network learn the score?** For the eight Gaussians the marginal $q_t$ is a Gaussian mixture
# in closed form, so its exact score is known (`ddim.mixture_eps` gives the ideal noise prediction,
# $E[\varepsilon \mid x_t]$). The relative error of the network's score, on noisy data points at a few steps.
# Where noise dominates (t = 400, 900) it is 2 to 3 percent. In the last steps the exact score of the narrow
# modes is steep (its scale is one over the modes' variance) and the small network misses much of it: the
# error is about a quarter of the score's size at t = 100 and about 45% at t = 10 (this run: 0.26 and
# 0.44).

# %%
x_clean = target.sample(2000, judge_gen)
for t in (10, 100, 400, 900):
    x_t = diffusion.q_sample(x_clean, t, torch.randn(2000, 2, generator=judge_gen, dtype=torch.float64), schedule)
    s_net = diffusion.eps_to_score(run_2d.eps(x_t.float(), t).double(), t, schedule)
    s_exact = diffusion.eps_to_score(ddim.mixture_eps(x_t, t, target, schedule), t, schedule)
    print(f"t = {t:>3}: mean |s_net - s_exact| / mean |s_exact| = "
          f"{(s_net - s_exact).norm(dim=1).mean() / s_exact.norm(dim=1).mean():.3f}")

# %% [markdown]
# ### DDPM is a Gaussian probability path in the flow matching convention
# Flow matching (notebook 05) runs time from noise at 0 to data at 1 with $x = \alpha x_1 + \beta \varepsilon$.
# DDPM's kernel is exactly such a path, read backwards:
#
# $$t_{\text{flow}} = 1 - \frac{t}{T}, \qquad \alpha(t_{\text{flow}}) = \sqrt{\bar\alpha_t}, \qquad
# \beta(t_{\text{flow}}) = \sqrt{1 - \bar\alpha_t}, \qquad x_1 = x_0^{\text{DDPM}} .$$
#
# `ddim.DDPMPath` is this map as a `probability_paths.GaussianPath` (between whole steps, $\log\bar\alpha$ is
# interpolated linearly). Like the cosine scheduler it is variance preserving, $\alpha^2 + \beta^2 = 1$,
# but $\alpha(0) = \sqrt{\bar\alpha_T} \approx 0.0064$ is not exactly 0. So `probability_paths.sample_path` on this
# scheduler is DDPM's `q_sample`, and `probability_paths.score_to_velocity` turns the score into a velocity
# (`ddim.eps_velocity`).

# %% tags=["nbval-check-output"]
ddpm_path = ddim.DDPMPath(schedule)
map_gen = torch.Generator().manual_seed(5)
x1, eps = (torch.randn(5, 2, generator=map_gen, dtype=torch.float64) for _ in range(2))
print(f"{'t':>5}{'t_flow':>8}{'alpha':>9}{'sqrt(abar_t)':>14}{'beta':>9}   probability_paths.sample_path = q_sample?")
for t in (1000, 500, 100, 1):
    tf = torch.tensor(ddim.flow_time(t, T), dtype=torch.float64)
    x_flow = probability_paths.sample_path(x1, tf, eps, ddpm_path).x_t
    same = bool((x_flow - diffusion.q_sample(x1, t, eps, schedule)).abs().max() < 1e-12)
    print(f"{t:>5}{float(tf):>8.3f}{float(ddpm_path.alpha(tf)):>9.4f}{float(schedule.abar[t - 1].sqrt()):>14.4f}"
          f"{float(ddpm_path.beta(tf)):>9.4f}   {same}")

# %%
plot_ddpm_flow_convention(schedule)

# %% [markdown]
# ### DDIM is Euler's method on the probability-flow ODE
# With that velocity, the probability-flow ODE $dx/dt_{\text{flow}} = u(x)$ carries $\mathcal N(0, I)$ to
# the data along the path's marginals (notebooks 05 and 06). Change variables to
# $\bar x = x / \sqrt{\bar\alpha}$ and $\sigma = \sqrt{(1 - \bar\alpha)/\bar\alpha}$ (the noise-to-signal
# ratio): the same ODE becomes
#
# $$\frac{d\bar x}{d\sigma} = \varepsilon_\theta(x, t),$$
#
# and one Euler step from $\sigma_t$ to $\sigma_{t'}$, $\bar x_{t'} = \bar x_t + (\sigma_{t'} - \sigma_t)\,\hat\varepsilon$,
# multiplied back by $\sqrt{\bar\alpha_{t'}}$, is exactly the DDIM step above. Numerically, from the 300
# shared starting points `x_T` of the quality table above: DDIM against Euler in $\sigma$ (`ddim.euler_sigma_path`),
# and both DDIM and plain Euler in flow time (`ode.integrate` on `ddim.eps_velocity`) against the accurate
# solution of the ODE, `ode_solution` (RK4 with 200 steps, `ddim.pf_ode_sample`).

# %%
velocity = ddim.eps_velocity(run_2d.model, schedule)
gaps = {"DDIM (= Euler in sigma)": {}, "Euler in flow time, then the last jump": {}}
print(f"{'steps':>6}{'max |DDIM - Euler in sigma|':>30}{'DDIM to the ODE':>18}{'Euler (flow time)':>19}")
for k in (5, 10, 20, 50, 100):
    with torch.no_grad():
        x_ddim = quality.sweep_2d.samples[k]  # DDIM from x_T with k steps, sampled for the table above
        x_sigma = ddim.euler_sigma_path(run_2d.model, x_T, schedule, k)[-1]
        x_flow = ode.integrate(velocity, x_T, 0.0, ddim.flow_time(1, T), k, "euler")
        x_flow = diffusion.predict_x0(x_flow, 1, run_2d.eps(x_flow, 1), schedule)
    gaps["DDIM (= Euler in sigma)"][k] = float((x_ddim - ode_solution).norm(dim=1).mean())
    gaps["Euler in flow time, then the last jump"][k] = float((x_flow - ode_solution).norm(dim=1).mean())
    print(f"{k:>6}{float((x_ddim - x_sigma).abs().max()):>30.1e}{gaps['DDIM (= Euler in sigma)'][k]:>18.4f}"
          f"{gaps['Euler in flow time, then the last jump'][k]:>19.4f}")

# %%
plot_ddim_ode_gaps(gaps)

# %% [markdown]
# DDIM and Euler in $\sigma$ agree to float32 rounding at every step count: they are one method. Both
# columns on the right fall like 1/steps, the signature of a first-order method: DDIM and plain Euler in
# flow time are Euler's method on the same ODE, written in different variables, and both converge to its
# solution. Which variables make the better discretisation depends on the model and the data; DDIM's
# choice is the one that needs no velocity, only the trained $\varepsilon_\theta$ and $\bar\alpha_t$.
#
# ### A Tweedie lens
# What does the network know at step t? Its noise prediction is a **denoiser**: by Tweedie's formula the
# best estimate of the clean point is
#
# $$E[x_0 \mid x_t] = \frac{x_t + (1 - \bar\alpha_t)\nabla \log q_t(x_t)}{\sqrt{\bar\alpha_t}}
# = \frac{x_t - \sqrt{1 - \bar\alpha_t}\,\varepsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}} = \hat x_0,$$
#
# the $\hat x_0$ of DDIM's step. *Predict first*: for a point seen at t = 1000, where is $\hat x_0$? Then
# slide t down and watch it travel.

# %%
ddpm_tweedie_demo(run_2d=run_2d, mixture=target)

# %% [markdown]
# ## Closing note: what this notebook measured
# The figures of this run (they vary a little from machine to machine, not from run to run: every seed is fixed):

# %%
print(f"2-D DDPM: {len(run_2d.losses)} steps in {run_2d.seconds:.1f} s; exact W2 ratio to two data draws "
      f"{w2_model / w2_data:.2f} (2,000 vs 2,000 points; budget 1.25)")
print(f"digits DDPM: {len(run_digits.losses)} steps in {run_digits.seconds:.1f} s; 200 ancestral samples: "
      f"distance ratio {digits_judged.ratio:.2f} to real digits (budget {digits_judged.budget:g})")
print(f"DDIM, 20 steps: mean distance {quality.ode_gap[20]:.3f} to the ODE's solution "
      f"({quality.ode_gap[100]:.4f} at 100 steps), digits ratio {quality.digits[20].ratio:.2f}; "
      f"1 step: {quality.saturated[1]:.0%} of the digits' pixels saturated")
print(f"this notebook so far: {time.perf_counter() - notebook_start:.0f} s")

# %% [markdown]
# Most of the time goes into the two training runs (600 and 400 Adam steps), the 1000-step samplers and
# the four exact W2 distances on 2,000 points (a linear program each). The 2-D model's samples come within
# the course's budget of 1.25 times the W2 between two data draws; the digit samples come within the
# digits budget but their distance ratio stays well above real digits' 1: U-Nets, more data and hours of
# training are what make diffusion models sharp. The
# course's unit tests pin the lecture's values ($\bar\alpha_T$, $\bar\alpha_{500}$) and the corrected
# formulas ($\sigma_t^2 = \beta_t$, no noise at t = 1, the map to flow time).
#
# ## Your score
# Re-run the `check` cells after changing an exercise; this table shows the latest result of each.

# %% tags=["nbval-check-output"]
score_table("07")
