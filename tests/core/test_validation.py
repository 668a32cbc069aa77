"""Bad input must fail early with a sentence that names what was expected.

Covers the helpers of course_utils.core.validation and the argument checks of every reference
function: shape mismatch, non-positive variance, non-normalised or negative probabilities,
wrong last dimension, wrong types.
"""

import math

import pytest
import torch

from course_utils.core.validation import (
    as_tensor,
    check_last_dim,
    check_positive,
    check_probabilities,
    check_same_shape,
    check_unit_interval,
)
from course_utils.data.mixtures import GaussianMixture
from course_utils.s01_kl_elbo.divergences import (
    kl_discrete,
    kl_monte_carlo,
    kl_normal,
    kl_on_grid,
    kl_std_normal,
)
from course_utils.s01_kl_elbo.elbo import (
    elbo_estimate,
    fit_gaussian_forward_kl,
    fit_gaussian_reverse_kl,
    importance_log_evidence,
    log_normal_diag,
    reparametrize,
)
from course_utils.s01_kl_elbo.latent import LinearGaussianLVM, linear_latent_model, squared_latent_model

F64 = torch.float64


def t(*values):
    return torch.tensor(values, dtype=F64)


def zeros(*shape):
    return torch.zeros(*shape, dtype=F64)


def ones(*shape):
    return torch.ones(*shape, dtype=F64)


def sum_last(z):
    return z.sum(-1)


UNIFORM3 = t(1 / 3, 1 / 3, 1 / 3)
GM2D = dict(weights=t(0.5, 0.5), means=t(0.0, 1.0, 2.0, 3.0).reshape(2, 2), variances=t(1.0, 1.0))


def _lvm():
    return LinearGaussianLVM(ones(3, 2), zeros(3), 1.0)


