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
# # 04 · The Wasserstein distance, optimal transport and WGANs
#
# This notebook follows the slides from **"Objective functions - Wasserstein GANs"** (Arjovsky et al. 2017)
# through **Algorithm 1 (WGAN)**. By the end you will have implemented, and checked against the reference:
#
# 1. W1 between two densities on a grid, through their cumulative distribution functions (warm-up);
# 2. a prediction: the cost of splitting a point mass in two, where no transport map exists (predict);
# 3. one weight-clipping step (Algorithm 1, line 7; warm-up);
# 4. Algorithm 1's critic updates: loss, gradients, optimiser step and clipping (training step);
# 5. the gradient penalty of WGAN-GP (warm-up);
# 6. the gradient the generator receives through the critic (build).
#
# Along the way you will reproduce the slides' earth mover example (W = 3) exactly, solve optimal
# transport problems as linear programs, see why JS gives a generator nothing to follow where W does,
# train critics that estimate W1 and compare them with the exact value, and train WGANs.
#
# **Notation.** Gaussians are written N(mean, variance) throughout: N(μ, σ²). Logarithms are natural
# (nats). $p_X$ is the data distribution, $p_\theta$ the generator's, $\|\cdot\|$ the Euclidean norm;
# W means the Wasserstein-1 distance $W_1$ (the earth mover's distance) unless a subscript says otherwise.
#
# **Exercises.** Each exercise cell defines a function with a `# YOUR CODE HERE` stub.
# Replace the stub, run the cell, then run the `check(...)` cell below it: it prints one
# line (`passed`, or what looks wrong). Stuck? `hint("4.4")` gives one more hint each time you call it
# (the last one states the answer; the score table counts the hints used). Cells further down use the
# reference implementations from `course_utils`, so the notebook runs even if an exercise is unfinished.
# The last cell prints your score.
#
# **How your notebook is graded**: as in notebook 01. Only the exercise cells are taken, each
# function is checked on inputs of your own, and a function that calls `course_utils`' own answer
# to its exercise scores 0 (the provided functions and other exercises' answers are yours to use).

# %%
import math

import numpy as np
import ot
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from course_utils.grading import check, hint, score_table
from course_utils.metrics import w2_exact
from course_utils.s03_gans.gan_training import mode_coverage
from course_utils.s03_gans.plots import plot_gan_snapshots, plot_sample_quality
from course_utils.s04_wasserstein import transport, wasserstein, wgan
from course_utils.s04_wasserstein.models import CLIP_DEFAULTS, CLIP_TUNED, WGAN_GP, wgan_target
from course_utils.s04_wasserstein.plots import (plot_critic_fits, plot_earth_mover, plot_parallel_lines,
                                                plot_sorted_coupling, plot_transport_plans, plot_wgan_estimates)
from course_utils.s04_wasserstein.widgets import (CRITIC_LIM, critic_demo, critic_grid, critic_problem,
                                                  earth_mover_demo, parallel_lines_demo, transport_2d_demo)

torch.manual_seed(0)

# %% [markdown]
# ## 1. The earth mover's distance
#
# The GAN of notebook 03 minimises (at the optimal discriminator) the Jensen-Shannon divergence. Arjovsky
# et al. argue that KL and JS may be the wrong yardsticks and propose the **Wasserstein distance**, also
# called the earth mover's distance (EMD): see each distribution as a pile of earth, and measure the least
# work (mass times distance moved) that turns one pile into the other:
#
# $$W(p_X, p_\theta) = \inf_{\gamma \in \Pi(p_X, p_\theta)} E_{(x, x') \sim \gamma}\big[\|x - x'\|\big],$$
#
# where $\Pi(p_X, p_\theta)$ is the set of **couplings**: joint distributions $\gamma(x, x')$ on
# $X \times X$ whose marginals are $p_X$ and $p_\theta$. Read $\gamma(x, x')$ as the mass moved from x to x':
# $\int \gamma(x, x')\,dx' = p_X(x)$ says all the mass at x leaves, $\int \gamma(x, x')\,dx = p_\theta(x')$
# says x' receives exactly what it needs. The slide "Optimal Transport interpretation" writes the same
# idea with a transport map T that moves each x to T(x) (Monge's problem, $\inf_{T\#f = g}\int |T(x) - x|\,dx$);
# couplings (Kantorovich's relaxation) may also *split* the mass at a point, which discrete problems need.
#
# ## 2. The slides' example, exactly, through CDFs
#
# The slide "Earth Mover distance illustration" (after F. Fleuret) compares
# $\mu = \frac14 \mathbf 1_{[1,2]} + \frac14 \mathbf 1_{[3,4]} + \frac12 \mathbf 1_{[9,10]}$ (pink) with
# $\mu' = \frac12 \mathbf 1_{[5,7]}$ (blue) and finds $W(\mu, \mu') = 4 \times \frac14 + 2 \times \frac14 + 3 \times \frac12 = 3$.
#
# On the real line the infimum has a closed form. Let F and G be the two cumulative distribution
# functions. Every unit of mass that ends to the right of a point t must cross t; the least mass that
# has to cross t is $|F(t) - G(t)|$, and crossing a stretch dt costs dt. Sorting the mass (the u-th
# quantile of $\mu$ goes to the u-th quantile of $\mu'$) achieves exactly that, so
#
# $$W_1(\mu, \mu') = \int_{-\infty}^{\infty} |F(t) - G(t)|\, dt = \int_0^1 |F^{-1}(u) - G^{-1}(u)|\,du .$$
#
# ### Exercise 4.1 (2 pts): W1 from two densities on a grid
# `p` and `q` hold two densities on the same evenly spaced grid with spacing `dx` (shape `(G,)`, each
# integrating to 1 on the grid). Return their W1 (a scalar), from the formula above, with the integrals
# turned into sums on the grid.

