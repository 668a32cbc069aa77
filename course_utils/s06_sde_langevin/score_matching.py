r"""Denoising score matching on a Gaussian path, and sampling with the SDE (lecture: "Score matching training").

The conditional score of the Gaussian path :math:`x = \alpha_t z + \beta_t \varepsilon` is
:math:`\nabla \log p_t(x \mid z) = -(x - \alpha_t z)/\beta_t^2 = -\varepsilon/\beta_t`, so the conditional
score matching loss of the slides is

.. math:: \mathcal L_{CSM}(\theta) = E_{t, z, \varepsilon}\Big[\big\|s_\theta(\alpha_t z + \beta_t \varepsilon, t)
          + \varepsilon / \beta_t\big\|^2\Big]

(:func:`dsm_loss`). Theorem 3 holds at every t separately, so a weight :math:`\lambda_t > 0` per time leaves
the minimiser, the true score :math:`\nabla\log p_t`, unchanged. The target :math:`-\varepsilon/\beta_t` has
variance :math:`d/\beta_t^2`, which explodes as :math:`t \to 1`; we weight by
:math:`\lambda_t = \beta_t^2/\alpha_t^2` (:func:`flow_matching_weight`) and write the score network through a
velocity network :math:`v_\theta` and the exact score-velocity conversion (:class:`ScoreNet`). With that
weight the loss equals the flow matching loss :math:`\|v_\theta - (\dot\alpha_t z + \dot\beta_t \varepsilon)\|^2`
term by term: score matching and flow matching differ by a weight (slide "Denoising diffusion model").

After training, :func:`sample_sde` simulates
:math:`dX = [v_\theta + \frac{\sigma_t^2}{2} s_\theta]\,dt + \sigma_t\,dW` from :math:`X_0 \sim \mathcal N(0, I)`
with Euler-Maruyama, n steps reaching t = 1.

Taught in notebook ``06_sde_langevin``.

Shapes: data z, noise eps, points x: (n, d); times and path coefficients: (n, 1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..core.fit import fit
from ..core.nets import TimeMLP
from ..core.threads import one_thread
from ..core.validation import as_tensor, check_same_shape
from ..data.mixtures import GaussianMixture
from ..s05_flow_matching import probability_paths
from .sde import MixturePath, Sigma, euler_maruyama, sde_drift

__all__ = [
    "T_RANGE",
    "ScoreNet",
    "ScoreRun",
    "dsm_loss",
    "dsm_loss_floor",
    "dsm_step",
    "late_share",
    "dsm_target",
    "flow_matching_weight",
    "sample_sde",
    "score_errors",
    "score_from_velocity",
    "train_score_model",
    "vanishing_sigma",
]

#: Training times are drawn uniformly in this range: the weight beta^2 / alpha^2 is infinite at t = 0,
#: and the target eps / beta_t at t = 1.
T_RANGE = (1e-3, 1.0 - 1e-3)


def dsm_target(eps, beta_t) -> Tensor:
    r"""The conditional score at :math:`x = \alpha_t z + \beta_t \varepsilon`: :math:`-\varepsilon/\beta_t`, (n, d)."""
    return -as_tensor(eps, "eps") / as_tensor(beta_t, "beta_t")


def dsm_loss(score_model: Callable[[Tensor, Tensor], Tensor], z, t, eps, alpha_t, beta_t, weight=None) -> Tensor:
    r"""The slide's denoising score matching loss on a batch:

    .. math:: \frac1n\sum_i \lambda_i \|s_\theta(x_i, t_i) + \varepsilon_i/\beta_{t_i}\|^2

    Args:
        score_model: ``s(x (n, d), t (n, 1)) -> (n, d)``.
        z: data points, shape (n, d); eps: their noise, shape (n, d).
        t: times, shape (n, 1); alpha_t, beta_t: the path's coefficients at t, shape (n, 1), beta_t > 0.
        weight: optional per-sample weight lambda_t, shape (n, 1) or (n,) (None: the slide's loss, weight 1).

    Returns:
        A scalar: the squared norm sums over coordinates, the mean runs over the batch.
    """
    z, eps = as_tensor(z, "z"), as_tensor(eps, "eps")
    check_same_shape(z, eps, "z", "eps")
    if bool((as_tensor(beta_t, "beta_t") <= 0).any()):
        raise ValueError("beta_t must be > 0: at t = 1 the target eps / beta_t is infinite")
    x = alpha_t * z + beta_t * eps
    per_sample = ((score_model(x, t) + eps / beta_t) ** 2).sum(-1)
    if weight is not None:
        per_sample = as_tensor(weight, "weight", per_sample.dtype).reshape(-1) * per_sample
    return per_sample.mean()


def dsm_step(score_model: nn.Module, optimizer: torch.optim.Optimizer, z, t, eps, alpha_t, beta_t) -> float:
    r"""One optimisation step of weighted denoising score matching (the slide's training loop, one iteration).

    The loss is the batch mean of :math:`\lambda_t \|s_\theta(\alpha_t z + \beta_t\varepsilon, t)
    + \varepsilon/\beta_t\|^2` with :math:`\lambda_t = \beta_t^2/\alpha_t^2` (:func:`flow_matching_weight`,
    written here from the given coefficients so that any Gaussian path works); the optimiser's gradients are
    zeroed first, then one backward pass and one ``optimizer.step()``.

    Args:
        score_model: ``s(x (n, d), t (n, 1)) -> (n, d)``, the parameters ``optimizer`` updates.
        optimizer: a torch optimiser over ``score_model``'s parameters.
        z, eps: data and noise, shape (n, d); t, alpha_t, beta_t: shape (n, 1), alpha_t > 0 and beta_t > 0.

    Returns:
        The weighted loss before the step, a float.

    Graded in exercise 6.6 (notebook ``06_sde_langevin``).
    """
    alpha_t, beta_t = as_tensor(alpha_t, "alpha_t"), as_tensor(beta_t, "beta_t")
    if bool((alpha_t <= 0).any()):
        raise ValueError("alpha_t must be > 0: the weight beta_t^2 / alpha_t^2 is infinite at t = 0")
    optimizer.zero_grad()
    x = alpha_t * z + beta_t * eps
    per_sample = ((score_model(x, t) + eps / beta_t) ** 2).sum(-1)
    loss = ((beta_t / alpha_t) ** 2).reshape(-1).mul(per_sample).mean()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@dataclass(frozen=True)
class LateShare:
    """How much of a DSM loss comes from the times t > t_late, and from a handful of samples.

    Attributes:
        loss: the late samples' share of the batch loss, in [0, 1].
        top: the share of the batch loss carried by its largest 1% of per-sample terms.
        times: the fraction of the batch with t > t_late.
    """

    loss: float
    top: float
    times: float


@torch.no_grad()
def late_share(score_model: nn.Module, z, t, eps, alpha_t, beta_t, weight=None, t_late: float = 0.9) -> LateShare:
    r"""The share of the times :math:`t > t_{late}` (nearest the data) in a DSM loss on a batch.

    With the slide's unweighted loss the target :math:`-\varepsilon/\beta_t` has size :math:`\sqrt d/\beta_t`,
    so the few samples near t = 1 carry most of the loss, and the largest 1% of the terms a large part of it:
    the loss (and its gradient) then follow whichever samples landed nearest t = 1. A weight :math:`\lambda_t`
    (``weight``, shape (n, 1)) rebalances the times.
    """
    late = as_tensor(t, "t").reshape(-1) > t_late
    x = alpha_t * z + beta_t * eps
    per_sample = ((score_model(x, t) + eps / beta_t) ** 2).sum(-1)
    if weight is not None:
        per_sample = as_tensor(weight, "weight", per_sample.dtype).reshape(-1) * per_sample
    total = per_sample.sum()
    k = max(1, -(-len(per_sample) // 100))
    return LateShare(float(per_sample[late].sum() / total), float(per_sample.topk(k).values.sum() / total),
                     float(late.double().mean()))


def dsm_loss_floor(mixture: GaussianMixture, times, n: int = 4000, seed: int = 0,
                   path: str | probability_paths.GaussianPath = "linear") -> Tensor:
    r"""What the slide's loss still costs at the exact score, per time:
    :math:`E\|\nabla\log p_t(x) + \varepsilon/\beta_t\|^2`.

    For Gaussian-mixture data the marginal score is exact (:class:`~.sde.MixturePath`); the floor is
    :math:`E\|\varepsilon - E[\varepsilon \mid x]\|^2 / \beta_t^2`, which grows like :math:`d/\beta_t^2` as
    :math:`t \to 1`: with t uniform, the unweighted loss is dominated by the times nearest the data.
    times: (T,) in [0, 1). Returns (T,), float64, each a Monte Carlo mean over n draws.
    """
    mp, s = MixturePath(mixture, path), probability_paths.gaussian_path(path)
    g = torch.Generator().manual_seed(seed)
    floor = []
    for t in as_tensor(times, "times", torch.float64).tolist():
        z = mixture.sample(n, g)
        eps = torch.randn(z.shape, generator=g, dtype=torch.float64)
        a, b = s.alpha(torch.tensor(t, dtype=torch.float64)), s.beta(torch.tensor(t, dtype=torch.float64))
        floor.append(((mp.score(a * z + b * eps, t) + eps / b) ** 2).sum(-1).mean())
    return torch.stack(floor)


def flow_matching_weight(t: Tensor, path: str | probability_paths.GaussianPath = "linear") -> Tensor:
    r""":math:`\lambda_t = \beta_t^2 / \alpha_t^2`: with a :class:`ScoreNet`, the weighted DSM loss is flow matching's.

    (Proof: :math:`s_\theta + \varepsilon/\beta_t
    = \frac{\alpha_t}{\beta_t\,c_t}\big(v_\theta - \dot\alpha_t z - \dot\beta_t\varepsilon\big)`
    with :math:`c_t = \beta_t\dot\alpha_t - \dot\beta_t\alpha_t`; for the linear and cosine paths :math:`c_t = 1`
    and :math:`\pi/2`, so the weight is exact for the linear path and a constant factor away for the cosine one.)
    """
    s = probability_paths.gaussian_path(path)
    return s.beta(t) ** 2 / s.alpha(t) ** 2


def score_from_velocity(velocity, x, t, path: str | probability_paths.GaussianPath = "linear") -> Tensor:
    r"""The score of a Gaussian path from its velocity, in a form that is finite at t = 0:

    .. math:: \nabla \log p_t(x)
              = \frac{\alpha_t\,u_t(x) - \dot\alpha_t\,x}{\beta_t^2 \dot\alpha_t - \beta_t \dot\beta_t \alpha_t}

    (:func:`course_utils.s05_flow_matching.probability_paths.velocity_to_score` multiplied through by
    :math:`\alpha_t`). At t = 0 it gives :math:`-x`, the score of :math:`p_0 = \mathcal N(0, I)`; it needs
    :math:`\beta_t > 0`, i.e. t < 1.
    velocity, x: (n, d); t: a number or (n,) / (n, 1). Returns (n, d).
    """
    x = as_tensor(x, "x")
    velocity = as_tensor(velocity, "velocity", x.dtype)
    check_same_shape(velocity, x, "velocity", "x")
    s, t = probability_paths.gaussian_path(path), probability_paths.expand_t(t, x)
    alpha, beta, d_alpha, d_beta = s.alpha(t), s.beta(t), s.d_alpha(t), s.d_beta(t)
    denominator = beta**2 * d_alpha - beta * d_beta * alpha
    if bool((beta <= 1e-12).any()):  # (the cosine path's beta_1 is 6e-17 in floating point, not 0)
        raise ValueError("score_from_velocity needs t < 1 (beta_t > 0): at t = 1 the velocity carries no score")
    return (alpha * velocity - d_alpha * x) / denominator


class ScoreNet(nn.Module):
    r"""A score network :math:`s_\theta(x, t)` written through a velocity network :math:`v_\theta` (a :class:`TimeMLP`).

    ``forward(x, t)`` returns the score (:func:`score_from_velocity` of the network's output);
    ``velocity(x, t)`` the network's output itself, the matching vector field. Both (n, d), t: (n, 1).
    """

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 3,
                 path: str | probability_paths.GaussianPath = "linear"):
        super().__init__()
        self.net = TimeMLP(dim, width, depth).float()  # TimeMLP computes in float32, whatever the default dtype
        self.path = probability_paths.gaussian_path(path)

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(x, t)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return score_from_velocity(self.net(x, t), x, t, self.path)


@dataclass
class ScoreRun:
    """A trained score network: the model, its weighted DSM loss per step (steps,), and the training seconds."""

    model: ScoreNet
    losses: Tensor
    seconds: float


def train_score_model(sample_data: Callable[[int], Tensor], steps: int = 3000, batch: int = 256, lr: float = 2e-3,
                      final_lr: float = 3e-4, final_fraction: float = 0.2, width: int = 128, depth: int = 3,
                      seed: int = 0, path: str | probability_paths.GaussianPath = "linear", progress: bool = True,
                      max_seconds: float | None = None, desc: str = "score matching",
                      weighted: bool = True) -> ScoreRun:
    r"""Train a :class:`ScoreNet` by denoising score matching with :func:`course_utils.core.fit.fit`.

    Each step (the slide's algorithm): draw z from the data, :math:`t \sim U` on :data:`T_RANGE`,
    :math:`\varepsilon \sim \mathcal N(0, I)`, set :math:`x = \alpha_t z + \beta_t\varepsilon`, and take an
    Adam step on the batch mean of :math:`\lambda_t \|s_\theta(x, t) + \varepsilon/\beta_t\|^2` with
    :math:`\lambda_t = \beta_t^2/\alpha_t^2` (:func:`flow_matching_weight`). The last ``final_fraction`` of the
    steps run at the smaller ``final_lr`` (a second call of ``fit``: a step decay of the learning rate, which
    settles the weights that Adam's noise keeps moving at ``lr``). Runs on one thread.

    Args:
        sample_data: ``n -> (n, d)`` fresh data points (float32).
        steps, batch: Adam updates in all, batch size; lr, final_lr: the two learning rates.
        width, depth: the network's size; seed: fixes the initial weights and the draws of t and eps.
        max_seconds: a time budget for the whole run (split between the two phases like the steps).
        weighted: False trains on the slide's unweighted loss instead (to show why the weight is there).
    """
    if not 0 <= final_fraction < 1:
        raise ValueError(f"final_fraction must be in [0, 1), got {final_fraction}")
    s = probability_paths.gaussian_path(path)
    torch.manual_seed(seed)
    model = ScoreNet(sample_data(2).shape[1], width, depth, s)
    g = torch.Generator().manual_seed(seed + 1)
    lo, hi = T_RANGE

    def loss_fn(m: ScoreNet, z: Tensor) -> Tensor:
        t = lo + (hi - lo) * torch.rand(len(z), 1, generator=g, dtype=z.dtype)
        eps = torch.randn(z.shape, generator=g, dtype=z.dtype)
        return dsm_loss(m, z, t, eps, s.alpha(t), s.beta(t), weight=flow_matching_weight(t, s) if weighted else None)

    final = int(round(final_fraction * steps))
    phases = [(steps - final, lr, desc), (final, final_lr, f"{desc} (lr {final_lr:g})")]
    import tqdm.auto  # noqa: F401  fit's progress bar: its first import can take seconds, keep it off the clock
    start, losses = time.perf_counter(), []
    with one_thread():
        for n, phase_lr, label in phases:
            if n == 0:
                continue
            budget = None if max_seconds is None else max(max_seconds * n / steps, 1e-3)
            losses.append(fit(model, loss_fn, lambda: sample_data(batch), n, lr=phase_lr, progress=progress,
                              desc=label, max_seconds=budget))
    model.eval()
    return ScoreRun(model, torch.cat(losses), time.perf_counter() - start)


@torch.no_grad()
def score_errors(model: nn.Module, exact: MixturePath, times, n: int = 1000, seed: int = 0) -> Tensor:
    r"""The relative error :math:`E\|s_\theta - \nabla\log p_t\| / E\|\nabla\log p_t\|` at each time, on n
    samples of the exact :math:`p_t` (float64, shape (len(times),)). 0 is perfect; 1 is as bad as the zero field.
    """
    g = torch.Generator().manual_seed(seed)
    errors = []
    with one_thread():
        for t in as_tensor(times, "times", torch.float64).reshape(-1).tolist():
            x = exact.marginal(t).sample(n, g)
            learned = model(x.float(), torch.full((n, 1), t)).double()
            true = exact.score(x, t)
            errors.append((learned - true).norm(dim=1).mean() / true.norm(dim=1).mean())
    return torch.stack(errors)


def vanishing_sigma(scale: float, path: str | probability_paths.GaussianPath = "linear") -> Callable[[float], float]:
    r"""The diffusion coefficient :math:`\sigma_t = \text{scale}\cdot\beta_t`: noisy at t = 0, none at t = 1."""
    if not scale >= 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    s = probability_paths.gaussian_path(path)
    return lambda t: scale * float(s.beta(torch.tensor(float(t))))


@torch.no_grad()
def sample_sde(model: ScoreNet, n: int, sigma: Sigma = 0.0, n_steps: int = 200, seed: int = 0,
               return_path: bool = False) -> Tensor:
    r"""Sample a trained :class:`ScoreNet`: :math:`dX = [v_\theta + \frac{\sigma_t^2}{2} s_\theta]\,dt + \sigma_t\,dW`.

    :math:`X_0 \sim \mathcal N(0, I)`, then ``n_steps`` Euler-Maruyama steps i = 0, ..., n - 1 of size 1/n: the
    last one reaches t = 1 (the slide's loop stops at 1 - h). ``sigma``: a number or ``t -> sigma_t``
    (0: the probability-flow ODE). A constant sigma > 0 makes the last steps stiff (the score of sharp data
    is large); :func:`vanishing_sigma` avoids that. Returns (n, d), or (n_steps + 1, n, d) with ``return_path``.
    """
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, model.net.dim, generator=g)

    def drift(x: Tensor, t: Tensor) -> Tensor:
        sigma_t = float(sigma(float(t[0]))) if callable(sigma) else float(sigma)
        v = model.velocity(x, t)
        if sigma_t == 0:
            return v
        return sde_drift(v, score_from_velocity(v, x, t, model.path), sigma_t)

    with one_thread():
        return euler_maruyama(drift, sigma, x0, 0.0, 1.0, n_steps, g, return_path)
