"""Every condition reason, Event reason and stage Ballast writes, in one place: one module per
kind, and here the reasons more than one kind uses. Tests, docs and the Argo CD health checks
read the same names, so a typo fails an import instead of writing a reason nobody matches."""

from typing import Final

POD_CANNOT_START: Final = "PodCannotStart"
"""The Ready reason while a pod (a Job's or a serving one) waits on something that will not
fix itself; handlers.apply posts it as a Warning when Ready turns to it."""
OUT_OF_MEMORY: Final = "OutOfMemory"
"""The reason a Job's pod gets when the runtime killed it at its memory limit."""
RETENTION_DELETED: Final = "RetentionDeleted"
"""The audit trail's reason for a version `ballast gc` deleted (no Event: the objects may be gone)."""
ERASED: Final = "Erased"
"""The audit trail's reason for a dataset version `ballast erase` deleted."""
AUDIT_UNAVAILABLE: Final = "AuditUnavailable"
"""A Warning Event: the store refused the audit trail's append, and the decision went on
unrecorded there (the store being full or read-only must not also silence status)."""
