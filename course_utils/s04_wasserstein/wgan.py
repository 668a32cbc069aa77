r"""Wasserstein GANs: the Kantorovich-Rubinstein critic, its Lipschitz constraint, and WGAN training.

Taught in notebook ``04_wasserstein`` (slides "Wasserstein GANs (Arjovsky et al. 2017)" and
its Algorithm 1). The Kantorovich-Rubinstein duality (with expectations, not absolute values:
see the course's errata) turns W1 into a maximisation over 1-Lipschitz critics f,

.. math:: W(p_X, p_\theta) = \sup_{\|f\|_L \le 1} E_{x \sim p_X}[f(x)] - E_{x \sim p_\theta}[f(x)],

so a network :math:`f_w` kept (roughly) Lipschitz can estimate W1, and a generator can descend
that estimate. Two ways to keep :math:`f_w` Lipschitz:

- weight clipping (Arjovsky et al. 2017, Algorithm 1): :math:`w \leftarrow \mathrm{clip}(w, -c, c)`
  after each critic update: f is then K-Lipschitz for some unknown K (not 1);
- the gradient penalty (Gulrajani et al. 2017): add
  :math:`\lambda E_{\hat x}[(\|\nabla f(\hat x)\|_2 - 1)^2]` at random interpolates
  :math:`\hat x = \epsilon x + (1 - \epsilon) \tilde x` between real and generated points.

Critics and generators are the MLPs of :mod:`course_utils.s03_gans.gan_training`; a critic maps points
(m, d) to scores (m, 1). Training reuses :class:`~course_utils.s03_gans.gan_training.AdversarialTrainer`
(the WGAN) and :func:`~course_utils.core.fit.fit` (a critic alone).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from ..core.fit import fit
from ..core.nets import mlp
from ..core.threads import one_thread
from ..core.validation import as_tensor
from ..data.mixtures import GaussianMixture
from ..s03_gans.gan_training import AdversarialTrainer, GANRun
from .transport import w1_point_clouds

__all__ = [
    "ALGORITHM_1",
    "GP",
    "CriticFit",
    "WGANRun",
    "WGANTrainer",
    "clip_weights",
    "critic_loss",
    "critic_steps",
    "generator_grad",
    "gradient_penalty",
    "kr_objective",
    "lipschitz_estimate",
    "off_mode_mask",
    "train_critic",
    "train_wgan_2d",
]

Method = Literal["clip", "gp"]
#: Algorithm 1's defaults (Arjovsky et al. 2017): RMSProp learning rate, clipping range, batch, critic steps.
ALGORITHM_1 = {"lr": 5e-5, "c": 0.01, "batch": 64, "n_critic": 5}
#: WGAN-GP's defaults (Gulrajani et al. 2017, Algorithm 1): penalty weight, Adam's settings, critic steps.
GP = {"lam": 10.0, "lr": 1e-4, "betas": (0.0, 0.9), "n_critic": 5}


def _scores(f, name: str) -> Tensor:
    f = as_tensor(f, name)
    if f.ndim == 2 and f.shape[1] == 1:
        f = f[:, 0]
    if f.ndim != 1 or len(f) == 0:
        raise ValueError(f"{name} must hold one critic score per point, shape (m,) or (m, 1), got {tuple(f.shape)}")
    return f


def kr_objective(f_real, f_fake) -> Tensor:
    r"""The Kantorovich-Rubinstein objective of a critic on two batches (what the critic maximises).

    .. math:: \hat W = \frac1m \sum_{i=1}^m f(x^{(i)}) - \frac1{m'} \sum_{j=1}^{m'} f(\tilde x^{(j)})

    For a 1-Lipschitz f it is a lower bound on W1 (in expectation); for the best one, W1 itself.
    No absolute values (the slides' slip; see the notebook's note).

    Args:
        f_real: scores on real points, shape (m,) or (m, 1).
        f_fake: scores on generated points, shape (m',) or (m', 1).

    Returns:
        A tensor of shape () (differentiable).
    """
    return _scores(f_real, "f_real").mean() - _scores(f_fake, "f_fake").mean()


def critic_loss(f_real, f_fake) -> Tensor:
    r"""The loss a critic minimises (Algorithm 1, line 5, ascent written as descent):
    :math:`\frac1{m'}\sum_j f(\tilde x^{(j)}) - \frac1m \sum_i f(x^{(i)})`, shape ().

    """
    return -kr_objective(f_real, f_fake)


@torch.no_grad()
def clip_weights(critic: nn.Module, c: float) -> list[Tensor]:
    r"""Algorithm 1, line 7: :math:`w \leftarrow \mathrm{clip}(w, -c, c)` for every parameter, in place.

    Every weight and every bias is clamped to [-c, c] (not the gradients, and not rescaled
    by a norm). Done under ``torch.no_grad()``: it is not part of the model's computation.

    Args:
        critic: the critic network (modified in place).
        c: the clipping parameter, > 0 (Algorithm 1: 0.01).

    Returns:
        The critic's parameters after clipping, in ``critic.parameters()`` order.

    Graded in exercise 4.3 (notebook ``04_wasserstein``).
    """
    if not c > 0:
        raise ValueError(f"the clipping parameter c must be > 0, got {c}")
    params = list(critic.parameters())
    for p in params:
        p.clamp_(-c, c)
    return params


def critic_steps(critic: nn.Module, opt: torch.optim.Optimizer, x_real, x_fake, c: float) -> Tensor:
    r"""Algorithm 1, lines 2-8 (Arjovsky et al. 2017): :math:`n_{critic}` critic updates, each followed by clipping.

    For k = 1, ..., :math:`n_{critic}`, on the k-th real batch :math:`x^{(i)}` and generated batch
    :math:`\tilde x^{(j)}` (generated beforehand: no gradient reaches the generator):

    .. math::
        L_k = \frac1{m'} \sum_j f_w(\tilde x^{(j)}) - \frac1m \sum_i f_w(x^{(i)}), \qquad
        w \leftarrow \mathrm{opt}(w, \nabla_w L_k), \qquad w \leftarrow \mathrm{clip}(w, -c, c),

    with the gradients zeroed before each backward pass (they would otherwise accumulate over the
    updates). Descending :math:`L_k` ascends the Kantorovich-Rubinstein gap; clipping comes after
    the update (line 7 after line 6), so that the critic the generator meets is clipped.

    Args:
        critic: the critic f_w, points (m, d) -> scores (m, 1); updated in place.
        opt: an optimiser over the critic's parameters (Algorithm 1: RMSProp).
        x_real: the real batches, shape (n_critic, m, d).
        x_fake: the generated batches, shape (n_critic, m', d).
        c: the clipping parameter, > 0.

    Returns:
        The loss :math:`L_k` of each update (before its step), float64, shape (n_critic,).

    Graded in exercise 4.4 (notebook ``04_wasserstein``).
    """
    x_real, x_fake = as_tensor(x_real, "x_real"), as_tensor(x_fake, "x_fake")
    if x_real.ndim != 3 or x_fake.ndim != 3 or len(x_real) != len(x_fake):
        raise ValueError("x_real and x_fake hold n_critic batches each, shapes (n_critic, m, d) and "
                         f"(n_critic, m', d), got {tuple(x_real.shape)} and {tuple(x_fake.shape)}")
    if not c > 0:
        raise ValueError(f"the clipping parameter c must be > 0, got {c}")
    losses = []
    for real, fake in zip(x_real, x_fake, strict=True):
        opt.zero_grad()
        loss = critic(fake.detach()).mean() - critic(real).mean()
        loss.backward()
        opt.step()
        clip_weights(critic, c)
        losses.append(float(loss.detach()))
    return torch.tensor(losses, dtype=torch.float64)


def generator_grad(critic: nn.Module, x_fake) -> Tensor:
    r"""The gradient of the WGAN generator's loss with respect to each generated point.

    The generator minimises :math:`L_G = -\frac1m \sum_i f_w(\tilde x^{(i)})` with
    :math:`\tilde x^{(i)} = g_\theta(z^{(i)})` (Algorithm 1, line 10), so

    .. math:: \frac{\partial L_G}{\partial \tilde x^{(i)}} = -\frac1m \nabla_x f_w(\tilde x^{(i)}),
       \qquad \nabla_\theta L_G = -\frac1m \sum_i J_\theta g_\theta(z^{(i)})^\top \nabla_x f_w(\tilde x^{(i)}) :

    each sample is pushed up the critic's slope, by at most 1/m for a 1-Lipschitz critic.

    Args:
        critic: the critic f_w, points (m, d) -> scores (m, 1).
        x_fake: the generated points, shape (m, d).

    Returns:
        The gradient, shape (m, d) (no graph attached).

    Graded in exercise 4.6 (notebook ``04_wasserstein``).
    """
    x = as_tensor(x_fake, "x_fake").detach().clone()
    if x.ndim != 2:
        raise ValueError(f"x_fake must be a batch of points, shape (m, d), got {tuple(x.shape)}")
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(-critic(x).mean(), x)
    return grad


def gradient_penalty(critic: nn.Module, x_real, x_fake, eps) -> Tensor:
    r"""The WGAN-GP penalty (Gulrajani et al. 2017), without its weight :math:`\lambda`.

    .. math::
        \hat x^{(i)} = \epsilon_i x^{(i)} + (1 - \epsilon_i)\tilde x^{(i)}, \qquad
        GP = \frac1m \sum_{i=1}^m \big(\|\nabla_{\hat x} f(\hat x^{(i)})\|_2 - 1\big)^2

    The gradient is taken with ``create_graph=True`` so that the penalty itself can be
    differentiated with respect to the critic's weights (otherwise it would not train them).

    Args:
        critic: maps points (m, d) to scores (m, 1) or (m,).
        x_real: real points, shape (m, d).
        x_fake: generated points, shape (m, d).
        eps: one mixing weight per pair, in [0, 1], shape (m, 1) or (m,).

    Returns:
        A tensor of shape (), differentiable with respect to the critic's parameters.

    Graded in exercise 4.5 (notebook ``04_wasserstein``).
    """
    x_real, x_fake = as_tensor(x_real, "x_real"), as_tensor(x_fake, "x_fake")
    if x_real.shape != x_fake.shape or x_real.ndim < 2:
        raise ValueError(f"x_real and x_fake must be batches of the same shape (m, d), got {tuple(x_real.shape)} "
                         f"and {tuple(x_fake.shape)}")
    eps = as_tensor(eps, "eps", x_real.dtype).reshape(-1, *([1] * (x_real.ndim - 1)))
    if eps.shape[0] != x_real.shape[0]:
        raise ValueError(f"eps needs one weight per pair, {x_real.shape[0]} of them, got {eps.shape[0]}")
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def lipschitz_estimate(critic: nn.Module, points) -> float:
    r"""The largest gradient norm :math:`\max_k \|\nabla f(p_k)\|_2` over the given points (n, d).

    A lower bound on the critic's Lipschitz constant K (the true K is the sup over all
    points); dividing the critic by it gives a roughly 1-Lipschitz function.
    """
    x = as_tensor(points, "points", next(critic.parameters()).dtype).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return float(grad.flatten(1).norm(dim=1).max())


def _penalised_loss(critic, x_real, x_fake, eps, lam: float) -> tuple[Tensor, Tensor]:
    """(critic loss + lam * GP, the KR objective), with one forward pass through the critic."""
    m = len(x_real)
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    scores = critic(torch.cat([x_real, x_fake, x_hat]))[:, 0]
    (grad,) = torch.autograd.grad(scores[2 * m:].sum(), x_hat, create_graph=True)
    objective = scores[:m].mean() - scores[m:2 * m].mean()
    return -objective + lam * ((grad.norm(dim=1) - 1) ** 2).mean(), objective


def off_mode_mask(samples, target: GaussianMixture, k: float = 3.0) -> Tensor:
    r"""Which samples lie off the target's modes: farther than k standard deviations from every mean.

    For an isotropic 2-D Gaussian a fraction :math:`e^{-k^2/2}` of its own mass lies beyond k standard
    deviations (1.1 % for k = 3), so a perfect sampler of the mixture has about that much off the modes;
    a generator that keeps bridges between the modes has more.

    Args:
        samples: points, shape (n, d).
        target: an isotropic mixture (means (K, d), variances (K,)).
        k: the radius, in standard deviations.

    Returns:
        A boolean tensor of shape (n,).
    """
    x = as_tensor(samples, "samples", torch.float64).detach()
    dist = torch.cdist(x, target.means) / target.variances.sqrt()
    return dist.min(1).values > k


# --- a critic alone: estimating W1 between two point clouds ----------------------------------


@dataclass
class CriticFit:
    r"""A critic trained to estimate W1 between two fixed point clouds.

    Attributes:
        critic: the network f (float32), points (m, 2) -> scores (m, 1).
        method: "clip" (weight clipping, c) or "gp" (gradient penalty, lam).
        objective: the KR objective on each training batch, shape (steps,).
        estimate: :math:`\frac1n \sum f(x_i) - \frac1m \sum f(y_j)` on the whole clouds.
        lipschitz: the largest gradient norm of f over the clouds and their interpolates.
        snapshots: {step: critic values on ``grid`` (G, G)} recorded during training; and at those
            steps, ``snapshot_estimates`` {step: estimate on the whole clouds} and
            ``snapshot_lipschitz`` {step: largest gradient norm over the grid and the clouds}.
        seconds: training wall time (without the snapshots).
    """

    critic: nn.Module
    method: str
    objective: Tensor
    estimate: float
    lipschitz: float
    snapshots: dict = field(default_factory=dict)
    snapshot_estimates: dict = field(default_factory=dict)
    snapshot_lipschitz: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rescaled(self) -> float:
        """estimate / lipschitz: the estimate of the critic divided by its measured Lipschitz constant."""
        return self.estimate / self.lipschitz if self.lipschitz > 0 else math.nan


def train_critic(x, y, method: Method = "gp", steps: int = 1000, lr: float | None = None, batch: int | None = None,
                 c: float = ALGORITHM_1["c"], lam: float = GP["lam"], width: int = 64, seed: int = 0,
                 grid: Tensor | None = None, snapshot_every: int = 0, progress: bool = True) -> CriticFit:
    r"""Train a critic f to maximise :math:`E_x f - E_y f` between two clouds x (n, 2), y (m, 2).

    Runs :func:`course_utils.core.fit.fit` (Adam), on minibatches of both clouds:

    - ``"clip"``: Algorithm 1's constants by default (lr 5e-5, c = 0.01, batch 64). The weights
      are clipped before each gradient evaluation and once after the last step, which is
      Algorithm 1's "clip after every update" (fit's optimiser is Adam where the paper uses RMSProp);
    - ``"gp"``: the loss plus ``lam`` times the gradient penalty (lr 1e-3, batch 256 by default).

    ``grid`` (G * G, 2) and ``snapshot_every``: record the critic's values on the grid during
    training (the critic widget replays them).
    """
    if method not in ("clip", "gp"):
        raise ValueError(f"method must be 'clip' or 'gp', got {method!r}")
    x, y = as_tensor(x, "x", torch.float32), as_tensor(y, "y", torch.float32)
    lr = lr if lr is not None else (ALGORITHM_1["lr"] if method == "clip" else 1e-3)
    batch = batch if batch is not None else (ALGORITHM_1["batch"] if method == "clip" else 256)
    torch.manual_seed(seed)
    critic = mlp(x.shape[1], 1, width)
    draw = torch.Generator().manual_seed(seed + 1)
    mix = torch.rand(min(len(x), len(y)), 1, generator=torch.Generator().manual_seed(seed + 2))
    probe = torch.cat([x, y, mix * x[:len(mix)] + (1 - mix) * y[:len(mix)]])
    if grid is not None:
        grid = as_tensor(grid, "grid", torch.float32)
        probe = torch.cat([probe, grid])
    fit_result = CriticFit(critic, method, torch.zeros(0), math.nan, math.nan)
    objective: list[float] = []
    spent = [0.0]

    def snapshot(step):
        start = time.perf_counter()
        if grid is not None:
            with torch.no_grad():
                side = int(round(math.sqrt(len(grid))))
                fit_result.snapshots[step] = critic(grid)[:, 0].reshape(side, side).clone()
                fit_result.snapshot_estimates[step] = float(kr_objective(critic(x), critic(y)))
            fit_result.snapshot_lipschitz[step] = lipschitz_estimate(critic, probe)
        spent[0] += time.perf_counter() - start

    def batches():
        i = torch.randint(0, len(x), (batch,), generator=draw)
        j = torch.randint(0, len(y), (batch,), generator=draw)
        return x[i], y[j], torch.rand(batch, 1, generator=draw)

    def loss_fn(f, b):
        step = len(objective)
        if snapshot_every and step % snapshot_every == 0:
            snapshot(step)
        x_b, y_b, eps = b
        if method == "clip":
            clip_weights(f, c)
            scores = f(torch.cat([x_b, y_b]))[:, 0]
            value = scores[:batch].mean() - scores[batch:].mean()
            loss = -value
        else:
            loss, value = _penalised_loss(f, x_b, y_b, eps, lam)
        objective.append(float(value.detach()))
        return loss

    start = time.perf_counter()
    with one_thread():
        fit(critic, loss_fn, batches, steps, lr=lr, progress=progress, desc=f"critic ({method})")
        if method == "clip":
            clip_weights(critic, c)
        fit_result.seconds = time.perf_counter() - start - spent[0]
        snapshot(steps)
        with torch.no_grad():
            fit_result.estimate = float(kr_objective(critic(x), critic(y)))
        fit_result.lipschitz = lipschitz_estimate(critic, probe)
    fit_result.objective = torch.tensor(objective, dtype=torch.float64)
    return fit_result


# --- WGAN training ---------------------------------------------------------------------------


@dataclass
class WGANTrainer(AdversarialTrainer):
    r"""The alternating trainer of :mod:`course_utils.s03_gans.gan_training`, as Algorithm 1 runs it.

    ``d_steps`` = n_critic critic updates per generator update. ``optimizer="rmsprop"`` uses
    RMSProp for both networks (Arjovsky et al.: "momentum-based optimizers like Adam" made
    clipped WGANs unstable); ``"adam"`` keeps the parent's Adam (WGAN-GP). ``clip``: after each
    critic update, clamp its weights to [-clip, clip] (Algorithm 1, line 7); None for WGAN-GP.
    """

    optimizer: str = "adam"
    clip: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {self.optimizer!r}")
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be > 0 or None, got {self.clip}")
        if self.optimizer == "rmsprop":
            self.opt_d = torch.optim.RMSprop(self.opt_d.param_groups[0]["params"], lr=self.lr_d, foreach=True)
            self.opt_g = torch.optim.RMSprop(self.opt_g.param_groups[0]["params"], lr=self.lr_g, foreach=True)

    def step_d(self) -> float:
        """One critic update (Algorithm 1, lines 3-6), then the weight clipping (line 7) if any."""
        value = super().step_d()
        if self.clip is not None:
            for critic in self.discriminators:
                clip_weights(critic, self.clip)
        return value


@dataclass
class WGANRun(GANRun):
    """A trained WGAN: a :class:`~course_utils.s03_gans.gan_training.GANRun` (``discriminator`` is the critic) plus

    Attributes:
        method: "clip" or "gp".
        estimates: the critic's KR objective on each critic batch, shape (critic steps,).
        exact_w1: {generator step: exact W1 between ``n_track`` generated and target points (LP)}.
    """

    method: str = "gp"
    estimates: Tensor = field(default_factory=lambda: torch.zeros(0))
    exact_w1: dict = field(default_factory=dict)


def train_wgan_2d(target: GaussianMixture, method: Method = "gp", steps: int = 600, lr: float | None = None,
                  batch: int | None = None, n_critic: int = 5, c: float = ALGORITHM_1["c"], lam: float = GP["lam"],
                  betas: tuple[float, float] = (0.5, 0.9), width: int = 64, z_dim: int = 2, seed: int = 0,
                  snapshot_every: int = 0, n_snapshot: int = 512, track_every: int = 0, n_track: int = 400,
                  decay_last: float = 0.0, lr_g: float | None = None, progress: bool = True,
                  max_seconds: float | None = None, desc: str | None = None) -> WGANRun:
    r"""Train a WGAN on a 2-D mixture: ``steps`` generator updates, each after ``n_critic`` critic updates.

    - ``"clip"``: Algorithm 1 of Arjovsky et al. (2017): RMSProp, weights clipped to [-c, c];
      its defaults are lr 5e-5, c = 0.01, batch 64, n_critic 5 (:data:`ALGORITHM_1`);
    - ``"gp"``: WGAN-GP (Gulrajani et al. 2017): Adam with ``betas``, penalty weight ``lam``;
      lr 1e-3 and batch 256 by default here (Gulrajani's 1e-4 is too slow for a notebook).

    The generator minimises :math:`-\frac1m \sum_i f_w(g_\theta(z^{(i)}))` (line 10). The critic's
    KR objective is recorded at every critic step; every ``track_every`` generator steps the exact
    W1 between ``n_track`` generated and target points is computed by the LP (to compare).
    Everything random follows ``seed``. ``lr_g``: the generator's learning rate (default ``lr``).
    ``decay_last``: over that last fraction of the steps, both learning rates fall linearly to ~0
    (the game settles). ``max_seconds`` stops early (the decay then starts by 70 % of it).
    """
    if not 0.0 <= decay_last <= 1.0:
        raise ValueError(f"decay_last is a fraction of the steps, in [0, 1], got {decay_last}")
    if method not in ("clip", "gp"):
        raise ValueError(f"method must be 'clip' or 'gp', got {method!r}")
    lr = lr if lr is not None else (ALGORITHM_1["lr"] if method == "clip" else 1e-3)
    batch = batch if batch is not None else (ALGORITHM_1["batch"] if method == "clip" else 256)
    torch.manual_seed(seed)
    g_net, critic = mlp(z_dim, 2, width), mlp(2, 1, width)
    data_gen = torch.Generator().manual_seed(seed + 1)
    noise = torch.Generator().manual_seed(seed + 2)
    fixed_z = torch.randn(n_snapshot, z_dim, generator=torch.Generator().manual_seed(seed + 3))
    pool = target.sample(max(20_000, 50 * batch), data_gen).float()
    track_real = target.sample(n_track, torch.Generator().manual_seed(seed + 4)).float()
    track_z = torch.randn(n_track, z_dim, generator=torch.Generator().manual_seed(seed + 5))
    estimates: list[float] = []

    def d_loss():
        x = pool[torch.randint(0, len(pool), (batch,), generator=data_gen)]
        with torch.no_grad():
            fake = g_net(torch.randn(batch, z_dim, generator=noise))
        if method == "gp":
            loss, objective = _penalised_loss(critic, x, fake, torch.rand(batch, 1, generator=noise), lam)
        else:
            scores = critic(torch.cat([x, fake]))[:, 0]
            objective = scores[:batch].mean() - scores[batch:].mean()
            loss = -objective
        estimates.append(float(objective.detach()))
        return loss

    def g_loss():
        return -critic(g_net(torch.randn(batch, z_dim, generator=noise))).mean()

    trainer = WGANTrainer([critic], [g_net], d_loss, g_loss, lr, lr_g if lr_g is not None else lr, betas, n_critic,
                          optimizer="rmsprop" if method == "clip" else "adam",
                          clip=c if method == "clip" else None)
    snapshots: dict = {}
    exact: dict = {}

    def record(step):
        with torch.no_grad():
            if snapshot_every and step % snapshot_every == 0:
                snapshots[step] = g_net(fixed_z).clone()
            if track_every and step % track_every == 0:
                exact[step] = w1_point_clouds(g_net(track_z), track_real)

    every = math.gcd(snapshot_every, track_every) if snapshot_every and track_every else (snapshot_every or
                                                                                          track_every)
    record(0)
    if method == "clip":
        clip_weights(critic, c)
    n_decay = int(round(decay_last * steps))
    if every and n_decay:  # start the decay on a recording step, so that records stay on their grid
        n_decay = steps - every * ((steps - n_decay) // every)
    phases = [(steps - n_decay, False), (n_decay, True)]
    seconds = 0.0
    for n_steps, decay in phases:
        offset = len(trainer.history["g"])
        budget = None if max_seconds is None else (max_seconds - seconds) * (0.7 if not decay and n_decay else 1.0)
        if n_steps == 0 or (budget is not None and budget <= 0):
            continue
        seconds += trainer.train(n_steps, progress, desc or f"WGAN ({method})", every,
                                 (lambda step, offset=offset: record(step + offset)) if every else None,
                                 budget, decay)
    done = len(trainer.history["g"])
    with torch.no_grad():
        snapshots[done] = g_net(fixed_z).clone()
        if track_every:
            exact[done] = w1_point_clouds(g_net(track_z), track_real)
    return WGANRun(g_net, critic, trainer, snapshots, fixed_z, seconds, z_dim, method,
                   torch.tensor(estimates, dtype=torch.float64), exact)
