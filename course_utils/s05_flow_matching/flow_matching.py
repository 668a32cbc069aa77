r"""Conditional flow matching and classifier-free guidance (lecture: "Training" to "Classifier-free guidance").
Taught in notebook ``05_flow_matching``.

**The loss.** With :math:`x_t = \alpha_t x_1 + \beta_t \varepsilon` (:func:`~.probability_paths.sample_path`)
the conditional flow matching loss regresses a network onto the conditional velocity,

.. math:: \mathcal L_{CFM}(\theta) = \mathbb E_{t \sim U[0,1],\, x_1 \sim p_1,\, \varepsilon \sim \mathcal N(0, I)}
          \big\| v^\theta_t(x_t) - (\dot\alpha_t x_1 + \dot\beta_t \varepsilon) \big\|^2 ,

for the linear path :math:`\| v^\theta_t(x_t) - (x_1 - \varepsilon) \|^2` (the slides' :math:`x_1 - x_0`).
Batch estimate: the squared norm summed over coordinates, averaged over the batch (:func:`cfm_loss`).

**The marginal field it learns** is the posterior average of the conditional fields,
:math:`u_t(x) = \sum_i w_i(x)\, u_t(x \mid z_i)` for a finite target set (:func:`posterior_weights`,
:func:`conditional_paths_through`; the field itself is :func:`~.probability_paths.marginal_velocity`).

**Guidance.** One network learns :math:`v^\theta_t(x \mid y)` and, through a null label
:math:`\varnothing` that replaces y with probability :math:`\eta` during training (:func:`drop_labels`),
the unguided :math:`v^\theta_t(x) = v^\theta_t(x \mid \varnothing)`. Classifier-free guidance samples with

.. math:: \tilde v^\theta_t(x \mid y) = (1 - w)\, v^\theta_t(x) + w\, v^\theta_t(x \mid y), \qquad w \ge 0
          \quad (:func:`cfg_velocity`).

Training uses :func:`course_utils.core.fit.fit` (the course's one loop) on one thread, and keeps an
exponential moving average of the weights (:class:`~course_utils.core.fit.WeightAverage`), the standard trick of flow
matching and diffusion models: the averaged network is much less noisy than the last iterate.
Sampling integrates the field from t = 0 (noise) to t = 1 (data) with :func:`course_utils.core.ode.integrate`.
Shapes: points (n, d), times (n, 1), labels (n,) int64.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..core import ode
from ..core.fit import WeightAverage, fit
from ..core.nets import TimeMLP
from ..core.threads import one_thread
from ..core.validation import as_tensor
from ..data import toy2d as data
from ..data.mixtures import GaussianMixture
from . import probability_paths

__all__ = [
    "FlowRun",
    "GUIDED_TRAINING",
    "GuidanceStats",
    "GuidedRun",
    "RECIPE",
    "SAMPLER",
    "TRAINING",
    "W2Ratio",
    "CouplingCost",
    "cfg_velocity",
    "cfm_loss",
    "cfm_loss_floor",
    "cfm_step",
    "coupling_cost",
    "mixture_loss_floor",
    "ot_pairing",
    "class_mixture",
    "conditional_paths_through",
    "drop_labels",
    "exact_guided_field",
    "finite_set_field",
    "guidance_statistics",
    "guided_field",
    "labelled_eight_gaussians",
    "mixture_field",
    "posterior_weights",
    "sample_field",
    "target_sampler",
    "train_flow",
    "train_guided_flow",
    "w2_ratio",
]

#: How the course samples a trained flow: the midpoint rule with 50 steps (100 field evaluations).
SAMPLER = {"n_steps": 50, "method": "midpoint"}
#: t in [0, 1] is multiplied by this before the sinusoidal time embedding (frequencies up to ~100 rad per unit time;
#: 1000, TimeMLP's default, gave slightly worse samples on the moons).
TIME_SCALE = 100.0
#: The recipe shared by the course's trained flows (and the defaults of :func:`train_flow`, :func:`train_guided_flow`):
#: a narrow network (4 hidden layers of 32 units) on large batches with a high learning rate and a short weight
#: average. On one CPU thread a step costs a fixed overhead plus a part that grows with batch x width, so large
#: batches (less noisy gradients, which a high learning rate can follow) through a narrow network reach the targets
#: in few, cheap steps; a longer average (decay 0.995) lags behind so few steps.
RECIPE: dict = {"width": 32, "depth": 4, "batch": 1024, "lr": 1e-2, "ema": 0.99}
#: The settings of the course's trained flows (notebook 05 and ``make bench`` use the same), per target.
TRAINING: dict[str, dict] = {
    "moons": {**RECIPE, "steps": 1500},
    "eight_gaussians": {**RECIPE, "steps": 600},
    "checkerboard": {**RECIPE, "steps": 1300},
}
#: The guided flow of the notebook (the labelled 8 Gaussians).
GUIDED_TRAINING: dict = {**RECIPE, "steps": 600, "eta": 0.2}
#: The exact mixture fields are evaluated at t >= T_MIN: at t = 0 the score-to-velocity conversion
#: divides by alpha_0 = 0.
T_MIN = 1e-3

VectorField = Callable[[Tensor, Tensor], Tensor]


# --- the loss ---------------------------------------------------------------------------------


def cfm_loss(model: nn.Module, x_1: Tensor, t, eps: Tensor, path: str | probability_paths.GaussianPath = "linear",
             y: Tensor | None = None) -> Tensor:
    r"""The conditional flow matching loss on a batch (slides "Training algorithm").

    .. math:: \frac1n \sum_{i=1}^n \big\| v^\theta(x_{t,i}, t_i[, y_i]) - (\dot\alpha_{t_i} x_{1,i}
              + \dot\beta_{t_i} \varepsilon_i) \big\|^2

    Args:
        model: ``model(x (n, d), t (n, 1)[, y (n,)]) -> (n, d)``.
        x_1: data, shape (n, d); eps: noise (the source sample x_0), shape (n, d).
        t: times in [0, 1], shape (n,) or (n, 1).
        path: the scheduler (default linear: the target is x_1 - eps).
        y: labels (n,) for a guided model (the null label where dropped), or None.

    Returns:
        A scalar tensor (gradients flow to the model's parameters).
    """
    ps = probability_paths.sample_path(x_1, t, eps, path)
    v = model(ps.x_t, ps.t) if y is None else model(ps.x_t, ps.t, y)
    return ((v - ps.dx_t) ** 2).sum(dim=1).mean()


def cfm_step(model: nn.Module, optimizer: torch.optim.Optimizer, x_1: Tensor, x_0: Tensor, t: Tensor) -> float:
    r"""One training step of conditional flow matching, linear path (slides "Training algorithm").

    The caller has drawn the batch: data :math:`x_1`, noise :math:`x_0 = \varepsilon` and times t. The step builds
    :math:`x_t = t\, x_1 + (1 - t)\, x_0` and the target :math:`\frac{d}{dt} x_t = x_1 - x_0`, then takes one
    optimiser step on

    .. math:: \frac1n \sum_{i=1}^n \big\| v^\theta(x_{t,i}, t_i) - (x_{1,i} - x_{0,i}) \big\|^2 ,

    after clearing any gradient left in the parameters.

    Args:
        model: ``model(x (n, d), t (n, 1)) -> (n, d)``, the parameters ``optimizer`` updates.
        optimizer: a ``torch.optim`` optimiser over the model's parameters.
        x_1: data, shape (n, d); x_0: noise, shape (n, d); t: times in [0, 1], shape (n, 1).

    Returns:
        The batch loss before the step, a float.

    Graded in exercise 5.4 (notebook ``05_flow_matching``).
    """
    t = torch.as_tensor(t, dtype=x_1.dtype).reshape(-1, 1)
    x_t = t * x_1 + (1 - t) * x_0
    loss = ((model(x_t, t) - (x_1 - x_0)) ** 2).sum(dim=1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def cfm_loss_floor(points: Tensor, x_1: Tensor, x_0: Tensor, t: Tensor) -> Tensor:
    r"""The smallest value the CFM loss can take on a batch, for a finite target set (linear path).

    By Theorem 4, :math:`\mathcal L_{CFM}(\theta) = \mathcal L_{FM}(\theta) + C`, and :math:`\mathcal L_{FM} \ge 0`
    vanishes at the marginal field :math:`u_t`: the best network leaves

    .. math:: C = \mathbb E \big\| (x_1 - x_0) - u_t(x_t) \big\|^2
              = \mathbb E \frac{\| x_1 - \mathbb E[x_1 \mid x_t] \|^2}{(1 - t)^2},

    the noise of the conditional target around its posterior average. Batch estimate (mean over rows).

    Args:
        points: the target set z_i, shape (m, d); x_1: data drawn from it, shape (n, d).
        x_0: noise, shape (n, d); t: times in [0, 1), shape (n, 1).

    Returns:
        A scalar tensor.

    Graded in exercise 5.5 (notebook ``05_flow_matching``).
    """
    t = torch.as_tensor(t, dtype=x_1.dtype).reshape(-1, 1)
    x_t = t * x_1 + (1 - t) * x_0
    sq = ((x_t[:, None, :] - t[:, :, None] * points[None].to(x_1.dtype)) ** 2).sum(-1)      # (n, m)
    posterior_mean = torch.softmax(-sq / (2 * (1 - t) ** 2), dim=1) @ points.to(x_1.dtype)  # E[x_1 | x_t], (n, d)
    return (((x_1 - posterior_mean) / (1 - t)) ** 2).sum(dim=1).mean()


def mixture_loss_floor(mixture: GaussianMixture, n: int = 4000, n_times: int = 40, seed: int = 0,
                       path: str | probability_paths.GaussianPath = "linear") -> tuple[Tensor, Tensor]:
    r"""The CFM loss of the exact marginal field of Gaussian-mixture data, per time: the floor no network beats.

    At each of ``n_times`` midpoints :math:`t_k` of [0, 1], draws n pairs :math:`(x_1, \varepsilon)` and averages
    :math:`\| (\dot\alpha_t x_1 + \dot\beta_t \varepsilon) - u_t(x_t) \|^2` with the closed-form
    :math:`u_t` (:func:`~.probability_paths.mixture_velocity`). Returns (times (n_times,), floors (n_times,));
    their mean estimates the floor of :math:`\mathcal L_{CFM}` with t ~ U[0, 1].
    """
    g = torch.Generator().manual_seed(seed)
    s = probability_paths.gaussian_path(path)
    times = (torch.arange(n_times, dtype=torch.float64) + 0.5) / n_times
    floors = torch.empty(n_times, dtype=torch.float64)
    for k, t in enumerate(times.tolist()):
        x_1 = mixture.sample(n, generator=g).double()
        eps = torch.randn(n, mixture.dim, generator=g, dtype=torch.float64)
        ps = probability_paths.sample_path(x_1, t, eps, s)
        u = probability_paths.mixture_velocity(ps.x_t, t, mixture, s)
        floors[k] = ((ps.dx_t - u) ** 2).sum(1).mean()
    return times, floors


# --- couplings ----------------------------------------------------------------------------------


def ot_pairing(x_0: Tensor, x_1: Tensor) -> Tensor:
    r"""The minibatch optimal-transport coupling: the permutation :math:`\sigma` that minimises
    :math:`\sum_i \| x_{1,\sigma(i)} - x_{0,i} \|^2` (an assignment problem, solved exactly by SciPy's
    ``linear_sum_assignment``). x_0, x_1: shape (n, d); returns the indices (n,) so that ``x_1[sigma]`` pairs
    with ``x_0`` (Tong et al. 2024; Pooladian et al. 2023)."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(x_0.double(), x_1.double()) ** 2
    rows, cols = linear_sum_assignment(cost.numpy())
    return torch.as_tensor(cols[rows.argsort()], dtype=torch.long)


@dataclass(frozen=True)
class CouplingCost:
    """The mean squared length :math:`\\|x_1 - x_0\\|^2` of a batch's segments under two couplings.

    Attributes:
        independent: with the batch's own pairing (row i with row i), as independent draws give it.
        ot: with the minibatch-OT pairing (:func:`ot_pairing`; never larger).
    """

    independent: float
    ot: float


def coupling_cost(x_0: Tensor, x_1: Tensor) -> CouplingCost:
    """:class:`CouplingCost` of the independent pairing and the minibatch-OT one; x_0, x_1: shape (n, d)."""
    x_0, x_1 = x_0.double(), x_1.double()
    paired = x_1[ot_pairing(x_0, x_1)]
    return CouplingCost(float(((x_1 - x_0) ** 2).sum(1).mean()), float(((paired - x_0) ** 2).sum(1).mean()))


def drop_labels(y: Tensor, eta: float, null_label: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Replace each label by the null label :math:`\varnothing` with probability :math:`\eta` (label dropout)."""
    if not 0 <= eta <= 1:
        raise ValueError(f"eta is a probability and must lie in [0, 1], got {eta}")
    y = torch.as_tensor(y, dtype=torch.long)
    drop = torch.rand(y.shape, generator=generator) < eta
    return torch.where(drop, torch.full_like(y, null_label), y)


# --- targets ----------------------------------------------------------------------------------


def target_sampler(target: str | GaussianMixture, generator: torch.Generator | None = None) -> Callable[[int], Tensor]:
    """``sampler(n) -> (n, 2)`` float32 draws of a named 2-D target (see :data:`course_utils.data.toy2d.TARGETS`)
    or of a Gaussian mixture, from ``generator``."""
    if isinstance(target, GaussianMixture):
        return lambda n: target.sample(n, generator=generator).float()
    if target == "moons":
        return lambda n: data.two_moons(n, generator=generator)
    if target == "checkerboard":
        return lambda n: data.checkerboard(n, generator=generator)
    if target == "eight_gaussians":
        mixture = data.eight_gaussians()
        return lambda n: mixture.sample(n, generator=generator).float()
    raise ValueError(f"unknown target {target!r}; expected one of {', '.join(data.TARGETS)} or a GaussianMixture")


# --- unconditional training and sampling ------------------------------------------------------


@torch.no_grad()
def sample_field(field: VectorField, n: int, seed: int = 0, dim: int = 2, n_steps: int = SAMPLER["n_steps"],
                 method: ode.Method = SAMPLER["method"], return_path: bool = False,
                 dtype: torch.dtype = torch.float32) -> Tensor:
    r"""Draw :math:`x_0 \sim \mathcal N(0, I)` (seeded) and integrate the field from t = 0 to 1 (on one thread).

    Returns x_1, shape (n, dim), or with ``return_path`` every state, shape (n_steps + 1, n, dim).
    """
    x0 = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    with one_thread():
        return ode.integrate(field, x0, 0.0, 1.0, n_steps, method, return_path)


@dataclass
class FlowRun:
    """A trained flow matching model.

    Attributes:
        model: the averaged network ``model(x (n, 2), t (n, 1)) -> (n, 2)`` (eval mode): the learned field.
        losses: the batch loss at each step, shape (steps,).
        seconds: wall time of training.
        target: what it was trained on (a name, or "mixture").
        path: the scheduler's name.
    """

    model: nn.Module
    losses: Tensor
    seconds: float
    target: str
    path: str

    def sample(self, n: int, seed: int = 0, return_path: bool = False, **solver) -> Tensor:
        """n samples (n, 2) by integrating the learned field (:data:`SAMPLER` unless overridden)."""
        return sample_field(self.model, n, seed, 2, return_path=return_path, **{**SAMPLER, **solver})


def _time_and_noise(n: int, dim: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    return torch.rand(n, 1, generator=generator), torch.randn(n, dim, generator=generator)


def train_flow(target: str | GaussianMixture = "moons", steps: int = 1500, batch: int = 1024, lr: float = 1e-2,
               width: int = 32, depth: int = 4, time_scale: float = TIME_SCALE, ema: float = 0.99,
               path: str = "linear", seed: int = 0, progress: bool = True, max_seconds: float | None = None,
               desc: str | None = None) -> FlowRun:
    r"""Train a :class:`course_utils.core.nets.TimeMLP` velocity field on a 2-D target with the CFM loss.

    Each step (slides "Training algorithm"): draw :math:`x_1 \sim p_1`, :math:`x_0 = \varepsilon \sim
    \mathcal N(0, I)`, :math:`t \sim U[0, 1]`; minimise :func:`cfm_loss` with Adam (via
    :func:`course_utils.core.fit.fit`, on one thread); keep a weight average with decay ``ema``.
    ``width``, ``depth`` and ``time_scale`` shape the network (see :class:`~course_utils.core.nets.TimeMLP`); the
    defaults are the course's :data:`RECIPE` (:data:`TRAINING` adds the number of steps per target).
    """
    torch.manual_seed(seed)
    model = TimeMLP(2, width, depth, time_scale=time_scale)
    average = WeightAverage(model, ema)
    noise = torch.Generator().manual_seed(seed + 1)
    draw = target_sampler(target, torch.Generator().manual_seed(seed + 2))

    def loss_fn(m: nn.Module, x_1: Tensor) -> Tensor:
        t, eps = _time_and_noise(len(x_1), 2, noise)
        return cfm_loss(m, x_1, t, eps, path)

    name = target if isinstance(target, str) else "mixture"
    start = time.perf_counter()
    with one_thread():
        losses = fit(model, loss_fn, lambda: draw(batch), steps, lr=lr, progress=progress,
                     desc=desc or f"flow matching on {name}", max_seconds=max_seconds, average=average)
    return FlowRun(average.averaged, losses, time.perf_counter() - start, name,
                   probability_paths.gaussian_path(path).name)


@dataclass(frozen=True)
class W2Ratio:
    """A trained 2-D model judged as ``make bench`` judges it.

    Attributes:
        model: mean exact W2 between the model's samples and fresh target draws (same size).
        data: mean exact W2 between two fresh target draws: what a perfect model would get.
        ratio: model / data (the course asks for at most 1.25).
    """

    model: float
    data: float
    ratio: float


def w2_ratio(samples: Tensor | list[Tensor], draw_target: Callable[[int], Tensor], repeats: int = 3,
             seed: int = 0) -> W2Ratio:
    r"""Exact W2 (POT) of model samples against ``repeats`` fresh target draws of the same size, beside the W2
    between two target draws, each averaged. W2 between point clouds of a few thousand points varies by tens of
    percent from draw to draw, mostly with the share of points in each mode: hence the averages.

    ``samples``: one set (n, 2), compared with every target draw (``make bench``'s protocol, n = 2,000), or a
    list of ``repeats`` sets, one per draw (their own sampling noise is then averaged too). ``draw_target(n)``
    draws from torch's global generator, which is seeded with ``seed`` first.
    """
    from ..metrics import w2_exact

    sets = list(samples) if isinstance(samples, (list, tuple)) else [samples] * repeats
    if len(sets) != repeats:
        raise ValueError(f"give one sample set or a list of {repeats} (one per repeat), got {len(sets)}")
    torch.manual_seed(seed)
    model = [w2_exact(x, draw_target(len(x))) for x in sets]
    n = len(sets[0])
    data_w2 = [w2_exact(draw_target(n), draw_target(n)) for _ in range(repeats)]
    m, d = sum(model) / repeats, sum(data_w2) / repeats
    return W2Ratio(m, d, m / d)


# --- the marginal field through a point: the (t, x) lens --------------------------------------


def posterior_weights(x, t: float, points, path: str | probability_paths.GaussianPath = "linear") -> Tensor:
    r""":math:`w_i(x) = p(z_i \mid x_t = x) \propto \mathcal N(x;\ \alpha_t z_i, \beta_t^2 I)` for uniform
    weights on the target set, t in [0, 1). x: (n, d); points: (m, d). Returns (n, m), rows summing to 1."""
    x, points = as_tensor(x, "x"), as_tensor(points, "points")
    s, tt = probability_paths.gaussian_path(path), torch.as_tensor(float(t), dtype=x.dtype)
    if not 0 <= float(t) < 1:
        raise ValueError(f"t must lie in [0, 1) (beta_t > 0), got {t}")
    sq = ((x[:, None, :] - s.alpha(tt) * points.to(x.dtype)[None]) ** 2).sum(-1)
    return torch.softmax(-sq / (2 * s.beta(tt) ** 2), dim=1)


def conditional_paths_through(x, t: float, points, path: str | probability_paths.GaussianPath = "linear",
                              n_times: int = 41) -> Tensor:
    r"""For each target point z_i, the conditional path :math:`s \mapsto \alpha_s z_i + \beta_s x_0^{(i)}` that
    passes through x at time t, with :math:`x_0^{(i)} = (x - \alpha_t z_i) / \beta_t`.

    x: one point, shape (d,); points: (m, d). Returns (m, n_times, d) for s on [0, 1].
    """
    x, points = as_tensor(x, "x").reshape(1, -1), as_tensor(points, "points")
    s = probability_paths.gaussian_path(path)
    tt = torch.as_tensor(float(t), dtype=x.dtype)
    x0 = (x - s.alpha(tt) * points) / s.beta(tt)                         # (m, d)
    times = torch.linspace(0, 1, n_times, dtype=x.dtype)[None, :, None]
    return s.alpha(times) * points[:, None, :] + s.beta(times) * x0[:, None, :]


# --- guidance ---------------------------------------------------------------------------------


def cfg_velocity(v_uncond: Tensor, v_cond: Tensor, w: float) -> Tensor:
    r"""Classifier-free guidance: :math:`(1 - w)\, v_t(x) + w\, v_t(x \mid y)`; w = 1 is the plain guided field.

    Graded in exercise 5.7 (notebook ``05_flow_matching``).
    """
    return (1 - w) * v_uncond + w * v_cond


def guided_field(model: nn.Module, y: int, w: float) -> VectorField:
    """The vector field ``v(x, t)`` of classifier-free guidance for label y and scale w (a labelled TimeMLP)."""
    def field(x: Tensor, t: Tensor) -> Tensor:
        n = x.shape[0]
        labels = torch.cat([model.null_labels(n), torch.full((n,), int(y), dtype=torch.long)])
        t = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1).expand(n, 1)
        both = model(torch.cat([x, x]), torch.cat([t, t]), labels)  # one pass for v(x) and v(x | y)
        return cfg_velocity(both[:n], both[n:], w)

    return field


def labelled_eight_gaussians() -> tuple[GaussianMixture, Tensor]:
    """The labelled data of the guidance examples: the eight Gaussians (radius 2, std 0.2) with 4 labels,
    label k owning the two neighbouring modes 2k and 2k + 1. Returns the mixture and each component's label (8,)."""
    return data.eight_gaussians(), torch.arange(8) // 2


def class_mixture(mixture: GaussianMixture, component_labels: Tensor, y: int) -> GaussianMixture:
    """The data of one label: the components whose label is y, their weights renormalised."""
    keep = torch.as_tensor(component_labels) == int(y)
    if not bool(keep.any()):
        raise ValueError(f"no component has label {y}; labels are {sorted(set(component_labels.tolist()))}")
    w = mixture.weights[keep]
    return GaussianMixture(w / w.sum(), mixture.means[keep], mixture.variances[keep])


def finite_set_field(points: Tensor, path: str | probability_paths.GaussianPath = "linear") -> VectorField:
    """The exact marginal velocity of a finite target set (:func:`~.probability_paths.marginal_velocity`) as a vector
    field ``v(x, t (n, 1))``; t is capped at 1 - 1e-6 (at t = 1, beta_1 = 0: Euler never evaluates it there)."""
    points = as_tensor(points, "points")

    def field(x: Tensor, t: Tensor) -> Tensor:
        tt = torch.as_tensor(t, dtype=x.dtype).clamp(max=1 - 1e-6)
        return probability_paths.marginal_velocity(x, tt, points.to(x.dtype), path)

    return field


def mixture_field(mixture: GaussianMixture, path: str | probability_paths.GaussianPath = "linear") -> VectorField:
    """The exact marginal velocity of Gaussian-mixture data as a vector field ``v(x, t (n, 1))``,
    evaluated at max(t, :data:`T_MIN`)."""
    def field(x: Tensor, t: Tensor) -> Tensor:
        tt = max(float(torch.as_tensor(t).reshape(-1)[0]), T_MIN)
        return probability_paths.mixture_velocity(x, tt, mixture, path).to(x.dtype)

    return field


def exact_guided_field(mixture: GaussianMixture, component_labels: Tensor, y: int, w: float,
                       path: str | probability_paths.GaussianPath = "linear") -> VectorField:
    r"""Classifier-free guidance with the exact fields: :math:`(1 - w)\, u_t(x) + w\, u_t(x \mid y)`, where
    :math:`u_t(x \mid y)` is the marginal velocity of the data of label y (:func:`class_mixture`)."""
    uncond, cond = mixture_field(mixture, path), mixture_field(class_mixture(mixture, component_labels, y), path)
    return lambda x, t: cfg_velocity(uncond(x, t), cond(x, t), w)


@dataclass(frozen=True)
class GuidanceStats:
    """How guided samples of label y sit on the data.

    Attributes:
        share: fraction of the samples whose nearest mode belongs to y.
        spread: rms distance of each sample to the centre of its group (the samples nearest the same mode):
            how concentrated they are (the data's is std * sqrt(2) for 2-D modes).
        drift: mean distance from each group's centre to its mode's mean (how far guidance pushed them).
    """

    share: float
    spread: float
    drift: float


def guidance_statistics(samples: Tensor, mixture: GaussianMixture, component_labels: Tensor, y: int) -> GuidanceStats:
    """:class:`GuidanceStats` of samples (n, 2) of label y against the labelled mixture."""
    x = as_tensor(samples, "samples", torch.float64)
    nearest = torch.cdist(x, mixture.means).argmin(1)
    share = float((torch.as_tensor(component_labels)[nearest] == int(y)).double().mean())
    sq, drift, groups = 0.0, 0.0, 0
    for k in nearest.unique().tolist():
        group = x[nearest == k]
        centre = group.mean(0)
        sq += float(((group - centre) ** 2).sum())
        if len(group) >= max(5, len(x) // 50):
            drift += float((centre - mixture.means[k]).norm())
            groups += 1
    return GuidanceStats(share, (sq / len(x)) ** 0.5, drift / max(groups, 1))


@dataclass
class GuidedRun:
    """A trained guided flow: ``model(x, t, y)`` with the null label ``model.n_labels``.

    Attributes:
        model: the averaged labelled TimeMLP (eval mode).
        losses: batch losses, shape (steps,).
        seconds: wall time of training.
        eta: the label dropout probability used.
        mixture, component_labels: the labelled data (a Gaussian mixture and each component's label).
    """

    model: TimeMLP
    losses: Tensor
    seconds: float
    eta: float
    mixture: GaussianMixture
    component_labels: Tensor

    @property
    def n_labels(self) -> int:
        return self.model.n_labels

    def sample(self, y: int, w: float, n: int, seed: int = 0, return_path: bool = False, **solver) -> Tensor:
        """n samples (n, 2) of label y at guidance scale w (:data:`SAMPLER` unless overridden)."""
        return sample_field(guided_field(self.model, y, w), n, seed, 2, return_path=return_path,
                            **{**SAMPLER, **solver})


def _labelled_sampler(mixture: GaussianMixture, component_labels: Tensor, generator: torch.Generator):
    def draw(n: int) -> tuple[Tensor, Tensor]:
        k = torch.multinomial(mixture.weights, n, replacement=True, generator=generator)
        x = mixture.means[k] + mixture.variances[k].sqrt()[:, None] * torch.randn(n, mixture.dim, generator=generator,
                                                                                  dtype=torch.float64)
        return x.float(), component_labels[k]

    return draw


def train_guided_flow(mixture: GaussianMixture, component_labels: Tensor, eta: float = 0.2, steps: int = 600,
                      batch: int = 1024, lr: float = 1e-2, width: int = 32, depth: int = 4,
                      time_scale: float = TIME_SCALE, ema: float = 0.99, path: str = "linear", seed: int = 0,
                      progress: bool = True, max_seconds: float | None = None) -> GuidedRun:
    r"""Guided conditional flow matching with label dropout (slides "Classifier-free guidance, training algorithm").

    Each step: draw :math:`(x_1, y) \sim p_1(x, y)`, :math:`t \sim U[0,1)`, :math:`\varepsilon \sim \mathcal N(0, I)`;
    with probability :math:`\eta` set :math:`y \leftarrow \varnothing`; minimise
    :math:`\| v^\theta_t(x_t \mid y) - (\dot\alpha_t x_1 + \dot\beta_t \varepsilon) \|^2`. The network and
    optimiser defaults are :data:`RECIPE`, as for :func:`train_flow`.
    """
    component_labels = torch.as_tensor(component_labels, dtype=torch.long)
    n_labels = int(component_labels.max()) + 1
    torch.manual_seed(seed)
    model = TimeMLP(2, width, depth, n_labels=n_labels, time_scale=time_scale)
    average = WeightAverage(model, ema)
    noise = torch.Generator().manual_seed(seed + 1)
    draw = _labelled_sampler(mixture, component_labels, torch.Generator().manual_seed(seed + 2))

    def loss_fn(m: TimeMLP, batch_xy: tuple[Tensor, Tensor]) -> Tensor:
        x_1, y = batch_xy
        t, eps = _time_and_noise(len(x_1), 2, noise)
        return cfm_loss(m, x_1, t, eps, path, y=drop_labels(y, eta, m.n_labels, noise))

    start = time.perf_counter()
    with one_thread():
        losses = fit(model, loss_fn, lambda: draw(batch), steps, lr=lr, progress=progress,
                     desc=f"guided flow matching (eta = {eta:g})", max_seconds=max_seconds, average=average)
    return GuidedRun(average.averaged, losses, time.perf_counter() - start, float(eta), mixture, component_labels)
