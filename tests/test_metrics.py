"""Tests of course_utils.metrics against independent oracles.

w2_exact (POT's network simplex) is compared with closed forms (a permutation, a translation),
with the 1-D quantile formula, with SciPy's assignment solver and SciPy's 1-D W1, and with
the W2 between two Gaussians; the digits classifier with real digits; the digits quality measure's
Frechet distance with closed forms and SciPy's matrix square root, and the measure itself with
controls of known quality (real, blurred, the mean digit plus noise, noise, one class).
"""

import math

import numpy as np
import pytest
import torch
from scipy import linalg, optimize, spatial, stats

from course_utils import metrics
from course_utils.data.digits import digits_data, load_digits_split
from course_utils.metrics import (
    DIGITS_QUALITY_BUDGET,
    DIGITS_SCALE,
    DigitsQuality,
    digits_classifier,
    digits_controls,
    digits_quality,
    digits_scores,
    w2_exact,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _w2_1d_quantiles(x, y) -> float:
    """Exact 1-D W2 of two uniform empirical measures: integrate (F^-1(t) - G^-1(t))^2 over t in [0, 1].

    Both quantile functions are step functions, constant between the breakpoints i/n and j/m.
    """
    x, y = np.sort(x), np.sort(y)
    n, m = len(x), len(y)
    breaks = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    mids = (breaks[:-1] + breaks[1:]) / 2
    qx, qy = x[np.floor(mids * n).astype(int)], y[np.floor(mids * m).astype(int)]
    return math.sqrt(float(np.sum(np.diff(breaks) * (qx - qy) ** 2)))


# --- closed forms ------------------------------------------------------------------------


def test_a_cloud_and_a_permutation_of_itself_are_at_distance_zero():
    x = _rng().normal(size=(200, 3))
    assert w2_exact(x, x[_rng(1).permutation(200)]) == pytest.approx(0.0, abs=1e-7)


def test_a_translated_cloud_is_at_the_length_of_the_translation():
    x = _rng().normal(size=(150, 2))
    c = np.array([1.5, -2.0])
    assert w2_exact(x, x + c) == pytest.approx(2.5, rel=1e-9)
    assert w2_exact(torch.tensor(x), torch.tensor(x + c)) == pytest.approx(2.5, rel=1e-9)  # tensors too


def test_symmetric_and_a_cloud_repeated_twice_is_the_same_measure():
    x, y = _rng().normal(size=(40, 2)), _rng(1).normal(size=(60, 2))
    assert w2_exact(x, y) == pytest.approx(w2_exact(y, x), rel=1e-9)
    assert w2_exact(x, np.concatenate([x, x])) == pytest.approx(0.0, abs=1e-7)


# --- 1-D: sorted samples, quantiles, and not W1 ----------------------------------------------


def test_1d_equal_sizes_match_the_sorted_coupling():
    x, y = _rng().normal(size=300), _rng(1).gamma(2.0, size=300)
    want = math.sqrt(np.mean((np.sort(x) - np.sort(y)) ** 2))
    assert w2_exact(x[:, None], y[:, None]) == pytest.approx(want, rel=1e-9)


def test_1d_unequal_sizes_match_the_quantile_formula():
    x, y = _rng().normal(size=70), _rng(1).exponential(size=45)
    assert w2_exact(x[:, None], y[:, None]) == pytest.approx(_w2_1d_quantiles(x, y), rel=1e-9)


def test_1d_w2_is_not_scipys_w1_but_uses_the_same_sorted_coupling():
    x, y = _rng().normal(size=300), _rng(1).normal(3.0, 2.0, size=300)
    w1 = stats.wasserstein_distance(x, y)
    # the sorted coupling is optimal for both: SciPy's W1 is its mean |distance| ...
    assert w1 == pytest.approx(np.mean(np.abs(np.sort(x) - np.sort(y))), rel=1e-9)
    # ... and W2 its root mean square, which is larger here (Jensen), not W1
    w2 = w2_exact(x[:, None], y[:, None])
    assert w2 == pytest.approx(math.sqrt(np.mean((np.sort(x) - np.sort(y)) ** 2)), rel=1e-9)
    assert w2 > w1 * 1.01


# --- d > 1: an assignment solver, and Gaussians ------------------------------------------------


@pytest.mark.parametrize("d", [2, 5])
def test_equal_sizes_match_scipys_optimal_assignment(d):
    x, y = _rng().normal(size=(120, d)), _rng(1).uniform(-2, 2, size=(120, d))
    cost = spatial.distance.cdist(x, y, "sqeuclidean")
    rows, cols = optimize.linear_sum_assignment(cost)
    assert w2_exact(x, y) == pytest.approx(math.sqrt(cost[rows, cols].mean()), rel=1e-9)


def test_two_gaussian_clouds_are_about_the_distance_between_their_means():
    n, s = 500, 0.5
    m1, m2 = np.array([0.0, 0.0]), np.array([2.0, 1.0])
    x, y = _rng(2).normal(m1, s, size=(n, 2)), _rng(3).normal(m2, s, size=(n, 2))
    got = w2_exact(x, y)
    # W2(N(m1, s^2 I), N(m2, s^2 I)) = |m1 - m2|; the two samples add a small positive error
    assert got == pytest.approx(np.linalg.norm(m1 - m2), abs=0.1)
    assert got >= np.linalg.norm(x.mean(0) - y.mean(0))  # W2 >= the distance between the means, always


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros(5), np.zeros((5, 1)), r"x must be a point cloud of shape \(n, d\)"),
        (np.zeros((5, 2)), np.zeros((5, 2, 1)), r"y must be a point cloud of shape \(n, d\)"),
        (np.zeros((0, 2)), np.zeros((5, 2)), r"n >= 1"),
        (np.zeros((5, 2)), np.zeros((4, 3)), r"same dimension.*d = 2.*d = 3"),
        (np.full((3, 2), np.nan), np.zeros((3, 2)), r"x holds NaN"),
    ],
)
def test_wrong_inputs_raise_with_a_message(x, y, message):
    with pytest.raises(ValueError, match=message):
        w2_exact(x, y)


