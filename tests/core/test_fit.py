"""course_utils.core.fit: the one training loop, its learning-rate schedules and its weight average."""

import time

import pytest
import torch

from course_utils.core import fit as training
from course_utils.core.fit import fit


def _regression(seed=0, n=256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g)
    y = 3.0 * x + 1.0 + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def _mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_fit_decreases_a_regression_loss_and_returns_one_loss_per_step():
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    history = fit(model, _mse, _regression(), steps=300, lr=0.05, progress=False)
    assert history.shape == (300,) and history.dtype == torch.float64
    assert history[-1] < history[0] / 50
    assert model.weight.item() == pytest.approx(3.0, abs=0.05)
    assert model.bias.item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("kind", ["function", "list", "tuple"])
def test_fit_takes_a_function_a_list_or_a_tuple_batch(kind):
    x, y = _regression()
    batches = {"function": lambda: (x, y), "list": [(x[:128], y[:128]), (x[128:], y[128:])], "tuple": (x, y)}[kind]
    seen = []
    loss = lambda m, b: seen.append(len(b[0])) or _mse(m, b)
    history = fit(torch.nn.Linear(1, 1), loss, batches, steps=5, progress=False)
    assert history.shape == (5,)
    assert seen == ([128] * 5 if kind == "list" else [256] * 5)  # the list restarts after its 2 batches


def test_fit_with_a_progress_bar_writes_to_stderr(capsys):
    fit(torch.nn.Linear(1, 1), _mse, _regression(), steps=3, progress=True, desc="regression")
    assert "regression" in capsys.readouterr().err


def test_fit_restores_the_models_mode():
    model = torch.nn.Linear(1, 1).eval()
    fit(model, lambda m, b: _mse(m, b) * (1.0 if m.training else float("nan")), _regression(), 2, progress=False)
    assert not model.training


def test_fit_stops_before_overrunning_max_seconds():
    def slow(model, batch):
        time.sleep(0.01)
        return _mse(model, batch)

    start = time.perf_counter()
    history = fit(torch.nn.Linear(1, 1), slow, _regression(), steps=1000, progress=False, max_seconds=0.2)
    assert 5 < len(history) < 1000
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("steps", [0, -3, 2.5, "10", True, None])
def test_fit_rejects_steps_that_are_not_a_positive_int(steps):
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        fit(torch.nn.Linear(1, 1), _mse, _regression(), steps=steps, progress=False)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "0.1"])
def test_fit_rejects_a_bad_learning_rate(lr):
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        fit(torch.nn.Linear(1, 1), _mse, _regression(), steps=1, lr=lr, progress=False)


def test_fit_rejects_bad_arguments_with_a_message():
    batch = _regression()
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fit(lambda x: x, _mse, batch, steps=1)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(torch.nn.Linear(1, 1).requires_grad_(False), _mse, batch, steps=1)
    with pytest.raises(TypeError, match=r"loss_fn must be a function loss_fn\(model, batch\)"):
        fit(torch.nn.Linear(1, 1), "mse", batch, steps=1)
    with pytest.raises(TypeError, match="batches must be a tensor"):
        fit(torch.nn.Linear(1, 1), _mse, 3, steps=1)
    with pytest.raises(ValueError, match="max_seconds must be a positive finite number"):
        fit(torch.nn.Linear(1, 1), _mse, batch, steps=1, max_seconds=0)


def test_fit_explains_a_loss_that_is_not_a_scalar_or_has_no_gradient():
    model = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match=r"scalar tensor \(shape \(\)\), got \(256, 1\)"):
        fit(model, lambda m, b: (m(b[0]) - b[1]) ** 2, _regression(), steps=1, progress=False)
    with pytest.raises(ValueError, match="does not depend on the model's parameters"):
        fit(model, lambda m, b: b[1].mean(), _regression(), steps=1, progress=False)


def test_fit_stops_on_a_nan_loss_and_says_when():
    with pytest.raises(FloatingPointError, match="the loss became nan at step 0 of 3: try a smaller lr"):
        fit(torch.nn.Linear(1, 1), lambda m, b: _mse(m, b) * float("nan"), _regression(), 3, progress=False)


def test_fit_says_when_a_generator_of_batches_runs_out():
    batches = (_regression(seed) for seed in range(2))
    with pytest.raises(ValueError, match="batches ran out before the last step"):
        fit(torch.nn.Linear(1, 1), _mse, batches, steps=3, progress=False)


def _rates_seen(**fit_kwargs) -> list[float]:
    """The learning rate of each Adam step while fit trains a small regression."""
    seen = []
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.Adam.step = spy
    try:
        fit(torch.nn.Linear(1, 1), _mse, _regression(), progress=False, **fit_kwargs)
    finally:
        torch.optim.Adam.step = original
    return seen


def test_cosine_decay_runs_from_one_to_zero():
    assert training.cosine_decay(0, 100) == 1.0
    assert training.cosine_decay(50, 100) == pytest.approx(0.5)
    assert 0 < training.cosine_decay(99, 100) < 1e-3
    assert training.cosine_decay(200, 100) == 0.0


@pytest.mark.parametrize("schedule", ["cosine", lambda step, steps: 0.5 ** step])
def test_fit_sets_the_learning_rate_of_each_step_from_its_schedule(schedule):
    seen = _rates_seen(steps=8, lr=0.1, lr_schedule=schedule)
    factor = training.cosine_decay if schedule == "cosine" else schedule
    assert seen == pytest.approx([0.1 * factor(k, 8) for k in range(8)])


def test_fit_keeps_a_constant_rate_by_default_and_rejects_an_unknown_schedule():
    assert _rates_seen(steps=4, lr=0.1) == [0.1] * 4
    with pytest.raises(ValueError, match="lr_schedule"):
        fit(torch.nn.Linear(1, 1), _mse, _regression(), steps=1, lr_schedule="linear", progress=False)


def test_weight_average_is_the_exponential_moving_average():
    model = torch.nn.Linear(2, 1)
    start = [p.detach().clone() for p in model.parameters()]
    avg = training.WeightAverage(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    avg.update()
    for a, s in zip(avg.averaged.parameters(), start, strict=True):
        assert torch.allclose(a, 0.9 * s + 0.1 * (s + 1.0))
        assert not a.requires_grad
    with pytest.raises(ValueError, match="decay"):
        training.WeightAverage(model, decay=1.0)


def test_weight_average_warmup_weighs_the_first_updates_nearly_equally():
    model = torch.nn.Linear(1, 1, bias=False)
    avg = training.WeightAverage(model, decay=0.999, warmup=True)
    with torch.no_grad():
        model.weight.fill_(0.0)
        avg.averaged.weight.fill_(0.0)
        for k in range(1, 4):
            model.weight.fill_(float(k))
            avg.update()
    # decays 2/11, 3/12, 4/13: far from 0.999, so the average follows the recent weights
    expected = 0.0
    for k, decay in zip(range(1, 4), (2 / 11, 3 / 12, 4 / 13), strict=True):
        expected = decay * expected + (1 - decay) * k
    assert float(avg.averaged.weight) == pytest.approx(expected)


def test_fit_updates_the_average_after_every_step():
    model = torch.nn.Linear(1, 1)
    avg = training.WeightAverage(model, decay=0.5)
    fit(model, _mse, _regression(), steps=5, lr=0.1, average=avg, progress=False)
    assert avg.updates == 5
    with pytest.raises(TypeError, match="WeightAverage"):
        fit(model, _mse, _regression(), steps=1, average=model, progress=False)
