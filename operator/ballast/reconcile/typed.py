"""An object's status, read once into its typed model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from ballast.api.common import StatusBase

KOPF_FIELD = "kopf"
"""kopf's bookkeeping in status (api.crd.KOPF_STATUS_FIELD): not part of the API's models."""

S = TypeVar("S", bound=StatusBase)


def parse_status(model: type[S], status: Mapping | None) -> S:
    return model.model_validate({key: value for key, value in (status or {}).items() if key != KOPF_FIELD})


def wire_conditions(status: StatusBase) -> list[dict]:
    """The conditions as ballast.conditions.set_condition reads and writes them."""
    return [condition.to_wire() for condition in status.conditions]
