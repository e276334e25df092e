import numpy as np

from kdlab.theory import gradient_space as gs


def test_data_has_the_stated_projections_and_spread():
    tau, d = 3.0, 400
    data = gs.make_data(num_classes=5, dim=d, m=400, tau=tau, seed=1)
    rows = np.arange(len(data.y))
    own = data.x[rows, data.y]
    sim = data.x[rows, data.z]
    np.testing.assert_allclose(np.einsum("nd,nd->n", own, data.mu[data.y]), tau, atol=1e-10)
    np.testing.assert_allclose(np.einsum("nd,nd->n", sim, data.mu[data.z]), tau / 2, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(data.mu, axis=1), 1.0)
    assert np.all(data.y != data.z)
    assert np.all(np.bincount(data.z) == 400) and np.all(np.bincount(data.y) == 400)  # balanced, as B.1
    # everything else is zero
    nonzero = np.abs(data.x).sum(-1) > 0
    assert np.all(nonzero.sum(1) == 2)
    # the orthogonal part is N(0, I/D) projected: mean 0, per-coordinate variance ~ 1/D
    perp = own - tau * data.mu[data.y]
    assert abs(perp.mean()) < 6 * np.sqrt(1 / d / perp.size)  # 6 standard errors of the mean
    var = (perp**2).sum(1).mean() / (d - 1)
    assert abs(var * d - 1) < 0.05


def test_teacher_weights_have_the_stated_norm_and_error():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(4, 30))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    w = gs.teacher_weights(mu, alpha_te=2.5, eps=0.2, rng=rng)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 2.5)
    perp = w - np.einsum("kd,kd->k", w, mu)[:, None] * mu
    np.testing.assert_allclose((perp**2).sum(1) / (w**2).sum(1), 0.2)


def test_ordering_holds_when_the_student_is_far_below_the_teacher():
    c = gs.cosines(alpha=0.0, alpha_te=2.0, tau=8.0, dim=200, m=200)
    assert np.all(c["distill"] > np.maximum(c["onehot"], c["teacher"]))
    # and fails when the student is already more confident than the teacher
    c = gs.cosines(alpha=4.0, alpha_te=0.5, tau=8.0, dim=200, m=200)
    assert not np.any(c["distill"] > np.maximum(c["onehot"], c["teacher"]))
