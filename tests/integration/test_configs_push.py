"""configs push against real sshd hosts on loopback: bytes, modes and owners on the hosts are checked."""

from __future__ import annotations

import json
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from schulit.cli import cli
from schulit.devservers.slapd import Slapd, free_port
from schulit.devservers.sshd import Sshd

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


class Fleet:
    """A test inventory whose schools' servers are the session's sshd hosts, each with its own root folder,
    and whose directory is a real slapd: configs render from what ``accounts sync`` wrote there."""

    def __init__(self, root: Path, hosts: list[Sshd], key: Path, known_hosts: Path, slapd: Slapd):
        self.root = root
        self.hosts = hosts
        self.synced = False
        self.templates = root / "templates"
        shutil.copytree(REPO_TEMPLATES, self.templates)
        (root / "schools").mkdir(parents=True)
        (root / "rosters").mkdir()
        (root / "county.toml").write_text(f"""
[county]
name = "Testkreis"
short_name = "lk-test"

[directory]
url = "{slapd.url}"
base_dn = "{slapd.base_dn}"
bind_dn = "{slapd.bind_dn}"
password_file = "{slapd.password_file}"
allow_plaintext_loopback = true

[passwords]
delivery_dir = "{root / "passwords"}"

[servers]
secrets_dir = "{root / "server-secrets"}"

[samba]
enabled = true
domain_name = "LKTEST"
domain_sid = "S-1-5-21-1111-2222-3333"

[ssh]
key_file = "{key}"
known_hosts = "{known_hosts}"
connect_timeout = 3
command_timeout = 20

[templates]
dir = "{self.templates}"
""")

    def school(
        self,
        number: int,
        *,
        address: str | None = None,
        port: int | None = None,
        validate_smb: str = "grep -qF '[global]' %s",
        validate_dnsmasq: str | None = "grep -q '^dhcp-range=' %s",
        host_key: str = "",
        network: str = "",
    ) -> Path:
        """School gs-tN with one fileserver+dhcp server on host N (or the given address/port)."""
        self.synced = False
        host = self.hosts[number] if number < len(self.hosts) else None
        host_root = self.root / "hosts" / f"fs{number}"
        host_root.mkdir(parents=True, exist_ok=True)
        (host_root / "etc/sssd/conf.d").mkdir(parents=True, exist_ok=True)  # as Debian's sssd-common has it
        (self.root / "rosters" / f"gs-t{number}.csv").write_text(
            "ID;Nachname;Vorname;Klasse\n1;Müller;Lea;1a\n2;Öztürk;Emre;2b\n3;Weiß;Jonas;2b\n"
        )
        log = host_root / "handlers.log"
        dnsmasq_validate = "" if validate_dnsmasq is None else f'"dnsmasq.conf" = """{validate_dnsmasq}"""'
        (self.root / "schools" / f"gs-t{number}.toml").write_text(f"""
id = "gs-t{number}"
name = "Grundschule Test {number}"
type = "Grundschule"

[[rosters]]
path = "rosters/gs-t{number}.csv"

[[servers]]
name = "fs{number}"
address = "{address or host.address}"
port = {port or host.port}
roles = ["fileserver", "dhcp"]
root = "{host_root}"
{f'host_key = "{host_key}"' if host_key else ""}

[servers.handler_commands]
reload-smbd = "echo reload-smbd >> {log}"
restart-smbd = "echo restart-smbd >> {log}"
store-samba-ldap-secret = "echo store-samba-ldap-secret >> {log}"
restart-sssd = "echo restart-sssd >> {log}"
reload-dnsmasq = "echo reload-dnsmasq >> {log}"
restart-dnsmasq = "echo restart-dnsmasq >> {log}"

[servers.validate_commands]
"smb.conf" = '''{validate_smb}'''
{dnsmasq_validate}

{network or self.network(number)}
""")
        return host_root

    @staticmethod
    def network(number: int, *, dhcp_end: str = "", devices: tuple[tuple[str, str], ...] = ()) -> str:
        """The [network] table of school ``number``: a printer, plus ``devices`` (name, last octet)."""
        lines = [
            "[network]",
            f'subnet = "10.{number}.0.0/22"',
            f'gateway = "10.{number}.0.1"',
            f'dns_domain = "gs-t{number}.schule.example"',
            f'dhcp_start = "10.{number}.1.10"',
            f'dhcp_end = "{dhcp_end or f"10.{number}.3.250"}"',
        ]
        for index, (name, octet) in enumerate((("drucker", "20"), *devices)):
            lines += [
                "",
                "[[network.devices]]",
                f'name = "{name}"',
                f'mac = "52:54:00:00:{index:02x}:0{number}"',
                f'ip = "10.{number}.0.{octet}"',
            ]
        return "\n".join(lines) + "\n"

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--inventory", str(self.root), *args], catch_exceptions=False)

    def sync(self) -> None:
        """Bring the schools' rosters into the directory (once per new school): what configs render from."""
        if not self.synced:
            synced = self.run("accounts", "sync", "--yes")
            assert synced.exit_code == 0, synced.output
            self.synced = True

    def push(self, *args: str) -> Result:
        """``configs push`` of the synced schools."""
        self.sync()
        return self.run("configs", "push", *args)