# %% exercise="4.1" kind="warm-up"
def w1_on_grid(p, q, dx):
    """W1 between two densities given on the same grid of spacing dx. p, q: (G,) -> scalar."""
    ### BEGIN SOLUTION
    f = torch.cumsum(p, 0) * dx
    g = torch.cumsum(q, 0) * dx
    return (f - g).abs().sum() * dx
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("4.1", w1_on_grid)

# %% [markdown]
# **The slides' value.** `wasserstein.slides_example()` builds the two piecewise-uniform distributions.
# On a grid of step 0.005 the CDF formula gives 3; integrating $|F - G|$ exactly between the pieces'
# ends (`w1_piecewise_uniform`, where F - G is linear) gives 3 to machine precision; and SciPy's
# `wasserstein_distance`, on 20,000 samples of each, comes close.

# %% tags=["nbval-check-output"]
mu, mu_prime = wasserstein.slides_example()
grid = torch.linspace(0.0, 12.0, 2401, dtype=torch.float64)
dx = float(grid[1] - grid[0])
p_mu, p_mu_prime = mu.density_on_grid(grid), mu_prime.density_on_grid(grid)
sample_gen = torch.Generator().manual_seed(0)
x_mu, x_mu_prime = mu.sample(20_000, sample_gen), mu_prime.sample(20_000, sample_gen)
print(f"W1 on the grid, through the CDFs:       {wasserstein.w1_on_grid(p_mu, p_mu_prime, dx):.6f}")
print(f"W1 exactly (piecewise-linear F - G):    {wasserstein.w1_piecewise_uniform(mu, mu_prime):.6f}")
print(f"scipy on 20,000 samples of each:        {wasserstein_distance(x_mu.numpy(), x_mu_prime.numpy()):.3f}")

# %% [markdown]
# **Which mass goes where.** The sorted plan (`wasserstein.monotone_coupling`) cuts the mass into pieces
# that move linearly: the first quarter of $\mu$ (on [1, 2]) goes to [5, 5.5], the second to [5.5, 6], the
# last half (on [9, 10]) to [6, 7]. Each piece's cost is its mass times the mean distance it travels.

# %% tags=["nbval-check-output"]
plan_1d = wasserstein.monotone_coupling(mu, mu_prime)
for (s0, s1), (t0, t1), m, c in zip(plan_1d.source.tolist(), plan_1d.target.tolist(), plan_1d.mass.tolist(),
                                    plan_1d.cost.tolist(), strict=True):
    print(f"[{s0:4.1f}, {s1:4.1f}] -> [{t0:4.1f}, {t1:4.1f}]   mass {m:.2f}   mean distance {c / m:.2f}   cost {c:.4f}")
print(f"total: {plan_1d.cost.sum():.4f}")
print(f"the slide's plan, moving whole pieces: 4 x 1/4 + 2 x 1/4 + 3 x 1/2 = {4 / 4 + 2 / 4 + 3 / 2}")

# %% [markdown]
# The slide moves each pink piece rigidly instead ([1, 2] and [3, 4] both onto [5, 6], stacked one on the
# other, each a layer of height 1/4; [9, 10] onto [6, 7]): a different plan with the *same* cost, 3. With the cost $|x - y|$ the
# optimal plan need not be unique, but the sorted one is always among the optimal ones.
#
# In the figure: the densities with the sorted plan's arcs (as thick as the mass they carry), the two
# CDFs with the area between them, and (we come back to it in section 6) the best "critic" f: it descends
# on [1, 6], where F > G and the mass of μ moves right, and climbs on [6, 10], where F < G and the mass
# on [9, 10] moves left; it is flat where no mass crosses (before 1 and after 10).

# %%
plot_earth_mover(mu, mu_prime)

# %% [markdown]
# **Try it.** Move the pink pieces and the blue one. *Predict first*: what happens to W1 when a pink piece
# moves inside the blue interval? When the blue piece slides right past all the pink ones?

# %%
earth_mover_demo()

# %% [markdown]
# ## 3. W1 from samples: sorting is the optimal coupling
#
# For two samples of the same size n (each point carrying mass 1/n) the quantile functions are step
# functions, and the formula becomes: sort both samples and average the distances of the pairs,
#
# $$W_1(\hat\mu_n, \hat\nu_n) = \frac1n \sum_{i=1}^n |x_{(i)} - y_{(i)}|,$$
#
# where $x_{(i)}$ is the i-th smallest (`wasserstein.w1_samples`). Any other pairing is a coupling too,
# but never a cheaper one: two pairs that cross ($x_{(1)} \to y_{(2)}$, $x_{(2)} \to y_{(1)}$) can always be
# uncrossed without raising the cost (often the cost stays the same, so other pairings can be optimal too).
#
# Against SciPy (which also handles samples of different sizes, by the CDF formula) on samples of the
# slides' two distributions: the same number, approaching 3 as n grows. The pairing in the order the
# points were drawn is a valid coupling but costs more.

# %% tags=["nbval-check-output"]
for n in (10, 100, 1000, 10_000):
    xs, ys = x_mu[:n], x_mu_prime[:n]
    print(f"n = {n:>6}: sorted pairs {wasserstein.w1_samples(xs, ys):.4f}, scipy {wasserstein_distance(xs, ys):.4f}, "
          f"pairs as drawn {(xs - ys).abs().mean():.4f}")

# %%
plot_sorted_coupling(x_mu[:40], x_mu_prime[:40])

