"""School servers that really serve pupils: the real sssd, pam_sss and the directory's access rules."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import ldap3
import pytest

from schulit.accounts.samba import nt_hash
from schulit.accounts.schema import enabled_hash
from schulit.servers.secrets import PLACEHOLDER
from tests.plugins.schoolservers import BASE_DN, PUPILS, County


def logins(connection: ldap3.Connection) -> set[str]:
    connection.search(BASE_DN, "(uid=*)", attributes=["uid"])
    return {str(entry.uid) for entry in connection.entries}


def test_anonymous_reads_nothing_below_the_base(school_county: County) -> None:
    with school_county.connection("") as anonymous:
        anonymous.search(BASE_DN, "(objectClass=*)", attributes=["*"])
        assert anonymous.entries == []
    with school_county.connection() as admin:
        assert "lea.mueller" in logins(admin), "the directory does hold the accounts"


def test_a_server_identity_reads_its_school_only_and_no_password_hash(school_county: County) -> None:
    with school_county.connection(school_county.identity("gs-a"), school_county.secret("fs-a")) as fs_a:
        assert logins(fs_a) == {"lea.mueller", "jonas.weiss", "mia.klein", "anja.schroeder", "tom.bauer"}
        fs_a.search(BASE_DN, "(uid=lea.mueller)", attributes=["userPassword", "uidNumber", "sambaNTPassword"])
        returned = fs_a.response[0]["raw_attributes"]
        assert not returned.get("userPassword") and returned.get("uidNumber")
        fs_a.search(BASE_DN, "(uid=ben.roth)", attributes=["uid"])
        assert fs_a.entries == []
        fs_a.search(BASE_DN, "(objectClass=applicationProcess)", attributes=["*"])
        assert [e.entry_dn for e in fs_a.entries] in ([], [school_county.identity("gs-a")])
    with school_county.connection(school_county.identity("gs-b"), school_county.secret("fs-b")) as fs_b:
        assert logins(fs_b) == {"ben.roth", "anja.schroeder"}


def test_a_person_binds_and_reads_their_own_entry_only(school_county: County) -> None:
    password = school_county.passwords()["lea.mueller"]
    dn = f"uid=lea.mueller,ou=pupils,ou=gs-a,ou=schools,{BASE_DN}"
    other = f"uid=tom.bauer,ou=teachers,ou=gs-a,ou=schools,{BASE_DN}"
    with school_county.connection() as admin:
        admin.search(other, "(objectClass=*)", ldap3.BASE, attributes=["cn"])
        assert admin.entries, "the other entry does exist"
    with school_county.connection(dn, password) as lea:
        lea.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["userPassword", "cn"])
        returned = lea.response[0]["raw_attributes"]
        assert returned.get("cn") and not returned.get("userPassword")
        lea.search(other, "(objectClass=*)", ldap3.BASE, attributes=["cn"])
        assert lea.entries == [], "another person's entry"
        assert logins(lea) <= {"lea.mueller"}, "no list of the county's people"


def test_sssd_finds_the_schools_people_and_groups(school_county: County) -> None:
    sssd = school_county.sssd("gs-a")
    lea = sssd.getent("passwd", "lea.mueller")
    name, _x, uid, gid, *_ = lea.split(":")
    assert name == "lea.mueller" and int(uid) >= 100000 and int(gid) >= 100000
    members = sssd.getent("group", "gs-a-1a").split(":")[3].split(",")
    assert sorted(members) == ["jonas.weiss", "lea.mueller"]
    assert sssd.getent("passwd", "ben.roth") == "", "a pupil of another school is not found"
    # a teacher of two schools: found on both schools' servers, in each school's teachers group
    other = school_county.sssd("gs-b")
    assert sssd.getent("passwd", "anja.schroeder").startswith("anja.schroeder:")
    assert other.getent("passwd", "anja.schroeder").startswith("anja.schroeder:")
    assert "anja.schroeder" in other.getent("group", "gs-b-teachers")
    assert other.getent("passwd", "tom.bauer") == ""


def test_pam_accepts_the_letters_password_and_refuses_a_wrong_one(school_county: County) -> None:
    sssd = school_county.sssd("gs-a")
    passwords = school_county.passwords()
    assert sssd.login("lea.mueller", passwords["lea.mueller"])
    assert not sssd.login("lea.mueller", passwords["lea.mueller"] + "x")
    assert not sssd.login("ben.roth", passwords["ben.roth"]), "not a pupil of this school"
    assert school_county.sssd("gs-b").login("anja.schroeder", passwords["anja.schroeder"])


def test_smbclient_opens_the_pupils_class_share_and_no_other(school_county: County) -> None:
    smbd = school_county.smbd("gs-a")
    passwords = school_county.passwords()
    opened = smbd.client("klasse-1a", "lea.mueller", passwords["lea.mueller"])
    assert opened.returncode == 0, opened.stdout + opened.stderr
    refused = smbd.client("klasse-1b", "lea.mueller", passwords["lea.mueller"])
    assert refused.returncode != 0 and "NT_STATUS_ACCESS_DENIED" in refused.stdout + refused.stderr
    assert not smbd.opens("klasse-1a", "lea.mueller", passwords["lea.mueller"] + "x"), "a wrong password"
    assert not smbd.opens("klasse-1a", "ben.roth", passwords["ben.roth"]), "a pupil of another school"
    assert smbd.opens("klasse-1b", "tom.bauer", passwords["tom.bauer"]), "teachers open every class share"


def test_the_secret_is_in_0600_files_on_the_server_only(school_county: County, tmp_path: Path) -> None:
    secret = school_county.secret("fs-a")
    host = school_county.hosts["gs-a"]
    for path in (host / "etc/sssd/sssd.conf", host / "etc/samba/schulit-ldap.secret"):
        assert secret in path.read_text() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((school_county.root / "server-secrets" / "fs-a.secret").stat().st_mode) == 0o600
    rendered = school_county.run("configs", "render", "--output", str(tmp_path / "review"))
    assert rendered.exit_code == 0, rendered.output
    review = (tmp_path / "review" / "fs-a" / "etc/sssd/sssd.conf").read_text()
    assert PLACEHOLDER in review and secret not in review
    checked = school_county.run("configs", "push", "--check", "--diff")
    assert checked.exit_code == 0 and "changed=0" in checked.output and secret not in checked.output
    audit = school_county.root / "audit.jsonl"
    assert not audit.exists() or secret not in audit.read_text()
    again = school_county.run("--verbose", "configs", "push")
    assert again.exit_code == 0 and "changed=0" in again.output, "the secret is stable: nothing to push"
    assert secret not in again.output


# --- the tests below change the county (in this order) ------------------------------------------------


def test_a_leaver_is_refused_even_with_a_working_hash(school_county: County) -> None:
    passwords = school_county.passwords()
    sssd, smbd = school_county.sssd("gs-a"), school_county.smbd("gs-a")
    assert sssd.login("jonas.weiss", passwords["jonas.weiss"])
    assert smbd.opens("klasse-1a", "jonas.weiss", passwords["jonas.weiss"])
    school_county.pupils("gs-a", [p for p in PUPILS["gs-a"] if p[2] != "Jonas"])
    synced = school_county.run("accounts", "sync", "--yes")
    assert synced.exit_code == 0, synced.output
    assert not sssd.login("jonas.weiss", passwords["jonas.weiss"])
    leaver = smbd.client("klasse-1a", "jonas.weiss", passwords["jonas.weiss"])
    assert leaver.returncode != 0
    # an admin restores the hash by mistake: binds work again, but sssd still honours shadowExpire
    with school_county.connection() as admin:
        dn = f"uid=jonas.weiss,ou=pupils,ou=gs-a,ou=schools,{BASE_DN}"
        admin.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["userPassword"])
        stored = admin.entries[0].userPassword.value
        stored = stored.decode() if isinstance(stored, bytes) else stored
        admin.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [enabled_hash(stored)])]})
    with school_county.connection(dn, passwords["jonas.weiss"]):
        pass  # the password binds again
    time.sleep(6)  # sssd re-reads an entry for PAM once it is older than pam_id_timeout (5 s)
    assert not sssd.login("jonas.weiss", passwords["jonas.weiss"]), "shadowExpire: account expired"


def test_a_locked_account_is_refused(school_county: County) -> None:
    passwords = school_county.passwords()
    sssd, smbd = school_county.sssd("gs-a"), school_county.smbd("gs-a")
    assert sssd.login("mia.klein", passwords["mia.klein"])
    assert smbd.opens("klasse-1b", "mia.klein", passwords["mia.klein"])
    assert school_county.run("accounts", "lock", "mia.klein").exit_code == 0
    assert not sssd.login("mia.klein", passwords["mia.klein"])
    assert not smbd.opens("klasse-1b", "mia.klein", passwords["mia.klein"])


def test_after_reset_password_the_new_one_works_and_the_old_one_not(school_county: County) -> None:
    old = school_county.passwords()["lea.mueller"]
    reset = school_county.run("accounts", "reset-password", "lea.mueller")
    assert reset.exit_code == 0, reset.output
    new = school_county.passwords()["lea.mueller"]
    assert new != old
    sssd, smbd = school_county.sssd("gs-a"), school_county.smbd("gs-a")
    with school_county.connection() as admin:  # both hashes changed in the one modify
        admin.search(BASE_DN, "(uid=lea.mueller)", attributes=["sambaNTPassword"])
        assert admin.entries[0].sambaNTPassword.value == nt_hash(new)
    opened = smbd.client("klasse-1a", "lea.mueller", new)
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert not smbd.opens("klasse-1a", "lea.mueller", old)
    assert sssd.login("lea.mueller", new) and not sssd.login("lea.mueller", old)


def test_rotate_secret_then_push_brings_the_new_secret(school_county: County) -> None:
    old = school_county.secret("fs-a")
    rotated = school_county.run("servers", "rotate-secret", "fs-a")
    assert rotated.exit_code == 0, rotated.output
    new = school_county.secret("fs-a")
    assert new != old and new not in rotated.output
    pushed = school_county.run("configs", "push", "--limit", "fs-a")
    assert pushed.exit_code == 0, pushed.output
    assert "restart-sssd" in pushed.output and "store-samba-ldap-secret" in pushed.output
    assert new in (school_county.hosts["gs-a"] / "etc/sssd/sssd.conf").read_text()
    with pytest.raises(ldap3.core.exceptions.LDAPBindError):
        school_county.connection(school_county.identity("gs-a"), old)
    sssd = school_county.sssd("gs-a")  # the handler restarted it with the new secret
    assert sssd.getent("passwd", "tom.bauer").startswith("tom.bauer:")
    smbd = school_county.smbd("gs-a")
    smbd.stop()  # what the restart-smbd handler does on a real server
    smbd.start()
    assert smbd.opens("lehrkraefte", "tom.bauer", school_county.passwords()["tom.bauer"])


def test_a_class_that_is_gone_keeps_its_folder_but_loses_its_share(school_county: County) -> None:
    host = school_county.hosts["gs-a"]
    folder = host / "srv/samba/gs-a/klassen/1b"
    (folder / "arbeit.txt").write_text("Mias Aufsatz\n")
    moved = [(i, last, first, "1a") for i, last, first, _class in PUPILS["gs-a"] if first != "Jonas"]
    school_county.pupils("gs-a", moved)
    assert school_county.run("accounts", "sync", "--yes").exit_code == 0
    pushed = school_county.run("configs", "push", "--limit", "fs-a")
    assert pushed.exit_code == 0, pushed.output
    assert "[klasse-1b]" not in (host / "etc/samba/smb.conf").read_text()
    assert (folder / "arbeit.txt").read_text() == "Mias Aufsatz\n"
