"""diffusion against the lecture's values, NumPy, torch.distributions, Monte Carlo and Bayes' rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Normal

from course_utils.data.mixtures import GaussianMixture
from course_utils.s07_ddpm import diffusion as dm

GEN = torch.Generator().manual_seed(0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")
LINEAR = dm.make_schedule("linear")
COSINE = dm.make_schedule("cosine")


# --- schedules -----------------------------------------------------------------------------------

def test_linear_schedule_pins_the_lectures_values_and_the_indexing():
    """Ho et al.: T = 1000, beta_1 = 1e-4, beta_T = 0.02; abar_T ~ 4.04e-5 and abar_500 ~ 0.0786 (ERRATA)."""
    betas = dm.linear_betas()
    assert betas.shape == (1000,) and betas.dtype == torch.float64
    assert float(betas[0]) == pytest.approx(1e-4) and float(betas[-1]) == pytest.approx(0.02)
    abar = dm.alpha_bar(betas)
    assert float(abar[-1]) == pytest.approx(4.04e-5, rel=2e-3)          # abar_T
    assert float(LINEAR.at(LINEAR.abar, 500)) == pytest.approx(0.0786, rel=1e-3)
    # off by one: abar[500] is abar_501 and abar[499] is abar_500; the two differ in the third digit
    assert float(abar[499]) == pytest.approx(0.0786, rel=1e-3)
    assert float(abar[500]) != pytest.approx(0.0786, rel=5e-3)
    assert float(LINEAR.at(LINEAR.betas, 1)) == pytest.approx(1e-4)
    assert float(LINEAR.at(LINEAR.betas, 1000)) == pytest.approx(0.02)


def test_alpha_bar_against_numpy_products():
    b = np.linspace(1e-4, 0.02, 1000)
    for t in (1, 2, 10, 500, 1000):
        assert float(LINEAR.at(LINEAR.abar, t)) == pytest.approx(np.prod(1 - b[:t]), rel=1e-12)
    assert torch.allclose(LINEAR.abar_prev[1:], LINEAR.abar[:-1]) and float(LINEAR.abar_prev[0]) == 1.0
    assert torch.allclose(LINEAR.snr, LINEAR.abar / (1 - LINEAR.abar))


def test_cosine_schedule_closed_form():
    s, T = 0.008, 1000
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in (1, 100, 500, 900):
        assert float(COSINE.at(COSINE.abar, t)) == pytest.approx(f(t) / f(0), rel=1e-9)
    assert float(COSINE.betas.max()) == pytest.approx(0.999)  # clipped at the end
    # the cosine schedule keeps more signal in the middle than the linear one
    assert float(COSINE.at(COSINE.abar, 500)) > 5 * float(LINEAR.at(LINEAR.abar, 500))


def test_schedule_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="in .0, 1."):
        dm.NoiseSchedule(torch.tensor([0.1, 1.2]))
    with pytest.raises(ValueError, match="shape .T,."):
        dm.alpha_bar(torch.ones(2, 2) * 0.1)
    with pytest.raises(ValueError, match="unknown schedule"):
        dm.make_schedule("quadratic")
    with pytest.raises(ValueError, match="1..T = 1..1000"):
        LINEAR.at(LINEAR.abar, 0)
    with pytest.raises(ValueError, match="1..T = 1..1000"):
        LINEAR.at(LINEAR.abar, torch.tensor([5, 1001]))
    with pytest.raises(ValueError, match="whole diffusion steps"):
        dm.check_steps(torch.tensor([2.5]), 1000)
    with pytest.raises(ValueError, match="rows"):
        dm.q_sample(torch.zeros(3, 2), torch.tensor([1, 2]), torch.zeros(3, 2), LINEAR)


# --- the forward process ---------------------------------------------------------------------------

def test_kernel_moments_equal_the_iterated_chain_exactly():
    """Propagating mean and variance through q(x_t | x_{t-1}) step by step gives sqrt(abar_t) x0 and 1 - abar_t."""
    x0 = torch.tensor([[1.5, -2.0]], dtype=torch.float64)
    mean, var = x0.clone(), torch.zeros(1, 1, dtype=torch.float64)
    for t in range(1, 1001):
        a = float(LINEAR.betas[t - 1])
        mean, var = math.sqrt(1 - a) * mean, (1 - a) * var + a
        if t in (1, 50, 500, 1000):
            k = dm.diffusion_kernel(x0, t, LINEAR)
            assert torch.allclose(k.mean, mean, rtol=1e-10) and torch.allclose(k.variance, var, rtol=1e-10)


@pytest.mark.parametrize("t_end", [10, 300])
def test_iterating_the_chain_samples_the_kernel(t_end):
    """Monte Carlo: 40,000 chains from one x0 against q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I); KS tests."""
    n = 40_000
    x0 = torch.tensor([[2.0, -1.0]], dtype=torch.float64).expand(n, 2)
    chain = dm.forward_chain(x0, LINEAR, t_end, torch.Generator().manual_seed(1))
    direct = dm.q_sample(x0, t_end, torch.randn(n, 2, generator=torch.Generator().manual_seed(2),
                                                dtype=torch.float64), LINEAR)
    abar = float(LINEAR.at(LINEAR.abar, t_end))
    for x in (chain, direct):
        assert torch.allclose(x.mean(0), math.sqrt(abar) * x0[0], atol=4 * math.sqrt((1 - abar) / n))
        assert torch.allclose(x.var(0), torch.full((2,), 1 - abar, dtype=torch.float64), rtol=0.02)
    standardised = (chain[:, 0] - math.sqrt(abar) * 2.0) / math.sqrt(1 - abar)
    assert stats.kstest(standardised.numpy(), "norm").pvalue > 1e-3
    assert stats.ks_2samp(chain[:, 1].numpy(), direct[:, 1].numpy()).pvalue > 1e-3


def test_forward_chain_path_and_q_step():
    x0 = torch.randn(5, 3, generator=GEN)
    path = dm.forward_chain(x0, LINEAR, 4, torch.Generator().manual_seed(0), return_path=True)
    assert path.shape == (5, 5, 3) and torch.equal(path[0], x0)
    eps = torch.randn(5, 3, generator=GEN)
    beta = float(LINEAR.betas[1])
    assert torch.allclose(dm.q_step(x0, 2, eps, LINEAR), math.sqrt(1 - beta) * x0 + math.sqrt(beta) * eps)


def test_posterior_against_bayes_rule_with_torch_distributions():
    """log q(x_{t-1} | x_t, x0) = log q(x_t | x_{t-1}) + log q(x_{t-1} | x0) - log q(x_t | x0), for any x_{t-1}."""
    x0 = torch.randn(6, 2, generator=GEN, dtype=torch.float64)
    for t in (2, 40, 700):
        x_t = dm.q_sample(x0, t, torch.randn(6, 2, generator=GEN, dtype=torch.float64), LINEAR)
        post = dm.q_posterior(x_t, x0, t, LINEAR)
        beta = float(LINEAR.betas[t - 1])
        abar_t, abar_prev = float(LINEAR.abar[t - 1]), float(LINEAR.abar[t - 2])
        for _ in range(3):
            x_prev = torch.randn(6, 2, generator=GEN, dtype=torch.float64)
            bayes = (Normal(math.sqrt(1 - beta) * x_prev, math.sqrt(beta)).log_prob(x_t)
                     + Normal(math.sqrt(abar_prev) * x0, math.sqrt(1 - abar_prev)).log_prob(x_prev)
                     - Normal(math.sqrt(abar_t) * x0, math.sqrt(1 - abar_t)).log_prob(x_t))
            ours = Normal(post.mean, post.variance.sqrt()).log_prob(x_prev)
            assert torch.allclose(ours, bayes, atol=1e-8)


def test_posterior_at_t_1_is_the_data_point():
    x0, x1 = torch.randn(4, 2, generator=GEN), torch.randn(4, 2, generator=GEN)
    post = dm.q_posterior(x1, x0, 1, LINEAR)
    assert torch.allclose(post.mean, x0, atol=1e-6) and float(post.variance.abs().max()) < 1e-12


# --- noise prediction and the loss -----------------------------------------------------------------

def test_eps_to_score_is_the_kernels_score_by_autograd():
    x0 = torch.randn(8, 2, generator=GEN, dtype=torch.float64)
    eps = torch.randn(8, 2, generator=GEN, dtype=torch.float64)
    for t in (1, 100, 1000):
        x_t = dm.q_sample(x0, t, eps, LINEAR).requires_grad_(True)
        abar = float(LINEAR.abar[t - 1])
        (grad,) = torch.autograd.grad(Normal(math.sqrt(abar) * x0, math.sqrt(1 - abar)).log_prob(x_t).sum(), x_t)
        assert torch.allclose(dm.eps_to_score(eps, t, LINEAR), grad)
        assert torch.allclose(dm.score_to_eps(grad, t, LINEAR), eps)


def test_predict_x0_inverts_q_sample_and_p_mean_is_the_posterior_mean_at_x0_hat():
    x0 = torch.randn(10, 3, generator=GEN, dtype=torch.float64)
    eps = torch.randn(10, 3, generator=GEN, dtype=torch.float64)
    t = torch.randint(1, 1001, (10,), generator=GEN)
    x_t = dm.q_sample(x0, t, eps, LINEAR)
    assert torch.allclose(dm.predict_x0(x_t, t, eps, LINEAR), x0)
    assert torch.allclose(dm.eps_from_x0(x_t, t, x0, LINEAR), eps)
    for step in (2, 300, 1000):
        x_s = dm.q_sample(x0, step, eps, LINEAR)
        eps_hat = torch.randn(10, 3, generator=GEN, dtype=torch.float64)
        x0_hat = dm.predict_x0(x_s, step, eps_hat, LINEAR)
        assert torch.allclose(dm.p_mean(x_s, step, eps_hat, LINEAR), dm.q_posterior(x_s, x0_hat, step, LINEAR).mean)


def test_eps_loss_against_a_direct_mse():
    torch.manual_seed(0)
    net = dm.EpsNet(2, width=16, depth=1)
    x0, eps = torch.randn(32, 2, generator=GEN), torch.randn(32, 2, generator=GEN)
    t = torch.randint(1, 1001, (32,), generator=GEN)
    abar = LINEAR.abar.float()[t - 1][:, None]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    expected = torch.nn.functional.mse_loss(net(x_t, t), eps, reduction="sum") / 32
    loss = dm.eps_loss(net, x0, t, eps, LINEAR)
    assert loss.shape == () and torch.allclose(loss, expected)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


# --- the reverse process ------------------------------------------------------------------------

def test_ancestral_step_variance_is_beta_and_the_last_step_adds_no_noise():
    x = torch.zeros(200_000, 1, dtype=torch.float64)
    eps_hat = torch.zeros_like(x)
    z = torch.randn(x.shape, generator=GEN, dtype=torch.float64)
    for t in (2, 500, 1000):
        out = dm.ancestral_step(x, t, eps_hat, z, LINEAR)
        assert float(out.std()) == pytest.approx(math.sqrt(float(LINEAR.betas[t - 1])), rel=0.01)
        post = dm.ancestral_step(x, t, eps_hat, z, LINEAR, variance="posterior")
        assert float(post.std()) == pytest.approx(math.sqrt(float(LINEAR.posterior_variance[t - 1])), rel=0.01)
    last = dm.ancestral_step(x[:5] + 1, 1, eps_hat[:5], z[:5], LINEAR)
    assert torch.allclose(last, dm.p_mean(x[:5] + 1, 1, eps_hat[:5], LINEAR))
    assert float(dm.reverse_sigma(7, LINEAR)) == pytest.approx(math.sqrt(float(LINEAR.betas[6])))
    with pytest.raises(ValueError, match="one int step"):
        dm.ancestral_step(x[:2], torch.tensor([3, 3]), eps_hat[:2], z[:2], LINEAR)


def _mixture():
    return GaussianMixture(torch.tensor([0.3, 0.7]), torch.tensor([[-2.0, 0.0], [1.5, 1.0]]),
                           torch.tensor([0.04, 0.09]))


def test_ancestral_sampler_with_the_exact_noise_predictor_samples_the_data():
    """With the ideal eps (exact for mixture data) the slides' sampler must return the data distribution."""
    from course_utils.s07_ddpm.ddim import mixture_eps

    mixture = _mixture()

    def ideal(x, t):
        return mixture_eps(x, t, mixture, LINEAR).to(x.dtype)

    x_T = torch.randn(4000, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x0 = dm.ancestral_sample(ideal, x_T, LINEAR, torch.Generator().manual_seed(4))
    left = x0[:, 0] < 0
    assert float(left.double().mean()) == pytest.approx(0.3, abs=0.03)
    assert torch.allclose(x0[left].mean(0), mixture.means[0], atol=0.03)
    assert torch.allclose(x0[~left].mean(0), mixture.means[1], atol=0.03)
    assert float(x0[~left].std(0).mean()) == pytest.approx(0.3, rel=0.1)


def test_sampler_path_and_shapes():
    torch.manual_seed(0)
    net = dm.EpsNet(2, width=8, depth=1)
    small = dm.make_schedule("linear", T=20)
    x0, (path, steps) = dm.ancestral_sample(net, torch.randn(7, 2), small, return_path=True, path_every=5)
    assert x0.shape == (7, 2) and path.shape == (5, 7, 2)
    assert steps.tolist() == [20, 15, 10, 5, 0] and torch.equal(path[-1], x0)


# --- the network, training, pixels ---------------------------------------------------------------

def test_eps_net_shapes_and_fractional_time():
    net = dm.EpsNet(64, width=16, depth=2)
    x = torch.randn(5, 64)
    assert net(x, torch.arange(1, 6)).shape == (5, 64)
    assert net(x, 3).shape == (5, 64)
    assert net(x.double(), torch.full((5, 1), 2.5)).dtype == torch.float64
    with pytest.raises(ValueError, match=r"shape \(n, 64\)"):
        net(torch.zeros(3, 2), 1)


def test_eps_net_embeds_a_shared_step_once_with_the_same_result():
    """The samplers give every point the same step: the net embeds it once and broadcasts, same numbers."""
    net = dm.EpsNet(2, width=16, depth=2)
    x = torch.randn(9, 2, generator=GEN)
    per_row = torch.stack([net(x[i:i + 1], torch.tensor([37]))[0] for i in range(9)])
    assert torch.allclose(net(x, torch.full((9,), 37)), per_row, atol=1e-6)
    assert torch.allclose(net(x, 37), per_row, atol=1e-6)
    mixed = torch.tensor([5, 37, 900, 5, 5, 37, 1, 2, 3])
    per_row = torch.stack([net(x[i:i + 1], mixed[i:i + 1])[0] for i in range(9)])
    assert torch.allclose(net(x, mixed), per_row, atol=1e-6)
    with pytest.raises(ValueError, match="one step or one per row"):
        net(x, torch.tensor([1, 2]))


def test_schedule_lookup_of_one_int_step_matches_the_checked_path():
    x = torch.zeros(4, 2)
    for t in (1, 500, 1000):
        assert torch.equal(LINEAR.at(LINEAR.abar, t, x), LINEAR.at(LINEAR.abar, torch.tensor([t]), x))
        assert torch.equal(dm.check_steps(t, 1000, 3), torch.full((3,), t))
    with pytest.raises(ValueError, match="1..T"):
        LINEAR.at(LINEAR.abar, 0)
    with pytest.raises(ValueError, match="1..T"):
        dm.check_steps(1001, 1000)


def test_train_ddpm_hands_its_learning_rate_schedule_to_fit(monkeypatch):
    small = dm.make_schedule("linear", T=100)
    data = torch.randn(200, 2, generator=GEN)
    seen = {}
    real_fit = dm.fit

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(dm, "fit", spy)
    dm.train_ddpm(data, small, steps=3, batch=16, width=8, lr_schedule="cosine", progress=False)
    assert seen["lr_schedule"] == "cosine" and seen["average"].updates == 3
    with pytest.raises(ValueError, match="lr_schedule"):
        dm.train_ddpm(data, small, steps=1, lr_schedule="linear", progress=False)


def test_ema_warmup_starts_as_a_plain_mean():
    """With the warm-up the average of one step is the trained weights themselves, not mostly the initial ones."""
    small = dm.make_schedule("linear", T=100)
    data = torch.randn(200, 2, generator=GEN)
    kw = dict(steps=1, batch=16, width=8, ema_decay=0.99, progress=False)
    warm = dm.train_ddpm(data, small, ema_warmup=True, **kw)
    cold = dm.train_ddpm(data, small, ema_warmup=False, **kw)
    init = dm.EpsNet(2, 8, 2)
    for p_ema, p_net, p0 in zip(warm.model.parameters(), warm.net.parameters(), init.parameters(), strict=True):
        # one update, after the step, with decay min(0.99, 2/11)
        assert torch.allclose(p_ema, p0 + (1 - 2 / 11) * (p_net - p0), atol=1e-6)
    for p_ema, p0 in zip(cold.model.parameters(), init.parameters(), strict=True):
        assert torch.allclose(p_ema, p0, atol=0.01)


def test_train_ddpm_runs_and_lowers_the_loss():
    small = dm.make_schedule("linear", T=100)
    data = torch.randn(500, 2, generator=GEN) * 0.1 + torch.tensor([1.0, -1.0])
    run = dm.train_ddpm(data, small, steps=150, batch=64, width=32, progress=False)
    assert run.losses.shape == (150,) and run.seconds > 0
    assert float(run.losses[-30:].mean()) < float(run.losses[:30].mean())
    assert run.sample(11, seed=1).shape == (11, 2)
    assert not any(p.requires_grad for p in run.model.parameters())
    with pytest.raises(TypeError, match="tensor .n, d. or a function"):
        dm.train_ddpm([1, 2], small, steps=1)


def test_pixels_round_trip():
    p = torch.rand(3, 64, generator=GEN)
    assert torch.allclose(dm.signed_to_pixels(dm.pixels_to_signed(p)), p)
    assert float(dm.pixels_to_signed(torch.zeros(1))) == -1.0