# %% [markdown]
# ## 4. Optimal transport between point clouds: a linear program
#
# In 2-D there is no sorting. Between two weighted point clouds $\mu = \sum_i a_i \delta_{x_i}$ and
# $\nu = \sum_j b_j \delta_{y_j}$, a coupling is a matrix P, the **transport plan**: $P_{ij} \ge 0$ is the
# mass moved from $x_i$ to $y_j$; its rows sum to a (everything leaves) and its columns to b (everything
# arrives). The slide's "transport cost" $\gamma(x, y)\,\|x - y\|$, summed, is
#
# $$\langle P, C \rangle = \sum_{i,j} P_{ij}\, \|x_i - y_j\|, \qquad
# W_1(\mu, \nu) = \min_{P \ge 0,\ P\mathbf 1 = a,\ P^\top \mathbf 1 = b} \langle P, C \rangle,$$
#
# a **linear program**: a linear objective, n m unknowns, n + m linear equality constraints
# (`transport.transport_cost` computes $\langle P, C \rangle$ for any plan).
#
# **Solving it, twice.** `transport.solve_ot_lp` writes the LP out for `scipy.optimize.linprog` (the
# unknown is P flattened; the row sums are $(I_n \otimes \mathbf 1_m^\top)\,\mathrm{vec}(P) = a$, the column
# sums $(\mathbf 1_n^\top \otimes I_m)\,\mathrm{vec}(P) = b$). POT's `ot.emd` solves the same LP with a
# network simplex, much faster. Two clouds of 12 points with uneven weights: both give the same
# cost and the same plan, whose marginals are a and b; the independent plan $a b^\top$ (every point sends
# to every point in proportion) is feasible but costs more.

# %% tags=["nbval-check-output"]
cloud_gen = torch.Generator().manual_seed(4)
x_pts = torch.randn(12, 2, generator=cloud_gen, dtype=torch.float64)
y_pts = 0.6 * torch.randn(12, 2, generator=cloud_gen, dtype=torch.float64) + torch.tensor([2.5, 0.5],
                                                                                          dtype=torch.float64)
a_w = torch.rand(12, generator=cloud_gen, dtype=torch.float64) + 0.5
a_w = a_w / a_w.sum()
b_w = transport.uniform_weights(12)
cost = transport.cost_matrix(x_pts, y_pts)
ours = transport.solve_ot_lp(a_w, b_w, cost)
pot_plan = ot.emd(a_w.numpy(), b_w.numpy(), cost.numpy())
independent = transport.independent_plan(a_w, b_w)
print(f"our LP (linprog):        {ours.cost:.6f}")
print(f"POT ot.emd2:             {ot.emd2(a_w.numpy(), b_w.numpy(), cost.numpy()):.6f}")
print(f"largest |P_ours - P_POT|: {np.abs(ours.plan.numpy() - pot_plan).max():.1e}")
print(f"marginals: rows - a {(ours.plan.sum(1) - a_w).abs().max():.1e}, columns - b {(ours.plan.sum(0) - b_w).abs().max():.1e}")
print(f"pairs that carry mass: {(ours.plan > 1e-12).sum().item()} (at most n + m - 1 = 23)")
print(f"independent plan a b^T:  {transport.transport_cost(independent, x_pts, y_pts):.6f}")

# %%
plot_transport_plans(x_pts, y_pts, {"optimal plan (LP)": ours.plan, "independent plan a bᵀ": independent},
                     {"optimal plan (LP)": ours.cost,
                      "independent plan a bᵀ": float(transport.transport_cost(independent, x_pts, y_pts))})

# %% [markdown]
# In 1-D the LP and sorting must agree; and the LP's dual variables (section 6 explains why they matter)
# satisfy $u_i + v_j \le \|x_i - y_j\|$ with $\sum_i a_i u_i + \sum_j b_j v_j$ equal to the optimal cost.

# %% tags=["nbval-check-output"]
line_x, line_y = x_mu[:30], x_mu_prime[:30]
print(f"1-D: LP {transport.w1_point_clouds(line_x, line_y, solver='lp'):.6f}, "
      f"sorting {wasserstein.w1_samples(line_x, line_y):.6f}")
print(f"duality: a.u + b.v = {a_w @ ours.u + b_w @ ours.v:.6f} (the cost: {ours.cost:.6f}); "
      f"max of u_i + v_j - C_ij = {(ours.u[:, None] + ours.v[None, :] - cost).max():.1e}")

# %% [markdown]
# ### Monge against Kantorovich: when no transport map exists
#
# Monge's problem (section 1) looks for a map T: all the mass at x goes to the single point T(x). Take
# $\mu = \delta_x$, a unit mass at one point x, and $\nu = \frac12 \delta_{y_1} + \frac12 \delta_{y_2}$, two
# half masses. Any map sends the whole unit to T(x): one of $y_1, y_2$ then receives 1 and the other 0, so
# **no map pushes μ onto ν** and Monge's infimum is over an empty set. Kantorovich's couplings may split
# the mass at a point.
#
# ### Exercise 4.2 (2 pts): predict W1 when the mass must split
# Work it out before you run the LP below. `x`, `y1`, `y2` are points of shape `(d,)`; return
# $W_1(\delta_x, \frac12\delta_{y_1} + \frac12\delta_{y_2})$ (Euclidean distances) as a number. Think about which
# couplings exist here at all.

# %% exercise="4.2" kind="predict"
def predict_split_cost(x, y1, y2):
    """W1 from a unit mass at x to half masses at y1 and y2. x, y1, y2: (d,) -> scalar."""
    ### BEGIN SOLUTION
    return 0.5 * torch.linalg.vector_norm(x - y1) + 0.5 * torch.linalg.vector_norm(x - y2)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("4.2", predict_split_cost)

# %% [markdown]
# **Now measure.** x = (0, 0), y1 = (3, 0), y2 = (0, 1). The LP has n m = 2 unknowns and its constraints
# leave exactly one plan, which splits the mass; its cost is W1. The two maps (everything to y1, or
# everything to y2) cost 3 and 1, but their column sums are (1, 0) and (0, 1), not (1/2, 1/2): infeasible.

