"""ddim: DDIM against DDPM's posterior, Euler's method, the Gaussian paths of section 05
(course_utils.s05_flow_matching.probability_paths) and an exact denoiser."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.core import ode
from course_utils.data.mixtures import GaussianMixture
from course_utils.s05_flow_matching import probability_paths
from course_utils.s07_ddpm import ddim
from course_utils.s07_ddpm import diffusion as dm

GEN = torch.Generator().manual_seed(0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")
LINEAR = dm.make_schedule("linear")
MIXTURE = GaussianMixture(torch.tensor([0.5, 0.5]), torch.tensor([[-1.5, 0.5], [1.0, -1.0]]), torch.tensor([0.05, 0.1]))


def ideal(x, t):
    """The exact noise predictor for MIXTURE data (what a perfectly trained network would return)."""
    return ddim.mixture_eps(x, t, MIXTURE, LINEAR).to(x.dtype)


def _x(n=6, d=2):
    return torch.randn(n, d, generator=GEN, dtype=torch.float64)


def test_timesteps_run_from_T_to_0():
    assert ddim.ddim_timesteps(4, 1000).tolist() == [1000, 750, 500, 250, 0]
    assert ddim.ddim_timesteps(1000, 1000).tolist() == list(range(1000, -1, -1))
    steps = ddim.ddim_timesteps(7, 1000)
    assert bool((steps[1:] < steps[:-1]).all())
    with pytest.raises(ValueError, match="n_steps must be an int in 1..1000"):
        ddim.ddim_timesteps(0, 1000)
    assert ddim.ddim_timesteps(3, 1000, t_start=300).tolist() == [300, 200, 100, 0]
    with pytest.raises(ValueError, match="1..300"):
        ddim.ddim_timesteps(301, 1000, t_start=300)


def test_eta_1_with_every_step_is_ddpm_with_the_posterior_variance():
    """eta = 1, t' = t - 1: sigma^2 = beta tilde_t and the mean is DDPM's mu_theta (= q's posterior mean at x0_hat)."""
    for t in (2, 10, 500, 1000):
        sigma = ddim.ddim_sigma(t, t - 1, LINEAR, 1.0)
        assert float(sigma**2) == pytest.approx(float(LINEAR.posterior_variance[t - 1]), rel=1e-10)
        x_t, eps_hat = _x(), _x()
        mean = ddim.ddim_step(x_t, t, t - 1, eps_hat, LINEAR, eta=1.0, z=torch.zeros_like(x_t))
        assert torch.allclose(mean, dm.p_mean(x_t, t, eps_hat, LINEAR), atol=1e-10)
        x0_hat = dm.predict_x0(x_t, t, eps_hat, LINEAR)
        assert torch.allclose(mean, dm.q_posterior(x_t, x0_hat, t, LINEAR).mean, atol=1e-10)
        z = _x()
        noisy = ddim.ddim_step(x_t, t, t - 1, eps_hat, LINEAR, eta=1.0, z=z)
        assert torch.allclose(noisy, mean + sigma * z)
        # the same as DDPM's ancestral step with sigma_t^2 = beta tilde_t
        assert torch.allclose(noisy, dm.ancestral_step(x_t, t, eps_hat, z, LINEAR, variance="posterior"), atol=1e-10)


def test_eta_0_is_deterministic_and_the_last_step_returns_x0_hat():
    x_t, eps_hat = _x(), _x()
    assert float(ddim.ddim_sigma(300, 200, LINEAR, 0.0)) == 0.0
    assert float(ddim.ddim_sigma(300, 0, LINEAR, 1.0)) == 0.0  # no noise at the last step, whatever eta
    last = ddim.ddim_step(x_t, 300, 0, eps_hat, LINEAR, eta=1.0)
    assert torch.allclose(last, dm.predict_x0(x_t, 300, eps_hat, LINEAR))
    with pytest.raises(ValueError, match="pass z"):
        ddim.ddim_step(x_t, 300, 200, eps_hat, LINEAR, eta=0.5)
    with pytest.raises(ValueError, match="0 <= t_prev < t"):
        ddim.ddim_step(x_t, 300, 300, eps_hat, LINEAR)


def test_ddim_keeps_the_kernel_when_eps_is_the_true_noise():
    """If eps_hat is the noise that made x_t from x0, DDIM lands on q(x_t' | x0)'s sample with that same noise."""
    x0, eps = _x(), _x()
    x_t = dm.q_sample(x0, 800, eps, LINEAR)
    assert torch.allclose(ddim.ddim_step(x_t, 800, 350, eps, LINEAR), dm.q_sample(x0, 350, eps, LINEAR))


def test_ddim_step_with_clip_renoises_the_clipped_estimate_with_its_own_noise():
    x_t = torch.randn(50, 3, generator=GEN, dtype=torch.float64) * 2
    eps_hat = torch.randn(50, 3, generator=GEN, dtype=torch.float64)
    x0 = dm.predict_x0(x_t, 600, eps_hat, LINEAR).clamp(-1, 1)
    expected = dm.q_sample(x0, 300, dm.eps_from_x0(x_t, 600, x0, LINEAR), LINEAR)
    assert torch.allclose(ddim.ddim_step(x_t, 600, 300, eps_hat, LINEAR, clip=1.0), expected, atol=1e-10)
    assert torch.allclose(ddim.ddim_step(x_t, 600, 0, eps_hat, LINEAR, clip=1.0), x0, atol=1e-10)


def test_ddim_step_is_euler_on_the_probability_flow_ode_in_sigma():
    for t, t_prev in ((1000, 900), (400, 0), (37, 36)):
        x_t, eps_hat = _x(), _x()
        assert torch.allclose(ddim.euler_sigma_step(x_t, t, t_prev, eps_hat, LINEAR),
                              ddim.ddim_step(x_t, t, t_prev, eps_hat, LINEAR), atol=1e-12)
    x_T = _x(50)
    path = ddim.euler_sigma_path(ideal, x_T, LINEAR, 20)
    _, ddim_path = ddim.ddim_sample(ideal, x_T, LINEAR, 20, return_path=True)
    assert path.shape == ddim_path.shape == (21, 50, 2)
    assert float((path - ddim_path).abs().max()) < 1e-10


def test_ddpm_scheduler_is_the_kernel_in_flow_time():
    s = ddim.DDPMPath(LINEAR)
    for t in (0, 1, 250, 999, 1000):
        tf = torch.tensor(ddim.flow_time(t, 1000), dtype=torch.float64)
        abar = 1.0 if t == 0 else float(LINEAR.abar[t - 1])
        assert float(s.alpha(tf)) == pytest.approx(math.sqrt(abar), rel=1e-9)
        assert float(s.beta(tf)) == pytest.approx(math.sqrt(1 - abar), rel=1e-9, abs=1e-12)
    tf = torch.linspace(0.0, 0.999, 50, dtype=torch.float64)
    assert torch.allclose(s.alpha(tf) ** 2 + s.beta(tf) ** 2, torch.ones(50, dtype=torch.float64))
    assert float(s.alpha(torch.tensor(0.0))) == pytest.approx(0.00635, rel=1e-2)  # sqrt(abar_T): not exactly 0
    assert ddim.ddpm_time(ddim.flow_time(300, 1000), 1000) == pytest.approx(300)


def test_ddpm_scheduler_derivatives_against_autograd_between_steps():
    s = ddim.DDPMPath(LINEAR)
    t = (torch.arange(20, dtype=torch.float64) * 47 + 3.5) / 1000  # off the grid of whole steps
    t = t.requires_grad_(True)
    for f, df in ((s.alpha, s.d_alpha), (s.beta, s.d_beta)):
        (grad,) = torch.autograd.grad(f(t).sum(), t)
        assert torch.allclose(grad, df(t.detach()), rtol=1e-9)


def test_ddpm_scheduler_recomputes_when_t_changes_in_place():
    """Its coefficients at one t are computed once per tensor, and again once that tensor is modified."""
    sched = ddim.DDPMPath(LINEAR)
    t = torch.tensor([[0.3], [0.7]], dtype=torch.float64)
    before = sched.alpha(t).clone()
    assert torch.equal(sched.beta(t), ddim.DDPMPath(LINEAR).beta(t.clone()))
    t[0, 0] = 0.9
    assert not torch.allclose(sched.alpha(t), before)
    assert torch.equal(sched.alpha(t), ddim.DDPMPath(LINEAR).alpha(t.clone()))


def test_sample_path_in_flow_convention_is_q_sample():
    x0, eps = _x(), _x()
    for t in (1, 123, 1000):
        flow = probability_paths.sample_path(x0, ddim.flow_time(t, 1000), eps, ddim.DDPMPath(LINEAR)).x_t
        assert torch.allclose(flow, dm.q_sample(x0, t, eps, LINEAR), atol=1e-12)


def test_eps_velocity_against_the_exact_mixture_velocity_of_course_utils_paths():
    """eps -> score -> velocity with the exact eps equals probability_paths.mixture_velocity on the DDPM path."""
    x = _x(40)
    v = ddim.eps_velocity(ideal, LINEAR)
    sched = ddim.DDPMPath(LINEAR)
    for t in (900, 400, 50):
        tf = ddim.flow_time(t, 1000)
        ours = v(x, torch.full((40, 1), tf, dtype=torch.float64))
        exact = probability_paths.mixture_velocity(x, tf, MIXTURE, sched)
        assert torch.allclose(ours, exact, rtol=1e-6, atol=1e-8)


def test_tweedie_mixture_mean_against_the_score_of_paths_marginal_mixture():
    """E[x0 | x_t] = (x_t + (1 - abar_t) grad log p_t(x_t)) / sqrt(abar_t), with p_t from section 05's
    probability_paths."""
    x = _x(30)
    for t in (5, 300, 990):
        abar = float(LINEAR.abar[t - 1])
        p_t = probability_paths.marginal_mixture(MIXTURE, ddim.flow_time(t, 1000), ddim.DDPMPath(LINEAR))
        tweedie = (x + (1 - abar) * p_t.score(x)) / math.sqrt(abar)
        assert torch.allclose(ddim.mixture_x0_mean(x, t, MIXTURE, LINEAR), tweedie, atol=1e-8)
    # far in the noise, the best guess of x0 is the data mean; at t = 1, a point near a mode stays there
    assert torch.allclose(ddim.mixture_x0_mean(x, 1000, MIXTURE, LINEAR), MIXTURE.mean().expand(30, 2), atol=0.05)
    r, _ = ddim.mixture_posterior(MIXTURE.means, 1, MIXTURE, LINEAR)
    assert torch.allclose(r, torch.eye(2, dtype=torch.float64), atol=1e-6)


def test_ddim_and_the_probability_flow_ode_converge_to_the_same_samples():
    """Deterministic DDIM with more steps approaches the ODE solved with RK4 (course_utils.core.ode), from the same
    noise."""
    x_T = _x(200)
    reference = ddim.pf_ode_sample(ideal, x_T, LINEAR, n_steps=200, method="rk4")
    gaps = [float((ddim.ddim_sample(ideal, x_T, LINEAR, n) - reference).norm(dim=1).mean()) for n in (5, 20, 100)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.05
    euler = ode.integrate(ddim.eps_velocity(ideal, LINEAR), x_T, 0.0, ddim.flow_time(1, 1000), 100, "euler")
    assert float((dm.predict_x0(euler, 1, ideal(euler, 1), LINEAR) - reference).norm(dim=1).mean()) < 0.2


def test_ddim_samples_the_data_with_the_exact_noise_predictor():
    x0 = ddim.ddim_sample(ideal, torch.randn(3000, 2, generator=GEN, dtype=torch.float64), LINEAR, 100)
    left = x0[:, 0] < -0.25
    assert float(left.double().mean()) == pytest.approx(0.5, abs=0.04)
    assert torch.allclose(x0[left].mean(0), MIXTURE.means[0], atol=0.05)


def test_sweep_returns_one_batch_per_step_count():
    out = ddim.ddim_sweep(ideal, _x(10), LINEAR, [1, 5])
    assert sorted(out.samples) == [1, 5] and out.samples[5].shape == (10, 2) and out.seconds[5] > 0


def test_ddim_from_t_start_denoises_a_partly_noisy_point():
    x0 = MIXTURE.means.repeat(50, 1)                                      # (100, 2): the two modes
    x_t = dm.q_sample(x0, 100, _x(100), LINEAR)
    out, path = ddim.ddim_sample(ideal, x_t, LINEAR, 10, t_start=100, return_path=True)
    assert path.shape == (11, 100, 2)
    # x_100 has drifted (shrunk and noised); DDIM brings it back within the modes' spread (sd 0.22 and 0.32)
    assert float((out - x0).norm(dim=1).mean()) < 0.3 < float((x_t - x0).norm(dim=1).mean())


class _Run:
    """A stand-in for diffusion.DDPMRun: a noise predictor, the schedule, and seeded starting noise."""

    def __init__(self, model, d):
        self.model, self.d, self.schedule = model, d, LINEAR

    def noise(self, n, seed):
        return torch.randn(n, self.d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_quality_sweep_ranks_the_step_counts_where_w2_cannot():
    """The sweep's measure, the distance to the accurate ODE solution from the same x_T, falls monotonically with
    the steps and like 1/steps (Euler's order); exact W2 to fresh data on the same 500 samples does not."""
    from course_utils.data import eight_gaussians
    from course_utils.metrics import w2_exact

    target = eight_gaussians()

    def exact(x, t):
        return ddim.mixture_eps(x.double(), t, target, LINEAR).to(x.dtype)

    steps = (1, 2, 5, 10, 20, 50, 200)
    q = ddim.ddim_quality(_Run(exact, 2), _Run(lambda x, t: torch.zeros_like(x), 64), target, steps=steps,
                          n_2d=500, n_digits=100)
    gaps = [q.ode_gap[k] for k in steps]
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False))
    assert 3 < q.ode_gap[10] / q.ode_gap[50] < 7 and q.ode_gap[200] < 0.02
    g = torch.Generator().manual_seed(3)
    w2 = [w2_exact(q.sweep_2d.samples[k], target.sample(500, g)) for k in (5, 10, 20, 50, 200)]
    assert not all(a > b for a, b in zip(w2, w2[1:], strict=False))  # W2's own noise reorders them
    # one step from x_T with a zero noise prediction is x_T / sqrt(abar_T): clipped, every pixel saturates
    assert q.saturated[1] > 0.95
    assert ddim.saturated_fraction(torch.tensor([0.0, 1.0, 0.5, 0.9995])) == 0.75