# (callable, exception, regex the message must match)
BAD_INPUT = {
    # kl_discrete
    "kl_discrete shape mismatch": (
        lambda: kl_discrete(t(0.5, 0.5), UNIFORM3),
        ValueError,
        r"same shape.*\(2,\).*\(3,\)",
    ),
    "kl_discrete p not normalised": (
        lambda: kl_discrete(t(0.5, 0.6, 0.1), UNIFORM3),
        ValueError,
        r"p must sum to 1.*1\.2",
    ),
    "kl_discrete q not normalised": (
        lambda: kl_discrete(UNIFORM3, t(0.2, 0.2, 0.2)),
        ValueError,
        r"q must sum to 1",
    ),
    "kl_discrete negative p": (
        lambda: kl_discrete(t(1.5, -0.5, 0.0), UNIFORM3),
        ValueError,
        r"p must hold probabilities >= 0",
    ),
    "kl_discrete negative q": (
        lambda: kl_discrete(UNIFORM3, t(-0.1, 0.6, 0.5)),
        ValueError,
        r"q must hold probabilities >= 0",
    ),
    "kl_discrete nan": (
        lambda: kl_discrete(t(math.nan, 0.5, 0.5), UNIFORM3),
        ValueError,
        r"probabilities >= 0",
    ),
    "kl_discrete scalar": (lambda: kl_discrete(1.0, 1.0), ValueError, r"shape \(\.\.\., K\)"),
    "kl_discrete not numbers": (
        lambda: kl_discrete("abc", UNIFORM3),
        TypeError,
        r"p must be a tensor",
    ),
    # kl_normal
    "kl_normal zero var_q": (
        lambda: kl_normal(zeros(2), t(1.0, 0.0), zeros(2), ones(2)),
        ValueError,
        r"var_q.*> 0.*0\.0",
    ),
    "kl_normal negative var_p": (
        lambda: kl_normal(zeros(2), ones(2), zeros(2), t(1.0, -2.0)),
        ValueError,
        r"var_p.*> 0.*-2",
    ),
    "kl_normal nan variance": (
        lambda: kl_normal(zeros(2), t(math.nan, 1.0), zeros(2), ones(2)),
        ValueError,
        r"var_q.*> 0",
    ),
    "kl_normal scalar": (
        lambda: kl_normal(t(0.0)[0], t(1.0)[0], 0.0, 1.0),
        ValueError,
        r"mu_q must have shape \(\.\.\., J\)",
    ),
    # kl_std_normal
    "kl_std_normal shape mismatch": (
        lambda: kl_std_normal(zeros(4, 2), zeros(4, 3)),
        ValueError,
        r"mu and log_var.*same shape",
    ),
    "kl_std_normal scalar": (lambda: kl_std_normal(0.0, 0.0), ValueError, r"shape \(batch, J\)"),
    # kl_monte_carlo
    "kl_monte_carlo no samples": (
        lambda: kl_monte_carlo(sum_last, sum_last, zeros(0, 2)),
        ValueError,
        r"N >= 1 samples",
    ),
    "kl_monte_carlo scalar z": (
        lambda: kl_monte_carlo(sum_last, sum_last, t(1.0)[0]),
        ValueError,
        r"N >= 1 samples",
    ),
    "kl_monte_carlo log density shape": (
        lambda: kl_monte_carlo(lambda z: z, lambda z: z, zeros(5, 2)),
        ValueError,
        r"one value per sample, shape \(5,\)",
    ),
    # kl_on_grid
    "kl_on_grid zero dx": (
        lambda: kl_on_grid(zeros(5), zeros(5), 0.0),
        ValueError,
        r"dx.*positive",
    ),
    "kl_on_grid negative dx": (lambda: kl_on_grid(zeros(5), zeros(5), -0.1), ValueError, r"dx"),
    "kl_on_grid nan dx": (lambda: kl_on_grid(zeros(5), zeros(5), math.nan), ValueError, r"dx"),
    "kl_on_grid inf dx": (lambda: kl_on_grid(zeros(5), zeros(5), math.inf), ValueError, r"dx"),
    # GaussianMixture
    "mixture weights not normalised": (
        lambda: GaussianMixture(t(0.5, 0.6), t(0.0, 1.0), ones(2)),
        ValueError,
        r"weights must sum to 1",
    ),
    "mixture negative weight": (
        lambda: GaussianMixture(t(1.5, -0.5), t(0.0, 1.0), ones(2)),
        ValueError,
        r"weights.*>= 0",
    ),
    "mixture zero variance": (
        lambda: GaussianMixture(t(0.5, 0.5), t(0.0, 1.0), t(1.0, 0.0)),
        ValueError,
        r"variances.*> 0",
    ),
    "mixture negative variance": (
        lambda: GaussianMixture(t(0.5, 0.5), t(0.0, 1.0), t(-1.0, 1.0)),
        ValueError,
        r"variances.*> 0",
    ),
    "mixture means shape mismatch": (
        lambda: GaussianMixture(t(0.5, 0.5), t(0.0, 1.0, 2.0), ones(2)),
        ValueError,
        r"expected weights \(K,\), means \(K, d\) and variances \(K,\)",
    ),
    "mixture variances shape mismatch": (
        lambda: GaussianMixture(t(0.5, 0.5), t(0.0, 1.0), ones(3)),
        ValueError,
        r"variances \(K,\)",
    ),
    "mixture log_prob wrong last dim": (
        lambda: GaussianMixture(**GM2D).log_prob(zeros(4, 3)),
        ValueError,
        r"x must have shape \(\.\.\., 2\)",
    ),
    "mixture score wrong last dim": (
        lambda: GaussianMixture(**GM2D).score(zeros(3)),
        ValueError,
        r"x must have shape \(\.\.\., 2\)",
    ),
    # LinearGaussianLVM
    "lvm W and b mismatch": (
        lambda: LinearGaussianLVM(ones(3, 2), zeros(2), 1.0),
        ValueError,
        r"W \(n, q\) and b \(n,\)",
    ),
    "lvm W not a matrix": (
        lambda: LinearGaussianLVM(ones(3), zeros(3), 1.0),
        ValueError,
        r"W \(n, q\)",
    ),
    "lvm zero noise_var": (
        lambda: LinearGaussianLVM(ones(3, 2), zeros(3), 0.0),
        ValueError,
        r"noise_var.*> 0",
    ),
    "lvm negative noise_var": (
        lambda: LinearGaussianLVM(ones(3, 2), zeros(3), -1.0),
        ValueError,
        r"noise_var.*> 0",
    ),
    "lvm log_evidence wrong last dim": (
        lambda: _lvm().log_evidence(zeros(2)),
        ValueError,
        r"x must have shape \(\.\.\., 3\)",
    ),
    "lvm posterior wrong last dim": (
        lambda: _lvm().posterior(zeros(5, 2)),
        ValueError,
        r"x must have shape \(\.\.\., 3\)",
    ),
    "lvm log_prior wrong last dim": (
        lambda: _lvm().log_prior(zeros(5, 3)),
        ValueError,
        r"z must have shape \(\.\.\., 2\)",
    ),
    "lvm log_joint wrong z": (
        lambda: _lvm().log_joint(zeros(3), zeros(5, 3)),
        ValueError,
        r"z must have shape \(\.\.\., 2\)",
    ),
    "lvm log_likelihood wrong x": (
        lambda: _lvm().log_likelihood(zeros(2), zeros(5, 2)),
        ValueError,
        r"x must have shape \(\.\.\., 3\)",
    ),
    # Latent1D
    "linear_latent_model zero noise": (
        lambda: linear_latent_model(noise_var=0.0),
        ValueError,
        r"noise_var.*> 0",
    ),
    "squared_latent_model negative noise": (
        lambda: squared_latent_model(noise_var=-1.0),
        ValueError,
        r"noise_var.*> 0",
    ),
    "latent1d elbo zero var": (
        lambda: linear_latent_model().elbo(0.0, 0.0),
        ValueError,
        r"var.*> 0.*0\.0",
    ),
    "latent1d kl negative var": (
        lambda: squared_latent_model().kl_to_posterior(t(0.0, 1.0), t(1.0, -1.0)),
        ValueError,
        r"var.*> 0",
    ),
    # elbo.py
    "importance z not 2-D": (
        lambda: importance_log_evidence(sum_last, sum_last, zeros(5)),
        ValueError,
        r"shape \(K, q\)",
    ),
    "importance no samples": (
        lambda: importance_log_evidence(sum_last, sum_last, zeros(0, 2)),
        ValueError,
        r"K >= 1",
    ),
    "importance log density shape": (
        lambda: importance_log_evidence(lambda z: z, lambda z: z, zeros(5, 2)),
        ValueError,
        r"must return shape \(5,\)",
    ),
    "elbo_estimate mu/var mismatch": (
        lambda: elbo_estimate(sum_last, zeros(3), ones(2), zeros(4, 3)),
        ValueError,
        r"mu and var.*same",
    ),
    "elbo_estimate eps wrong last dim": (
        lambda: elbo_estimate(sum_last, zeros(3), ones(3), zeros(4, 2)),
        ValueError,
        r"eps.*\(K, 3\)",
    ),
    "elbo_estimate eps not 2-D": (
        lambda: elbo_estimate(sum_last, zeros(3), ones(3), zeros(3)),
        ValueError,
        r"eps.*\(K, 3\)",
    ),
    "elbo_estimate zero var": (
        lambda: elbo_estimate(sum_last, zeros(2), t(1.0, 0.0), zeros(4, 2)),
        ValueError,
        r"var.*> 0",
    ),
    "reparametrize negative var": (
        lambda: reparametrize(zeros(2), t(-1.0, 1.0), zeros(4, 2)),
        ValueError,
        r"var.*> 0.*-1",
    ),
    "log_normal_diag zero var": (
        lambda: log_normal_diag(zeros(4, 2), zeros(2), t(0.0, 1.0)),
        ValueError,
        r"var.*> 0",
    ),
}