# %% tags=["nbval-check-output"]
x_point = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
y_halves = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
split = transport.solve_ot_lp(torch.ones(1, dtype=torch.float64), torch.full((2,), 0.5, dtype=torch.float64),
                              transport.cost_matrix(x_point, y_halves))
print(f"the only plan: P = {split.plan.numpy().round(3).tolist()}, cost W1 = {split.cost:.4f} "
      f"(= {transport.split_point_mass_cost(x_point[0], y_halves[0], y_halves[1]):.4f})")
for j, name in enumerate(("y1", "y2")):
    map_plan = torch.zeros(1, 2, dtype=torch.float64)
    map_plan[0, j] = 1.0
    print(f"the map x -> {name}: cost {transport.transport_cost(map_plan, x_point, y_halves):.1f}, "
          f"column sums {map_plan.sum(0).tolist()} (ν needs [0.5, 0.5]): not a coupling of μ and ν")

# %% [markdown]
# **Try it.** Move the blue cloud. *Predict first*: when the blue cloud moves far to the right, what does
# the plan look like, and how does W1 grow? Then switch the cost to the squared distance.

# %%
transport_2d_demo()

# %% [markdown]
# ## 5. Why W rather than JS: the parallel lines
#
# Arjovsky et al.'s example 1: Z ~ U[0, 1], $P_0$ the distribution of (0, Z) (a vertical segment at x = 0)
# and $P_\theta$ that of (θ, Z), the same segment moved by θ. For θ ≠ 0 the two supports are disjoint, so
#
# $$KL(P_\theta \| P_0) = +\infty, \qquad JS(P_0, P_\theta) = \log 2, \qquad \delta(P_0, P_\theta) = 1, \qquad W(P_0, P_\theta) = |\theta| ,$$
#
# where δ is the **total variation** distance, the largest difference of probability the two give to any
# event: $\delta(P, Q) = \sup_A |P(A) - Q(A)| = \frac12 \int |p - q|$ (1 here: take A the segment of $P_0$).
#
# every divergence that compares densities point by point is blind to *how far apart* the segments are,
# and W, which moves every point horizontally by |θ|, is not. Numerically (`wasserstein.parallel_lines`
# for the closed forms; POT on 300 points of each; SciPy's JS on 2-D histograms):

# %% tags=["nbval-check-output"]
line_gen = torch.Generator().manual_seed(1)
uniform = np.full(300, 1 / 300)
edges = (np.linspace(-2.5, 2.5, 101), np.linspace(0.0, 1.0, 11))
for theta in (0.1, 0.5, 2.0):
    p0, p_theta = wasserstein.parallel_lines_samples(theta, 300, line_gen)
    closed = wasserstein.parallel_lines(torch.tensor(theta, dtype=torch.float64))
    w_pot = ot.emd2(uniform, uniform, ot.dist(p0.numpy(), p_theta.numpy(), metric="euclidean"))
    h0 = np.histogram2d(p0[:, 0].numpy(), p0[:, 1].numpy(), bins=edges)[0].ravel()
    h_theta = np.histogram2d(p_theta[:, 0].numpy(), p_theta[:, 1].numpy(), bins=edges)[0].ravel()
    js = jensenshannon(h0, h_theta, base=math.e) ** 2
    print(f"theta = {theta}: W closed form {closed.w:.3f}, POT {w_pot:.3f};   JS closed form {closed.js:.4f}, "
          f"histograms {js:.4f};   KL {closed.kl}")

# %% [markdown]
# **What it means for gradients.** A generator that can only move θ learns from the gradient of its loss
# with respect to θ. JS is constant (log 2) for every θ ≠ 0: its gradient is 0, the generator gets no
# signal however far it is. W = |θ| has slope ±1 everywhere: it always points home. The same happens
# when a GAN's generator and the data live on low-dimensional manifolds that do not meet (the slides'
# "low dimensional supports" pathology): a discriminator separates them perfectly and saturates.

# %%
plot_parallel_lines()

# %% [markdown]
# **Try it.** Hide the curves and *predict* JS and W as θ moves; then show them. Add noise (σ, a
# secondary control): blurring both lines makes KL and JS finite and smooth ("instance noise"), but JS
# flattens again at log 2 once the lines are a few σ apart, while W stays |θ|.

# %%
parallel_lines_demo()

