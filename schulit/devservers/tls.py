"""Throwaway certificate authorities and server certificates (openssl CLI) for TLS tests and demos."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA: its certificate and key."""

    cert_file: Path
    key_file: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(folder: Path, name: str) -> CertificateAuthority:
    """Create a new CA called ``name`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority(folder / f"{name}-ca.pem", folder / f"{name}-ca.key")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(ca.key_file),
        "-out",
        str(ca.cert_file),
        "-days",
        "2",
        "-subj",
        f"/CN={name} Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    ca.key_file.chmod(0o600)
    return ca


def issue_server_cert(
    ca: CertificateAuthority, folder: Path, name: str, ip: str = "127.0.0.1", dns: str = "localhost"
) -> tuple[Path, Path]:
    """Issue a server certificate for ``ip``/``dns`` signed by ``ca``; return (cert file, key file)."""
    key = folder / f"{name}.key"
    csr = folder / f"{name}.csr"
    cert = folder / f"{name}.pem"
    extensions = folder / f"{name}.ext"
    extensions.write_text(
        f"subjectAltName=IP:{ip},DNS:{dns}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    _openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={dns}",
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert_file),
        "-CAkey",
        str(ca.key_file),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(extensions),
    )
    key.chmod(0o600)
    return cert, key