def test_not_numbers_raise_a_type_error():
    with pytest.raises(TypeError, match="x must be a tensor or array"):
        w2_exact("points", np.zeros((2, 2)))


# --- digits ----------------------------------------------------------------------------------


def test_digits_data_is_scaled_to_the_unit_interval():
    x, y = digits_data()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert x.min() == 0 and x.max() == 1 and DIGITS_SCALE == 16
    assert set(y.tolist()) == set(range(10))


def test_the_digits_classifier_is_accurate_on_held_out_digits_and_cached():
    clf = digits_classifier()
    assert clf.heldout_accuracy > 0.9
    assert clf.n_train + clf.n_heldout == 1797
    assert digits_classifier() is clf


def test_real_digits_as_reconstructions_score_about_the_classifiers_accuracy():
    x, y = digits_data()
    scores = digits_scores(torch.tensor(x), torch.tensor(y), torch.tensor(x))
    assert scores["classifier_accuracy"] == digits_classifier().heldout_accuracy
    assert scores["classifier_accuracy"] - 0.02 <= scores["accuracy"] <= 1.0
    assert scores["coverage"] == 1.0
    assert sum(scores["histogram"]) == 1797 and min(scores["histogram"]) > 150


def test_samples_of_one_digit_cover_a_tenth_of_the_classes():
    x, y = digits_data()
    sevens = x[y == 7]
    scores = digits_scores(samples=sevens)
    assert scores["coverage"] == pytest.approx(0.1)
    assert scores["accuracy"] is None
    assert np.argmax(scores["histogram"]) == 7


