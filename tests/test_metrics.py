"""Tests of course_utils.metrics against independent oracles.

w2_exact (POT's network simplex) is compared with closed forms (a permutation, a translation),
with the 1-D quantile formula, with SciPy's assignment solver and SciPy's 1-D W1, and with
the W2 between two Gaussians; the digits classifier with real digits.
"""

import math

import numpy as np
import pytest
import torch
from scipy import optimize, spatial, stats

from course_utils.data.digits import digits_data
from course_utils.metrics import DIGITS_SCALE, digits_classifier, digits_scores, w2_exact


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
