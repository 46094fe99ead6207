"""The TrainingRun annotations a model card quotes: what the model is for and where it fails.

    metadata:
      annotations:
        ballast.dev/intended-use: "Triage of loan applications for manual review; not for automatic refusal."
        ballast.dev/limitations: "Trained on applicants aged 21-70 in one country."

The operator passes them to the training pod in the run's inputs (ballast.runtime.train reads
them as `card`), capped so that one long annotation cannot push the pod's environment past
the kernel's limit for one variable (128 KiB).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INTENDED_USE_ANNOTATION = "ballast.dev/intended-use"
LIMITATIONS_ANNOTATION = "ballast.dev/limitations"
MAX_NOTE_CHARACTERS = 4096
TRUNCATED_MARK = " [truncated]"

_INPUT_FIELDS = {INTENDED_USE_ANNOTATION: "intendedUse", LIMITATIONS_ANNOTATION: "limitations"}


def capped_note(text: str) -> str:
    if len(text) <= MAX_NOTE_CHARACTERS:
        return text
    return text[: MAX_NOTE_CHARACTERS - len(TRUNCATED_MARK)] + TRUNCATED_MARK


def card_notes(annotations: Mapping[str, Any] | None) -> dict[str, str]:
    """The run's card notes as the training inputs carry them (camelCase), empty ones left out."""
    notes = {}
    for annotation, field in _INPUT_FIELDS.items():
        value = (annotations or {}).get(annotation)
        if isinstance(value, str) and value.strip():
            notes[field] = capped_note(value.strip())
    return notes
