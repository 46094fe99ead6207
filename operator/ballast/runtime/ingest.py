"""`ballast ingest`: what the ingest Job's container runs.

    ballast ingest --dataset-json /etc/ballast/dataset/dataset.json --name credit \\
                   --store file:///var/lib/ballast

Inputs (a flag wins over its environment variable):
  --dataset-json PATH / BALLAST_DATASET_JSON_PATH
                          The Dataset as JSON: its spec (camelCase, as in the custom resource)
                          or the whole object ({"metadata": ..., "spec": ...}). The operator's
                          Job mounts it from a ConfigMap (build.ingest_input).
  BALLAST_DATASET_JSON    The same JSON as text, when no path is given: for small specs only,
                          as one variable is limited to 128 KiB by the kernel.
  BALLAST_DATASET_JSON_SHA256
                          When set, the sha256 the Dataset JSON's bytes must have (else exit 4).
  --name / BALLAST_DATASET_NAME
                          The Dataset's name (the store path's <name>); defaults to
                          metadata.name when the JSON is a whole object.
  --store / BALLAST_STORE_URI            Artifact store root (default file:///var/lib/ballast);
                          s3 credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL.
  --source-root / BALLAST_SOURCE_ROOT    Where a pvc source's claim is mounted (default /mnt/ballast-source).
  --max-source-bytes / BALLAST_MAX_SOURCE_BYTES   Largest single-file source read (default 2 GiB); a
                          partitioned source is streamed and has no limit.
  --timeout / BALLAST_SOURCE_TIMEOUT     Network timeout in seconds for url sources (default 60).
  --termination-log / BALLAST_TERMINATION_LOG     Where the result goes (default /dev/termination-log).
  An objectStore source reads SOURCE_AWS_* (its Secret mounted with envFrom prefix SOURCE_),
  else AWS_*.

Result: one JSON object, under 4096 bytes (the kubelet's limit for a termination message),
written to the termination log and to stdout:
  success  {"ok": true, "dataset", "sha256", "rows", "valid", "new", "createdAt",
            "violations": [...], "violationCount", "violationsTruncated",
            "snapshotUri", "profileUri", "metadataUri",       snapshotUri/profileUri null when invalid
            "profileSha256", "metadataSha256"}                 profileSha256 null when invalid
  failure  {"ok": false, "reason": "SourceNotFound", "message": "HTTP 404 Not Found from ..."}

Exit status: 0 when the ingest worked, whether the data is valid or not (invalid data is a
result, not a crash); 2 the source could not be read (the Job retries); 3 the artifact store
failed; 4 the Dataset JSON or the options are unusable, or the source is one this installation
never reads (EgressDenied): permanent, the Job fails at once (build.jobs.INGEST_PERMANENT_EXIT_CODES);
1 anything unexpected.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ballast.api.dataset import DatasetSpec
from ballast.data.errors import SourceError
from ballast.data.partitions import is_partitioned, partitioned_source
from ballast.data.snapshot import SnapshotRecord, ingest_table
from ballast.data.sources import (
    DEFAULT_MAX_SOURCE_BYTES,
    DEFAULT_PVC_MOUNT_ROOT,
    DEFAULT_TIMEOUT_SECONDS,
    SourceRefused,
    SourceSettings,
    read_source,
)
from ballast.data.stream_ingest import ingest_batches
from ballast.store import DEFAULT_STORE_URI, ArtifactStore, StoreError

TERMINATION_MESSAGE_LIMIT = 4096
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
MAX_VIOLATION_LENGTH = 300

EXIT_OK, EXIT_UNEXPECTED, EXIT_SOURCE, EXIT_STORE, EXIT_USAGE = 0, 1, 2, 3, 4
EXIT_PERMANENT = EXIT_USAGE
"""Retrying cannot help: the spec asks for what this installation refuses (a URL its egress
policy denies, like unusable input). The Job's podFailurePolicy fails on it at once."""


class UsageError(Exception):
    reason = "InvalidIngestInput"


