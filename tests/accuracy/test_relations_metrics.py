import numpy as np
import pytest

from trainer.metrics import ccc, f1, icc31, pcc
from trainer.relations import adjacency, dependency_matrix, normalized_adjacency


def test_dependency_matrix_by_hand():
    # AU0 and AU1 always equal; AU2 the opposite of AU0
    labels = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 0], [0, 0, 1]])
    p = dependency_matrix(labels)
    assert p[0, 1] == pytest.approx(1.0)  # P(L0=1|L1=1)=1, P(L0=0|L1=0)=1
    assert p[2, 0] == pytest.approx(0.0)  # always opposite
    a = adjacency(labels)
    assert a[0, 1] == pytest.approx(1.0) and a[2, 0] == pytest.approx(1.0) and np.allclose(np.diag(a), 1.0)


def test_dependency_matrix_independent_aus_give_zero_edges():
    labels = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    assert adjacency(labels)[0, 1] == pytest.approx(0.0)


def test_dependency_matrix_mixed_case():
    labels = np.array([[1, 1], [1, 0], [0, 0], [0, 0]])
    p = dependency_matrix(labels)
    # P(L0=1|L1=1)=1 ; P(L0=0|L1=0)=2/3 -> 5/6
    assert p[0, 1] == pytest.approx(0.5 * (1 + 2 / 3))
    # P(L1=1|L0=1)=1/2 ; P(L1=0|L0=0)=1 -> 3/4
    assert p[1, 0] == pytest.approx(0.75)


def test_normalized_adjacency_is_symmetric_normalisation():
    a = np.array([[1.0, 0.5], [0.5, 1.0]])
    n = normalized_adjacency(a)
    assert n == pytest.approx(a / 1.5)


def test_metrics_known_values():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    assert pcc(x, 2 * x + 1) == pytest.approx(1.0)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, x + 1) < 1.0
    assert icc31(x, x + 5) == pytest.approx(1.0)  # consistency ignores a constant offset
    assert np.isnan(pcc(x, np.zeros(4)))
    assert f1(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(0.5)


def test_icc31_against_shrout_fleiss_example():
    # Shrout & Fleiss (1979) data, judges 1 and 3: ICC(3,1) from the two-way ANOVA by hand
    j1 = np.array([9, 6, 8, 7, 10, 6.0])
    j3 = np.array([5, 3, 6, 2, 6, 4.0])
    data = np.stack([j1, j3], 1)
    n, k = data.shape
    grand = data.mean()
    msr = k * ((data.mean(1) - grand) ** 2).sum() / (n - 1)
    sse = ((data - data.mean(1, keepdims=True) - data.mean(0) + grand) ** 2).sum()
    mse = sse / ((n - 1) * (k - 1))
    assert icc31(j1, j3) == pytest.approx((msr - mse) / (msr + (k - 1) * mse))
