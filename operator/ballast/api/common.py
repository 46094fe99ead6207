"""Building blocks shared by the four kinds: naming, durations, digests, conditions, resources."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Go's time.ParseDuration syntax, restricted to the units a person writes in a manifest.
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
SHA256_PATTERN = r"^[a-f0-9]{64}$"
# A URI with a scheme (file://, s3://, gs://, ...): the artifact store speaks fsspec.
URI_PATTERN = r"^[a-z][a-z0-9+.-]*://.+$"

# No descriptions on these shared types: pydantic would put theirs in place of each field's own
# docstring in the CRDs (and kubectl explain); their patterns say what they accept.
ResourceName = Annotated[
    str,
    Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN),
]
Duration = Annotated[
    str,
    Field(max_length=32, pattern=DURATION_PATTERN),
]
Sha256 = Annotated[
    str,
    Field(min_length=64, max_length=64, pattern=SHA256_PATTERN),
]
Uri = Annotated[
    str,
    Field(max_length=2048, pattern=URI_PATTERN),
]
Fraction = Annotated[float, Field(ge=0, le=1)]
OpenFraction = Annotated[float, Field(gt=0, lt=1)]


class ApiModel(BaseModel):
    """Base of every API type: camelCase on the wire, snake_case in Python, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The dict to send to the API server: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def to_merge_patch(self) -> dict[str, Any]:
        """The fields assigned (in the constructor or since), as a JSON merge patch: a field
        assigned None becomes a null, which deletes it; fields never assigned are left as they
        are. Inside the values, None fields are left out as in to_wire."""
        wire = self.to_wire()
        aliases = {name: field.alias or name for name, field in type(self).model_fields.items()}
        return {aliases[name]: wire.get(aliases[name]) for name in self.model_fields_set}


class Condition(ApiModel):
    """A condition as in the Kubernetes API conventions (metav1.Condition)."""

    type: str = Field(max_length=316, pattern=r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
    """The aspect this condition describes, in CamelCase: Ready, or the kind's own (Succeeded, Drifting, ...)."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds: True, False, or Unknown when the operator cannot tell yet."""
    reason: str = Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """Why the condition is as it is, as one CamelCase word a program can match on."""
    message: str = Field(default="", max_length=32768)
    """The same for a person: what happened and, when something is wrong, what to do about it."""
    last_transition_time: datetime
    """When status last changed; a new reason or message with the same status keeps the old time."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the condition was computed from; older than the object's means stale."""


Conditions = Annotated[
    list[Condition],
    Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


class StatusBase(ApiModel):
    """What the status of every kind carries. The operator alone writes status (through the
    status subresource); a user or Argo CD edits only spec."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation of the spec this status describes."""
    conditions: Conditions
    """Ready summarises the object; kinds add their own (Succeeded, Drifting, ...). One entry per type."""


class SecretRef(ApiModel):
    name: ResourceName
    """A Secret in the object's namespace."""


Quantity = Annotated[
    int | str,
    Field(
        json_schema_extra={
            "x-kubernetes-int-or-string": True,
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
            r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
        }
    ),
]


def cel_list(values: tuple[str, ...] | list[str]) -> str:
    """A CEL list literal of strings, for rules generated from Python constants."""
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
_RESOURCE_NAMES_CEL = cel_list(RESOURCE_NAMES)


class ResourceRequirements(ApiModel):
    """CPU and memory for the pod that does the work, as in a container's resources."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"!has(self.requests) || self.requests.all(k, k in {_RESOURCE_NAMES_CEL})",
                    "message": f"resources.requests may only name {', '.join(RESOURCE_NAMES)}",
                },
                {
                    "rule": f"!has(self.limits) || self.limits.all(k, k in {_RESOURCE_NAMES_CEL})",
                    "message": f"resources.limits may only name {', '.join(RESOURCE_NAMES)}",
                },
            ]
        }
    )

    requests: dict[str, Quantity] | None = Field(default=None, max_length=3)
    """What the scheduler reserves for the pod, by resource (cpu, memory, ephemeral-storage): for
    example cpu: 500m, memory: 1Gi. The operator's defaults apply when left out."""
    limits: dict[str, Quantity] | None = Field(default=None, max_length=3)
    """The most the pod may use, by resource: over the memory limit it is killed, over the cpu
    limit it is throttled."""


DISPLAY_SIGNIFICANT_DIGITS = 4
"""The precision of the numbers status carries for `kubectl get` columns (keyMetric.value,
DriftPolicy's score): 0.9916666666666667 is written as 0.9917. The full values stay beside them
(status.metrics, status.features[].score)."""


def rounded_for_display(value: float) -> float:
    """value to DISPLAY_SIGNIFICANT_DIGITS significant digits, so that a printer column reads
    0.9917 or 1.234e-05 rather than every digit of a double."""
    return float(f"{value:.{DISPLAY_SIGNIFICANT_DIGITS}g}")


def key_metric_for_status(key_metric: Mapping[str, Any]) -> dict[str, Any] | None:
    """A keyMetric ({"name", "value"}) as status carries it, the value rounded for display; None
    (no keyMetric) when the value is not a number, as a hand-written metadata.json may have it."""
    value = key_metric.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return {"name": key_metric.get("name"), "value": rounded_for_display(value)}


class NamedValue(ApiModel):
    """One named number, for the printer column that shows a kind's key metric."""

    name: str = Field(max_length=64)
    """The metric's name, for example accuracy or rmse."""
    value: float
    """The metric's value rounded to 4 significant digits; status.metrics keeps every digit."""
