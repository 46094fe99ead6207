"""The audit trail: every decision Ballast takes, appended to a hash-chained log per model in the
artifact store, where it outlives the objects and their Events (docs/audit.md)."""
