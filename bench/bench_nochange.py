"""No-change nightly sync of N accounts: how long schulit takes to find out there is nothing to do.

    python bench/bench_nochange.py [--pupils 100000]

The directory is loaded with ldapadd (fast, dbnosync) from a plan of schulit's own, so the sync afterwards
finds nothing to change. Printed: the no-change sync time (rosters read, directory read, diff) and, as the
reference from the same run, the time of a stock ``ldapsearch`` of the whole subtree. Target: < 10 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ldapadd, ldapsearch_all, timed, write_county
from schulit.accounts.schema import person_attributes
from schulit.accounts.service import SyncOptions, compute_plan, run_sync
from schulit.devservers.slapd import Slapd, ssha
from schulit.directory.connection import connect
from schulit.directory.init import base_entry
from schulit.inventory import load_inventory


def ldif_of_plan(plan, inventory) -> str:
    """LDIF for every entry of an initial plan (fast {SSHA} hashes: loading is not what is measured)."""
    blocks = []
    for change in plan.pending:
        if change.action == "container-create":
            if change.dn.lower() == inventory.directory.base_dn.lower():
                classes, attributes = base_entry(change.dn, inventory.county_name)
            else:
                classes, attributes = ["top", "organizationalUnit"], {"ou": [change.dn.split(",")[0][3:]]}
        elif change.action == "group-create":
            classes = ["top", "posixGroup"]
            attributes = {
                "cn": [change.dn.split(",")[0][3:]],
                "gidNumber": [str(change.details["gid_number"])],
                "description": ["schulit:managed"],
                "memberUid": change.details["members"],
            }
        elif change.action == "create":
            classes = ["top", "inetOrgPerson", "posixAccount", "shadowAccount"]
            attributes = person_attributes(change, ssha("x"))
        else:
            continue
        lines = [f"dn: {change.dn}"] + [f"objectClass: {c}" for c in classes]
        for name, value in attributes.items():
            for item in value if isinstance(value, list) else [value]:
                text = str(item)
                if text.isascii():
                    lines.append(f"{name}: {text}")
                else:
                    import base64

                    lines.append(f"{name}:: {base64.b64encode(text.encode()).decode()}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=100000)
    parser.add_argument("--schools", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="schulit-bench-") as tmp:
        root = Path(tmp)
        slapd = Slapd(root / "slapd", base_dn="dc=bench,dc=example", durable=False).start()
        try:
            inventory = load_inventory(
                write_county(root / "inventory", slapd, args.pupils, args.schools, hash_scheme="ssha")
            )
            settings = inventory.directory
            connection = connect(settings)
            started = time.perf_counter()
            plan = compute_plan(inventory, connection, SyncOptions())
            connection.unbind()
            ldapadd(slapd, ldif_of_plan(plan, inventory))
            print(f"loaded {len(plan.pending)} entries in {time.perf_counter() - started:.1f} s")
            with timed("ldapsearch", results):
                ldapsearch_all(slapd)
            with timed("schulit", results):
                outcome = run_sync(inventory, SyncOptions(lock_timeout=5), command="bench")
            assert not outcome.plan.pending, outcome.plan.pending[:3]
        finally:
            slapd.stop(kill=True)
    print(f"ldapsearch of the whole subtree:   {results['ldapsearch']:.2f} s")
    print(
        f"schulit no-change sync:            {results['schulit']:.2f} s  (target < 10 s)  "
        f"ratio {results['schulit'] / results['ldapsearch']:.1f}x ldapsearch"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
