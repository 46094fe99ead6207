"""Tail probabilities of the two tests' null distributions, in numpy and the standard library.

Chi-square: P(X2 >= x) with k degrees of freedom is the regularized upper incomplete gamma
Q(k/2, x/2). It is computed as in Numerical Recipes (Press et al., 3rd ed., section 6.2):
the power series of P(a, x) when x < a + 1 (Q = 1 - P is then far from 0, so nothing is
lost to cancellation) and Legendre's continued fraction for Q, evaluated with the modified
Lentz method, otherwise; ln Gamma(a) is math.lgamma. Both converge to double precision;
the tests hold it to scipy.stats.chi2.sf within a relative 1e-9.

Kolmogorov-Smirnov: the asymptotic (Kolmogorov) distribution, P(D > d) ~= Q_KS(lambda) with
Stephens' small-sample correction lambda = (sqrt(n) + 0.12 + 0.11 / sqrt(n)) * d, where n
is the effective size n1*n2/(n1+n2) (Stephens 1970, JRSS B 32(1); Numerical Recipes 14.3.3).
Q_KS(l) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 l^2), or for small l, where that series
converges slowly, its Jacobi-theta equivalent 1 - sqrt(2 pi)/l sum_{j>=1}
exp(-(2j-1)^2 pi^2 / (8 l^2)). scipy's ks_2samp uses the exact distribution for samples up to
10,000 and kstwo.sf(d, round(n)) beyond; the tests measure how far this one is from it.
"""

from __future__ import annotations

import math

import numpy as np

_ITERATIONS = 10_000
_PRECISION = 1e-15
_TINY = 1e-300
_KOLMOGOROV_TERMS = np.arange(1, 101, dtype=np.float64)


def chi_square_survival(statistic: float, degrees_of_freedom: int) -> float:
    """P(X2 >= statistic) for a chi-square variable with `degrees_of_freedom` (>= 1)."""
    if statistic <= 0:
        return 1.0
    return regularized_upper_gamma(degrees_of_freedom / 2.0, statistic / 2.0)


def regularized_upper_gamma(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a), for a > 0 and x >= 0."""
    if x <= 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _lower_gamma_series(a, x))
    return min(1.0, _upper_gamma_continued_fraction(a, x))


def _prefactor(a: float, x: float) -> float:
    return math.exp(-x + a * math.log(x) - math.lgamma(a))


def _lower_gamma_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    denominator = a
    for _ in range(_ITERATIONS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _PRECISION:
            break
    return total * _prefactor(a, x)


def _upper_gamma_continued_fraction(a: float, x: float) -> float:
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    fraction = d
    for i in range(1, _ITERATIONS):
        numerator = -i * (i - a)
        b += 2.0
        d = numerator * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + numerator / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        step = d * c
        fraction *= step
        if abs(step - 1.0) < _PRECISION:
            break
    return _prefactor(a, x) * fraction


def kolmogorov_survival(scaled: float) -> float:
    """Q_KS(lambda) = P(K > lambda) for the Kolmogorov distribution."""
    if scaled < 0.1:
        return 1.0  # the CDF is below 1e-50 here: 1 - cdf rounds to exactly 1
    if scaled > 20.0:
        return 0.0  # the first term, 2 exp(-800), already underflows
    if scaled < 1.18:
        odd = 2.0 * _KOLMOGOROV_TERMS - 1.0
        cdf = math.sqrt(2.0 * math.pi) / scaled * float(np.sum(np.exp(-(odd**2) * math.pi**2 / (8.0 * scaled**2))))
        return float(min(1.0, max(0.0, 1.0 - cdf)))
    signs = np.where(_KOLMOGOROV_TERMS % 2 == 1, 1.0, -1.0)
    tail = 2.0 * float(np.sum(signs * np.exp(-2.0 * _KOLMOGOROV_TERMS**2 * scaled**2)))
    return float(min(1.0, max(0.0, tail)))


def kolmogorov_smirnov_p_value(statistic: float, effective_size: float) -> float:
    """P(D >= statistic) for a KS statistic over `effective_size` values (n1*n2/(n1+n2))."""
    if effective_size < 1:
        return 1.0  # less than one value's worth of evidence (scipy's exact test agrees at 1 vs 1)
    root = math.sqrt(effective_size)
    return kolmogorov_survival((root + 0.12 + 0.11 / root) * statistic)


def effective_size(reference_size: float, current_size: float) -> float:
    """n1*n2/(n1+n2); the current size alone when the reference is an exact population."""
    if math.isinf(reference_size):
        return current_size
    return reference_size * current_size / (reference_size + current_size)
