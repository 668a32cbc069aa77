"""Section 01's demos against the math they show: forward vs reverse KL, the ELBO ledger, the evidence estimators."""


import numpy as np
import pytest

from course_utils.s01_kl_elbo import widgets as cw
from course_utils.ui.demos import demos


def test_section_01_demos_are_discovered():
    assert {s.name for s in demos("01")} == {"kl_fit_demo", "elbo_ledger_demo", "evidence_estimator_demo"}


# --- forward vs reverse KL ----------------------------------------------------------


def test_kl_demo_fits_and_their_asymmetry():
    d = cw.kl_fit_demo()
    d.controls["separation"].value = 5.0
    d.controls["weight"].value = 0.6
    p = d.target
    mean, var = d.forward_fit
    assert mean == pytest.approx(float(p.mean()[0]))
    assert var == pytest.approx(float(p.covariance()[0, 0]))
    # reverse KL from the left mode settles on the left mode, and vice versa
    assert d.reverse_fit[0] == pytest.approx(-2.5, abs=0.05)
    d.controls["start"].value = "right"
    assert d.reverse_fit[0] == pytest.approx(2.5, abs=0.05)
    # each fit wins in the direction it minimises
    (f_pq, f_qp), (r_pq, r_qp) = d.kls["forward"], d.kls["reverse"]
    assert f_pq < r_pq and r_qp < f_qp
    assert all(v >= 0 for v in (f_pq, f_qp, r_pq, r_qp))


def test_kl_demo_merged_modes_give_one_gaussian():
    d = cw.kl_fit_demo()
    d.controls["separation"].value = 0.0
    for fit in ("forward", "reverse"):
        assert max(d.kls[fit]) < 1e-6


def test_kl_demo_result_does_not_depend_on_the_slider_path():
    a, b = cw.kl_fit_demo(), cw.kl_fit_demo()
    for sep in (1.0, 2.0, 3.0, 4.0):
        a.controls["separation"].value = sep
    b.controls["separation"].value = 4.0
    assert a.reverse_fit == pytest.approx(b.reverse_fit, abs=1e-6)


# --- the ELBO ledger ----------------------------------------------------------------


def test_reverse_kl_fit_closes_the_gap_on_the_linear_model():
    d = cw.elbo_ledger_demo()
    assert d.controls["model"].value == "linear"
    assert d.ledger["kl"] > 0.5
    d.buttons["fit_reverse"].click()
    mu, sigma = d.controls["mu"].value, d.controls["sigma"].value
    assert d.model.kl_to_posterior(mu, sigma**2) < 1e-3
    assert d.ledger["kl"] < 1e-3
    assert d.ledger["elbo"] == pytest.approx(d.ledger["log_evidence"], abs=1e-3)
    # the exact posterior of x | z ~ N(z, 0.5), x = 1.5, z ~ N(0, 1): N(1, 1/3)
    assert (mu, sigma) == pytest.approx((1.0, (1 / 3) ** 0.5), abs=1e-3)


def test_forward_kl_fit_matches_the_posterior_moments():
    d = cw.elbo_ledger_demo()
    d.buttons["fit_forward"].click()
    assert d.ledger["kl"] < 1e-3  # a Gaussian posterior: both fits are exact
    d.controls["model"].value = "squared"
    d.buttons["fit_forward"].click()
    assert d.controls["mu"].value == pytest.approx(0.0, abs=1e-6)  # symmetric posterior
    assert d.ledger["kl"] > 0.5


def test_reverse_kl_on_the_bimodal_posterior_takes_one_mode():
    d = cw.elbo_ledger_demo()
    with d.hold():
        d.controls["model"].value = "squared"
        d.controls["mu"].value = 1.0
        d.controls["sigma"].value = 0.5
    d.buttons["fit_reverse"].click()
    assert d.controls["mu"].value == pytest.approx(2.0**0.5, abs=0.15)
    assert 0.3 < d.ledger["kl"] < 1.0  # about log 2: half the posterior is missed


@pytest.mark.parametrize("model", ["linear", "squared"])
@pytest.mark.parametrize("mu", [-3.0, 0.0, 3.0])
@pytest.mark.parametrize("sigma", [0.05, 1.5])
def test_the_ledger_balances_everywhere_on_the_sliders(model, mu, sigma):
    d = cw.elbo_ledger_demo()
    with d.hold():
        d.controls["model"].value = model
        d.controls["mu"].value = mu
        d.controls["sigma"].value = sigma
    total = d.ledger["elbo"] + d.ledger["kl"]
    assert total == pytest.approx(d.ledger["log_evidence"], abs=1e-5)
    assert d.ledger["kl"] >= -1e-9


# --- evidence estimators ------------------------------------------------------------


def test_draw_buttons_add_estimates_and_clear_forgets_them():
    d = cw.evidence_estimator_demo()
    assert d.stats()["n"] == 0
    d.buttons["draw_1"].click()
    assert d.stats()["n"] == 1
    d.buttons["draw_100"].click()
    assert d.stats()["n"] == 101
    d.controls["log2_K"].value = 3
    assert d.K == 8 and d.stats()["n"] == 0  # each (proposal, K) keeps its own draws
    d.controls["log2_K"].value = 0
    assert d.stats()["n"] == 101
    assert "<table" in d.readout.value
    d.buttons["clear"].click()
    assert d.stats()["n"] == 0


def test_the_exact_posterior_proposal_gives_log_evidence_every_time():
    d = cw.evidence_estimator_demo()
    d.controls["proposal"].value = "posterior"
    d.draw(20)
    values = np.asarray(d.history[d.config])
    assert np.allclose(values, d.log_evidence, atol=1e-9)
    assert d.proposals["posterior"].elbo == pytest.approx(d.log_evidence)


def test_a_good_proposal_collapses_the_variance():
    d = cw.evidence_estimator_demo()
    d.draw(200)
    prior = d.stats()
    d.controls["proposal"].value = "q"
    d.draw(200)
    q = d.stats()
    assert prior["sd"] > 5 * q["sd"]
    # biased low at K = 1: the mean estimate is the ELBO, below log p(x)
    assert prior["mean"] < d.log_evidence
    elbo = d.proposals["q"].elbo
    assert abs(q["mean"] - elbo) < 4 * q["sd"] / np.sqrt(200)
    # more samples per estimate: smaller spread
    d.controls["log2_K"].value = 6
    d.draw(200)
    assert d.stats()["sd"] < 0.5 * q["sd"]


def test_estimates_are_reproducible_for_a_seed():
    a, b = cw.evidence_estimator_demo(seed=3), cw.evidence_estimator_demo(seed=3)
    a.draw(5)
    b.draw(5)
    assert a.history == b.history
