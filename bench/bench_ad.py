"""New pupils with passwords into a real Samba AD DC: schulit's sync vs a plain ldap3 loop vs samba-tool.

    python bench/bench_ad.py [--pupils 1000] [--samba-tool-users 50]

One throwaway DC (provisioned here, on its own 127.0.12.x address) and three runs in this one process run,
each on the freshly provisioned domain (restored from a snapshot):

1. schulit ``accounts sync`` of ``--pupils`` pupils (one school, 24 classes): everything an admin waits for
   (rosters, directory read, plan, passwords meeting the domain policy, 0600 delivery file, the writes);
   once as on Microsoft AD (``password_on_add = false``: add disabled, then password + enable) and once
   with the default (``"auto"``: on a Samba DC the password goes in the add).
2. the same users written by a plain sequential ldap3 loop over LDAPS, as one would write it by hand: per
   user add disabled, set ``unicodePwd``, enable, add to its class group (the groups made first).
3. ``samba-tool user create`` (``--random-password``, over LDAP to the DC) for ``--samba-tool-users``.

Targets (issue 12): schulit at least as fast as the loop, and >= 20x samba-tool per user. Where the time
goes is shown as CPU seconds of the DC (samba's whole process tree) and of this client process.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ldap3

from bench.common import FIRST, LAST
from schulit.accounts import flavour_ad
from schulit.accounts.service import SyncOptions, run_sync
from schulit.devservers.samba_ad import SambaAD
from schulit.directory import ad
from schulit.inventory import load_inventory
from schulit.passwords import generate_password

SCHOOL = "gs-bench"


def free_address() -> str:
    for number in range(40, 60):
        address = f"127.0.12.{number}"
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((address, 636)) != 0:
                return address
    raise SystemExit("no free 127.0.12.x address")


def roster(pupils: int) -> list[tuple[str, str, str, str]]:
    """(id, last name, first name, class) rows; 24 classes."""
    rows = []
    for i in range(pupils):
        last = LAST[i % 20] + ("" if i < 20 else "-" + LAST[(i // 20) % 20])
        rows.append((str(100000 + i), last, FIRST[(i * 7) % 20], f"{5 + i % 6}{'abcd'[(i // 6) % 4]}"))
    return rows


def write_county(
    root: Path, dc: SambaAD, rows: list[tuple[str, str, str, str]], password_on_add: str
) -> Path:
    (root / "schools").mkdir(parents=True)
    (root / "rosters").mkdir()
    (root / "county.toml").write_text(
        f"""
[county]
name = "Benchmarkkreis"
short_name = "lk-bench"

[directory]
flavour = "samba-ad"
url = "{dc.ldaps_url}"
base_dn = "OU=county,{dc.base_dn}"
bind_dn = "{dc.admin_dn}"
password_file = "{dc.password_file}"
ca_file = "{dc.ca_file}"
timeout = 60
password_on_add = {password_on_add}

[passwords]
delivery_dir = "{root / "passwords"}"
""",
        encoding="utf-8",
    )
    (root / "schools" / f"{SCHOOL}.toml").write_text(
        f'id = "{SCHOOL}"\nname = "Benchmarkschule"\ntype = "Oberschule"\n\n[[rosters]]\n'
        f'path = "rosters/{SCHOOL}.csv"\nrole = "pupil"\nencoding = "utf-8"\ndelimiter = ";"\n',
        encoding="utf-8",
    )
    lines = ["ID;Nachname;Vorname;Klasse"] + [";".join(row) for row in rows]
    (root / "rosters" / f"{SCHOOL}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def dc_cpu(dc: SambaAD) -> float:
    """CPU seconds (user + system) of the DC's live processes and their reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in dc.processes():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


class Meter:
    """Wall time, DC CPU and this process's CPU of one run."""

    def __init__(self, dc: SambaAD):
        self.dc = dc

    def __enter__(self) -> Meter:
        self.wall = time.perf_counter()
        self.server = dc_cpu(self.dc)
        self.client = sum(os.times()[:4])  # this process and its children (samba-tool)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.server = dc_cpu(self.dc) - self.server
        self.client = sum(os.times()[:4]) - self.client


def run_schulit(
    dc: SambaAD, root: Path, rows: list[tuple[str, str, str, str]], password_on_add: str
) -> tuple[Meter, int]:
    inventory = load_inventory(write_county(root, dc, rows, password_on_add))
    with Meter(dc) as meter:
        outcome = run_sync(inventory, SyncOptions(lock_timeout=5), command="bench")
    assert not outcome.result.failed, outcome.result.failed[:3]
    created = sum(1 for change in outcome.result.applied if change.action == "create")
    assert created == len(rows), created
    return meter, created


