"""Shared bits of the benchmarks: a generated county of N pupils, LDIF export, timing."""

from __future__ import annotations

import base64
import multiprocessing
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from schulit.devservers.slapd import Slapd, ssha

FIRST = [
    "Lea",
    "Emre",
    "Jonas",
    "Mia",
    "Ben",
    "Zeynep",
    "Łukasz",
    "Anh",
    "Finn",
    "Hanna",
    "Elif",
    "Paul",
    "Sophie",
    "Noah",
    "Ayşe",
    "Luca",
    "Marie",
    "Karim",
    "Ida",
    "Theo",
]
LAST = [
    "Müller",
    "Öztürk",
    "Weiß",
    "Schmidt",
    "Nguyễn",
    "Wąsowski",
    "Meyer",
    "Yılmaz",
    "Becker",
    "Hoffmann",
    "Schröder",
    "Neumann",
    "Krüger",
    "Wolf",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Lange",
    "Schulz",
    "Koch",
]


def letters(number: int, width: int = 5) -> str:
    """``number`` as ``width`` letters (base 26): a short name part that differs for every number."""
    text = ""
    for _ in range(width):
        number, digit = divmod(number, 26)
        text = "abcdefghijklmnopqrstuvwxyz"[digit] + text
    return text.capitalize()


