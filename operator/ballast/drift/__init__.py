"""Drift statistics: how far a window of live values is from the training data, in numpy.

Numeric features: PSI, Jensen-Shannon distance, Wasserstein-1 distance, Kolmogorov-Smirnov.
Categorical features: PSI, Jensen-Shannon distance, chi-square test. Each has a raw form
(numpy arrays, for offline use) and a binned form (the bucket counts and reference ratios the
model server exports, see docs/metrics.md), which is what policy evaluation uses.

- PSI, Jensen-Shannon and chi-square are defined on bins: the binned form on the server's
  buckets equals the raw form on the same edges or categories exactly.
- KS and Wasserstein lose information to binning; each binned result carries computable
  bounds of the raw statistic in `details` (see their modules and docs/drift.md).
- No input makes a score NaN or raises: empty windows or references answer score None
  with a reason ("not enough data"); NaN values are dropped and counted; empty bins are
  smoothed where a logarithm or a division needs it (PSI, chi-square goodness of fit).
  Only malformed input raises ValueError: negative or infinite counts, mismatched bins.
- Defaults and their sources: ballast.drift.defaults; the whole story: docs/drift.md.
"""

from ballast.drift.bins import DEFAULT_BINS, BinCounts, count_into_buckets, quantile_edges
from ballast.drift.chi_square import chi_square, chi_square_binned
from ballast.drift.compare import DriftVerdict, compare_binned, compare_samples
from ballast.drift.defaults import METHODS, MethodDefaults
from ballast.drift.jensen_shannon import jensen_shannon_binned, jensen_shannon_categorical, jensen_shannon_numeric
from ballast.drift.kolmogorov_smirnov import kolmogorov_smirnov, kolmogorov_smirnov_binned
from ballast.drift.psi import psi_binned, psi_categorical, psi_numeric
from ballast.drift.samples import CategorySample, NumericSample, category_sample, numeric_sample
from ballast.drift.score import DriftScore
from ballast.drift.wasserstein import wasserstein, wasserstein_binned

__all__ = [
    "DEFAULT_BINS",
    "METHODS",
    "BinCounts",
    "CategorySample",
    "DriftScore",
    "DriftVerdict",
    "MethodDefaults",
    "NumericSample",
    "category_sample",
    "chi_square",
    "chi_square_binned",
    "compare_binned",
    "compare_samples",
    "count_into_buckets",
    "jensen_shannon_binned",
    "jensen_shannon_categorical",
    "jensen_shannon_numeric",
    "kolmogorov_smirnov",
    "kolmogorov_smirnov_binned",
    "numeric_sample",
    "psi_binned",
    "psi_categorical",
    "psi_numeric",
    "quantile_edges",
    "wasserstein",
    "wasserstein_binned",
]
