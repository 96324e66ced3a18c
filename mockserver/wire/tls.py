"""HTTPS for the mock: a throwaway certificate authority made at start, or a certificate given.

``self_signed(folder, names)`` makes a private CA and a server certificate it signs, for the names
and addresses clients use (localhost, 127.0.0.1, ::1, the host name, any extra ones). Clients
trust the CA's PEM file (``requests.get(url, verify=ca)``, the Huawei SDK's
``HttpConfig.ssl_ca_cert = ca``, ``curl --cacert ca``). A CA plus a leaf, rather than one
self-signed leaf, because strict verifiers (Python 3.13's default context, Go) refuse a leaf that
signs itself. The keys never leave the folder; the CA's key is not kept at all.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tls_faults import Authority

__all__ = ["Certificate", "authority", "self_signed", "server_context"]


@dataclass(frozen=True, slots=True)
class Certificate:
    """Where the PEM files are: what clients trust, and what the server presents."""

    ca: Path  # trust this one
    cert: Path  # the server's certificate followed by the CA's
    key: Path


def self_signed(folder: str | os.PathLike[str], names: Iterable[str] = (), *,
                ca_path: str | os.PathLike[str] | None = None, days: int = 30) -> Certificate:
    """Make a CA and a server certificate for localhost, loopback, this host and *names*."""
    return authority(folder, names, ca_path=ca_path, days=days)[0]


def authority(folder: str | os.PathLike[str], names: Iterable[str] = (), *,
              ca_path: str | os.PathLike[str] | None = None, days: int = 30) -> tuple[Certificate, Authority]:
    """As self_signed, and the CA kept in memory (never on disk) to make TLS fault certificates."""
    from .tls_faults import Authority

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)
    ca_cert, ca_key = make_ca("mockserver test CA", start=start, end=end)
    all_names = tuple(_names(names))
    cert, key = leaf(all_names, ca_cert, ca_key, start, end)

    ca_file = Path(ca_path) if ca_path is not None else folder / "ca.pem"
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    ca_file.write_bytes(pem(ca_cert))
    cert_file, key_file = folder / "server.pem", folder / "server-key.pem"
    cert_file.write_bytes(pem(cert) + pem(ca_cert))
    write_key(key_file, key)
    return Certificate(ca_file, cert_file, key_file), Authority(ca_cert, ca_key, all_names, folder)


def make_ca(common_name: str, *, start: datetime.datetime | None = None, end: datetime.datetime | None = None,
            parent: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """A CA certificate and its key: self-signed, or an intermediate signed by *parent* (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    start = start or now - datetime.timedelta(hours=1)
    end = end or now + datetime.timedelta(days=30)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_cert, issuer_key = parent if parent is not None else (None, key)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder().subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        # the root may sign one intermediate (the missing-intermediate fault makes one)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0 if parent else 1), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        .add_extension(ski, critical=False))
    if issuer_cert is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_cert.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def leaf(names: Iterable[str], issuer_cert: Any, issuer_key: Any, start: datetime.datetime,
         end: datetime.datetime, *, self_sign: bool = False) -> tuple[Any, Any]:
    """A server certificate for *names*, signed by the issuer (or by itself)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mockserver")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_sign else issuer_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=False, crl_sign=False, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if not self_sign:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_cert.public_key()), critical=False)
    return builder.sign(key if self_sign else issuer_key, hashes.SHA256()), key


def pem(cert: Any) -> bytes:
    """A certificate as PEM bytes."""
    from cryptography.hazmat.primitives import serialization

    return bytes(cert.public_bytes(serialization.Encoding.PEM))


def write_key(path: Path, key: Any) -> None:
    """Write a private key readable by this user only."""
    from cryptography.hazmat.primitives import serialization

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


def _names(extra: Iterable[str]) -> list[str]:
    found: list[str] = []
    for name in ["localhost", "127.0.0.1", "::1", socket.gethostname(), *extra]:
        if name and name not in found and name not in ("0.0.0.0", "::"):
            found.append(name)
    return found


def server_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    """A server-side TLS context from PEM files (ssl.SSLError or OSError if they are unusable)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