# %% [markdown]
# ## 6. Kantorovich-Rubinstein duality: a critic estimates W1
#
# The infimum over couplings gives no practical way to train a generator. Kantorovich-Rubinstein duality
# (slide "Wasserstein GANs") turns it into a supremum over functions:
#
# $$W(p_X, p_\theta) = \sup_{\|f\|_L \le 1}\ E_{x \sim p_X}[f(x)] - E_{x \sim p_\theta}[f(x)],$$
#
# over the 1-Lipschitz functions f: $|f(x) - f(y)| \le \|x - y\|$ for all x, y. For any such f, the gap
# between its two means is at most W (move the mass along an optimal plan: f changes by at most the
# distance moved); the best f attains W. In 1-D the best f has slope $\mathrm{sign}(G - F)$: it *descends*
# wherever the mass of $\mu$ must move right (F > G: f loses exactly the distance each unit travels, so
# $E_\mu f - E_{\mu'} f$ collects it) and climbs where the mass moves left, as in the third panel of the
# figure in section 2 (down on [1, 6], up on [6, 10]; mean gap 3). In the
# discrete LP of section 4 the dual variables play that role: $u_i + v_j \le \|x_i - y_j\|$ is the
# Lipschitz condition between $f(x_i) = u_i$ and $f(y_j) = -v_j$, and the optimal gap equals the cost.
#
# > **Note on the slides.** The duality slide writes $\sup_{\|f\|_L \le 1} E_{x \sim p_X}|f(x)| - E_{x \sim p_\theta}|f(x)|$
# > with absolute values. The theorem has plain expectations, $E_{p_X}[f(x)] - E_{p_\theta}[f(x)]$ (Arjovsky
# > et al. 2017, eq. 2; Villani 2009). With expectations, adding a constant to f changes nothing, as it
# > should; with absolute values the gap of a given critic changes when it is shifted, and a critic trained
# > on it is pushed towards large |f| rather than towards separating the two distributions.
#
# A neural network $f_w$, the **critic** (it scores its inputs rather than classifying them), kept (about)
# Lipschitz, estimates W by maximising the gap on batches; the generator then descends the estimate:
#
# $$g^* = \arg\min_g\ \max_w\ E_{x \sim p_X}[f_w(x)] - E_{z \sim p_z}[f_w(g(z))].$$
#
# On batches the expectations become means over the batch (`wgan.kr_objective` computes the gap of a
# critic's scores on a real and a generated batch).
#
# ### Keeping the critic Lipschitz, way 1: weight clipping
# Algorithm 1 of Arjovsky et al. clamps every weight into $[-c, c]$ after each critic update (line 7,
# $w \leftarrow \mathrm{clip}(w, -c, c)$, default c = 0.01). The set of such networks is compact, so each is
# K-Lipschitz for some K, but K is unknown and is not 1: the critic then estimates K times something at
# most W. The paper itself calls clipping "a clearly terrible way to enforce a Lipschitz constraint".
#
# ### Exercise 4.3 (1 pt): one weight-clipping step
# `critic` is a `torch.nn.Module`, `c > 0`. Apply line 7 to it and return `list(critic.parameters())`.
# The check looks at the critic after your call (training goes on with it), so clipped copies are not enough.

# %% exercise="4.3" kind="warm-up"
def clip_weights(critic, c):
    """Algorithm 1, line 7, applied to the critic itself; returns list(critic.parameters())."""
    ### BEGIN SOLUTION
    params = list(critic.parameters())
    with torch.no_grad():
        for w in params:
            w.clamp_(-c, c)
    return params
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("4.3", clip_weights)

# %% [markdown]
# ### Algorithm 1's critic updates
# Lines 2-8 of Algorithm 1 repeat $n_{critic}$ times: take a real batch and a generated batch, compute the
# gradient of the gap with respect to the critic's weights w, let the optimiser move w so that the gap
# *grows* (RMSProp in the paper), then clip. Three things a working loop must get right, and the check
# tests each: the direction (optimisers minimise), the gradients of one update must not leak into the next,
# and the order of the step and the clipping.
#
# ### Exercise 4.4 (4 pts): n_critic critic updates (a training step)
# `critic` maps points `(m, d)` to scores `(m, 1)`; `opt` is an optimiser over its parameters (use it, do not
# build one); `x_real` has shape `(n_critic, m, d)` and `x_fake` shape `(n_critic, m', d)` (already generated:
# no generator here); `c > 0`. Make the $n_{critic}$ updates of lines 2-8, one per batch pair, leaving the
# critic updated and clipped in place, and return the loss your optimiser minimised at each update (the
# value before its step) as a tensor of shape `(n_critic,)`. The check runs it on a small critic with plain
# SGD and compares every weight afterwards with the reference's.

# %% exercise="4.4" kind="training-step"
def critic_steps(critic, opt, x_real, x_fake, c):
    """Algorithm 1, lines 2-8, on the given batches; the critic is updated in place. Returns (n_critic,)."""
    ### BEGIN SOLUTION
    losses = []
    for real, fake in zip(x_real, x_fake, strict=True):
        opt.zero_grad()
        loss = critic(fake).mean() - critic(real).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for w in critic.parameters():
                w.clamp_(-c, c)
        losses.append(loss.item())
    return torch.tensor(losses)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("4.4", critic_steps)

# %% [markdown]
# ### Way 2: the gradient penalty (Gulrajani et al. 2017)
# A differentiable f is 1-Lipschitz exactly when $\|\nabla f\| \le 1$ everywhere, and the optimal critic
# has $\|\nabla f\| = 1$ along the lines of the optimal plan. WGAN-GP drops clipping and adds to the
# critic's loss $\lambda\, GP$ (λ = 10), with
#
# $$GP = E_{\hat x}\big[(\|\nabla_{\hat x} f(\hat x)\|_2 - 1)^2\big], \qquad \hat x = \epsilon x + (1 - \epsilon)\tilde x,\quad \epsilon \sim U[0, 1],$$
#
# at random points $\hat x$ on the segments between real points x and generated points $\tilde x$.
#
# ### Exercise 4.5 (3 pts): the gradient penalty
# `critic` maps points `(m, d)` to scores `(m, 1)`; `x_real` and `x_fake` have shape `(m, d)`; `eps` has
# shape `(m, 1)` (one weight per pair). Return GP (without λ) as a scalar, in a form the critic can be
# trained on: the penalty must itself be differentiable with respect to the critic's weights.

# %% exercise="4.5" kind="warm-up"
def gradient_penalty(critic, x_real, x_fake, eps):
    """The WGAN-GP penalty (without lambda) at the interpolates defined by eps -> scalar."""
    ### BEGIN SOLUTION
    x_hat = (eps * x_real + (1 - eps) * x_fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.norm(dim=1) - 1) ** 2).mean()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("4.5", gradient_penalty)

