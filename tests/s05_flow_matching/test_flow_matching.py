"""flow_matching against closed forms, torch.distributions and the theorems of the lecture.

Theorem 4 numerically: L_CFM(f) - L_CFM(u) = E ||f - u||^2 = L_FM(f) for the exact marginal field u of a
finite target set; the posterior weights against torch.distributions; guidance against its closed form;
training and sampling reach the target (exact W2 via POT).
"""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from course_utils import data
from course_utils.core import ode
from course_utils.core.nets import TimeMLP
from course_utils.s05_flow_matching import flow_matching, probability_paths

GEN = torch.Generator().manual_seed(0)
F64 = torch.float64
POINTS = torch.tensor([[-2.0, 0.5], [1.5, 1.5], [0.5, -2.0]], dtype=F64)


class Field(torch.nn.Module):
    """A fixed vector field as a module (cfm_loss calls model(x_t, t))."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, t, *y):
        return self.fn(x, t, *y)


def _exact(x, t):
    return probability_paths.marginal_velocity(x, t[:, 0], POINTS)


def _batch(n, seed):
    g = torch.Generator().manual_seed(seed)
    x_1 = POINTS[torch.randint(0, 3, (n,), generator=g)]
    return x_1, torch.randn(n, 2, generator=g, dtype=F64), torch.rand(n, 1, generator=g, dtype=F64) * 0.98


def test_cfm_loss_is_the_batch_mean_of_the_squared_norm():
    torch.manual_seed(0)
    model = TimeMLP(2, 16, 2)
    x_1, eps, t = torch.randn(32, 2, generator=GEN), torch.randn(32, 2, generator=GEN), torch.rand(32, 1, generator=GEN)
    loss = flow_matching.cfm_loss(model, x_1, t, eps)
    expected = ((model(t * x_1 + (1 - t) * eps, t) - (x_1 - eps)) ** 2).sum(1).mean()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", list(probability_paths.GAUSSIAN_PATHS))
def test_the_guided_loss_target_is_the_derivative_of_x_t_not_the_slides_form(name):
    """ERRATA: the CFG slide's target d_alpha eps - d_beta x_1 (x_1 + eps for the linear path) is a slip; the target
    is d/dt x_t = d_alpha x_1 + d_beta eps (x_1 - eps), here by a finite difference of x_t in t."""
    x_1, eps = torch.randn(16, 2, generator=GEN, dtype=F64), torch.randn(16, 2, generator=GEN, dtype=F64)
    t, h = torch.rand(16, 1, generator=GEN, dtype=F64) * 0.8 + 0.1, 1e-6
    s = probability_paths.gaussian_path(name)
    target = ((s.alpha(t + h) - s.alpha(t - h)) * x_1 + (s.beta(t + h) - s.beta(t - h)) * eps) / (2 * h)
    y = torch.zeros(16, dtype=torch.long)
    exact = Field(lambda x, tt: target)
    assert float(flow_matching.cfm_loss(exact, x_1, t, eps, name)) == pytest.approx(0.0, abs=1e-14)
    slide = Field(lambda x, tt: s.d_alpha(t) * eps - s.d_beta(t) * x_1)
    assert float(flow_matching.cfm_loss(slide, x_1, t, eps, name)) > 0.1
    labelled = Field(lambda x, tt, yy=None: target)  # the guided loss regresses on the same target
    assert float(flow_matching.cfm_loss(labelled, x_1, t, eps, name, y=y)) == pytest.approx(0.0, abs=1e-14)
    if name == "linear":
        assert torch.allclose(target, x_1 - eps) and not torch.allclose(target, x_1 + eps)


def test_theorem_4_cfm_minus_fm_is_a_constant():
    """L_CFM(f) - L_CFM(u) = E_t,x_t ||f - u||^2 (= L_FM(f), since u is the marginal field)."""
    x_1, eps, t = _batch(200_000, 1)
    shift = torch.tensor([0.3, -0.2], dtype=F64)
    base = flow_matching.cfm_loss(Field(_exact), x_1, t, eps)
    shifted = flow_matching.cfm_loss(Field(lambda x, tt: _exact(x, tt) + shift), x_1, t, eps)
    assert float(shifted - base) == pytest.approx(float((shift**2).sum()), rel=0.02)
    # a field that is wrong where it matters: L_FM = E ||f - u||^2 estimated on the same x_t
    def scaled(x, tt):
        return 1.2 * _exact(x, tt)

    x_t = t * x_1 + (1 - t) * eps
    l_fm = ((0.2 * _exact(x_t, t)) ** 2).sum(1).mean()
    diff = flow_matching.cfm_loss(Field(scaled), x_1, t, eps) - base
    assert float(diff) == pytest.approx(float(l_fm), rel=0.02)


def test_the_marginal_field_minimises_the_cfm_loss():
    x_1, eps, t = _batch(50_000, 2)
    best = flow_matching.cfm_loss(Field(_exact), x_1, t, eps)
    for other in (lambda x, tt: POINTS.mean(0) - x, lambda x, tt: 0.9 * _exact(x, tt)):
        assert float(flow_matching.cfm_loss(Field(other), x_1, t, eps)) > float(best)


def test_drop_labels_frequency_and_edges():
    y = torch.zeros(20_000, dtype=torch.long)
    dropped = flow_matching.drop_labels(y, 0.2, 7, torch.Generator().manual_seed(0))
    assert set(dropped.unique().tolist()) == {0, 7}
    assert float((dropped == 7).float().mean()) == pytest.approx(0.2, abs=0.01)
    assert torch.equal(flow_matching.drop_labels(y, 0.0, 7), y)
    assert bool((flow_matching.drop_labels(y, 1.0, 7) == 7).all())
    with pytest.raises(ValueError, match="probability"):
        flow_matching.drop_labels(y, 1.5, 7)


def test_posterior_weights_against_torch_distributions():
    x = torch.randn(10, 2, generator=GEN, dtype=F64)
    for name in probability_paths.GAUSSIAN_PATHS:
        s, t = probability_paths.gaussian_path(name), 0.4
        a, b = s.alpha(torch.tensor(t, dtype=F64)), s.beta(torch.tensor(t, dtype=F64))
        log_lik = Independent(Normal(a * POINTS, b), 1).log_prob(x[:, None, :])  # (10, 3)
        expected = torch.softmax(log_lik, dim=1)
        got = flow_matching.posterior_weights(x, t, POINTS, name)
        assert torch.allclose(got, expected)
        # the marginal field is their average of the conditional fields
        cond = torch.stack([probability_paths.conditional_velocity(x, z, t, name) for z in POINTS], dim=1)
        assert torch.allclose((got[:, :, None] * cond).sum(1), probability_paths.marginal_velocity(x, t, POINTS, name))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        flow_matching.posterior_weights(x, 1.0, POINTS)


@pytest.mark.parametrize("name", list(probability_paths.GAUSSIAN_PATHS))
def test_conditional_paths_pass_through_the_point(name):
    x, t = torch.tensor([0.3, -0.4], dtype=F64), 0.35
    lines = flow_matching.conditional_paths_through(x, t, POINTS, name, n_times=21)
    assert lines.shape == (3, 21, 2)
    assert torch.allclose(lines[:, -1], POINTS)                       # s = 1: the data point
    s = probability_paths.gaussian_path(name)
    x0 = (x - s.alpha(torch.tensor(t, dtype=F64)) * POINTS) / s.beta(torch.tensor(t, dtype=F64))
    assert torch.allclose(lines[:, 0], x0)                            # s = 0: the noise that leads there
    k = 7  # s = 0.35 on the 21-point grid
    assert torch.allclose(lines[:, k], x.expand(3, 2))


def test_cfg_combination_and_the_guided_field():
    torch.manual_seed(0)
    model = TimeMLP(2, 16, 2, n_labels=3).eval()
    x, t = torch.randn(8, 2, generator=GEN), torch.rand(8, 1, generator=GEN)
    y = 2
    v_u, v_c = model(x, t), model(x, t, torch.full((8,), y))
    assert torch.allclose(flow_matching.cfg_velocity(v_u, v_c, 0.0), v_u)
    assert torch.allclose(flow_matching.cfg_velocity(v_u, v_c, 1.0), v_c)
    assert torch.allclose(flow_matching.cfg_velocity(v_u, v_c, 3.0), v_c + 2.0 * (v_c - v_u))
    with torch.no_grad():
        batched = flow_matching.guided_field(model, y, 2.5)(x, t)
    assert torch.allclose(batched, -1.5 * v_u + 2.5 * v_c, atol=1e-6)


def test_exact_guidance_concentrates_on_the_label():
    mixture, labels = flow_matching.labelled_eight_gaussians()
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    sub = flow_matching.class_mixture(mixture, labels, 1)
    assert torch.allclose(sub.weights, torch.tensor([0.5, 0.5], dtype=F64))
    assert torch.allclose(sub.means, mixture.means[[2, 3]])
    x, t = torch.randn(6, 2, generator=GEN, dtype=F64), torch.full((6, 1), 0.4, dtype=F64)
    at_one = flow_matching.exact_guided_field(mixture, labels, 1, 1.0)(x, t)
    assert torch.allclose(at_one, probability_paths.mixture_velocity(x, 0.4, sub))
    stats = {}
    for w in (0.0, 1.0, 4.0):
        s = flow_matching.sample_field(flow_matching.exact_guided_field(mixture, labels, 1, w), 600, seed=0,
                                       n_steps=30)
        stats[w] = flow_matching.guidance_statistics(s, mixture, labels, 1)
    assert 0.15 < stats[0.0].share < 0.35 and stats[1.0].share > 0.97 and stats[4.0].share > 0.97
    assert stats[1.0].spread == pytest.approx(0.2 * 2**0.5, rel=0.1) and stats[1.0].drift < 0.05
    assert stats[4.0].spread < 0.8 * stats[1.0].spread and stats[4.0].drift > 0.3
    with pytest.raises(ValueError, match="no component has label"):
        flow_matching.class_mixture(mixture, labels, 9)


def test_guidance_statistics_by_hand():
    mixture, labels = flow_matching.labelled_eight_gaussians()
    m0, m1 = mixture.means[0], mixture.means[1]
    near_m0 = [m0 + torch.tensor([0.1, 0.0])] * 5 + [m0 + torch.tensor([0.3, 0.0])] * 5
    samples = torch.stack(near_m0 + [m1] * 10)
    stats = flow_matching.guidance_statistics(samples, mixture, labels, 0)
    assert stats.share == 1.0
    assert stats.spread == pytest.approx((10 * 0.1**2 / 20) ** 0.5)  # only the first group is spread out
    assert stats.drift == pytest.approx((0.2 + 0.0) / 2)             # its centre is 0.2 from m0
    assert flow_matching.guidance_statistics(samples, mixture, labels, 3).share == 0.0


def _ring_statistics(x, mixture):
    """Share of the points nearest each mode (8,) and their rms distance to it."""
    d = torch.cdist(x.double(), mixture.means)
    share = d.argmin(1).bincount(minlength=len(mixture.means)).double() / len(x)
    return share, float(d.min(1).values.pow(2).mean().sqrt())


def test_the_exact_mixture_field_samples_the_mixture():
    mixture = data.eight_gaussians()
    x = flow_matching.sample_field(flow_matching.mixture_field(mixture), 2000, seed=0)
    share, rms = _ring_statistics(x, mixture)
    assert bool(((share - 0.125).abs() < 0.025).all())                # binomial noise: sd 0.0074
    assert rms == pytest.approx(0.2 * 2**0.5, rel=0.05)               # N(m_k, 0.04 I): E|x - m_k|^2 = 0.08


def test_target_sampler():
    for name in data.TARGETS:
        x = flow_matching.target_sampler(name, torch.Generator().manual_seed(0))(50)
        assert x.shape == (50, 2) and x.dtype == torch.float32
    with pytest.raises(ValueError, match="unknown target"):
        flow_matching.target_sampler("spiral")


def test_training_is_seeded_and_lowers_the_loss():
    a = flow_matching.train_flow("moons", steps=60, batch=64, width=16, depth=2, progress=False)
    b = flow_matching.train_flow("moons", steps=60, batch=64, width=16, depth=2, progress=False)
    assert torch.equal(a.losses, b.losses) and a.losses.shape == (60,)
    assert float(a.losses[-20:].mean()) < float(a.losses[:5].mean())
    x = a.sample(30, seed=1)
    assert x.shape == (30, 2) and torch.equal(x, b.sample(30, seed=1))
    assert a.sample(10, return_path=True, n_steps=5).shape == (6, 10, 2)
    assert not any(p.requires_grad for p in a.model.parameters())


def test_guided_training_uses_the_null_label():
    mixture, labels = data.labelled_ring(4, 2.0, 0.2)
    run = flow_matching.train_guided_flow(mixture, labels, eta=0.3, steps=40, batch=64, width=16, depth=2,
                                          progress=False)
    assert run.n_labels == 4 and run.losses.shape == (40,)
    null_row = run.model.label_embedding.weight[4]
    torch.manual_seed(0)  # train_guided_flow's seed: the network it started from
    fresh = TimeMLP(2, 16, 2, n_labels=4)
    assert not torch.allclose(null_row, fresh.label_embedding.weight[4])  # the null token was trained
    assert run.sample(1, 2.0, 20, n_steps=4).shape == (20, 2)


def test_a_trained_flow_reaches_the_eight_gaussians():
    """The notebook's recipe on the easiest target: every mode, the right width (the bench judges W2)."""
    settings = flow_matching.TRAINING["eight_gaussians"]
    run = flow_matching.train_flow("eight_gaussians", progress=False, **settings)
    share, rms = _ring_statistics(run.sample(2000, seed=7), data.eight_gaussians())
    assert bool(((share - 0.125).abs() < 0.035).all())
    assert rms == pytest.approx(0.2 * 2**0.5, rel=0.3)  # a few samples between modes widen it
    assert ode.integrate(run.model, torch.zeros(3, 2), n_steps=2).shape == (3, 2)


