import numpy as np
import pytest

from kdlab.theory import eigenspace as es


def test_closed_form_matches_gradient_descent():
    check = es.check_closed_form(n=15, d=40, lr=1e-3, seed=3)
    assert check.teacher_rel_error < 1e-3 and check.student_rel_error < 1e-3
    # and a coarse step is measurably worse: the check can fail
    coarse = es.check_closed_form(n=15, d=40, lr=5e-2, seed=3)
    assert coarse.teacher_rel_error > 10 * check.teacher_rel_error


def test_student_alpha_is_the_product():
    lam = np.array([2.0, 0.5])
    np.testing.assert_allclose(es.student_alpha(lam, 1.0, 3.0), es.alpha(lam, 1.0) * es.alpha(lam, 3.0))


@pytest.mark.parametrize("seed", range(5))
def test_theorem_4_1_holds_on_random_spectra(seed):
    lams = np.random.default_rng(seed).lognormal(0, 2, size=12)
    r = es.theorem_4_1_grid(lams, np.linspace(0.01, 0.99, 25))
    assert r["checked"] == 66 * 25 and r["violations"] == 0 and r["min_margin"] > 0


def test_a_wrong_variant_is_caught():
    lams = np.random.default_rng(0).lognormal(0, 2, size=8)
    reversed_claim = es.theorem_4_1_grid(lams, np.linspace(0.1, 0.9, 5), claim=lambda left, right: left > right)
    assert reversed_claim["violations"] == reversed_claim["checked"]
    # the theorem needs lam_top > lam_low: with the directions swapped the student is no sparser
    left, right = es.theorem_4_1_sides(lam_top=0.1, lam_low=1.0, alpha_star=0.5)
    assert not left < right


def test_matched_alphas_fit_the_top_direction_equally():
    te, st = es.matched_alphas(1.0 / np.arange(1, 20), 0.7)
    assert te[0] == pytest.approx(0.7) and st[0] == pytest.approx(0.7)
    assert np.all(st[1:] < te[1:])