# %% [markdown]
# **Two critics, one exact answer.** x: 256 points of the ring of 8 Gaussians (the target of notebook 03),
# y: 256 points of N(0, 0.25 I). Their exact W1 comes from the LP (POT). We train two critics (MLPs with
# 3 hidden layers of 64 units) on minibatches of the two clouds with `wgan.train_critic`, which runs the
# course's one training loop (`training.fit`, Adam):
#
# - **weight clipping with Algorithm 1's constants**: learning rate α = 5e-5, c = 0.01, m = 64
#   (Algorithm 1 uses RMSProp; our loop uses Adam: both take steps of the order of α per weight);
# - **gradient penalty**: λ = 10, Adam with learning rate 1e-3, batches of 256.
#
# Each critic's estimate is $\frac1n\sum_i f(x_i) - \frac1n \sum_j f(y_j)$ on the whole clouds. We also
# measure its largest gradient norm (over the clouds, their interpolates and a grid): a rough Lipschitz
# constant K; dividing the estimate by K gives the estimate of $f / K$, a roughly 1-Lipschitz function.

# %%
x_ring, y_blob, exact_plan = critic_problem(256)
heat_grid = critic_grid()
critics = {method: wgan.train_critic(x_ring, y_blob, method, steps=300, grid=heat_grid, snapshot_every=30)
           for method in ("clip", "gp")}
print(f"exact W1 (LP): {exact_plan.cost:.4f}")
for method, fit in critics.items():
    print(f"{method:>4}: estimate {fit.estimate:.5f}, largest |grad f| {fit.lipschitz:.5f}, "
          f"estimate / K {fit.rescaled:.4f}   ({fit.seconds:.1f} s)")

# %% [markdown]
# Read the numbers (they are in the closing note too):
#
# - The **clipped** critic with c = 0.01 is K-Lipschitz with K below 1e-3: its raw gap is thousands of times
#   too small. Divided by its measured K, it comes within a few tens of percent of W1, short because in
#   300 steps of α = 5e-5 the clipped weights have barely found their shape. A WGAN's generator only needs
#   the *direction* of the critic's gradient, which is why clipping worked at all; but the number is not W1.
# - The **gradient-penalty** critic's gap is close to W1, slightly *above* it: the penalty is soft, only
#   enforced at random interpolates, and the critic's slope reaches a little more than 1 in places (K > 1);
#   divided by K it lands below. The exact value sits between the two.
#
# Both critics are high (red) on the ring and low (blue) in the middle; the exact plan's lines run straight
# down their slope.

# %%
plot_critic_fits({"weight clipping (c = 0.01, α = 5e-5)": critics["clip"],
                  "gradient penalty (λ = 10)": critics["gp"]},
                 x_ring, y_blob, exact_plan.plan, exact_plan.cost, math.isqrt(len(heat_grid)), CRITIC_LIM)

# %% [markdown]
# **Try it.** Replay both critics' training. *Predict first*: which one has the right shape early on, and
# which one has the right *scale*?

# %%
critic_demo(fits=critics, x=x_ring, y=y_blob)

# %% [markdown]
# ## 7. Training WGANs
#
# Algorithm 1 alternates $n_{critic}$ critic updates (lines 2-8: a batch of real points, a batch of
# noise, the gradient of the gap, an RMSProp step, clipping) with one generator update (lines 9-11: the
# generator descends $-\frac1m\sum_i f_w(g_\theta(z_i))$, i.e. moves its samples up the critic's slope).
# `wgan.train_wgan_2d` runs exactly that with the alternating trainer of notebook 03
# (`wgan.WGANTrainer` is `gan_training.AdversarialTrainer` with RMSProp and clipping), or WGAN-GP
# (Adam, the penalty, no clipping). It records the critic's gap at every critic step and, every few
# generator steps, the exact W1 between 400 generated and 400 target points (the LP), to compare.
# The target is the ring of 8 Gaussians of notebook 03.
#
# ### What the generator learns from: its gradient through the critic
# The generator's parameters θ enter the gap only through the generated points
# $\tilde x^{(i)} = g_\theta(z^{(i)})$; the real term does not depend on θ. So the generator's loss on a batch
# is $L_G(\theta) = -\frac1m \sum_i f_w(g_\theta(z^{(i)}))$, and the chain rule splits its gradient in two:
#
# $$\nabla_\theta L_G = \sum_{i=1}^m J_\theta g_\theta(z^{(i)})^\top\, \frac{\partial L_G}{\partial \tilde x^{(i)}},$$
#
# a factor that belongs to the generator (its Jacobian $J_\theta g$) and one that belongs to the critic: the
# gradient of the loss with respect to each generated point. In expectation, $\nabla_\theta W = -E_z[J_\theta
# g_\theta(z)^\top \nabla_x f(g_\theta(z))]$ (Arjovsky et al., Theorem 3). Everything the generator learns
# passes through the critic's slope at its own samples, and for a 1-Lipschitz critic that slope has norm
# at most 1, and exactly 1 along the optimal plan: it does not vanish when the supports are apart (section 5).
#
# ### Exercise 4.6 (3 pts): the gradient the generator receives
# `critic` maps points `(m, d)` to scores `(m, 1)`; `x_fake` holds m generated points, shape `(m, d)`.
# Return $\partial L_G / \partial \tilde x^{(i)}$ for every point, shape `(m, d)`: the critic's share of the
# generator's gradient.

# %% exercise="4.6" kind="build"
def generator_grad(critic, x_fake):
    """The gradient of the WGAN generator's batch loss with respect to each generated point: (m, d) -> (m, d)."""
    ### BEGIN SOLUTION
    x = x_fake.detach().clone().requires_grad_(True)
    loss = -critic(x).mean()
    (grad,) = torch.autograd.grad(loss, x)
    return grad
    ### END SOLUTION


# %% tags=["nbval-check-output"]
check("4.6", generator_grad)

