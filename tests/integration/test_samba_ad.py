"""Samba AD as the county directory, against a real DC started by the suite (tests/plugins/samba_ad.py)."""

from __future__ import annotations

import csv
import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import ldap3
import pytest
from click.testing import CliRunner, Result
from ldap3.utils.conv import escape_filter_chars

from schulit.cli import cli
from schulit.devservers.samba_ad import SambaAD, SambaMember
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


# ---- schulit against the DC ------------------------------------------------------------------------------
PUPIL_HEADER = "Interne ID-Nummer;Nachname;Vorname;Klasse;Geburtsdatum"
TEACHER_HEADER = "Personalnummer;Nachname;Vorname"
LOGON_ATTRIBUTES = {
    "lastlogon",
    "lastlogontimestamp",
    "logoncount",
    "badpwdcount",
    "badpasswordtime",
    "lockouttime",
    "usnchanged",
    "whenchanged",
}


class ADCounty:
    """A small test county in a temp dir whose directory is the fixture DC, below its own OU."""

    def __init__(self, root: Path, dc: SambaAD, base_dn: str, schools: tuple[str, ...] = ("gs-a", "gs-b")):
        self.root = root
        self.dc = dc
        self.base_dn = base_dn
        self.schools = schools
        (root / "schools").mkdir(parents=True)
        (root / "rosters").mkdir()
        self.configure()
        for school in schools:
            (root / "schools" / f"{school}.toml").write_text(
                f"""
id = "{school}"
name = "Schule {school}"
type = "Grundschule"

[[rosters]]
path = "rosters/{school}-pupils.csv"
role = "pupil"

[[rosters]]
path = "rosters/{school}-teachers.csv"
role = "teacher"
""",
                encoding="utf-8",
            )
            self.pupils(school, [])
            self.teachers(school, [])

    def configure(self, passwords: str = "", directory: str = "") -> None:
        (self.root / "county.toml").write_text(
            f"""
[county]
name = "Testkreis"
short_name = "lk-test"

[directory]
flavour = "samba-ad"
url = "{self.dc.ldaps_url}"
base_dn = "{self.base_dn}"
bind_dn = "{self.dc.admin_dn}"
password_file = "{self.dc.password_file}"
ca_file = "{self.dc.ca_file}"
workgroup = "{self.dc.domain}"
{directory}

[templates]
dir = "{Path(__file__).resolve().parents[2] / "templates"}"

[identity]
pupil_id_scope = "county"

[passwords]
delivery_dir = "{self.root / "passwords"}"
{passwords}

[audit]
file = "{self.root / "audit.jsonl"}"
""",
            encoding="utf-8",
        )

    def pupils(self, school: str, rows: list[tuple[str, str, str, str]], encoding: str = "cp1252") -> None:
        lines = [PUPIL_HEADER + ";"] + [
            f"{i};{last};{first};{klasse};01.02.2015;" for i, last, first, klasse in rows
        ]
        (self.root / "rosters" / f"{school}-pupils.csv").write_bytes(
            "\r\n".join(lines).encode(encoding) + b"\r\n"
        )

    def teachers(self, school: str, rows: list[tuple[str, str, str]]) -> None:
        lines = [TEACHER_HEADER] + [f"{i};{last};{first}" for i, last, first in rows]
        (self.root / "rosters" / f"{school}-teachers.csv").write_text(
            "\n".join(lines) + "\n", encoding="utf-8-sig"
        )

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--inventory", str(self.root), *args], catch_exceptions=False)

    def sync(self, *args: str) -> Result:
        return self.run("accounts", "sync", "--yes", *args)

    def user(self, login: str) -> dict[str, Any] | None:
        """A user's attributes by sAMAccountName in the whole domain (lists of values; DN under "dn")."""
        connection = self.dc.admin_connection()
        connection.search(
            self.dc.base_dn,
            f"(&(objectClass=user)(sAMAccountName={escape_filter_chars(login)}))",
            attributes=["*", "objectSid"],
        )
        entries = connection.response or []
        connection.unbind()
        found = [e for e in entries if e.get("type") == "searchResEntry"]
        if not found:
            return None
        return {"dn": found[0]["dn"], **found[0]["raw_attributes"]}

    def text(self, login: str, attribute: str) -> list[str]:
        entry = self.user(login)
        assert entry is not None, login
        return [v.decode() for v in entry.get(attribute, [])]

    def members(self, group: str) -> set[str]:
        """sAMAccountNames of a group's members (resolved from the member DNs)."""
        connection = self.dc.admin_connection()
        connection.search(self.base_dn, f"(&(objectClass=group)(cn={escape_filter_chars(group)}))",
                          attributes=["member"])  # fmt: skip
        entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
        names = set()
        for member in entries[0]["attributes"].get("member", []) if entries else []:
            connection.search(member, "(objectClass=*)", ldap3.BASE, attributes=["sAMAccountName"])
            names.add(connection.response[0]["raw_attributes"]["sAMAccountName"][0].decode())
        connection.unbind()
        return names

    def group(self, name: str) -> dict[str, Any] | None:
        connection = self.dc.admin_connection()
        connection.search(self.base_dn, f"(&(objectClass=group)(cn={escape_filter_chars(name)}))",
                          attributes=["groupType", "sAMAccountName", "description", "member"])  # fmt: skip
        entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
        connection.unbind()
        return entries[0]["raw_attributes"] if entries else None

    def dump(self, base: str | None = None, *, logon_attributes: bool = True) -> list[str]:
        """Every entry below ``base`` (default: schulit's base) with every attribute, sorted."""
        connection = self.dc.admin_connection()
        entries = connection.extend.standard.paged_search(
            base or self.base_dn, "(objectClass=*)", attributes=["*", "+"], paged_size=500, generator=False
        )
        blocks = []
        for entry in entries:
            if entry.get("type") != "searchResEntry":
                continue
            user = b"user" in entry["raw_attributes"].get("objectClass", [])
            lines = [
                f"{name}: {value!r}"
                for name, raw in entry["raw_attributes"].items()
                if logon_attributes or not user or name.lower() not in LOGON_ATTRIBUTES
                for value in sorted(raw)
            ]
            blocks.append(entry["dn"] + "\n" + "\n".join(sorted(lines)))
        connection.unbind()
        return sorted(blocks)

    def deliveries(self) -> dict[str, dict[str, str]]:
        rows = {}
        for path in sorted((self.root / "passwords").glob("*/passwords-*.csv")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            with path.open(encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    rows[row["login"]] = row
        return rows


@pytest.fixture
def ad_county(samba_ad: SambaAD, ad_base: str, tmp_path: Path) -> ADCounty:
    county = ADCounty(tmp_path / "inventory", samba_ad, ad_base)
    county.pupils(
        "gs-a",
        [
            ("1001", "Müller", "Lea", "1a"),
            ("1002", "Öztürk", "Emre", "1a"),
            ("1003", "Weiß", "Jonas", "2b"),
            ("1004", "Müller", "Lea", "2b"),  # a second Lea Müller: lea.mueller2
            ("1005", "*)(sAMAccountName=*", "Eve", "2b"),
            ("1006", "Klein, jun.+\\", "Karl", "2b"),
        ],
    )
    county.teachers("gs-a", [("T1", "Schröder", "Anja")])
    county.pupils("gs-b", [("2001", "Wąsowski", "Łukasz", "3c")], encoding="utf-8")
    county.teachers("gs-b", [("T1", "Schröder", "Anja"), ("T2", "Nguyễn", "Thị Ánh")])
    return county


def test_ad_first_sync_creates_users_and_groups_then_changes_nothing(ad_county: ADCounty) -> None:
    county = ad_county
    builtins_before = county.dump(f"CN=Users,{county.dc.base_dn}", logon_attributes=False)
    builtins_before += county.dump(f"CN=Builtin,{county.dc.base_dn}", logon_attributes=False)
    assert county.run("accounts", "plan").exit_code == 2

    first = county.sync()
    assert first.exit_code == 0, first.output
    lea = county.user("lea.mueller")
    assert lea is not None
    assert lea["dn"] == f"CN=lea.mueller,OU=pupils,OU=gs-a,OU=schools,{county.base_dn}"
    assert county.text("lea.mueller", "userPrincipalName") == ["lea.mueller@AD.LK-TEST.EXAMPLE"]
    assert county.text("lea.mueller", "employeeNumber") == ["schulit:county:pupil:1001"]
    assert county.text("lea.mueller", "sn") == ["Müller"] and county.text("lea.mueller", "ou") == ["1a"]
    assert county.text("lea.mueller", "userAccountControl") == ["512"]
    assert county.text("anja.schroeder", "userAccountControl") == ["512"]
    assert county.text("anja.schroeder", "departmentNumber") == ["gs-a", "gs-b"]
    assert county.text("lea.mueller", "pwdLastSet") == ["0"]  # change at first logon (default)
    assert "userPassword" not in lea and "unicodePwd" not in lea
    assert county.text("lea.mueller2", "employeeNumber") == ["schulit:county:pupil:1004"]
    eve = [login for login, row in county.deliveries().items() if row["first_name"] == "Eve"]
    assert eve and county.text(eve[0], "sn") == ["*)(sAMAccountName=*"]
    assert county.members("gs-a-1a") == {"lea.mueller", "emre.oeztuerk"}
    assert county.members("gs-a-2b") == {"jonas.weiss", "lea.mueller2", eve[0], "karl.kleinjun"}
    assert county.members("all-pupils") >= {"lea.mueller", "lukasz.wasowski"}
    assert county.group("gs-a-1a")["groupType"] == [str(ad.GROUP_GLOBAL).encode()]
    assert county.group("all-teachers")["groupType"] == [str(ad.GROUP_UNIVERSAL).encode()]
    assert county.members("all-teachers") == {"anja.schroeder", "thi.nguyen"}
    for row in county.deliveries().values():
        assert row["password"] not in first.output

    again = county.run("accounts", "plan")
    assert again.exit_code == 0 and "nothing to do" in again.output, again.output
    before = county.dump()
    second = county.sync()
    assert second.exit_code == 0, second.output
    assert county.dump() == before  # uSNChanged included: nothing was written
    builtins_after = county.dump(f"CN=Users,{county.dc.base_dn}", logon_attributes=False)
    builtins_after += county.dump(f"CN=Builtin,{county.dc.base_dn}", logon_attributes=False)
    assert builtins_after == builtins_before


@pytest.mark.parametrize("password_on_add", ["false", "true", "auto"])
def test_ad_letter_password_works_for_ldap_kerberos_and_smb_and_must_change_is_enforced(
    ad_county: ADCounty, password_on_add: str
) -> None:
    county = ad_county
    dc = county.dc
    in_add = f"password_on_add = {password_on_add}" if password_on_add != "auto" else ""
    county.configure("change_at_first_logon = false\nnever_expire = {pupil = true}", in_add)
    assert county.sync().exit_code == 0
    password = county.deliveries()["lea.mueller"]["password"]
    # one write per user when the password is in the add; "auto" finds the DC to be Samba and does that
    created, changed = county.text("lea.mueller", "uSNCreated"), county.text("lea.mueller", "uSNChanged")
    assert (created == changed) is (password_on_add != "false"), (created, changed)
    assert county.text("lea.mueller", "pwdLastSet") != ["0"]
    assert county.text("lea.mueller", "userAccountControl") == ["66048"]  # the password never expires
    assert county.text("anja.schroeder", "userAccountControl") == ["512"]
    bound = dc.bind(f"lea.mueller@{dc.realm}", password)
    assert bound.bound, bound.result
    bound.unbind()
    assert dc.kinit("lea.mueller", password).ok
    assert dc.smbclient("lea.mueller", password).ok
    wrong = dc.bind(f"lea.mueller@{dc.realm}", password + "x")
    assert not wrong.bound and ad.bind_reason(wrong.result["message"]) == "invalid credentials"
    assert not dc.kinit("lea.mueller", password + "x").ok
    assert "NT_STATUS_LOGON_FAILURE" in dc.smbclient("lea.mueller", password + "x").output

    # with the default (change at first logon) a new pupil's letter password must be changed first
    county.configure(directory=in_add)
    county.pupils("gs-b", [("2001", "Wąsowski", "Łukasz", "3c"), ("2002", "Yılmaz", "Elif", "3c")], "utf-8")
    assert county.sync().exit_code == 0
    elif_password = county.deliveries()["elif.yilmaz"]["password"]
    assert county.text("elif.yilmaz", "pwdLastSet") == ["0"]
    refused = dc.bind(f"elif.yilmaz@{dc.realm}", elif_password)
    assert not refused.bound and ad.bind_reason(refused.result["message"]) == "password must be changed"
    kinit = dc.kinit("elif.yilmaz", elif_password)
    assert not kinit.ok and "Password expired" in kinit.output
    assert "NT_STATUS_PASSWORD_MUST_CHANGE" in dc.smbclient("elif.yilmaz", elif_password).output
    # the change Windows asks for at first logon, made with kinit; then all three take the new password
    new_password = "Neu-" + elif_password[::-1]
    changed = dc.kinit("elif.yilmaz", elif_password, new_password=new_password)
    assert changed.ok, changed.output
    assert dc.bind(f"elif.yilmaz@{dc.realm}", new_password).bound
    assert dc.kinit("elif.yilmaz", new_password).ok
    assert dc.smbclient("elif.yilmaz", new_password).ok
    assert not dc.kinit("elif.yilmaz", elif_password).ok
    assert county.run("accounts", "plan").exit_code == 0  # a changed password is no drift


def test_ad_lifecycle_class_and_school_change_leaver_returner_and_safety_limit(ad_county: ADCounty) -> None:
    county = ad_county
    dc = county.dc
    county.configure("change_at_first_logon = false")
    assert county.sync().exit_code == 0
    passwords = {login: row["password"] for login, row in county.deliveries().items()}
    emre_sid = county.user("emre.oeztuerk")["objectSid"]

    # class change, school change (gs-a -> gs-b), Jonas leaves
    county.pupils("gs-a", [("1001", "Müller", "Lea", "2a"), ("1004", "Müller", "Lea", "2b")])
    county.pupils(
        "gs-b", [("2001", "Wąsowski", "Łukasz", "3c"), ("1002", "Öztürk", "Emre", "4a")], encoding="utf-8"
    )
    result = county.sync("--force", "--today", "2026-09-01")
    assert result.exit_code == 0, result.output
    assert county.text("lea.mueller", "ou") == ["2a"]
    assert county.members("gs-a-2a") == {"lea.mueller"}
    assert county.group("gs-a-1a") is None, "an empty class loses its group"
    emre = county.user("emre.oeztuerk")
    assert emre["dn"] == f"CN=emre.oeztuerk,OU=pupils,OU=gs-b,OU=schools,{county.base_dn}"
    assert emre["objectSid"] == emre_sid, "the OU move keeps the SID"
    assert county.members("gs-b-4a") == {"emre.oeztuerk"}
    assert dc.kinit("emre.oeztuerk", passwords["emre.oeztuerk"]).ok

    jonas = county.user("jonas.weiss")
    assert int(jonas["userAccountControl"][0]) & ad.UAC_DISABLED
    assert ad.filetime_date(jonas["accountExpires"][0].decode()).isoformat() == "2026-09-01"
    assert "NT_STATUS_ACCOUNT_DISABLED" in dc.smbclient("jonas.weiss", passwords["jonas.weiss"]).output
    assert "revoked" in dc.kinit("jonas.weiss", passwords["jonas.weiss"]).output
    refused = dc.bind(f"jonas.weiss@{dc.realm}", passwords["jonas.weiss"])
    assert not refused.bound and ad.bind_reason(refused.result["message"]) == "account disabled"
    assert "jonas.weiss" not in county.members("gs-a-2b") | county.members("all-pupils")
    assert county.run("accounts", "plan", "--today", "2026-09-02").exit_code == 0

    # back before the grace period ends: same login, the old password works again
    county.pupils(
        "gs-a",
        [("1001", "Müller", "Lea", "2a"), ("1004", "Müller", "Lea", "2b"), ("1003", "Weiß", "Jonas", "3b")],
    )
    assert county.sync("--today", "2026-10-01").exit_code == 0
    assert county.text("jonas.weiss", "accountExpires") == [str(ad.NEVER)]
    assert dc.smbclient("jonas.weiss", passwords["jonas.weiss"]).ok
    assert county.members("gs-a-3b") == {"jonas.weiss"}

    # a truncated export is stopped by the safety limit and writes nothing
    before = county.dump()
    county.pupils("gs-a", [("1001", "Müller", "Lea", "2a")])  # two of three missing
    stopped = county.sync("--today", "2026-10-02")
    assert stopped.exit_code == 3 and "SAFETY LIMIT" in stopped.output, stopped.output
    assert county.dump() == before

    # Jonas leaves for good: purged after the grace period (90 days), his login stays reserved
    county.pupils("gs-a", [("1001", "Müller", "Lea", "2a"), ("1004", "Müller", "Lea", "2b")])
    assert county.sync("--force", "--today", "2026-10-02").exit_code == 0
    shown = json.loads(county.run("accounts", "show", "jonas.weiss", "--json").output)
    assert shown["state"] == "deactivated" and shown["delete_after"] == "2026-12-31"
    # Eve and Karl left on 2026-09-01: due first; two of three at once is over the safety limit
    over = county.run("accounts", "purge", "--yes", "--today", "2026-12-30")
    assert over.exit_code == 3 and county.user("karl.kleinjun") is not None, over.output
    early = county.run("accounts", "purge", "--yes", "--force", "--today", "2026-12-30")
    assert early.exit_code == 0, early.output
    assert county.user("karl.kleinjun") is None and county.user("jonas.weiss") is not None
    purged = county.run("accounts", "purge", "--yes", "--today", "2026-12-31")
    assert purged.exit_code == 0, purged.output
    assert county.user("jonas.weiss") is None
    county.pupils(
        "gs-a",
        [("1001", "Müller", "Lea", "2a"), ("1004", "Müller", "Lea", "2b"), ("1099", "Weiß", "Jonas", "1a")],
    )
    assert county.sync("--today", "2027-01-05").exit_code == 0
    assert county.user("jonas.weiss") is None and county.user("jonas.weiss2") is not None
    assert county.run("accounts", "plan", "--today", "2027-01-05").exit_code == 0


def test_ad_lock_unlock_reset_password_and_hand_made_objects(ad_county: ADCounty) -> None:
    county = ad_county
    dc = county.dc
    county.configure("change_at_first_logon = false")
    admin = dc.admin_connection()
    assert admin.add(f"{county.base_dn}", ["top", "organizationalUnit"], {})
    assert admin.add(f"OU=schools,{county.base_dn}", ["top", "organizationalUnit"], {})
    hand_dn = f"CN=Lea Hausmeister,OU=schools,{county.base_dn}"
    assert admin.add(
        hand_dn, ["top", "person", "organizationalPerson", "user"], {"sAMAccountName": "lea.mueller"}
    )
    admin.unbind()
    hand_before = county.dump(hand_dn)
    assert county.sync().exit_code == 0
    assert county.dump(hand_dn) == hand_before
    assert county.text("lea.mueller2", "employeeNumber") == ["schulit:county:pupil:1001"]
    for login in ("lea.mueller", "Administrator", "krbtgt"):
        refused = county.run("accounts", "lock", login)
        assert refused.exit_code == 1 and "not created by schulit" in refused.output, (login, refused.output)

    password = county.deliveries()["emre.oeztuerk"]["password"]
    assert county.run("accounts", "lock", "emre.oeztuerk").exit_code == 0
    assert "NT_STATUS_ACCOUNT_DISABLED" in dc.smbclient("emre.oeztuerk", password).output
    assert county.run("accounts", "plan").exit_code == 0, "a lock is kept across syncs"
    listed = json.loads(county.run("accounts", "list", "--state", "locked", "--json").output)
    assert [a["login"] for a in listed] == ["emre.oeztuerk"]
    assert county.run("accounts", "unlock", "emre.oeztuerk").exit_code == 0
    assert dc.smbclient("emre.oeztuerk", password).ok

    reset = county.run("accounts", "reset-password", "emre.oeztuerk")
    assert reset.exit_code == 0, reset.output
    new_password = county.deliveries()["emre.oeztuerk"]["password"]
    assert new_password != password and new_password not in reset.output
    assert dc.kinit("emre.oeztuerk", new_password).ok
    assert dc.smbclient("emre.oeztuerk", new_password).ok
    assert not dc.kinit("emre.oeztuerk", password).ok
    assert not dc.bind(f"emre.oeztuerk@{dc.realm}", password).bound
    assert "NT_STATUS_LOGON_FAILURE" in dc.smbclient("emre.oeztuerk", password).output
    shown = json.loads(county.run("accounts", "show", "emre.oeztuerk", "--json").output)
    assert shown["groups"] == ["all-pupils", "gs-a-1a", "gs-a-pupils"]
    audit = (county.root / "audit.jsonl").read_text()
    assert password not in audit and new_password not in audit and "unicodePwd" in audit
    assert "userPassword" not in audit and "userPassword" not in county.user("emre.oeztuerk")
    class_reset = county.run("accounts", "reset-password", "--school", "gs-a", "--class", "01A")
    assert class_reset.exit_code == 0, class_reset.output
    assert dc.kinit("lea.mueller2", county.deliveries()["lea.mueller2"]["password"]).ok
    for refused in (("find", "Emre"), ("rename", "emre.oeztuerk", "emre.o")):
        result = county.run("accounts", *refused)
        assert result.exit_code == 1 and "not available with directory flavour samba-ad" in result.output


def test_ad_member_fileserver_configs_from_the_directory_pass_testparm(
    ad_county: ADCounty, tmp_path: Path
) -> None:
    county = ad_county
    school_file = county.root / "schools" / "gs-a.toml"
    server = """
[[servers]]
name = "fs1.gs-a"
address = "127.0.12.200"
port = 22
user = "root"
roles = ["ad-fileserver"]
root = "{root}"
"""
    school_file.write_text(school_file.read_text() + server.format(root=tmp_path / "host"), encoding="utf-8")
    initialised = county.run("directory", "init")
    assert initialised.exit_code == 0 and "created" in initialised.output, initialised.output
    assert "nothing to do" in county.run("directory", "init").output
    assert county.sync().exit_code == 0
    rendered = county.run("configs", "render", "--output", str(tmp_path / "out"))
    assert rendered.exit_code == 0, rendered.output
    smb_conf = tmp_path / "out" / "fs1.gs-a" / "etc" / "samba" / "smb.conf"
    text = smb_conf.read_text()
    assert "security = ads" in text and "realm = AD.LK-TEST.EXAMPLE" in text and "workgroup = LKTEST" in text
    assert "idmap config LKTEST : backend = rid" in text
    assert "[klasse-1a]\n   comment = Klasse 1a\n   path = /srv/samba/gs-a/klassen/1a\n" in text
    assert 'valid users = @"LKTEST\\gs-a-1a" @"LKTEST\\gs-a-teachers"' in text
    assert "[klasse-3c]" not in text, "another school's class"
    checked = subprocess.run(
        ["testparm", "-s", "--suppress-prompt", str(smb_conf)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert "Unknown parameter" not in checked.stderr and "ERROR" not in checked.stderr, checked.stderr
    assert "ROLE_DOMAIN_MEMBER" in checked.stdout + checked.stderr
    nsswitch = (tmp_path / "out" / "fs1.gs-a" / "etc" / "nsswitch.conf").read_text()
    assert "passwd:         files winbind" in nsswitch

    # overlapping idmap ranges are refused by testparm, so the push's validate step keeps the old file
    school_file.write_text(
        school_file.read_text().replace(
            'name = "Schule gs-a"',
            'name = "Schule gs-a"\nvars = {idmap = {rid_first = 3500000, rid_last = 4500000}}',
        ),
        encoding="utf-8",
    )
    assert county.run("configs", "render", "--output", str(tmp_path / "bad")).exit_code == 0
    bad = tmp_path / "bad" / "fs1.gs-a" / "etc" / "samba" / "smb.conf"
    refused = subprocess.run(
        ["testparm", "-s", "--suppress-prompt", str(bad)], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "overlaps" in refused.stderr


def test_ad_member_server_joins_and_class_shares_admit_exactly_the_class(
    ad_county: ADCounty, samba_member: SambaMember, tmp_path: Path
) -> None:
    """The pushed smb.conf on a real member server: joined with net ads join, pupils log on with the
    letter's password, a class share lets in its class and the teachers and nobody else."""
    county = ad_county
    dc = county.dc
    county.configure("change_at_first_logon = false")
    school_file = county.root / "schools" / "gs-a.toml"
    server = '\n[[servers]]\nname = "fs1.gs-a"\naddress = "{a}"\nport = 22\nroles = ["ad-fileserver"]\n'
    school_file.write_text(school_file.read_text() + server.format(a=samba_member.address), encoding="utf-8")
    assert county.sync().exit_code == 0
    passwords = {login: row["password"] for login, row in county.deliveries().items()}
    assert county.run("configs", "render", "--output", str(tmp_path / "out")).exit_code == 0
    smb_conf = (tmp_path / "out" / "fs1.gs-a" / "etc" / "samba" / "smb.conf").read_text()
    samba_member.configure(smb_conf)
    for line in samba_member.config_file.read_text().splitlines():
        if line.strip().startswith("path = "):
            share = Path(line.split("=", 1)[1].strip())
            share.mkdir(parents=True, exist_ok=True)
            share.chmod(0o1777)
            for parent in share.parents:
                if parent == samba_member.share_root():
                    break
                parent.chmod(0o755)
    joined = samba_member.join()
    assert joined.ok, joined.output
    samba_member.start()

    def logon(login: str, share: str, password: str | None = None) -> str:
        result = dc.smbclient(login, password or passwords[login], share=share, host=samba_member.address)
        return "OK" if result.ok else result.output

    assert logon("lea.mueller", "klasse-1a") == "OK"
    assert logon("emre.oeztuerk", "klasse-1a") == "OK"
    assert logon("anja.schroeder", "klasse-1a") == "OK"  # the school's teachers
    assert "NT_STATUS_ACCESS_DENIED" in logon("jonas.weiss", "klasse-1a")  # class 2b
    assert logon("jonas.weiss", "klasse-2b") == "OK"
    assert "NT_STATUS_ACCESS_DENIED" in logon("lukasz.wasowski", "schule")  # another school's pupil
    assert logon("lea.mueller", "schule") == "OK"
    assert "NT_STATUS_LOGON_FAILURE" in logon("lea.mueller", "klasse-1a", "not-the-password")
    assert "NT_STATUS_ACCESS_DENIED" in logon("Administrator", "klasse-1a", dc.admin_password())


def test_ad_user_left_half_made_by_a_killed_run_is_completed_by_the_next(ad_county: ADCounty) -> None:
    """A run that dies between a user's add (disabled, no password) and its password modify leaves the
    marker; the next run issues the account again under the same login and completes that entry."""
    county = ad_county
    dc = county.dc
    county.configure("change_at_first_logon = false")
    county.pupils("gs-a", [("1001", "Müller", "Lea", "1a")])
    assert county.sync().exit_code == 0
    half_made = f"CN=emre.oeztuerk,OU=pupils,OU=gs-a,OU=schools,{county.base_dn}"
    admin = dc.admin_connection()
    assert admin.add(
        half_made,
        ["top", "person", "organizationalPerson", "user"],
        {
            "sAMAccountName": "emre.oeztuerk",
            "employeeNumber": "schulit:county:pupil:1002",
            "employeeType": "pupil",
            "userAccountControl": "514",
            "description": "schulit:incomplete",
        },
    ), admin.result
    admin.unbind()
    county.pupils("gs-a", [("1001", "Müller", "Lea", "1a"), ("1002", "Öztürk", "Emre", "1a")])
    planned = county.run("accounts", "plan")
    assert planned.exit_code == 2 and "create 1 " in planned.output, planned.output
    assert county.sync().exit_code == 0
    emre = county.user("emre.oeztuerk")
    assert emre["dn"] == half_made and "description" not in emre
    assert county.text("emre.oeztuerk", "userAccountControl") == ["512"]
    assert county.text("emre.oeztuerk", "sn") == ["Öztürk"] and county.text("emre.oeztuerk", "ou") == ["1a"]
    assert county.user("emre.oeztuerk2") is None
    assert dc.kinit("emre.oeztuerk", county.deliveries()["emre.oeztuerk"]["password"]).ok
    assert county.members("gs-a-1a") == {"lea.mueller", "emre.oeztuerk"}
    assert county.run("accounts", "plan").exit_code == 0
