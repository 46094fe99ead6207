"""Remove what a fitted model records about the machine it was fitted on.

The artifact's sha256 must depend only on spec, data and seed. HistGradientBoosting's fitted
_BinMapper stores the OpenMP thread count it used, which follows the pod's CPU limit, so the
same run on a 1-CPU and a 4-CPU node would give different bytes (the fitted trees are
identical). Resetting it to None, the constructor default, means "use the CPUs available"
wherever the model is loaded, which is also what the model server wants.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline


def _reset_bin_mapper_threads(estimator: Any) -> None:
    bin_mapper = getattr(estimator, "_bin_mapper", None)
    if bin_mapper is not None and hasattr(bin_mapper, "n_threads"):
        bin_mapper.n_threads = None


def strip_host_specific_state(pipeline: Pipeline) -> Pipeline:
    """The same pipeline, with host-dependent fitted attributes reset (in place)."""
    for _, step in pipeline.steps:
        _reset_bin_mapper_threads(step)
    return pipeline