# %% [markdown]
# **Measured.** The gradient-penalty critic of section 6, with the blob's 256 points as the "generated"
# batch. Each point is pushed along $-\partial L_G / \partial \tilde x^{(i)}$, i.e. up the critic's slope, with a
# force of size $\|\nabla f\| / m$: times m, those sizes are the critic's slopes, close to 1 as the penalty
# asks, pointing outwards to the ring. And the chain rule holds: a small generator's $\nabla_\theta L_G$ from
# autograd equals $J_\theta g^\top$ applied to these per-point gradients.

# %% tags=["nbval-check-output"]
gp_critic = critics["gp"].critic
push = -wgan.generator_grad(gp_critic, y_blob.float())
slopes = len(y_blob) * push.norm(dim=1)
outwards = (push * y_blob.float()).sum(1) > 0
print(f"m |push| (the critic's slope at the samples): mean {slopes.mean():.3f}, min {slopes.min():.3f}, "
      f"max {slopes.max():.3f};  pointing away from the centre: {outwards.float().mean():.0%}")
torch.manual_seed(3)
small_g = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
z_small = torch.randn(256, 2)
x_small = small_g(z_small)
direct = torch.autograd.grad(-gp_critic(x_small).mean(), list(small_g.parameters()), retain_graph=True)
through = torch.autograd.grad(x_small, list(small_g.parameters()),
                              grad_outputs=wgan.generator_grad(gp_critic, x_small))
print("largest |autograd - chain rule| over the generator's parameters: "
      f"{max(float((a - b).abs().max()) for a, b in zip(direct, through, strict=True)):.1e}")

# %% [markdown]
# **Algorithm 1 with its default constants** (α = 5e-5, c = 0.01, m = 64, $n_{critic}$ = 5), for 150
# generator steps (750 critic steps):

# %%
ring = wgan_target()
clip_run = wgan.train_wgan_2d(ring, "clip", snapshot_every=50, track_every=25, desc="WGAN, Algorithm 1 defaults",
                              **CLIP_DEFAULTS)
print(f"{clip_run.seconds:.1f} s; exact W1 from {clip_run.exact_w1[0]:.3f} to "
      f"{clip_run.exact_w1[max(clip_run.exact_w1)]:.3f}; last critic gaps ~ {clip_run.estimates[-50:].mean():.5f}")

# %% [markdown]
# With α = 5e-5 the weights move by about 5e-5 per step: the generator's samples have barely left the
# origin, and the critic's gap (a K-Lipschitz critic with K below 1e-3) is more than three orders of magnitude
# below the exact W1 it tracks. The paper trained for hundreds of thousands of generator steps.
#
# Two WGANs that do train in our budget:
#
# - **clipping with larger constants** (not Algorithm 1's: c = 0.05, RMSProp with α = 5e-4, m = 128),
#   300 generator steps;
# - **WGAN-GP**, 600 generator steps, $n_{critic}$ = 5, batches of 128, and the settings of Gulrajani et
#   al.'s own 2-D experiments: penalty weight λ = 0.1 (their code notes that a smaller λ "seems to help for
#   toy tasks"; with λ = 10 our short runs oscillated), Adam with β = (0.5, 0.9), but a learning rate of
#   2e-3 (theirs, 1e-4, over 100,000 steps, is far beyond a notebook; with 5e-4 over 500 steps the bridges
#   between the modes stayed thick, W2 1.5 times the data-vs-data value). This is the model `make bench`
#   judges (`course_utils/s04_wasserstein/models.py`).
#
# Both lower their learning rates to 0 over the last 30 % of the steps. Like |θ| in section 5, W1 keeps a
# slope of 1 right up to its minimum, so a WGAN's generator does not settle by itself: without the decay
# its samples keep jittering around the target.

# %%
tuned_run = wgan.train_wgan_2d(ring, "clip", snapshot_every=100, track_every=50, desc="WGAN, clipping c = 0.05",
                               **CLIP_TUNED)
gp_run = wgan.train_wgan_2d(ring, "gp", snapshot_every=125, track_every=50, desc="WGAN-GP", **WGAN_GP)
print(f"clipping (c = 0.05): {tuned_run.seconds:.1f} s;  WGAN-GP (lambda = 0.1): {gp_run.seconds:.1f} s")

# %% [markdown]
# **The critic's estimate during training.** The gap of the critic on each batch (a running mean) against
# the exact W1 between the generator's samples and the target. Every critic's gap falls with W1 as the
# generator improves: a loss curve that means something, which a GAN does not have. But the *scale* is
# only as good as the Lipschitz constraint. The clipped critics' gaps are multiples K < 1 of W1 (K below 1e-3
# with c = 0.01, a few percent with c = 0.05). With λ = 0.1 the penalty holds the slope near 1 only
# loosely, and the gap reads about 1.5 times W1 (after a burst early on, when the critic is still steep);
# with λ = 10, in section 6, it was within 10 %. Its gradient still points the generator the right way:
# λ trades a faithful estimate (large λ) against a smoother game on this toy problem (small λ).

# %%
plot_wgan_estimates({"Algorithm 1 defaults (c = 0.01)": clip_run, "clipping, c = 0.05, α = 5e-4": tuned_run,
                     "WGAN-GP (λ = 0.1)": gp_run})

# %%
plot_gan_snapshots(gp_run, ring)

# %% [markdown]
# **Sample quality.** As in notebook 03: the exact W2 between 1,000 generated and 1,000 fresh target
# points, next to the W2 between two draws of the target (what a perfect model would get at this size).