def write_county(
    root: Path,
    slapd: Slapd,
    pupils: int,
    schools: int,
    *,
    hash_scheme: str,
    transactions: bool = False,
    distinct_names: bool = False,
) -> Path:
    """An inventory with ``schools`` schools sharing ``pupils`` pupils (UTF-8 CSV rosters).

    ``distinct_names``: every pupil's last name differs (five letters), so logins never collide. Without
    it the same 1,000 names repeat in every school, and from a few hundred schools on the login
    allocation's namesake probing (``kind.name``, ``kind.name2``, ...) dominates an initial plan."""
    (root / "schools").mkdir(parents=True, exist_ok=True)
    (root / "rosters").mkdir(exist_ok=True)
    (root / "county.toml").write_text(
        f"""
[county]
name = "Benchmarkkreis"
short_name = "lk-bench"

[directory]
url = "{slapd.url}"
base_dn = "{slapd.base_dn}"
bind_dn = "{slapd.bind_dn}"
password_file = "{slapd.password_file}"
allow_plaintext_loopback = true
timeout = 60
transactions = {"true" if transactions else "false"}

[numbers]
uid_first = 100000
uid_last = 999999
gid_first = 100000
gid_last = 999999

[passwords]
hash = "{hash_scheme}"
delivery_dir = "{root / "passwords"}"
""",
        encoding="utf-8",
    )
    per_school = pupils // schools
    number = 100000
    for s in range(schools):
        school = f"school-{s:03d}"
        (root / "schools" / f"{school}.toml").write_text(
            f'id = "{school}"\nname = "Schule {s}"\ntype = "Oberschule"\n\n[[rosters]]\n'
            f'path = "rosters/{school}.csv"\nrole = "pupil"\nencoding = "utf-8"\ndelimiter = ";"\n',
            encoding="utf-8",
        )
        lines = ["ID;Nachname;Vorname;Klasse"]
        for i in range(per_school):
            number += 1
            klasse = f"{5 + i % 6}{'abcd'[(i // 6) % 4]}"
            last = (
                letters(number)
                if distinct_names
                else f"{LAST[i % 20]}{'' if i < 20 else '-' + LAST[(i // 20) % 20]}"
            )
            lines.append(f"{number};{last};{FIRST[(i * 7) % 20]};{klasse}")
        (root / "rosters" / f"{school}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def ldapsearch_command(slapd: Slapd, *options: str) -> list[str]:
    """A stock ``ldapsearch`` of the whole subtree below the base, bound as the admin."""
    return [
        "ldapsearch",
        "-LLL",
        "-x",
        *options,
        "-H",
        slapd.url,
        "-D",
        slapd.bind_dn,
        "-y",
        str(slapd.password_file),
        "-b",
        slapd.base_dn,
    ]


def ldif_dump(slapd: Slapd) -> str:
    """Every entry below the base as LDIF (user attributes only), parents before children."""
    result = subprocess.run(
        ldapsearch_command(slapd, "-o", "ldif-wrap=no"), capture_output=True, text=True, check=True
    )
    blocks = [b for b in result.stdout.strip().split("\n\n") if b.strip()]

    def depth(block: str) -> int:
        dn_line = block.splitlines()[0]
        dn = base64.b64decode(dn_line[4:]).decode() if dn_line.startswith("dn:: ") else dn_line[4:]
        return dn.count(",")

    return "\n\n".join(sorted(blocks, key=depth)) + "\n"


def ldapadd(slapd: Slapd, ldif: str) -> None:
    """Load LDIF with the stock client."""
    subprocess.run(
        ["ldapadd", "-x", "-H", slapd.url, "-D", slapd.bind_dn, "-y", str(slapd.password_file)],
        input=ldif,
        text=True,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def ldapsearch_all(slapd: Slapd) -> None:
    """The reference read: one stock ``ldapsearch`` of the whole subtree (output discarded)."""
    subprocess.run(ldapsearch_command(slapd), check=True, stdout=subprocess.DEVNULL)


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    results[label] = time.perf_counter() - started


def best_of(runs: int, function: Callable[[], float]) -> float:
    return min(function() for _ in range(runs))


def ldif_blocks(plan, inventory, password_hash: str) -> Iterator[str]:
    """LDIF of every entry an initial plan would create (one block per entry, parents first), built by
    the same schema functions the writer uses."""
    from schulit.accounts import schema
    from schulit.directory.init import base_entry

    for change in plan.pending:
        if change.action == "container-create":
            if change.dn.lower() == inventory.directory.base_dn.lower():
                classes, attributes = base_entry(change.dn, inventory.county_name)
            else:
                classes, attributes = schema.container_entry(change.dn)
        elif change.action == "group-create":
            classes = schema.GROUP_CLASSES
            attributes = schema.group_attributes(
                change.dn, change.details["gid_number"], change.details["members"]
            )
        elif change.action == "create":
            classes = schema.ACCOUNT_CLASSES
            attributes = schema.person_attributes(change, password_hash)
        else:
            continue
        lines = [f"dn: {change.dn}"] + [f"objectClass: {c}" for c in classes]
        for name, value in attributes.items():
            for item in value if isinstance(value, list) else [value]:
                text = str(item)
                if text.isascii() and not text.startswith((" ", ":", "<")):
                    lines.append(f"{name}: {text}")
                else:
                    lines.append(f"{name}:: {base64.b64encode(text.encode()).decode()}")
        yield "\n".join(lines) + "\n\n"


def _write_seed(inventory_root: Path, ldif: Path) -> None:
    """Child process: the initial plan against the empty directory → LDIF file."""
    import ldap3

    from schulit.accounts.service import SyncOptions, compute_plan
    from schulit.directory.connection import connect, disconnect
    from schulit.inventory import load_inventory

    inventory = load_inventory(inventory_root)
    connection = connect(inventory.directory, strategy=ldap3.SYNC, bulk_read=True)
    try:
        plan = compute_plan(inventory, connection, SyncOptions())
    finally:
        disconnect(connection)
    password_hash = ssha("bench")
    with ldif.open("w", encoding="utf-8") as handle:
        for block in ldif_blocks(plan, inventory, password_hash):
            handle.write(block)


def seed_with_slapadd(slapd: Slapd, inventory: Path, ldif: Path) -> None:
    """Fill the (empty, running) slapd with what an initial sync of ``inventory`` would write, fast: the
    plan is computed in a child process (its memory is not this process's), loaded with slapadd."""
    child = multiprocessing.get_context("fork").Process(target=_write_seed, args=(inventory, ldif))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit("seeding failed")
    slapd.stop()
    slapd.slapadd(ldif)
    ldif.unlink()
    slapd.start(timeout=300)
