"""School servers that really serve pupils: the real sssd, pam_sss and the directory's access rules."""

from __future__ import annotations

import ldap3

from tests.plugins.schoolservers import BASE_DN, County


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
