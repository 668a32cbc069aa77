r"""Discrete optimal transport: couplings of two weighted point clouds, solved as a linear program.

Taught in notebook ``04_wasserstein`` (slides "Wasserstein GANs": the minimum transport cost
:math:`\inf_{\gamma \in \Pi(p_x, p_\theta)} E_{(x, x') \sim \gamma}\|x - x'\|`). Between
:math:`\mu = \sum_i a_i \delta_{x_i}` and :math:`\nu = \sum_j b_j \delta_{y_j}` a coupling is a
matrix P (the plan: :math:`P_{ij}` is the mass moved from :math:`x_i` to :math:`y_j`) and

.. math::
    W_p^p(\mu, \nu) = \min_{P \in \Pi(a, b)} \sum_{i,j} P_{ij} C_{ij}, \qquad
    \Pi(a, b) = \{P \ge 0:\ P \mathbf 1_m = a,\ P^\top \mathbf 1_n = b\}, \qquad C_{ij} = \|x_i - y_j\|^p,

a linear program with n m unknowns and n + m equality constraints. Its dual,

.. math:: \max_{u, v}\ \sum_i a_i u_i + \sum_j b_j v_j \quad \text{s.t.}\quad u_i + v_j \le C_{ij},

is the discrete Kantorovich(-Rubinstein) dual: for p = 1 the optimal u is 1-Lipschitz on the
points and v = -u on the support, the critic the WGAN learns (:mod:`~.wgan`).

:func:`solve_ot_lp` is our own small LP (``scipy.optimize.linprog``, HiGHS) for teaching;
:func:`solve_ot_pot` calls POT's network simplex (``ot.emd``), much faster, for the widgets and
the large clouds. Point clouds are float64 arrays or tensors of shape (n, d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..core.validation import as_tensor

__all__ = [
    "OTSolution",
    "cost_matrix",
    "independent_plan",
    "plan_lines",
    "solve_ot_lp",
    "solve_ot_pot",
    "split_point_mass_cost",
    "transport_cost",
    "uniform_weights",
    "w1_point_clouds",
]


def _cloud(x, name: str) -> Tensor:
    t = as_tensor(x, name, torch.float64)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or len(t) == 0:
        raise ValueError(f"{name} must be a point cloud of shape (n, d) with n >= 1, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} holds NaN or infinite coordinates")
    return t


def _pair(x, y) -> tuple[Tensor, Tensor]:
    x, y = _cloud(x, "x"), _cloud(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be points in the same dimension, got shapes {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    return x, y


def cost_matrix(x, y, p: float = 1.0) -> Tensor:
    r""":math:`C_{ij} = \|x_i - y_j\|^p` (Euclidean norm), shape (n, m), float64.

    Args:
        x: points (n, d) (a 1-D tensor (n,) is read as n points on the line).
        y: points (m, d).
        p: the power, 1 for W1 (the slides' cost) or 2 for W2.
    """
    if not p > 0:
        raise ValueError(f"the cost exponent p must be > 0, got {p}")
    x, y = _pair(x, y)
    return torch.cdist(x, y) ** p


def uniform_weights(n: int) -> Tensor:
    """The weights 1/n of an empirical distribution of n points, shape (n,), float64."""
    return torch.full((n,), 1.0 / n, dtype=torch.float64)


def _weights(a, n: int, name: str) -> Tensor:
    if a is None:
        return uniform_weights(n)
    a = as_tensor(a, name, torch.float64)
    if a.shape != (n,):
        raise ValueError(f"{name} must hold one weight per point, shape ({n},), got {tuple(a.shape)}")
    if bool((a < 0).any()) or abs(float(a.sum()) - 1.0) > 1e-6:
        raise ValueError(f"{name} must be weights >= 0 summing to 1, got a sum of {float(a.sum()):.6g}")
    return a


def transport_cost(plan, x, y, p: float = 1.0) -> Tensor:
    r"""The cost of a transport plan: mass times distance, summed over every pair.

    .. math:: \langle P, C \rangle = \sum_{i,j} P_{ij}\, \|x_i - y_j\|^p

    Args:
        plan: P, shape (n, m), >= 0 (any plan; its marginals are not checked here).
        x: source points (n, d); y: target points (m, d).
        p: the cost exponent (1: the slides' Euclidean distance).

    Returns:
        A float64 tensor of shape ().
    """
    plan = as_tensor(plan, "plan", torch.float64)
    cost = cost_matrix(x, y, p)
    if plan.shape != cost.shape:
        raise ValueError(f"plan must have shape (n, m) = {tuple(cost.shape)} (one row per source point), "
                         f"got {tuple(plan.shape)}")
    if bool((plan < 0).any()):
        raise ValueError("a plan moves non-negative masses: found a negative entry")
    return (plan * cost).sum()


def split_point_mass_cost(x, y1, y2) -> Tensor:
    r"""W1 from a unit point mass at x to two half masses at y1 and y2: Monge has no answer, Kantorovich has one.

    .. math:: \mu = \delta_x, \quad \nu = \tfrac12 \delta_{y_1} + \tfrac12 \delta_{y_2}: \qquad
       \Pi(\mu, \nu) = \{P = (\tfrac12, \tfrac12)\}, \qquad
       W_1(\mu, \nu) = \tfrac12 \|x - y_1\| + \tfrac12 \|x - y_2\| .

    No transport map T exists (T sends all the mass at x to the single point T(x), so one of y1, y2
    would receive 1 and the other 0): Monge's problem is infeasible. The only coupling splits the
    mass, and its cost is the optimal one.

    Args:
        x: the source point, shape (d,).
        y1, y2: the two target points, shape (d,) each.

    Returns:
        A float64 tensor of shape ().

    Graded in exercise 4.2 (notebook ``04_wasserstein``).
    """
    x, y1, y2 = (as_tensor(t, name, torch.float64).reshape(-1) for t, name in ((x, "x"), (y1, "y1"), (y2, "y2")))
    if not x.shape == y1.shape == y2.shape:
        raise ValueError(f"x, y1 and y2 must be points of the same dimension d, shape (d,), got {tuple(x.shape)}, "
                         f"{tuple(y1.shape)} and {tuple(y2.shape)}")
    return 0.5 * torch.linalg.vector_norm(x - y1) + 0.5 * torch.linalg.vector_norm(x - y2)


def independent_plan(a, b) -> Tensor:
    r"""The product coupling :math:`P = a b^\top` (every source sends to every target in proportion):
    always feasible, rarely optimal. Shape (n, m)."""
    a, b = as_tensor(a, "a", torch.float64), as_tensor(b, "b", torch.float64)
    return torch.outer(a, b)


@dataclass(frozen=True)
class OTSolution:
    r"""An optimal plan and its dual.

    Attributes:
        plan: P, shape (n, m): the mass moved from x_i to y_j; rows sum to a, columns to b.
        cost: :math:`\langle P, C \rangle`, the optimal transport cost (W_1 for p = 1, W_2^2 for p = 2).
        u, v: dual potentials, shapes (n,), (m,), with :math:`u_i + v_j \le C_{ij}` and
            :math:`a \cdot u + b \cdot v` = cost (strong duality).
    """

    plan: Tensor
    cost: float
    u: Tensor
    v: Tensor


def _problem(a, b, cost) -> tuple[Tensor, Tensor, Tensor]:
    cost = as_tensor(cost, "cost", torch.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a matrix (n, m), got {tuple(cost.shape)}")
    n, m = cost.shape
    a, b = _weights(a, n, "a"), _weights(b, m, "b")
    if abs(float(a.sum() - b.sum())) > 1e-9:
        raise ValueError("a and b must carry the same total mass")
    return a, b, cost


def solve_ot_lp(a, b, cost) -> OTSolution:
    r"""Exact discrete OT as a linear program, written out for teaching (``scipy.optimize.linprog``).

    The unknown is vec(P) (row-major, n m entries); the constraints are the marginals:

    .. math::
        \min_{P \ge 0} \mathrm{vec}(C)^\top \mathrm{vec}(P) \quad\text{s.t.}\quad
        \underbrace{(I_n \otimes \mathbf 1_m^\top)}_{\text{row sums}} \mathrm{vec}(P) = a,\quad
        \underbrace{(\mathbf 1_n^\top \otimes I_m)}_{\text{column sums}} \mathrm{vec}(P) = b .

    (One constraint is redundant, both sides summing to 1; HiGHS copes.) The duals of the
    equality constraints are the Kantorovich potentials u, v. Fine up to a few thousand
    unknowns; use :func:`solve_ot_pot` for more.

    Args:
        a: source weights (n,), or None for uniform; b: target weights (m,), or None.
        cost: C, shape (n, m).
    """
    from scipy.optimize import linprog
    from scipy.sparse import eye, kron, vstack

    a, b, cost = _problem(a, b, cost)
    n, m = cost.shape
    rows = kron(eye(n), np.ones((1, m)))
    cols = kron(np.ones((1, n)), eye(m))
    result = linprog(cost.numpy().ravel(), A_eq=vstack([rows, cols]).tocsr(),
                     b_eq=np.concatenate([a.numpy(), b.numpy()]), bounds=(0, None), method="highs")
    if result.status != 0:
        raise RuntimeError(f"the transport LP failed: {result.message}")
    plan = torch.from_numpy(result.x.reshape(n, m)).clamp(min=0.0)
    duals = torch.from_numpy(np.asarray(result.eqlin.marginals, dtype=np.float64))
    return OTSolution(plan, float(result.fun), duals[:n].clone(), duals[n:].clone())


def solve_ot_pot(a, b, cost) -> OTSolution:
    """The same LP solved by POT's network simplex (``ot.emd``): exact, and fast for 1,000s of points."""
    import ot

    a, b, cost = _problem(a, b, cost)
    n, m = cost.shape
    plan, log = ot.emd(a.numpy(), b.numpy(), cost.numpy(), numItermax=max(100_000, 50 * n * m), log=True)
    if log.get("warning"):
        raise RuntimeError(f"the optimal transport solver did not converge: {log['warning']}")
    return OTSolution(torch.from_numpy(plan), float(log["cost"]), torch.from_numpy(log["u"]).double(),
                      torch.from_numpy(log["v"]).double())


def w1_point_clouds(x, y, a=None, b=None, solver: str = "pot") -> float:
    r"""The exact W1 between two weighted point clouds (uniform weights by default).

    .. math:: W_1 = \min_{P \in \Pi(a, b)} \sum_{i,j} P_{ij} \|x_i - y_j\|

    Args:
        x: (n, d); y: (m, d); a, b: weights or None; solver: "pot" (``ot.emd``) or "lp" (ours).
    """
    if solver not in ("pot", "lp"):
        raise ValueError(f"solver must be 'pot' or 'lp', got {solver!r}")
    cost = cost_matrix(x, y, 1.0)
    return (solve_ot_pot if solver == "pot" else solve_ot_lp)(a, b, cost).cost


def plan_lines(plan, x, y, min_mass: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """The pairs a plan links, for drawing: segments (k, 2, d) from x_i to y_j and their masses (k,).

    Only entries with more than ``min_mass`` are kept (an optimal plan between n and m points
    has at most n + m - 1 of them).
    """
    plan = as_tensor(plan, "plan", torch.float64)
    x, y = _pair(x, y)
    if plan.shape != (len(x), len(y)):
        raise ValueError(f"plan must have shape ({len(x)}, {len(y)}), got {tuple(plan.shape)}")
    i, j = torch.nonzero(plan > min_mass, as_tuple=True)
    segments = torch.stack([x[i], y[j]], 1)
    return segments.numpy(), plan[i, j].numpy()
