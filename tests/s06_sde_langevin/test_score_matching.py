"""score_matching against closed forms: the Gaussian path's conditional score, the score-velocity
conversion on Gaussian data, Theorem 3 (SM = CSM + constant), and the weighted DSM = flow matching identity."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.data.mixtures import GaussianMixture
from course_utils.s05_flow_matching import probability_paths
from course_utils.s06_sde_langevin import score_matching as sm

GEN = torch.Generator().manual_seed(0)
NAMES = list(probability_paths.GAUSSIAN_PATHS)


pytestmark = pytest.mark.usefixtures("float64")  # tests/conftest.py


@pytest.mark.parametrize("name", NAMES)
def test_dsm_target_is_the_conditional_score_of_the_path(name):
    """ERRATA's worked value: grad log p_t(x | z) = -(x - alpha_t z) / beta_t^2 = -eps / beta_t
    at x = alpha_t z + beta_t eps."""
    z, eps = torch.randn(20, 2, generator=GEN), torch.randn(20, 2, generator=GEN)
    t = torch.rand(20, 1, generator=GEN) * 0.9 + 0.05
    s = probability_paths.gaussian_path(name)
    x = s.alpha(t) * z + s.beta(t) * eps
    assert torch.allclose(sm.dsm_target(eps, s.beta(t)), probability_paths.conditional_score(x, z, t, name))


def test_dsm_loss_by_hand_and_with_a_weight():
    z, eps = torch.randn(8, 2, generator=GEN), torch.randn(8, 2, generator=GEN)
    t = torch.full((8, 1), 0.4)
    a, b = t, 1 - t

    def model(x, tt):
        return 0.5 * x - tt

    x = a * z + b * eps
    per = ((0.5 * x - t + eps / b) ** 2).sum(-1)
    assert float(sm.dsm_loss(model, z, t, eps, a, b)) == pytest.approx(float(per.mean()))
    w = torch.rand(8, 1, generator=GEN)
    assert float(sm.dsm_loss(model, z, t, eps, a, b, weight=w)) == pytest.approx(float((w[:, 0] * per).mean()))
    with pytest.raises(ValueError, match="beta_t must be > 0"):
        sm.dsm_loss(model, z, t, eps, a, torch.zeros(8, 1))


@pytest.mark.parametrize("name, c", [("linear", 1.0), ("cosine", math.pi / 2)])
def test_weighted_dsm_on_a_score_net_is_the_flow_matching_loss(name, c):
    torch.manual_seed(0)
    net = sm.ScoreNet(2, 16, 1, name)
    s = probability_paths.gaussian_path(name)
    z, eps = torch.randn(64, 2, generator=GEN), torch.randn(64, 2, generator=GEN)
    t = torch.rand(64, 1, generator=GEN) * 0.98 + 0.01
    with torch.no_grad():
        weighted = sm.dsm_loss(net, z, t, eps, s.alpha(t), s.beta(t), weight=sm.flow_matching_weight(t, s))
        target = s.d_alpha(t) * z + s.d_beta(t) * eps            # the flow matching regression target
        fm = ((net.velocity(s.alpha(t) * z + s.beta(t) * eps, t) - target) ** 2).sum(-1).mean() / c**2
    assert float(weighted) == pytest.approx(float(fm), rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_score_velocity_conversion_on_gaussian_data_in_closed_form(name):
    """Data N(m, s^2 I): p_t = N(alpha_t m, sd_t^2 I) with sd_t^2 = alpha_t^2 s^2 + beta_t^2, whose flow is the affine
    map u_t(x) = d_alpha_t m + (d sd_t / dt) / sd_t (x - alpha_t m)."""
    m, s2 = torch.tensor([1.0, -2.0]), 0.3
    s = probability_paths.gaussian_path(name)
    x = torch.randn(30, 2, generator=GEN) * 2
    for t_value in (0.0, 0.2, 0.6, 0.95):
        t = torch.tensor(t_value)
        a, b, da, db = s.alpha(t), s.beta(t), s.d_alpha(t), s.d_beta(t)
        sd2 = a**2 * s2 + b**2
        d_sd_over_sd = (a * da * s2 + b * db) / sd2
        u = da * m + d_sd_over_sd * (x - a * m)
        score = -(x - a * m) / sd2
        assert torch.allclose(sm.score_from_velocity(u, x, t_value, name), score, atol=1e-10)
        if t_value > 0:
            assert torch.allclose(probability_paths.score_to_velocity(score, x, t_value, name), u, atol=1e-10)
    with pytest.raises(ValueError, match="t < 1"):
        sm.score_from_velocity(x, x, 1.0, name)


def test_score_from_velocity_agrees_with_the_shared_conversion_inside_the_interval():
    x, v = torch.randn(10, 2, generator=GEN), torch.randn(10, 2, generator=GEN)
    t = torch.rand(10, generator=GEN) * 0.9 + 0.05
    for name in NAMES:
        assert torch.allclose(sm.score_from_velocity(v, x, t, name), probability_paths.velocity_to_score(v, x, t, name))


def test_theorem_3_score_matching_equals_conditional_score_matching_up_to_a_constant():
    """For any two models s_1, s_2: L_SM(s_1) - L_SM(s_2) = L_CSM(s_1) - L_CSM(s_2) (same samples, Monte Carlo)."""
    points = torch.tensor([[-1.5, 0.0], [1.0, 1.0], [0.5, -1.5]])
    n, t = 200_000, 0.6
    g = torch.Generator().manual_seed(5)
    z = points[torch.randint(0, 3, (n,), generator=g)]
    eps = torch.randn(n, 2, generator=g)
    x = t * z + (1 - t) * eps
    marginal = probability_paths.marginal_score(x, t, points)
    conditional = -eps / (1 - t)
    models = [lambda y: -y, lambda y: 0.3 * y + 1.0, lambda y: marginal]
    sm_losses = [float(((f(x) - marginal) ** 2).sum(-1).mean()) for f in models]
    csm_losses = [float(((f(x) - conditional) ** 2).sum(-1).mean()) for f in models]
    constant = csm_losses[2] - sm_losses[2]
    assert sm_losses[2] == 0.0 and constant > 0
    for a, b in zip(sm_losses, csm_losses, strict=True):
        assert b - a == pytest.approx(constant, rel=0.02)


def test_loss_floor_of_the_slides_loss_explodes_near_the_data():
    mix = GaussianMixture(torch.ones(1), torch.zeros(1, 2), torch.tensor([0.04]))
    floor = sm.dsm_loss_floor(mix, torch.tensor([0.2, 0.9, 0.99]), n=4000, seed=1)
    assert floor.shape == (3,) and bool((floor[1:] > 10 * floor[:-1]).all())
    # Gaussian data: the floor is E||eps / beta - E[eps | x] / beta||^2 = d (1 - beta^2 / sd^2) / beta^2
    t = torch.tensor([0.2, 0.9, 0.99])
    beta, sd2 = 1 - t, t**2 * 0.04 + (1 - t) ** 2
    assert torch.allclose(floor, 2 * (1 - beta**2 / sd2) / beta**2, rtol=0.1)


def test_training_runs_and_sampling_takes_n_steps_to_t_equals_1():
    g = torch.Generator().manual_seed(0)
    run = sm.train_score_model(lambda n: torch.randn(n, 2, generator=g) * 0.3 + 1.0, steps=30, batch=64, width=16,
                               depth=1, progress=False)
    assert run.losses.shape == (30,) and bool(torch.isfinite(run.losses).all()) and run.seconds > 0
    x = sm.sample_sde(run.model, 50, sm.vanishing_sigma(1.0), n_steps=20, seed=1)
    assert x.shape == (50, 2) and bool(torch.isfinite(x).all())

    class Constant(sm.ScoreNet):
        def velocity(self, x, t):  # dX = c dt: after n steps of 1/n, X_1 = X_0 + c
            return torch.full_like(x, 0.5)

    net = Constant(2, 4, 1)
    path = sm.sample_sde(net, 7, 0.0, n_steps=4, seed=2, return_path=True)
    assert path.shape == (5, 7, 2) and torch.allclose(path[-1] - path[0], torch.full((7, 2), 0.5))
    assert sm.vanishing_sigma(2.0)(0.25) == pytest.approx(1.5)


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)).double()

    def forward(self, x, t):
        return self.net(torch.cat([x, t], 1))


def _batch(seed=0, n=16):
    g = torch.Generator().manual_seed(seed)
    z, eps = torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g)
    t = 0.1 + 0.8 * torch.rand(n, 1, generator=g)
    return z, t, eps, t, 1 - t          # the linear path: alpha_t = t, beta_t = 1 - t


def test_dsm_step_moves_the_parameters_by_minus_lr_times_a_finite_difference_gradient():
    """The oracle: central finite differences of the weighted loss, written out by hand (no autograd)."""
    torch.manual_seed(0)
    model = _Tiny()
    z, t, eps, a, b = _batch()
    before = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        p.grad = torch.ones_like(p)     # left over: the step must zero it
    lr = 0.1
    loss = sm.dsm_step(model, torch.optim.SGD(model.parameters(), lr=lr), z, t, eps, a, b)

    def weighted_loss(params):
        w1, b1, w2, b2 = params
        x = a * z + b * eps
        s = torch.tanh(torch.cat([x, t], 1) @ w1.T + b1) @ w2.T + b2
        return float(((b / a) ** 2 * ((s + eps / b) ** 2).sum(-1, keepdim=True)).mean())

    assert math.isclose(loss, weighted_loss(before), rel_tol=1e-12)
    h = 1e-6
    for i, (p0, p1) in enumerate(zip(before, model.parameters(), strict=True)):
        grad = torch.zeros_like(p0)
        for j in range(p0.numel()):
            up = [q.clone() for q in before]
            down = [q.clone() for q in before]
            up[i].view(-1)[j] += h
            down[i].view(-1)[j] -= h
            grad.view(-1)[j] = (weighted_loss(up) - weighted_loss(down)) / (2 * h)
        assert torch.allclose(p1.detach(), p0 - lr * grad, atol=1e-7)


def test_late_share_shows_the_unweighted_loss_is_dominated_by_times_near_the_data():
    torch.manual_seed(1)
    model = sm.ScoreNet(2, 16, 1)          # the notebook's parametrisation (float32), where the weight keeps the
    g = torch.Generator().manual_seed(2)   # loss finite at every t
    n = 2000
    z, eps = torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g)
    lo, hi = sm.T_RANGE
    t = lo + (hi - lo) * torch.rand(n, 1, generator=g)
    a, b = t, 1 - t
    plain = sm.late_share(model, z, t, eps, a, b)
    weighted = sm.late_share(model, z, t, eps, a, b, weight=sm.flow_matching_weight(t))
    assert abs(plain.times - 0.1) < 0.03 and plain.times == weighted.times
    assert plain.loss > 0.9 and plain.top > 0.5
    assert weighted.loss < 0.3 and weighted.top < 0.1
    # by hand
    with torch.no_grad():
        per = ((model(a * z + b * eps, t) + eps / b) ** 2).sum(-1).double()
    assert math.isclose(plain.loss, float(per[t[:, 0] > 0.9].sum() / per.sum()), rel_tol=1e-4)
    assert math.isclose(plain.top, float(per.sort(descending=True).values[:20].sum() / per.sum()), rel_tol=1e-4)
    assert sm.late_share(model, z, t, eps, a, b, t_late=-1.0).loss == 1.0
