"""An object's spec and status, read once into their typed models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ballast.api.common import ApiModel, Condition, StatusBase

KOPF_FIELD = "kopf"
"""kopf's bookkeeping in status (api.crd.KOPF_STATUS_FIELD): not part of the API's models."""

SpecT = TypeVar("SpecT", bound=ApiModel)
StatusT = TypeVar("StatusT", bound=StatusBase)


@dataclass(frozen=True)
class Typed(Generic[SpecT, StatusT]):
    body: dict[str, Any]
    """The object as it came (children and Job inputs are built from its wire form)."""
    name: str
    generation: int
    spec: SpecT
    status: StatusT


def parse_object(body: dict[str, Any], spec_model: type[SpecT], status_model: type[StatusT]) -> Typed[SpecT, StatusT]:
    return Typed(
        body=body,
        name=body["metadata"]["name"],
        generation=body["metadata"]["generation"],
        spec=spec_model.model_validate(body["spec"]),
        status=parse_status(status_model, body.get("status")),
    )


def parse_status(model: type[StatusT], status: Mapping[str, Any] | None) -> StatusT:
    return model.model_validate({key: value for key, value in (status or {}).items() if key != KOPF_FIELD})


def condition_of(status: StatusBase, type: str) -> Condition | None:
    return next((condition for condition in status.conditions if condition.type == type), None)


def wire_conditions(status: StatusBase) -> list[dict[str, Any]]:
    """The conditions as ballast.conditions.set_condition reads and writes them."""
    return [condition.to_wire() for condition in status.conditions]