ALL_HANDLERS = [
    "reload-dnsmasq",
    "reload-smbd",
    "restart-dnsmasq",
    "restart-smbd",
    "restart-sssd",
    "store-samba-ldap-secret",
]


def handlers(host_root: Path) -> list[str]:
    log = host_root / "handlers.log"
    return log.read_text().split() if log.exists() else []


def files_below(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_hosts: list[Sshd], ssh_client_key: Path, known_hosts_file: Path, slapd: Slapd
) -> Fleet:
    return Fleet(tmp_path / "inventory", sshd_hosts, ssh_client_key, known_hosts_file, slapd)


def test_first_push_writes_then_second_changes_nothing(fleet: Fleet) -> None:
    root = fleet.school(0)
    first = fleet.push()
    assert first.exit_code == 0, first.output
    smb = root / "etc/samba/smb.conf"
    text = smb.read_text()
    assert "[klasse-1a]" in text and "[klasse-2b]" in text and "valid users = @gs-t0-2b" in text
    assert stat.S_IMODE(smb.stat().st_mode) == 0o644
    sssd = root / "etc/sssd/sssd.conf"
    assert stat.S_IMODE(sssd.stat().st_mode) == 0o600
    assert sssd.stat().st_uid == 0 and sssd.stat().st_gid == 0
    assert "52:54:00:00:00:00,drucker,10.0.0.20" in (root / "etc/schulit/dnsmasq/dhcp-hosts").read_text()
    assert sorted(handlers(root)) == ALL_HANDLERS
    assert "fs0" in first.output and "changed" in first.output
    # the class shares' folders exist, owned by the class group (its number from the directory), setgid
    share = (root / "srv/samba/gs-t0/klassen/2b").stat()
    assert stat.S_IMODE(share.st_mode) == 0o2770 and share.st_uid == 0 and share.st_gid >= 100000
    before = files_below(root)

    second = fleet.push()
    assert second.exit_code == 0, second.output
    assert files_below(root) == before
    again = (root / "srv/samba/gs-t0/klassen/2b").stat()  # untouched (atime aside: listing it reads it)
    kept = ("st_ino", "st_mode", "st_uid", "st_gid", "st_mtime_ns", "st_ctime_ns")
    assert [getattr(again, k) for k in kept] == [getattr(share, k) for k in kept]
    assert len(handlers(root)) == len(ALL_HANDLERS), "no handler may run when nothing changed"
    assert "changed 0" in second.output