def test_w2_ratio_follows_the_bench_protocol():
    from course_utils.metrics import w2_exact

    def draw(n):
        return data.sample_target("moons", n, seed=None)

    good = draw(300)
    judged = flow_matching.w2_ratio(good, draw, repeats=2, seed=3)
    torch.manual_seed(3)  # the same draws, by hand
    model = [w2_exact(good, draw(300)) for _ in range(2)]
    base = [w2_exact(draw(300), draw(300)) for _ in range(2)]
    assert judged.model == pytest.approx(sum(model) / 2) and judged.data == pytest.approx(sum(base) / 2)
    assert judged.ratio == pytest.approx(judged.model / judged.data) and judged.ratio < 1.5
    assert flow_matching.w2_ratio(good + torch.tensor([0.5, 0.0]), draw, repeats=2).ratio > 2
    sets = [draw(200), draw(200)]
    per_set = flow_matching.w2_ratio(sets, draw, repeats=2, seed=4)
    torch.manual_seed(4)
    assert per_set.model == pytest.approx((w2_exact(sets[0], draw(200)) + w2_exact(sets[1], draw(200))) / 2)
    with pytest.raises(ValueError, match="one per repeat"):
        flow_matching.w2_ratio(sets, draw, repeats=3)


# --- one training step, the loss floor, couplings ----------------------------------------------------


