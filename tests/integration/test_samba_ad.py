"""Samba AD as the county directory, against a real DC started by the suite (tests/plugins/samba_ad.py)."""

from __future__ import annotations

import ldap3
import pytest

from schulit.devservers.samba_ad import SambaAD
from schulit.directory import ad


def test_dc_accepts_verified_ldaps_kerberos_and_smb_and_refuses_a_wrong_password(samba_ad: SambaAD) -> None:
    admin = samba_ad.admin_connection()
    assert admin.bound
    admin.search(samba_ad.base_dn, "(objectClass=domain)", ldap3.BASE, attributes=["minPwdLength"])
    assert admin.entries
    admin.unbind()
    wrong = samba_ad.bind(samba_ad.admin_dn, "not-the-password")
    assert not wrong.bound
    assert ad.bind_reason(wrong.result["message"]) == "invalid credentials"
    assert samba_ad.kinit("Administrator", samba_ad.admin_password()).ok
    refused = samba_ad.kinit("Administrator", "not-the-password")
    assert not refused.ok and "incorrect" in refused.output
    assert samba_ad.smbclient("Administrator", samba_ad.admin_password()).ok
    assert "NT_STATUS_LOGON_FAILURE" in samba_ad.smbclient("Administrator", "not-the-password").output


def test_dc_certificate_is_verified(samba_ad: SambaAD, tmp_path) -> None:
    """A client with another CA refuses the DC (verification is real, not switched off)."""
    import ssl

    from schulit.devservers.tls import make_ca

    other = make_ca(tmp_path, "other")
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT, ca_certs_file=str(other.cert_file)
    )
    server = ldap3.Server(samba_ad.ldaps_url, get_info=ldap3.NONE, tls=tls, connect_timeout=5)
    connection = ldap3.Connection(server, user=samba_ad.admin_dn, password=samba_ad.admin_password())
    with pytest.raises(ldap3.core.exceptions.LDAPException):
        connection.bind()


def test_domain_policy_is_read_from_the_domain_object(samba_ad: SambaAD) -> None:
    connection = samba_ad.admin_connection()
    policy = ad.read_domain_policy(connection, samba_ad.base_dn)
    assert policy == ad.DomainPolicy(min_length=7, complex=True, max_age_days=42, history=24)
    password = ad.policy_password(policy, 10, "lea.mueller", "Lea Müller")
    assert ad.satisfies(policy, password, "lea.mueller", "Lea Müller")
    assert not ad.satisfies(policy, "Xlea.mueller7", "lea.mueller", "Lea Müller")
    assert not ad.satisfies(policy, "abcdefgh12", "lea.mueller", "Lea Müller")
