"""Each method's default threshold, which way its score points, and where the number comes from.

Distances (psi, jensenShannon, wasserstein) flag drift when the score is at or above the
threshold; tests (ks, chiSquare) report a p-value as their score and flag drift when it is
below the threshold (the significance level). Sources:

- psi 0.25, warning at 0.1: the credit-scoring rule of thumb (< 0.1 no significant shift,
  0.1-0.25 moderate, > 0.25 significant), as given in N. Siddiqi, "Credit Risk Scorecards"
  (Wiley, 2006) and examined in B. Yurdakul, "Statistical Properties of Population Stability
  Index" (PhD dissertation, Western Michigan University, 2018), which also shows the fixed
  cut-offs ignore sample size and bin count. Evidently's `psi` test uses 0.1 as its one
  threshold; Ballast fires at 0.25 and reports 0.1 as a warning.
- jensenShannon 0.1: Evidently's default threshold for its `jensenshannon` test (and the
  test its automatic selection uses for categorical features of references over 1,000 rows).
  Evidently computes the distance with scipy's default natural logarithm, where 0.1 is 0.12
  in Ballast's base 2; Ballast keeps 0.1 in base 2, slightly stricter.
- wasserstein 0.1 of the reference's standard deviation: Evidently's "Wasserstein distance
  (normed)" default (its choice for numeric features of references over 1,000 rows), which
  divides by max(std(reference), 0.001); Ballast uses the same floor for a constant reference.
- ks 0.05 and chiSquare 0.05: the conventional 5% significance level, also Evidently's
  default for both tests (its choice for references of up to 1,000 rows).

The Evidently figures are from its documentation and release notes (v0.1.50: automatic
stat-test selection) as of 2022-2024; they are a practitioner's reference, not a law. On
very large windows any test rejects for tiny, harmless shifts, which is why tools switch to
distances there: PSI is the DriftPolicy default.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodDefaults:
    name: str
    threshold: float
    higher_is_drift: bool
    """True: drift when score >= threshold (a distance). False: when score < threshold (a p-value)."""
    warning: float | None = None


PSI = MethodDefaults("psi", threshold=0.25, higher_is_drift=True, warning=0.1)
JENSEN_SHANNON = MethodDefaults("jensenShannon", threshold=0.1, higher_is_drift=True)
WASSERSTEIN = MethodDefaults("wasserstein", threshold=0.1, higher_is_drift=True)
KOLMOGOROV_SMIRNOV = MethodDefaults("ks", threshold=0.05, higher_is_drift=False)
CHI_SQUARE = MethodDefaults("chiSquare", threshold=0.05, higher_is_drift=False)

METHODS = {method.name: method for method in (PSI, JENSEN_SHANNON, WASSERSTEIN, KOLMOGOROV_SMIRNOV, CHI_SQUARE)}
NUMERIC_METHODS = ("psi", "jensenShannon", "wasserstein", "ks")
CATEGORICAL_METHODS = ("psi", "jensenShannon", "chiSquare")

WASSERSTEIN_STD_FLOOR = 0.001
"""The smallest reference standard deviation the normed Wasserstein divides by (Evidently's)."""

MIN_LABELS = 100
"""Labels fed back in a window before errorRates, or fairness's equal opportunity, judges (the
same as the accuracy check's minLabels default): with 100 labels a rate's standard error is at
most 0.05. The API leaves these fields None when not given (it installs without numpy, so it
cannot import this package) and the checks apply the defaults here."""
MIN_GROUP_ROWS = 30
"""Rows of a group (labelled positives, for equal opportunity) before its rate enters the
fairness spread: a rate over fewer swings by more than the usual limits by chance alone."""
MAX_FAIRNESS_INCREASE = 0.1
"""The largest rise of a fairness difference above training's before the fairness check fires."""
MAX_ERROR_RATE_INCREASE = 0.1
"""The largest rise of a class's false positive or false negative rate above training's."""
