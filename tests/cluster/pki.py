"""Certificates signed by the cluster CA (kwokctl's), made with openssl: the kubelet's client
certificate and metrics-server's serving certificate."""

from __future__ import annotations

import subprocess
from pathlib import Path


def ensure_signed_certificate(
    directory: Path, stem: str, *, subject: str, ca_dir: Path, subject_alt_names: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """directory/<stem>.crt and .key for subject (openssl's /O=.../CN=... form), signed by the CA
    in ca_dir; made again only when the CA is newer (a recreated cluster has a new CA).
    subject_alt_names: openssl's form, `DNS:name` or `IP:address`, for a serving certificate."""
    cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    ca_cert, ca_key = ca_dir / "ca.crt", ca_dir / "ca.key"
    if cert.exists() and cert.stat().st_mtime >= ca_cert.stat().st_mtime:
        return cert, key
    directory.mkdir(parents=True, exist_ok=True)
    csr = directory / f"{stem}.csr"
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr)]
        + ["-subj", subject],
        **quiet,
    )
    extensions: list[str] = []
    if subject_alt_names:
        extfile = directory / f"{stem}.ext"
        extfile.write_text(f"subjectAltName={','.join(subject_alt_names)}\n")
        extensions = ["-extfile", str(extfile)]
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial"]
        + ["-days", "3650", "-out", str(cert), *extensions],
        **quiet,
    )
    return cert, key