def test_edited_template_changes_one_file_and_runs_its_handler_once(fleet: Fleet) -> None:
    root = fleet.school(0)
    assert fleet.push().exit_code == 0
    before = files_below(root)
    template = fleet.templates / "fileserver" / "motd.j2"
    template.write_text(template.read_text() + "  Wartung: dienstags 18 Uhr\n")
    smb_template = fleet.templates / "fileserver" / "smb.conf.j2"
    smb_template.write_text(smb_template.read_text().replace("max log size = 1000", "max log size = 2000"))
    result = fleet.push("--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    changed = [f["path"] for f in document["hosts"][0]["files"] if f["status"] == "changed"]
    assert sorted(changed) == sorted([str(root / "etc/motd"), str(root / "etc/samba/smb.conf")])
    after = files_below(root)
    assert {k for k in after if after[k] != before.get(k)} == {
        "etc/motd",
        "etc/samba/smb.conf",
        "etc/samba/smb.conf.schulit-bak",
        "handlers.log",
    }
    assert after["etc/samba/smb.conf.schulit-bak"] == before["etc/samba/smb.conf"]
    assert handlers(root).count("reload-smbd") == 2 and handlers(root).count("restart-sssd") == 1


def test_check_and_diff_show_changes_without_making_them(fleet: Fleet) -> None:
    root = fleet.school(0)
    assert fleet.push().exit_code == 0
    (fleet.root / "rosters" / "gs-t0.csv").write_text("ID;Nachname;Vorname;Klasse\n1;Müller;Lea;3c\n")
    before = files_below(root)
    unsynced = fleet.push("--check", "--diff")  # configs follow the directory, not the roster file
    assert unsynced.exit_code == 0 and "klasse-3c" not in unsynced.output, unsynced.output
    assert fleet.run("accounts", "sync", "--yes", "--force").exit_code == 0
    result = fleet.push("--check", "--diff")
    assert result.exit_code == 0, result.output
    assert "+[klasse-3c]" in result.output and "-[klasse-1a]" in result.output
    assert "check mode" in result.output
    assert files_below(root) == before


def test_failing_validate_keeps_the_old_file_and_fails_the_host(fleet: Fleet) -> None:
    fleet.school(0)
    bad = fleet.school(1, validate_smb="grep -q NEVER-THERE %s")
    assert fleet.push("--limit", "gs-t0").exit_code == 0
    (bad / "etc/samba").mkdir(parents=True)
    (bad / "etc/samba/smb.conf").write_text("# the old, working config\n")
    result = fleet.push("--json")
    assert result.exit_code == 4, result.output
    hosts = {h["name"]: h for h in json.loads(result.output)["hosts"]}
    assert hosts["fs1"]["status"] == "failed" and "validate failed" in hosts["fs1"]["error"]
    assert hosts["fs0"]["status"] == "ok"
    assert (bad / "etc/samba/smb.conf").read_text() == "# the old, working config\n"
    assert not list((bad / "etc/samba").glob(".smb.conf.schulit-*")), "the temp file must be removed"


def test_wrong_host_key_is_refused_and_others_succeed(fleet: Fleet, sshd_hosts: list[Sshd]) -> None:
    good = fleet.school(0)
    other_key = sshd_hosts[2].known_hosts_line().split(" ", 1)[1]  # a real key, but host 2's
    impostor = fleet.school(1, host_key=other_key)
    # the known_hosts file has host 1's real key; take host 1 out of it so only the inline (wrong) key counts
    known = fleet.root / "known_hosts_without_1"
    known.write_text("".join(h.known_hosts_line() + "\n" for i, h in enumerate(sshd_hosts) if i != 1))
    county = fleet.root / "county.toml"
    county.write_text(
        "\n".join(
            f'known_hosts = "{known}"' if line.startswith("known_hosts") else line
            for line in county.read_text().splitlines()
        )
    )
    result = fleet.push("--json")
    assert result.exit_code == 4, result.output
    hosts = {h["name"]: h for h in json.loads(result.output)["hosts"]}
    assert hosts["fs1"]["status"] == "failed" and "host key mismatch" in hosts["fs1"]["error"]
    assert hosts["fs0"]["status"] == "changed"
    assert files_below(impostor) == {}
    assert (good / "etc/samba/smb.conf").exists()


def test_unknown_host_is_refused_never_trusted_on_first_use(fleet: Fleet, sshd_hosts: list[Sshd]) -> None:
    stranger = fleet.school(1)
    known = fleet.root / "known_hosts_only_0"
    known.write_text(sshd_hosts[0].known_hosts_line() + "\n")
    county = fleet.root / "county.toml"
    county.write_text(
        "\n".join(
            f'known_hosts = "{known}"' if line.startswith("known_hosts") else line
            for line in county.read_text().splitlines()
        )
    )
    result = fleet.push("--json")
    assert result.exit_code == 4
    host = json.loads(result.output)["hosts"][0]
    assert host["status"] == "failed" and "unknown host key" in host["error"]
    assert files_below(stranger) == {}
    assert known.read_text() == sshd_hosts[0].known_hosts_line() + "\n", "no key may be added"


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections but never says a word (no SSH banner)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_unreachable_hosts_are_reported_within_the_timeout(fleet: Fleet, silent_listener: int) -> None:
    good = fleet.school(0)
    fleet.school(1, address="127.0.0.1", port=free_port())
    fleet.school(2, address="127.0.0.1", port=silent_listener)
    started = time.monotonic()
    result = fleet.push("--json")
    elapsed = time.monotonic() - started
    assert result.exit_code == 4, result.output
    hosts = {h["name"]: h for h in json.loads(result.output)["hosts"]}
    assert hosts["fs0"]["status"] == "changed"
    assert hosts["fs1"]["status"] == "unreachable"
    assert hosts["fs2"]["status"] == "unreachable"
    assert "within 3 s" in hosts["fs2"]["error"], hosts["fs2"]
    # paramiko waits 15 s for a banner by default: well below it shows the 3 s setting is in force
    assert elapsed < 12, f"took {elapsed:.1f} s with a 3 s connect timeout"
    assert (good / "etc/motd").exists()


def test_connection_killed_midway_never_leaves_a_half_written_target(fleet: Fleet) -> None:
    # validate kills the SSH session that runs it: the connection dies after the temp file is written
    # and before the rename
    root = fleet.school(0, validate_smb="kill -9 $PPID; sleep 5; true %s")
    (root / "etc/samba").mkdir(parents=True)
    (root / "etc/samba/smb.conf").write_text("# old\n")
    result = fleet.push("--json")
    assert result.exit_code == 4, result.output
    host = json.loads(result.output)["hosts"][0]
    assert host["status"] in ("failed", "unreachable"), host
    assert (root / "etc/samba/smb.conf").read_text() == "# old\n"

    # the next run (with a working validate) completes the host
    fleet.school(0)
    again = fleet.push()
    assert again.exit_code == 0, again.output
    assert "[global]" in (root / "etc/samba/smb.conf").read_text()


def test_private_key_readable_by_others_is_refused(
    fleet: Fleet, ssh_client_key: Path, tmp_path: Path
) -> None:
    fleet.school(0)
    loose = tmp_path / "loose_key"
    loose.write_bytes(ssh_client_key.read_bytes())
    loose.chmod(0o644)
    county = fleet.root / "county.toml"
    county.write_text(county.read_text().replace(f'key_file = "{ssh_client_key}"', f'key_file = "{loose}"'))
    result = fleet.push()
    assert result.exit_code == 1
    assert "accessible by group or others" in result.output


def test_render_writes_files_for_review_without_network(fleet: Fleet, tmp_path: Path) -> None:
    fleet.school(0, address="127.0.0.1", port=1)
    out = tmp_path / "review"
    result = CliRunner().invoke(
        cli, ["--inventory", str(fleet.root), "configs", "render", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    rendered = files_below(out / "fs0")
    assert sorted(rendered) == [
        "etc/dnsmasq.d/schule.conf",
        "etc/ldap/ldap.conf",
        "etc/motd",
        "etc/samba/schulit-ldap.secret",
        "etc/samba/smb.conf",
        "etc/schulit/dnsmasq/dhcp-hosts",
        "etc/schulit/dnsmasq/hosts",
        "etc/sssd/sssd.conf",
    ]


def test_undefined_template_variable_names_template_and_line(fleet: Fleet) -> None:
    fleet.school(0)
    template = fleet.templates / "fileserver" / "motd.j2"
    template.write_text("line one\n{{ school.no_such_thing }}\n")
    result = fleet.push("--json")
    assert result.exit_code == 4
    error = json.loads(result.output)["hosts"][0]["error"]
    assert "motd.j2:2" in error and "no_such_thing" in error