@pytest.mark.parametrize(("call", "exc", "match"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_raises_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# Mismatched shapes and a bad starting variance: a sentence naming the arguments, not torch's
# broadcasting RuntimeError or math's "math domain error". (The last field of each case is the
# error these raised before the modules checked them.)
MISMATCHES = {
    "kl_normal mu_q/var_q shapes do not broadcast": (
        lambda: kl_normal(zeros(3), ones(4), 0.0, 1.0),
        ValueError,
        r"var_q",
        RuntimeError,
    ),
    "kl_normal p shapes do not broadcast against q": (
        lambda: kl_normal(zeros(3), ones(3), zeros(4), 1.0),
        ValueError,
        r"mu_p",
        RuntimeError,
    ),
    "kl_on_grid log_p/log_q on different grids": (
        lambda: kl_on_grid(zeros(5), zeros(6), 0.1),
        ValueError,
        r"same shape",
        RuntimeError,
    ),
    "fit_gaussian_forward_kl log_p/z mismatch": (
        lambda: fit_gaussian_forward_kl(zeros(5), torch.linspace(0, 1, 6, dtype=F64)),
        ValueError,
        r"same shape",
        RuntimeError,
    ),
    "fit_gaussian_reverse_kl non-positive var0": (
        lambda: fit_gaussian_reverse_kl(zeros(5), torch.linspace(0, 1, 5, dtype=F64), 0.0, -1.0),
        ValueError,
        r"var0.*> 0",
        AssertionError,  # a ValueError, but "math domain error" does not name var0
    ),
    "latent1d elbo mu/var shapes do not broadcast": (
        lambda: linear_latent_model().elbo(zeros(3), ones(2)),
        ValueError,
        r"mu.*var",
        RuntimeError,
    ),
}


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        pytest.param(*case[:3], id=name)
        for name, case in MISMATCHES.items()
    ],
)
def test_mismatched_shapes_and_bad_starts_get_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------------------- validation helpers