@dataclass(frozen=True)
class IngestOptions:
    dataset_json_path: str | None = None
    dataset_json_text: str | None = None
    dataset_json_sha256: str | None = None
    """The digest the Dataset JSON must have: the operator's, for the file it had mounted."""
    name: str | None = None
    store_uri: str = DEFAULT_STORE_URI
    termination_log: str = DEFAULT_TERMINATION_LOG
    source_root: str = DEFAULT_PVC_MOUNT_ROOT
    max_source_bytes: int = DEFAULT_MAX_SOURCE_BYTES
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def parse_ingest_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> IngestOptions:
    environ = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(prog="ballast ingest", description="Ingest a Dataset version.")
    parser.add_argument(
        "--dataset-json", dest="dataset_json_path", default=environ.get("BALLAST_DATASET_JSON_PATH") or None
    )
    parser.add_argument("--name", default=environ.get("BALLAST_DATASET_NAME") or None)
    parser.add_argument("--store", dest="store_uri", default=environ.get("BALLAST_STORE_URI") or DEFAULT_STORE_URI)
    parser.add_argument("--termination-log", default=environ.get("BALLAST_TERMINATION_LOG") or DEFAULT_TERMINATION_LOG)
    parser.add_argument("--source-root", default=environ.get("BALLAST_SOURCE_ROOT") or DEFAULT_PVC_MOUNT_ROOT)
    parser.add_argument(
        "--max-source-bytes", type=int, default=int(environ.get("BALLAST_MAX_SOURCE_BYTES") or DEFAULT_MAX_SOURCE_BYTES)
    )
    parser.add_argument(
        "--timeout",
        dest="timeout_seconds",
        type=float,
        default=float(environ.get("BALLAST_SOURCE_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS),
    )
    parsed = parser.parse_args(list(argv))
    return IngestOptions(
        dataset_json_text=environ.get("BALLAST_DATASET_JSON") or None,
        dataset_json_sha256=environ.get("BALLAST_DATASET_JSON_SHA256") or None,
        environ=environ,
        **vars(parsed),
    )


def load_dataset(options: IngestOptions) -> tuple[str, DatasetSpec]:
    """The Dataset's name and typed spec from the options; UsageError when they are unusable."""
    if options.dataset_json_path:
        try:
            with open(options.dataset_json_path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise UsageError(f"cannot read --dataset-json {options.dataset_json_path}: {error.strerror}") from None
    elif options.dataset_json_text:
        text = options.dataset_json_text
    else:
        raise UsageError("no Dataset given: pass --dataset-json PATH or set BALLAST_DATASET_JSON")
    if options.dataset_json_sha256 and hashlib.sha256(text.encode()).hexdigest() != options.dataset_json_sha256:
        raise UsageError(
            f"the Dataset JSON does not have the sha256 the operator gave ({options.dataset_json_sha256}): "
            "it is not the spec the operator checked"
        )
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"the Dataset JSON does not parse: {error}") from None
    if not isinstance(document, dict):
        raise UsageError("the Dataset JSON must be an object")
    spec_document = document["spec"] if "spec" in document else document
    name = options.name or (document.get("metadata") or {}).get("name")
    if not name:
        raise UsageError("no Dataset name: pass --name or give the whole object with metadata.name")
    try:
        return name, DatasetSpec.model_validate(spec_document)
    except ValidationError as error:
        raise UsageError(
            f"the Dataset spec is not valid: {error.errors()[0].get('msg')} "
            f"at {'.'.join(str(p) for p in error.errors()[0].get('loc', ()))}"
        ) from None


def open_store(options: IngestOptions) -> ArtifactStore:
    try:
        return ArtifactStore(options.store_uri, environ=options.environ)
    except (ValueError, ImportError) as error:  # a malformed root, or a scheme with no fsspec driver
        raise UsageError(f"unusable --store {options.store_uri!r}: {error}") from None


def success_message(record: SnapshotRecord) -> dict[str, Any]:
    return {
        "ok": True,
        "dataset": record.dataset,
        "sha256": record.sha256,
        "rows": record.rows,
        "valid": record.valid,
        "new": record.new,
        "createdAt": record.created_at,
        "violations": [_clip(v, MAX_VIOLATION_LENGTH) for v in record.violations],
        "violationCount": len(record.violations),
        "violationsTruncated": False,
        "snapshotUri": record.snapshot_uri,
        "profileUri": record.profile_uri,
        "metadataUri": record.metadata_uri,
        "profileSha256": record.profile_sha256,
        "metadataSha256": record.metadata_sha256,
    }


def failure_message(reason: str, message: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason, "message": message}


def fit_termination_message(result: dict[str, Any], limit: int = TERMINATION_MESSAGE_LIMIT) -> str:
    """The result as compact JSON of at most `limit` bytes.

    Violations are dropped from the end (violationCount keeps the true number and
    violationsTruncated says so); a failure's message is shortened. The full list is in
    the version's metadata file in the store.
    """
    result = dict(result)

    def encoded() -> bytes:
        return json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()

    violations = result.get("violations") or []
    if violations and len(encoded()) > limit:
        # Keep the longest prefix that fits, found by halving: dropping one at a time would
        # encode the list once per violation, hours for a CSV header of 100,000 unknown
        # columns. Each kept violation costs at least 3 bytes ("",), which bounds the search.
        result["violationsTruncated"] = True
        fitting, too_many = 0, min(len(violations), limit // 3 + 1)
        while too_many - fitting > 1:
            middle = (fitting + too_many) // 2
            result["violations"] = violations[:middle]
            fitting, too_many = (middle, too_many) if len(encoded()) <= limit else (fitting, middle)
        result["violations"] = violations[:fitting]
    if len(encoded()) > limit and "message" in result:
        overflow = len(encoded()) - limit
        text = result["message"].encode()
        result["message"] = text[: max(0, len(text) - overflow - 3)].decode(errors="ignore") + "..."
    data = encoded()
    if len(data) > limit:  # only absurdly long URIs could get here; keep the verdict at least
        return json.dumps({key: result[key] for key in ("ok", "sha256", "valid", "reason") if key in result})
    return data.decode()


def run_ingest(options: IngestOptions) -> int:
    """Runs one ingest and reports it; returns the process exit status."""
    try:
        name, spec = load_dataset(options)
        store = open_store(options)
        settings = SourceSettings(
            pvc_mount_root=options.source_root,
            max_bytes=options.max_source_bytes,
            timeout_seconds=options.timeout_seconds,
            environ=options.environ,
        )
        if is_partitioned(spec):
            parts = partitioned_source(spec, settings)
            record = ingest_batches(store, name, spec, parts.record_batches(), parts.description, _now())
        else:
            raw = read_source(spec, settings)
            record = ingest_table(store, name, spec, raw.frame, raw.description, _now())
    except UsageError as error:
        return _report(options, failure_message(error.reason, str(error)), EXIT_USAGE)
    except SourceRefused as error:  # the same URL is refused on every retry
        return _report(options, failure_message(error.reason, str(error)), EXIT_PERMANENT)
    except SourceError as error:
        return _report(options, failure_message(error.reason, str(error)), EXIT_SOURCE)
    except StoreError as error:
        return _report(options, failure_message(error.reason, str(error)), EXIT_STORE)
    except Exception as error:  # noqa: BLE001 - the pod must still say why it died
        traceback.print_exc(file=sys.stderr)
        return _report(options, failure_message("IngestFailed", f"{type(error).__name__}: {error}"), EXIT_UNEXPECTED)
    verdict = "valid" if record.valid else f"INVALID ({len(record.violations)} violations)"
    print(
        f"dataset {record.dataset} version {record.sha256}: {record.rows} rows, {verdict}"
        f"{'' if record.new else ', already in the store'}",
        file=sys.stderr,
    )
    return _report(options, success_message(record), EXIT_OK)


def _report(options: IngestOptions, result: dict[str, Any], code: int) -> int:
    message = fit_termination_message(result)
    print(message)
    if not result["ok"]:
        print(f"ingest failed ({result['reason']}): {result['message']}", file=sys.stderr)
    try:
        with open(options.termination_log, "w", encoding="utf-8") as handle:
            handle.write(message)
    except OSError as error:
        print(f"cannot write the termination log {options.termination_log}: {error}", file=sys.stderr)
    return code


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def main(argv: Sequence[str] | None = None) -> int:
    return run_ingest(parse_ingest_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