def test_coverage_counts_a_class_only_above_its_minimum_share():
    x, _ = digits_data()
    predicted = digits_classifier().predict(x)
    mostly_ones = np.concatenate([x[predicted == 1][:100], x[predicted == 2][:1]])  # one 2 in 101: under 2%
    assert digits_scores(samples=mostly_ones)["coverage"] == pytest.approx(0.1)
    assert digits_scores(samples=mostly_ones, min_fraction=0.005)["coverage"] == pytest.approx(0.2)


def test_digits_scores_wrong_inputs_raise_with_a_message():
    x, y = digits_data()
    with pytest.raises(ValueError, match="pass recon and labels together"):
        digits_scores(recon=x[:5])
    with pytest.raises(ValueError, match=r"shape \(n, 64\)"):
        digits_scores(samples=x[:5, :32])
    with pytest.raises(ValueError, match=r"labels must be integers 0..9 of shape \(5,\)"):
        digits_scores(x[:5], y[:4])
    with pytest.raises(ValueError, match="labels must be integers"):
        digits_scores(x[:5], y[:5].astype(float))


# --- the digits quality measure: its distance against oracles ----------------------------------------


def test_the_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = _rng(4)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.2, 2.0, size=5), rng.uniform(0.2, 2.0, size=5)
    # W2(N(m1, diag s1^2), N(m2, diag s2^2))^2 = |m1 - m2|^2 + sum (s1 - s2)^2
    want = math.sqrt(np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2))
    assert metrics._frechet(m1, np.diag(s1**2), m2, np.diag(s2**2)) == pytest.approx(want, rel=1e-10)


def test_the_frechet_distance_matches_scipys_matrix_square_root():
    rng = _rng(5)
    a, b = rng.normal(size=(300, 6)), rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 1.0
    m1, c1, m2, c2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    want = math.sqrt(np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real))
    assert metrics._frechet(m1, c1, m2, c2) == pytest.approx(want, rel=1e-8)
    assert metrics._frechet(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-6)


# --- the digits quality measure: splits, controls, budget -----------------------------------------------


def _sorted_rows(a):
    return a[np.lexsort(a.T[::-1])]


def test_the_feature_reference_and_pool_splits_partition_the_digits():
    judge = metrics._digits_judge()
    parts = [judge.fit_pixels, judge.ref_pixels, judge.pool]
    assert [len(p) for p in parts] == [898, 449, 450]
    np.testing.assert_array_equal(_sorted_rows(np.concatenate(parts)), _sorted_rows(digits_data()[0]))
    # the pool is the held-out quarter that the course's models never train on
    np.testing.assert_allclose(judge.pool, load_digits_split(torch.float64).x_test.numpy())
    assert judge.heldout_accuracy > 0.93


@pytest.fixture(scope="module")
def control_ratios():
    return {n: {name: digits_quality(x) for name, x in digits_controls(n, seed=1).items()} for n in (200, 450)}


def test_controls_have_the_promised_shapes_and_range():
    controls = digits_controls(150, seed=3)
    assert set(controls) >= {"real", "blurred", "mean digit + noise", "uniform noise", "binary noise", "one class"}
    for name, x in controls.items():
        assert x.shape == (150, 64) and x.dtype == torch.float64, name
        assert float(x.min()) >= 0 and float(x.max()) <= 1, name
    assert set(controls["binary noise"].unique().tolist()) == {0.0, 1.0}
    # the real control comes from the held-out pool, never from the reference
    reference = {tuple(r) for r in metrics._digits_judge().ref_pixels.tolist()}
    pool = {tuple(r) for r in metrics._digits_judge().pool.tolist()}
    assert all(tuple(r) in pool for r in controls["real"].tolist())
    assert not any(tuple(r) in reference and tuple(r) not in pool for r in controls["real"].tolist())
    np.testing.assert_array_equal(digits_controls(150, seed=3)["blurred"], controls["blurred"])
    assert not torch.equal(digits_controls(150, seed=4)["real"], controls["real"])