@pytest.mark.parametrize("bad", ["abc", None, object(), [[1.0, 2.0], [3.0]]])
def test_as_tensor_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match=r"x must be a tensor or array of numbers, got"):
        as_tensor(bad, "x")


def test_as_tensor_converts_and_keeps_dtype():
    assert as_tensor([1, 2], "x").dtype == torch.get_default_dtype()
    assert as_tensor([1, 2], "x", F64).dtype == F64
    src = torch.zeros(3, dtype=F64, requires_grad=True)
    assert as_tensor(src, "x") is src  # gradients keep flowing through validated inputs


def test_check_same_shape_and_last_dim():
    check_same_shape(zeros(2, 3), zeros(2, 3), "a", "b")
    with pytest.raises(
        ValueError, match=r"a and b must have the same shape, got \(2, 3\) and \(3, 2\)"
    ):
        check_same_shape(zeros(2, 3), zeros(3, 2), "a", "b")
    check_last_dim(zeros(4, 3), 3, "z")
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 3\), got \(4, 2\)"):
        check_last_dim(zeros(4, 2), 3, "z")
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 3\), got \(\)"):
        check_last_dim(t(1.0)[0], 3, "z")


def test_check_positive_reports_offending_value():
    check_positive(t(1e-300, 2.0), "v")
    with pytest.raises(ValueError, match=r"v is a variance and must be > 0 everywhere; found -3"):
        check_positive(t(1.0, -3.0, 2.0), "v")
    with pytest.raises(ValueError, match=r"s is a scale and must be > 0.*nan"):
        check_positive(t(math.nan), "s", what="a scale")


def test_check_probabilities_tolerance_and_batches():
    check_probabilities(t(0.5, 0.5 + 1e-7), "p")  # within atol
    check_probabilities(torch.full((4, 5), 0.2, dtype=F64), "p")
    rows = torch.tensor([[0.5, 0.5], [0.7, 0.7]], dtype=F64)
    with pytest.raises(ValueError, match=r"p must sum to 1.*sums to 1\.4"):
        check_probabilities(rows, "p")
    with pytest.raises(ValueError, match=r"p must hold probabilities >= 0; found -0\.1"):
        check_probabilities(t(-0.1, 1.1), "p")


def test_check_unit_interval():
    check_unit_interval(t(0.0, 0.5, 1.0))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]; got values from -0\.5 to 1"):
        check_unit_interval(t(-0.5, 1.0))
    with pytest.raises(ValueError, match=r"time must lie in \[0, 1\]"):
        check_unit_interval(t(0.2, 1.5), "time")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_unit_interval(t(math.nan))
