"""The AU relation graph of MLCR, built from the training labels' dependencies.

``P_dep[i, j] = 1/2 (P(L_i=1 | L_j=1) + P(L_i=0 | L_j=0))`` measures how much AU j's state tells
about AU i's; ``A = |(P_dep - 0.5) * 2|`` maps "independent" to 0 and "always equal / always
opposite" to 1; the GCN uses its symmetric normalisation ``D^-1/2 A D^-1/2``.
"""
from __future__ import annotations

import numpy as np


def dependency_matrix(labels: np.ndarray) -> np.ndarray:
    """``P_dep`` from (n, C) occurrence labels in {0, 1}; entries < 0 mean unknown and are skipped."""
    labels = np.asarray(labels)
    n_aus = labels.shape[1]
    p_dep = np.full((n_aus, n_aus), 0.5)
    for j in range(n_aus):
        for i in range(n_aus):
            both = (labels[:, i] >= 0) & (labels[:, j] >= 0)
            on = both & (labels[:, j] == 1)
            off = both & (labels[:, j] == 0)
            p_on = (labels[on, i] == 1).mean() if on.any() else 0.5
            p_off = (labels[off, i] == 0).mean() if off.any() else 0.5
            p_dep[i, j] = 0.5 * (p_on + p_off)
    return p_dep


def adjacency(labels: np.ndarray) -> np.ndarray:
    return np.abs((dependency_matrix(labels) - 0.5) * 2.0)


def normalized_adjacency(a: np.ndarray) -> np.ndarray:
    degree = a.sum(axis=1)
    inv_sqrt = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    return (a * inv_sqrt[:, None]) * inv_sqrt[None, :]
