"""Helpdesk search: ``accounts find`` over N accounts, against one ``ldapsearch`` of the subtree.

    python bench/bench_find.py [--pupils 100000]

``find`` compares every managed account client-side (umlauts, spellings and case cannot be matched by an LDAP
filter), so its cost is one bulk read plus the comparison. Printed: the best of three finds and, as the
reference from the same run, the best of three ``ldapsearch`` runs of the whole subtree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_nochange import ldif_of_plan
from bench.common import best_of, ldapadd, ldapsearch_all, write_county
from schulit.accounts.helpdesk import find_accounts
from schulit.accounts.service import SyncOptions, compute_plan
from schulit.devservers.slapd import Slapd
from schulit.directory.connection import connect
from schulit.inventory import load_inventory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=100000)
    parser.add_argument("--schools", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="schulit-bench-") as tmp:
        root = Path(tmp)
        slapd = Slapd(root / "slapd", base_dn="dc=bench,dc=example", durable=False).start()
        try:
            inventory = load_inventory(
                write_county(root / "inventory", slapd, args.pupils, args.schools, hash_scheme="ssha")
            )
            connection = connect(inventory.directory)
            plan = compute_plan(inventory, connection, SyncOptions())
            connection.unbind()
            ldapadd(slapd, ldif_of_plan(plan, inventory))
            creates = [c for c in plan.pending if c.action == "create"]
            # a helpdesk question: one person's full name (a double name: as rare as the generated county has)
            person = max(creates, key=lambda c: (len(c.details["last_name"]), -c.details["uid_number"]))
            query = f"{person.details['first_name']} {person.details['last_name']}"

            def search() -> float:
                started = time.perf_counter()
                ldapsearch_all(slapd)
                return time.perf_counter() - started

            hits: list[int] = []

            def find() -> float:
                started = time.perf_counter()
                found = find_accounts(inventory, query)
                hits.append(len(found))
                assert person.login in [a.login for a in found], query
                return time.perf_counter() - started

            reference = best_of(3, search)
            ours = best_of(3, find)
        finally:
            slapd.stop(kill=True)
    accounts = sum(1 for c in plan.pending if c.action == "create")
    print(f"accounts: {accounts}; {hits[0]} match {query!r}")
    print(f"ldapsearch of the whole subtree:   {reference:.2f} s")
    print(f"schulit accounts find {query!r}: {ours:.2f} s  ratio {ours / reference:.1f}x ldapsearch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
