"""The template variables about directory clients and a server's own identity (never its secret)."""

from __future__ import annotations

from typing import Any

from schulit.errors import SchulitError
from schulit.inventory import Inventory, Server
from schulit.servers.identities import identity_dn
from schulit.servers.secrets import PLACEHOLDER


def directory_variables(inventory: Inventory) -> dict[str, Any]:
    """``directory``: what a school server needs to reach the county directory (URL, base, CA)."""
    settings = inventory.directory
    ca_pem = ""
    if settings.ca_file is not None:
        try:
            ca_pem = settings.ca_file.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise SchulitError(f"directory.ca_file {settings.ca_file}: cannot read: {exc}") from None
    url = settings.client_url or settings.url
    return {
        "uri": url,
        "client_url": url,
        "base_dn": settings.base_dn,
        "client_ca_file": settings.client_ca_file,
        "ca_pem": ca_pem,
        "flavour": settings.flavour,
        "realm": settings.realm,  # samba-ad only: the Kerberos realm
        "workgroup": settings.workgroup,  # samba-ad only: the NetBIOS domain
    }


def identity_variables(inventory: Inventory, server: Server) -> dict[str, str]:
    """``server.identity``: its DN, and a placeholder the push replaces by the secret (0600 files only)."""
    return {"dn": identity_dn(inventory.layout, server), "secret": PLACEHOLDER}


def samba_variables(inventory: Inventory) -> dict[str, Any]:
    samba = inventory.samba
    return {"enabled": samba.enabled, "domain_name": samba.domain_name, "domain_sid": samba.domain_sid}