# %%
fresh_gen = torch.Generator().manual_seed(100)
fresh = lambda: ring.sample(1000, fresh_gen)  # noqa: E731
w2_data = w2_exact(fresh(), fresh())
quality = [("data vs data", w2_data, None)]
for name, run in (("WGAN-GP (λ = 0.1)", gp_run), ("clipping, c = 0.05", tuned_run),
                  ("Algorithm 1 defaults", clip_run)):
    samples = run.sample(1000, seed=1)
    quality.append((name, w2_exact(samples, fresh()), mode_coverage(samples, ring).covered))
for name, w2, modes in quality:
    print(f"{name:<22} W2 = {w2:.3f}" + (f", modes covered {modes}/{len(ring.weights)}" if modes is not None else ""))
plot_sample_quality(quality)

# %% [markdown]
# Both trained WGANs put their samples on the ring, but not only on its modes: thin bridges join
# neighbouring modes, and the modes are wider than the target's (the clipped WGAN's so wide that few
# count as "covered", within 3 standard deviations). To put all its mass on 8 separate modes the
# generator would have to tear its connected Gaussian latent space into 8 pieces, and a continuous map
# cannot: the image of a connected space under a continuous map is connected. So some mass always stays
# on bridges between the modes; the generator can only make them thinner, by making g steep between
# them, while the critic pulls the bridge points towards the modes with a slope of about 1 at most.
#
# **The bridges, measured.** The share of samples far from every mode: farther than 3 standard deviations
# (`wgan.off_mode_mask`; the target itself has $e^{-9/2}$ = 1.1 % there) and farther than 5 (the target:
# $e^{-25/2}$, about 4 in a million; neighbouring modes are 15 standard deviations apart, so these points
# sit on the way from one mode to the next).

# %% tags=["nbval-check-output"]
target_draw = fresh()
print(f"{'target':<20} beyond 3 std {wgan.off_mode_mask(target_draw, ring).double().mean():6.1%}, "
      f"beyond 5 std {wgan.off_mode_mask(target_draw, ring, k=5.0).double().mean():6.1%}")
for name, run in (("WGAN-GP (λ = 0.1)", gp_run), ("clipping, c = 0.05", tuned_run)):
    samples = run.sample(1000, seed=1)  # the samples of the quality table above
    print(f"{name:<20} beyond 3 std {wgan.off_mode_mask(samples, ring).double().mean():6.1%}, "
          f"beyond 5 std {wgan.off_mode_mask(samples, ring, k=5.0).double().mean():6.1%}")

# %% [markdown]
# Far more of the WGAN-GP's samples lie beyond 3, and even beyond 5, standard deviations of every mode
# than the target's. Part of that mass is modes that are too wide (longer training narrows them), part is
# the bridges, which a continuous generator of a Gaussian can thin out but never remove entirely. Both
# inflate W2. With the settings above
# it is thin enough for `make bench`'s bar (W2 at most 1.25 times the data-vs-data value; measured 1.18 at
# the bench's sample sizes). The WGAN's gains are elsewhere: gradients that never vanish when the supports
# do not overlap (section 5), and a critic whose gap follows the distance it minimises.

# %% [markdown]
# ## Closing note: critic estimates against the exact W1
#
# The table collects every estimate of this notebook beside the exact value it estimates.

# %%
def last_gap(run, batches=250):
    """The critic's gap averaged over its last critic batches, and the exact W1 at the last generator step."""
    return float(run.estimates[-batches:].mean()), run.exact_w1[max(run.exact_w1)]


rows = [("critic, weight clipping (Algorithm 1 constants)", critics["clip"].estimate, exact_plan.cost),
        ("  ... divided by its largest gradient norm", critics["clip"].rescaled, exact_plan.cost),
        ("critic, gradient penalty (lambda = 10)", critics["gp"].estimate, exact_plan.cost),
        ("  ... divided by its largest gradient norm", critics["gp"].rescaled, exact_plan.cost),
        ("WGAN-GP (lambda = 0.1), last 50 generator steps", *last_gap(gp_run)),
        ("WGAN, clipping c = 0.05, last 50 generator steps", *last_gap(tuned_run)),
        ("WGAN, Algorithm 1 defaults, last 50 gen. steps", *last_gap(clip_run))]
print(f"{'estimate':<52}{'value':>9}{'exact W1':>10}{'ratio':>8}")
for name, value, exact in rows:
    print(f"{name:<52}{value:>9.4f}{exact:>10.4f}{value / exact:>8.3f}")

# %% [markdown]
# What to take away:
#
# - W1 is an infimum over couplings; in 1-D it is the area between the CDFs (the slides' example: exactly
#   3), from samples it is sorting, between point clouds it is a linear program. Couplings may split the
#   mass at a point, which transport maps cannot: from one point mass to two half masses no map exists,
#   and W1 is the cost of the only plan.
# - Unlike KL and JS, W keeps measuring distance when the supports do not overlap: its gradient points home.
# - The dual (with expectations, not absolute values) makes W learnable by a critic, if the critic is kept
#   1-Lipschitz. Weight clipping gives an unknown Lipschitz constant K: with the default c = 0.01 the gap
#   is thousands of times too small (dividing by the measured K recovers the order of magnitude), and
#   Algorithm 1's α learns slowly. The gradient penalty with λ = 10 estimates W1 to within 10 % (a little
#   above it: the constraint is soft); a small λ makes a looser, larger estimate.
# - The generator learns only through the critic's slope at its own samples:
#   $\nabla_\theta L_G = -\frac1m \sum_i J_\theta g^\top \nabla_x f(g_\theta(z^{(i)}))$.
# - During WGAN training every critic's gap falls with the exact W1; on the ring, a continuous generator of
#   a Gaussian always leaves some mass on bridges between the modes, which training can only thin out.

# %% [markdown]
# ## Your score
# Re-run the `check` cells after changing an exercise; this table shows the latest result of each.

# %% tags=["nbval-check-output"]
score_table("04")