@pytest.mark.parametrize("n", [200, 450])
def test_the_controls_land_in_order_real_blurred_mean_noise(control_ratios, n):
    r = {name: q.ratio for name, q in control_ratios[n].items()}
    assert r["real"] < r["blurred"] < r["mean digit + noise"] < min(r["uniform noise"], r["binary noise"]), r


@pytest.mark.parametrize("n", [200, 450])
def test_real_digits_are_within_the_budget_at_a_ratio_near_one(control_ratios, n):
    q = control_ratios[n]["real"]
    assert 0.8 < q.ratio < 1.25 and q.within_budget
    assert q.budget == DIGITS_QUALITY_BUDGET


@pytest.mark.parametrize("n", [200, 450])
def test_blurred_digits_and_the_mean_digit_miss_the_budget(control_ratios, n):
    assert control_ratios[n]["blurred"].ratio > DIGITS_QUALITY_BUDGET * 1.1
    assert control_ratios[n]["mean digit + noise"].ratio > DIGITS_QUALITY_BUDGET * 1.5


@pytest.mark.parametrize("name", ["uniform noise", "binary noise", "one class"])
def test_noise_and_a_single_class_are_far_outside_the_budget(control_ratios, name):
    assert control_ratios[200][name].ratio > 2 * DIGITS_QUALITY_BUDGET
    assert not control_ratios[200][name].within_budget


def test_saturated_binary_noise_fools_the_old_coverage_but_not_the_new_measure(control_ratios):
    noise = digits_controls(200, seed=1)["binary noise"]
    assert digits_scores(samples=noise)["coverage"] >= 0.9  # the blind spot of issue 21: "9 or 10 of 10 digits"
    assert control_ratios[200]["binary noise"].ratio > 5 * control_ratios[200]["real"].ratio


def test_the_real_distance_is_a_real_draw_of_the_same_size():
    judge = metrics._digits_judge()
    q = digits_quality(digits_controls(300, seed=0)["real"])
    draws = [judge.pool[torch.randperm(450, generator=torch.Generator().manual_seed(s))[:300].numpy()]
             for s in metrics._REAL_DRAW_SEEDS]
    assert q.real_distance == pytest.approx(np.mean([digits_quality(d).distance for d in draws]), rel=1e-12)
    assert q.ratio == pytest.approx(q.distance / q.real_distance, rel=1e-12)
    # fewer points, noisier covariances: the real figure grows as n shrinks, which is why the ratio is reported
    assert digits_quality(digits_controls(100)["real"]).real_distance > q.real_distance


def test_the_quality_is_deterministic_and_ignores_the_order_and_the_container():
    x = digits_controls(250, seed=2)["blurred"]
    q = digits_quality(x)
    assert isinstance(q, DigitsQuality) and all(isinstance(v, float) for v in vars(q).values())
    assert digits_quality(x) == q
    assert digits_quality(x.numpy()) == q
    assert digits_quality(x.float()).ratio == pytest.approx(q.ratio, rel=1e-5)
    assert digits_quality(x[torch.randperm(250)]).distance == pytest.approx(q.distance, rel=1e-6)
    with pytest.raises(AttributeError):
        q.ratio = 0.0  # frozen


def test_the_quality_is_fast_once_cached():
    import time

    x = digits_controls(500, seed=5)["real"]
    digits_quality(x)
    start = time.perf_counter()
    digits_quality(x)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.zeros((200, 63)), r"shape \(n, 64\) with n >= 100"),
        (np.zeros(64 * 200), r"shape \(n, 64\)"),
        (np.zeros((99, 64)), r"n >= 100, got \(99, 64\)"),
        (np.full((200, 64), 1.5), r"pixels in \[0, 1\].*\[1.5, 1.5\]"),
        (np.full((200, 64), -0.5), r"pixels in \[0, 1\]"),
        (np.full((200, 64), np.nan), r"NaN"),
    ],
)
def test_the_quality_of_wrong_inputs_raises_with_a_message(x, message):
    with pytest.raises(ValueError, match=message):
        digits_quality(x)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_controls_of_a_wrong_size_raise(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        digits_controls(n)