class LinearField(torch.nn.Module):
    """v(x, t) = x A^T + t b: its CFM gradient has a closed form."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = torch.nn.Parameter(a.clone()), torch.nn.Parameter(b.clone())

    def forward(self, x, t):
        return x @ self.a.T + t * self.b


def test_cfm_step_is_one_sgd_step_on_the_closed_form_gradient():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(2, 2, generator=g, dtype=F64), torch.randn(2, generator=g, dtype=F64)
    x_1, x_0 = torch.randn(40, 2, generator=g, dtype=F64) + 2, torch.randn(40, 2, generator=g, dtype=F64)
    t = torch.rand(40, 1, generator=g, dtype=F64)
    model = LinearField(a, b)
    model.a.grad, model.b.grad = torch.ones(2, 2, dtype=F64), torch.ones(2, dtype=F64)  # leftovers: must be cleared
    loss = flow_matching.cfm_step(model, torch.optim.SGD(model.parameters(), lr=0.05), x_1, x_0, t)
    x_t = t * x_1 + (1 - t) * x_0
    res = x_t @ a.T + t * b - (x_1 - x_0)                     # (n, d)
    assert loss == pytest.approx(float((res**2).sum(1).mean()))
    grad_a, grad_b = 2 * res.T @ x_t / 40, 2 * (res * t).sum(0) / 40
    assert torch.allclose(model.a.detach(), a - 0.05 * grad_a)
    assert torch.allclose(model.b.detach(), b - 0.05 * grad_b)


def test_the_loss_floor_of_one_point_is_zero_and_at_t_0_the_data_variance():
    x_1, eps, t = _batch(500, 4)
    one = POINTS[:1]
    assert float(flow_matching.cfm_loss_floor(one, one.expand(500, 2), eps, t)) == pytest.approx(0.0, abs=1e-20)
    zero = torch.zeros(500, 1, dtype=F64)
    expected = ((x_1 - POINTS.mean(0)) ** 2).sum(1).mean()
    assert float(flow_matching.cfm_loss_floor(POINTS, x_1, eps, zero)) == pytest.approx(float(expected))


def test_the_loss_floor_is_theorem_4s_constant():
    """Theorem 4: L_CFM(f) - L_FM(f) is the same for every field f, and it is the floor (Monte Carlo, same batch)."""
    x_1, eps, t = _batch(100_000, 5)
    floor = float(flow_matching.cfm_loss_floor(POINTS, x_1, eps, t))
    x_t = t * x_1 + (1 - t) * eps
    u = _exact(x_t, t)
    shift = torch.tensor([0.4, -0.1], dtype=F64)
    for f in (lambda x, tt: torch.zeros_like(x), lambda x, tt: 0.5 * _exact(x, tt) + shift):
        l_cfm = float(flow_matching.cfm_loss(Field(f), x_1, t, eps))
        l_fm = float(((f(x_t, t) - u) ** 2).sum(1).mean())
        assert l_cfm - l_fm == pytest.approx(floor, rel=0.03)


def test_the_mixture_floor_of_one_gaussian_has_a_closed_form():
    """Data N(m, s^2 I) in d = 2: E[x_1 | x_t] is linear and the floor is d s^2 / (t^2 s^2 + (1 - t)^2)."""
    from course_utils.data.mixtures import GaussianMixture

    s2 = 0.5
    one = GaussianMixture(torch.tensor([1.0]), torch.tensor([[1.0, -2.0]]), torch.tensor([s2]))
    times, floors = flow_matching.mixture_loss_floor(one, n=40_000, n_times=5, seed=1)
    exact = 2 * s2 / (times**2 * s2 + (1 - times) ** 2)
    assert torch.allclose(floors, exact, rtol=0.03)


def test_ot_pairing_is_the_best_permutation():
    import itertools

    import ot

    g = torch.Generator().manual_seed(7)
    x_0, x_1 = torch.randn(6, 2, generator=g, dtype=F64), torch.randn(6, 2, generator=g, dtype=F64) + 1
    cost = torch.cdist(x_0, x_1) ** 2
    best = min(itertools.permutations(range(6)), key=lambda p: float(cost[torch.arange(6), list(p)].sum()))
    assert flow_matching.ot_pairing(x_0, x_1).tolist() == list(best)
    plan = ot.emd(torch.full((6,), 1 / 6, dtype=F64).numpy(), torch.full((6,), 1 / 6, dtype=F64).numpy(), cost.numpy())
    c = flow_matching.coupling_cost(x_0, x_1)
    assert c.ot == pytest.approx(float((plan * cost.numpy()).sum()), rel=1e-9)  # the plan has mass 1/6 per pair
    assert c.independent == pytest.approx(float(cost.diagonal().mean())) and c.ot <= c.independent