def run_loop(dc: SambaAD, rows: list[tuple[str, str, str, str]]) -> Meter:
    """The hand-written reference: one synchronous request after the other."""
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT, ca_certs_file=str(dc.ca_file)
    )
    server = ldap3.Server(dc.ldaps_url, get_info=ldap3.NONE, tls=tls)
    base = f"OU=loop,{dc.base_dn}"
    with Meter(dc) as meter:
        connection = ldap3.Connection(server, dc.admin_dn, dc.admin_password(), auto_bind=True)
        connection.add(base, ["top", "organizationalUnit"])
        classes = sorted({row[3] for row in rows})
        for name in classes:
            connection.add(
                f"CN=loop-{name},{base}",
                ["top", "group"],
                {"sAMAccountName": f"loop-{name}", "groupType": str(ad.GROUP_GLOBAL)},
            )
        for number, (key, last, first, klasse) in enumerate(rows):
            login = f"loop{number}"
            dn = f"CN={login},{base}"
            ok = connection.add(
                dn,
                ["top", "person", "organizationalPerson", "user"],
                {
                    "sAMAccountName": login,
                    "userPrincipalName": f"{login}@{dc.realm}",
                    "givenName": first,
                    "sn": last,
                    "displayName": f"{first} {last}",
                    "employeeNumber": f"loop:{key}",
                    "userAccountControl": "514",
                },
            )
            password = generate_password(10)
            ok = ok and connection.modify(
                dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [ad.unicode_pwd(password)])]}
            )
            ok = ok and connection.modify(dn, {"userAccountControl": [(ldap3.MODIFY_REPLACE, ["512"])]})
            ok = ok and connection.modify(f"CN=loop-{klasse},{base}", {"member": [(ldap3.MODIFY_ADD, [dn])]})
            assert ok, connection.result
        connection.unbind()
    return meter


def run_samba_tool(dc: SambaAD, users: int) -> Meter:
    """``samba-tool user create`` per user, over LDAP (SASL, signed and sealed) to the DC."""
    env = {**os.environ, "PASSWD": dc.admin_password()}  # samba-tool's credentials, not on the command line
    client_conf = dc.client_dir() / "smb.conf"
    with Meter(dc) as meter:
        for number in range(users):
            subprocess.run(
                ["samba-tool", "user", "create", f"tool{number}", "--random-password",
                 "-H", f"ldap://{dc.address}", "-U", "Administrator", "-s", str(client_conf)],
                check=True, capture_output=True, env=env, timeout=120,
            )  # fmt: skip
    return meter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=1000)
    parser.add_argument("--samba-tool-users", type=int, default=50)
    parser.add_argument(
        "--unpipelined", action="store_true", help="also run schulit with one request in flight at a time"
    )
    args = parser.parse_args()
    rows = roster(args.pupils)
    window = flavour_ad.WINDOW
    with tempfile.TemporaryDirectory(prefix="schulit-bench-ad-") as tmp:
        root = Path(tmp)
        root.chmod(0o711)
        dc = SambaAD(root / "dc", address=free_address())
        try:
            started = time.perf_counter()
            dc.provision()
            dc.snapshot(root / "fresh.tar")
            provisioned = time.perf_counter() - started
            dc.start()
            ours, created = run_schulit(dc, root / "county-a", rows, password_on_add="false")
            dc.stop()
            dc.restore(root / "fresh.tar")
            dc.start()
            in_add, _ = run_schulit(dc, root / "county-b", rows, password_on_add='"auto"')
            dc.stop()
            serial = None
            if args.unpipelined:
                dc.restore(root / "fresh.tar")
                dc.start()
                flavour_ad.WINDOW = 1  # each request waits for the answer to the one before
                serial, _ = run_schulit(dc, root / "county-c", rows, password_on_add="false")
                flavour_ad.WINDOW = window
                dc.stop()
            dc.restore(root / "fresh.tar")
            dc.start()
            loop = run_loop(dc, rows)
            dc.stop()
            dc.restore(root / "fresh.tar")
            dc.start()
            tool = run_samba_tool(dc, args.samba_tool_users)
        finally:
            dc.stop()
    per_user = {
        "schulit": ours.wall / created,
        "in_add": in_add.wall / created,
        "loop": loop.wall / len(rows),
        "tool": tool.wall / args.samba_tool_users,
    }
    print(f"DC provisioned in {provisioned:.1f} s (Samba {samba_version()}, -M single, LDAPS)")
    print(f"{'':28}{'wall s':>8}{'users/s':>9}{'ms/user':>9}{'DC CPU s':>10}{'client CPU s':>14}")
    for label, meter, count in (
        (f"schulit, add+modify ({created})", ours, created),
        (f"schulit, default ({created})", in_add, created),
        *([(f"  unpipelined ({created})", serial, created)] if serial else []),
        (f"ldap3 loop ({len(rows)})", loop, len(rows)),
        (f"samba-tool ({args.samba_tool_users})", tool, args.samba_tool_users),
    ):
        print(
            f"{label:28}{meter.wall:8.2f}{count / meter.wall:9.1f}{1000 * meter.wall / count:9.1f}"
            f"{meter.server:10.2f}{meter.client:14.2f}"
        )
    for label, key in (("schulit, add then modify", "schulit"), ("schulit, default (in add)", "in_add")):
        print(
            f"{label:26} vs ldap3 loop {per_user['loop'] / per_user[key]:.2f}x (target >= 1), "
            f"vs samba-tool {per_user['tool'] / per_user[key]:.1f}x (target >= 20)"
        )
    print(
        f"DC CPU per user: schulit add+modify {1000 * ours.server / created:.1f} ms, default "
        f"{1000 * in_add.server / created:.1f} ms, loop {1000 * loop.server / len(rows):.1f} ms, "
        f"samba-tool {1000 * tool.server / args.samba_tool_users:.1f} ms "
        f"(+ {1000 * tool.client / args.samba_tool_users:.0f} ms client CPU)"
    )
    floor = in_add.server / created  # the DC's own CPU per user: its writes are serialised (one transaction)
    print(
        f"no client can go below the DC's own {1000 * floor:.1f} ms of CPU per user (one write transaction "
        f"at a time): the best possible ratio to samba-tool on this DC is {per_user['tool'] / floor:.1f}x"
    )
    return 0


def samba_version() -> str:
    done = subprocess.run(["samba", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().removeprefix("Version ")


if __name__ == "__main__":
    sys.exit(main())
