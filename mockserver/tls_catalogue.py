"""The TLS faults by name, and what a verifying client says of each: pure data that the settings
table (config.py), the scenario format and the TLS layer (wire/tls_faults.py) all read."""

from __future__ import annotations

__all__ = ["CERTIFICATE_FAULTS", "HANDSHAKE_FAULTS", "LISTENER_FAULTS", "TLS_FAULTS"]

# name -> what a verifying client says (OpenSSL 3's verify_message)
CERTIFICATE_FAULTS: dict[str, str] = {
    "expired": "certificate has expired",
    "not_yet_valid": "certificate is not yet valid",
    "wrong_host": "Hostname mismatch (IP address mismatch for an address)",
    "self_signed": "self-signed certificate",
    "untrusted_ca": "self-signed certificate in certificate chain",
    "missing_intermediate": "unable to get local issuer certificate",
}
HANDSHAKE_FAULTS: dict[str, str] = {
    "handshake_stall": "the ClientHello is read and nothing is sent: a handshake timeout",
    "handshake_reset": "a TCP RST after the ClientHello: connection reset",
    "old_protocol": "TLS 1.0 only: the server's alert says protocol version",
    "weak_cipher": "TLS 1.2 with NULL ciphers only: the server's alert says handshake failure",
}
LISTENER_FAULTS = HANDSHAKE_FAULTS
TLS_FAULTS = {**CERTIFICATE_FAULTS, **LISTENER_FAULTS}
