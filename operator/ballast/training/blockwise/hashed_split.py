"""The held-out rows, chosen by a hash of each row's number and the seed.

The single-pod split shuffles all rows at once, which a blockwise run cannot do; hashing a row's
number decides its side from that number alone, so the same rows are held out whatever the
blocks or the workers. It is not stratified: each class is held out in proportion only on
average, which on the many rows this path is for differs from exact by a fraction of a percent.
"""

from __future__ import annotations

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 whose outputs look uniformly random."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK


def held_out(row_numbers: np.ndarray, seed: int, test_fraction: float) -> np.ndarray:
    """True for the rows that go to the test side."""
    keyed = _splitmix64(np.asarray(row_numbers, dtype=np.uint64) ^ _splitmix64(np.array([seed], dtype=np.uint64)))
    # the top 53 bits as a float in [0, 1): exactly representable, so no rounding decides a side
    return (keyed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)) < test_fraction
